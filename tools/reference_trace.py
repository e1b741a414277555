#!/usr/bin/env python3
"""Independent reference implementation of docs/tracing.md (forward traces).

Written from the documentation, not from the Rust walker, in plain Python with exact
integers, so that agreement between the two on real data means something. It is also the
benchmark baseline (tools/baseline_haircut.py). Standard library only.

  reference_trace.py csv FILE --seed A[,B] --policy NAME [--dust N] [--max-hops N] [--stop-at FILE]
  reference_trace.py mftracer CASE_DIR --policy NAME       (seeds: sources, exits: terminals)
  reference_trace.py taintedtx DIR --seed-tx TXID --policy NAME
  reference_trace.py selftest
"""
import argparse
import csv
import json
import os
import sys
from datetime import datetime, timezone

POLICIES = ["poison", "haircut", "fifo", "lifo", "tiho", "dirty-first", "clean-first"]


# ---------------------------------------------------------------- inputs
def parse_time(s):
    s = s.strip()
    if s.isdigit():
        return int(s)
    s = s.replace("Z", "+00:00")
    if "T" not in s and " " in s:
        s = s.replace(" ", "T") + "+00:00"
    return int(datetime.fromisoformat(s).astimezone(timezone.utc).timestamp())


def usd_cents(s):
    whole, _, frac = s.strip().partition(".")
    assert len(frac) <= 2, s
    return int(whole) * 100 + int((frac + "00")[:2])


def read_ashiato_csv(path):
    """Account events: (order key, tx, from, to, asset, amount)."""
    rows = []
    with open(path, newline="") as f:
        r = csv.reader(f)
        header = next(r)
        assert header == ["time", "block", "tx", "from", "to", "asset", "amount"], header
        for i, row in enumerate(r):
            if not row:
                continue
            t, b, tx, a, c, asset, amount = row
            rows.append(((int(b), parse_time(t), i), tx, a, c, asset, int(amount)))
    rows.sort(key=lambda e: e[0])
    return rows


def read_addresses(path):
    with open(path) as f:
        return [l.strip().lower() for l in f if l.strip()]


