#!/usr/bin/env python3
"""Fit the SYNTHETIC chain generator (crates/ingest/src/synth_fit.rs) to real data.

    tools/fit_synthetic.py [--data /work/shared/data] [--out testdata/synth-fit/fit.json]
    tools/fit_synthetic.py --check DIR      # re-measure generated data next to the fit

Python 3.11 standard library only. Every number the generator uses, and every
goodness-of-fit number, goes into fit.json together with the files and row counts it
came from. See docs/synthetic.md for what each fit means and how it is biased.
"""

import argparse
import bisect
import csv
import datetime
import glob
import json
import math
import os
import statistics
import struct
import sys
from collections import Counter, defaultdict

QUANTILES = 65  # log10-amount table: probabilities k/64, k = 0..64
PMF_CAP = 20  # inputs/outputs per transaction: the last bucket is "20 or more"
MAX_OUTPUTS = 10  # TaintedTX output_index = tx_index*10 + vout: at most 10 outputs


# --- discrete power law (Clauset, Shalizi & Newman 2009) ---------------------------


def hurwitz_zeta(a, q, m=40):
    """zeta(a, q) = sum_{k>=0} (k+q)^-a, by direct sum then Euler-Maclaurin."""
    s = 0.0
    for k in range(m):
        s += (k + q) ** -a
    n = m + q
    s += n ** (1 - a) / (a - 1) + 0.5 * n ** -a + a / 12 * n ** (-a - 1)
    s -= a * (a + 1) * (a + 2) / 720 * n ** (-a - 3)
    return s


def pl_alpha(xs, xmin):
    """Discrete MLE of alpha for the tail xs (all >= xmin), golden-section search."""
    n = len(xs)
    slog = sum(math.log(x) for x in xs)

    def nll(a):
        return n * math.log(hurwitz_zeta(a, xmin)) + a * slog

    lo, hi = 1.0001, 6.0
    g = (math.sqrt(5) - 1) / 2
    c, d = hi - g * (hi - lo), lo + g * (hi - lo)
    fc, fd = nll(c), nll(d)
    for _ in range(80):
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = nll(c)
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = nll(d)
    return (lo + hi) / 2


def pl_ks(xs, xmin, alpha):
    """KS distance between the tail's empirical CDF and the fitted discrete law."""
    xs = sorted(xs)
    n = len(xs)
    z0 = hurwitz_zeta(alpha, xmin)
    ks = 0.0
    for i, x in enumerate(xs):
        if i + 1 < n and xs[i + 1] == x:
            continue
        emp = (i + 1) / n
        model = 1 - hurwitz_zeta(alpha, x + 1) / z0
        ks = max(ks, abs(emp - model))
    return ks


def fit_power_law(values, min_tail=25):
    """alpha, x_min by minimum KS over candidate x_min (tails of >= min_tail points)."""
    values = [v for v in values if v >= 1]
    best = None
    for xmin in sorted(set(values)):
        tail = [v for v in values if v >= xmin]
        if len(tail) < min_tail:
            break
        a = pl_alpha(tail, xmin)
        ks = pl_ks(tail, xmin, a)
        if best is None or ks < best["ks"]:
            best = {"alpha": a, "x_min": xmin, "ks": ks, "n_tail": len(tail)}
    if best is None:
        return None
    best["n"] = len(values)
    # Standard error of alpha (CSN eq. 3.2 for the continuous approximation).
    best["alpha_se"] = (best["alpha"] - 1) / math.sqrt(best["n_tail"])
    best["mean"] = sum(values) / len(values)
    best["max"] = max(values)
    # The part below x_min, kept as an empirical pmf so the generator and --check
    # can compare the whole law, not just the tail.
    c = Counter(values)
    best["below_x_min_pmf"] = {
        str(k): c[k] / len(values) for k in sorted(c) if k < best["x_min"]
    }
    return best


# --- small helpers -------------------------------------------------------------------


