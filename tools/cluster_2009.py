#!/usr/bin/env python3
"""Independent multi-input clustering of all 2009 Bitcoin transactions from the BlockSci
export (data/btc-2009-full-year-taintedtx), for crates/btc/tests/cluster.rs.
Written from the rule only (addresses spending in one transaction are one owner), not from
the Rust code. Prints: addresses, clusters, five largest sizes, clusters of 2 or more."""
import csv, sys
from collections import Counter

d = sys.argv[1] if len(sys.argv) > 1 else "data/btc-2009-full-year-taintedtx"
adr = {r["adr_index"]: r["adr_hash"] for r in csv.DictReader(open(f"{d}/adr_hash.csv"))}
ins = {}
for r in csv.DictReader(open(f"{d}/tx_input.csv")):
    ins.setdefault(r["tx_index"], []).append(adr.get(r["adr_index"]))
parent = {}

def find(x):
    while parent.setdefault(x, x) != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x

every = {adr[r["adr_index"]] for r in csv.DictReader(open(f"{d}/tx_output.csv")) if r["adr_index"] in adr}
for l in ins.values():
    l = [a for a in l if a]
    every.update(l)
    for a in l[1:]:
        ra, rb = find(l[0]), find(a)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
sizes = sorted(Counter(find(a) for a in every).values(), reverse=True)
print(len(every), len(sizes), sizes[:5], sum(1 for s in sizes if s > 1))
