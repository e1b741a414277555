//! The one walker. It follows value through the graph in chain order (or reverse chain
//! order for a backward trace), asks the policy how each movement splits taint, and keeps
//! everything a report needs: where taint is, how it got there, where it left the chain.
//!
//! Chain families differ only in where holdings live, which [`Legs`] hides: an account
//! transfer is an event with one input leg (the sender's balance of the asset) and one
//! output leg (the recipient's balance); a UTXO transaction has an input leg per spent
//! coin and an output leg per created coin. A coin is a holder that is filled once and
//! emptied once, so the same withdraw/deposit rules serve both families.

use ashiato_model::{Address, Amount};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::graph::{Graph, Legs, NONE, NO_TIME};
use crate::policy::{Parcel, Policy, PolicyName};
use crate::report::{AddressTaint, Exit, Summary, TraceResult};

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
    let mut seed_tx = vec![false; g.tx_names.len()];
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

    let n_holders = g.holder_count();
    let n_rows = match &g.legs {
        Legs::Account(_) => n_holders,
        Legs::Utxo(_) => g.addresses.len(),
    };
    let mut w = Walk::<P> {
        holdings: vec![P::Holding::default(); n_holders],
        first: vec![UNSET; n_holders],
        received: vec![0; n_rows],
        first_holder: vec![NONE; n_rows],
        dust_rows: FxHashMap::default(),
        exits: FxHashMap::default(),
        summary: Summary::default(),
        ins: Vec::new(),
        outs: Vec::new(),
        parcels: Vec::new(),
        addr_flags,
        max_hops: spec.max_hops.unwrap_or(u32::MAX),
        dust: spec.dust,
    };

    let n = g.events();
    let backward = spec.direction == Direction::Backward;
    let in_window = |t: i64| {
        t == NO_TIME
            || (spec.since.is_none_or(|s| t >= s) && spec.until.is_none_or(|u| t <= u))
    };
    let beyond_far_end = |t: i64| {
        t != NO_TIME
            && if backward {
                spec.since.is_some_and(|s| t < s)
            } else {
                spec.until.is_some_and(|u| t > u)
            }
    };
    for k in 0..n {
        let e = if backward { n - 1 - k } else { k };
        let t = g.time[e];
        if beyond_far_end(t) {
            break;
        }
        w.summary.events += 1;
        g.legs_of(e, backward, &mut w.ins, &mut w.outs);
        let active = in_window(t);
        w.step(e as u32, active, active && seed_tx[g.tx[e] as usize]);
    }

    Ok(w.finish(g, spec, &exit_label))
}

struct Walk<P: Policy> {
    holdings: Vec<P::Holding>,
    /// Per holder: where taint first reached it (`UNSET` if never).
    first: Vec<First>,
    /// Per report row: taint received, and the holder that first received it.
    received: Vec<Amount>,
    first_holder: Vec<u32>,
    dust_rows: FxHashMap<u32, (Amount, u32)>,
    exits: FxHashMap<u32, ExitAcc>,
    summary: Summary,
    ins: Vec<Leg>,
    outs: Vec<Leg>,
    parcels: Vec<P::Parcel>,
    addr_flags: Vec<u8>,
    max_hops: u32,
    dust: Amount,
}

