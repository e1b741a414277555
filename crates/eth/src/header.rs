//! A block's hash is Keccak-256 of its RLP-encoded header, so a header given as JSON can
//! be checked against the hash the node names: a node that alters any header field (the
//! parent link, the time, the roots, the miner) is caught. The fields each fork added
//! (London's base fee, Shanghai's withdrawals root, Cancun's blob gas and beacon root,
//! Prague's requests hash) are encoded when the node gives them, in that order.
//!
//! What a header hash does not cover without re-building the transaction and receipt
//! tries: that the transactions and receipts are the ones the roots commit to. Those are
//! checked for consistency with each other and with the block (hashes, positions, block
//! hash), and trusted from the node.

use sha3::{Digest, Keccak256};

use crate::json::{Block, H256, Q};

/// Keccak-256.
pub fn keccak(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

fn rlp_len(out: &mut Vec<u8>, len: usize, short: u8) {
    if len <= 55 {
        out.push(short + len as u8);
    } else {
        let be = (len as u64).to_be_bytes();
        let skip = be.iter().take_while(|&&b| b == 0).count();
        out.push(short + 55 + (8 - skip) as u8);
        out.extend_from_slice(&be[skip..]);
    }
}

fn rlp_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() == 1 && b[0] < 0x80 {
        out.push(b[0]);
    } else {
        rlp_len(out, b.len(), 0x80);
        out.extend_from_slice(b);
    }
}

/// An integer: big-endian without leading zeros (zero is the empty string).
fn rlp_uint(out: &mut Vec<u8>, v: u128) {
    let be = v.to_be_bytes();
    let skip = be.iter().take_while(|&&b| b == 0).count();
    rlp_bytes(out, &be[skip..]);
}

/// The RLP encoding of the header the JSON describes, or why it cannot be built.
pub fn header_rlp<T>(b: &Block<T>) -> Result<Vec<u8>, String> {
    let mut f = Vec::with_capacity(600);
    rlp_bytes(&mut f, &b.parent_hash.0);
    rlp_bytes(&mut f, &b.sha3_uncles.0);
    rlp_bytes(&mut f, &b.miner.0);
    rlp_bytes(&mut f, &b.state_root.0);
    rlp_bytes(&mut f, &b.transactions_root.0);
    rlp_bytes(&mut f, &b.receipts_root.0);
    if b.logs_bloom.0.len() != 256 {
        return Err(format!(
            "logsBloom is {} bytes, not 256",
            b.logs_bloom.0.len()
        ));
    }
    rlp_bytes(&mut f, &b.logs_bloom.0);
    rlp_uint(&mut f, b.difficulty.0);
    rlp_uint(&mut f, b.number.0);
    rlp_uint(&mut f, b.gas_limit.0);
    rlp_uint(&mut f, b.gas_used.0);
    rlp_uint(&mut f, b.timestamp.0);
    rlp_bytes(&mut f, &b.extra_data.0);
    let mix = b.mix_hash.ok_or("no mixHash")?;
    rlp_bytes(&mut f, &mix.0);
    let nonce = b.nonce.as_ref().ok_or("no nonce")?;
    if nonce.0.len() != 8 {
        return Err(format!("nonce is {} bytes, not 8", nonce.0.len()));
    }
    rlp_bytes(&mut f, &nonce.0);
    // Each fork's fields follow the previous fork's; a later one without an earlier one
    // is not a header any fork defines.
    let uint = |v: Option<Q>| {
        v.map(|v| {
            let mut o = Vec::new();
            rlp_uint(&mut o, v.0);
            o
        })
    };
    let hash = |v: Option<H256>| {
        v.map(|v| {
            let mut o = Vec::new();
            rlp_bytes(&mut o, &v.0);
            o
        })
    };
    let forks = [
        uint(b.base_fee_per_gas),
        hash(b.withdrawals_root),
        uint(b.blob_gas_used),
        uint(b.excess_blob_gas),
        hash(b.parent_beacon_block_root),
        hash(b.requests_hash),
    ];
    let present = forks.iter().take_while(|x| x.is_some()).count();
    if forks[present..].iter().any(Option::is_some) {
        return Err("header fields of a later fork without those of an earlier one".into());
    }
    for enc in forks.iter().flatten() {
        f.extend_from_slice(enc);
    }
    let mut out = Vec::with_capacity(f.len() + 4);
    rlp_len(&mut out, f.len(), 0xc0);
    out.extend_from_slice(&f);
    Ok(out)
}

/// Checks that the header fields hash to the block's hash.
pub fn check_hash<T>(b: &Block<T>) -> Result<(), String> {
    let got = keccak(&header_rlp(b)?);
    if got != b.hash.0 {
        return Err(format!(
            "block {} header fields hash to 0x{}, not to the hash given, {}",
            b.number.0,
            hex::encode(got),
            b.hash
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlp_follows_the_yellow_paper_examples() {
        let enc = |v: u128| {
            let mut o = Vec::new();
            rlp_uint(&mut o, v);
            o
        };
        assert_eq!(enc(0), vec![0x80]);
        assert_eq!(enc(15), vec![0x0f]);
        assert_eq!(enc(1024), vec![0x82, 0x04, 0x00]);
        let mut o = Vec::new();
        rlp_bytes(&mut o, b"dog");
        assert_eq!(o, vec![0x83, b'd', b'o', b'g']);
        let long = [b'a'; 56];
        let mut o = Vec::new();
        rlp_bytes(&mut o, &long);
        assert_eq!(&o[..2], &[0xb8, 56]);
        let mut o = Vec::new();
        rlp_len(&mut o, 0, 0xc0);
        assert_eq!(o, vec![0xc0]);
    }
}
