//! Real mainnet blocks (tests/data/README.md): counts as published in the data set's
//! SOURCE.txt, heights from the coinbase (BIP 34), input values from undo data checked
//! against the coinbase's claim, and the first megabyte of blk00000.dat.

use std::path::{Path, PathBuf};

use ashiato_btc::blk::{BlkError, BlkReader};
use ashiato_btc::block::{convert_with_undo, parse_undo};
use ashiato_btc::{parse_block, BlockError, UtxoSet};
use bitcoin::hashes::Hash;
use bitcoin::Block;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn load(name: &str) -> Block {
    let bytes = std::fs::read(data(name)).unwrap();
    parse_block(&bytes, name).unwrap()
}

struct Counts {
    txs: usize,
    inputs: usize,
    outputs: usize,
    segwit: usize,
}

fn counts(b: &Block) -> Counts {
    Counts {
        txs: b.txdata.len(),
        inputs: b.txdata.iter().map(|t| t.input.len()).sum(),
        outputs: b.txdata.iter().map(|t| t.output.len()).sum(),
        segwit: b
            .txdata
            .iter()
            .filter(|t| t.input.iter().any(|i| !i.witness.is_empty()))
            .count(),
    }
}

#[test]
fn real_blocks_parse_with_the_published_counts_and_heights() {
    // (file, BIP 34 height or None before BIP 34, transactions, segwit transactions)
    let cases: [(&str, Option<u64>, usize, usize); 5] = [
        ("block169482.dat", None, 14, 0),
        ("block227835.dat", None, 122, 0),
        // The first version-2 block of the pair carries its height (BIP 34 rollout).
        ("block227836.dat", Some(227_836), 100, 0),
        ("block300025.raw", Some(300_025), 461, 0),
        ("block482683.raw", Some(482_683), 12, 2),
    ];
    for (name, height, txs, segwit) in cases {
        let b = load(name);
        let c = counts(&b);
        assert_eq!((c.txs, c.segwit), (txs, segwit), "{name}");
        assert_eq!(b.bip34_block_height().ok(), height, "{name}");
    }
    let c = counts(&load("block300025.raw"));
    assert_eq!((c.inputs, c.outputs), (1_428, 1_226));
    // Consecutive blocks link.
    assert_eq!(
        load("block227836.dat").header.prev_blockhash,
        load("block227835.dat").block_hash()
    );
    let b = parse_block(bitcoin_test_data::blocks::mainnet_702861(), "702861").unwrap();
    let c = counts(&b);
    assert_eq!((c.txs, c.segwit), (2_500, 2_065));
    assert_eq!(b.bip34_block_height().ok(), Some(702_861));
}

#[test]
fn corrupt_blocks_are_refused_with_their_place() {
    let mut bytes = std::fs::read(data("block482683.raw")).unwrap();
    // A flipped bit in a transaction breaks the merkle root.
    let n = bytes.len();
    bytes[n - 40] ^= 1;
    let e = parse_block(&bytes, "block482683.raw").unwrap_err();
    assert!(
        matches!(&e, BlockError::Invalid { why, .. } if why.contains("merkle")),
        "{e}"
    );
    // Cut short.
    let bytes = std::fs::read(data("block482683.raw")).unwrap();
    let e = parse_block(&bytes[..5_000], "block482683.raw").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("block482683.raw: not a valid block"),
        "{e}"
    );
    // A header whose hash misses its own target.
    let mut bytes = std::fs::read(data("block169482.dat")).unwrap();
    bytes[76] ^= 0xff; // the nonce
    let e = parse_block(&bytes, "block169482.dat").unwrap_err();
    assert!(e.to_string().contains("proof of work"), "{e}");
}

#[test]
fn undo_data_gives_input_values_that_match_the_coinbase() {
    let b = load("block300025.raw");
    let undo = parse_undo(
        &std::fs::read(data("block300025-undo.raw")).unwrap(),
        "300025",
    )
    .unwrap();
    // One spent coin per non-coinbase input.
    assert_eq!(undo.len(), 1_428 - 1);
    let txs = convert_with_undo(&b, 300_025, &undo).unwrap();
    assert_eq!(txs.len(), 461);
    let fees: u128 = txs
        .iter()
        .map(|t| t.fee().expect("inputs cover outputs"))
        .sum();
    // The coinbase claims the 25 BTC subsidy of height 300,025 plus every fee, exactly.
    let coinbase: u128 = txs[0].outputs.iter().map(|o| o.value).sum();
    assert_eq!(coinbase - 2_500_000_000, fees);
    assert!(fees > 0);
    // Too few spent coins: the error names the input that found none.
    let e = convert_with_undo(&b, 300_025, &undo[..100]).unwrap_err();
    assert!(
        matches!(e, BlockError::UnknownPrevout { input: _, .. }),
        "{e}"
    );
    let mut more = undo.clone();
    more.push(undo[0].clone());
    let e = convert_with_undo(&b, 300_025, &more).unwrap_err();
    assert!(e.to_string().contains("1 spent coins left over"), "{e}");
}

