//! The one walker. It follows value through the graph in chain order (or reverse chain
//! order for a backward trace), asks the policy how each movement splits taint, and keeps
//! everything a report needs: where taint is, how it got there, where it left the chain.
//!
//! Chain families differ only in where holdings live, which [`Legs`] hides: an account
//! transfer is an event with one input leg (the sender's balance of the asset) and one
//! output leg (the recipient's balance); a UTXO transaction has an input leg per spent
//! coin and an output leg per created coin. A coin is a holder that is filled once and
//! emptied once, so the same withdraw/deposit rules serve both families.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::{Index, IndexMut};

use ashiato_model::{Address, Amount, Incident, Label};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::graph::{clean_step, Graph, HolderIndex, Legs, NONE, NO_TIME};
use crate::policy::{Parcel, Policy, PolicyName};
use crate::report::{AddressTaint, Exit, Movement, Outcome, Summary, TraceResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Where did it go.
    #[default]
    Forward,
    /// Where did it come from: the same rules on the reversed graph, in reverse order.
    Backward,
}

/// What to trace and within which limits.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TraceSpec {
    /// Addresses whose every send inside the time window is fully tainted.
    pub seeds: Vec<Address>,
    /// Transactions whose outputs (account: transfers) are fully tainted.
    pub seed_txs: Vec<String>,
    /// Time window (unix seconds, inclusive). Seeds emit taint only inside it; the walk
    /// stops at its far end (`until` going forward, `since` going backward).
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// Taint arriving more than this many hops from a seed is not followed.
    pub max_hops: Option<u32>,
    /// A movement carrying less taint than this (and more than none) is reported as dust
    /// and not followed.
    pub dust: Amount,
    /// Labelled addresses where the trace stops: (address, label). Taint reaching them is
    /// an exit.
    pub stop_at: Vec<(Address, String)>,
    pub direction: Direction,
    /// Also give every tainted address the path that first reached it (exits always get
    /// theirs). Off for full-graph runs where it costs more than the walk.
    pub address_paths: bool,
    /// Compute only the summary and the exits, not the per-address list (benchmarks of
    /// the walk itself, and callers that only need totals).
    pub summary_only: bool,
    /// Dust-spray defence (0: off): a movement carrying at most this much taint to an
    /// address that already had history of its own in the asset (it sent or received
    /// untainted value before) and never received followed taint is dust, not a new
    /// holder, as long as what such movements brought it stays at most this much in
    /// total. A thief spraying small amounts onto bystanders (Coincheck, 30 Jan 2018)
    /// then does not turn them into holders.
    #[serde(default)]
    pub spray_max: Amount,
    /// Also list every movement that carried taint, with its outcome and path (what a
    /// watch alerts on).
    #[serde(default)]
    pub movements: bool,
}

impl TraceSpec {
    /// A forward trace of a stored incident: its seeds and seed transactions (those the
    /// graph holds: a theft not yet on the stored chain has nothing to say), its start
    /// time, stopping at every label of an exit kind. Limits are the caller's to set.
    pub fn for_incident(incident: &Incident, labels: &[Label], graph: &Graph) -> TraceSpec {
        TraceSpec {
            seeds: incident
                .seeds
                .iter()
                .filter(|s| graph.address_id(s).is_some())
                .cloned()
                .collect(),
            seed_txs: incident
                .seed_txs
                .iter()
                .filter(|t| !graph.tx_names.find(t).is_empty())
                .cloned()
                .collect(),
            since: incident.since.map(|t| t.unix()),
            stop_at: labels
                .iter()
                .filter(|l| l.kind.is_exit() && l.chain == graph.chain)
                .map(|l| (l.address.clone(), l.name.clone()))
                .collect(),
            ..TraceSpec::default()
        }
    }

    /// True when nothing in the graph can emit taint for this spec.
    pub fn has_no_seeds(&self) -> bool {
        self.seeds.is_empty() && self.seed_txs.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("seed {0} does not appear in the data")]
    UnknownSeed(String),
    #[error("seed transaction {0} does not appear in the data")]
    UnknownSeedTx(String),
    #[error("no seeds: give at least one seed address or seed transaction")]
    NoSeeds,
}

/// One leg of a movement: the holder it draws from or fills, the address and report row
/// it belongs to, and its value.
#[derive(Debug, Clone, Copy)]
struct Leg {
    holder: u32,
    addr: u32,
    /// The report row: the holder itself on account chains, the owner address on UTXO.
    row: u32,
    value: Amount,
}

const SEED: u8 = 1;
const EXIT: u8 = 2;

/// Where taint first reached a holder: the event, the holder it came from (`NONE` when
/// straight from a seed), and the hop count.
#[derive(Debug, Clone, Copy)]
struct First {
    event: u32,
    parent: u32,
    hop: u32,
}

