//! A block, its receipts and (when the node offers them) its call traces, checked for
//! consistency and turned into account-model transfers.
//!
//! Per transaction, in this order (the transfer `index` within the transaction):
//! 1. the native value, `from → to` (`to` = the created contract for a creation);
//! 2. internal value transfers from the call trace, in call order: `CALL` and `CREATE`/
//!    `CREATE2` carrying value, and `SELFDESTRUCT` (the balance to the heir); frames that
//!    reverted move nothing, nor do their sub-calls; `DELEGATECALL`, `CALLCODE` and
//!    `STATICCALL` move no value between accounts;
//! 3. ERC-20 `Transfer(address,address,uint256)` logs (three topics, 32 bytes of data) in
//!    log order, as asset `erc20:<contract>`; ERC-721 transfers (four topics) are counted,
//!    not followed; amounts above `u128` (spam tokens) are counted, not followed;
//! 4. the fee, `gasUsed × effectiveGasPrice` paid by the sender: the priority part to the
//!    block's miner (fee recipient), the base-fee part (London) and blob gas (Cancun)
//!    to the zero address, where burnt value stays.
//!
//! A failed transaction (status 0) moves only its fee. Block rewards and validator
//! withdrawals create new ETH and are not transfers: they are counted, not stored (new
//! coins are clean; an account's clean balance from them is what the walker assumes for
//! any balance it has not seen arrive).

use ashiato_model::{Address, Asset, Transfer, UtcTime};

use crate::header::check_hash;
use crate::json::{Block, CallFrame, GethTxTrace, ParityTrace, Receipt, Tx, Word, H160};

/// `keccak("Transfer(address,address,uint256)")`: ERC-20 and ERC-721 share it.
pub const TRANSFER_TOPIC: [u8; 32] = [
    0xdd, 0xf2, 0x52, 0xad, 0x1b, 0xe2, 0xc8, 0x9b, 0x69, 0xc2, 0xb0, 0x68, 0xfc, 0x37, 0x8d, 0xaa,
    0x95, 0x2b, 0xa7, 0xf1, 0x63, 0xc4, 0xa1, 0x16, 0x28, 0xf5, 0x5a, 0x4d, 0xf5, 0x23, 0xb3, 0xef,
];

/// Where burnt fees go: the zero address (no one holds its key).
pub const BURN: &str = "0x0000000000000000000000000000000000000000";

pub fn eth_asset() -> Asset {
    Asset::parse("ETH").expect("ETH is a valid asset name")
}

pub fn erc20_asset(contract: &H160) -> Asset {
    Asset::parse(&format!("erc20:{contract}")).expect("an address makes a valid asset name")
}

/// A value transfer inside a transaction, from its call trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Internal {
    pub from: H160,
    pub to: H160,
    pub value: u128,
}

/// Call traces as a node gives them.
#[derive(Debug, Clone)]
pub enum Traces {
    /// geth `debug_traceBlockByNumber` with `callTracer`: one call tree per transaction.
    Geth(Vec<GethTxTrace>),
    /// `trace_block`: flat frames of every transaction.
    Parity(Vec<ParityTrace>),
}

impl Traces {
    /// Per transaction: the internal value transfers, and whether the top-level call
    /// failed. Errors name what disagrees with the transactions.
    #[allow(clippy::type_complexity)]
    pub fn internals(
        &self,
        block: u128,
        txs: &[Tx],
    ) -> Result<(Vec<Vec<Internal>>, Vec<bool>), String> {
        let mut failed = vec![false; txs.len()];
        let i = match self {
            Traces::Geth(t) => geth_internals(block, txs, t, &mut failed)?,
            Traces::Parity(t) => parity_internals(block, txs, t, &mut failed)?,
        };
        Ok((i, failed))
    }
}

/// A checked block: receipts in transaction order, internal transfers per transaction
/// when traces were given.
#[derive(Debug, Clone)]
pub struct EthBlock {
    pub block: Block,
    pub receipts: Vec<Receipt>,
    pub internals: Option<Vec<Vec<Internal>>>,
    /// Did a trace say the top-level call failed (pre-Byzantium receipts have no status).
    pub trace_failed: Vec<bool>,
}

/// What a conversion saw besides the transfers it made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub blocks: u64,
    pub txs: u64,
    pub failed_txs: u64,
    pub native: u64,
    pub internal: u64,
    pub erc20: u64,
    pub fees: u64,
    /// ERC-721 `Transfer` logs (a token id, not an amount).
    pub nft_skipped: u64,
    /// `Transfer` logs with the topic but not the ERC-20 shape, or an amount above u128.
    pub odd_logs_skipped: u64,
    pub withdrawals_skipped: u64,
}

