//! `ashiato watch` as a process, against the NIS1 replay server serving the Coincheck
//! 2018 fixture chain and against a real anvil node: alerts block by block, the 30 Jan
//! spray, exits, the drain on the first theft transfer, the signed feed, reorganisations
//! and kill -9 at random points.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ashiato_model::{Address, Chain, Incident, UtcTime};
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::coincheck::{self, Fixture};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, SyncOptions};
use ashiato_store::Store;
use ashiato_trace::PolicyName;
use ashiato_watch::WatchConfig;
use serde_json::Value;

use common::{bin, run_ok, start_server};

const XEM: u128 = 1_000_000;
/// The 30 Jan spray moved 100 XEM a transfer; the laundering never less than 300,000.
const SPRAY_MAX: u128 = 1_000 * XEM;

/// A store holding the fixture's labels and incident, nothing synced.
fn prepared_store(dir: &Path, f: &Fixture) {
    let mut s = Store::open(dir).unwrap();
    s.put_labels(&f.labels).unwrap();
    s.put_incident(&f.incident).unwrap();
}

fn coincheck_watch(store: &Path, url: &str, hot: &Address, until: u64) -> Command {
    let mut c = Command::new(bin());
    c.args(["watch", "--store"])
        .arg(store)
        .args(["--poll-ms", "20", "--batch", "1", "--quiet"])
        .args(["--spray-max", &SPRAY_MAX.to_string()])
        .args(["--custody", hot.as_str()])
        .args(["--until", &until.to_string()])
        .args(["nem", "--node", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c
}

/// The child's stdout lines, as they come.
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

/// Collects lines until `done` holds for what was collected, or panics after `within`.
fn collect_until(
    rx: &mpsc::Receiver<String>,
    got: &mut Vec<Value>,
    within: Duration,
    done: impl Fn(&[Value]) -> bool,
) {
    let deadline = Instant::now() + within;
    while !done(got) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => got.push(serde_json::from_str(&l).unwrap()),
            Err(_) => panic!("timed out; got so far: {got:#?}"),
        }
    }
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_owned()
}

fn amount(v: &Value) -> u128 {
    s(v, "amount").parse().unwrap()
}

fn config(f: &Fixture) -> WatchConfig {
    WatchConfig {
        spray_max: SPRAY_MAX,
        custody: vec![f.hot_wallet.clone()],
        ..WatchConfig::new(Chain::Nem, vec![f.incident.clone()], PolicyName::Poison)
    }
}

/// How many alerts each block of the fixture implies (from an in-process evaluation of
/// the fully synced chain): what the live watch must have delivered before the next
/// block exists.
fn alerts_per_block(f: &Fixture) -> BTreeMap<u64, usize> {
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), f);
    let mut store = Store::open(dir.path()).unwrap();
    let client = Nis1Client::new(&server.url(), ClientOptions::default()).unwrap();
    sync(&mut store, &client, &SyncOptions::default()).unwrap();
    let d = ashiato_watch::evaluate(&store, &config(f)).unwrap();
    d.alerts.iter().fold(BTreeMap::new(), |mut m, a| {
        *m.entry(a.block).or_default() += 1;
        m
    })
}