const UNSET: First = First {
    event: NONE,
    parent: NONE,
    hop: u32::MAX,
};

/// A tainted movement as the walk saw it, named at the end.
struct MoveRec {
    event: u32,
    /// Report rows (account: holder; UTXO: address) of the sender and the recipient.
    from: u32,
    to: u32,
    parent: u32,
    value: Amount,
    taint: Amount,
    hop: u32,
    outcome: Outcome,
}

struct ExitAcc {
    amount: Amount,
    count: u32,
    event: u32,
    parent: u32,
}

pub(crate) fn walk<P: Policy>(g: &Graph, spec: &TraceSpec) -> Result<TraceResult, TraceError> {
    let mut addr_flags = vec![0u8; g.addresses.len()];
    for s in &spec.seeds {
        let id = g
            .address_id(s)
            .ok_or_else(|| TraceError::UnknownSeed(s.to_string()))?;
        addr_flags[id as usize] |= SEED;
    }
    let mut exit_label: FxHashMap<u32, usize> = FxHashMap::default();
    for (i, (a, _)) in spec.stop_at.iter().enumerate() {
        if let Some(id) = g.address_id(a) {
            if addr_flags[id as usize] & SEED == 0 {
                addr_flags[id as usize] |= EXIT;
                exit_label.entry(id).or_insert(i);
            }
        }
    }
    // One flag per transaction, only when there are seed transactions: a trace from
    // addresses should not clear a byte per transaction of the chain.
    let mut seed_tx = if spec.seed_txs.is_empty() {
        Vec::new()
    } else {
        vec![false; g.tx_names.len()]
    };
    for t in &spec.seed_txs {
        let ids = g.tx_names.find(t);
        if ids.is_empty() {
            return Err(TraceError::UnknownSeedTx(t.clone()));
        }
        for id in ids {
            seed_tx[id as usize] = true;
        }
    }
    if spec.seeds.is_empty() && spec.seed_txs.is_empty() {
        return Err(TraceError::NoSeeds);
    }

    let addr_flags = match sparse_index(g, spec) {
        Some(index) => match walk_sparse::<P>(g, spec, index, addr_flags, &exit_label) {
            Ok(r) => return Ok(r),
            Err(flags) => flags,
        },
        None => addr_flags,
    };
    walk_dense::<P>(g, spec, addr_flags, &exit_label, &seed_tx)
}

impl<P: Policy, S: Slots<P::Holding>> Walk<P, S> {
    fn new(spec: &TraceSpec, slots: S, holder_flags: Vec<u8>, addr_flags: Vec<u8>) -> Self {
        Walk {
            holder_flags,
            slots,
            dust_rows: FxHashMap::default(),
            exits: FxHashMap::default(),
            summary: Summary::default(),
            ins: Vec::new(),
            outs: Vec::new(),
            parcels: Vec::new(),
            addr_flags,
            max_hops: spec.max_hops.unwrap_or(u32::MAX),
            dust: spec.dust,
            spray_max: spec.spray_max,
            own_history: Vec::new(),
            sprayed: FxHashMap::default(),
            moves: spec.movements.then(Vec::new),
            from_row: NONE,
        }
    }
}

const INITIAL_SLOT_FIELDS: (First, Amount, u32) = (UNSET, 0, NONE);

fn initial_slot<H: Default>() -> Slot<H> {
    let (first, received, first_holder) = INITIAL_SLOT_FIELDS;
    Slot {
        h: H::default(),
        first,
        received,
        first_holder,
    }
}

