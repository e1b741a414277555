//! The Bitcoin Core JSON-RPC client and the sync over it, against the replay server
//! serving the real blocks 0..4312 of blk00000.dat (answers in Core's `getblock`
//! verbosity 3 shape, generated from those blocks: no Core node is reachable here).
//! The reorganisation is a SYNTHETIC fork (blocks mined at regtest difficulty) on top of
//! the real block 280.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use ashiato_btc::chain::for_each_block;
use ashiato_btc::replay::{with_prevouts, Fault, RpcReplayServer, ServedBlock};
use ashiato_btc::rpc::{Auth, ClientOptions, RpcClient, RpcError};
use ashiato_btc::sync::{load_state, sync, SyncError, SyncOptions};
use ashiato_btc::UtxoSet;
use ashiato_model::{Address, Chain};
use ashiato_store::Store;
use ashiato_trace::{GraphBuilder, PolicyName, TraceSpec};
use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{
    absolute, transaction, Amount, Block, CompactTarget, OutPoint, PubkeyHash, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Witness,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// The real blocks 0..=4312, parsed once.
fn real_blocks() -> &'static Vec<Block> {
    static B: OnceLock<Vec<Block>> = OnceLock::new();
    B.get_or_init(|| {
        let mut v = Vec::new();
        for_each_block(&[data("blk00000_first1MB.dat")], [0; 8], |_, b| {
            v.push(b.clone());
            Ok(())
        })
        .unwrap();
        v
    })
}

/// Transactions in the real blocks `range`, counted from the parsed blocks.
fn txs_in(range: std::ops::RangeInclusive<usize>) -> u64 {
    real_blocks()[range]
        .iter()
        .map(|b| b.txdata.len() as u64)
        .sum()
}

fn served(n: usize) -> Vec<ServedBlock> {
    with_prevouts(real_blocks()[..n].to_vec()).unwrap()
}

const LOGIN: (&str, &str) = ("ashiato", "s3cret");

fn client(url: &str, network: bitcoin::Network) -> RpcClient {
    RpcClient::new(
        url,
        Auth::UserPass(LOGIN.0.into(), LOGIN.1.into()),
        ClientOptions {
            timeout: Duration::from_millis(400),
            retries: 2,
            backoff: Duration::from_millis(10),
            network,
        },
    )
    .unwrap()
}

fn server(blocks: Vec<ServedBlock>) -> RpcReplayServer {
    RpcReplayServer::start(blocks, Some((LOGIN.0.into(), LOGIN.1.into()))).unwrap()
}

fn utxo_txs(store: &Store) -> u64 {
    store
        .stats()
        .unwrap()
        .chains
        .get(Chain::Bitcoin.as_str())
        .map_or(0, |c| c.utxo_txs)
}

fn satoshi_spec() -> TraceSpec {
    TraceSpec {
        // Satoshi's coins of block 9, spent to Hal Finney in block 170.
        seeds: vec![Address::parse(Chain::Bitcoin, "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S").unwrap()],
        ..TraceSpec::default()
    }
}

fn rows(r: &ashiato_trace::TraceResult) -> Vec<(String, u128)> {
    let mut v: Vec<(String, u128)> = r
        .addresses
        .iter()
        .map(|x| (x.address.clone(), x.taint))
        .collect();
    v.sort();
    v
}

