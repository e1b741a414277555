#!/usr/bin/env python3
"""Issue-8 baselines: the same traces as Ashiato, done the way a Python, DuckDB or
PostgreSQL user would do them, timed and checked against the Ashiato CLI to the unit.

  scale_baselines.py --csv F.csv[,G.csv] --seeds s0,...,s9 --single-seed s0 --hops 20 \
      --engines python,duckdb,postgres --screen 100000 --json OUT.json [--haircut-limit N]

Each engine runs in its own child process (so its memory figures are its own); the
PostgreSQL cluster is a throwaway one (initdb in a temp dir, unix socket only) that is
always stopped and deleted. Semantics: docs/tracing.md. Notes: docs/bench-scale.md.
"""
import argparse
import bisect
import hashlib
import heapq
import json
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
ASHIATO = os.path.join(os.path.dirname(HERE), "target", "release", "ashiato")
HEADER = "time,block,tx,from,to,asset,amount"
KEYS = ["version", "ingest_rows_per_s", "ingest_s", "bytes_per_transfer", "memory_note",
        "haircut_edges_per_s", "haircut_s", "haircut_agrees", "fifo_edges_per_s", "fifo_s", "fifo_agrees",
        "poison_full_s", "poison_full_addresses", "poison_agrees",
        "single_seed_ms", "single_seed_addresses", "single_seed_agrees", "screen_per_s", "notes"]