/// The whole chain in order (or reverse order): every event, every holder.
fn walk_dense<P: Policy>(
    g: &Graph,
    spec: &TraceSpec,
    addr_flags: Vec<u8>,
    exit_label: &FxHashMap<u32, usize>,
    seed_tx: &[bool],
) -> Result<TraceResult, TraceError> {
    let n_holders = g.holder_count();
    let n_rows = match &g.legs {
        Legs::Account(_) => n_holders,
        Legs::Utxo(_) => g.addresses.len(),
    };
    // Account family: flags per holder, so the hot loop reads one byte from a small array
    // instead of chasing holder → address (a miss in a table of many megabytes).
    let holder_flags: Vec<u8> = match &g.legs {
        Legs::Account(_) => g
            .holders
            .iter()
            .map(|&(a, _)| addr_flags[a as usize])
            .collect(),
        Legs::Utxo(_) => Vec::new(),
    };
    let slots = huge_vec(n_holders.max(n_rows), initial_slot());
    let mut w = Walk::<P>::new(spec, slots, holder_flags, addr_flags);
    if spec.spray_max > 0 {
        w.own_history = vec![false; n_holders.max(n_rows)];
    }
    let n = g.events();
    let backward = spec.direction == Direction::Backward;
    let in_window = |t: i64| {
        t == NO_TIME || (spec.since.is_none_or(|s| t >= s) && spec.until.is_none_or(|u| t <= u))
    };
    let beyond_far_end = |t: i64| {
        t != NO_TIME
            && if backward {
                spec.since.is_some_and(|s| t < s)
            } else {
                spec.until.is_some_and(|u| t > u)
            }
    };
    let any_seed_tx = seed_tx.iter().any(|&b| b);
    let mut processed = 0u64;
    for k in 0..n {
        let e = if backward { n - 1 - k } else { k };
        let t = g.time[e];
        if beyond_far_end(t) {
            break;
        }
        processed += 1;
        let active = in_window(t);
        let is_seed_tx = any_seed_tx && active && seed_tx[g.tx[e] as usize];
        if let Legs::Account(a) = &g.legs {
            // The holders are scattered over tens of megabytes; ask for the lines a few
            // transfers ahead so the misses overlap instead of queueing.
            let ahead = if backward {
                e.wrapping_sub(PREFETCH)
            } else {
                e + PREFETCH
            };
            if ahead < n {
                w.prefetch(a.from[ahead], a.to[ahead]);
            }
        }
        if let (Legs::Account(a), false) = (&g.legs, is_seed_tx) {
            let (from, to) = if backward {
                (a.to[e], a.from[e])
            } else {
                (a.from[e], a.to[e])
            };
            w.transfer(e as u32, from, to, a.amount[e], active);
            continue;
        }
        g.legs_of(e, backward, &mut w.ins, &mut w.outs);
        w.step(e as u32, active, is_seed_tx);
    }
    w.summary.events = processed;

    Ok(w.finish(g, spec, exit_label))
}

/// The holder index, when the graph has one and the trace is of the kind a sparse walk
/// reproduces exactly: forward, from seed addresses, no end time, no spray rule.
fn sparse_index<'g>(g: &'g Graph, spec: &TraceSpec) -> Option<&'g HolderIndex> {
    let simple = spec.direction == Direction::Forward
        && spec.seed_txs.is_empty()
        && spec.spray_max == 0
        && spec.until.is_none();
    if simple {
        g.holder_index()
    } else {
        None
    }
}