#[test]
fn a_sync_over_rpc_stores_what_the_blk_file_holds() {
    let srv = server(served(4_313));
    let c = client(&srv.url(), bitcoin::Network::Bitcoin);
    assert_eq!(c.block_count().unwrap(), 4_312);
    // Block 170: Satoshi's 10 BTC to Hal Finney; its input is block 9's coinbase.
    let b = c.block_at(170).unwrap();
    assert_eq!(
        b.block.block_hash().to_string(),
        "00000000d1145790a8694403d4063f323d499e655c83426834d4ce2f8dd4a2ee"
    );
    assert_eq!(b.prevouts.len(), 1);
    assert_eq!(b.prevouts[0].value.to_sat(), 5_000_000_000);

    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let opts = SyncOptions {
        batch_blocks: 500,
        concurrency: 4,
        ..SyncOptions::default()
    };
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!((r.from_height, r.to_height, r.blocks), (0, 4_312, 4_313));
    // BlockSci's 2009 export counts 4,371 transactions in these blocks.
    assert_eq!((r.added, utxo_txs(&store)), (4_371, 4_371));
    // Nothing new the second time, and one call per stored block checked at most.
    let before = srv.requests();
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!((r.blocks, r.added), (0, 0));
    assert_eq!(
        srv.requests() - before,
        2,
        "getblockcount and the top block's hash"
    );

    // The same transactions as the blk file, converted with a UTXO set: traces agree.
    let mut set = UtxoSet::default();
    let mut gb = GraphBuilder::new(Chain::Bitcoin);
    for (h, block) in real_blocks().iter().enumerate() {
        for (i, tx) in set.apply(block, h as u64).unwrap().into_iter().enumerate() {
            gb.add_utxo_tx(tx, (h * 10_000 + i) as u64);
        }
    }
    let from_blk = gb.finish().unwrap();
    let from_rpc = store.graph(Chain::Bitcoin).unwrap();
    for policy in [PolicyName::Poison, PolicyName::Haircut, PolicyName::Fifo] {
        let a = ashiato_trace::trace(&from_rpc, &satoshi_spec(), policy).unwrap();
        let b = ashiato_trace::trace(&from_blk, &satoshi_spec(), policy).unwrap();
        assert_eq!(rows(&a), rows(&b), "{policy:?}");
        assert_eq!(
            a.taint_of("1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3", "BTC"),
            1_000_000_000
        );
    }
}

#[test]
fn a_sync_can_start_mid_chain_and_resume() {
    let srv = server(served(400));
    let c = client(&srv.url(), bitcoin::Network::Bitcoin);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    srv.set_tip(250);
    let opts = SyncOptions {
        batch_blocks: 40,
        start: Some(150),
        ..SyncOptions::default()
    };
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!((r.from_height, r.to_height, r.blocks), (149, 250, 101));
    // Block 170's input value came from the node: block 9 was never fetched.
    assert_eq!(r.added, txs_in(150..=250));
    assert!(r.added > 101, "blocks 150..=250 hold spends");
    srv.set_tip(399);
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!((r.from_height, r.to_height, r.blocks), (250, 399, 149));
    assert_eq!(utxo_txs(&store), txs_in(150..=399));
    let g = store.graph(Chain::Bitcoin).unwrap();
    let t = ashiato_trace::trace(&g, &satoshi_spec(), PolicyName::Haircut).unwrap();
    assert_eq!(
        t.taint_of("1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3", "BTC"),
        1_000_000_000
    );
}

