//! The flow graph a trace walks: every movement of one ledger, in chain order.
//!
//! Chain order is block height, then position in the block, then position in the
//! transaction; sources that lack positions give a sequence number in the order they were
//! read, which breaks ties. Columns are struct-of-arrays so that a full-graph pass touches
//! only what it needs.
//!
//! Account family: one event per transfer, with one input leg (the sender's balance of the
//! asset) and one output leg (the recipient's). The balance of an (address, asset) pair is a
//! *holder*. UTXO family: one event per transaction; each output is a holder (a coin) that
//! is created once and spent whole once.

use ashiato_model::{Address, Amount, Asset, Chain, Family, UtxoTx};
use rustc_hash::FxHashMap;

/// Marks an unknown time, coin or address in the `u32`/`i64` columns.
pub const NONE: u32 = u32::MAX;
pub const NO_TIME: i64 = i64::MIN;

#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("the graph holds {0} chain; this operation needs the {1:?} family")]
    WrongFamily(Chain, Family),
    #[error("more than {0} distinct {1}: the graph's 32-bit ids would overflow")]
    TooMany(u64, &'static str),
    #[error("transaction {txid} spends output {vout} of {prev}, which has only {outputs} outputs")]
    NoSuchOutput {
        txid: String,
        prev: String,
        vout: u32,
        outputs: u32,
    },
    #[error("transaction {txid}: input {index} claims value {claimed} but the coin it spends holds {actual}")]
    InputValueMismatch {
        txid: String,
        index: usize,
        claimed: Amount,
        actual: Amount,
    },
}

/// Transaction ids stored back to back, so ten million of them cost no allocation each.
#[derive(Debug, Default, Clone)]
pub struct TxNames {
    bytes: String,
    ends: Vec<u64>,
}

impl TxNames {
    pub fn push(&mut self, name: &str) -> u32 {
        self.bytes.push_str(name);
        self.ends.push(self.bytes.len() as u64);
        (self.ends.len() - 1) as u32
    }

    pub fn get(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Every id whose name is `name` (a tx with several transfers may be stored more than once).
    pub fn find(&self, name: &str) -> Vec<u32> {
        (0..self.len() as u32)
            .filter(|&i| self.get(i) == name)
            .collect()
    }
}

/// One event's place in chain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct OrderKey {
    block: u64,
    time: i64,
    seq: u64,
}

/// Account-family columns, one entry per transfer.
#[derive(Debug, Default, Clone)]
pub struct AccountEvents {
    pub from: Vec<u32>,
    pub to: Vec<u32>,
    pub amount: Vec<Amount>,
}

/// UTXO-family columns. Event `e` has inputs `in_start[e]..in_start[e+1]` and outputs
/// `out_start[e]..out_start[e+1]`; output ids are coin (holder) ids.
#[derive(Debug, Default, Clone)]
pub struct UtxoEvents {
    pub in_start: Vec<u32>,
    pub out_start: Vec<u32>,
    pub coinbase: Vec<bool>,
    /// The coin each input spends, or `NONE` when it was created outside the data.
    pub in_coin: Vec<u32>,
    pub in_value: Vec<Amount>,
    /// Owner of the spent coin (`NONE` if unknown).
    pub in_addr: Vec<u32>,
    pub out_addr: Vec<u32>,
    pub out_value: Vec<Amount>,
}

#[derive(Debug, Clone)]
pub enum Legs {
    Account(AccountEvents),
    Utxo(UtxoEvents),
}

/// A chain-ordered flow graph of one ledger.
#[derive(Debug, Clone)]
pub struct Graph {
    pub chain: Chain,
    pub addresses: Vec<Address>,
    pub assets: Vec<Asset>,
    pub tx_names: TxNames,
    /// Per event, in chain order.
    pub time: Vec<i64>,
    pub block: Vec<u64>,
    pub tx: Vec<u32>,
    pub legs: Legs,
    /// Account family: holder id → (address id, asset id).
    pub holders: Vec<(u32, u16)>,
    address_index: FxHashMap<Address, u32>,
}

