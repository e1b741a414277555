//! The command line end to end: the real binary on real and hand-worked data.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ashiato"))
}

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("binary runs");
    assert!(
        out.status.success(),
        "command failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

fn taint_of(v: &Value, address: &str) -> u64 {
    v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == address)
        .map_or(0, |a| a["taint"].as_u64().unwrap())
}

#[test]
fn trace_csv_without_a_store_gives_the_worked_example() {
    // A1 from the policy definitions, written as an Ashiato CSV file.
    for (policy, b, c) in [
        ("haircut", 1_200_000, 1_200_000),
        ("fifo", 2_000_000, 1_000_000),
        ("lifo", 0, 3_000_000),
        ("dirty-first", 3_000_000, 0),
        ("clean-first", 0, 1_000_000),
        ("poison", 4_000_000, 4_000_000),
    ] {
        let out = run(bin()
            .args(["trace", "--input"])
            .arg(data("a1.csv"))
            .args(["--seed", "S", "--policy", policy, "--format", "json"]));
        let v = json(&out);
        assert_eq!(taint_of(&v, "B"), b, "{policy} B");
        assert_eq!(taint_of(&v, "C"), c, "{policy} C");
        assert!(v["exits"].as_array().unwrap().is_empty());
    }
}

#[test]
fn since_and_exits_on_the_command_line() {
    let labels = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(labels.path(), "address,name,kind\nB,Zaif,exchange\n").unwrap();
    let out = run(bin()
        .args(["trace", "--input"])
        .arg(data("a1.csv"))
        .args([
            "--seed", "S", "--policy", "fifo", "--format", "json", "--labels",
        ])
        .arg(labels.path()));
    let v = json(&out);
    let exits = v["exits"].as_array().unwrap();
    assert_eq!(exits.len(), 1);
    assert_eq!(exits[0]["address"], "B");
    assert_eq!(exits[0]["label"], "Zaif");
    assert_eq!(exits[0]["amount"], 2_000_000);
    assert_eq!(exits[0]["path"], serde_json::json!(["theft", "ab"]));
    // Seeds emit nothing before --since: the theft at 15:02:13 is excluded.
    let out = run(bin().args(["trace", "--input"]).arg(data("a1.csv")).args([
        "--seed",
        "S",
        "--since",
        "2018-01-25T15:03:00Z",
        "--format",
        "json",
    ]));
    assert!(json(&out)["addresses"].as_array().unwrap().is_empty());
}

#[test]
fn csv_output_has_both_lists() {
    let out = run(bin()
        .args(["trace", "--input"])
        .arg(data("a1.csv"))
        .args(["--seed", "S", "--policy", "haircut", "--format", "csv"]));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("kind,address,label,asset,amount,holding,hop,path")
    );
    assert!(
        text.contains("address,A,,uXEM,3000000,600000,1,theft\n"),
        "{text}"
    );
    assert!(
        text.contains("address,B,,uXEM,1200000,1200000,2,theft ab\n"),
        "{text}"
    );
}