#[test]
fn faults_are_retried_and_lies_refused_naming_the_call() {
    let srv = server(served(300));
    let c = client(&srv.url(), bitcoin::Network::Bitcoin);
    for fault in [
        Fault::Delay(Duration::from_millis(800)),
        Fault::Status(503),
        Fault::Truncate,
        Fault::Garbage,
        Fault::WarmingUp,
    ] {
        srv.push_fault(fault.clone());
        assert_eq!(
            c.block_count().unwrap_or_else(|e| panic!("{fault:?}: {e}")),
            299
        );
    }
    for _ in 0..3 {
        srv.push_fault(Fault::Status(500));
    }
    let e = c.block_hash(5).unwrap_err();
    assert!(
        matches!(e, RpcError::Unavailable { attempts: 3, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("getblockhash [5]"), "{e}");

    // Core's own errors are not retried.
    let before = srv.requests();
    let e = c.block_hash(1_000).unwrap_err();
    assert!(
        matches!(&e, RpcError::Rpc { code: -8, message, .. } if message == "Block height out of range"),
        "{e}"
    );
    assert_eq!(srv.requests() - before, 1);

    // A wrong password is named as such, at once.
    let wrong = RpcClient::new(
        &srv.url(),
        Auth::UserPass("ashiato".into(), "guess".into()),
        ClientOptions::default(),
    )
    .unwrap();
    let e = wrong.block_count().unwrap_err();
    assert!(
        matches!(e, RpcError::Unauthorized { status: 401, .. }),
        "{e}"
    );

    // The cookie file Core writes works as a login; a missing one is named.
    let dir = tempfile::tempdir().unwrap();
    let cookie = dir.path().join(".cookie");
    std::fs::write(&cookie, format!("{}:{}", LOGIN.0, LOGIN.1)).unwrap();
    let by_cookie = RpcClient::new(&srv.url(), Auth::Cookie(cookie), ClientOptions::default());
    assert_eq!(by_cookie.unwrap().block_count().unwrap(), 299);
    let missing = dir.path().join("nope/.cookie");
    let e = RpcClient::new(
        &srv.url(),
        Auth::Cookie(missing.clone()),
        ClientOptions::default(),
    )
    .err()
    .unwrap();
    assert!(
        e.to_string().contains(&missing.display().to_string()),
        "{e}"
    );

    // Lies: changed transaction bytes, a prevout worth nothing.
    srv.push_fault(Fault::Delay(Duration::ZERO)); // the getblockhash call
    srv.push_fault(Fault::TamperTx);
    let e = c.block_at(170).unwrap_err().to_string();
    assert!(
        e.contains("the node lied") && e.contains("not to the txid"),
        "{e}"
    );
    assert!(e.contains("getblock [\"00000000d1145790"), "{e}");
    srv.push_fault(Fault::Delay(Duration::ZERO));
    srv.push_fault(Fault::ZeroPrevout);
    let e = c.block_at(170).unwrap_err().to_string();
    assert!(
        e.contains("pays 5000000000 sat from prevouts worth 0 sat"),
        "{e}"
    );

    // A sync that meets a lie stores nothing of that batch and keeps what it had.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    srv.set_tip(150);
    let opts = SyncOptions {
        batch_blocks: 50,
        concurrency: 1,
        ..SyncOptions::default()
    };
    sync(&mut store, &c, &opts).unwrap();
    srv.set_tip(299);
    // getblockcount, the check of block 150, then block 151's hash and a lie.
    for _ in 0..3 {
        srv.push_fault(Fault::Delay(Duration::ZERO));
    }
    srv.push_fault(Fault::TamperTx);
    let e = sync(&mut store, &c, &opts).unwrap_err();
    assert!(matches!(e, SyncError::Client(RpcError::Lied { .. })), "{e}");
    assert_eq!(load_state(&store).unwrap().height, 150);
    assert_eq!(utxo_txs(&store), txs_in(0..=150));
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!((r.from_height, r.to_height), (150, 299));
    assert_eq!(utxo_txs(&store), txs_in(0..=299));
}

/// A SYNTHETIC block on `prev` at regtest difficulty: a coinbase paying 50 BTC to a
/// key hash made from `tag`, then `spends`.
fn mine(prev: &Block, height: u64, tag: u8, spends: Vec<Transaction>) -> Block {
    let coinbase = Transaction {
        version: transaction::Version::ONE,
        lock_time: absolute::LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint::null(),
            script_sig: ScriptBuf::from_bytes(
                [&height.to_le_bytes()[..], b"ashiato synthetic fork"].concat(),
            ),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output: vec![TxOut {
            value: Amount::from_sat(5_000_000_000),
            script_pubkey: ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([tag; 20])),
        }],
    };
    let mut block = Block {
        header: Header {
            version: Version::ONE,
            prev_blockhash: prev.block_hash(),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: prev.header.time + 600,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            nonce: 0,
        },
        txdata: [vec![coinbase], spends].concat(),
    };
    block.header.merkle_root = block.compute_merkle_root().unwrap();
    while block.header.validate_pow(block.header.target()).is_err() {
        block.header.nonce += 1;
    }
    block
}

#[test]
fn a_reorganisation_is_rolled_back_and_replaced() {
    let real = served(301);
    let srv = server(real.clone());
    let c = client(&srv.url(), bitcoin::Network::Regtest);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let opts = SyncOptions {
        batch_blocks: 20,
        ..SyncOptions::default()
    };
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!((r.to_height, r.added), (300, txs_in(0..=300)));

    // The fork leaves the real chain after block 280 and is 25 blocks long; its block 290
    // spends the real coinbase of block 100 (30 BTC to one key, 19.99 to another).
    let mut fork: Vec<Block> = real[..=280].iter().map(|s| s.block.clone()).collect();
    for h in 281..=305u64 {
        let spends = if h == 290 {
            let cb = real[100].block.txdata[0].compute_txid();
            vec![Transaction {
                version: transaction::Version::ONE,
                lock_time: absolute::LockTime::ZERO,
                input: vec![TxIn {
                    previous_output: OutPoint::new(cb, 0),
                    script_sig: ScriptBuf::new(),
                    sequence: Sequence::MAX,
                    witness: Witness::new(),
                }],
                output: vec![
                    TxOut {
                        value: Amount::from_sat(3_000_000_000),
                        script_pubkey: ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([1; 20])),
                    },
                    TxOut {
                        value: Amount::from_sat(1_999_000_000),
                        script_pubkey: ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([2; 20])),
                    },
                ],
            }]
        } else {
            Vec::new()
        };
        let b = mine(fork.last().unwrap(), h, (h % 250) as u8, spends);
        fork.push(b);
    }
    let served_fork = with_prevouts(fork).unwrap();
    assert_eq!(served_fork[290].prevouts.len(), 1);
    srv.reorg(served_fork);

    let r = sync(&mut store, &c, &opts).unwrap();
    // Batches are 0..19, 20..39, …, 280..299, 300..300: the fork at 280 drops the last two.
    assert_eq!(r.rolled_back_to, Some(279));
    assert_eq!((r.from_height, r.to_height), (279, 305));
    // Kept: blocks 0..=279; new: 26 blocks 280..=305, one of them with a spend.
    assert_eq!(utxo_txs(&store), txs_in(0..=279) + 26 + 1);
    assert!(store.check().unwrap().problems.is_empty());
    let state = load_state(&store).unwrap();
    assert_eq!(state.height, 305);
    assert_eq!(
        state.recent.last().unwrap().1,
        srv.getblock_json(305).unwrap()["hash"].as_str().unwrap()
    );
    // The fork's spend is traced from block 100's miner.
    let miner =
        ashiato_btc::script_address(&real[100].block.txdata[0].output[0].script_pubkey).unwrap();
    let g = store.graph(Chain::Bitcoin).unwrap();
    let mut spec = satoshi_spec();
    spec.seeds = vec![miner];
    let t = ashiato_trace::trace(&g, &spec, PolicyName::Haircut).unwrap();
    let key1 =
        ashiato_btc::script_address(&ScriptBuf::new_p2pkh(&PubkeyHash::from_byte_array([1; 20])))
            .unwrap();
    assert_eq!(t.taint_of(key1.as_str(), "BTC"), 3_000_000_000);

    // A mainnet client refuses the fork: its blocks do not carry mainnet work.
    let strict = client(&srv.url(), bitcoin::Network::Bitcoin);
    let e = strict.block_at(281).unwrap_err().to_string();
    assert!(e.contains("easier than the bitcoin limit"), "{e}");
}

