//! Taint policies: small pieces the walker calls, nothing else.
//!
//! A policy decides two things and only these: which part of an account's balance a
//! transfer takes (`withdraw`), and how the value entering a multi-input transaction is cut
//! into its outputs and fee (`split`). Everything else — order, seeds, hops, dust, exits,
//! paths — is the walker's, so each policy is a few lines that can be checked by hand
//! against `../shared/docs/taint-policies.md`.
//!
//! All arithmetic is exact integer arithmetic in base units and every division rounds down.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use ashiato_model::Amount;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// The policies a user can choose, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    Poison,
    Haircut,
    Fifo,
    Lifo,
    Tiho,
    DirtyFirst,
    CleanFirst,
}

impl PolicyName {
    pub const ALL: [PolicyName; 7] = [
        PolicyName::Poison,
        PolicyName::Haircut,
        PolicyName::Fifo,
        PolicyName::Lifo,
        PolicyName::Tiho,
        PolicyName::DirtyFirst,
        PolicyName::CleanFirst,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Poison => "poison",
            PolicyName::Haircut => "haircut",
            PolicyName::Fifo => "fifo",
            PolicyName::Lifo => "lifo",
            PolicyName::Tiho => "tiho",
            PolicyName::DirtyFirst => "dirty-first",
            PolicyName::CleanFirst => "clean-first",
        }
    }

    /// Whether taint is conserved (poison multiplies it by design).
    pub fn conserves(self) -> bool {
        self != PolicyName::Poison
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown policy {0:?} (poison, haircut, fifo, lifo, tiho, dirty-first, clean-first)")]
pub struct PolicyNameError(pub String);

impl FromStr for PolicyName {
    type Err = PolicyNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "poison" => PolicyName::Poison,
            "haircut" | "proportional" => PolicyName::Haircut,
            "fifo" => PolicyName::Fifo,
            "lifo" => PolicyName::Lifo,
            "tiho" => PolicyName::Tiho,
            "dirty-first" | "seniority" => PolicyName::DirtyFirst,
            "clean-first" | "reversed-seniority" => PolicyName::CleanFirst,
            _ => return Err(PolicyNameError(s.to_owned())),
        })
    }
}

/// Value in motion with a description of which part of it is tainted.
pub trait Parcel: Clone + fmt::Debug {
    fn clean(value: Amount) -> Self;
    fn tainted(value: Amount) -> Self;
    fn value(&self) -> Amount;
    fn taint(&self) -> Amount;
    /// The same value with no taint: what arrives when taint is not followed (dust, limits).
    fn launder(&self) -> Self {
        Self::clean(self.value())
    }
}

/// A taint policy. `Holding` is the state kept per holder (an account's balance of one
/// asset, or one unspent coin); `Parcel` is what a transfer or an input carries.
pub trait Policy {
    type Parcel: Parcel;
    type Holding: Default + Clone + fmt::Debug;
    const NAME: PolicyName;

    /// Takes `x` out of `h`. When `x` exceeds the known balance the missing part is clean
    /// and older than anything seen (history before the data starts is unknown).
    fn withdraw(h: &mut Self::Holding, x: Amount) -> Self::Parcel;
    fn deposit(h: &mut Self::Holding, p: Self::Parcel);
    fn holding_taint(h: &Self::Holding) -> Amount;
    /// Whether a withdrawal from `h` can carry taint (poison: once tainted, always).
    fn is_tainted(h: &Self::Holding) -> bool {
        Self::holding_taint(h) != 0
    }
    /// Cuts the inputs (in serialised order) into outputs (in order) and the fee.
    /// `Σ inputs ≥ Σ outputs` is guaranteed by the walker (it pads a clean input).
    fn split(inputs: &[Self::Parcel], outputs: &[Amount]) -> (Vec<Self::Parcel>, Self::Parcel);
}

/// A mixed amount: `value` units of which `taint` are tainted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mixed {
    pub value: Amount,
    pub taint: Amount,
}

