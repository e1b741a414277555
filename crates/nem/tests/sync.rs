//! Sync from the replay server into the store, under every injected fault.

use std::time::Duration;

use ashiato_model::Chain;
use ashiato_nem::client::{ClientError, ClientOptions, Nis1Client, TransferDirection};
use ashiato_nem::coincheck;
use ashiato_nem::replay::{Fault, ReplayServer};
use ashiato_nem::sync::{sync, Fetch, SyncError, SyncOptions};
use ashiato_store::Store;

fn client(url: &str) -> Nis1Client {
    Nis1Client::new(
        url,
        ClientOptions {
            timeout: Duration::from_millis(300),
            retries: 2,
            backoff: Duration::from_millis(10),
        },
    )
    .unwrap()
}

fn opts(fetch: Fetch) -> SyncOptions {
    SyncOptions {
        fetch,
        batch_blocks: 10,
        ..SyncOptions::default()
    }
}

fn stored_transfers(store: &Store) -> u64 {
    store
        .stats()
        .unwrap()
        .chains
        .get(Chain::Nem.as_str())
        .map_or(0, |c| c.transfers)
}

#[test]
fn full_sync_both_fetch_modes_store_the_same() {
    let f = coincheck::build(coincheck::SEED);
    let n_blocks = f.blocks.len() as u64;
    // Every block holds one transfer plus its fee to the harvester.
    let expected = 2 * n_blocks - 3; // three 0-XEM spray transfers move nothing
    let server = ReplayServer::start(f.blocks).unwrap();
    let c = client(&server.url());
    for fetch in [Fetch::BlockAt { concurrency: 4 }, Fetch::BlocksAfter] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let r = sync(&mut store, &c, &opts(fetch)).unwrap();
        assert_eq!(
            (r.from_height, r.to_height, r.blocks),
            (0, n_blocks, n_blocks)
        );
        assert_eq!(r.transfers_added, expected, "{fetch:?}");
        assert_eq!(stored_transfers(&store), expected);
        // Again: nothing new.
        let r = sync(&mut store, &c, &opts(fetch)).unwrap();
        assert_eq!((r.blocks, r.transfers_added), (0, 0));
        assert_eq!(stored_transfers(&store), expected);
        assert!(store.check().unwrap().problems.is_empty());
    }
}