/// A forward walk that visits only the events of holders that hold taint (and the
/// seeds): a min-heap yields, in chain order, the next event of each such holder. A
/// holder that holds no taint keeps a stale slot; when taint is about to reach it, its
/// holding is rebuilt from its balance at that event (the index's nearest checkpoint
/// plus fewer than 64 steps), which is exactly what the full pass would hold, since an
/// untainted holding is its balance under every policy. A sender that holds no taint
/// sends clean value, which is all a recipient needs to know. The result is the full pass's (property-tested); when the walk grows past a
/// sixteenth of the chain it gives up, handing the flags back, and the full pass runs.
fn walk_sparse<P: Policy>(
    g: &Graph,
    spec: &TraceSpec,
    index: &HolderIndex,
    addr_flags: Vec<u8>,
    exit_label: &FxHashMap<u32, usize>,
) -> Result<TraceResult, Vec<u8>> {
    let Legs::Account(a) = &g.legs else {
        return Err(addr_flags);
    };
    let n = g.events();
    let budget = (n / 16).max(1 << 16);
    let mut holder_flags = vec![0u8; g.holders.len()];
    let mut seed_holders = Vec::new();
    let flagged = spec.seeds.iter().chain(spec.stop_at.iter().map(|(a, _)| a));
    for addr in flagged.filter_map(|a| g.address_id(a)) {
        let f = addr_flags[addr as usize];
        for &h in index.holders_of(addr) {
            holder_flags[h as usize] = f;
            if f & SEED != 0 {
                seed_holders.push(h);
            }
        }
    }
    seed_holders.sort_unstable();
    seed_holders.dedup();
    let slots = SparseSlots {
        map: FxHashMap::default(),
        initial: initial_slot(),
    };
    let mut w = Walk::<P, SparseSlots<P::Holding>>::new(spec, slots, holder_flags, addr_flags);

    // Per tracked holder: the position in its event list of its next event.
    let mut cursor: FxHashMap<u32, u32> = FxHashMap::default();
    let mut tracked = vec![0u64; g.holders.len().div_ceil(64)];
    let is_tracked = |t: &[u64], h: u32| t[h as usize / 64] & (1 << (h % 64)) != 0;
    let set_tracked = |t: &mut [u64], h: u32, on: bool| {
        let bit = 1u64 << (h % 64);
        if on {
            t[h as usize / 64] |= bit;
        } else {
            t[h as usize / 64] &= !bit;
        }
    };
    let mut heap: BinaryHeap<Reverse<(u32, u32)>> = BinaryHeap::new();
    for &h in &seed_holders {
        set_tracked(&mut tracked, h, true);
        if let Some(&e) = index.events_of(h).first() {
            heap.push(Reverse((e, h)));
        }
    }
    let in_window = |t: i64| t == NO_TIME || spec.since.is_none_or(|s| t >= s);
    let mut work = 0usize;
    let mut last = NONE;
    while let Some(Reverse((e, h))) = heap.pop() {
        if e != last {
            last = e;
            work += 1;
            let (from, to, x) = (a.from[e as usize], a.to[e as usize], a.amount[e as usize]);
            if !is_tracked(&tracked, from) {
                P::deposit(&mut w.slots[to as usize].h, P::Parcel::clean(x));
            } else {
                let to_flags = w.holder_flags[to as usize];
                let to_was_tracked = is_tracked(&tracked, to);
                let mut at = 0;
                if !to_was_tracked && to_flags & (SEED | EXIT) == 0 {
                    let events = index.events_of(to);
                    let slot = &mut w.slots[to as usize];
                    // It holds no taint (or it would be tracked), so its holding is its
                    // balance alone, which moves the same under every policy (a send
                    // beyond it empties it): rebuild it from the nearest checkpoint, at
                    // most `every` steps back, whether taint touched it before or not.
                    let pos = events.partition_point(|&f| f < e);
                    let (from_k, mut b) = index.checkpoint(to, pos);
                    for &f in &events[from_k..pos] {
                        b = clean_step(a, to, f, b);
                    }
                    work += pos - from_k;
                    slot.h = P::Holding::default();
                    if b > 0 {
                        P::deposit(&mut slot.h, P::Parcel::clean(b));
                    }
                    at = pos as u32 + 1;
                }
                w.transfer(e, from, to, x, in_window(g.time[e as usize]));
                let newly_tainted = !to_was_tracked
                    && to_flags & (SEED | EXIT) == 0
                    && P::is_tainted(&w.slots[to as usize].h);
                if newly_tainted {
                    set_tracked(&mut tracked, to, true);
                    cursor.insert(to, at);
                    if let Some(&next) = index.events_of(to).get(at as usize) {
                        heap.push(Reverse((next, to)));
                    }
                }
            }
            if work > budget {
                return Err(std::mem::take(&mut w.addr_flags));
            }
        }
        // `h` has seen `e`: it stays on the heap while it can still send taint.
        let c = cursor.entry(h).or_insert(0);
        *c += 1;
        let keep = w.holder_flags[h as usize] & SEED != 0 || P::is_tainted(&w.slots[h as usize].h);
        if keep {
            if let Some(&next) = index.events_of(h).get(*c as usize) {
                heap.push(Reverse((next, h)));
            }
        } else {
            set_tracked(&mut tracked, h, false);
        }
    }
    w.summary.events = n as u64;
    Ok(w.finish(g, spec, exit_label))
}

/// Everything the walk keeps per index, in one place so that a transfer touches one cache
/// line per side. Holder data (`h`, `first`) is indexed by holder, report-row data
/// (`received`, `first_holder`) by row; on account chains the two indices coincide.
#[derive(Clone)]
#[repr(align(64))]
struct Slot<H> {
    h: H,
    /// Where taint first reached this holder (`UNSET` if never).
    first: First,
    /// Taint received by this row, and the holder that first received it.
    received: Amount,
    first_holder: u32,
}

struct Walk<P: Policy, S = Vec<Slot<<P as Policy>::Holding>>> {
    holder_flags: Vec<u8>,
    slots: S,
    dust_rows: FxHashMap<u32, (Amount, u32)>,
    exits: FxHashMap<u32, ExitAcc>,
    summary: Summary,
    ins: Vec<Leg>,
    outs: Vec<Leg>,
    parcels: Vec<P::Parcel>,
    addr_flags: Vec<u8>,
    max_hops: u32,
    dust: Amount,
    spray_max: Amount,
    /// Per report row: sent or received untainted value (only with the spray rule).
    own_history: Vec<bool>,
    /// Taint each row received as spray so far.
    sprayed: FxHashMap<u32, Amount>,
    moves: Option<Vec<MoveRec>>,
    /// The sender row of the movement being delivered (for `moves`).
    from_row: u32,
}

const PREFETCH: usize = 24;