impl EthBlock {
    /// Checks the parts against each other (and the header against its hash when
    /// `check_header`); the error says what disagrees.
    pub fn new(
        block: Block,
        receipts: Vec<Receipt>,
        traces: Option<Traces>,
        check_header: bool,
    ) -> Result<EthBlock, String> {
        if check_header {
            check_hash(&block)?;
        }
        let n = block.transactions.len();
        let bn = block.number.0;
        for (i, t) in block.transactions.iter().enumerate() {
            if t.transaction_index.is_some_and(|x| x.0 != i as u128) {
                return Err(format!(
                    "block {bn}: transaction {} is not at its index {i}",
                    t.hash
                ));
            }
            if t.block_hash.is_some_and(|h| h != block.hash) {
                return Err(format!(
                    "block {bn}: transaction {} names another block",
                    t.hash
                ));
            }
        }
        if receipts.len() != n {
            return Err(format!(
                "block {bn} has {n} transactions but {} receipts",
                receipts.len()
            ));
        }
        for (i, (t, r)) in block.transactions.iter().zip(&receipts).enumerate() {
            if r.transaction_hash != t.hash || r.transaction_index.0 != i as u128 {
                return Err(format!(
                    "block {bn}: receipt {i} is for {} at {}, not for {}",
                    r.transaction_hash, r.transaction_index.0, t.hash
                ));
            }
            if r.block_hash != block.hash {
                return Err(format!(
                    "block {bn}: receipt of {} names another block",
                    t.hash
                ));
            }
            for l in &r.logs {
                if l.removed
                    || l.block_hash.is_some_and(|h| h != block.hash)
                    || l.transaction_hash.is_some_and(|h| h != t.hash)
                {
                    return Err(format!(
                        "block {bn}: a log of {} is removed or names another block or transaction",
                        t.hash
                    ));
                }
            }
        }
        let (internals, trace_failed) = match traces {
            None => (None, vec![false; n]),
            Some(t) => {
                let (i, f) = t.internals(bn, &block.transactions)?;
                (Some(i), f)
            }
        };
        Ok(EthBlock {
            block,
            receipts,
            internals,
            trace_failed,
        })
    }

    pub fn height(&self) -> u64 {
        self.block.number.0 as u64
    }

    /// The block's transfers, in transaction order (see the module notes).
    pub fn transfers(&self, tally: &mut Tally) -> Result<Vec<Transfer>, String> {
        let b = &self.block;
        let bn = self.height();
        let time = UtcTime(i64::try_from(b.timestamp.0).map_err(|_| "timestamp overflows")?);
        let eth = eth_asset();
        let burn = Address::from_canonical(BURN);
        let miner = b.miner.address();
        tally.blocks += 1;
        tally.withdrawals_skipped += b.withdrawals.len() as u64;
        let mut out = Vec::new();
        for (i, (t, r)) in b.transactions.iter().zip(&self.receipts).enumerate() {
            tally.txs += 1;
            let tx = t.hash.to_string();
            let mut index = 0u32;
            let mut push = |from: Address, to: Address, asset: &Asset, amount: u128| {
                out.push(Transfer {
                    time,
                    block: bn,
                    tx: tx.clone(),
                    index,
                    from,
                    to,
                    asset: asset.clone(),
                    amount,
                });
                index += 1;
            };
            let failed = match r.status {
                Some(s) => s.0 == 0,
                None => self.trace_failed[i],
            };
            if failed {
                tally.failed_txs += 1;
            } else {
                let to = t.to.or(r.contract_address);
                if let (Some(to), true) = (to, t.value.0 > 0) {
                    push(t.from.address(), to.address(), &eth, t.value.0);
                    tally.native += 1;
                }
                if let Some(internals) = &self.internals {
                    for m in &internals[i] {
                        push(m.from.address(), m.to.address(), &eth, m.value);
                        tally.internal += 1;
                    }
                }
                for l in &r.logs {
                    if l.topics.first().map(|w| w.0) != Some(TRANSFER_TOPIC) {
                        continue;
                    }
                    match erc20_transfer(&l.topics, &l.data.0) {
                        Erc20::Transfer(from, to, amount) => {
                            if amount > 0 {
                                push(
                                    from.address(),
                                    to.address(),
                                    &erc20_asset(&l.address),
                                    amount,
                                );
                            }
                            tally.erc20 += 1;
                        }
                        Erc20::Nft => tally.nft_skipped += 1,
                        Erc20::Odd => tally.odd_logs_skipped += 1,
                    }
                }
            }
            let price = r
                .effective_gas_price
                .or(t.gas_price)
                .ok_or_else(|| format!("block {bn}: transaction {tx} has no gas price"))?
                .0;
            let gas = r.gas_used.0;
            let fee = gas
                .checked_mul(price)
                .ok_or_else(|| format!("block {bn}: fee of {tx} overflows"))?;
            let burnt = match b.base_fee_per_gas {
                None => 0,
                Some(base) if base.0 <= price => gas * base.0,
                Some(base) => {
                    return Err(format!(
                        "block {bn}: {tx} pays {price} per gas, below the base fee {}",
                        base.0
                    ))
                }
            };
            let blob = match (r.blob_gas_used, r.blob_gas_price) {
                (Some(g), Some(p)) => {
                    g.0.checked_mul(p.0)
                        .ok_or_else(|| format!("block {bn}: blob fee of {tx} overflows"))?
                }
                _ => 0,
            };
            let payer = t.from.address();
            if fee - burnt > 0 {
                push(payer.clone(), miner.clone(), &eth, fee - burnt);
                tally.fees += 1;
            }
            if burnt + blob > 0 {
                push(payer, burn.clone(), &eth, burnt + blob);
                tally.fees += 1;
            }
        }
        Ok(out)
    }
}

