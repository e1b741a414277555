//! The REST client's account and mosaic-definition calls, a sync begun mid-chain, and a
//! sync of a SYNTHETIC chain holding every body the model handles.

use std::time::Duration;

use ashiato_model::Chain;
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, Fetch, SyncOptions};
use ashiato_nem::synth::{self, SynthOptions};
use ashiato_nem::tx::{address_of, block_messages, Body, MosaicDefinition, MosaicId};
use ashiato_nem::{block_transfers, coincheck, MosaicBook, NemBlock, Tally, MAINNET};
use ashiato_store::Store;

fn client(url: &str) -> Nis1Client {
    Nis1Client::new(
        url,
        ClientOptions {
            timeout: Duration::from_secs(5),
            retries: 1,
            backoff: Duration::from_millis(10),
        },
    )
    .unwrap()
}

fn small_chain() -> Vec<NemBlock> {
    synth::chain(&SynthOptions {
        seed: 11,
        blocks: 120,
        txs_per_block: 12,
        accounts: 300,
    })
}

/// What the sync must store, computed straight from the blocks (no client, no store).
fn expected(blocks: &[NemBlock], book: &mut MosaicBook) -> (u64, Tally) {
    let mut tally = Tally::default();
    let mut n = 0;
    for b in blocks {
        n += block_transfers(b, book, MAINNET, &mut tally).unwrap().len() as u64;
    }
    (n, tally)
}

fn stored(store: &Store) -> u64 {
    store.stats().unwrap().chains[Chain::Nem.as_str()].transfers
}

#[test]
fn a_synthetic_chain_with_mosaics_levies_multisig_and_messages_syncs_exactly() {
    let blocks = small_chain();
    let (want, tally) = expected(&blocks, &mut MosaicBook::default());
    // The generator's mix is there: levies were charged, multisig inner transfers exist.
    assert!(tally.levies > 50 && tally.multisig_inner > 50, "{tally:?}");
    assert_eq!(tally.unknown_mosaics, 0);
    let messages: usize = blocks.iter().map(|b| block_messages(b).len()).sum();
    assert!(messages > 50);
    let server = ReplayServer::start(blocks).unwrap();
    let c = client(&server.url());
    for fetch in [Fetch::BlockAt { concurrency: 4 }, Fetch::BlocksAfter] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let r = sync(
            &mut store,
            &c,
            &SyncOptions {
                fetch,
                batch_blocks: 25,
                ..SyncOptions::default()
            },
        )
        .unwrap();
        assert_eq!((r.blocks, r.transfers_added), (120, want), "{fetch:?}");
        assert_eq!(r.tally.levies, tally.levies);
        assert_eq!(stored(&store), want);
        assert_eq!(store.note_count().unwrap(), messages as u64);
    }
}

#[test]
fn mosaic_definitions_page_by_id_and_give_the_latest_definition() {
    let mut blocks = small_chain();
    let creator = [7u8; 32];
    let def = |name: String, fee: u64| MosaicDefinition {
        creator,
        id: MosaicId {
            namespace: "synth.many".into(),
            name,
        },
        description: "SYNTHETIC".into(),
        properties: vec![("divisibility".into(), "2".into())],
        divisibility: 2,
        levy: (fee > 0).then(|| ashiato_nem::tx::Levy {
            kind: 1,
            recipient: address_of(&creator, MAINNET),
            mosaic: MosaicId {
                namespace: "nem".into(),
                name: "xem".into(),
            },
            fee,
        }),
        creation_fee_sink: None,
        creation_fee: 0,
    };
    let ts = blocks.last().unwrap().timestamp + 60;
    // 30 definitions (more than one 25-entry page), then m07 redefined with a levy.
    let mut txs: Vec<_> = (0..30)
        .map(|i| synth::definition_tx(ts, def(format!("m{i:02}"), 0)))
        .collect();
    txs.push(synth::definition_tx(ts, def("m07".into(), 5)));
    synth::push_block(&mut blocks, [1u8; 32], ts, txs);
    let server = ReplayServer::start(blocks).unwrap();
    let c = client(&server.url());

    let before = server.requests();
    let defs = c.mosaic_definitions("synth.many").unwrap();
    // Two pages with data and the empty one that ends the walk.
    assert_eq!(server.requests() - before, 3);
    assert_eq!(defs.len(), 30);
    let m07: Vec<_> = defs.iter().filter(|d| d.id.name == "m07").collect();
    assert_eq!(m07.len(), 1);
    assert_eq!(m07[0].levy.as_ref().map(|l| (l.kind, l.fee)), Some((1, 5)));
    // A parent namespace includes its children; another one has none of them.
    let all = c.mosaic_definitions("synth").unwrap();
    assert_eq!(all.len(), 31);
    assert!(all.iter().any(|d| d.id == synth::token()));
    assert!(c.mosaic_definitions("nothing").unwrap().is_empty());
}