#[test]
fn every_fault_gives_a_clear_error_or_a_correct_recovery() {
    let f = coincheck::build(coincheck::SEED);
    let n_blocks = f.blocks.len() as u64;
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let c = client(&server.url());
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();

    // Transient faults are retried: a slow answer (past the timeout), a 500, a truncated
    // body and an HTML page, each once, then the sync goes through.
    for fault in [
        Fault::Delay(Duration::from_millis(600)),
        Fault::Status(500),
        Fault::Truncate,
        Fault::Garbage,
    ] {
        server.push_fault(fault.clone());
        let h = c.height().unwrap_or_else(|e| panic!("{fault:?}: {e}"));
        assert_eq!(h, n_blocks, "{fault:?}");
    }
    // Faults that outlast the retries: a clear error naming node and request.
    for _ in 0..3 {
        server.push_fault(Fault::Status(503));
    }
    let e = c.height().unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(e, ClientError::Unavailable { attempts: 3, .. }),
        "{msg}"
    );
    assert!(
        msg.contains(&server.url()) && msg.contains("GET /chain/height") && msg.contains("503"),
        "{msg}"
    );
    for _ in 0..3 {
        server.push_fault(Fault::Truncate);
    }
    let msg = c.block_at(5).unwrap_err().to_string();
    assert!(
        msg.contains("block/at/public height 5") && msg.contains("not the expected JSON"),
        "{msg}"
    );
    // A missing block is the node lying (it claimed the height): not retried.
    server.set_reported_height(Some(n_blocks + 5));
    let before = server.requests();
    let msg = c.block_at(n_blocks + 1).unwrap_err().to_string();
    assert!(
        msg.contains("the node lied") && msg.contains("404"),
        "{msg}"
    );
    assert_eq!(server.requests() - before, 1);

    // A sync interrupted by a failure keeps what it committed and resumes after it.
    server.set_reported_height(None);
    server.set_tip(25);
    let r = sync(&mut store, &c, &opts(Fetch::BlockAt { concurrency: 2 })).unwrap();
    assert_eq!(r.to_height, 25);
    let at25 = stored_transfers(&store);
    server.set_tip(n_blocks);
    // The height, the check of block 25, one batch of ten blocks go through; then the
    // node fails for good.
    for _ in 0..12 {
        server.push_fault(Fault::Delay(Duration::ZERO));
    }
    for _ in 0..3 {
        server.push_fault(Fault::Status(500));
    }
    let e = sync(&mut store, &c, &opts(Fetch::BlockAt { concurrency: 1 })).unwrap_err();
    assert!(matches!(e, SyncError::Client(_)), "{e}");
    assert_eq!(ashiato_nem::sync::load_state(&store).unwrap().height, 35);
    assert_eq!(stored_transfers(&store), at25 + 20);
    let r = sync(&mut store, &c, &opts(Fetch::BlockAt { concurrency: 2 })).unwrap();
    assert_eq!((r.from_height, r.to_height), (35, n_blocks));
    assert_eq!(stored_transfers(&store), 2 * n_blocks - 3);

    // A height going backwards is refused and stores nothing.
    server.set_reported_height(Some(10));
    let e = sync(&mut store, &c, &opts(Fetch::BlocksAfter)).unwrap_err();
    assert!(
        matches!(
            e,
            SyncError::NodeBehind {
                node_height: 10,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(stored_transfers(&store), 2 * n_blocks - 3);
    server.set_reported_height(None);
    assert!(store.check().unwrap().problems.is_empty());
}

#[test]
fn a_reorganisation_is_rolled_back_and_replaced() {
    let f = coincheck::build(coincheck::SEED);
    let n = f.blocks.len() as u64;
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let c = client(&server.url());
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    sync(&mut store, &c, &opts(Fetch::BlocksAfter)).unwrap();
    let before = stored_transfers(&store);

    // The node's chain now differs from height n-4 on: the last four blocks are replaced
    // by two others (their transfers dropped), as after a fork.
    let fork_at = n - 4;
    let mut replacement: Vec<_> = f.blocks[(fork_at - 1) as usize..(fork_at + 1) as usize].to_vec();
    for (i, b) in replacement.iter_mut().enumerate() {
        b.txs.clear();
        b.timestamp += 1;
        b.height = fork_at + i as u64;
    }
    server.reorg(replacement);
    let r = sync(&mut store, &c, &opts(Fetch::BlocksAfter)).unwrap();
    // Batches are 10 blocks: the whole batch holding the fork is re-synced.
    let rolled = r.rolled_back_to.expect("reorg detected");
    assert!(rolled < fork_at && rolled.is_multiple_of(10), "{rolled}");
    assert_eq!(r.to_height, fork_at + 1);
    // The five replaced blocks held 5 transfers and 5 fees; the two new ones hold none.
    assert_eq!(stored_transfers(&store), before - 10);
    assert!(store.check().unwrap().problems.is_empty());
}

#[test]
fn account_transfers_page_by_id() {
    let f = coincheck::build(coincheck::SEED);
    let nc4 = f.hackers[0].to_string();
    let server = ReplayServer::start(f.blocks).unwrap();
    let c = client(&server.url());
    let incoming = c
        .all_account_transfers(&nc4, TransferDirection::Incoming)
        .unwrap();
    // 9 messages from the spray recipients + the 11 theft transfers.
    assert_eq!(incoming.len(), 20);
    let outgoing = c
        .all_account_transfers(&nc4, TransferDirection::Outgoing)
        .unwrap();
    // 10 movements to the other hacker accounts + the 14 spray transfers.
    assert_eq!(outgoing.len(), 24);
    let all = c
        .all_account_transfers(&nc4, TransferDirection::All)
        .unwrap();
    assert_eq!(all.len(), 44);
    assert!(all.windows(2).all(|w| w[0].meta.id > w[1].meta.id));
    // A malformed address is a 400 from the node: a clear, non-retried error.
    let e = c
        .account_transfers(
            "NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OX",
            TransferDirection::All,
            None,
        )
        .unwrap_err();
    assert!(e.to_string().contains("400"), "{e}");
}

#[test]
fn messages_are_stored_with_their_transaction_and_dropped_by_a_reorg() {
    let f = coincheck::build(coincheck::SEED);
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let c = client(&server.url());
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    sync(&mut store, &c, &opts(Fetch::BlockAt { concurrency: 2 })).unwrap();
    // The fixture's messages: the 9 spray recipients' "give it back" to NC4, and the
    // thief's "coincheck" on the 3 spray transfers of 0 XEM (kept though they move nothing).
    assert_eq!(store.note_count().unwrap(), 12);
    // Block 3 is the first of them (1: funding of the hot wallet, 2: of a recipient).
    let tx = hex::encode(f.blocks[2].txs[0].hash.unwrap());
    let notes = store.notes(Chain::Nem, &tx).unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].kind.as_str(), notes[0].text.as_str()),
        ("message", "give it back")
    );
    assert!(store.notes(Chain::Nem, "00").unwrap().is_empty());

    // A reorganisation replaces blocks 3.. with one empty block: every batch is re-synced
    // and the messages of the dropped blocks are gone with their transfers.
    let mut b3 = f.blocks[2].clone();
    b3.txs.clear();
    b3.timestamp += 1;
    server.reorg(vec![b3]);
    let r = sync(&mut store, &c, &opts(Fetch::BlockAt { concurrency: 2 })).unwrap();
    assert_eq!((r.rolled_back_to, r.to_height), (Some(0), 3));
    assert_eq!(store.note_count().unwrap(), 0);
    assert!(store.notes(Chain::Nem, &tx).unwrap().is_empty());
    // Blocks 1 and 2: two transfers and their two fees.
    assert_eq!(stored_transfers(&store), 4);
}