impl Parcel for Mixed {
    fn clean(value: Amount) -> Self {
        Mixed { value, taint: 0 }
    }
    fn tainted(value: Amount) -> Self {
        Mixed {
            value,
            taint: value,
        }
    }
    fn value(&self) -> Amount {
        self.value
    }
    fn taint(&self) -> Amount {
        self.taint
    }
}

/// `floor(a · b / c)` without overflow (wei amounts overflow a 128-bit product).
pub fn mul_div_floor(a: Amount, b: Amount, c: Amount) -> Amount {
    debug_assert!(c != 0);
    const W: u128 = u64::MAX as u128;
    match a.checked_mul(b) {
        Some(p) if p <= W && c <= W => ((p as u64) / (c as u64)) as u128,
        Some(p) if a <= W && b <= c && c <= W => div_wide(p, c as u64) as u128,
        Some(p) => p / c,
        None => {
            let q = ethnum::U256::from(a) * ethnum::U256::from(b) / ethnum::U256::from(c);
            // q ≤ a whenever b ≤ c, which is how every caller uses it.
            q.as_u128()
        }
    }
}

/// `p / d` for a 128-bit `p` whose quotient fits 64 bits (the caller guarantees
/// `p < d · 2^64`): one hardware divide instead of the generic 128-bit routine, which
/// dominates haircut traces otherwise.
#[inline]
fn div_wide(p: u128, d: u64) -> u64 {
    debug_assert!(((p >> 64) as u64) < d);
    #[cfg(target_arch = "x86_64")]
    {
        let q: u64;
        // SAFETY: `div` faults only on a zero divisor or a quotient over 64 bits; the
        // caller guarantees neither (d ≥ b ≥ 1 and hi(p) < d).
        unsafe {
            std::arch::asm!(
                "div {d}",
                d = in(reg) d,
                inout("rax") p as u64 => q,
                inout("rdx") (p >> 64) as u64 => _,
                options(pure, nomem, nostack)
            );
        }
        q
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        (p / d as u128) as u64
    }
}

/// Balance bookkeeping shared by every scalar policy: `B' = max(B, x)`, then `B = B' − x`.
fn take_mixed(h: &mut Mixed, x: Amount, carried: impl FnOnce(Amount, Amount) -> Amount) -> Mixed {
    let b = h.value.max(x);
    let t = if h.taint == 0 { 0 } else { carried(h.taint, b) };
    h.value = b - x;
    h.taint -= t;
    Mixed { value: x, taint: t }
}

fn sum_mixed(inputs: &[Mixed]) -> (Amount, Amount) {
    inputs
        .iter()
        .fold((0, 0), |(v, t), p| (v + p.value, t + p.taint))
}

/// Cuts `outputs` (then the fee) from a line of length `v` whose tainted units are the
/// interval `[lo, hi)`.
fn cut_interval(v: Amount, lo: Amount, hi: Amount, outputs: &[Amount]) -> (Vec<Mixed>, Mixed) {
    let mut at: Amount = 0;
    let overlap = |s: Amount, e: Amount| e.min(hi).saturating_sub(s.max(lo));
    let outs = outputs
        .iter()
        .map(|&w| {
            let m = Mixed {
                value: w,
                taint: overlap(at, at + w),
            };
            at += w;
            m
        })
        .collect();
    let fee = Mixed {
        value: v - at,
        taint: overlap(at, v),
    };
    (outs, fee)
}

/// A policy whose state is a (value, taint) pair: it differs from the others only in how
/// much taint a withdrawal carries and how a transaction's inputs are cut into outputs.
pub trait Scalar {
    const NAME: PolicyName;
    /// Taint carried by taking `x` from a balance `b ≥ x` holding taint `t ≤ b`.
    fn carried(x: Amount, t: Amount, b: Amount) -> Amount;
    /// Cuts inputs worth `v` with taint `t` into `outputs` and the fee (`v − Σ outputs`).
    fn cut(v: Amount, t: Amount, outputs: &[Amount]) -> (Vec<Mixed>, Mixed);
}