def quantile(sorted_xs, p):
    """Linear-interpolation quantile (R type 7, numpy's default)."""
    if not sorted_xs:
        return None
    h = (len(sorted_xs) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (h - lo) * (sorted_xs[hi] - sorted_xs[lo])


def amount_fit(amounts):
    """Quantile table and log-normal moments of log10(amount) for amounts >= 1."""
    pos = sorted(math.log10(a) for a in amounts if a >= 1)
    zeros = sum(1 for a in amounts if a < 1)
    q = [quantile(pos, k / (QUANTILES - 1)) for k in range(QUANTILES)]
    mu = statistics.fmean(pos)
    sd = statistics.pstdev(pos)
    # KS distance of log10(amount) against the normal with these moments.
    n = len(pos)
    ks = 0.0
    for i, x in enumerate(pos):
        f = 0.5 * (1 + math.erf((x - mu) / (sd * math.sqrt(2))))
        ks = max(ks, abs((i + 1) / n - f), abs(i / n - f))
    return {
        "n": len(amounts),
        "below_one_unit": zeros,
        "log10_quantiles": [round(v, 6) for v in q],
        "log10_median": round(quantile(pos, 0.5), 6),
        "log10_iqr": round(quantile(pos, 0.75) - quantile(pos, 0.25), 6),
        "lognormal_log10_mu": round(mu, 6),
        "lognormal_log10_sigma": round(sd, 6),
        "lognormal_ks": round(ks, 6),
    }


def pmf(counts, cap):
    c = Counter(min(x, cap) for x in counts)
    n = len(counts)
    return {
        "n": n,
        "cap": cap,
        "pmf": [round(c.get(k, 0) / n, 8) for k in range(0, cap + 1)],
        "mean_uncapped": round(sum(counts) / n, 6),
    }


def inter_arrival(times):
    """Gaps between consecutive transfers (seconds): quantiles and exponential KS."""
    times = sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    gs = sorted(gaps)
    mean = sum(gaps) / len(gaps)
    ks = 0.0
    n = len(gs)
    for i, g in enumerate(gs):
        f = 1 - math.exp(-g / mean) if mean > 0 else 1.0
        ks = max(ks, abs((i + 1) / n - f), abs(i / n - f))
    return {
        "n": len(gaps),
        "mean_s": round(mean, 3),
        "median_s": quantile(gs, 0.5),
        "p90_s": quantile(gs, 0.9),
        "zero_share": round(sum(1 for g in gaps if g == 0) / n, 6),
        "exponential_ks": round(ks, 6),
    }


def graph_stats(edges):
    """edges: list of (from, to) in time order -> degree lists, new-account and repeat rates."""
    outd, ind = Counter(), Counter()
    seen_acc, seen_edge = set(), set()
    repeat = first_send = first_recv = sender_had_received = 0
    for f, t in edges:
        if (f, t) in seen_edge:
            repeat += 1
        else:
            # Only non-repeat transfers: the generator draws ends for those alone.
            if f not in outd:
                first_send += 1
                sender_had_received += f in ind
            if t not in ind:
                first_recv += 1
        outd[f] += 1
        ind[t] += 1
        seen_edge.add((f, t))
        seen_acc.add(f)
        seen_acc.add(t)
    return {
        "out": list(outd.values()),
        "in": list(ind.values()),
        "accounts": len(seen_acc),
        "transfers": len(edges),
        "repeat": repeat,
        # accounts that only send / only receive, of all accounts
        "first_send": first_send,
        "first_recv": first_recv,
        "sender_had_received": sender_had_received,
        "senders": len(outd),
        "receivers": len(ind),
    }


def rel(path, root):
    return os.path.relpath(path, root)


# --- account model -------------------------------------------------------------------


def read_mftracer(root):
    cases = {}
    for case_dir in sorted(glob.glob(os.path.join(root, "eth-mftracer-cases", "*"))):
        if not os.path.isdir(case_dir):
            continue
        name = os.path.basename(case_dir)
        # One CSV per case besides the two address lists (XSam's is named XScam.csv).
        found = [
            f for f in glob.glob(os.path.join(case_dir, "*.csv"))
            if not os.path.basename(f).endswith("addresses.csv")
        ]
        if len(found) != 1:
            sys.exit(f"{case_dir}: expected one edge CSV, found {found}")
        path = found[0]
        rows = []
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                t = datetime.datetime.strptime(r["Timestamp"], "%Y-%m-%d %H:%M:%S")
                t = int(t.replace(tzinfo=datetime.timezone.utc).timestamp())
                cents = round(float(r["Value_in_USD"]) * 100)
                rows.append((t, int(r["Block"]), r["From"].lower(), r["To"].lower(), cents))
        rows.sort(key=lambda x: (x[0], x[1]))
        cases[name] = (path, rows)
    return cases


def read_etl(root):
    path = os.path.join(
        root,
        "eth-ethereum-etl-fixtures/tests/resources/test_stream/blocks_17173049_17173050/expected_transactions.json",
    )
    txs = []
    with open(path) as fh:
        for line in fh:
            if line.strip():
                txs.append(json.loads(line))
    blocks = os.path.join(os.path.dirname(path), "expected_blocks.json")
    bl = []
    with open(blocks) as fh:
        for line in fh:
            if line.strip():
                bl.append(json.loads(line))
    return path, txs, blocks, bl


def fit_accounts(root):
    cases = read_mftracer(root)
    edges, amounts, sources = [], [], []
    per_case = {}
    gaps_all = []
    for name, (path, rows) in cases.items():
        e = [(f"{name}:{r[2]}", f"{name}:{r[3]}") for r in rows]
        edges += e
        amounts += [r[4] for r in rows]
        g = graph_stats(e)
        per_case[name] = {
            "transfers": g["transfers"],
            "accounts": g["accounts"],
            "accounts_per_transfer": round(g["accounts"] / g["transfers"], 6),
            "repeat_edge_share": round(g["repeat"] / g["transfers"], 6),
        }
        ia = inter_arrival([r[0] for r in rows])
        per_case[name]["inter_arrival_mean_s"] = ia["mean_s"]
        per_case[name]["inter_arrival_median_s"] = ia["median_s"]
        t = sorted(r[0] for r in rows)
        gaps_all += [b - a for a, b in zip(t, t[1:])]
        sources.append({"file": rel(path, root), "rows": len(rows)})
    g = graph_stats(edges)
    out_fit = fit_power_law(g["out"])
    in_fit = fit_power_law(g["in"])

    # Full-chain density: transactions per block and block interval from the only
    # contiguous real Ethereum blocks we have (two May-2023 mainnet blocks).
    etl_path, txs, blocks_path, blocks = read_etl(root)
    per_block = Counter(t["block_number"] for t in txs)
    ts = sorted(b["timestamp"] for b in blocks)
    block_interval = (ts[-1] - ts[0]) / (len(ts) - 1) if len(ts) > 1 else 12
    tx_per_block = sum(per_block.values()) / len(per_block)
    eth_values = [int(t["value"]) for t in txs]
    sources.append({"file": rel(etl_path, root), "rows": len(txs)})
    sources.append({"file": rel(blocks_path, root), "rows": len(blocks)})

    gs = sorted(gaps_all)
    return {
        "model": "account",
        "unit": "USD cents (MFTracer values are USD; the generated asset is SYNUSD)",
        "sources": sources,
        "transfers": g["transfers"],
        "accounts": g["accounts"],
        "accounts_per_transfer": round(g["accounts"] / g["transfers"], 6),
        "repeat_edge_share": round(g["repeat"] / g["transfers"], 6),
        # Of the non-repeat transfers: how often the sender sends for the first time,
        # the recipient receives for the first time, and a first-time sender had
        # received before (laundering hops forward what they got).
        "new_sender_share": round(g["first_send"] / (g["transfers"] - g["repeat"]), 6),
        "new_recipient_share": round(g["first_recv"] / (g["transfers"] - g["repeat"]), 6),
        "new_sender_had_received_share": round(g["sender_had_received"] / max(1, g["first_send"]), 6),
        "sender_share_of_accounts": round(g["senders"] / g["accounts"], 6),
        "receiver_share_of_accounts": round(g["receivers"] / g["accounts"], 6),
        "out_degree": out_fit,
        "in_degree": in_fit,
        "amount": amount_fit(amounts),
        "illicit_inter_arrival": {
            "n": len(gs),
            "mean_s": round(sum(gs) / len(gs), 3),
            "median_s": quantile(gs, 0.5),
            "p90_s": quantile(gs, 0.9),
            "note": "within each case; only illicit edges, so far sparser than the chain",
        },
        "chain_density": {
            "blocks": len(per_block),
            "tx_per_block": round(tx_per_block, 3),
            "block_interval_s": block_interval,
            "mean_gap_s": round(block_interval / tx_per_block, 6),
            "source": "ethereum-etl blocks 17173049-17173050 (mainnet, May 2023)",
        },
        "eth_native_value": {
            "n": len(eth_values),
            "zero_value_share": round(sum(1 for v in eth_values if v == 0) / len(eth_values), 6),
            "log10_wei_median_nonzero": round(
                quantile(sorted(math.log10(v) for v in eth_values if v > 0), 0.5), 6
            ),
        },
        "per_case": per_case,
    }


# --- UTXO model ----------------------------------------------------------------------


def read_csv_rows(path):
    with open(path, newline="") as fh:
        r = csv.reader(fh)
        next(r)
        return [row for row in r]


def taintedtx_stats(d, root=None):
    """Per-tx inputs/outputs, output values, coin ages, coinbase share of a TaintedTX dir
    (or of the concatenation of part-*/ dirs under it)."""
    dirs = sorted(glob.glob(os.path.join(d, "part-*"))) or [d]
    height = {}
    outs = {}
    n_out = Counter()
    n_in = Counter()
    inputs = []
    adr = set()
    txs = 0
    files = Counter()
    for sub in dirs:
        for row in read_csv_rows(os.path.join(sub, "tx_height.csv")):
            height[int(row[0])] = int(row[1])
            txs += 1
        files["tx_height.csv"] += 0
        for row in read_csv_rows(os.path.join(sub, "tx_output.csv")):
            oi = int(row[0])
            key = (oi, int(row[1]), row[2], row[3])
            if oi in outs and outs[oi] == key:
                continue  # the two duplicated 2009 coinbase outputs
            outs[oi] = key
        for row in read_csv_rows(os.path.join(sub, "tx_input.csv")):
            inputs.append((int(row[0]), int(row[1]), int(row[3])))
        for row in read_csv_rows(os.path.join(sub, "adr_hash.csv")):
            adr.add(row[0])
    for oi, (_, tx, a, v) in outs.items():
        n_out[tx] += 1
    ages, spent = [], set()
    double = 0
    for oi, tx, v in inputs:
        n_in[tx] += 1
        if oi in spent:
            double += 1
        spent.add(oi)
        prev = outs.get(oi)
        if prev is not None:
            ages.append(height[tx] - height[prev[1]])
    coinbase = [t for t in height if n_in[t] == 0]
    ordinary = [t for t in height if n_in[t] > 0]
    values = [int(outs[oi][3]) for oi in outs if n_in[outs[oi][1]] > 0]
    out_addrs = [outs[oi][2] for oi in sorted(outs)]
    seen, new = set(), 0
    for a in out_addrs:
        if a not in seen:
            new += 1
            seen.add(a)
    return {
        "txs": txs,
        "outputs": len(outs),
        "inputs": len(inputs),
        "double_spends": double,
        "coinbase_share": len(coinbase) / txs,
        "ordinary": ordinary,
        "n_in": [n_in[t] for t in ordinary],
        "n_out": [n_out[t] for t in ordinary],
        "values": values,
        "ages": ages,
        "new_address_share": new / max(1, len(out_addrs)),
        "blocks": len(set(height.values())),
    }


def varint(b, i):
    x = b[i]
    if x < 0xFD:
        return x, i + 1
    if x == 0xFD:
        return struct.unpack_from("<H", b, i + 1)[0], i + 3
    if x == 0xFE:
        return struct.unpack_from("<I", b, i + 1)[0], i + 5
    return struct.unpack_from("<Q", b, i + 1)[0], i + 9


def parse_block(b):
    """Raw consensus block -> list of (n_inputs, [output values]); segwit aware."""
    i = 80
    ntx, i = varint(b, i)
    txs = []
    for _ in range(ntx):
        i += 4
        segwit = b[i] == 0 and b[i + 1] == 1
        if segwit:
            i += 2
        nin, i = varint(b, i)
        for _ in range(nin):
            i += 36
            ln, i = varint(b, i)
            i += ln + 4
        nout, i = varint(b, i)
        vals = []
        for _ in range(nout):
            vals.append(struct.unpack_from("<q", b, i)[0])
            i += 8
            ln, i = varint(b, i)
            i += ln
        if segwit:
            for _ in range(nin):
                items, i = varint(b, i)
                for _ in range(items):
                    ln, i = varint(b, i)
                    i += ln
        i += 4
        txs.append((nin, vals))
    if i != len(b):
        raise ValueError(f"block parse ended at {i} of {len(b)} bytes")
    return txs


def blk_prefix_times(path):
    """Header timestamps of the framed blk00000.dat prefix (heights 0.. in order)."""
    b = open(path, "rb").read()
    i, times = 0, []
    while i + 8 + 80 <= len(b) and b[i : i + 4] == bytes.fromhex("f9beb4d9"):
        size = struct.unpack_from("<I", b, i + 4)[0]
        if i + 8 + size > len(b):
            break
        times.append(struct.unpack_from("<I", b, i + 8 + 68)[0])
        i += 8 + size
    return times


def fit_utxo(root):
    d = os.path.join(root, "btc-2009-full-year-taintedtx")
    s = taintedtx_stats(d)
    sources = [
        {"file": rel(os.path.join(d, f), root), "rows": len(read_csv_rows(os.path.join(d, f)))}
        for f in ["tx_hash.csv", "tx_height.csv", "tx_input.csv", "tx_output.csv", "adr_hash.csv"]
    ]
    # Modern blocks: per-tx shapes and output values of ~11,000 real transactions.
    modern = []
    mfiles = sorted(
        glob.glob(os.path.join(root, "btc-mainnet-raw-blocks/bitcoinj/*.dat"))
        + glob.glob(os.path.join(root, "btc-mainnet-raw-blocks/bcoin/block*[0-9].raw"))
        + glob.glob(os.path.join(root, "btc-mainnet-raw-blocks/bitcoin-test-data-crate/*.raw"))
    )
    per_block = []
    for f in mfiles:
        txs = parse_block(open(f, "rb").read())
        sources.append({"file": rel(f, root), "rows": len(txs)})
        per_block.append(len(txs))
        modern += txs[1:]  # the coinbase is first
    m_in = [t[0] for t in modern]
    m_out = [min(len(t[1]), 10**9) for t in modern]
    m_vals = [v for t in modern for v in t[1] if v > 0]
    times = blk_prefix_times(
        os.path.join(root, "btc-mainnet-raw-blocks/blkfile-prefix/blk00000_first1MB.dat")
    )
    sources.append(
        {"file": "btc-mainnet-raw-blocks/blkfile-prefix/blk00000_first1MB.dat", "rows": len(times)}
    )
    bf = os.path.join(root, "bitfinex-2016-hack/bitfinex_tx_dataset.csv")
    bf_rows = read_csv_rows(bf)
    sources.append({"file": rel(bf, root), "rows": len(bf_rows)})
    bf_sat = [round(float(r[3]) * 1e8) for r in bf_rows]

    ages = sorted(s["ages"])
    age_q = [quantile(ages, k / (QUANTILES - 1)) for k in range(QUANTILES)]
    gaps = [b - a for a, b in zip(times[1:], times[2:])]  # block 1 came days after genesis
    gs = sorted(gaps)
    return {
        "model": "utxo",
        "unit": "satoshi",
        "sources": sources,
        "y2009": {
            "txs": s["txs"],
            "blocks": s["blocks"],
            "coinbase_share": round(s["coinbase_share"], 6),
            "ordinary_txs": len(s["ordinary"]),
            "inputs_per_tx": pmf(s["n_in"], PMF_CAP),
            "outputs_per_tx": pmf(s["n_out"], MAX_OUTPUTS),
            "output_value": amount_fit(s["values"]),
            "new_address_share_of_outputs": round(s["new_address_share"], 6),
        },
        "modern": {
            "blocks": len(per_block),
            "txs_per_block_mean": round(sum(per_block) / len(per_block), 3),
            "coinbase_share": round(len(per_block) / sum(per_block), 6),
            "inputs_per_tx": pmf(m_in, PMF_CAP),
            "outputs_per_tx": pmf([min(x, MAX_OUTPUTS) for x in m_out], MAX_OUTPUTS),
            "outputs_per_tx_mean_uncapped": round(sum(m_out) / len(m_out), 6),
            "output_value": amount_fit(m_vals),
        },
        "coin_age_blocks": {
            "n": len(ages),
            "quantiles": [round(v, 3) for v in age_q],
            "median": quantile(ages, 0.5),
            "source": "2009 inputs: spending height minus creating height",
        },
        "block_interval_2009": {
            "n": len(gs),
            "mean_s": round(sum(gs) / len(gs), 3),
            "median_s": quantile(gs, 0.5),
            "note": "header times of heights 1..4312; not carried by the TaintedTX format",
        },
        "bitfinex_theft_output": amount_fit(bf_sat),
    }


# --- output ----------------------------------------------------------------------------


def table(fit):
    a, u = fit["account"], fit["utxo"]
    rows = [
        ("account", "transfers / accounts", f"{a['transfers']} / {a['accounts']}"),
        ("account", "accounts per transfer", a["accounts_per_transfer"]),
        ("account", "repeat-edge share", a["repeat_edge_share"]),
    ]
    for k in ("out_degree", "in_degree"):
        p = a[k]
        rows.append(
            (
                "account",
                k.replace("_", "-"),
                f"alpha={p['alpha']:.3f}±{p['alpha_se']:.3f} x_min={p['x_min']} KS={p['ks']:.4f} tail={p['n_tail']}/{p['n']} max={p['max']}",
            )
        )
    am = a["amount"]
    rows.append(
        (
            "account",
            "log10 amount (cents)",
            f"median={am['log10_median']:.3f} IQR={am['log10_iqr']:.3f} lognormal mu={am['lognormal_log10_mu']:.3f} sigma={am['lognormal_log10_sigma']:.3f} KS={am['lognormal_ks']:.4f}",
        )
    )
    cd = a["chain_density"]
    rows.append(("account", "chain density", f"{cd['tx_per_block']} tx/block, {cd['block_interval_s']} s/block"))
    rows.append(("account", "illicit inter-arrival", f"mean={a['illicit_inter_arrival']['mean_s']} s median={a['illicit_inter_arrival']['median_s']} s"))
    m = u["modern"]
    rows.append(("utxo", "coinbase share 2009 / modern", f"{u['y2009']['coinbase_share']} / {m['coinbase_share']}"))
    rows.append(("utxo", "inputs/tx mean 2009 / modern", f"{u['y2009']['inputs_per_tx']['mean_uncapped']} / {m['inputs_per_tx']['mean_uncapped']}"))
    rows.append(("utxo", "outputs/tx mean 2009 / modern", f"{u['y2009']['outputs_per_tx']['mean_uncapped']} / {m['outputs_per_tx_mean_uncapped']}"))
    ov = m["output_value"]
    rows.append(("utxo", "log10 output value (sat, modern)", f"median={ov['log10_median']:.3f} IQR={ov['log10_iqr']:.3f} mu={ov['lognormal_log10_mu']:.3f} sigma={ov['lognormal_log10_sigma']:.3f}"))
    rows.append(("utxo", "coin age (blocks, 2009)", f"median={u['coin_age_blocks']['median']} n={u['coin_age_blocks']['n']}"))
    rows.append(("utxo", "block interval 2009", f"mean={u['block_interval_2009']['mean_s']} s"))
    w = max(len(r[1]) for r in rows)
    for r in rows:
        print(f"{r[0]:8} {r[1]:<{w}}  {r[2]}")


def check_accounts(d, fit):
    files = sorted(glob.glob(os.path.join(d, "part-*.csv")))
    if not files:
        sys.exit(f"{d}: no part-*.csv (decompress .zst parts with `zstd -d` first)")
    edges, amounts = [], []
    for f in files:
        with open(f, newline="") as fh:
            for r in csv.DictReader(fh):
                edges.append((r["from"], r["to"]))
                amounts.append(int(r["amount"]))
    g = graph_stats(edges)
    a = fit["account"]
    gen = {
        "accounts_per_transfer": g["accounts"] / g["transfers"],
        "repeat_edge_share": g["repeat"] / g["transfers"],
        "out_degree": fit_power_law(g["out"]),
        "in_degree": fit_power_law(g["in"]),
        "amount": amount_fit(amounts),
    }
    print(f"SYNTHETIC account set {d}: {g['transfers']} transfers, {g['accounts']} accounts")
    print(f"{'statistic':28} {'real (fit.json)':>22} {'generated':>22}")
    nr = g["transfers"] - g["repeat"]
    gen["new_sender_share"] = g["first_send"] / nr
    gen["new_recipient_share"] = g["first_recv"] / nr
    gen["new_sender_had_received_share"] = g["sender_had_received"] / max(1, g["first_send"])
    for k in ("accounts_per_transfer", "repeat_edge_share", "new_sender_share", "new_recipient_share", "new_sender_had_received_share"):
        print(f"{k:28} {a[k]:>22.4f} {gen[k]:>22.4f}")
    for k in ("out_degree", "in_degree"):
        r, s = a[k], gen[k]
        print(f"{k + ' alpha':28} {r['alpha']:>22.3f} {s['alpha']:>22.3f}")
        print(f"{k + ' x_min':28} {r['x_min']:>22} {s['x_min']:>22}")
        print(f"{k + ' KS':28} {r['ks']:>22.4f} {s['ks']:>22.4f}")
        print(f"{k + ' mean':28} {r['mean']:>22.3f} {s['mean']:>22.3f}")
    for k in ("log10_median", "log10_iqr", "lognormal_log10_mu", "lognormal_log10_sigma"):
        print(f"{'amount ' + k:28} {a['amount'][k]:>22.3f} {gen['amount'][k]:>22.3f}")


def check_utxo(d, fit):
    s = taintedtx_stats(d)
    u = fit["utxo"]
    ages = sorted(s["ages"])
    print(f"SYNTHETIC UTXO set {d}: {s['txs']} txs, {s['inputs']} inputs, {s['outputs']} outputs, double spends {s['double_spends']}")
    print(f"{'statistic':28} {'real (fit.json)':>22} {'generated':>22}")
    print(f"{'coinbase share (modern)':28} {u['modern']['coinbase_share']:>22.4f} {s['coinbase_share']:>22.4f}")
    print(f"{'inputs/tx mean (modern)':28} {u['modern']['inputs_per_tx']['mean_uncapped']:>22.3f} {sum(s['n_in']) / max(1, len(s['n_in'])):>22.3f}")
    print(f"{'outputs/tx mean (modern)':28} {u['modern']['outputs_per_tx_mean_uncapped']:>22.3f} {sum(s['n_out']) / max(1, len(s['n_out'])):>22.3f}")
    ri, gi = u["modern"]["inputs_per_tx"]["pmf"], pmf(s["n_in"], PMF_CAP)["pmf"]
    ro, go = u["modern"]["outputs_per_tx"]["pmf"], pmf(s["n_out"], MAX_OUTPUTS)["pmf"]
    print(f"{'P(1 input) / P(2 inputs)':28} {ri[1]:>10.3f} / {ri[2]:<9.3f} {gi[1]:>10.3f} / {gi[2]:<9.3f}")
    print(f"{'P(1 output) / P(2 outputs)':28} {ro[1]:>10.3f} / {ro[2]:<9.3f} {go[1]:>10.3f} / {go[2]:<9.3f}")
    v = amount_fit(s["values"])
    for k in ("log10_median", "log10_iqr"):
        print(f"{'output value ' + k:28} {u['modern']['output_value'][k]:>22.3f} {v[k]:>22.3f}")
    print(f"{'coin age median (blocks)':28} {u['coin_age_blocks']['median']:>22} {quantile(ages, 0.5):>22}")
    print(f"{'new-address share (2009)':28} {u['y2009']['new_address_share_of_outputs']:>22.4f} {s['new_address_share']:>22.4f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "testdata", "synth-fit", "fit.json"))
    ap.add_argument("--check", metavar="DIR", help="re-measure a generated set next to the fit")
    args = ap.parse_args()
    if args.check:
        fit = json.load(open(args.out))
        if os.path.exists(os.path.join(args.check, "tx_output.csv")) or glob.glob(
            os.path.join(args.check, "part-*/tx_output.csv")
        ):
            check_utxo(args.check, fit)
        else:
            check_accounts(args.check, fit)
        return
    fit = {
        "about": "SYNTHETIC generator fit (tools/fit_synthetic.py); real data in, parameters out",
        "account": fit_accounts(args.data),
        "utxo": fit_utxo(args.data),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(fit, fh, indent=1, sort_keys=True)
        fh.write("\n")
    table(fit)
    print(f"wrote {os.path.relpath(args.out)}")


if __name__ == "__main__":
    main()
