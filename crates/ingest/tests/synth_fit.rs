//! The fitted SYNTHETIC generator: byte-stable for a seed, shaped like fit.json, and a
//! UTXO chain that conserves value and spends every coin at most once.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use ashiato_ingest::synth_fit::{self, FitSpec, SUBSIDY};
use sha2::{Digest, Sha256};

fn spec(transfers: u64, seed: u64) -> FitSpec {
    FitSpec {
        transfers,
        seed,
        start_time: 1_600_000_000,
    }
}

fn fit() -> serde_json::Value {
    serde_json::from_str(synth_fit::FIT_JSON).unwrap()
}

fn accounts(dir: &Path, transfers: u64, seed: u64) -> String {
    let s = synth_fit::write_fitted_accounts(dir, &spec(transfers, seed), transfers).unwrap();
    assert_eq!(s.transfers, transfers);
    std::fs::read_to_string(&s.files[0]).unwrap()
}

#[test]
fn same_seed_same_bytes_and_first_rows() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let x = accounts(a.path(), 100_000, 42);
    assert_eq!(x, accounts(b.path(), 100_000, 42));
    assert_eq!(
        format!("{:x}", Sha256::digest(x.as_bytes())),
        "1ebf4ce8165d012678ecaea85faec9d3ba18468187b36494ff6dd3dd27509cde"
    );
    let rows: Vec<&str> = x.lines().take(4).collect();
    assert_eq!(
        rows,
        [
            "time,block,tx,from,to,asset,amount",
            "1600000000,133333333,t0,v0,s0,SYNUSD,1000000000",
            "1600000000,133333333,t1,v0,s1,SYNUSD,1000000000",
            "1600000000,133333333,t2,v0,s2,SYNUSD,1000000000",
        ]
    );
    // Past the theft: a row of the fitted process.
    assert_eq!(
        x.lines().nth(2_001).unwrap(),
        "1600000157,133333346,t2000,a400,a1332,SYNUSD,1247976"
    );
    assert_ne!(x, accounts(b.path(), 100_000, 43));
}

#[test]
fn parts_split_rows_and_labels_are_written() {
    let d = tempfile::tempdir().unwrap();
    let s = synth_fit::write_fitted_accounts(d.path(), &spec(25_000, 1), 10_000).unwrap();
    let names: Vec<String> = s
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "part-00000.csv",
            "part-00001.csv",
            "part-00002.csv",
            "labels.csv"
        ]
    );
    let lines: usize = s.files[..3]
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap().lines().count() - 1)
        .sum();
    assert_eq!(lines, 25_000);
    let labels = std::fs::read_to_string(d.path().join("labels.csv")).unwrap();
    assert_eq!(
        labels.lines().nth(1).unwrap(),
        "x0,SYNTHETIC exchange 0,exchange,SYNTHETIC ashiato-synth,100"
    );
    assert_eq!(s.seeds[0], "s0");
    let on_disk: u64 = s.files.iter().map(|f| f.metadata().unwrap().len()).sum();
    assert_eq!(s.bytes, on_disk);
}

/// Hurwitz zeta by direct sum then Euler–Maclaurin (as tools/fit_synthetic.py does).
fn zeta(a: f64, q: f64) -> f64 {
    let mut s: f64 = (0..40).map(|k| (k as f64 + q).powf(-a)).sum();
    let n = 40.0 + q;
    s += n.powf(1.0 - a) / (a - 1.0) + 0.5 * n.powf(-a) + a / 12.0 * n.powf(-a - 1.0);
    s
}

/// Clauset–Shalizi–Newman: alpha at the x_min of least KS distance (tails ≥ 25).
fn power_law(mut xs: Vec<u64>) -> (f64, u64) {
    xs.sort_unstable();
    let mut best = (f64::MAX, 0.0, 0);
    let mut cands: Vec<u64> = xs.clone();
    cands.dedup();
    for xmin in cands {
        let tail: Vec<u64> = xs.iter().copied().filter(|&x| x >= xmin).collect();
        if tail.len() < 25 {
            break;
        }
        let n = tail.len() as f64;
        let slog: f64 = tail.iter().map(|&x| (x as f64).ln()).sum();
        let nll = |a: f64| n * zeta(a, xmin as f64).ln() + a * slog;
        let (mut lo, mut hi) = (1.0001, 6.0);
        for _ in 0..60 {
            let (c, d) = (lo + (hi - lo) / 3.0, hi - (hi - lo) / 3.0);
            if nll(c) < nll(d) {
                hi = d
            } else {
                lo = c
            }
        }
        let a = (lo + hi) / 2.0;
        let z0 = zeta(a, xmin as f64);
        let mut ks: f64 = 0.0;
        for (i, &x) in tail.iter().enumerate() {
            if i + 1 < tail.len() && tail[i + 1] == x {
                continue;
            }
            let model = 1.0 - zeta(a, x as f64 + 1.0) / z0;
            ks = ks.max(((i + 1) as f64 / n - model).abs());
        }
        if ks < best.0 {
            best = (ks, a, xmin);
        }
    }
    (best.1, best.2)
}

fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[test]
fn shape_matches_the_fit() {
    let d = tempfile::tempdir().unwrap();
    let text = accounts(d.path(), 200_000, 9);
    let f = fit();
    let acc = &f["account"];
    let mut outd: HashMap<&str, u64> = HashMap::new();
    let mut ind: HashMap<&str, u64> = HashMap::new();
    let mut logs = Vec::new();
    let mut seen = HashSet::new();
    let mut repeats = 0u64;
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        *outd.entry(c[3]).or_default() += 1;
        *ind.entry(c[4]).or_default() += 1;
        if !seen.insert((c[3], c[4])) {
            repeats += 1;
        }
        logs.push((c[6].parse::<u64>().unwrap() as f64).log10());
    }
    let (a_out, _) = power_law(outd.values().copied().collect());
    let (a_in, _) = power_law(ind.values().copied().collect());
    let fit_out = acc["out_degree"]["alpha"].as_f64().unwrap();
    let fit_in = acc["in_degree"]["alpha"].as_f64().unwrap();
    // Tolerances stated in docs/synthetic.md: the Simon process with the fitted
    // new-account shares gives lighter tails than the (illicit-only) real data.
    assert!(
        (a_out - fit_out).abs() < 0.45,
        "out alpha {a_out} vs {fit_out}"
    );
    assert!((a_in - fit_in).abs() < 0.75, "in alpha {a_in} vs {fit_in}");
    assert!(a_out > 2.0 && a_in > 2.0, "heavy tails: {a_out} {a_in}");
    logs.sort_by(f64::total_cmp);
    let med = quantile(&logs, 0.5);
    let iqr = quantile(&logs, 0.75) - quantile(&logs, 0.25);
    let fit_med = acc["amount"]["log10_median"].as_f64().unwrap();
    let fit_iqr = acc["amount"]["log10_iqr"].as_f64().unwrap();
    assert!((med - fit_med).abs() < 0.1, "median {med} vs {fit_med}");
    assert!((iqr - fit_iqr).abs() < 0.15, "IQR {iqr} vs {fit_iqr}");
    let rep = repeats as f64 / 200_000.0;
    let fit_rep = acc["repeat_edge_share"].as_f64().unwrap();
    assert!(
        (rep - fit_rep).abs() < 0.02,
        "repeat share {rep} vs {fit_rep}"
    );
    let apt = (outd.keys().chain(ind.keys()).collect::<HashSet<_>>().len()) as f64 / 200_000.0;
    let fit_apt = acc["accounts_per_transfer"].as_f64().unwrap();
    assert!(
        (apt - fit_apt).abs() < 0.02,
        "accounts/transfer {apt} vs {fit_apt}"
    );
    // The exits are the hubs: the ten largest in-degrees.
    let mut top: Vec<(&u64, &&str)> = ind.iter().map(|(k, v)| (v, k)).collect();
    top.sort_unstable_by(|a, b| b.cmp(a));
    assert!(
        top[..10].iter().all(|(_, k)| k.starts_with('x')),
        "{:?}",
        &top[..12]
    );
}

#[test]
fn utxo_conserves_value_and_spends_once() {
    let d = tempfile::tempdir().unwrap();
    let s = synth_fit::write_fitted_utxo(d.path(), &spec(50_000, 3), 1_000_000).unwrap();
    assert_eq!(s.seeds.len(), 10);
    assert!(s.exits.iter().all(|x| x.starts_with("bc1qsynth")));
    let txs = ashiato_ingest::taintedtx::read_dir(d.path()).unwrap();
    assert_eq!(txs.len(), 50_000);
    let mut unspent: HashMap<(String, u32), u128> = HashMap::new();
    let mut fees: HashMap<u64, u128> = HashMap::new();
    let mut coinbase: HashMap<u64, u128> = HashMap::new();
    for t in &txs {
        if t.coinbase {
            assert_eq!(t.outputs.len(), 1);
            coinbase.insert(t.block, t.outputs[0].value);
        } else {
            for i in &t.inputs {
                let v = unspent
                    .remove(&(i.prev.txid.clone(), i.prev.vout))
                    .expect("spends an existing unspent output, once");
                assert_eq!(v, i.value);
            }
            *fees.entry(t.block).or_default() += t.fee().expect("outputs ≤ inputs");
        }
        for (v, o) in t.outputs.iter().enumerate() {
            assert!(o.value > 0);
            unspent.insert((t.txid.clone(), v as u32), o.value);
        }
    }
    // The last block is cut at 50,000 transactions: its coinbase also claims the fees
    // of transactions not written.
    let last = txs[txs.len() - 1].block;
    assert!(coinbase.len() > 50);
    for (b, c) in coinbase.iter().filter(|(b, _)| **b != last) {
        assert_eq!(*c, u128::from(SUBSIDY) + fees.get(b).copied().unwrap_or(0));
    }
    let seeds: HashSet<&String> = s.seeds.iter().collect();
    assert_eq!(txs.iter().filter(|t| seeds.contains(&t.txid)).count(), 10);
}
