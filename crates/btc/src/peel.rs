//! Peel chains: a large coin spent again and again by one-input, two-output
//! transactions, each paying a small "peel" to someone and the rest to a change address
//! that the next step spends. Launderers and exchanges' hot wallets both make them; the
//! peels are where the money went, and the chain's end is where the rest stopped.
//!
//! Rules (docs/bitcoin.md):
//! - A *peel step* is a non-coinbase transaction with one input and two outputs.
//! - A step continues through the output that another peel step spends, when exactly one
//!   of its outputs is so spent; that output is the change, the other the peel.
//! - A step where neither output is spent by a peel step ends the chain: the larger output
//!   is taken as the change (ties: the second), and the end says whether it is unspent or
//!   spent by a transaction of another shape. Both outputs spent by peel steps is a fork
//!   the follower does not guess through: the chain ends there, marked ambiguous.
//! - Detection reports maximal chains: those that start at a step which no other step
//!   continues into.

use ashiato_model::{Address, Amount, UtxoTx};
use rustc_hash::FxHashMap;

pub fn is_peel_step(tx: &UtxoTx) -> bool {
    !tx.coinbase && tx.inputs.len() == 1 && tx.outputs.len() == 2
}

/// One step of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peel {
    pub txid: String,
    pub block: u64,
    /// The value entering the step.
    pub input: Amount,
    pub peel_vout: u32,
    pub peel_to: Option<Address>,
    pub peel: Amount,
    pub change_to: Option<Address>,
    pub change: Amount,
    pub fee: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The last change is unspent in the data.
    Unspent,
    /// The last change is spent by a transaction that is not a peel step (a consolidation,
    /// a payment with several outputs): the chain's money moved on some other way.
    SpentBy(String),
    /// Both outputs of the last step are spent by peel steps.
    Ambiguous,
    /// The hop limit was reached.
    Limit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeelChain {
    pub steps: Vec<Peel>,
    pub end: End,
}

impl PeelChain {
    /// Value paid out as peels along the chain.
    pub fn peeled(&self) -> Amount {
        self.steps.iter().map(|s| s.peel).sum()
    }
}

/// Who spends what, over a set of transactions.
pub struct PeelIndex<'a> {
    txs: &'a [UtxoTx],
    by_txid: FxHashMap<&'a str, usize>,
    spender: FxHashMap<(&'a str, u32), usize>,
}

impl<'a> PeelIndex<'a> {
    pub fn new(txs: &'a [UtxoTx]) -> PeelIndex<'a> {
        let mut by_txid = FxHashMap::default();
        let mut spender = FxHashMap::default();
        for (i, tx) in txs.iter().enumerate() {
            by_txid.insert(tx.txid.as_str(), i);
            if !tx.coinbase {
                for inp in &tx.inputs {
                    spender.insert((inp.prev.txid.as_str(), inp.prev.vout), i);
                }
            }
        }
        PeelIndex {
            txs,
            by_txid,
            spender,
        }
    }

    fn spent_by(&self, txid: &str, vout: u32) -> Option<&'a UtxoTx> {
        self.spender.get(&(txid, vout)).map(|&i| &self.txs[i])
    }

    /// The output a step continues through, if exactly one is spent by a peel step;
    /// `Err(true)` if both are, `Err(false)` if neither.
    fn continuation(&self, tx: &UtxoTx) -> Result<u32, bool> {
        let cont: Vec<u32> = (0..2u32)
            .filter(|&v| self.spent_by(&tx.txid, v).is_some_and(is_peel_step))
            .collect();
        match cont.as_slice() {
            [v] => Ok(*v),
            [] => Err(false),
            _ => Err(true),
        }
    }

    fn step(&self, tx: &UtxoTx, change_vout: u32) -> Peel {
        let c = change_vout as usize;
        let p = 1 - c;
        Peel {
            txid: tx.txid.clone(),
            block: tx.block,
            input: tx.inputs[0].value,
            peel_vout: p as u32,
            peel_to: tx.outputs[p].address.clone(),
            peel: tx.outputs[p].value,
            change_to: tx.outputs[c].address.clone(),
            change: tx.outputs[c].value,
            fee: tx.fee().unwrap_or(0),
        }
    }

    /// Follows the chain starting at the peel step `txid` (`None` if there is no such
    /// transaction or it is not a peel step), for at most `max_steps` steps.
    pub fn follow(&self, txid: &str, max_steps: usize) -> Option<PeelChain> {
        let mut tx = &self.txs[*self.by_txid.get(txid)?];
        if !is_peel_step(tx) {
            return None;
        }
        let mut steps = Vec::new();
        loop {
            if steps.len() == max_steps {
                return Some(PeelChain {
                    steps,
                    end: End::Limit,
                });
            }
            match self.continuation(tx) {
                Ok(v) => {
                    steps.push(self.step(tx, v));
                    tx = self.spent_by(&tx.txid, v).expect("continuation is spent");
                }
                Err(ambiguous) => {
                    let change = if tx.outputs[0].value > tx.outputs[1].value {
                        0
                    } else {
                        1
                    };
                    steps.push(self.step(tx, change));
                    let end = if ambiguous {
                        End::Ambiguous
                    } else {
                        match self.spent_by(&tx.txid, change) {
                            Some(next) => End::SpentBy(next.txid.clone()),
                            None => End::Unspent,
                        }
                    };
                    return Some(PeelChain { steps, end });
                }
            }
        }
    }

    /// Every maximal chain of at least `min_steps` steps, longest first (ties by the first
    /// step's txid).
    pub fn detect(&self, min_steps: usize) -> Vec<PeelChain> {
        let mut continued = vec![false; self.txs.len()];
        for tx in self.txs.iter().filter(|t| is_peel_step(t)) {
            if let Ok(v) = self.continuation(tx) {
                if let Some(&i) = self.spender.get(&(tx.txid.as_str(), v)) {
                    continued[i] = true;
                }
            }
        }
        let mut chains: Vec<PeelChain> = self
            .txs
            .iter()
            .enumerate()
            .filter(|(i, t)| is_peel_step(t) && !continued[*i])
            .filter_map(|(_, t)| self.follow(&t.txid, usize::MAX))
            .filter(|c| c.steps.len() >= min_steps.max(1))
            .collect();
        chains.sort_by(|a, b| {
            b.steps
                .len()
                .cmp(&a.steps.len())
                .then_with(|| a.steps[0].txid.cmp(&b.steps[0].txid))
        });
        chains
    }
}