#[test]
fn coincheck_watch_alerts_within_one_block_and_keeps_a_signed_feed() {
    let f = coincheck::build(coincheck::SEED);
    let last = f.blocks.last().unwrap().height;
    let per_block = alerts_per_block(&f);
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), &f);
    server.set_tip(1);
    let mut child = coincheck_watch(dir.path(), &server.url(), &f.hot_wallet, last)
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let mut got: Vec<Value> = Vec::new();
    // The chain grows a block at a time; every alert a block implies must be out before
    // the next block exists, and no alert may name a block that does not exist yet.
    for h in 1..=last {
        server.set_tip(h);
        let want = got.len() + per_block.get(&h).copied().unwrap_or(0);
        collect_until(&rx, &mut got, Duration::from_secs(30), |g| g.len() >= want);
        assert_eq!(
            got.len(),
            want,
            "block {h}: more alerts than the block implies"
        );
        assert!(got.iter().all(|v| v["block"].as_u64().unwrap() <= h));
        if let Some(v) = got.last().filter(|_| per_block.contains_key(&h)) {
            assert_eq!(v["block"].as_u64(), Some(h));
        }
    }
    assert!(child.wait().unwrap().success());
    assert!(
        rx.recv_timeout(Duration::from_millis(200)).is_err(),
        "nothing after the end"
    );

    // seq is gap-free from 1, every id once.
    let seqs: Vec<u64> = got.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=got.len() as u64).collect::<Vec<_>>());
    let ids: std::collections::BTreeSet<String> = got.iter().map(|v| s(v, "id")).collect();
    assert_eq!(ids.len(), got.len());

    // By hand from the fixture (crates/nem/src/coincheck.rs): 17 new holders (NC4, the 10
    // other hacker accounts, the 6 laundering intermediaries); 10 more movements into
    // NC4 (theft transfers 2..11); 15 exits (12 Zaif deposits, Binance, Kuna, YoBit);
    // 67 dust alerts: the 11 × 100 XEM spray plus the 56 fees tainted accounts paid the
    // harvester (11 hot wallet, 10 NC4 moves, 14 spray txs, 6 + 12 laundering, 3 exits),
    // all onto accounts with their own history; 1 drain.
    let count = |k: &str| got.iter().filter(|v| v["kind"] == k).count();
    assert_eq!(
        [
            count("new-holder"),
            count("movement"),
            count("exit"),
            count("dust"),
            count("drain")
        ],
        [17, 10, 15, 67, 1]
    );
    // The drain alert is the first theft transfer, 00:02:13 JST, 100 M XEM to NC4 —
    // in the same block as the first taint alert, not hours later.
    let hackers: Vec<String> = f.hackers.iter().map(|a| a.to_string()).collect();
    let drain = got.iter().find(|v| v["kind"] == "drain").unwrap();
    assert_eq!(s(drain, "time"), "2018-01-25T15:02:13Z");
    assert_eq!(s(drain, "priority"), "high");
    assert_eq!(amount(drain), 100_000_000 * XEM);
    assert_eq!(s(drain, "to"), hackers[0]);
    let first_holder = got.iter().find(|v| v["kind"] == "new-holder").unwrap();
    assert_eq!(s(first_holder, "to"), hackers[0]);
    assert_eq!(first_holder["block"], drain["block"]);
    // Every hacker account joins the watchlist.
    for h in &hackers {
        assert!(
            got.iter()
                .any(|v| v["kind"] == "new-holder" && s(v, "to") == *h),
            "{h} never became a holder"
        );
    }
    // The spray: 11 alerts, all dust by the spray rule, none of its 9 recipients a holder.
    let spray: Vec<String> = f.spray_recipients.iter().map(|a| a.to_string()).collect();
    let sprayed: Vec<&Value> = got.iter().filter(|v| spray.contains(&s(v, "to"))).collect();
    assert_eq!(sprayed.len(), 11);
    for v in &sprayed {
        assert_eq!(
            (s(v, "kind"), s(v, "outcome")),
            ("dust".into(), "spray".into())
        );
        assert_eq!(amount(v), 100 * XEM);
    }
    // Exits: high priority, 29,499,994 XEM at Zaif, with the evidence path from a theft
    // transfer through NC4, a hacker account and an intermediary.
    let zaif = coincheck::EXCHANGES[0].0;
    let at_zaif: Vec<&Value> = got
        .iter()
        .filter(|v| v["kind"] == "exit" && s(v, "to") == zaif)
        .collect();
    assert_eq!(at_zaif.len(), 12);
    assert_eq!(
        at_zaif.iter().map(|v| amount(v)).sum::<u128>(),
        29_499_994 * XEM
    );
    for v in &at_zaif {
        assert_eq!(
            (s(v, "priority"), s(v, "label")),
            ("high".into(), "Zaif".into())
        );
        assert_eq!(v["path"].as_array().unwrap().len(), 4, "{v}");
        assert_eq!(v["hop"], 4);
    }

    // The feed: verifies offline with the published key, lists exactly the 17 holders.
    let key = run_ok(&["feed", "key", "--store", dir.path().to_str().unwrap()]);
    let feed = run_ok(&["feed", "export", "--store", dir.path().to_str().unwrap()]);
    assert_eq!(
        feed.lines().count(),
        27,
        "17 adds + 10 updates of NC4's total"
    );
    let feed_file = dir.path().join("feed.jsonl");
    let listed = verified_listing(&feed_file, &feed, &key);
    assert_eq!(listed.len(), 17);
    let nc4 = listed
        .iter()
        .find(|n| s(n, "address") == hackers[0])
        .unwrap();
    assert_eq!(
        s(nc4, "taint"),
        (u128::from(coincheck::THEFT_TOTAL_XEM) * XEM).to_string()
    );
    assert!(listed.iter().all(|n| !spray.contains(&s(n, "address"))));
    // A tampered copy does not verify, and says which line.
    let tampered = feed.replacen(
        &format!("\"taint\":\"{}\"", 100_000_000 * XEM),
        "\"taint\":\"1\"",
        1,
    );
    assert_ne!(tampered, feed);
    std::fs::write(&feed_file, &tampered).unwrap();
    let out = Command::new(bin())
        .args([
            "feed",
            "verify",
            feed_file.to_str().unwrap(),
            "--key",
            key.trim(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1"),
        "{out:?}"
    );
}

/// Writes `feed` to `file` and has `ashiato feed verify` check it with `key`: the listing.
fn verified_listing(file: &Path, feed: &str, key: &str) -> Vec<Value> {
    std::fs::write(file, feed).unwrap();
    let out = run_ok(&[
        "feed",
        "verify",
        file.to_str().unwrap(),
        "--key",
        key.trim(),
        "--json",
    ]);
    serde_json::from_str(&out).unwrap()
}

/// kill -9 at random points of a watch over the whole chain, restarted each time: every
/// record the uninterrupted run writes comes out, with the same seq and id, none lost;
/// a record re-sent after a kill is identical to the first sending.
#[test]
fn coincheck_watch_survives_kill_9_without_missing_or_changing_an_alert() {
    let f = coincheck::build(coincheck::SEED);
    let last = f.blocks.last().unwrap().height;
    let server = ReplayServer::start(f.blocks.clone()).unwrap();

    let calm = tempfile::tempdir().unwrap();
    prepared_store(calm.path(), &f);
    let out = coincheck_watch(calm.path(), &server.url(), &f.hot_wallet, last)
        .output()
        .unwrap();
    assert!(out.status.success());
    let expected: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(expected.len(), 110);

    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), &f);
    // Kill points from a fixed xorshift sequence: the same run every time.
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut lines: Vec<String> = Vec::new();
    let mut kills = 0;
    loop {
        let mut child = coincheck_watch(dir.path(), &server.url(), &f.hot_wallet, last)
            .spawn()
            .unwrap();
        let rx = lines_of(&mut child);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Short enough that several kills land even when the whole run takes a second.
        let wait = Duration::from_millis(20 + rng % 160);
        let started = Instant::now();
        let finished = loop {
            if let Some(st) = child.try_wait().unwrap() {
                assert!(st.success());
                break true;
            }
            if started.elapsed() >= wait && kills < 12 {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // The reader thread ends with the pipe.
        while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
            lines.push(l);
        }
        if finished {
            break;
        }
    }
    assert!(kills >= 3, "only {kills} kills landed");
    let mut by_seq: BTreeMap<u64, String> = BTreeMap::new();
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap();
        let seq = v["seq"].as_u64().unwrap();
        if let Some(prev) = by_seq.insert(seq, l.clone()) {
            assert_eq!(&prev, l, "seq {seq} re-sent with different content");
        }
    }
    let got: Vec<String> = by_seq.into_values().collect();
    assert_eq!(got, expected);
}