#[test]
fn the_first_megabyte_of_blk00000_reads_as_heights_0_to_4312() {
    let path = data("blk00000_first1MB.dat");
    let mut set = UtxoSet::default();
    let mut prev = bitcoin::BlockHash::all_zeros();
    let mut height = 0u64;
    let mut txs = 0usize;
    let mut last_offset = 0;
    for frame in BlkReader::open(&path, [0; 8]).unwrap() {
        let f = frame.unwrap();
        last_offset = f.offset;
        let b = parse_block(&f.bytes, &format!("blk00000 at {}", f.offset)).unwrap();
        assert_eq!(b.header.prev_blockhash, prev, "height {height}");
        prev = b.block_hash();
        if height == 0 {
            assert_eq!(
                prev.to_string(),
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
            );
        }
        let converted = set.apply(&b, height).unwrap();
        if height == 170 {
            // Satoshi to Hal Finney: 50 BTC in, 10 BTC to Hal, 40 BTC back.
            let t = &converted[1];
            assert_eq!(
                t.txid,
                "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16"
            );
            assert_eq!(t.inputs[0].value, 5_000_000_000);
            assert_eq!(
                t.inputs[0].address.as_ref().unwrap().as_str(),
                "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S"
            );
            let outs: Vec<u128> = t.outputs.iter().map(|o| o.value).collect();
            assert_eq!(outs, [1_000_000_000, 4_000_000_000]);
            assert_eq!(t.fee(), Some(0));
        }
        txs += converted.len();
        height += 1;
    }
    // SOURCE.txt speaks of a truncated tail, but the 1,000,018 bytes end exactly after
    // block 4312's frame.
    assert_eq!(height, 4_313);
    // Cut inside the last frame, the reader names the frame's offset.
    let bytes = std::fs::read(&path).unwrap();
    let cut = &bytes[..bytes.len() - 100];
    let frames: Vec<_> = BlkReader::new(&path, cut, [0; 8]).collect();
    assert_eq!(frames.len(), 4_313);
    let e = frames.last().unwrap().as_ref().unwrap_err();
    assert!(
        matches!(e, BlkError::Truncated { offset, .. } if *offset == last_offset),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains(&format!("blk00000_first1MB.dat at byte {last_offset}")),
        "{e}"
    );
    // BlockSci's 2009 export (btc-2009-full-year-taintedtx) counts 4,371 transactions in
    // blocks 0..4312: 4,313 coinbases and 58 payments.
    assert_eq!(txs, 4_371);
    // No fee was paid yet, so the unspent coins hold exactly 50 BTC per block.
    assert_eq!(set.total(), 4_313 * 5_000_000_000);
}

#[test]
fn an_obfuscated_blocks_folder_reads_the_same_with_its_xor_key() {
    let plain = std::fs::read(data("blk00000_first1MB.dat")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = [0x3a, 0x91, 0x07, 0xee, 0x55, 0x12, 0xc4, 0x68];
    std::fs::write(dir.path().join("xor.dat"), key).unwrap();
    let xored: Vec<u8> = plain
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ key[i % 8])
        .collect();
    std::fs::write(dir.path().join("blk00000.dat"), &xored).unwrap();
    let k = ashiato_btc::blk::xor_key(dir.path()).unwrap();
    assert_eq!(k, key);
    let read: Vec<_> = BlkReader::open(&dir.path().join("blk00000.dat"), k)
        .unwrap()
        .map(|f| f.unwrap())
        .collect();
    assert_eq!(read.len(), 4_313);
    let genesis = parse_block(&read[0].bytes, "genesis").unwrap();
    assert_eq!(
        genesis.block_hash().to_string(),
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    );
    // Read without the key, the first magic is garbage and the error says so.
    let e = BlkReader::open(&dir.path().join("blk00000.dat"), [0; 8])
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(matches!(e, BlkError::BadMagic { offset: 0, .. }), "{e}");
    // A key file of the wrong size is refused.
    std::fs::write(dir.path().join("xor.dat"), [1, 2, 3]).unwrap();
    assert!(ashiato_btc::blk::xor_key(dir.path()).is_err());
}

fn framed(body: &[u8]) -> Vec<u8> {
    let mut v = ashiato_btc::blk::MAINNET_MAGIC.to_vec();
    v.extend_from_slice(&(body.len() as u32).to_le_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn a_blocks_folder_out_of_order_with_an_orphan_gives_the_best_chain_in_height_order() {
    use ashiato_btc::chain::{blocks_dir, for_each_block};
    let frames: Vec<_> = BlkReader::open(&data("blk00000_first1MB.dat"), [0; 8])
        .unwrap()
        .map(|f| f.unwrap().bytes)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    // File 0: heights 2000.. and a 2012 block whose parent is not here; file 1: heights
    // 1999 down to 0 (as headers-first sync stores blocks: by arrival, not height).
    let mut f0: Vec<u8> = frames[2000..].iter().flat_map(|b| framed(b)).collect();
    f0.extend(framed(&std::fs::read(data("block169482.dat")).unwrap()));
    f0.extend([0u8; 64]); // pre-allocated tail
    let f1: Vec<u8> = frames[..2000]
        .iter()
        .rev()
        .flat_map(|b| framed(b))
        .collect();
    std::fs::write(dir.path().join("blk00000.dat"), f0).unwrap();
    std::fs::write(dir.path().join("blk00001.dat"), f1).unwrap();
    std::fs::write(dir.path().join("rev00000.dat"), b"not a block file").unwrap();
    let (files, key) = blocks_dir(dir.path()).unwrap();
    assert_eq!(files.len(), 2);
    let mut set = UtxoSet::default();
    let mut seen = Vec::new();
    let report = for_each_block(&files, key, |h, b| {
        seen.push((h, b.block_hash()));
        set.apply(b, h).unwrap();
        Ok(())
    })
    .unwrap();
    assert_eq!(
        (report.blocks_seen, report.best_height, report.off_chain),
        (4_314, Some(4_312), 1)
    );
    assert_eq!(seen.len(), 4_313);
    for (i, (h, hash)) in seen.iter().enumerate() {
        assert_eq!(*h, i as u64);
        let want = parse_block(&frames[i], "x").unwrap().block_hash();
        assert_eq!(*hash, want);
    }
    assert_eq!(set.total(), 4_313 * 5_000_000_000);
}
