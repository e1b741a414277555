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
use std::sync::OnceLock;

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
    address_index: AddressIndex,
    /// Built on request ([`Graph::build_holder_index`]) by callers that trace one graph
    /// many times; a walk uses it to visit only the events its taint can reach.
    holder_index: OnceLock<HolderIndex>,
}

/// Address → id without a second copy of every address: the table holds ids, and
/// hashes and compares the addresses they name (a large chain has tens of millions).
#[derive(Debug, Clone, Default)]
struct AddressIndex {
    table: hashbrown::HashTable<u32>,
}

impl AddressIndex {
    fn hash(a: &Address) -> u64 {
        use std::hash::BuildHasher;
        rustc_hash::FxBuildHasher.hash_one(a)
    }

    fn get(&self, addresses: &[Address], a: &Address) -> Option<u32> {
        self.table
            .find(Self::hash(a), |&id| addresses[id as usize] == *a)
            .copied()
    }

    fn intern(&mut self, addresses: &mut Vec<Address>, a: &Address) -> u32 {
        let entry = self.table.entry(
            Self::hash(a),
            |&id| addresses[id as usize] == *a,
            |&id| Self::hash(&addresses[id as usize]),
        );
        match entry {
            hashbrown::hash_table::Entry::Occupied(e) => *e.get(),
            hashbrown::hash_table::Entry::Vacant(v) => {
                let id = addresses.len() as u32;
                v.insert(id);
                addresses.push(a.clone());
                id
            }
        }
    }
}

/// Every event that draws from or fills each holder, in chain order, and the holders of
/// each address (account family). With it a trace from a few seeds visits the events of
/// the holders taint reaches instead of the whole chain.
#[derive(Debug, Clone, Default)]
pub struct HolderIndex {
    start: Vec<u64>,
    events: Vec<u32>,
    addr_start: Vec<u32>,
    addr_holders: Vec<u32>,
    /// The clean balance of each holder before every `every`-th entry of its list, so
    /// that taint reaching a hub late in the chain costs fewer than `every` replayed
    /// movements, not its whole history. Balances follow the walker's rule for unknown
    /// history: a send beyond the balance empties it.
    every: usize,
    cp_start: Vec<u64>,
    checkpoints: Vec<Amount>,
}

impl HolderIndex {
    fn build(
        a: &AccountEvents,
        holders: &[(u32, u16)],
        addresses: usize,
        every: usize,
    ) -> HolderIndex {
        let n = holders.len();
        let mut start = vec![0u64; n + 1];
        for (&f, &t) in a.from.iter().zip(&a.to) {
            start[f as usize + 1] += 1;
            if t != f {
                start[t as usize + 1] += 1;
            }
        }
        for h in 0..n {
            start[h + 1] += start[h];
        }
        let mut fill: Vec<u64> = start[..n].to_vec();
        let mut events = vec![0u32; start[n] as usize];
        let mut put = |h: u32, e: u32| {
            let at = &mut fill[h as usize];
            events[*at as usize] = e;
            *at += 1;
        };
        for (e, (&f, &t)) in a.from.iter().zip(&a.to).enumerate() {
            put(f, e as u32);
            if t != f {
                put(t, e as u32);
            }
        }
        let mut addr_start = vec![0u32; addresses + 1];
        for &(addr, _) in holders {
            addr_start[addr as usize + 1] += 1;
        }
        for i in 0..addresses {
            addr_start[i + 1] += addr_start[i];
        }
        let mut next: Vec<u32> = addr_start[..addresses].to_vec();
        let mut addr_holders = vec![0u32; holders.len()];
        for (h, &(addr, _)) in holders.iter().enumerate() {
            addr_holders[next[addr as usize] as usize] = h as u32;
            next[addr as usize] += 1;
        }
        let every = every.max(1);
        let mut cp_start = Vec::with_capacity(n + 1);
        let mut checkpoints = Vec::new();
        cp_start.push(0u64);
        for h in 0..n {
            let mut balance: Amount = 0;
            let list = &events[start[h] as usize..start[h + 1] as usize];
            for (k, &e) in list.iter().enumerate() {
                if k % every == 0 {
                    checkpoints.push(balance);
                }
                balance = clean_step(a, h as u32, e, balance);
            }
            cp_start.push(checkpoints.len() as u64);
        }
        HolderIndex {
            start,
            events,
            addr_start,
            addr_holders,
            every,
            cp_start,
            checkpoints,
        }
    }

    /// Where the replay of holder `h`'s clean history up to its entry `pos` starts: the
    /// entry and the balance before it.
    pub fn checkpoint(&self, h: u32, pos: usize) -> (usize, Amount) {
        let j = pos / self.every;
        let at = self.cp_start[h as usize] as usize + j;
        (
            j * self.every,
            self.checkpoints.get(at).copied().unwrap_or(0),
        )
    }

    /// The events that touch holder `h`, in chain order (a transfer to oneself once).
    pub fn events_of(&self, h: u32) -> &[u32] {
        let h = h as usize;
        &self.events[self.start[h] as usize..self.start[h + 1] as usize]
    }

    /// The holders (one per asset) of address `addr`.
    pub fn holders_of(&self, addr: u32) -> &[u32] {
        let a = addr as usize;
        &self.addr_holders[self.addr_start[a] as usize..self.addr_start[a + 1] as usize]
    }

    /// Bytes the index occupies.
    pub fn bytes(&self) -> usize {
        self.start.len() * 8
            + self.events.len() * 4
            + self.addr_start.len() * 4
            + self.addr_holders.len() * 4
            + self.cp_start.len() * 8
            + self.checkpoints.len() * 16
    }
}