impl Graph {
    pub fn family(&self) -> Family {
        match self.legs {
            Legs::Account(_) => Family::Account,
            Legs::Utxo(_) => Family::Utxo,
        }
    }

    pub fn events(&self) -> usize {
        self.time.len()
    }

    /// Number of edges a full pass walks: transfers, or inputs plus outputs.
    pub fn edges(&self) -> usize {
        match &self.legs {
            Legs::Account(a) => a.from.len(),
            Legs::Utxo(u) => u.in_coin.len() + u.out_addr.len(),
        }
    }

    pub fn address_id(&self, a: &Address) -> Option<u32> {
        self.address_index.get(a).copied()
    }

    pub fn holder_count(&self) -> usize {
        match &self.legs {
            Legs::Account(_) => self.holders.len(),
            Legs::Utxo(u) => u.out_addr.len(),
        }
    }

    /// The address and asset of a holder (for UTXO: the coin's owner, asset 0).
    pub fn holder_owner(&self, h: u32) -> (u32, u16) {
        match &self.legs {
            Legs::Account(_) => self.holders[h as usize],
            Legs::Utxo(u) => (u.out_addr[h as usize], 0),
        }
    }
}

/// Collects movements in any order and sorts them into a [`Graph`].
pub struct GraphBuilder {
    chain: Chain,
    addresses: Vec<Address>,
    address_index: FxHashMap<Address, u32>,
    assets: Vec<Asset>,
    asset_index: FxHashMap<Asset, u16>,
    tx_names: TxNames,
    last_tx: Option<u32>,
    keys: Vec<OrderKey>,
    tx: Vec<u32>,
    acc: AccountEvents,
    acc_assets: Vec<u16>,
    utxo: Vec<PendingTx>,
}

struct PendingTx {
    tx: UtxoTx,
    name: u32,
}

impl GraphBuilder {
    pub fn new(chain: Chain) -> Self {
        GraphBuilder {
            chain,
            addresses: Vec::new(),
            address_index: FxHashMap::default(),
            assets: Vec::new(),
            asset_index: FxHashMap::default(),
            tx_names: TxNames::default(),
            last_tx: None,
            keys: Vec::new(),
            tx: Vec::new(),
            acc: AccountEvents::default(),
            acc_assets: Vec::new(),
            utxo: Vec::new(),
        }
    }