impl<S: Scalar> Policy for S {
    type Parcel = Mixed;
    type Holding = Mixed;
    const NAME: PolicyName = S::NAME;

    fn withdraw(h: &mut Mixed, x: Amount) -> Mixed {
        take_mixed(h, x, |t, b| S::carried(x, t, b))
    }
    fn deposit(h: &mut Mixed, p: Mixed) {
        h.value += p.value;
        h.taint += p.taint;
    }
    fn holding_taint(h: &Mixed) -> Amount {
        h.taint
    }
    fn split(inputs: &[Mixed], outputs: &[Amount]) -> (Vec<Mixed>, Mixed) {
        let (v, t) = sum_mixed(inputs);
        S::cut(v, t, outputs)
    }
}

/// Proportional: every unit carries the sender's taint ratio, rounded down.
pub struct Haircut;

impl Scalar for Haircut {
    const NAME: PolicyName = PolicyName::Haircut;

    fn carried(x: Amount, t: Amount, b: Amount) -> Amount {
        mul_div_floor(x, t, b)
    }
    fn cut(v: Amount, t: Amount, outputs: &[Amount]) -> (Vec<Mixed>, Mixed) {
        let mut given = 0;
        let outs: Vec<Mixed> = outputs
            .iter()
            .map(|&w| {
                let taint = if v == 0 { 0 } else { mul_div_floor(w, t, v) };
                given += taint;
                Mixed { value: w, taint }
            })
            .collect();
        let out_sum: Amount = outputs.iter().sum();
        // The rounding remainder goes to the fee, so taint is conserved exactly.
        (
            outs,
            Mixed {
                value: v - out_sum,
                taint: t - given,
            },
        )
    }
}

/// Seniority: tainted units leave first.
pub struct DirtyFirst;

impl Scalar for DirtyFirst {
    const NAME: PolicyName = PolicyName::DirtyFirst;

    fn carried(x: Amount, t: Amount, _b: Amount) -> Amount {
        t.min(x)
    }
    fn cut(v: Amount, t: Amount, outputs: &[Amount]) -> (Vec<Mixed>, Mixed) {
        cut_interval(v, 0, t, outputs)
    }
}

/// Reversed seniority: taint leaves only when the clean part is used up.
pub struct CleanFirst;

impl Scalar for CleanFirst {
    const NAME: PolicyName = PolicyName::CleanFirst;

    fn carried(x: Amount, t: Amount, b: Amount) -> Amount {
        t.saturating_sub(b - x)
    }
    fn cut(v: Amount, t: Amount, outputs: &[Amount]) -> (Vec<Mixed>, Mixed) {
        cut_interval(v, v - t, v, outputs)
    }
}

/// Taint In, Highest Out: the taint is poured into the largest outputs first. On account
/// chains a transfer has one recipient, so it is the same as dirty-first.
pub struct Tiho;

impl Scalar for Tiho {
    const NAME: PolicyName = PolicyName::Tiho;

    fn carried(x: Amount, t: Amount, b: Amount) -> Amount {
        DirtyFirst::carried(x, t, b)
    }
    fn cut(v: Amount, t: Amount, outputs: &[Amount]) -> (Vec<Mixed>, Mixed) {
        let mut order: Vec<usize> = (0..outputs.len()).collect();
        // Highest value first; the stable sort keeps the lower index first on ties.
        order.sort_by(|&a, &b| outputs[b].cmp(&outputs[a]));
        let mut outs: Vec<Mixed> = outputs.iter().map(|&w| Mixed::clean(w)).collect();
        let mut left = t;
        for j in order {
            let take = left.min(outputs[j]);
            outs[j].taint = take;
            left -= take;
        }
        let out_sum: Amount = outputs.iter().sum();
        (
            outs,
            Mixed {
                value: v - out_sum,
                taint: left,
            },
        )
    }
}

/// Poison: anything touched by taint is wholly tainted from then on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flagged {
    pub value: Amount,
    pub tainted: bool,
}

