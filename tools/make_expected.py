#!/usr/bin/env python3
"""Writes testdata/expected/*.json: traces computed by the independent reference
(tools/reference_trace.py) on the bundled real data. The Rust test
crates/cli/tests/reference.rs replays each one through the Rust walker and requires the
same addresses, holdings, dust, exits and summary, to the unit.

Run from the repository root: python3 tools/make_expected.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import reference_trace as ref

OUT = "testdata/expected"
POLICIES = ref.POLICIES
BTC = "data/btc-2009-full-year-taintedtx"
CASES = ["Atomic", "LIFI", "TxPhish", "XSam"]
SATOSHI_TO_HAL = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
# The four addresses that spend most often in 2009 (counted in tx_input.csv).
BTC_SEEDS = ["1CfoGajDKynwB1JpaWq2tML4DDsP8VnuPy", "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S",
             "1NAauy83Upy9yYv5zjcjk4hwPRJWnzvX52", "1DNML6RyHdsqRS7te5SpCkMGoYEkVJU6wD"]


def write(name, params, result):
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(dict(params, expected=result), f, separators=(",", ":"), sort_keys=True)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".json"):
            os.remove(os.path.join(OUT, old))
    btc = ref.read_taintedtx(BTC)
    cases = {c: ref.read_mftracer(f"data/eth-mftracer-cases/{c}") for c in CASES}
    n = 0
    for p in POLICIES:
        for c, (rows, sources, terminals) in cases.items():
            exits = {t: "terminal" for t in terminals}
            write(f"mftracer-{c}-{p}", dict(input=f"data/eth-mftracer-cases/{c}", policy=p, seeds=sources),
                  ref.Trace(p, sources, exits=exits).account(rows))
            n += 1
        rows, sources, terminals = cases["Atomic"]
        exits = {t: "terminal" for t in terminals}
        for tag, kw in [("hops3", dict(max_hops=3)), ("dust1000usd", dict(dust=100000)),
                        ("window", dict(since=1685750000, until=1686500000))]:
            write(f"mftracer-Atomic-{p}-{tag}", dict(input="data/eth-mftracer-cases/Atomic", policy=p, seeds=sources, **kw),
                  ref.Trace(p, sources, exits=exits, **kw).account(rows))
            n += 1
        write(f"btc2009-hal-{p}", dict(input=BTC, policy=p, seed_txs=[SATOSHI_TO_HAL]),
              ref.Trace(p, seed_txs=[SATOSHI_TO_HAL]).utxo(btc))
        n += 1
        for tag, kw in [("all", {}), ("hops2", dict(max_hops=2)), ("dust1btc", dict(dust=100000000))]:
            write(f"btc2009-top4-{p}-{tag}", dict(input=BTC, policy=p, seeds=BTC_SEEDS, **kw),
                  ref.Trace(p, BTC_SEEDS, **kw).utxo(btc))
            n += 1
    print(f"wrote {n} fixtures to {OUT}")


if __name__ == "__main__":
    main()