def read_mftracer(case_dir):
    data = [f for f in os.listdir(case_dir) if f.endswith(".csv") and "addresses" not in f]
    assert len(data) == 1, data
    rows = []
    with open(os.path.join(case_dir, data[0]), newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            key = (int(r["Block"]), parse_time(r["Timestamp"]), i)
            rows.append((key, r["Tx_hash"].lower(), r["From"].lower(), r["To"].lower(), "USD", usd_cents(r["Value_in_USD"])))
    rows.sort(key=lambda e: e[0])
    sources = read_addresses(os.path.join(case_dir, "source addresses.csv"))
    terminals = read_addresses(os.path.join(case_dir, "terminal addresses.csv"))
    return rows, sources, terminals


def read_taintedtx(d):
    """UTXO transactions in tx_index order: (txid, [(coin, owner, value)], [(coin, owner, value)])."""
    def table(name):
        with open(os.path.join(d, name), newline="") as f:
            return list(csv.DictReader(f))
    txid = {int(r["tx_index"]): r["tx_hash"] for r in table("tx_hash.csv")}
    adr = {r["adr_index"]: r["adr_hash"] for r in table("adr_hash.csv")}
    outs, seen = {}, set()
    for r in table("tx_output.csv"):
        if r["output_index"] in seen:  # two coinbase outputs are listed twice
            continue
        seen.add(r["output_index"])
        outs.setdefault(int(r["tx_index"]), []).append((int(r["output_index"]), adr.get(r["adr_index"]), int(r["output_value"])))
    ins = {}
    owner = {}
    for t, os_ in outs.items():
        for o in os_:
            owner[o[0]] = (o[1], o[2])
    for r in table("tx_input.csv"):
        oi = int(r["output_index"])
        ins.setdefault(int(r["tx_index"]), []).append((oi, owner[oi][0], owner[oi][1]))
    txs = []
    for ix in sorted(txid):
        txs.append((txid[ix], ins.get(ix, []), sorted(outs.get(ix, []))))
    return txs


# ---------------------------------------------------------------- policies
# Account holdings: poison -> [value, tainted]; scalar -> [value, taint];
# fifo/lifo -> list of [len, tainted] runs, oldest first.

def new_holding(policy):
    if policy in ("fifo", "lifo"):
        return []
    return [0, 0]


def h_taint(policy, h):
    if policy == "poison":
        return h[0] if h[1] else 0
    if policy in ("fifo", "lifo"):
        return sum(l for l, t in h if t)
    return h[1]


def h_is_tainted(policy, h):
    return bool(h[1]) if policy == "poison" else h_taint(policy, h) > 0


def withdraw(policy, h, x):
    """Returns the parcel: (value, taint) for scalar policies, runs for fifo/lifo."""
    if policy in ("fifo", "lifo"):
        total = sum(l for l, _ in h)
        if x > total:
            h.insert(0, [x - total, False])
        taken, need = [], x
        while need > 0:
            seg = h[-1] if policy == "lifo" else h[0]
            n = min(seg[0], need)
            taken.append([n, seg[1]])
            seg[0] -= n
            need -= n
            if seg[0] == 0:
                h.pop(-1 if policy == "lifo" else 0)
        if policy == "lifo":
            taken.reverse()
        return taken
    b = max(h[0], x)
    if policy == "poison":
        h[0] = b - x
        return (x, x if h[1] else 0)
    t = h[1]
    if policy == "haircut":
        c = x * t // b
    elif policy in ("dirty-first", "tiho"):
        c = min(x, t)
    elif policy == "clean-first":
        c = max(0, t - (b - x))
    h[0], h[1] = b - x, t - c
    return (x, c)


def p_value(policy, p):
    return sum(l for l, _ in p) if policy in ("fifo", "lifo") else p[0]


def p_taint(policy, p):
    return sum(l for l, t in p if t) if policy in ("fifo", "lifo") else p[1]


def clean(policy, v):
    return [[v, False]] if policy in ("fifo", "lifo") else (v, 0)


def tainted(policy, v):
    return [[v, True]] if policy in ("fifo", "lifo") else (v, v)


def deposit(policy, h, p):
    if policy in ("fifo", "lifo"):
        for l, t in p:
            if l == 0:
                continue
            if h and h[-1][1] == t:
                h[-1][0] += l
            else:
                h.append([l, t])
    elif policy == "poison":
        h[0] += p[0]
        h[1] = h[1] or p[1] > 0
    else:
        h[0] += p[0]
        h[1] += p[1]


def split(policy, inputs, outputs):
    """UTXO: cut input parcels (in order) into outputs (in order) and the fee."""
    V = sum(p_value(policy, p) for p in inputs)
    T = sum(p_taint(policy, p) for p in inputs)
    W = sum(outputs)
    if policy == "poison":
        return [(w, w if T > 0 else 0) for w in outputs], (V - W, (V - W) if T > 0 else 0)
    if policy == "haircut":
        outs = [(w, w * T // V if V else 0) for w in outputs]
        return outs, (V - W, T - sum(t for _, t in outs))
    if policy == "tiho":
        order = sorted(range(len(outputs)), key=lambda j: (-outputs[j], j))
        got, left = [0] * len(outputs), T
        for j in order:
            got[j] = min(left, outputs[j])
            left -= got[j]
        return [(w, g) for w, g in zip(outputs, got)], (V - W, left)
    if policy in ("fifo", "lifo"):
        seq = inputs[::-1] if policy == "lifo" else inputs
        line = [list(s) for p in seq for s in p]
    elif policy == "dirty-first":
        line = [[T, True], [V - T, False]]
    else:  # clean-first
        line = [[V - T, False], [T, True]]
    def cut(w):
        out, need = [], w
        while need > 0 and line:
            n = min(line[0][0], need)
            out.append([n, line[0][1]])
            line[0][0] -= n
            need -= n
            if line[0][0] == 0:
                line.pop(0)
        return out
    outs = [cut(w) for w in outputs]
    fee = cut(V - W)
    if policy in ("dirty-first", "clean-first"):
        to_pair = lambda runs: (sum(l for l, _ in runs), sum(l for l, t in runs if t))
        return [to_pair(o) for o in outs], to_pair(fee)
    return outs, fee


# ---------------------------------------------------------------- the walk
class Trace:
    def __init__(self, policy, seeds=(), seed_txs=(), since=None, until=None, max_hops=None, dust=0, exits=None):
        self.policy = policy
        self.seeds, self.seed_txs = set(seeds), set(seed_txs)
        self.since, self.until, self.max_hops, self.dust = since, until, max_hops, dust
        self.exits = exits or {}
        self.hold = {}       # holder -> holding
        self.hop = {}        # holder -> hop of first tainted receipt
        self.received = {}   # (address, asset) -> taint received
        self.dust_rows = {}  # (address, asset) -> [dust, count]
        self.exit_rows = {}  # (address, asset) -> [amount, count]
        self.s = dict(entered=0, held=0, exited=0, dust=0, lost_to_fees=0, cut_by_hops=0,
                      returned_to_seeds=0, left_data=0, events=0, tainted_events=0)

    def active(self, t):
        return t is None or ((self.since is None or t >= self.since) and (self.until is None or t <= self.until))

    def holding(self, h):
        if h not in self.hold:
            self.hold[h] = new_holding(self.policy)
        return self.hold[h]

    def deliver(self, holder, addr, asset, p, hop):
        pol, taint = self.policy, p_taint(self.policy, p)
        if taint == 0:
            deposit(pol, self.holding(holder), p)
            return
        if addr in self.seeds:
            self.s["returned_to_seeds"] += taint
            return
        if self.max_hops is not None and hop > self.max_hops:
            self.s["cut_by_hops"] += taint
            deposit(pol, self.holding(holder), clean(pol, p_value(pol, p)))
            return
        if taint < self.dust:
            self.s["dust"] += taint
            d = self.dust_rows.setdefault((addr, asset), [0, 0])
            d[0] += taint
            d[1] += 1
            deposit(pol, self.holding(holder), clean(pol, p_value(pol, p)))
            return
        if addr in self.exits:
            self.s["exited"] += taint
            e = self.exit_rows.setdefault((addr, asset), [0, 0])
            e[0] += taint
            e[1] += 1
            deposit(pol, self.holding(holder), clean(pol, p_value(pol, p)))
            return
        deposit(pol, self.holding(holder), p)
        self.hop.setdefault(holder, hop)
        self.received[(addr, asset)] = self.received.get((addr, asset), 0) + taint

    def account(self, events):
        pol = self.policy
        for key, tx, a, b, asset, x in events:
            t = key[1]
            if self.until is not None and t > self.until:
                break
            self.s["events"] += 1
            act = self.active(t)
            if a in self.seeds:
                if not act:
                    deposit(pol, self.holding((b, asset)), clean(pol, x))
                    continue
                self.s["entered"] += x
                p, hop = tainted(pol, x), 0
            elif tx in self.seed_txs and act:
                self.s["entered"] += x
                p, hop = tainted(pol, x), 0
                absorbed = p_taint(pol, withdraw(pol, self.holding((a, asset)), x))
                self.s["returned_to_seeds"] += absorbed
            else:
                h = self.holding((a, asset))
                if not h_is_tainted(pol, h):
                    withdraw(pol, h, x)
                    deposit(pol, self.holding((b, asset)), clean(pol, x))
                    continue
                p = withdraw(pol, h, x)
                if p_taint(pol, p) == 0:
                    deposit(pol, self.holding((b, asset)), p)
                    continue
                hop = self.hop.get((a, asset), 0)
            self.s["tainted_events"] += 1
            self.deliver((b, asset), b, asset, p, hop + 1)
        return self.report(lambda h: h)

    def utxo(self, txs):
        pol = self.policy
        owner = {}
        for txid, ins, outs in txs:
            self.s["events"] += 1
            parcels, hop_in = [], None
            for coin, addr, v in ins:
                if addr in self.seeds:
                    self.s["entered"] += v
                    parcels.append(tainted(pol, v))
                    hop_in = 0
                    continue
                p = withdraw(pol, self.holding(coin), v)
                if p_taint(pol, p) > 0:
                    h = self.hop.get(coin)
                    if h is not None and (hop_in is None or h < hop_in):
                        hop_in = h
                parcels.append(p)
            W = sum(v for _, _, v in outs)
            if txid in self.seed_txs:
                self.s["returned_to_seeds"] += sum(p_taint(pol, p) for p in parcels)
                self.s["entered"] += W
                parcels, hop_in = [tainted(pol, W)], 0
            V = sum(p_value(pol, p) for p in parcels)
            if W > V:
                parcels.insert(0, clean(pol, W - V))
            for coin, addr, _ in outs:
                owner[coin] = addr
            if not any(p_taint(pol, p) for p in parcels):
                for coin, _, v in outs:
                    deposit(pol, self.holding(coin), clean(pol, v))
                continue
            self.s["tainted_events"] += 1
            got, fee = split(pol, parcels, [v for _, _, v in outs])
            self.s["lost_to_fees"] += p_taint(pol, fee)
            for (coin, addr, _), p in zip(outs, got):
                self.deliver(coin, addr, "BTC", p, (hop_in if hop_in is not None else 0) + 1)
        return self.report(lambda coin: (owner.get(coin), "BTC"))

    def report(self, row_of):
        held = {}
        for holder, h in self.hold.items():
            if holder not in self.hop:
                continue
            t = h_taint(self.policy, h)
            self.s["held"] += t
            row = row_of(holder)
            held[row] = held.get(row, 0) + t
        rows = set(self.received) | set(self.dust_rows)
        addresses = []
        for row in rows:
            if row[0] is None:
                continue
            a = dict(address=row[0], asset=row[1], taint=self.received.get(row, 0),
                     dust=self.dust_rows.get(row, [0, 0])[0], dust_transfers=self.dust_rows.get(row, [0, 0])[1])
            if self.policy != "poison":
                a["holding"] = held.get(row, 0)
            addresses.append(a)
        addresses.sort(key=lambda a: (-a["taint"], a["address"], a["asset"]))
        exits = [dict(address=k[0], label=self.exits[k[0]], asset=k[1], amount=v[0], transfers=v[1])
                 for k, v in self.exit_rows.items()]
        exits.sort(key=lambda e: (-e["amount"], e["address"], e["asset"]))
        return dict(policy=self.policy, addresses=addresses, exits=exits, summary=self.s)


# ---------------------------------------------------------------- self-test
def selftest():
    A1 = [((i, i, i), tx, a, b, "uXEM", x) for i, (tx, a, b, x) in enumerate([
        ("x", "X", "A", 2_000_000), ("theft", "S", "A", 3_000_000), ("y", "Y", "A", 5_000_000),
        ("ab", "A", "B", 4_000_000), ("ac", "A", "C", 4_000_000)])]
    want = {"haircut": (1_200_000, 1_200_000, 600_000), "fifo": (2_000_000, 1_000_000, 0),
            "lifo": (0, 3_000_000, 0), "dirty-first": (3_000_000, 0, 0), "clean-first": (0, 1_000_000, 2_000_000),
            "tiho": (3_000_000, 0, 0)}
    for pol, (b, c, a) in want.items():
        r = Trace(pol, seeds=["S"]).account(A1)
        got = {x["address"]: x for x in r["addresses"]}
        assert (got.get("B", {}).get("taint", 0), got.get("C", {}).get("taint", 0), got["A"]["holding"]) == (b, c, a), (pol, got)
        s = r["summary"]
        assert s["entered"] == sum(s[k] for k in ("held", "exited", "dust", "lost_to_fees", "cut_by_hops", "returned_to_seeds", "left_data")), pol
    p = Trace("poison", seeds=["S"]).account(A1)
    assert {x["address"]: x["taint"] for x in p["addresses"]} == {"A": 3_000_000, "B": 4_000_000, "C": 4_000_000}
    early = [((1, 1, 0), "e", "A", "B", "u", 1000), ((2, 2, 1), "t", "S", "A", "u", 5000), ((3, 3, 2), "l", "A", "C", "u", 1000)]
    p = Trace("poison", seeds=["S"]).account(early)
    assert {x["address"] for x in p["addresses"]} == {"A", "C"}, p
    U1 = [("fund", [], [(10, "c1", 200), (11, "c2", 500)]), ("theft", [], [(20, "h", 300)]),
          ("u1", [(10, "c1", 200), (20, "h", 300), (11, "c2", 500)], [(30, "o1", 300), (31, "o2", 600)])]
    want = {"poison": (300, 600, 100), "haircut": (90, 180, 30), "fifo": (100, 200, 0), "lifo": (0, 300, 0),
            "tiho": (0, 300, 0), "dirty-first": (300, 0, 0), "clean-first": (0, 200, 100)}
    for pol, (o1, o2, fee) in want.items():
        r = Trace(pol, seed_txs=["theft"]).utxo(U1)
        got = {x["address"]: x["taint"] for x in r["addresses"]}
        assert (got.get("o1", 0), got.get("o2", 0), r["summary"]["lost_to_fees"]) == (o1, o2, fee), (pol, got, r["summary"])
    print("reference self-test: 1 passed, 0 failed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["csv", "mftracer", "taintedtx", "selftest"])
    ap.add_argument("path", nargs="?")
    ap.add_argument("--policy", default="haircut", choices=POLICIES)
    ap.add_argument("--seed", default="")
    ap.add_argument("--seed-tx", default="")
    ap.add_argument("--since", type=int)
    ap.add_argument("--until", type=int)
    ap.add_argument("--max-hops", type=int)
    ap.add_argument("--dust", type=int, default=0)
    ap.add_argument("--stop-at", help="file with one exit address per line")
    a = ap.parse_args()
    if a.kind == "selftest":
        return selftest()
    seeds = [s for s in a.seed.split(",") if s]
    seed_txs = [s for s in a.seed_tx.split(",") if s]
    exits = {x: "terminal" for x in read_addresses(a.stop_at)} if a.stop_at else {}
    kw = dict(since=a.since, until=a.until, max_hops=a.max_hops, dust=a.dust)
    if a.kind == "csv":
        r = Trace(a.policy, seeds, seed_txs, exits=exits, **kw).account(read_ashiato_csv(a.path))
    elif a.kind == "mftracer":
        rows, sources, terminals = read_mftracer(a.path)
        exits.update({t: "terminal" for t in terminals})
        r = Trace(a.policy, seeds or sources, seed_txs, exits=exits, **kw).account(rows)
    else:
        r = Trace(a.policy, seeds, seed_txs, exits=exits, **kw).utxo(read_taintedtx(a.path))
    json.dump(r, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