impl Parcel for Flagged {
    fn clean(value: Amount) -> Self {
        Flagged {
            value,
            tainted: false,
        }
    }
    fn tainted(value: Amount) -> Self {
        Flagged {
            value,
            tainted: true,
        }
    }
    fn value(&self) -> Amount {
        self.value
    }
    fn taint(&self) -> Amount {
        if self.tainted {
            self.value
        } else {
            0
        }
    }
}

pub struct Poison;

impl Policy for Poison {
    type Parcel = Flagged;
    type Holding = Flagged;
    const NAME: PolicyName = PolicyName::Poison;

    fn withdraw(h: &mut Flagged, x: Amount) -> Flagged {
        h.value = h.value.max(x) - x;
        Flagged {
            value: x,
            tainted: h.tainted,
        }
    }
    fn deposit(h: &mut Flagged, p: Flagged) {
        h.value += p.value;
        h.tainted |= p.tainted;
    }
    fn holding_taint(h: &Flagged) -> Amount {
        if h.tainted {
            h.value
        } else {
            0
        }
    }
    fn is_tainted(h: &Flagged) -> bool {
        h.tainted
    }
    fn split(inputs: &[Flagged], outputs: &[Amount]) -> (Vec<Flagged>, Flagged) {
        let tainted = inputs.iter().any(|p| p.tainted && p.value > 0);
        let v: Amount = inputs.iter().map(|p| p.value).sum();
        let out_sum: Amount = outputs.iter().sum();
        (
            outputs
                .iter()
                .map(|&w| Flagged { value: w, tainted })
                .collect(),
            Flagged {
                value: v - out_sum,
                tainted,
            },
        )
    }
}

/// A run of units that are all clean or all tainted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seg {
    pub len: Amount,
    pub tainted: bool,
}

/// Ordered runs, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Segs(pub SmallVec<[Seg; 2]>);

impl Segs {
    fn push(&mut self, s: Seg) {
        if s.len == 0 {
            return;
        }
        match self.0.last_mut() {
            Some(last) if last.tainted == s.tainted => last.len += s.len,
            _ => self.0.push(s),
        }
    }
}

impl Parcel for Segs {
    fn clean(value: Amount) -> Self {
        let mut s = Segs::default();
        s.push(Seg {
            len: value,
            tainted: false,
        });
        s
    }
    fn tainted(value: Amount) -> Self {
        let mut s = Segs::default();
        s.push(Seg {
            len: value,
            tainted: true,
        });
        s
    }
    fn value(&self) -> Amount {
        self.0.iter().map(|s| s.len).sum()
    }
    fn taint(&self) -> Amount {
        self.0.iter().filter(|s| s.tainted).map(|s| s.len).sum()
    }
}

/// A queue of received runs. An account that never held taint keeps only its balance, so
/// the million clean accounts of a graph cost no queue at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queue {
    Clean(Amount),
    Mixed(VecDeque<Seg>),
}

impl Default for Queue {
    fn default() -> Self {
        Queue::Clean(0)
    }
}

impl Queue {
    fn total(q: &VecDeque<Seg>) -> Amount {
        q.iter().map(|s| s.len).sum()
    }

    /// Takes `x` units from the front (oldest) or the back (newest); the parcel keeps the
    /// units in their original order either way.
    fn take(&mut self, x: Amount, newest: bool) -> Segs {
        let q = match self {
            Queue::Clean(b) => {
                *b = (*b).max(x) - x;
                return Segs::clean(x);
            }
            Queue::Mixed(q) => q,
        };
        let b = Self::total(q);
        if x > b {
            q.push_front(Seg {
                len: x - b,
                tainted: false,
            });
        }
        let mut taken: SmallVec<[Seg; 4]> = SmallVec::new();
        let mut need = x;
        while need > 0 {
            let seg = if newest { q.back_mut() } else { q.front_mut() };
            let Some(seg) = seg else { break };
            let n = seg.len.min(need);
            taken.push(Seg {
                len: n,
                tainted: seg.tainted,
            });
            seg.len -= n;
            need -= n;
            if seg.len == 0 {
                if newest {
                    q.pop_back();
                } else {
                    q.pop_front();
                }
            }
        }
        if newest {
            taken.reverse();
        }
        if q.iter().all(|s| !s.tainted) {
            *self = Queue::Clean(Self::total(q));
        }
        let mut out = Segs::default();
        for s in taken {
            out.push(s);
        }
        out
    }

