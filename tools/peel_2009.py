#!/usr/bin/env python3
"""Independent peel-chain detection over all 2009 Bitcoin transactions of the BlockSci
export (data/btc-2009-full-year-taintedtx), for crates/btc/tests/peel.rs. Written from
the rule in docs/bitcoin.md, not from the Rust code: a peel step has one input and two
outputs; it continues through the single output another peel step spends; chains start
at steps no step continues into. Prints: chains of >= 2 steps, of >= 3 steps, and the
three longest as (steps, first txid, value peeled in satoshi, end)."""
import csv, sys

d = sys.argv[1] if len(sys.argv) > 1 else "data/btc-2009-full-year-taintedtx"
txid = {r["tx_index"]: r["tx_hash"] for r in csv.DictReader(open(f"{d}/tx_hash.csv"))}
nin = {}
for r in csv.DictReader(open(f"{d}/tx_input.csv")):
    nin[r["tx_index"]] = nin.get(r["tx_index"], 0) + 1

def spender(s):
    # "171.0"; a spender past 2009 is not in the data: the output counts as unspent.
    t = str(int(float(s))) if s else None
    return t if t in txid else None

outs = {}
for r in csv.DictReader(open(f"{d}/tx_output.csv")):
    outs.setdefault(r["tx_index"], []).append(
        (int(r["output_index"]), int(r["output_value"]), spender(r["spent_index"])))
for v in outs.values():
    v.sort()

def step(t):
    return nin.get(t, 0) == 1 and len(outs.get(t, [])) == 2

def cont(t):
    return [v for v in (0, 1) if outs[t][v][2] is not None and step(outs[t][v][2])]

def follow(t):
    n, peeled = 0, 0
    while True:
        c = cont(t)
        n += 1
        if len(c) == 1:
            peeled += outs[t][1 - c[0]][1]
            t = outs[t][c[0]][2]
            continue
        ch = 0 if outs[t][0][1] > outs[t][1][1] else 1
        peeled += outs[t][1 - ch][1]
        end = "ambiguous" if c else ("spent" if outs[t][ch][2] else "unspent")
        return n, peeled, end

into = set()
for t in outs:
    if step(t):
        c = cont(t)
        if len(c) == 1:
            into.add(outs[t][c[0]][2])
chains = sorted(((*follow(t)[:1], txid[t], *follow(t)[1:]) for t in outs if step(t) and t not in into),
                key=lambda c: (-c[0], c[1]))
print(sum(1 for c in chains if c[0] >= 2), sum(1 for c in chains if c[0] >= 3), chains[:3])