    pub fn chain(&self) -> Chain {
        self.chain
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Interns an (already validated) address; ids are dense and stable in insertion order.
    pub fn intern_address(&mut self, a: &Address) -> u32 {
        if let Some(&id) = self.address_index.get(a) {
            return id;
        }
        let id = self.addresses.len() as u32;
        self.addresses.push(a.clone());
        self.address_index.insert(a.clone(), id);
        id
    }

    pub fn intern_asset(&mut self, a: &Asset) -> u16 {
        if let Some(&id) = self.asset_index.get(a) {
            return id;
        }
        let id = self.assets.len() as u16;
        self.assets.push(a.clone());
        self.asset_index.insert(a.clone(), id);
        id
    }

    /// Interns a transaction id; consecutive transfers of the same tx share one entry.
    pub fn intern_tx(&mut self, name: &str) -> u32 {
        if let Some(last) = self.last_tx {
            if self.tx_names.get(last) == name {
                return last;
            }
        }
        let id = self.tx_names.push(name);
        self.last_tx = Some(id);
        id
    }

    /// Adds one account-family transfer by interned ids. `seq` breaks ties inside a block
    /// (the position in the block, or the order the source listed it).
    #[allow(clippy::too_many_arguments)]
    pub fn push_transfer(
        &mut self,
        time: i64,
        block: u64,
        seq: u64,
        tx: u32,
        from: u32,
        to: u32,
        asset: u16,
        amount: Amount,
    ) {
        self.keys.push(OrderKey { block, time, seq });
        self.tx.push(tx);
        self.acc.from.push(from);
        self.acc.to.push(to);
        self.acc.amount.push(amount);
        self.acc_assets.push(asset);
    }

    /// Adds one account-family transfer.
    pub fn add_transfer(&mut self, t: &ashiato_model::Transfer) {
        let seq = self.keys.len() as u64;
        let tx = self.intern_tx(&t.tx);
        let from = self.intern_address(&t.from);
        let to = self.intern_address(&t.to);
        let asset = self.intern_asset(&t.asset);
        self.push_transfer(t.time.0, t.block, seq, tx, from, to, asset, t.amount);
    }

    /// Adds one UTXO transaction; `seq` is its position in chain order (global or in block).
    pub fn add_utxo_tx(&mut self, tx: UtxoTx, seq: u64) {
        let name = self.tx_names.push(&tx.txid);
        self.keys.push(OrderKey {
            block: tx.block,
            time: tx.time.map_or(NO_TIME, |t| t.0),
            seq,
        });
        self.tx.push(name);
        self.utxo.push(PendingTx { tx, name });
    }
}

impl GraphBuilder {
    /// Sorts into chain order and resolves holders (account) or spent coins (UTXO).
    pub fn finish(self) -> Result<Graph, GraphError> {
        if self.utxo.is_empty() {
            self.finish_account()
        } else {
            self.finish_utxo()
        }
    }

    fn order(keys: &[OrderKey]) -> Option<Vec<u32>> {
        if keys.windows(2).all(|w| w[0] <= w[1]) {
            return None;
        }
        let mut perm: Vec<u32> = (0..keys.len() as u32).collect();
        perm.sort_by_key(|&i| keys[i as usize]);
        Some(perm)
    }

    fn finish_account(self) -> Result<Graph, GraphError> {
        let GraphBuilder {
            chain,
            addresses,
            address_index,
            assets,
            tx_names,
            keys,
            mut tx,
            mut acc,
            mut acc_assets,
            ..
        } = self;
        if let Some(perm) = Self::order(&keys) {
            tx = permute(&tx, &perm);
            acc.from = permute(&acc.from, &perm);
            acc.to = permute(&acc.to, &perm);
            acc.amount = permute(&acc.amount, &perm);
            acc_assets = permute(&acc_assets, &perm);
        }
        let mut time = Vec::with_capacity(keys.len());
        let mut block = Vec::with_capacity(keys.len());
        let mut sorted = keys;
        sorted.sort_unstable();
        for k in &sorted {
            time.push(k.time);
            block.push(k.block);
        }
        // Holders: one per (address, asset). With a single asset the holder id is the address id.
        let mut holders: Vec<(u32, u16)> = Vec::new();
        if assets.len() <= 1 {
            holders = (0..addresses.len() as u32).map(|a| (a, 0)).collect();
        } else {
            let mut index: FxHashMap<(u32, u16), u32> = FxHashMap::default();
            for col in [&mut acc.from, &mut acc.to] {
                for (i, a) in col.iter_mut().enumerate() {
                    let key = (*a, acc_assets[i]);
                    *a = *index.entry(key).or_insert_with(|| {
                        holders.push(key);
                        (holders.len() - 1) as u32
                    });
                }
            }
        }
        if holders.len() >= NONE as usize {
            return Err(GraphError::TooMany(NONE as u64, "holders"));
        }
        Ok(Graph {
            chain,
            addresses,
            assets,
            tx_names,
            time,
            block,
            tx,
            legs: Legs::Account(acc),
            holders,
            address_index,
        })
    }