/// A vector filled with `v`, backed by transparent huge pages where the kernel offers them
/// on request: the walk touches its slots at random, and with 4 KiB pages nearly every
/// touch is also a TLB miss.
fn huge_vec<T: Clone>(n: usize, v: T) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(n);
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = out.as_mut_ptr() as usize;
        let end = start + n * std::mem::size_of::<T>();
        let (lo, hi) = ((start + HUGE - 1) & !(HUGE - 1), end & !(HUGE - 1));
        if hi > lo {
            // SAFETY: the range lies inside this vector's allocation, which nothing has
            // touched yet; MADV_HUGEPAGE only changes how the kernel backs it.
            unsafe {
                libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
            }
        }
    }
    out.resize(n, v);
    out
}

/// Where a walk keeps its slots: a dense vector for a pass over the whole chain, a map
/// for a walk that visits only the holders taint reaches (allocating and clearing a slot
/// per holder of a large chain would cost more than such a walk).
trait Slots<H>: Index<usize, Output = Slot<H>> + IndexMut<usize> {
    /// Calls `f` on every slot that may differ from the initial one.
    fn each_touched(&self, f: impl FnMut(usize, &Slot<H>));
}

impl<H> Slots<H> for Vec<Slot<H>> {
    fn each_touched(&self, mut f: impl FnMut(usize, &Slot<H>)) {
        for (i, s) in self.iter().enumerate() {
            f(i, s);
        }
    }
}

struct SparseSlots<H> {
    map: FxHashMap<u32, Slot<H>>,
    initial: Slot<H>,
}

impl<H> Index<usize> for SparseSlots<H> {
    type Output = Slot<H>;
    fn index(&self, i: usize) -> &Slot<H> {
        self.map.get(&(i as u32)).unwrap_or(&self.initial)
    }
}

impl<H: Clone> IndexMut<usize> for SparseSlots<H> {
    fn index_mut(&mut self, i: usize) -> &mut Slot<H> {
        let initial = &self.initial;
        self.map.entry(i as u32).or_insert_with(|| initial.clone())
    }
}

impl<H: Clone> Slots<H> for SparseSlots<H> {
    fn each_touched(&self, mut f: impl FnMut(usize, &Slot<H>)) {
        for (&i, s) in &self.map {
            f(i as usize, s);
        }
    }
}