#[test]
fn a_sync_begun_mid_chain_fetches_definitions_for_levies() {
    let blocks = small_chain();
    let start = 60u64;
    let tail = &blocks[(start - 1) as usize..];
    let server = ReplayServer::start(blocks.clone()).unwrap();
    let c = client(&server.url());
    let run = |namespaces: Vec<String>| {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let r = sync(
            &mut store,
            &c,
            &SyncOptions {
                batch_blocks: 20,
                start: Some(start),
                namespaces,
                ..SyncOptions::default()
            },
        )
        .unwrap();
        (r, stored(&store))
    };

    // Without the definition (made in block 1) no levy can be charged.
    let (want_bare, bare) = expected(tail, &mut MosaicBook::default());
    assert!(bare.unknown_mosaics > 0);
    let (r, n) = run(Vec::new());
    assert_eq!((r.from_height, r.to_height, r.blocks), (59, 120, 61));
    assert_eq!((r.transfers_added, n), (want_bare, want_bare));
    assert_eq!(r.tally.unknown_mosaics, bare.unknown_mosaics);

    // With the namespace's definitions fetched first, the levies are there.
    let mut book = MosaicBook::default();
    let Body::MosaicDefinition(d) = &blocks[0].txs[0].body else {
        panic!("block 1 opens with the definition")
    };
    book.insert(d.clone());
    let (want, full) = expected(tail, &mut book);
    assert_eq!(want, want_bare + full.levies);
    let (r, n) = run(vec!["synth.bench".into()]);
    assert_eq!((r.transfers_added, n), (want, want));
    assert_eq!((r.tally.levies, r.tally.unknown_mosaics), (full.levies, 0));
}

#[test]
fn account_info_matches_a_hand_computed_balance() {
    let f = coincheck::build(coincheck::SEED);
    let nc4 = f.hackers[0].to_string();
    let server = ReplayServer::start(f.blocks).unwrap();
    let c = client(&server.url());
    let a = c.account(&nc4).unwrap();
    // NC4 receives the theft (526,300,010 XEM) and 9 × 1 XEM with messages; sends 10
    // movements (50+40+30+30+25+20+20+15+10+5 M = 245,000,000 XEM) and the spray
    // (11 × 100 XEM, 3 × 0); fees: 21 × 0.05 XEM plain, 3 × 0.10 XEM with a message.
    let micro = 526_300_010_000_000u64 + 9_000_000
        - 245_000_000_000_000
        - 1_100_000_000
        - (21 * 50_000 + 3 * 100_000);
    assert_eq!(micro, 281_298_917_650_000);
    assert_eq!(a.balance, micro);
    assert_eq!(a.address.as_str(), nc4);
    assert_eq!(
        a.public_key.map(|k| address_of(&k, MAINNET)),
        Some(f.hackers[0].clone())
    );
    // An exchange only receives: no public key known.
    let zaif = c.account(coincheck::EXCHANGES[0].0).unwrap();
    assert_eq!(zaif.public_key, None);
    // A malformed address is refused by the node, a clear error naming the call.
    let e = c
        .account("NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OX")
        .unwrap_err()
        .to_string();
    assert!(e.contains("/account/get") && e.contains("400"), "{e}");
}