/// Holder `h`'s clean balance after event `e` (a send beyond the balance empties it: the
/// rest was unknown history).
pub fn clean_step(a: &AccountEvents, h: u32, e: u32, mut balance: Amount) -> Amount {
    let (e, x) = (e as usize, a.amount[e as usize]);
    if a.from[e] == h {
        balance = balance.saturating_sub(x);
    }
    if a.to[e] == h {
        balance = balance.saturating_add(x);
    }
    balance
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

    /// Builds the [`HolderIndex`] once (account family; UTXO graphs have none): worth it
    /// when the graph will be traced many times from small seed sets.
    pub fn build_holder_index(&self) -> Option<&HolderIndex> {
        self.build_holder_index_every(64)
    }

    /// [`Graph::build_holder_index`] with a balance checkpoint every `every` entries (tests
    /// use small intervals to exercise the checkpoints).
    #[doc(hidden)]
    pub fn build_holder_index_every(&self, every: usize) -> Option<&HolderIndex> {
        match &self.legs {
            Legs::Account(a) => {
                Some(self.holder_index.get_or_init(|| {
                    HolderIndex::build(a, &self.holders, self.addresses.len(), every)
                }))
            }
            Legs::Utxo(_) => None,
        }
    }

    /// The holder index, if [`Graph::build_holder_index`] built it.
    pub fn holder_index(&self) -> Option<&HolderIndex> {
        self.holder_index.get()
    }

    pub fn address_id(&self, a: &Address) -> Option<u32> {
        self.address_index.get(&self.addresses, a)
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
    address_index: AddressIndex,
    assets: Vec<Asset>,
    asset_index: FxHashMap<Asset, u16>,
    tx_names: TxNames,
    last_tx: Option<u32>,
    /// Chain-order keys as columns; `seq` only breaks ties and is dropped at the end. No
    /// sort (and no copy) is needed when movements arrive in order, as stored ones do.
    time: Vec<i64>,
    block: Vec<u64>,
    seq: Vec<u64>,
    in_order: bool,
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
            address_index: AddressIndex::default(),
            assets: Vec::new(),
            asset_index: FxHashMap::default(),
            tx_names: TxNames::default(),
            last_tx: None,
            time: Vec::new(),
            block: Vec::new(),
            seq: Vec::new(),
            in_order: true,
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
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    /// Interns an (already validated) address; ids are dense and stable in insertion order.
    pub fn intern_address(&mut self, a: &Address) -> u32 {
        self.address_index.intern(&mut self.addresses, a)
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
        self.push_key(OrderKey { block, time, seq });
        self.tx.push(tx);
        self.acc.from.push(from);
        self.acc.to.push(to);
        self.acc.amount.push(amount);
        self.acc_assets.push(asset);
    }

    /// Adds one account-family transfer.
    pub fn add_transfer(&mut self, t: &ashiato_model::Transfer) {
        let seq = self.time.len() as u64;
        let tx = self.intern_tx(&t.tx);
        let from = self.intern_address(&t.from);
        let to = self.intern_address(&t.to);
        let asset = self.intern_asset(&t.asset);
        self.push_transfer(t.time.0, t.block, seq, tx, from, to, asset, t.amount);
    }

    /// Adds one UTXO transaction; `seq` is its position in chain order (global or in block).
    pub fn add_utxo_tx(&mut self, tx: UtxoTx, seq: u64) {
        let name = self.tx_names.push(&tx.txid);
        self.push_key(OrderKey {
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

    fn key(&self, i: usize) -> OrderKey {
        OrderKey {
            block: self.block[i],
            time: self.time[i],
            seq: self.seq[i],
        }
    }

    fn push_key(&mut self, k: OrderKey) {
        if let Some(last) = self.time.len().checked_sub(1) {
            self.in_order &= self.key(last) <= k;
        }
        self.time.push(k.time);
        self.block.push(k.block);
        self.seq.push(k.seq);
    }

    /// The permutation into chain order, or None when the movements came in order. Puts
    /// `time` and `block` in order and drops `seq`.
    fn order(&mut self) -> Option<Vec<u32>> {
        let perm = (!self.in_order).then(|| {
            let mut perm: Vec<u32> = (0..self.time.len() as u32).collect();
            perm.sort_by_key(|&i| self.key(i as usize));
            self.time = permute(&self.time, &perm);
            self.block = permute(&self.block, &perm);
            perm
        });
        self.seq = Vec::new();
        perm
    }

    fn finish_account(mut self) -> Result<Graph, GraphError> {
        let perm = self.order();
        let GraphBuilder {
            chain,
            addresses,
            address_index,
            assets,
            tx_names,
            time,
            block,
            mut tx,
            mut acc,
            mut acc_assets,
            ..
        } = self;
        if let Some(perm) = perm {
            tx = permute(&tx, &perm);
            acc.from = permute(&acc.from, &perm);
            acc.to = permute(&acc.to, &perm);
            acc.amount = permute(&acc.amount, &perm);
            acc_assets = permute(&acc_assets, &perm);
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
            holder_index: OnceLock::new(),
        })
    }

    fn finish_utxo(mut self) -> Result<Graph, GraphError> {
        let mut pending = std::mem::take(&mut self.utxo);
        if let Some(perm) = self.order() {
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
                Some(a) => address_index.intern(&mut addresses, a),
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
            time: std::mem::take(&mut self.time),
            block: std::mem::take(&mut self.block),
            tx,
            legs: Legs::Utxo(u),
            holders: Vec::new(),
            address_index,
            holder_index: OnceLock::new(),
        })
    }
}

fn permute<T: Copy>(v: &[T], perm: &[u32]) -> Vec<T> {
    perm.iter().map(|&i| v[i as usize]).collect()
}