# ---------------------------------------------------------------- helpers
def rss_kb(field="VmRSS", pid="self"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def parse_time(s):
    if s.isdigit():
        return int(s)
    from datetime import datetime, timezone
    s = s.replace("Z", "+00:00")
    if "T" not in s and " " in s:
        s = s.replace(" ", "T") + "+00:00"
    return int(datetime.fromisoformat(s).astimezone(timezone.utc).timestamp())


def first_time_is_unix(files):
    for p in files:
        with open(p) as f:
            f.readline()
            line = f.readline()
            if line:
                return line.split(",", 1)[0].strip().isdigit()
    return True


RUNS = {}


def median_ms(fn, runs=5, budget_s=30.0, key=None):
    """Median of `runs` warm runs (after one warm-up run); stops early once the timed runs
    have used `budget_s` (the number of runs is recorded in RUNS[key])."""
    fn()  # warm
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
        if sum(ts) / 1000 > budget_s:
            break
    if key:
        RUNS[key] = len(ts)
    return statistics.median(ts)


def screen_loop(lookups, one, budget_s=20.0):
    """Look addresses up one at a time; stops after budget_s (rate over those done)."""
    hits = done = 0
    t0 = time.perf_counter()
    for x in lookups:
        if one(x):
            hits += 1
        done += 1
        if done % 1000 == 0 and time.perf_counter() - t0 > budget_s:
            break
    return done / (time.perf_counter() - t0), hits, done


def compare_values(got, want):
    """got/want: {address: (taint, holding)}; returns (agrees, first differences)."""
    if got == want:
        return True, []
    diff = []
    for a in sorted(set(got) | set(want)):
        if got.get(a) != want.get(a):
            diff.append([a, got.get(a), want.get(a)])
            if len(diff) >= 3:
                break
    return False, diff


# ---------------------------------------------------------------- ground truth (Ashiato CLI)
def ashiato_json(csv_path, seeds, policy, hops=None):
    cmd = [ASHIATO, "trace", "--input", csv_path, "--seed", ",".join(seeds), "--policy", policy, "--format", "json"]
    if hops is not None:
        cmd += ["--max-hops", str(hops)]
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout
    return json.loads(out)


def build_truth(a, seeds, files, tmp):
    src = files[0]
    if len(files) > 1:  # the CLI takes one file: concatenation keeps the cross-file row order
        src = os.path.join(tmp, "all.csv")
        with open(src, "w") as o:
            o.write(HEADER + "\n")
            for p in files:
                with open(p) as f:
                    assert f.readline().strip() == HEADER, p
                    shutil.copyfileobj(f, o)
    truth = {"cli": [ASHIATO, subprocess.run([ASHIATO, "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()]}
    for pol in ("haircut", "fifo"):
        r = ashiato_json(src, seeds, pol)
        truth[pol] = {"summary": r["summary"],
                      "addresses": {x["address"]: [x["taint"], x["holding"]] for x in r["addresses"] if x["taint"] > 0}}
    r = ashiato_json(src, seeds, "poison")
    truth["poison"] = sorted(x["address"] for x in r["addresses"] if x["taint"] > 0)
    r = ashiato_json(src, [a.single_seed], "poison", a.hops)
    truth["single"] = {x["address"]: x["hop"] for x in r["addresses"] if x["taint"] > 0}
    return truth


# ---------------------------------------------------------------- Python engine
class PyEngine:
    """Plain CPython, standard library only: lists of ints, dicts, one process."""

    def ingest(self, files):
        ids, names = {}, []
        frm, to, amt, keys = [], [], [], []
        row = 0
        for fi, p in enumerate(files):
            with open(p) as f:
                assert f.readline().strip() == HEADER, p
                for line in f:
                    t, b, _tx, x, y, _asset, v = line.rstrip("\n").split(",")
                    i = ids.get(x)
                    if i is None:
                        i = ids[x] = len(names)
                        names.append(x)
                    j = ids.get(y)
                    if j is None:
                        j = ids[y] = len(names)
                        names.append(y)
                    frm.append(i)
                    to.append(j)
                    amt.append(int(v))
                    keys.append((int(b), parse_time(t), row))
                    row += 1
        order = sorted(range(row), key=keys.__getitem__)
        del keys
        # events in chain order
        self.frm = [frm[k] for k in order]
        self.to = [to[k] for k in order]
        self.amt = [amt[k] for k in order]
        del frm, to, amt, order
        self.ids, self.names, self.n = ids, names, row
        # adjacency index for the BFS queries: per address, out-edges (event, recipient) with value > 0
        out_ev = [[] for _ in names]
        out_to = [[] for _ in names]
        for e in range(row):
            if self.amt[e] > 0:
                out_ev[self.frm[e]].append(e)
                out_to[self.frm[e]].append(self.to[e])
        self.out_ev, self.out_to = out_ev, out_to

    def seed_flags(self, seeds):
        s = [False] * len(self.names)
        for x in seeds:
            if x in self.ids:
                s[self.ids[x]] = True
        return s

    def haircut(self, seeds, limit):
        seed = self.seed_flags(seeds)
        n = len(self.names)
        bal, tnt, rcv = [0] * n, [0] * n, [0] * n
        frm, to, amt = self.frm, self.to, self.amt
        entered = returned = 0
        for e in range(min(self.n, limit)):
            x, y, v = frm[e], to[e], amt[e]
            if seed[x]:
                entered += v
                c = v
            else:
                b = bal[x]
                if b < v:
                    b = v
                t = tnt[x]
                if t:
                    c = v * t // b
                    tnt[x] = t - c
                else:
                    c = 0
                bal[x] = b - v
            if seed[y]:
                returned += c
                continue
            bal[y] += v
            if c:
                tnt[y] += c
                rcv[y] += c
        res = {self.names[i]: [rcv[i], tnt[i]] for i in range(n) if rcv[i]}
        return res, dict(entered=entered, held=sum(h for _, h in res.values()), returned_to_seeds=returned)

    def fifo(self, seeds, limit):
        """Holder queue of runs [length, tainted] (oldest first), kept only while it holds taint."""
        seed = self.seed_flags(seeds)
        n = len(self.names)
        bal, rcv = [0] * n, [0] * n
        q = {}  # holder -> deque of [len, tainted]
        frm, to, amt = self.frm, self.to, self.amt
        entered = returned = 0
        for e in range(min(self.n, limit)):
            x, y, v = frm[e], to[e], amt[e]
            if seed[x]:
                entered += v
                parcel = [[v, True]]
                c = v
            elif x in q:
                runs = q[x]
                b = bal[x]
                if b < v:  # missing history: clean, older than anything seen
                    if runs[0][1]:
                        runs.appendleft([v - b, False])
                    else:
                        runs[0][0] += v - b
                    b = v
                bal[x] = b - v
                parcel, need, c = [], v, 0
                while need:
                    r = runs[0]
                    k = r[0] if r[0] < need else need
                    parcel.append([k, r[1]])
                    if r[1]:
                        c += k
                    need -= k
                    if k == r[0]:
                        runs.popleft()
                    else:
                        r[0] -= k
                if not any(r[1] for r in runs):
                    del q[x]
            else:
                b = bal[x]
                bal[x] = (b if b > v else v) - v
                c = 0
            if c == 0:
                bal[y] += v
                if y in q:
                    r = q[y][-1]
                    if r[1]:
                        q[y].append([v, False])
                    else:
                        r[0] += v
                continue
            if seed[y]:
                returned += c
                continue
            rcv[y] += c
            runs = q.get(y)
            if runs is None:
                runs = q[y] = deque()
                if bal[y]:
                    runs.append([bal[y], False])
            for k, t in parcel:
                if k == 0:
                    continue
                if runs and runs[-1][1] == t:
                    runs[-1][0] += k
                else:
                    runs.append([k, t])
            bal[y] += v
        res = {}
        for i in range(n):
            if rcv[i]:
                res[self.names[i]] = [rcv[i], sum(k for k, t in q.get(i, ()) if t)]
        return res, dict(entered=entered, held=sum(h for _, h in res.values()), returned_to_seeds=returned)

    def bfs(self, seeds, max_hops=None):
        """Time-respecting poison: earliest-arrival search over the adjacency index, in event
        order (a heap), so each address keeps the hop of its first tainted receipt."""
        seed = self.seed_flags(seeds)
        out_ev, out_to = self.out_ev, self.out_to
        best = {}
        hop = {}
        heap = []
        for s in seeds:
            if s in self.ids:
                i = self.ids[s]
                for e, y in zip(out_ev[i], out_to[i]):
                    if not seed[y] and e < best.get(y, 1 << 62):
                        best[y] = e
                        heapq.heappush(heap, (e, y, 1))
        while heap:
            e, x, h = heapq.heappop(heap)
            if x in hop or best[x] != e:
                continue
            hop[x] = h
            if max_hops is not None and h >= max_hops:
                continue
            evs, tos = out_ev[x], out_to[x]
            for k in range(bisect.bisect_right(evs, e), len(evs)):
                y = tos[k]
                f = evs[k]
                if y not in hop and not seed[y] and f < best.get(y, 1 << 62):
                    best[y] = f
                    heapq.heappush(heap, (f, y, h + 1))
        return {self.names[i]: h for i, h in hop.items()}


def run_python(ctx, res):
    a = ctx["args"]
    res.update({"version": "CPython " + sys.version.split()[0], "notes": []})
    gc_base = rss_kb()
    eng = PyEngine()
    t0 = time.perf_counter()
    eng.ingest(ctx["files"])
    res["ingest_s"] = time.perf_counter() - t0
    res["ingest_rows_per_s"] = eng.n / res["ingest_s"]
    peak = rss_kb("VmHWM")
    res["bytes_per_transfer"] = (peak - gc_base) * 1024 / eng.n
    res["memory_note"] = ("peak RSS (VmHWM) of the child process after parsing, sorting and building the "
                          "adjacency index, minus its RSS before, per transfer")
    res["notes"].append("ingest = parse + sort into chain order + per-address adjacency index (out-edges by event)")
    truth = json.load(open(ctx["truth"]))
    _walks(res, "haircut", lambda: eng.haircut(a["seeds"], eng.n), eng.n, truth["haircut"])
    _walks(res, "fifo", lambda: eng.fifo(a["seeds"], eng.n), eng.n, truth["fifo"])
    t0 = time.perf_counter()
    hops = eng.bfs(a["seeds"])
    res["poison_full_s"] = time.perf_counter() - t0
    res["poison_full_addresses"] = len(hops)
    res["poison_agrees"] = sorted(hops) == truth["poison"]
    single = {}
    res["single_seed_ms"] = median_ms(lambda: single.update(r=eng.bfs([a["single_seed"]], a["hops"])), key="s")
    res["single_seed_runs"] = RUNS["s"]
    res["single_seed_addresses"] = len(single["r"])
    res["single_seed_agrees"] = single["r"] == truth["single"]
    if not res["single_seed_agrees"]:
        res["notes"].append("single-seed diff: %s" % compare_values(single["r"], truth["single"])[1])
    # screening: a dict address -> taint received under haircut
    table, _ = eng.haircut(a["seeds"], eng.n)
    table = {k: v[0] for k, v in table.items()}
    lookups = json.load(open(ctx["screen"]))
    res["screen_per_s"], res["screen_hits"], res["screen_lookups_done"] = screen_loop(lookups, table.get)


def _walks(res, pol, fn, n, want):
    t0 = time.perf_counter()
    got, summ = fn()
    dt = time.perf_counter() - t0
    res[pol + "_s"] = dt
    res[pol + "_edges_per_s"] = n / dt
    ok, diff = compare_values(got, want["addresses"])
    ok = ok and summ["entered"] == want["summary"]["entered"] and summ["held"] == want["summary"]["held"] \
        and summ["returned_to_seeds"] == want["summary"]["returned_to_seeds"]
    res[pol + "_agrees"] = ok
    res[pol + "_totals"] = summ
    if not ok:
        res["notes"].append(f"{pol} differs: {diff} {summ}")


# ---------------------------------------------------------------- DuckDB engine
DUCK_POISON_FULL = """
WITH RECURSIVE reach(a, arr) USING KEY (a) AS (
    SELECT id, -1::BIGINT FROM seeds
  UNION
    (SELECT e.t, min(e.ev)
     FROM reach r JOIN e ON e.f = r.a AND e.ev > r.arr AND e.amount > 0
     LEFT JOIN recurring.reach old ON old.a = e.t
     WHERE e.t NOT IN (SELECT id FROM seeds)
     GROUP BY e.t
     HAVING min(e.ev) < coalesce(min(old.arr), 9223372036854775807))
)
SELECT a FROM reach WHERE a NOT IN (SELECT id FROM seeds)
"""

# Hop-limited: each changed address makes its recipients recompute (arrival, hop) from all their
# tainted in-edges (min event, hop of that edge's sender + 1), so a sender whose first arrival
# moved earlier with a larger hop is followed exactly; NULL arrival = not (or no longer) tainted.
DUCK_SINGLE = """
WITH RECURSIVE reach(a, arr, hop) USING KEY (a) AS (
    SELECT id, -1::BIGINT, 0 FROM seeds1
  UNION
    (SELECT tgt.t,
            min(e.ev) FILTER (WHERE s.a IS NOT NULL),
            arg_min(s.hop + 1, e.ev) FILTER (WHERE s.a IS NOT NULL)
     FROM (SELECT DISTINCT e1.t FROM reach r JOIN e e1 ON e1.f = r.a AND e1.amount > 0
           WHERE e1.t NOT IN (SELECT id FROM seeds1)) tgt
     LEFT JOIN e ON e.t = tgt.t AND e.amount > 0
     LEFT JOIN recurring.reach s ON s.a = e.f AND e.ev > s.arr AND s.hop < $hops
     LEFT JOIN recurring.reach old ON old.a = tgt.t
     GROUP BY tgt.t
     HAVING (min(e.ev) FILTER (WHERE s.a IS NOT NULL), arg_min(s.hop + 1, e.ev) FILTER (WHERE s.a IS NOT NULL))
            IS DISTINCT FROM (min(old.arr), min(old.hop)))
)
SELECT acct.addr, reach.hop FROM reach JOIN acct ON acct.id = reach.a
WHERE reach.arr IS NOT NULL AND reach.hop > 0
"""


def run_duckdb(ctx, res):
    import duckdb
    a = ctx["args"]
    res.update({"version": "DuckDB " + duckdb.__version__, "notes": []})
    base = rss_kb()
    db = os.path.join(ctx["tmp"], "duck.db")
    con = duckdb.connect(db)
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    res["notes"].append(f"DuckDB threads={threads} (default), persistent database file in a temp dir")
    unix = first_time_is_unix(ctx["files"])
    tcol = "BIGINT" if unix else "VARCHAR"
    t0 = time.perf_counter()
    con.execute(f"CREATE TABLE raw (time {tcol}, block UBIGINT, tx VARCHAR, \"from\" VARCHAR, \"to\" VARCHAR, "
                "asset VARCHAR, amount HUGEINT)")
    for p in ctx["files"]:
        con.execute("INSERT INTO raw SELECT * FROM read_csv(?, header=true, auto_detect=false, "
                    f"columns={{'time':'{tcol}','block':'UBIGINT','tx':'VARCHAR','from':'VARCHAR','to':'VARCHAR',"
                    "'asset':'VARCHAR','amount':'HUGEINT'})", [p])
    tex = "time" if unix else ("CASE WHEN regexp_full_match(time, '[0-9]+') THEN CAST(time AS BIGINT) "
                               "ELSE epoch(CAST(time AS TIMESTAMPTZ))::BIGINT END")
    con.execute("CREATE TABLE acct AS SELECT (row_number() OVER ())::INTEGER AS id, addr FROM "
                "(SELECT \"from\" AS addr FROM raw UNION SELECT \"to\" FROM raw)")
    # rowid = insertion order = file order then row order
    con.execute(f"CREATE TABLE e AS SELECT (row_number() OVER (ORDER BY block, {tex}, r.rowid))::BIGINT AS ev, "
                "fa.id AS f, ta.id AS t, amount FROM raw r JOIN acct fa ON fa.addr = r.\"from\" "
                "JOIN acct ta ON ta.addr = r.\"to\" ORDER BY ev")
    con.execute("DROP TABLE raw")
    con.execute("CHECKPOINT")
    res["ingest_s"] = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM e").fetchone()[0]
    res["ingest_rows_per_s"] = n / res["ingest_s"]
    res["notes"].append("ingest = read_csv into a table, address dictionary (acct), event table e(ev, f, t, amount) "
                        "numbered in chain order (block, time, file/row order); no explicit indexes (hash joins)")
    size = con.execute("SELECT sum(total_blocks * block_size) FROM pragma_database_size()").fetchone()[0]
    dbfile = os.path.getsize(db)
    peak = rss_kb("VmHWM")
    res["bytes_per_transfer"] = dbfile / n
    res["db_bytes"] = dbfile
    res["peak_rss_bytes_per_transfer"] = (peak - base) * 1024 / n
    res["memory_note"] = ("database file size after CHECKPOINT (tables e + acct) per transfer; "
                          "peak_rss_bytes_per_transfer = child process VmHWM delta during ingest")
    res["database_size_blocks_bytes"] = size
    truth = json.load(open(ctx["truth"]))
    for k in ("haircut", "fifo"):
        res[k + "_edges_per_s"] = res[k + "_s"] = res[k + "_agrees"] = None
    res["notes"].append("haircut/FIFO: null - DuckDB has no procedural language; a sequential stateful walk "
                        "would be a recursive CTE carrying every holder's state per step (quadratic) or a "
                        "Python UDF loop (that is the Python baseline)")
    con.execute("CREATE TEMP TABLE seeds AS SELECT id FROM acct WHERE addr IN (SELECT unnest(?::VARCHAR[]))",
                [a["seeds"]])
    t0 = time.perf_counter()
    rows = con.execute(DUCK_POISON_FULL).fetchall()
    res["poison_full_s"] = time.perf_counter() - t0
    ids = [r[0] for r in rows]
    con.execute("CREATE TEMP TABLE pz AS SELECT unnest(?::INTEGER[]) AS id", [ids])
    names = sorted(r[0] for r in con.execute("SELECT addr FROM acct JOIN pz USING (id)").fetchall())
    res["poison_full_addresses"] = len(names)
    res["poison_agrees"] = names == truth["poison"]
    res["poison_method"] = "WITH RECURSIVE ... USING KEY (earliest arrival per address, min(event))"
    con.execute("CREATE TEMP TABLE seeds1 AS SELECT id FROM acct WHERE addr = ?", [a["single_seed"]])
    q = DUCK_SINGLE.replace("$hops", str(int(a["hops"])))
    out = {}
    res["single_seed_ms"] = median_ms(lambda: out.update(r=con.execute(q).fetchall()), key="s")
    res["single_seed_runs"] = RUNS["s"]
    got = {x: h for x, h in out["r"]}
    res["single_seed_addresses"] = len(got)
    res["single_seed_agrees"] = got == truth["single"]
    res["single_seed_method"] = "one WITH RECURSIVE ... USING KEY query (exact first-arrival hops)"
    if not res["single_seed_agrees"]:
        res["notes"].append("single-seed diff: %s" % compare_values(got, truth["single"])[1])
    con.execute("CREATE TABLE screen (address VARCHAR PRIMARY KEY, taint HUGEINT)")
    con.execute("INSERT INTO screen SELECT * FROM read_csv(?, header=false, columns={'address':'VARCHAR','taint':'HUGEINT'})",
                [ctx["screen_table"]])
    res["notes"].append("screen table = Ashiato's haircut result (address, taint received), PRIMARY KEY (ART index)")
    lookups = json.load(open(ctx["screen"]))
    cur = con.cursor()
    st = "SELECT taint FROM screen WHERE address = $1"
    res["screen_per_s"], res["screen_hits"], res["screen_lookups_done"] = screen_loop(
        lookups, lambda x: cur.execute(st, [x]).fetchone())
    con.close()
    return res


# ---------------------------------------------------------------- PostgreSQL engine
PG_CONF = """
listen_addresses = ''
shared_buffers = 2GB
work_mem = 256MB
maintenance_work_mem = 1GB
effective_cache_size = 8GB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 8GB
wal_level = minimal
max_wal_senders = 0
jit = off
log_min_messages = warning
"""

PG_HAIRCUT = """
CREATE OR REPLACE FUNCTION haircut_walk(seed_ids int[], n_acct int, lim bigint)
RETURNS TABLE(entered numeric, returned numeric, walked bigint) LANGUAGE plpgsql AS $$
DECLARE
  bal numeric[] := array_fill(0::numeric, ARRAY[n_acct]);
  tnt numeric[] := array_fill(0::numeric, ARRAY[n_acct]);
  rcv numeric[] := array_fill(0::numeric, ARRAY[n_acct]);
  is_seed boolean[] := array_fill(false, ARRAY[n_acct]);
  r record; s int; b numeric; t numeric; c numeric;
  ent numeric := 0; ret numeric := 0; k bigint := 0;
BEGIN
  FOREACH s IN ARRAY seed_ids LOOP is_seed[s] := true; END LOOP;
  FOR r IN SELECT e.f, e.t, e.amount FROM e WHERE e.ev <= lim ORDER BY e.ev LOOP
    k := k + 1;
    IF is_seed[r.f] THEN
      ent := ent + r.amount; c := r.amount;
    ELSE
      b := bal[r.f];
      IF b < r.amount THEN b := r.amount; END IF;   -- missing history is clean
      t := tnt[r.f];
      IF t > 0 THEN c := div(r.amount * t, b); tnt[r.f] := t - c; ELSE c := 0; END IF;
      bal[r.f] := b - r.amount;
    END IF;
    IF is_seed[r.t] THEN ret := ret + c; CONTINUE; END IF;
    bal[r.t] := bal[r.t] + r.amount;
    IF c > 0 THEN tnt[r.t] := tnt[r.t] + c; rcv[r.t] := rcv[r.t] + c; END IF;
  END LOOP;
  TRUNCATE walk_result;
  INSERT INTO walk_result SELECT g, rcv[g], tnt[g] FROM generate_subscripts(rcv, 1) g WHERE rcv[g] > 0;
  RETURN QUERY SELECT ent, ret, k;
END $$;
"""

# FIFO: a holder's queue of runs lives in a table row only while it holds taint; runs are a
# signed numeric[] (oldest first): > 0 clean units, < 0 tainted units.
PG_FIFO = """
CREATE OR REPLACE FUNCTION fifo_walk(seed_ids int[], n_acct int, lim bigint)
RETURNS TABLE(entered numeric, returned numeric, walked bigint) LANGUAGE plpgsql AS $$
DECLARE
  bal numeric[] := array_fill(0::numeric, ARRAY[n_acct]);
  rcv numeric[] := array_fill(0::numeric, ARRAY[n_acct]);
  has_q boolean[] := array_fill(false, ARRAY[n_acct]);
  is_seed boolean[] := array_fill(false, ARRAY[n_acct]);
  r record; s int; b numeric; c numeric; need numeric; run numeric; take numeric;
  q numeric[]; p numeric[]; i int; ntaint boolean;
  ent numeric := 0; ret numeric := 0; k bigint := 0;
BEGIN
  TRUNCATE fifo_q;
  FOREACH s IN ARRAY seed_ids LOOP is_seed[s] := true; END LOOP;
  FOR r IN SELECT e.f, e.t, e.amount FROM e WHERE e.ev <= lim ORDER BY e.ev LOOP
    k := k + 1;
    IF is_seed[r.f] THEN
      ent := ent + r.amount; c := r.amount; p := ARRAY[-r.amount];
    ELSIF has_q[r.f] THEN
      SELECT runs INTO q FROM fifo_q WHERE a = r.f;
      b := bal[r.f];
      IF b < r.amount THEN
        IF q[1] > 0 THEN q[1] := q[1] + (r.amount - b); ELSE q := array_prepend(r.amount - b, q); END IF;
        b := r.amount;
      END IF;
      bal[r.f] := b - r.amount;
      need := r.amount; c := 0; p := '{}'; i := 1;
      WHILE need > 0 LOOP
        run := q[i];
        take := least(abs(run), need);
        IF run < 0 THEN p := p || (-take); c := c + take; ELSE p := p || take; END IF;
        need := need - take;
        IF take = abs(run) THEN i := i + 1; ELSE q[i] := sign(run) * (abs(run) - take); END IF;
      END LOOP;
      q := q[i:];
      ntaint := false;
      FOREACH run IN ARRAY q LOOP IF run < 0 THEN ntaint := true; EXIT; END IF; END LOOP;
      IF ntaint THEN UPDATE fifo_q SET runs = q WHERE a = r.f;
      ELSE DELETE FROM fifo_q WHERE a = r.f; has_q[r.f] := false; END IF;
    ELSE
      bal[r.f] := greatest(bal[r.f], r.amount) - r.amount; c := 0;
    END IF;
    IF c = 0 THEN
      IF has_q[r.t] AND r.amount > 0 THEN
        UPDATE fifo_q SET runs = CASE WHEN runs[array_upper(runs, 1)] > 0
            THEN runs[:array_upper(runs, 1) - 1] || (runs[array_upper(runs, 1)] + r.amount)
            ELSE runs || r.amount END WHERE a = r.t;
      END IF;
      bal[r.t] := bal[r.t] + r.amount;
      CONTINUE;
    END IF;
    IF is_seed[r.t] THEN ret := ret + c; CONTINUE; END IF;
    rcv[r.t] := rcv[r.t] + c;
    IF has_q[r.t] THEN
      SELECT runs INTO q FROM fifo_q WHERE a = r.t;
    ELSIF bal[r.t] > 0 THEN q := ARRAY[bal[r.t]];
    ELSE q := '{}';
    END IF;
    FOREACH run IN ARRAY p LOOP
      CONTINUE WHEN run = 0;
      IF cardinality(q) > 0 AND sign(q[cardinality(q)]) = sign(run) THEN
        q[cardinality(q)] := q[cardinality(q)] + run;
      ELSE q := q || run; END IF;
    END LOOP;
    IF has_q[r.t] THEN UPDATE fifo_q SET runs = q WHERE a = r.t;
    ELSE INSERT INTO fifo_q VALUES (r.t, q); has_q[r.t] := true; END IF;
    bal[r.t] := bal[r.t] + r.amount;
  END LOOP;
  TRUNCATE walk_result;
  INSERT INTO walk_result
    SELECT g, rcv[g], coalesce((SELECT sum(-x) FROM fifo_q, unnest(runs) x WHERE fifo_q.a = g AND x < 0), 0)
    FROM generate_subscripts(rcv, 1) g WHERE rcv[g] > 0;
  RETURN QUERY SELECT ent, ret, k;
END $$;
"""

# Full-graph poison as one recursive query: a transfer is tainted if its sender is a seed or
# received a tainted transfer at an earlier event (UNION removes repeats; no minimum needed).
PG_POISON_FULL = """
WITH RECURSIVE tainted(ev, t) AS (
    SELECT e.ev, e.t FROM e WHERE e.f = ANY(%(seeds)s) AND e.amount > 0 AND NOT e.t = ANY(%(seeds)s)
  UNION
    SELECT e.ev, e.t FROM tainted x JOIN e ON e.f = x.t AND e.ev > x.ev
    WHERE e.amount > 0 AND NOT e.t = ANY(%(seeds)s)
)
SELECT DISTINCT t FROM tainted
"""

# Hop-limited, single seed, as a recursive query with a hop counter. Exact only for
# "reachable within H hops along some time-respecting path"; Ashiato's hop is the hop of an
# address's FIRST tainted receipt, which a recursive CTE cannot pick (no aggregate in the
# recursive term), so this is reported beside the exact rounds as single_seed_cte_*.
PG_SINGLE_CTE = """
WITH RECURSIVE tainted(ev, t, hop) AS (
    SELECT e.ev, e.t, 1 FROM e WHERE e.f = %(seed)s AND e.amount > 0 AND e.t <> %(seed)s
  UNION
    SELECT e.ev, e.t, x.hop + 1 FROM tainted x JOIN e ON e.f = x.t AND e.ev > x.ev
    WHERE x.hop < %(hops)s AND e.amount > 0 AND e.t <> %(seed)s
)
SELECT a.addr, min(x.hop) FROM tainted x JOIN acct a ON a.id = x.t GROUP BY a.addr
"""

# Exact hop-limited earliest arrival: rounds of INSERT ... SELECT with a minimum (DISTINCT ON
# = arg-min by event) inside one PL/pgSQL call; each round recomputes the recipients of the
# addresses that changed in the previous round from all their tainted in-edges.
PG_SINGLE_ROUNDS = """
CREATE OR REPLACE FUNCTION poison_rounds(seed_ids int[], max_hops int)
RETURNS TABLE(out_a int, out_arr bigint, out_hop int) LANGUAGE plpgsql AS $$
DECLARE changed bigint;
BEGIN
  TRUNCATE st; TRUNCATE chg;
  INSERT INTO st SELECT s, -1, 0 FROM unnest(seed_ids) s;
  INSERT INTO chg SELECT s FROM unnest(seed_ids) s;
  LOOP
    TRUNCATE cand;
    INSERT INTO cand
      WITH tgt AS (SELECT DISTINCT e.t FROM chg JOIN e ON e.f = chg.a
                   WHERE e.amount > 0 AND NOT e.t = ANY(seed_ids)),
      best AS (SELECT DISTINCT ON (e.t) e.t, e.ev, s.hop + 1 AS hop
               FROM tgt JOIN e ON e.t = tgt.t AND e.amount > 0
               JOIN st s ON s.a = e.f AND e.ev > s.arr AND s.hop < max_hops
               ORDER BY e.t, e.ev)
      SELECT tgt.t, best.ev, best.hop FROM tgt LEFT JOIN best ON best.t = tgt.t
      LEFT JOIN st o ON o.a = tgt.t
      WHERE (best.ev, best.hop) IS DISTINCT FROM (o.arr, o.hop);
    GET DIAGNOSTICS changed = ROW_COUNT;
    EXIT WHEN changed = 0;
    DELETE FROM st USING cand WHERE st.a = cand.a;
    INSERT INTO st SELECT c.a, c.arr, c.hop FROM cand c WHERE c.arr IS NOT NULL;
    TRUNCATE chg;
    INSERT INTO chg SELECT c.a FROM cand c;
  END LOOP;
  RETURN QUERY SELECT st.a, st.arr, st.hop FROM st WHERE st.hop > 0;
END $$;
"""

PG_ROUNDS_TABLES = ["CREATE UNLOGGED TABLE st (a int PRIMARY KEY, arr bigint, hop int)",
                    "CREATE UNLOGGED TABLE chg (a int)",
                    "CREATE UNLOGGED TABLE cand (a int, arr bigint, hop int)"]


class PgCluster:
    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="ashiato-pg-", dir=tmp)
        self.data = os.path.join(self.dir, "data")
        self.user = "ashiatopg"
        self.bindir = self._bindir()
        self.started = False

    @staticmethod
    def _bindir():
        for d in ["/usr/local/bin"] + sorted(
                [os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")]
                if os.path.isdir("/usr/lib/postgresql") else [], reverse=True):
            if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
                return d
        raise RuntimeError("no initdb/pg_ctl found")

    def _as_user(self, cmd):
        if os.geteuid() == 0:
            return ["runuser", "-u", self.user, "--"] + cmd
        return cmd

    def start(self):
        if os.geteuid() == 0:
            if subprocess.run(["id", "-u", self.user], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", self.user], check=True)
            shutil.chown(self.dir, self.user)
            os.chmod(self.dir, 0o755)
        with socket.socket() as s:  # a free port number (only names the unix socket)
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        subprocess.run(self._as_user([os.path.join(self.bindir, "initdb"), "-D", self.data, "-A", "trust",
                                      "-U", self.user, "-E", "UTF8", "--locale=C"]),
                       check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(PG_CONF + f"unix_socket_directories = '{self.dir}'\nport = {self.port}\n")
        self.started = True
        subprocess.run(self._as_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-w", "-l",
                                      os.path.join(self.dir, "log"), "start"]), check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        if self.started:
            subprocess.run(self._as_user([os.path.join(self.bindir, "pg_ctl"), "-D", self.data, "-m", "immediate",
                                          "-w", "stop"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except OSError:
            return None


def run_postgres(ctx, res):
    import psycopg
    a = ctx["args"]
    res["notes"] = []
    pg = PgCluster(ctx["tmp"])
    try:
        pg.start()
        con = psycopg.connect(host=pg.dir, port=pg.port, user=pg.user, dbname="postgres", autocommit=True)
        res["version"] = con.execute("SELECT version()").fetchone()[0].split(" on ")[0] + \
            f" (psycopg {psycopg.__version__})"
        res["notes"].append("throwaway cluster: initdb -A trust in a temp dir, unix socket only, shared_buffers=2GB, "
                            "work_mem=256MB, fsync=off, synchronous_commit=off, full_page_writes=off, "
                            "wal_level=minimal, jit=off, UNLOGGED tables")
        _pg_body(con, ctx, a, res, pg)
        con.close()
    finally:
        pg.stop()
    return res


def _pg_body(con, ctx, a, res, pg):
    import psycopg
    unix = first_time_is_unix(ctx["files"])
    t0 = time.perf_counter()
    con.execute("CREATE UNLOGGED TABLE raw (time text, block bigint, tx text, f text, t text, asset text, "
                "amount numeric, rid bigint GENERATED ALWAYS AS IDENTITY)")
    with con.cursor() as cur:
        for p in ctx["files"]:
            with cur.copy("COPY raw (time, block, tx, f, t, asset, amount) FROM STDIN WITH (FORMAT csv, HEADER true)") as cp, \
                    open(p, "rb") as f:
                while True:
                    buf = f.read(1 << 20)
                    if not buf:
                        break
                    cp.write(buf)
    tex = "time::bigint" if unix else ("CASE WHEN time ~ '^[0-9]+$' THEN time::bigint "
                                       "ELSE extract(epoch FROM time::timestamptz)::bigint END")
    con.execute("CREATE UNLOGGED TABLE acct AS SELECT (row_number() OVER ())::int AS id, addr FROM "
                "(SELECT f AS addr FROM raw UNION SELECT t FROM raw) u")
    con.execute("ALTER TABLE acct ADD PRIMARY KEY (id)")
    con.execute("CREATE UNIQUE INDEX acct_addr ON acct (addr)")
    con.execute(f"CREATE UNLOGGED TABLE e AS SELECT (row_number() OVER (ORDER BY block, {tex}, rid))::bigint AS ev, "
                "fa.id AS f, ta.id AS t, amount FROM raw r JOIN acct fa ON fa.addr = r.f JOIN acct ta ON ta.addr = r.t "
                "ORDER BY 1")
    con.execute("ALTER TABLE e ADD PRIMARY KEY (ev)")
    con.execute("CREATE INDEX e_f_ev ON e (f, ev)")
    con.execute("CREATE INDEX e_t_ev ON e (t, ev)")
    con.execute("DROP TABLE raw")
    con.execute("VACUUM ANALYZE e")
    con.execute("VACUUM ANALYZE acct")
    res["ingest_s"] = time.perf_counter() - t0
    n = con.execute("SELECT count(*) FROM e").fetchone()[0]
    nacct = con.execute("SELECT count(*) FROM acct").fetchone()[0]
    res["ingest_rows_per_s"] = n / res["ingest_s"]
    res["notes"].append("ingest = COPY FROM STDIN into a staging table, address dictionary acct(id, addr unique), "
                        "event table e(ev pk, f, t, amount numeric) in chain order, indexes (f, ev) and (t, ev), "
                        "VACUUM ANALYZE")
    size = con.execute("SELECT pg_total_relation_size('e') + pg_total_relation_size('acct')").fetchone()[0]
    res["bytes_per_transfer"] = size / n
    res["relation_bytes"] = size
    pm = pg.postmaster_pid()
    backend = con.execute("SELECT pg_backend_pid()").fetchone()[0]
    res["memory_note"] = ("pg_total_relation_size(e) + pg_total_relation_size(acct) (heap + indexes) per transfer; "
                          "server RSS in server_rss_kb")
    truth = json.load(open(ctx["truth"]))
    con.execute("CREATE UNLOGGED TABLE walk_result (a int, received numeric, holding numeric)")
    con.execute("CREATE UNLOGGED TABLE fifo_q (a int PRIMARY KEY, runs numeric[])")
    con.execute(PG_HAIRCUT)
    con.execute(PG_FIFO)
    seed_ids = [r[0] for r in con.execute("SELECT id FROM acct WHERE addr = ANY(%s)", [a["seeds"]]).fetchall()]
    limit = a["haircut_limit"] or n
    for pol in ("haircut", "fifo"):
        t0 = time.perf_counter()
        ent, ret, walked = con.execute(f"SELECT * FROM {pol}_walk(%s, %s, %s)", [seed_ids, nacct, limit]).fetchone()
        dt = time.perf_counter() - t0
        res[pol + "_s"] = dt
        res[pol + "_edges_per_s"] = walked / dt
        res[pol + "_events_walked"] = walked
        got = {x: [int(r), int(h)] for x, r, h in con.execute(
            "SELECT acct.addr, w.received, w.holding FROM walk_result w JOIN acct ON acct.id = w.a").fetchall()}
        summ = dict(entered=int(ent), held=sum(h for _, h in got.values()), returned_to_seeds=int(ret))
        res[pol + "_totals"] = summ
        if walked < n:
            want = ctx_prefix_truth(ctx, pol, walked)
            res["notes"].append(f"{pol}: --haircut-limit: walked the first {walked} of {n} events; rate on that "
                                "prefix; agreement checked against the Python walk of the same prefix")
        else:
            want = truth[pol]
        ok, diff = compare_values(got, want["addresses"])
        ok = ok and summ["entered"] == want["summary"]["entered"] and summ["held"] == want["summary"]["held"]
        res[pol + "_agrees"] = ok
        if not ok:
            res["notes"].append(f"{pol} differs: {diff} {summ}")
    res["notes"].append("haircut/FIFO: PL/pgSQL functions walking SELECT ... ORDER BY ev with state in numeric[] "
                        "arrays indexed by account id (FIFO: run queues of tainted holders in a table row)")
    seed_sql = {"seeds": seed_ids}
    t0 = time.perf_counter()
    ids = [r[0] for r in con.execute(PG_POISON_FULL, seed_sql).fetchall()]
    res["poison_full_s"] = time.perf_counter() - t0
    names = sorted(r[0] for r in con.execute("SELECT addr FROM acct WHERE id = ANY(%s)", [ids]).fetchall())
    res["poison_full_addresses"] = len(names)
    res["poison_agrees"] = names == truth["poison"]
    res["poison_method"] = "one WITH RECURSIVE query over tainted transfers (UNION)"
    # single seed
    for q in PG_ROUNDS_TABLES:
        con.execute(q)
    con.execute(PG_SINGLE_ROUNDS)
    s1 = con.execute("SELECT id FROM acct WHERE addr = %s", [a["single_seed"]]).fetchone()[0]
    out = {}
    q = "SELECT acct.addr, r.out_hop FROM poison_rounds(%s, %s) r JOIN acct ON acct.id = r.out_a"
    res["single_seed_ms"] = median_ms(lambda: out.update(r=con.execute(q, [[s1], a["hops"]]).fetchall()), key="s")
    res["single_seed_runs"] = RUNS["s"]
    got = dict(out["r"])
    res["single_seed_addresses"] = len(got)
    res["single_seed_agrees"] = got == truth["single"]
    res["single_seed_method"] = ("PL/pgSQL rounds of INSERT ... SELECT DISTINCT ON (arg-min event) until no change "
                                 "(exact first-arrival hops); one call per query")
    if not res["single_seed_agrees"]:
        res["notes"].append("single-seed diff: %s" % compare_values(got, truth["single"])[1])
    con.execute(f"SET statement_timeout = {int(ctx['args']['cte_timeout_s'] * 1000)}")
    try:
        res["single_seed_cte_ms"] = median_ms(lambda: out.update(
            c=con.execute(PG_SINGLE_CTE, {"seed": s1, "hops": a["hops"]}).fetchall()), key="c")
        res["single_seed_cte_runs"] = RUNS["c"]
        cte = dict(out["c"])
        res["single_seed_cte_addresses"] = len(cte)
        res["single_seed_cte_same_addresses"] = sorted(cte) == sorted(truth["single"])
        res["single_seed_cte_same_hops"] = cte == truth["single"]
    except psycopg.errors.QueryCanceled:
        res["single_seed_cte_ms"] = None
        res["notes"].append(f"single-seed recursive CTE cancelled after {ctx['args']['cte_timeout_s']} s")
    con.execute("SET statement_timeout = 0")
    # screening
    con.execute("CREATE UNLOGGED TABLE screen (address text PRIMARY KEY, taint numeric)")
    with con.cursor() as cur, cur.copy("COPY screen FROM STDIN WITH (FORMAT csv)") as cp, \
            open(ctx["screen_table"], "rb") as f:
        cp.write(f.read())
    con.execute("VACUUM ANALYZE screen")
    res["notes"].append("screen table = Ashiato's haircut result (address, taint received), PRIMARY KEY btree; "
                        "lookups: one prepared statement execution per address over the unix socket")
    lookups = json.load(open(ctx["screen"]))
    with con.cursor() as cur:
        st = "SELECT taint FROM screen WHERE address = %s"
        res["screen_per_s"], res["screen_hits"], res["screen_lookups_done"] = screen_loop(
            lookups, lambda x: cur.execute(st, (x,), prepare=True).fetchone())
    res["server_rss_kb"] = {"postmaster_VmRSS": rss_kb("VmRSS", pm) if pm else None,
                            "backend_VmHWM": rss_kb("VmHWM", backend), "backend_VmRSS": rss_kb("VmRSS", backend)}


def ctx_prefix_truth(ctx, pol, walked):
    eng = ctx.get("_py")
    if eng is None:
        eng = ctx["_py"] = PyEngine()
        eng.ingest(ctx["files"])
    got, summ = (eng.haircut if pol == "haircut" else eng.fifo)(ctx["args"]["seeds"], walked)
    return {"addresses": got, "summary": summ}


# ---------------------------------------------------------------- orchestration
WORKERS = {"python": run_python, "duckdb": run_duckdb, "postgres": run_postgres}


def worker_main(engine, ctx_path, out_path):
    ctx = json.load(open(ctx_path))
    res = {}
    try:
        WORKERS[engine](ctx, res)
    except Exception as ex:  # report, never hide; keep what was measured before
        import traceback
        res["error"] = f"{type(ex).__name__}: {ex}"
        res["traceback"] = traceback.format_exc()
    with open(out_path, "w") as f:
        json.dump(res, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--seeds", required=True)
    ap.add_argument("--single-seed", required=True)
    ap.add_argument("--hops", type=int, default=20)
    ap.add_argument("--engines", default="python,duckdb,postgres")
    ap.add_argument("--screen", type=int, default=100000)
    ap.add_argument("--json", required=True)
    ap.add_argument("--haircut-limit", type=int, default=None,
                    help="PL/pgSQL walks process only the first N events (rate on the prefix)")
    ap.add_argument("--cte-timeout", type=float, default=30.0,
                    help="statement timeout (s) for the PostgreSQL hop-counting recursive CTE")
    ap.add_argument("--_worker", help=argparse.SUPPRESS)
    ap.add_argument("--_ctx", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._worker:
        return worker_main(a._worker, a._ctx, a._out)

    files = [os.path.abspath(p) for p in a.csv.split(",") if p]
    seeds = [s for s in a.seeds.split(",") if s]
    engines = [e for e in a.engines.split(",") if e]
    for e in engines:
        if e not in WORKERS:
            sys.exit(f"unknown engine {e}")
    tmp = tempfile.mkdtemp(prefix="ashiato-baselines-")
    os.chmod(tmp, 0o755)
    try:
        h = hashlib.sha256()
        with open(files[0], "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
        addrs, n = set(), 0
        for p in files:
            with open(p) as f:
                f.readline()
                for line in f:
                    c = line.split(",", 5)
                    addrs.add(c[3])
                    addrs.add(c[4])
                    n += 1
        log(f"{n} transfers, {len(addrs)} addresses; computing Ashiato's answers")
        truth = build_truth(a, seeds, files, tmp)
        truth_path = os.path.join(tmp, "truth.json")
        json.dump(truth, open(truth_path, "w"))
        # screening workload: half tainted, half not (seeded)
        rnd = random.Random(8)
        hc = truth["haircut"]["addresses"]
        tainted = sorted(hc)
        clean = sorted(addrs - set(hc) - set(seeds)) or [f"absent{i}" for i in range(1000)]
        lookups = [rnd.choice(tainted) if i % 2 == 0 else rnd.choice(clean) for i in range(a.screen)]
        rnd.shuffle(lookups)
        screen_path = os.path.join(tmp, "screen.json")
        json.dump(lookups, open(screen_path, "w"))
        screen_table = os.path.join(tmp, "screen.csv")
        with open(screen_table, "w") as f:
            for k in tainted:
                f.write(f"{k},{hc[k][0]}\n")
        ctx = {"files": files, "tmp": tmp, "truth": truth_path, "screen": screen_path, "screen_table": screen_table,
               "args": {"seeds": seeds, "single_seed": a.single_seed, "hops": a.hops,
                        "haircut_limit": a.haircut_limit, "cte_timeout_s": a.cte_timeout}}
        ctx_path = os.path.join(tmp, "ctx.json")
        json.dump(ctx, open(ctx_path, "w"))
        out = {"data": {"files": files, "transfers": n, "addresses": len(addrs), "sha256_first_file": h.hexdigest(),
                        "seeds": seeds, "single_seed": a.single_seed, "hops": a.hops, "screen_lookups": a.screen},
               "reference": {"ashiato": truth["cli"][1],
                             "haircut": {k: truth["haircut"]["summary"][k] for k in ("entered", "held")},
                             "haircut_addresses": len(truth["haircut"]["addresses"]),
                             "fifo": {k: truth["fifo"]["summary"][k] for k in ("entered", "held")},
                             "fifo_addresses": len(truth["fifo"]["addresses"]),
                             "poison_addresses": len(truth["poison"]),
                             "single_seed_addresses": len(truth["single"]),
                             "single_seed_max_hop": max(truth["single"].values(), default=0)},
               "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
               "engines": {}}
        for e in engines:
            log(f"engine {e} ...")
            res_path = os.path.join(tmp, f"res-{e}.json")
            t0 = time.perf_counter()
            subprocess.run([sys.executable, os.path.abspath(__file__), "--csv", a.csv, "--seeds", a.seeds,
                            "--single-seed", a.single_seed, "--json", "-", "--_worker", e, "--_ctx", ctx_path,
                            "--_out", res_path])
            try:
                r = json.load(open(res_path))
            except (OSError, ValueError):
                r = {"error": "worker produced no result"}
            full = {k: r.pop(k, None) for k in KEYS}
            full["notes"] = full["notes"] or []
            full.update(r)
            out["engines"][e] = full
            log(f"engine {e} done in {time.perf_counter() - t0:.1f} s" + (f": ERROR {r['error']}" if "error" in r else ""))
            with open(a.json, "w") as f:
                json.dump(out, f, indent=1)
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
        print(json.dumps(out, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def log(msg):
    print(f"[scale_baselines] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