/// A reorganisation on the NIS1 replay server: the blocks from the Binance exit on are
/// replaced by an empty block followed by the same transactions one block later. The
/// alerts of the replaced blocks are retracted naming the reorganisation, and issued
/// again with their new blocks.
#[test]
fn a_nem_reorganisation_retracts_and_reissues_alerts() {
    let f = coincheck::build(coincheck::SEED);
    let binance = coincheck::EXCHANGES[2].0;
    let fork = f
        .blocks
        .iter()
        .find(|b| {
            b.txs.iter().any(|t| {
                matches!(&t.body, ashiato_nem::tx::Body::Transfer { recipient, .. } if recipient.as_str() == binance)
            })
        })
        .unwrap()
        .height;
    let last = f.blocks.last().unwrap().height;
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), &f);
    let mut child = coincheck_watch(dir.path(), &server.url(), &f.hot_wallet, last + 1)
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let mut got = Vec::new();
    collect_until(&rx, &mut got, Duration::from_secs(60), |g| g.len() >= 110);
    let before: Vec<Value> = got
        .iter()
        .filter(|v| v["block"].as_u64().unwrap() >= fork)
        .cloned()
        .collect();
    // The Binance, Kuna and YoBit exits and their fee alerts.
    assert_eq!(before.len(), 6);

    let mut chain = f.blocks[..fork as usize - 1].to_vec();
    let first = &f.blocks[fork as usize - 1];
    ashiato_nem::synth::push_block(&mut chain, first.signer, first.timestamp, Vec::new());
    for b in &f.blocks[fork as usize - 1..] {
        ashiato_nem::synth::push_block(&mut chain, b.signer, b.timestamp, b.txs.clone());
    }
    server.reorg(chain[fork as usize - 1..].to_vec());
    collect_until(&rx, &mut got, Duration::from_secs(60), |g| {
        g.len() >= 110 + 12
    });
    assert!(child.wait().unwrap().success());
    let after = &got[110..];
    let retracted: Vec<&Value> = after.iter().filter(|v| v["event"] == "retract").collect();
    let reissued: Vec<&Value> = after.iter().filter(|v| v["event"] == "alert").collect();
    assert_eq!((retracted.len(), reissued.len()), (6, 6));
    // Retractions come first and name exactly the alerts of the replaced blocks.
    assert!(after[..6].iter().all(|v| v["event"] == "retract"));
    let mut old_ids: Vec<String> = before.iter().map(|v| s(v, "id")).collect();
    let mut gone: Vec<String> = retracted.iter().map(|v| s(v, "id")).collect();
    old_ids.sort();
    gone.sort();
    assert_eq!(old_ids, gone);
    for v in &retracted {
        assert_eq!(
            s(v, "reason"),
            format!(
                "block {} left the chain (reorganisation back to height {})",
                v["block"],
                fork - 1
            )
        );
    }
    // The same movements, one block later.
    for (old, new) in before.iter().zip(reissued.iter()) {
        assert_eq!(
            (s(old, "tx"), s(old, "to"), amount(old)),
            (s(new, "tx"), s(new, "to"), amount(new))
        );
        assert_eq!(
            new["block"].as_u64().unwrap(),
            old["block"].as_u64().unwrap() + 1
        );
    }
}