enum Erc20 {
    Transfer(H160, H160, u128),
    Nft,
    Odd,
}

fn erc20_transfer(topics: &[Word], data: &[u8]) -> Erc20 {
    if topics.len() == 4 {
        return Erc20::Nft;
    }
    if topics.len() != 3 || data.len() != 32 {
        return Erc20::Odd;
    }
    let mut w = [0u8; 32];
    w.copy_from_slice(data);
    match (
        topics[1].as_address(),
        topics[2].as_address(),
        crate::json::Fixed(w).amount(),
    ) {
        (Some(f), Some(t), Some(v)) => Erc20::Transfer(f, t, v),
        _ => Erc20::Odd,
    }
}

fn geth_internals(
    bn: u128,
    txs: &[Tx],
    traces: &[GethTxTrace],
    failed: &mut [bool],
) -> Result<Vec<Vec<Internal>>, String> {
    if traces.len() != txs.len() {
        return Err(format!(
            "block {bn} has {} transactions but {} traces",
            txs.len(),
            traces.len()
        ));
    }
    let mut out = Vec::with_capacity(traces.len());
    for (i, (t, tr)) in txs.iter().zip(traces).enumerate() {
        if tr.tx_hash.is_some_and(|h| h != t.hash) {
            return Err(format!("block {bn}: trace {i} is not for {}", t.hash));
        }
        let top = tr.result.as_ref().ok_or_else(|| {
            format!(
                "block {bn}: no trace for {}: {}",
                t.hash,
                tr.error.as_deref().unwrap_or("no result")
            )
        })?;
        if top.from != Some(t.from) || top.value.is_some_and(|v| v != t.value) {
            return Err(format!(
                "block {bn}: the trace of {} has another sender or value",
                t.hash
            ));
        }
        failed[i] = top.error.is_some();
        let mut v = Vec::new();
        if top.error.is_none() {
            for c in &top.calls {
                walk_frame(c, &mut v);
            }
        }
        out.push(v);
    }
    Ok(out)
}

fn walk_frame(f: &CallFrame, out: &mut Vec<Internal>) {
    if f.error.is_some() {
        return;
    }
    let moves = matches!(
        f.kind.as_str(),
        "CALL" | "CREATE" | "CREATE2" | "SELFDESTRUCT"
    );
    if let (true, Some(from), Some(to), Some(v)) = (moves, f.from, f.to, f.value) {
        if v.0 > 0 && to != from {
            out.push(Internal {
                from,
                to,
                value: v.0,
            });
        }
    }
    for c in &f.calls {
        walk_frame(c, out);
    }
}

fn parity_internals(
    bn: u128,
    txs: &[Tx],
    traces: &[ParityTrace],
    failed: &mut [bool],
) -> Result<Vec<Vec<Internal>>, String> {
    let n = txs.len();
    let mut out = vec![Vec::new(); n];
    // Per transaction, the trace addresses of frames that reverted.
    let mut reverted: Vec<Vec<&[u32]>> = vec![Vec::new(); n];
    for tr in traces {
        let Some(pos) = tr.transaction_position else {
            continue; // block and uncle rewards
        };
        let i = pos as usize;
        let t = txs
            .get(i)
            .ok_or_else(|| format!("block {bn}: a trace names transaction {pos} of {n}"))?;
        if tr.transaction_hash.is_some_and(|h| h != t.hash) {
            return Err(format!(
                "block {bn}: a trace at {pos} is not for {}",
                t.hash
            ));
        }
        let path = tr.trace_address.as_slice();
        if reverted[i].iter().any(|r| path.starts_with(r)) {
            continue;
        }
        if tr.error.is_some() {
            if path.is_empty() {
                failed[i] = true;
            }
            reverted[i].push(path);
            continue;
        }
        if path.is_empty() {
            continue; // the transaction's own value, taken from the transaction
        }
        let a = &tr.action;
        let m = match tr.kind.as_str() {
            "call" if a.call_type.as_deref() == Some("call") => a.from.zip(a.to).zip(a.value),
            "create" => a
                .from
                .zip(tr.result.as_ref().and_then(|r| r.address))
                .zip(a.value),
            "suicide" => a.address.zip(a.refund_address).zip(a.balance),
            _ => None,
        };
        if let Some(((from, to), v)) = m {
            if v.0 > 0 && from != to {
                out[i].push(Internal {
                    from,
                    to,
                    value: v.0,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transfer_topic_is_the_event_signature_hash() {
        assert_eq!(
            crate::header::keccak(b"Transfer(address,address,uint256)"),
            TRANSFER_TOPIC
        );
    }
}
