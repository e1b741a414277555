#!/usr/bin/env python3
"""Benchmark baseline for ashiato-btc-bench: a full-graph forward haircut trace over a UTXO
chain in plain Python, as docs/tracing.md defines it for the UTXO family (same results as
ashiato, checked to the satoshi by ashiato-btc-bench).

  baseline_utxo_haircut.py FILE --seed-tx TXID[,TXID] [--seed ADDR[,ADDR]] [--limit N]
                           [--repeat K] [--addresses OUT.tsv]
  -> one JSON line with timings and totals; OUT.tsv gets `address<TAB>taint<TAB>holding`
     for every address that received taint, sorted by address.

FILE: one transaction a line, in chain order, fields separated by single spaces:
  txid block n_in n_out  (prev_txid vout value address) * n_in  (value address) * n_out
values are integers in satoshi; address `-` means the script pays no address. A coinbase
has n_in = 0. `--limit N` reads only the first N transactions.

Two timed phases:
- parse: read the file, give every output a coin id, resolve each input's (txid, vout) to
  the coin it spends (-1: created outside the file, hence clean), intern addresses;
- trace: walk the transactions in order. Per transaction with inputs V (value) and T
  (taint): an input from a seed address is wholly tainted (and counted as entered); an
  input spending a coin takes that coin's taint; a seed transaction's outputs are wholly
  tainted (its inputs' taint is returned to the seeds); when the outputs exceed the inputs
  (a coinbase) the difference is a clean input. Output j of value w_j receives
  floor(w_j * T / V); the remainder is lost to fees. Taint delivered to a seed address is
  returned to the seeds. Only tainted coins hold state.
"""
import argparse
import json
import resource
import time
from array import array


def parse(path, limit, seeds, seed_txs):
    first_out = {}          # txid -> coin id of its output 0
    addr_id, names = {}, []

    def intern(a):
        i = addr_id.get(a)
        if i is None:
            i = addr_id[a] = len(names)
            names.append(a)
        return i

    in_start, out_start = array("q", [0]), array("q", [0])
    in_coin, in_value, in_addr = array("q"), array("q"), array("q")
    out_value, out_addr = array("q"), array("q")
    seed_tx_ix = []
    ntx = 0
    with open(path, "r", buffering=1 << 20) as f:
        for line in f:
            if ntx == limit:
                break
            p = line.split()
            txid, nin, nout = p[0], int(p[2]), int(p[3])
            if txid in seed_txs:
                seed_tx_ix.append(ntx)
            j = 4
            for _ in range(nin):
                prev, vout, v, a = p[j], int(p[j + 1]), int(p[j + 2]), p[j + 3]
                j += 4
                c = first_out.get(prev)
                if c is None:
                    c = -1
                else:
                    c += vout
                    v = out_value[c]
                a = (out_addr[c] if c >= 0 else -1) if a == "-" else intern(a)
                in_coin.append(c)
                in_value.append(v)
                in_addr.append(a)
            first_out[txid] = len(out_value)
            for _ in range(nout):
                v, a = int(p[j]), p[j + 1]
                j += 2
                a = -1 if a == "-" else intern(a)
                out_value.append(v)
                out_addr.append(a)
            in_start.append(len(in_coin))
            out_start.append(len(out_value))
            ntx += 1
    is_seed = bytearray(len(names))
    for s in seeds:
        if s in addr_id:
            is_seed[addr_id[s]] = 1
    return dict(ntx=ntx, names=names, is_seed=is_seed, seed_tx_ix=seed_tx_ix,
                in_start=in_start, out_start=out_start, in_coin=in_coin, in_value=in_value,
                in_addr=in_addr, out_value=out_value, out_addr=out_addr)


def trace(g):
    ntx, is_seed = g["ntx"], g["is_seed"]
    in_start, out_start = g["in_start"], g["out_start"]
    in_coin, in_value, in_addr = g["in_coin"], g["in_value"], g["in_addr"]
    out_value, out_addr = g["out_value"], g["out_addr"]
    seed_tx = set(g["seed_tx_ix"])
    taint = [0] * len(out_value)          # per coin: taint it holds
    received = [0] * len(g["names"])      # per address: taint received
    entered = returned = fees = tainted_events = 0
    for e in range(ntx):
        i0, i1 = in_start[e], in_start[e + 1]
        V = T = 0
        for k in range(i0, i1):
            v = in_value[k]
            V += v
            a = in_addr[k]
            if a >= 0 and is_seed[a]:
                entered += v
                T += v
            else:
                c = in_coin[k]
                if c >= 0:
                    t = taint[c]
                    if t:
                        T += t
                        taint[c] = 0
        o0, o1 = out_start[e], out_start[e + 1]
        if e in seed_tx:
            W = sum(out_value[o0:o1])
            returned += T
            entered += W
            T = V = W
        if T == 0:
            continue
        W = sum(out_value[o0:o1])
        if W > V:
            V = W
        tainted_events += 1
        given = 0
        for k in range(o0, o1):
            t = out_value[k] * T // V
            if t == 0:
                continue
            given += t
            a = out_addr[k]
            if a >= 0 and is_seed[a]:
                returned += t
                continue
            taint[k] = t
            if a >= 0:
                received[a] += t
        fees += T - given
    holding = {}
    held = 0
    for k, t in enumerate(taint):
        if t:
            held += t
            a = out_addr[k]
            if a >= 0:
                holding[a] = holding.get(a, 0) + t
    return dict(entered=entered, held=held, lost_to_fees=fees, returned_to_seeds=returned,
                tainted_events=tainted_events, received=received, holding=holding)


def peak_rss_bytes():
    """This process's peak resident memory: VmHWM (ru_maxrss would include the memory of
    the process that started this one, which Linux carries across exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--seed-tx", default="")
    ap.add_argument("--seed", default="")
    ap.add_argument("--limit", type=int, default=-1)
    ap.add_argument("--repeat", type=int, default=1, help="run the trace K times, report the median")
    ap.add_argument("--addresses", help="write per-address taint and holding here (TSV)")
    a = ap.parse_args()
    seeds = {s for s in a.seed.split(",") if s}
    seed_txs = {s for s in a.seed_tx.split(",") if s}

    t0 = time.perf_counter()
    g = parse(a.file, a.limit, seeds, seed_txs)
    parse_s = time.perf_counter() - t0
    if seed_txs and len(g["seed_tx_ix"]) < len(seed_txs):
        raise SystemExit(f"seed transactions not in the file: {sorted(seed_txs)}")

    times = []
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        r = trace(g)
        times.append(time.perf_counter() - t0)
    trace_s = sorted(times)[len(times) // 2]

    rows = 0
    names = g["names"]
    received, holding = r["received"], r["holding"]
    if a.addresses:
        out = sorted((names[i], t, holding.get(i, 0)) for i, t in enumerate(received) if t)
        rows = len(out)
        with open(a.addresses, "w") as f:
            for n, t, h in out:
                f.write(f"{n}\t{t}\t{h}\n")
    else:
        rows = sum(1 for t in received if t)
    edges = len(g["in_coin"]) + len(g["out_value"])
    print(json.dumps(dict(
        txs=g["ntx"], edges=edges, parse_seconds=parse_s, trace_seconds=trace_s,
        trace_runs=len(times), edges_per_second=edges / trace_s if trace_s else None,
        entered=r["entered"], held=r["held"], lost_to_fees=r["lost_to_fees"],
        returned_to_seeds=r["returned_to_seeds"], tainted_events=r["tainted_events"],
        addresses=rows, peak_rss_bytes=peak_rss_bytes())))


if __name__ == "__main__":
    main()