#[test]
fn a_malformed_row_names_its_place_and_writes_nothing() {
    let store = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["ingest", "--store"])
        .arg(store.path())
        .arg(data("bad-amount.csv"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-amount.csv:3"), "{err}");
    assert!(err.contains("amount"), "{err}");
    // Nothing of the file was kept: tracing the store finds no data for the seed.
    let out = bin()
        .args(["trace", "--store"])
        .arg(store.path())
        .args(["--chain", "generic", "--seed", "S"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not appear"));
}

#[test]
fn reingest_adds_nothing_and_store_trace_matches_file_trace() {
    let store = tempfile::tempdir().unwrap();
    let first = run(bin()
        .args(["ingest", "--store"])
        .arg(store.path())
        .arg(data("a1.csv")));
    assert!(String::from_utf8_lossy(&first.stdout).contains("5 rows, 5 added, 0 duplicates"));
    let again = run(bin()
        .args(["ingest", "--store"])
        .arg(store.path())
        .arg(data("a1.csv")));
    assert!(String::from_utf8_lossy(&again.stdout).contains("already ingested, nothing added"));
    run(bin()
        .args(["incident", "--store"])
        .arg(store.path())
        .args(["add", "a1", "--chain", "generic", "--seed", "S"]));
    let stored = run(bin().args(["trace", "--store"]).arg(store.path()).args([
        "--incident",
        "a1",
        "--policy",
        "fifo",
        "--format",
        "json",
    ]));
    let direct = run(bin()
        .args(["trace", "--input"])
        .arg(data("a1.csv"))
        .args(["--seed", "S", "--policy", "fifo", "--format", "json"]));
    assert_eq!(json(&stored), json(&direct));
}

#[test]
fn mftracer_cases_from_the_store() {
    let store = tempfile::tempdir().unwrap();
    run(bin()
        .args(["ingest", "--store"])
        .arg(store.path())
        .arg(repo("data/eth-mftracer-cases")));
    let out = run(bin().args(["incident", "--store"]).arg(store.path()));
    let list = String::from_utf8_lossy(&out.stdout);
    for case in ["Atomic", "LIFI", "TxPhish", "XSam"] {
        assert!(list.contains(case), "{list}");
    }
    let out = run(bin().args(["trace", "--store"]).arg(store.path()).args([
        "--incident",
        "LIFI",
        "--policy",
        "poison",
        "--format",
        "json",
    ]));
    let v = json(&out);
    assert!(!v["exits"].as_array().unwrap().is_empty());
}

#[test]
fn kill_9_during_csv_ingest_then_rerun_loses_and_duplicates_nothing() {
    // A SYNTHETIC graph from the seeded generator: 400k transfers, committed every 20k.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("synthetic.csv");
    let spec = ashiato_ingest::synth::SynthSpec {
        accounts: 20_000,
        transfers: 400_000,
        seed: 7,
        start_time: 1_600_000_000,
    };
    ashiato_ingest::synth::write_account_csv(std::fs::File::create(&csv).unwrap(), &spec).unwrap();
    let store = dir.path().join("store");
    let ingest = || {
        let mut c = bin();
        c.args(["ingest", "--commit-every", "20000", "--store"])
            .arg(&store)
            .arg(&csv);
        c
    };
    let mut resumed = false;
    // Kill later and later until a kill has landed after at least one commit (a loaded
    // CI machine may not reach the first one in 150 ms).
    for delay_ms in [150u64, 400, 900, 1_600, 3_000, 6_000] {
        let mut child = ingest()
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL: no destructor, no flush
        child.wait().unwrap();
        let stats = run(bin().args(["stats", "--store"]).arg(&store));
        if !String::from_utf8_lossy(&stats.stdout).contains("transfers: 0,")
            && String::from_utf8_lossy(&stats.stdout).contains("transfers: ")
        {
            break;
        }
    }
    let out = run(&mut ingest());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    resumed |= text.contains("resumed after row");
    let stats = run(bin().args(["stats", "--store"]).arg(&store));
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    assert!(stats.contains("transfers: 400000,"), "{stats}");
    assert!(stats.contains("problems: []"), "{stats}");
    // Either the last run resumed from a kill, or a kill landed after the end; both must
    // leave exactly the file's rows. The debug binary is slow enough that 150 ms is mid-run.
    assert!(resumed || text.contains("already ingested"), "{text}");
}

#[test]
fn bitcoin_block_files_and_the_bitfinex_incident_ingest_into_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let blk = repo("crates/btc/tests/data/blk00000_first1MB.dat");
    let out = run(bin().args(["ingest", "--store"]).arg(&store).arg(&blk));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("4371 rows, 4371 added, 0 duplicates"),
        "{text}"
    );
    let out = run(bin().args(["ingest", "--store"]).arg(&store).arg(&blk));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already ingested"));
    let out = run(bin()
        .args(["ingest", "--store"])
        .arg(&store)
        .arg(repo("data/bitfinex-2016-hack")));
    assert!(String::from_utf8_lossy(&out.stdout).contains("incident bitfinex-2016 saved"));
    let out = run(bin()
        .args(["incident", "--store"])
        .arg(&store)
        .args(["show", "bitfinex-2016"]));
    let v = json(&out);
    assert_eq!(v["seeds"].as_array().unwrap().len(), 2_072);
    assert_eq!(v["chain"], "bitcoin");
}

#[test]
fn sync_a_bitcoin_node_then_cluster_and_peel_from_the_store() {
    // The replay server serves the real blocks 0..=999 of blk00000.dat over Core's RPC.
    let mut blocks = Vec::new();
    ashiato_btc::chain::for_each_block(
        &[repo("crates/btc/tests/data/blk00000_first1MB.dat")],
        [0; 8],
        |h, b| {
            if h < 1_000 {
                blocks.push(b.clone());
            }
            Ok(())
        },
    )
    .unwrap();
    let n_txs: usize = blocks.iter().map(|b| b.txdata.len()).sum();
    let served = ashiato_btc::replay::with_prevouts(blocks).unwrap();
    let srv = ashiato_btc::replay::RpcReplayServer::start(served, Some(("u".into(), "p".into())))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let sync = |until: &str| {
        run(bin()
            .args(["sync", "--store"])
            .arg(&store)
            .args(["--until", until, "--batch", "200", "bitcoin", "--rpc"])
            .arg(srv.url())
            .args(["--rpc-user", "u", "--rpc-password", "p"]))
    };
    let out = String::from_utf8(sync("499").stdout).unwrap();
    assert!(out.contains("heights 0..499, 500 blocks"), "{out}");
    let out = String::from_utf8(sync("999").stdout).unwrap();
    assert!(out.contains("heights 499..999, 500 blocks"), "{out}");
    let out = run(bin().args(["cluster", "--json", "--store"]).arg(&store));
    assert_eq!(json(&out)["transactions"], n_txs as u64);
    // A wrong password: a clear error, nothing changes.
    let out = bin()
        .args(["sync", "--store"])
        .arg(&store)
        .args(["bitcoin", "--rpc"])
        .arg(srv.url())
        .args(["--rpc-user", "u", "--rpc-password", "wrong"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused the login"), "{err}");

    // Peel chains of the 2009 export: the longest has 9 steps (tools/peel_2009.py).
    let out = run(bin()
        .args(["peel", "--json", "--limit", "1", "--input"])
        .arg(repo("data/btc-2009-full-year-taintedtx")));
    let v = json(&out);
    assert_eq!(v["chains"], 5);
    assert_eq!(v["listed"][0]["steps"].as_array().unwrap().len(), 9);
    assert_eq!(v["listed"][0]["peeled"], "1607000000");
}