/// A real Ethereum node: a seed pays X, X pays Y; the chain is reorganised (evm_revert)
/// and X pays Z instead. The watch alerts on each in its block, retracts Y's alert and
/// takes Y off the signed feed with the reorganisation as the reason.
#[test]
fn an_anvil_watch_alerts_and_follows_a_reorganisation() {
    use ashiato_eth::devnet::Anvil;
    use ashiato_eth::json::H160;
    const ETH: u128 = 1_000_000_000_000_000_000;
    let genesis = 1_700_000_000u64;
    let node = Anvil::start(genesis).unwrap();
    let addr = |b: u8| -> H160 { ashiato_eth::json::Fixed([b; 20]) };
    let (seed, x, y, z) = (addr(0x51), addr(0x0a), addr(0x0b), addr(0x0c));
    let eth_addr = |h: &H160| Address::parse(Chain::Ethereum, &h.to_string()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .put_incident(&Incident {
                name: "anvil-theft".into(),
                chain: Chain::Ethereum,
                seeds: vec![eth_addr(&seed)],
                seed_txs: Vec::new(),
                since: Some(UtcTime(genesis as i64)),
                description: "test incident on a local anvil node".into(),
                source: "test".into(),
            })
            .unwrap();
    }
    let funder = node.accounts[0];
    node.send(&funder, Some(&seed), 10 * ETH, &[]).unwrap();
    let mut child = Command::new(bin())
        .args(["watch", "--store"])
        .arg(dir.path())
        .args(["--poll-ms", "20", "--batch", "1", "--quiet"])
        .args(["--spray-max", &(ETH / 100).to_string()])
        .args(["ethereum", "--rpc", node.url()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let mut got = Vec::new();
    let holder = |who: &H160| {
        let w = who.to_string();
        move |g: &[Value]| {
            g.iter()
                .any(|v| v["kind"] == "new-holder" && s(v, "to") == w)
        }
    };
    let r = node.send(&seed, Some(&x), 5 * ETH, &[]).unwrap();
    let x_block = r.block_number.unwrap().0 as u64;
    collect_until(&rx, &mut got, Duration::from_secs(30), holder(&x));
    let snap = node.snapshot().unwrap();
    node.send(&x, Some(&y), 2 * ETH, &[]).unwrap();
    collect_until(&rx, &mut got, Duration::from_secs(30), holder(&y));
    let y_alert = got
        .iter()
        .find(|v| v["kind"] == "new-holder" && s(v, "to") == y.to_string())
        .unwrap()
        .clone();
    assert_eq!(y_alert["block"].as_u64(), Some(x_block + 1));
    assert_eq!(amount(&y_alert), 2 * ETH);
    assert_eq!(y_alert["path"].as_array().unwrap().len(), 2);
    node.revert(&snap).unwrap();
    node.send(&x, Some(&z), 3 * ETH, &[]).unwrap();
    collect_until(&rx, &mut got, Duration::from_secs(30), holder(&z));
    let _ = child.kill();
    let _ = child.wait();
    let retract = got
        .iter()
        .find(|v| v["event"] == "retract" && s(v, "id") == s(&y_alert, "id"))
        .expect("Y's alert retracted");
    assert_eq!(
        s(retract, "reason"),
        format!(
            "block {} left the chain (reorganisation back to height {x_block})",
            x_block + 1
        )
    );
    let z_alert = got
        .iter()
        .find(|v| v["kind"] == "new-holder" && s(v, "to") == z.to_string())
        .unwrap();
    assert_eq!(z_alert["block"].as_u64(), Some(x_block + 1));
    assert_eq!(amount(z_alert), 3 * ETH);
    // Fees the tainted accounts paid went to the block producer and the burn address,
    // both with history of their own: dust, not holders.
    assert!(got
        .iter()
        .filter(|v| v["kind"] == "new-holder")
        .all(|v| [x, y, z].iter().any(|a| s(v, "to") == a.to_string())));

    let store = dir.path().to_str().unwrap();
    let key = run_ok(&["feed", "key", "--store", store]);
    let feed = run_ok(&["feed", "export", "--store", store]);
    let notices: Vec<Value> = feed
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["notice"].clone())
        .collect();
    let y_notices: Vec<String> = notices
        .iter()
        .filter(|n| s(n, "address") == y.to_string())
        .map(|n| s(n, "action"))
        .collect();
    assert_eq!(y_notices, ["add", "revoke"]);
    let y_revoke = notices
        .iter()
        .find(|n| s(n, "address") == y.to_string() && s(n, "action") == "revoke")
        .unwrap();
    assert!(s(y_revoke, "reason").contains("reorganisation back to height"));
    let listed: Vec<String> = verified_listing(&dir.path().join("feed.jsonl"), &feed, &key)
        .iter()
        .map(|n| s(n, "address"))
        .collect();
    assert_eq!(listed, [x.to_string(), z.to_string()]);
}

/// Bitcoin over Core's JSON-RPC (the replay server answering with the real blocks
/// 0..199 of blk00000.dat), watched up to block 175: the block-9 address first sends in
/// block 170, 10 BTC to Hal Finney (a new holder) and 40 BTC back to itself (back to the
/// seed: reported, not followed) — two alerts, both in block 170, nothing else.
#[test]
fn a_bitcoin_watch_alerts_on_satoshis_payment_to_hal_finney() {
    use ashiato_btc::replay::{with_prevouts, RpcReplayServer};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut blocks = Vec::new();
    ashiato_btc::chain::for_each_block(
        &[root.join("crates/btc/tests/data/blk00000_first1MB.dat")],
        [0; 8],
        |_, b| {
            if blocks.len() < 200 {
                blocks.push(b.clone());
            }
            Ok(())
        },
    )
    .unwrap();
    let server = RpcReplayServer::start(with_prevouts(blocks).unwrap(), None).unwrap();
    let satoshi = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S";
    let dir = tempfile::tempdir().unwrap();
    Store::open(dir.path())
        .unwrap()
        .put_incident(&Incident {
            name: "block-9".into(),
            chain: Chain::Bitcoin,
            seeds: vec![Address::parse(Chain::Bitcoin, satoshi).unwrap()],
            seed_txs: Vec::new(),
            since: None,
            description: "Satoshi's block-9 coins (a known movement, as a test)".into(),
            source: "test".into(),
        })
        .unwrap();
    let out = Command::new(bin())
        .args(["watch", "--store"])
        .arg(dir.path())
        .args([
            "--poll-ms",
            "20",
            "--batch",
            "50",
            "--quiet",
            "--until",
            "175",
        ])
        .args(["bitcoin", "--rpc", &server.url()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let got: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows: Vec<(String, String, u64, String, u128, String)> = got
        .iter()
        .map(|v| {
            (
                s(v, "kind"),
                s(v, "outcome"),
                v["block"].as_u64().unwrap(),
                s(v, "to"),
                amount(v),
                s(v, "tx"),
            )
        })
        .collect();
    let tx = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";
    assert_eq!(
        rows,
        [
            (
                "new-holder".into(),
                "held".into(),
                170,
                "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3".into(),
                1_000_000_000,
                tx.into()
            ),
            (
                "movement".into(),
                "returned-to-seed".into(),
                170,
                satoshi.into(),
                4_000_000_000,
                tx.into()
            ),
        ]
    );
}

/// A node that fails (HTTP 503, an HTML page, a truncated answer, more than the client's
/// retries) makes rounds fail, not the watch: it says so on stderr, asks again, and in the
/// end has written exactly the alerts of an undisturbed watch.
#[test]
fn a_failing_node_fails_rounds_not_the_watch() {
    use ashiato_nem::replay::Fault;
    let f = coincheck::build(coincheck::SEED);
    let last = f.blocks.last().unwrap().height;
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), &f);
    for fault in [
        Fault::Status(503),
        Fault::Status(503),
        Fault::Garbage,
        Fault::Truncate,
        Fault::Status(500),
        Fault::Garbage,
        Fault::Status(503),
        Fault::Truncate,
    ] {
        server.push_fault(fault);
    }
    // The same command, with its progress lines on stderr.
    let cmd = coincheck_watch(dir.path(), &server.url(), &f.hot_wallet, last);
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| a != "--quiet")
        .collect();
    let out = Command::new(bin())
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("node {}", server.url())) && stderr.contains("asking again"),
        "{stderr}"
    );
    let got: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), 110);
    let seqs: Vec<u64> = got.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=110).collect::<Vec<_>>());
    assert_eq!(got.iter().filter(|v| v["kind"] == "exit").count(), 15);
}