    fn finish_utxo(mut self) -> Result<Graph, GraphError> {
        let mut pending = std::mem::take(&mut self.utxo);
        let keys = std::mem::take(&mut self.keys);
        if let Some(perm) = Self::order(&keys) {
            let mut slots: Vec<Option<PendingTx>> = pending.into_iter().map(Some).collect();
            pending = perm
                .iter()
                .map(|&i| {
                    slots[i as usize]
                        .take()
                        .expect("permutation visits each slot once")
                })
                .collect();
        }
        let mut sorted = keys;
        sorted.sort_unstable();
        // First output id of every transaction, so inputs can name the coin they spend.
        let mut first_out: FxHashMap<&str, (u32, u32)> = FxHashMap::default();
        let mut next = 0u64;
        for p in &pending {
            first_out.insert(p.tx.txid.as_str(), (next as u32, p.tx.outputs.len() as u32));
            next += p.tx.outputs.len() as u64;
        }
        if next >= NONE as u64 {
            return Err(GraphError::TooMany(NONE as u64, "outputs"));
        }
        let mut u = UtxoEvents::default();
        let mut out_value_by_id: Vec<Amount> = Vec::with_capacity(next as usize);
        for p in &pending {
            for o in &p.tx.outputs {
                out_value_by_id.push(o.value);
            }
        }
        let mut addresses = std::mem::take(&mut self.addresses);
        let mut address_index = std::mem::take(&mut self.address_index);
        let mut intern = |a: &Option<Address>| -> u32 {
            match a {
                None => NONE,
                Some(a) => *address_index.entry(a.clone()).or_insert_with(|| {
                    addresses.push(a.clone());
                    (addresses.len() - 1) as u32
                }),
            }
        };
        let mut tx = Vec::with_capacity(pending.len());
        for p in &pending {
            tx.push(p.name);
            u.in_start.push(u.in_coin.len() as u32);
            u.out_start.push(u.out_addr.len() as u32);
            u.coinbase.push(p.tx.coinbase);
            for (index, i) in p.tx.inputs.iter().enumerate() {
                let coin = match first_out.get(i.prev.txid.as_str()) {
                    Some(&(first, n)) => {
                        if i.prev.vout >= n {
                            return Err(GraphError::NoSuchOutput {
                                txid: p.tx.txid.clone(),
                                prev: i.prev.txid.clone(),
                                vout: i.prev.vout,
                                outputs: n,
                            });
                        }
                        first + i.prev.vout
                    }
                    None => NONE,
                };
                let value = if coin == NONE {
                    i.value
                } else {
                    let actual = out_value_by_id[coin as usize];
                    if i.value != 0 && i.value != actual {
                        return Err(GraphError::InputValueMismatch {
                            txid: p.tx.txid.clone(),
                            index,
                            claimed: i.value,
                            actual,
                        });
                    }
                    actual
                };
                u.in_coin.push(coin);
                u.in_value.push(value);
                u.in_addr.push(intern(&i.address));
            }
            for o in &p.tx.outputs {
                u.out_addr.push(intern(&o.address));
                u.out_value.push(o.value);
            }
        }
        u.in_start.push(u.in_coin.len() as u32);
        u.out_start.push(u.out_addr.len() as u32);
        // An input whose owner the source did not give inherits the spent coin's owner.
        for k in 0..u.in_coin.len() {
            if u.in_addr[k] == NONE && u.in_coin[k] != NONE {
                u.in_addr[k] = u.out_addr[u.in_coin[k] as usize];
            }
        }
        Ok(Graph {
            chain: self.chain,
            addresses,
            assets: if self.assets.is_empty() {
                vec![Asset::parse(self.chain.native_asset())
                    .expect("native tickers are valid assets")]
            } else {
                self.assets
            },
            tx_names: self.tx_names,
            time: sorted.iter().map(|k| k.time).collect(),
            block: sorted.iter().map(|k| k.block).collect(),
            tx,
            legs: Legs::Utxo(u),
            holders: Vec::new(),
            address_index,
        })
    }
}

fn permute<T: Copy>(v: &[T], perm: &[u32]) -> Vec<T> {
    perm.iter().map(|&i| v[i as usize]).collect()
}
