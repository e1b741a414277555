//! Raw blocks (legacy, segwit, taproot) decoded with the `bitcoin` crate, checked
//! (proof of work against the header's own target, merkle root, witness commitment), and
//! turned into the model's [`UtxoTx`]: inputs in order with the address and value of the
//! coin each spends, outputs in order with their address.
//!
//! A raw block does not say what its inputs spend. The values come from a [`UtxoSet`] fed
//! with every earlier block (a contiguous chain, as in `blk*.dat`), or from the block's
//! undo data (Core keeps the spent coins of each block in `rev*.dat`).

use ashiato_model::{Address, Chain, OutPoint, TxIn, TxOut, UtcTime, UtxoTx};
use bitcoin::consensus::Decodable;
use bitcoin::hashes::Hash;
use bitcoin::{Block, Network, PubkeyHash, Script};
use rustc_hash::FxHashMap;

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{place}: not a valid block: {why}")]
    Decode { place: String, why: String },
    #[error("{place}: {bytes} bytes after the block's last transaction")]
    Trailing { place: String, bytes: usize },
    #[error("{place}: block {hash}: {why}")]
    Invalid {
        place: String,
        hash: String,
        why: String,
    },
    #[error("block {block}, tx {txid} input {input}: spends {prev}, which is not known (a block is missing before this one, or the undo data does not belong to it)")]
    UnknownPrevout {
        block: String,
        txid: String,
        input: usize,
        prev: String,
    },
    #[error("undo data for block {block}: {why}")]
    Undo { block: String, why: String },
}

/// Decodes and checks a raw block. `place` names where the bytes came from (a file and
/// offset) for errors.
pub fn parse_block(bytes: &[u8], place: &str) -> Result<Block, BlockError> {
    let mut r = bytes;
    let block = Block::consensus_decode(&mut r).map_err(|e| BlockError::Decode {
        place: place.to_owned(),
        why: e.to_string(),
    })?;
    if !r.is_empty() {
        return Err(BlockError::Trailing {
            place: place.to_owned(),
            bytes: r.len(),
        });
    }
    check_block(&block, place)?;
    Ok(block)
}

/// The checks a block passes whatever it came from: proof of work against the header's
/// own target, merkle root, witness commitment.
pub fn check_block(block: &Block, place: &str) -> Result<(), BlockError> {
    let invalid = |why: &str| BlockError::Invalid {
        place: place.to_owned(),
        hash: block.block_hash().to_string(),
        why: why.to_owned(),
    };
    block
        .header
        .validate_pow(block.header.target())
        .map_err(|e| invalid(&format!("proof of work: {e}")))?;
    if !block.check_merkle_root() {
        return Err(invalid("merkle root does not match the transactions"));
    }
    if !block.check_witness_commitment() {
        return Err(invalid("witness commitment does not match"));
    }
    Ok(())
}

/// The address a script pays, as explorers and BlockSci name it: P2PKH, P2SH, P2WPKH,
/// P2WSH, P2TR and other witness versions by `bitcoin::Address`; a bare public key
/// (P2PK, the 2009 coinbases) as the P2PKH address of that key. `None` for scripts that
/// pay no single address (OP_RETURN, bare multisig, non-standard).
pub fn script_address(script: &Script) -> Option<Address> {
    let b = script.as_bytes();
    let p2pk_key = match (b.len(), b.first(), b.last()) {
        (35, Some(0x21), Some(0xac)) | (67, Some(0x41), Some(0xac)) => Some(&b[1..b.len() - 1]),
        _ => None,
    };
    let a = match p2pk_key {
        Some(key) => bitcoin::Address::p2pkh(PubkeyHash::hash(key), Network::Bitcoin),
        None => bitcoin::Address::from_script(script, Network::Bitcoin).ok()?,
    };
    // `bitcoin` writes valid base58check / bech32(m); the model re-validates on parse.
    Address::parse(Chain::Bitcoin, &a.to_string()).ok()
}

/// The coin an input spends: its owner (if it pays an address) and value in satoshi.
pub type Coin = (Option<Address>, u64);

/// Unspent outputs of a contiguous chain, fed block by block.
#[derive(Default)]
pub struct UtxoSet {
    coins: FxHashMap<(bitcoin::Txid, u32), Coin>,
}

impl UtxoSet {
    pub fn len(&self) -> usize {
        self.coins.len()
    }

    pub fn is_empty(&self) -> bool {
        self.coins.is_empty()
    }

    /// Satoshi held by all unspent coins.
    pub fn total(&self) -> u128 {
        self.coins.values().map(|c| u128::from(c.1)).sum()
    }

    /// Converts the next block of the chain, spending and adding coins. On an error the
    /// set is left as it was before the block.
    pub fn apply(&mut self, block: &Block, height: u64) -> Result<Vec<UtxoTx>, BlockError> {
        let mut j = Journal {
            coins: &mut self.coins,
            spent: Vec::new(),
            created: Vec::new(),
        };
        let r = convert(block, height, &mut j);
        if r.is_err() {
            for k in j.created {
                j.coins.remove(&k);
            }
            j.coins.extend(j.spent);
        }
        r
    }
}

/// Where [`convert`] finds the coins inputs spend.
trait Prevouts {
    fn spend(&mut self, op: &bitcoin::OutPoint) -> Option<Coin>;
    /// A transaction's new outputs, announced before later transactions of the same block
    /// may spend them.
    fn create(&mut self, _txid: bitcoin::Txid, _outputs: &[Coin]) {}
}