/// `watch --serve`: the screening API follows the chain the watch syncs, and a write made
/// through the API while the watch owns the store lands between rounds.
#[test]
fn a_watch_with_serve_screens_what_it_has_synced_and_takes_writes() {
    let f = coincheck::build(coincheck::SEED);
    let last = f.blocks.last().unwrap().height;
    let per_block = alerts_per_block(&f);
    let first_alert_block = *per_block.keys().next().unwrap();
    let total: usize = per_block.values().sum();
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    prepared_store(dir.path(), &f);
    let key = run_ok(&[
        "apikey",
        "add",
        "ops",
        "--store",
        dir.path().to_str().unwrap(),
    ]);
    let key = key.trim().to_owned();
    server.set_tip(first_alert_block - 1);
    let mut cmd = Command::new(bin());
    cmd.args(["watch", "--store"])
        .arg(dir.path())
        .args(["--poll-ms", "20", "--batch", "1", "--quiet"])
        .args(["--spray-max", &SPRAY_MAX.to_string()])
        .args(["--custody", f.hot_wallet.as_str()])
        .args(["--serve", "127.0.0.1:0"])
        .args(["nem", "--node", &server.url()]);
    let (_watch, url) = start_server(cmd);
    let http = reqwest::blocking::Client::new();
    let get = |path: &str| -> Value {
        http.get(format!("{url}{path}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let hacker = f.hackers[0].to_string();
    let screen = format!("/api/v1/screen/nem/{hacker}");
    // Before the theft is on the stored chain, the first hacker account is clean.
    let deadline = Instant::now() + Duration::from_secs(30);
    while get("/api/v1/health")["chains"][0]["last_block"].as_u64() != Some(first_alert_block - 1) {
        assert!(Instant::now() < deadline, "the watch never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&screen)["tainted"], false);
    server.set_tip(last);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lines = http
            .get(format!("{url}/api/v1/alerts.jsonl"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        if lines.lines().count() >= total {
            assert_eq!(lines.lines().count(), total);
            break;
        }
        assert!(Instant::now() < deadline, "alerts never all arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The index is rebuilt after the step that wrote those alerts, before the next round.
    std::thread::sleep(Duration::from_millis(200));
    let v = get(&screen);
    assert_eq!(v["tainted"], true);
    // Poison: NC4 received the whole theft (the 11 published transfers).
    assert_eq!(v["hits"][0]["policy"], "poison");
    assert_eq!(
        v["hits"][0]["taint"],
        (coincheck::THEFT_TOTAL_XEM as u128 * XEM).to_string()
    );
    assert_eq!(v["hits"][0]["hop"], 1);
    let exits: Vec<String> = get("/api/v1/incidents/coincheck-2018/exits")
        .as_array()
        .unwrap()
        .iter()
        .map(|e| s(e, "label"))
        .collect();
    assert_eq!(exits, ["Zaif", "Binance", "Kuna", "YoBit"]);
    // A write through the API while the watch holds the store: label the second hacker
    // account an exchange; it becomes an exit of the rebuilt trace.
    let h2 = f.hackers[1].to_string();
    let r = http
        .post(format!("{url}/api/v1/labels"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"chain": "nem", "labels": [
            {"address": h2, "name": "Test exchange", "kind": "exchange", "source": "test", "confidence": 100}
        ]}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let exits = get("/api/v1/incidents/coincheck-2018/exits");
    assert!(exits
        .as_array()
        .unwrap()
        .iter()
        .any(|e| s(e, "address") == h2 && s(e, "label") == "Test exchange"));
    let r = http
        .post(format!("{url}/api/v1/labels"))
        .json(&serde_json::json!({"chain": "nem", "labels": []}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}
