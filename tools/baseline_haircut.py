#!/usr/bin/env python3
"""Benchmark baseline: a full-graph forward haircut trace in plain Python, exactly as
docs/tracing.md defines it (same results as ashiato, checked by ashiato-bench).

  baseline_haircut.py FILE.csv --seed A[,B]   ->  one JSON line with timings and totals
"""
import argparse
import json
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--seed", required=True)
    a = ap.parse_args()
    seeds = set(a.seed.split(","))

    t0 = time.perf_counter()
    frm, to, amt, keys = [], [], [], []
    with open(a.csv) as f:
        header = f.readline().strip()
        assert header == "time,block,tx,from,to,asset,amount", header
        for i, line in enumerate(f):
            t, b, _tx, x, y, _asset, v = line.rstrip("\n").split(",")
            frm.append(x)
            to.append(y)
            amt.append(int(v))
            keys.append((int(b), int(t), i))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    parse_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    bal, taint = {}, {}
    entered = 0
    for i in order:
        x, y, v = frm[i], to[i], amt[i]
        if x in seeds:
            entered += v
            c = v
        else:
            b = bal.get(x, 0)
            if b < v:
                b = v
            t = taint.get(x, 0)
            c = v * t // b if t else 0
            bal[x] = b - v
            if t:
                taint[x] = t - c
        if y in seeds:
            continue
        bal[y] = bal.get(y, 0) + v
        if c:
            taint[y] = taint.get(y, 0) + c
    held = sum(taint.values())
    trace_s = time.perf_counter() - t0
    print(json.dumps(dict(rows=len(keys), parse_seconds=parse_s, trace_seconds=trace_s,
                          edges_per_second=len(keys) / trace_s, entered=entered, held=held)))


if __name__ == "__main__":
    main()