#[inline(always)]
fn prefetch<T>(v: &[T], i: u32) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = v.get(i as usize) {
        // SAFETY: prefetching is a hint; the pointer comes from a live slice element.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                x as *const T as *const i8,
                std::arch::x86_64::_MM_HINT_T0,
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

impl<P: Policy> Walk<P> {
    #[inline(always)]
    fn prefetch(&self, from: u32, to: u32) {
        prefetch(&self.slots, from);
        prefetch(&self.slots, to);
        // The flags are a megabyte per million holders: more than L2 holds.
        prefetch(&self.holder_flags, from);
    }
}

impl<P: Policy, S: Slots<P::Holding>> Walk<P, S> {
    /// One account transfer: the hot path of account-chain traces, with no leg buffers.
    #[inline]
    fn transfer(&mut self, event: u32, from: u32, to: u32, x: Amount, active: bool) {
        let (p, hop_in, parent) = if self.holder_flags[from as usize] & SEED != 0 {
            if !active {
                P::deposit(&mut self.slots[to as usize].h, P::Parcel::clean(x));
                self.clean_history(from, to);
                return;
            }
            self.summary.entered += x;
            (P::Parcel::tainted(x), 0, NONE)
        } else {
            let p = P::withdraw(&mut self.slots[from as usize].h, x);
            if p.taint() == 0 {
                P::deposit(&mut self.slots[to as usize].h, p);
                self.clean_history(from, to);
                return;
            }
            (p, self.slots[from as usize].first.hop, from)
        };
        self.from_row = from;
        self.summary.tainted_events += 1;
        let leg = Leg {
            holder: to,
            addr: NONE,
            row: to,
            value: x,
        };
        let flags = self.holder_flags[to as usize];
        self.deliver(event, leg, flags, p, hop_in.saturating_add(1), parent);
    }

    /// Records that `from` sent and `to` received untainted value (the spray rule's
    /// "history of its own").
    #[inline(always)]
    fn clean_history(&mut self, from: u32, to: u32) {
        if !self.own_history.is_empty() {
            self.own_history[from as usize] = true;
            self.own_history[to as usize] = true;
        }
    }

    fn step(&mut self, event: u32, active: bool, seed_tx: bool) {
        // Gather what each input carries.
        self.parcels.clear();
        let mut any_taint = false;
        let mut hop_in = u32::MAX;
        let mut parent = NONE;
        let mut in_sum: Amount = 0;
        self.from_row = NONE;
        for leg in &self.ins {
            in_sum += leg.value;
            let p = if leg.addr != NONE && self.addr_flags[leg.addr as usize] & SEED != 0 {
                if active {
                    self.summary.entered += leg.value;
                    hop_in = 0;
                    parent = NONE;
                    self.from_row = leg.row;
                    P::Parcel::tainted(leg.value)
                } else {
                    P::Parcel::clean(leg.value)
                }
            } else if leg.holder == NONE {
                P::Parcel::clean(leg.value)
            } else {
                let p = P::withdraw(&mut self.slots[leg.holder as usize].h, leg.value);
                if p.taint() > 0 {
                    let f = self.slots[leg.holder as usize].first;
                    if f.hop < hop_in {
                        hop_in = f.hop;
                        parent = leg.holder;
                        self.from_row = leg.row;
                    }
                }
                p
            };
            any_taint |= p.taint() > 0;
            self.parcels.push(p);
        }
        let out_sum: Amount = self.outs.iter().map(|l| l.value).sum();
        if seed_tx {
            // The transaction is the theft itself: its inputs' own taint (if any) is
            // absorbed into the seed, and its outputs start fully tainted.
            let absorbed: Amount = self.parcels.iter().map(|p| p.taint()).sum();
            self.summary.returned_to_seeds += absorbed;
            self.summary.entered += out_sum;
            self.parcels.clear();
            self.parcels.push(P::Parcel::tainted(out_sum));
            in_sum = out_sum;
            any_taint = out_sum > 0;
            hop_in = 0;
            parent = NONE;
        }
        if out_sum > in_sum {
            // New value (a coinbase, or inputs the data does not have): clean, and laid
            // before the inputs like any unknown history.
            self.parcels.insert(0, P::Parcel::clean(out_sum - in_sum));
        }
        if !any_taint {
            for leg in &self.outs {
                if leg.holder != NONE {
                    P::deposit(
                        &mut self.slots[leg.holder as usize].h,
                        P::Parcel::clean(leg.value),
                    );
                }
            }
            if !self.own_history.is_empty() {
                let rows = self.ins.iter().chain(&self.outs).map(|l| l.row);
                for r in rows.filter(|&r| r != NONE) {
                    self.own_history[r as usize] = true;
                }
            }
            return;
        }
        self.summary.tainted_events += 1;
        let hop = hop_in.saturating_add(1);
        if self.parcels.len() == 1 && self.outs.len() == 1 && in_sum == out_sum {
            // An account transfer: the parcel arrives as it left.
            let (leg, p) = (self.outs[0], self.parcels.pop().expect("one parcel"));
            let flags = self.addr_flags_of(leg);
            self.deliver(event, leg, flags, p, hop, parent);
            return;
        }
        let values: Vec<Amount> = self.outs.iter().map(|l| l.value).collect();
        let (outs, fee) = P::split(&self.parcels, &values);
        self.summary.lost_to_fees += fee.taint();
        let outs_legs = std::mem::take(&mut self.outs);
        for (leg, p) in outs_legs.iter().zip(outs) {
            let flags = self.addr_flags_of(*leg);
            self.deliver(event, *leg, flags, p, hop, parent);
        }
        self.outs = outs_legs;
    }

    fn addr_flags_of(&self, leg: Leg) -> u8 {
        if leg.addr == NONE {
            0
        } else {
            self.addr_flags[leg.addr as usize]
        }
    }

    /// Hands parcel `p` to the recipient leg, applying seeds, limits and exits in the
    /// order docs/tracing.md gives. `flags` are the recipient's SEED/EXIT bits.
    fn deliver(&mut self, event: u32, leg: Leg, flags: u8, p: P::Parcel, hop: u32, parent: u32) {
        let taint = p.taint();
        if taint == 0 {
            if leg.holder != NONE {
                P::deposit(&mut self.slots[leg.holder as usize].h, p);
                if !self.own_history.is_empty() && leg.row != NONE {
                    self.own_history[leg.row as usize] = true;
                }
            }
            return;
        }
        let outcome = self.deliver_tainted(event, leg, flags, p, hop, parent);
        if let Some(moves) = &mut self.moves {
            moves.push(MoveRec {
                event,
                from: self.from_row,
                to: leg.row,
                parent,
                value: leg.value,
                taint,
                hop,
                outcome,
            });
        }
    }

    fn deliver_tainted(
        &mut self,
        event: u32,
        leg: Leg,
        flags: u8,
        p: P::Parcel,
        hop: u32,
        parent: u32,
    ) -> Outcome {
        let taint = p.taint();
        if flags & SEED != 0 {
            self.summary.returned_to_seeds += taint;
            return Outcome::ReturnedToSeed;
        }
        if leg.holder == NONE {
            // Backward into a coin created outside the data: the trail leaves what we hold.
            self.summary.left_data += taint;
            return Outcome::LeftData;
        }
        if hop > self.max_hops {
            self.summary.cut_by_hops += taint;
            P::deposit(&mut self.slots[leg.holder as usize].h, p.launder());
            return Outcome::BeyondHops;
        }
        if taint < self.dust {
            self.dust_to(leg, taint, p);
            return Outcome::Dust;
        }
        if flags & EXIT == 0 && self.is_spray(leg.row, taint) {
            *self.sprayed.entry(leg.row).or_default() += taint;
            self.dust_to(leg, taint, p);
            return Outcome::Spray;
        }
        if flags & EXIT != 0 {
            self.summary.exited += taint;
            let acc = self.exits.entry(leg.row).or_insert(ExitAcc {
                amount: 0,
                count: 0,
                event,
                parent,
            });
            acc.amount += taint;
            acc.count += 1;
            P::deposit(&mut self.slots[leg.holder as usize].h, p.launder());
            return Outcome::Exit;
        }
        P::deposit(&mut self.slots[leg.holder as usize].h, p);
        let h = leg.holder as usize;
        if self.slots[h].first.event == NONE {
            self.slots[h].first = First { event, parent, hop };
        }
        if leg.row != NONE {
            let r = leg.row as usize;
            self.slots[r].received += taint;
            if self.slots[r].first_holder == NONE {
                self.slots[r].first_holder = leg.holder;
            }
        }
        Outcome::Held
    }

    /// The value arrives clean and the taint is counted as dust.
    fn dust_to(&mut self, leg: Leg, taint: Amount, p: P::Parcel) {
        self.summary.dust += taint;
        if leg.row != NONE {
            let d = self.dust_rows.entry(leg.row).or_default();
            d.0 += taint;
            d.1 += 1;
        }
        P::deposit(&mut self.slots[leg.holder as usize].h, p.launder());
    }

    /// The spray rule of [`TraceSpec::spray_max`].
    fn is_spray(&self, row: u32, taint: Amount) -> bool {
        self.spray_max > 0
            && row != NONE
            && taint <= self.spray_max
            && self.own_history[row as usize]
            && self.slots[row as usize].received == 0
            && self.sprayed.get(&row).copied().unwrap_or(0) + taint <= self.spray_max
    }

    fn path(&self, g: &Graph, mut event: u32, mut parent: u32) -> Vec<String> {
        let mut path = vec![g.tx_names.get(g.tx[event as usize]).to_owned()];
        while parent != NONE {
            let f = self.slots[parent as usize].first;
            if f.event == NONE {
                break;
            }
            event = f.event;
            parent = f.parent;
            path.push(g.tx_names.get(g.tx[event as usize]).to_owned());
        }
        path.reverse();
        path.dedup();
        path
    }

    fn finish(
        mut self,
        g: &Graph,
        spec: &TraceSpec,
        exit_label: &FxHashMap<u32, usize>,
    ) -> TraceResult {
        // Current holdings: on account chains a row's holding is its own slot's; on UTXO
        // chains it is the sum of the owner's unspent tainted coins.
        let account = matches!(g.legs, Legs::Account(_));
        let mut utxo_holding: FxHashMap<u32, Amount> = FxHashMap::default();
        let mut received_rows: Vec<u32> = Vec::new();
        let summary = &mut self.summary;
        self.slots.each_touched(|h, slot| {
            if slot.received > 0 {
                received_rows.push(h as u32);
            }
            if slot.first.event == NONE {
                return;
            }
            let t = P::holding_taint(&slot.h);
            summary.held += t;
            if let Legs::Utxo(u) = &g.legs {
                if t > 0 && u.out_addr[h] != NONE {
                    *utxo_holding.entry(u.out_addr[h]).or_default() += t;
                }
            }
        });
        let holding_of = |row: u32| -> Amount {
            if account {
                P::holding_taint(&self.slots[row as usize].h)
            } else {
                utxo_holding.get(&row).copied().unwrap_or(0)
            }
        };
        let row_asset = |row: u32| -> (u32, u16) {
            match &g.legs {
                Legs::Account(_) => g.holders[row as usize],
                Legs::Utxo(_) => (row, 0),
            }
        };
        let mut rows: Vec<u32> = Vec::new();
        if !spec.summary_only {
            rows.extend(received_rows);
            rows.extend(
                self.dust_rows
                    .keys()
                    .filter(|&&r| self.slots[r as usize].received == 0),
            );
        }
        // Sort the row ids first, so strings are made once per row and never moved.
        let name = |row: u32| {
            let (addr, asset) = row_asset(row);
            (&g.addresses[addr as usize], &g.assets[asset as usize])
        };
        let mut keyed: Vec<(Amount, u32)> = rows
            .iter()
            .map(|&r| (self.slots[r as usize].received, r))
            .collect();
        keyed
            .sort_unstable_by(|&(ta, a), &(tb, b)| tb.cmp(&ta).then_with(|| name(a).cmp(&name(b))));
        let addresses: Vec<AddressTaint> = keyed
            .into_iter()
            .map(|(_, row)| {
                let (addr, asset) = name(row);
                let fh = self.slots[row as usize].first_holder;
                let (hop, path) = if fh == NONE {
                    (None, Vec::new())
                } else {
                    let f = self.slots[fh as usize].first;
                    let path = if spec.address_paths {
                        self.path(g, f.event, f.parent)
                    } else {
                        Vec::new()
                    };
                    (Some(f.hop), path)
                };
                let (dust, dust_count) = self.dust_rows.get(&row).copied().unwrap_or((0, 0));
                AddressTaint {
                    address: addr.as_str().to_owned(),
                    asset: asset.as_str().to_owned(),
                    taint: self.slots[row as usize].received,
                    holding: if P::NAME == PolicyName::Poison {
                        None
                    } else {
                        Some(holding_of(row))
                    },
                    hop,
                    path,
                    dust,
                    dust_transfers: dust_count,
                }
            })
            .collect();
        let mut exits: Vec<Exit> = self
            .exits
            .iter()
            .map(|(&row, e)| {
                let (addr, asset) = row_asset(row);
                let label = exit_label
                    .get(&addr)
                    .map(|&i| spec.stop_at[i].1.clone())
                    .unwrap_or_default();
                Exit {
                    address: g.addresses[addr as usize].to_string(),
                    label,
                    asset: g.assets[asset as usize].to_string(),
                    amount: e.amount,
                    transfers: e.count,
                    path: self.path(g, e.event, e.parent),
                }
            })
            .collect();
        exits.sort_by(|a, b| {
            b.amount
                .cmp(&a.amount)
                .then_with(|| a.address.cmp(&b.address))
                .then_with(|| a.asset.cmp(&b.asset))
        });
        let movements = self
            .moves
            .take()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                // A UTXO output without an address has no row.
                let (to, asset) = if m.to == NONE {
                    (NONE, 0)
                } else {
                    row_asset(m.to)
                };
                let name_of = |a: u32| {
                    if a == NONE {
                        String::new()
                    } else {
                        g.addresses[a as usize].to_string()
                    }
                };
                let e = m.event as usize;
                Movement {
                    block: g.block[e],
                    time: g.time[e],
                    tx: g.tx_names.get(g.tx[e]).to_owned(),
                    from: if m.from == NONE {
                        String::new()
                    } else {
                        name_of(row_asset(m.from).0)
                    },
                    to: name_of(to),
                    asset: g.assets[asset as usize].to_string(),
                    value: m.value,
                    taint: m.taint,
                    hop: m.hop,
                    outcome: m.outcome,
                    label: (m.outcome == Outcome::Exit)
                        .then(|| exit_label.get(&to).map(|&i| spec.stop_at[i].1.clone()))
                        .flatten(),
                    path: self.path(g, m.event, m.parent),
                }
            })
            .collect();
        TraceResult {
            policy: P::NAME,
            direction: spec.direction,
            addresses,
            exits,
            summary: self.summary,
            movements,
        }
    }
}