#[test]
fn a_node_behind_every_stored_block_is_refused_and_nothing_is_dropped() {
    let srv = server(served(300));
    let c = client(&srv.url(), bitcoin::Network::Bitcoin);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let opts = SyncOptions {
        batch_blocks: 50,
        start: Some(200),
        ..SyncOptions::default()
    };
    sync(&mut store, &c, &opts).unwrap();
    let before = utxo_txs(&store);
    // A node still catching up, below the first synced block: not a reorganisation.
    srv.set_tip(150);
    let e = sync(&mut store, &c, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            SyncError::NodeBehind {
                node_height: 150,
                stored: 299,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(utxo_txs(&store), before);
    assert_eq!(load_state(&store).unwrap().height, 299);
}

#[test]
fn a_node_on_another_chain_from_genesis_replaces_everything() {
    // Stored: real blocks 0..=9 in batches of one; the node then serves a SYNTHETIC
    // regtest chain from its own genesis: even batch (0,0) must go.
    let srv = server(served(10));
    let c = client(&srv.url(), bitcoin::Network::Regtest);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let opts = SyncOptions {
        batch_blocks: 1,
        ..SyncOptions::default()
    };
    sync(&mut store, &c, &opts).unwrap();
    assert_eq!(utxo_txs(&store), 10);
    let mut other = vec![mine(&real_blocks()[0], 0, 7, Vec::new())];
    for h in 1..12u64 {
        let b = mine(other.last().unwrap(), h, 7 + h as u8, Vec::new());
        other.push(b);
    }
    srv.reorg(with_prevouts(other).unwrap());
    let r = sync(&mut store, &c, &opts).unwrap();
    assert_eq!(
        (r.rolled_back_to, r.from_height, r.to_height),
        (Some(0), 0, 11)
    );
    assert_eq!(utxo_txs(&store), 12);
}