    fn put(&mut self, p: Segs) {
        if p.0.iter().all(|s| !s.tainted) {
            let v = p.value();
            match self {
                Queue::Clean(b) => *b += v,
                Queue::Mixed(q) => push_back(
                    q,
                    Seg {
                        len: v,
                        tainted: false,
                    },
                ),
            }
            return;
        }
        if let Queue::Clean(b) = *self {
            let mut q = VecDeque::new();
            push_back(
                &mut q,
                Seg {
                    len: b,
                    tainted: false,
                },
            );
            *self = Queue::Mixed(q);
        }
        if let Queue::Mixed(q) = self {
            for s in p.0 {
                push_back(q, s);
            }
        }
    }

    fn taint(&self) -> Amount {
        match self {
            Queue::Clean(_) => 0,
            Queue::Mixed(q) => q.iter().filter(|s| s.tainted).map(|s| s.len).sum(),
        }
    }
}

fn push_back(q: &mut VecDeque<Seg>, s: Seg) {
    if s.len == 0 {
        return;
    }
    match q.back_mut() {
        Some(last) if last.tainted == s.tainted => last.len += s.len,
        _ => q.push_back(s),
    }
}

/// Cuts a line of runs into outputs in order; what is left is the fee.
fn cut_line<'a>(line: impl Iterator<Item = &'a Seg>, outputs: &[Amount]) -> (Vec<Segs>, Segs) {
    let mut line = line.copied().peekable();
    let mut carry: Option<Seg> = None;
    let mut cut = |want: Amount| {
        let mut out = Segs::default();
        let mut need = want;
        while need > 0 {
            let Some(mut s) = carry.take().or_else(|| line.next()) else {
                break;
            };
            let n = s.len.min(need);
            out.push(Seg {
                len: n,
                tainted: s.tainted,
            });
            need -= n;
            s.len -= n;
            if s.len > 0 {
                carry = Some(s);
            }
        }
        out
    };
    let outs: Vec<Segs> = outputs.iter().map(|&w| cut(w)).collect();
    let fee = cut(Amount::MAX);
    (outs, fee)
}

/// A policy that keeps each holding as a queue of runs and takes from one end of it:
/// the oldest units (FIFO) or the newest (LIFO).
pub struct Queued<const NEWEST: bool>;

/// First in, first out: a transfer takes the oldest units held.
pub type Fifo = Queued<false>;
/// Last in, first out: a transfer takes the newest units held.
pub type Lifo = Queued<true>;

impl<const NEWEST: bool> Policy for Queued<NEWEST> {
    type Parcel = Segs;
    type Holding = Queue;
    const NAME: PolicyName = if NEWEST {
        PolicyName::Lifo
    } else {
        PolicyName::Fifo
    };

    fn withdraw(h: &mut Queue, x: Amount) -> Segs {
        h.take(x, NEWEST)
    }
    fn deposit(h: &mut Queue, p: Segs) {
        h.put(p)
    }
    fn holding_taint(h: &Queue) -> Amount {
        h.taint()
    }
    fn split(inputs: &[Segs], outputs: &[Amount]) -> (Vec<Segs>, Segs) {
        // LIFO lays the inputs out in reverse order; each coin's own runs keep their order.
        if NEWEST {
            cut_line(inputs.iter().rev().flat_map(|p| p.0.iter()), outputs)
        } else {
            cut_line(inputs.iter().flat_map(|p| p.0.iter()), outputs)
        }
    }
}