impl Graph {
    /// Fills the input and output legs of event `e` (swapped when walking backward).
    fn legs_of(&self, e: usize, backward: bool, ins: &mut Vec<Leg>, outs: &mut Vec<Leg>) {
        ins.clear();
        outs.clear();
        let (src, dst) = if backward { (outs, ins) } else { (ins, outs) };
        match &self.legs {
            Legs::Account(a) => {
                let (from, to, value) = (a.from[e], a.to[e], a.amount[e]);
                src.push(Leg {
                    holder: from,
                    addr: self.holders[from as usize].0,
                    row: from,
                    value,
                });
                dst.push(Leg {
                    holder: to,
                    addr: self.holders[to as usize].0,
                    row: to,
                    value,
                });
            }
            Legs::Utxo(u) => {
                let (i0, i1) = (u.in_start[e] as usize, u.in_start[e + 1] as usize);
                for k in i0..i1 {
                    let addr = u.in_addr[k];
                    src.push(Leg {
                        holder: u.in_coin[k],
                        addr,
                        row: addr,
                        value: u.in_value[k],
                    });
                }
                let (o0, o1) = (u.out_start[e] as usize, u.out_start[e + 1] as usize);
                for k in o0..o1 {
                    let addr = u.out_addr[k];
                    dst.push(Leg {
                        holder: k as u32,
                        addr,
                        row: addr,
                        value: u.out_value[k],
                    });
                }
            }
        }
    }
}