/// A UTXO set being changed by one block, with what is needed to undo the change.
struct Journal<'a> {
    coins: &'a mut FxHashMap<(bitcoin::Txid, u32), Coin>,
    spent: Vec<((bitcoin::Txid, u32), Coin)>,
    created: Vec<(bitcoin::Txid, u32)>,
}

impl Prevouts for Journal<'_> {
    fn spend(&mut self, op: &bitcoin::OutPoint) -> Option<Coin> {
        let key = (op.txid, op.vout);
        let c = self.coins.remove(&key)?;
        self.spent.push((key, c.clone()));
        Some(c)
    }

    fn create(&mut self, txid: bitcoin::Txid, outputs: &[Coin]) {
        for (vout, coin) in outputs.iter().enumerate() {
            let key = (txid, vout as u32);
            // BIP 30: two early coinbases were repeated; the later overwrites.
            self.coins.insert(key, coin.clone());
            self.created.push(key);
        }
    }
}

/// Undo data: the spent coins in input order.
impl Prevouts for std::slice::Iter<'_, bitcoin::TxOut> {
    fn spend(&mut self, _: &bitcoin::OutPoint) -> Option<Coin> {
        self.next()
            .map(|o| (script_address(&o.script_pubkey), o.value.to_sat()))
    }
}

/// Converts a block whose spent coins are given in input order (undo data), coinbase
/// excluded. Every coin must be used, no more.
pub fn convert_with_undo(
    block: &Block,
    height: u64,
    undo: &[bitcoin::TxOut],
) -> Result<Vec<UtxoTx>, BlockError> {
    let mut next = undo.iter();
    let txs = convert(block, height, &mut next)?;
    let left = next.count();
    if left > 0 {
        return Err(BlockError::Undo {
            block: block.block_hash().to_string(),
            why: format!("{left} spent coins left over after the last input"),
        });
    }
    Ok(txs)
}

/// Reads undo data as a sequence of serialised outputs (value, script), one per
/// non-coinbase input of the block, in order: the layout of the bcoin/Core-style undo
/// fixture.
pub fn parse_undo(bytes: &[u8], block: &str) -> Result<Vec<bitcoin::TxOut>, BlockError> {
    let mut r = bytes;
    let mut out = Vec::new();
    while !r.is_empty() {
        let at = bytes.len() - r.len();
        out.push(
            bitcoin::TxOut::consensus_decode(&mut r).map_err(|e| BlockError::Undo {
                block: block.to_owned(),
                why: format!("coin {} at byte {at}: {e}", out.len()),
            })?,
        );
    }
    Ok(out)
}

/// The one conversion, with input coins from `prevouts`.
fn convert(
    block: &Block,
    height: u64,
    prevouts: &mut impl Prevouts,
) -> Result<Vec<UtxoTx>, BlockError> {
    let time = UtcTime(i64::from(block.header.time));
    let mut out = Vec::with_capacity(block.txdata.len());
    for tx in &block.txdata {
        let txid = tx.compute_txid();
        let coinbase = tx.is_coinbase();
        let mut inputs = Vec::with_capacity(if coinbase { 0 } else { tx.input.len() });
        if !coinbase {
            for (i, inp) in tx.input.iter().enumerate() {
                let (address, value) = prevouts.spend(&inp.previous_output).ok_or_else(|| {
                    BlockError::UnknownPrevout {
                        block: block.block_hash().to_string(),
                        txid: txid.to_string(),
                        input: i,
                        prev: inp.previous_output.to_string(),
                    }
                })?;
                inputs.push(TxIn {
                    prev: OutPoint {
                        txid: inp.previous_output.txid.to_string(),
                        vout: inp.previous_output.vout,
                    },
                    address,
                    value: u128::from(value),
                });
            }
        }
        let outs: Vec<Coin> = tx
            .output
            .iter()
            .map(|o| (script_address(&o.script_pubkey), o.value.to_sat()))
            .collect();
        prevouts.create(txid, &outs);
        out.push(UtxoTx {
            txid: txid.to_string(),
            block: height,
            time: Some(time),
            coinbase,
            inputs,
            outputs: outs
                .into_iter()
                .map(|(address, value)| TxOut {
                    address,
                    value: u128::from(value),
                })
                .collect(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::ScriptBuf;

    fn script(hex: &str) -> ScriptBuf {
        ScriptBuf::from_hex(hex).unwrap()
    }

    #[test]
    fn scripts_to_addresses() {
        // The genesis coinbase pays a bare public key; explorers name it 1A1zP1….
        let genesis = script("4104678afdb0fe5548271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c384df7ba0b8d578a4c702b6bf11d5fac");
        assert_eq!(
            script_address(&genesis).unwrap().as_str(),
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
        );
        // BIP 173 / BIP 350 vectors: P2WPKH (bech32) and P2TR (bech32m).
        let p2wpkh = script("0014751e76e8199196d454941c45d1b3a323f1433bd6");
        assert_eq!(
            script_address(&p2wpkh).unwrap().as_str(),
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
        );
        // BIP 86's first vector: the output key of m/86'/0'/0'/0/0.
        let p2tr = script("5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c");
        assert_eq!(
            script_address(&p2tr).unwrap().as_str(),
            "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
        );
        // P2SH and P2PKH.
        let p2sh = script("a914162c5ea71c0b23f5b9022ef047c4a86470a5b07087");
        assert_eq!(
            script_address(&p2sh).unwrap().as_str(),
            "33iFwdLuRpW1uK1RTRqsoi8rR4NpDzk66k"
        );
        // OP_RETURN pays nobody.
        assert_eq!(script_address(&script("6a0568656c6c6f")), None);
    }
}
