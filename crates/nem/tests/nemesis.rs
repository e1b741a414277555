//! The real mainnet nemesis block: counts and totals as its SOURCE.txt states them.

use std::collections::BTreeSet;

use ashiato_nem::binary::{parse_block, BinaryError};
use ashiato_nem::tx::{kind, Body};
use ashiato_nem::{block_transfers, MosaicBook, Tally, MAINNET, XEM};

const NEMESIS: &[u8] = include_bytes!("data/nemesis-mainnet.bin");

#[test]
fn nemesis_counts_and_totals() {
    let b = parse_block(NEMESIS).unwrap();
    assert_eq!(b.height, 1);
    assert_eq!(b.txs.len(), 1_353);
    let transfers = b.txs.iter().filter(|t| t.kind == kind::TRANSFER).count();
    let modifications = b
        .txs
        .iter()
        .filter(|t| t.kind == kind::MULTISIG_MODIFICATION)
        .count();
    assert_eq!((transfers, modifications), (1_347, 6));
    let total: u64 = b
        .txs
        .iter()
        .filter_map(|t| match &t.body {
            Body::Transfer { amount, .. } => Some(*amount),
            _ => None,
        })
        .sum();
    assert_eq!(total, 9_000_000_240 * 1_000_000, "micro-XEM");
    let recipients: BTreeSet<_> = b
        .txs
        .iter()
        .filter_map(|t| match &t.body {
            Body::Transfer { recipient, .. } => Some(recipient.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(recipients.len(), 1_347);

    // The same block through the one translation into transfers.
    let mut tally = Tally::default();
    let ts = block_transfers(&b, &mut MosaicBook::default(), MAINNET, &mut tally).unwrap();
    let harvester = ashiato_nem::address_of(&b.signer, MAINNET);
    let (fees, moved): (Vec<_>, Vec<_>) = ts.iter().partition(|t| t.to == harvester);
    assert!(ts.iter().all(|t| t.asset.as_str() == XEM));
    let sum = |v: &[&ashiato_model::Transfer]| v.iter().map(|t| t.amount).sum::<u128>();
    assert_eq!(sum(&moved), 9_000_000_240 * 1_000_000);
    // The six multisig modifications are signed by funded accounts and pay 40 XEM each to
    // the harvester (the nemesis account): the 240 XEM that the transfers add to 9 billion.
    assert_eq!(fees.len(), 6);
    assert_eq!(sum(&fees), 240 * 1_000_000);
    assert_eq!(tally.transactions, 1_353);
    assert_eq!(tally.transfers, 1_347);
    assert_eq!(tally.skipped.get("multisig modification"), Some(&6));
    assert_eq!(ts.len(), 1_347 + 6);
    // Every transaction hash is distinct.
    let hashes: BTreeSet<_> = b.txs.iter().map(|t| t.hash.unwrap()).collect();
    assert_eq!(hashes.len(), 1_353);
}

#[test]
fn corrupt_and_truncated_blocks_fail_with_an_offset() {
    // Cut in the middle of a transaction.
    let cut = &NEMESIS[..NEMESIS.len() / 2];
    let e = parse_block(cut).unwrap_err();
    assert!(matches!(e, BinaryError::Truncated { .. }), "{e}");
    assert!(e.to_string().starts_with("byte "), "{e}");
    // A transaction count claiming 4 billion transactions is refused before allocating.
    let mut bad = NEMESIS.to_vec();
    let count_at = 4 + 4 + 4 + 36 + 68 + 40 + 8;
    assert_eq!(&bad[count_at..count_at + 4], &1_353u32.to_le_bytes());
    bad[count_at..count_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = parse_block(&bad).unwrap_err();
    assert_eq!(
        e,
        BinaryError::Truncated {
            offset: count_at,
            what: "transaction count",
            need: u64::from(u32::MAX) * 4,
            left: NEMESIS.len() - count_at - 4,
        }
    );
    // A corrupted recipient address fails its checksum, naming the offset.
    let mut bad = NEMESIS.to_vec();
    let pos = bad.windows(4).position(|w| w == b"NBT3").unwrap();
    bad[pos + 5] = if bad[pos + 5] == b'A' { b'B' } else { b'A' };
    let e = parse_block(&bad).unwrap_err().to_string();
    assert!(e.contains("recipient") && e.contains("checksum"), "{e}");
    // Trailing garbage is not silently ignored.
    let mut bad = NEMESIS.to_vec();
    bad.push(0);
    assert!(matches!(
        parse_block(&bad),
        Err(BinaryError::Trailing { left: 1, .. })
    ));
}