impl<P: Policy> Walk<P> {
    fn step(&mut self, event: u32, active: bool, seed_tx: bool) {
        // Gather what each input carries.
        self.parcels.clear();
        let mut any_taint = false;
        let mut hop_in = u32::MAX;
        let mut parent = NONE;
        let mut in_sum: Amount = 0;
        for leg in &self.ins {
            in_sum += leg.value;
            let p = if leg.addr != NONE && self.addr_flags[leg.addr as usize] & SEED != 0 {
                if active {
                    self.summary.entered += leg.value;
                    hop_in = 0;
                    parent = NONE;
                    P::Parcel::tainted(leg.value)
                } else {
                    P::Parcel::clean(leg.value)
                }
            } else if leg.holder == NONE {
                P::Parcel::clean(leg.value)
            } else {
                let p = P::withdraw(&mut self.holdings[leg.holder as usize], leg.value);
                if p.taint() > 0 {
                    let f = self.first[leg.holder as usize];
                    if f.hop < hop_in {
                        hop_in = f.hop;
                        parent = leg.holder;
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
                    P::deposit(&mut self.holdings[leg.holder as usize], P::Parcel::clean(leg.value));
                }
            }
            return;
        }
        self.summary.tainted_events += 1;
        let (outs, fee) = if self.parcels.len() == 1 && self.outs.len() == 1 && in_sum == out_sum {
            (vec![self.parcels[0].clone()], P::Parcel::clean(0))
        } else {
            let values: Vec<Amount> = self.outs.iter().map(|l| l.value).collect();
            P::split(&self.parcels, &values)
        };
        self.summary.lost_to_fees += fee.taint();
        let hop = hop_in.saturating_add(1);
        let outs_legs = std::mem::take(&mut self.outs);
        for (leg, p) in outs_legs.iter().zip(outs) {
            self.deliver(event, *leg, p, hop, parent);
        }
        self.outs = outs_legs;
    }

    fn deliver(&mut self, event: u32, leg: Leg, p: P::Parcel, hop: u32, parent: u32) {
        let taint = p.taint();
        if taint == 0 {
            if leg.holder != NONE {
                P::deposit(&mut self.holdings[leg.holder as usize], p);
            }
            return;
        }
        let flags = if leg.addr == NONE {
            0
        } else {
            self.addr_flags[leg.addr as usize]
        };
        if flags & SEED != 0 {
            self.summary.returned_to_seeds += taint;
            return;
        }
        if leg.holder == NONE {
            // Backward into a coin created outside the data: the trail leaves what we hold.
            self.summary.left_data += taint;
            return;
        }
        if hop > self.max_hops {
            self.summary.cut_by_hops += taint;
            P::deposit(&mut self.holdings[leg.holder as usize], p.launder());
            return;
        }
        if taint < self.dust {
            self.summary.dust += taint;
            if leg.row != NONE {
                let d = self.dust_rows.entry(leg.row).or_default();
                d.0 += taint;
                d.1 += 1;
            }
            P::deposit(&mut self.holdings[leg.holder as usize], p.launder());
            return;
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
            P::deposit(&mut self.holdings[leg.holder as usize], p.launder());
            return;
        }
        P::deposit(&mut self.holdings[leg.holder as usize], p);
        let h = leg.holder as usize;
        if self.first[h].event == NONE {
            self.first[h] = First { event, parent, hop };
        }
        if leg.row != NONE {
            let r = leg.row as usize;
            self.received[r] += taint;
            if self.first_holder[r] == NONE {
                self.first_holder[r] = leg.holder;
            }
        }
    }

    fn path(&self, g: &Graph, mut event: u32, mut parent: u32) -> Vec<String> {
        let mut path = vec![g.tx_names.get(g.tx[event as usize]).to_owned()];
        while parent != NONE {
            let f = self.first[parent as usize];
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
        // Current holdings per report row (UTXO: unspent tainted coins of each owner).
        let mut holding: FxHashMap<u32, Amount> = FxHashMap::default();
        for (h, f) in self.first.iter().enumerate() {
            if f.event == NONE {
                continue;
            }
            let t = P::holding_taint(&self.holdings[h]);
            if t > 0 {
                let row = match &g.legs {
                    Legs::Account(_) => h as u32,
                    Legs::Utxo(u) => u.out_addr[h],
                };
                self.summary.held += t;
                if row != NONE {
                    *holding.entry(row).or_default() += t;
                }
            }
        }
        let row_asset = |row: u32| -> (u32, u16) {
            match &g.legs {
                Legs::Account(_) => g.holders[row as usize],
                Legs::Utxo(_) => (row, 0),
            }
        };
        let mut rows: Vec<u32> = (0..self.received.len() as u32)
            .filter(|&r| self.received[r as usize] > 0)
            .collect();
        rows.extend(self.dust_rows.keys().filter(|&&r| self.received[r as usize] == 0));
        let mut addresses: Vec<AddressTaint> = rows
            .into_iter()
            .map(|row| {
                let (addr, asset) = row_asset(row);
                let fh = self.first_holder[row as usize];
                let (hop, path) = if fh == NONE {
                    (None, Vec::new())
                } else {
                    let f = self.first[fh as usize];
                    (Some(f.hop), self.path(g, f.event, f.parent))
                };
                let (dust, dust_count) = self.dust_rows.get(&row).copied().unwrap_or((0, 0));
                AddressTaint {
                    address: g.addresses[addr as usize].to_string(),
                    asset: g.assets[asset as usize].to_string(),
                    taint: self.received[row as usize],
                    holding: if P::NAME == PolicyName::Poison {
                        None
                    } else {
                        Some(holding.get(&row).copied().unwrap_or(0))
                    },
                    hop,
                    path,
                    dust,
                    dust_transfers: dust_count,
                }
            })
            .collect();
        addresses.sort_by(|a, b| b.taint.cmp(&a.taint).then_with(|| a.address.cmp(&b.address)).then_with(|| a.asset.cmp(&b.asset)));
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
        exits.sort_by(|a, b| b.amount.cmp(&a.amount).then_with(|| a.address.cmp(&b.address)).then_with(|| a.asset.cmp(&b.asset)));
        TraceResult {
            policy: P::NAME,
            direction: spec.direction,
            addresses,
            exits,
            summary: self.summary,
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
                src.push(Leg { holder: from, addr: self.holders[from as usize].0, row: from, value });
                dst.push(Leg { holder: to, addr: self.holders[to as usize].0, row: to, value });
            }
            Legs::Utxo(u) => {
                let (i0, i1) = (u.in_start[e] as usize, u.in_start[e + 1] as usize);
                for k in i0..i1 {
                    let addr = u.in_addr[k];
                    src.push(Leg { holder: u.in_coin[k], addr, row: addr, value: u.in_value[k] });
                }
                let (o0, o1) = (u.out_start[e] as usize, u.out_start[e + 1] as usize);
                for k in o0..o1 {
                    let addr = u.out_addr[k];
                    dst.push(Leg { holder: k as u32, addr, row: addr, value: u.out_value[k] });
                }
            }
        }
    }
}
