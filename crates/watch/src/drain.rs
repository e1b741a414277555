//! Hot-wallet drain detection: alert on the first transfer of a theft from a watched
//! custody wallet, not hours later.
//!
//! [`detect`] reads account-model transfers in chain order (block, then the order given)
//! and keeps, for every watched wallet and every asset separately:
//!
//! - **Balance**: what the data shows the wallet received of the asset minus what it sent,
//!   saturating at 0. A wallet whose history the data does not hold therefore has balance
//!   0, and the two percentage rules stay silent for it (a percentage of nothing means
//!   nothing); only the absolute rule can speak for it. Sends are the transfers whose
//!   `from` is the wallet; fee transfers are ordinary transfers and count like any other.
//!   A transfer from a wallet to itself changes nothing and is not checked.
//! - **Window**: the wallet's outflows of the asset whose time lies in
//!   `(time − window_secs, time]` of the transfer being checked, that transfer included.
//!   Outflows leave the window oldest first, in chain order, once their time is at or
//!   before `time − window_secs` (chains give non-decreasing times; data that does not is
//!   taken as given). The **window outflow** is their sum; the **balance at the start of
//!   the window** is the balance just before the earliest outflow still in the window.
//!   Inflows during the window do not change it.
//!
//! Each outflow of a watched wallet is checked against three rules, all strict
//! ("exceeds"), all in exact integer arithmetic on base units:
//!
//! - [`DrainRule::Volume`]: balance at the start of the window > 0 and
//!   `window outflow × 100 > volume_pct × that balance`;
//! - [`DrainRule::VolumeAbsolute`]: `volume_abs` is set and `window outflow > volume_abs`
//!   (the same number of base units for every asset);
//! - [`DrainRule::NewRecipient`]: the recipient is an address the wallet never sent a
//!   positive amount of any asset to before this transfer, the balance just before the
//!   transfer is > 0, and `amount × 100 > new_recipient_pct × that balance`.
//!
//! A transfer that breaks at least one rule is *breaking*. Alerts come in **episodes**,
//! per (wallet, asset): a breaking transfer alerts when no breaking transfer of the same
//! wallet and asset came before it, or when the last one was `window_secs` or more before
//! it; otherwise it belongs to the running episode, does not alert, and extends the
//! episode (the quiet period starts again from it). Transfers that break nothing neither
//! alert nor extend an episode. Wallets and assets never share windows, balances or
//! episodes; only the set of recipients a wallet has paid spans its assets.

use std::collections::{HashMap, HashSet, VecDeque};

use ashiato_model::{Address, Asset, Transfer, UtcTime};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DrainRules {
    /// Sliding window, seconds (default 3600). Also the quiet time that ends an episode.
    pub window_secs: i64,
    /// Alert when the wallet's outflow of an asset inside the window exceeds this
    /// percentage of its balance at the start of the window (default 10).
    pub volume_pct: u32,
    /// Alert when one transfer to a recipient this wallet never paid before exceeds this
    /// percentage of the balance just before it (default 5).
    pub new_recipient_pct: u32,
    /// Absolute alternative for wallets whose history (balance) the data does not have:
    /// outflow in the window above this many base units alerts too (None: off).
    pub volume_abs: Option<u128>,
}

impl Default for DrainRules {
    fn default() -> Self {
        DrainRules {
            window_secs: 3_600,
            volume_pct: 10,
            new_recipient_pct: 5,
            volume_abs: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrainRule {
    Volume,
    VolumeAbsolute,
    NewRecipient,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainAlert {
    pub wallet: String,
    pub asset: String,
    /// Every rule the triggering transfer broke (at least one), in enum order.
    pub rules: Vec<DrainRule>,
    /// The transfer that broke them.
    pub tx: String,
    pub index: u32,
    pub block: u64,
    pub time: UtcTime,
    pub to: String,
    pub amount: u128,
    /// Outflow of the asset inside the window, this transfer included.
    pub window_outflow: u128,
    /// The balance the volume rule compared `window_outflow` with: the wallet's balance of
    /// the asset just before the earliest outflow still in the window (for a transfer
    /// alone in its window, the balance just before it).
    pub balance_before: u128,
    /// One sentence a person on call reads.
    pub detail: String,
}

struct Outflow {
    time: i64,
    amount: u128,
    balance_before: u128,
}

#[derive(Default)]
struct AssetState {
    balance: u128,
    window: VecDeque<Outflow>,
    window_sum: u128,
    last_breaking: Option<i64>,
}

impl AssetState {
    fn evict(&mut self, cutoff: i64) {
        let saturated = self.window_sum == u128::MAX;
        while let Some(front) = self.window.front() {
            if front.time > cutoff {
                break;
            }
            self.window_sum = self.window_sum.saturating_sub(front.amount);
            self.window.pop_front();
        }
        // A saturated sum has forgotten how far past u128::MAX it was, so subtracting
        // from it would undercount; recounting what is left is exact again.
        if saturated {
            self.window_sum = self
                .window
                .iter()
                .fold(0u128, |s, o| s.saturating_add(o.amount));
        }
    }
}

/// `transfers` in chain order (block, then order given); returns alerts in chain order.
/// See the module documentation for the rules and episodes.
pub fn detect(transfers: &[Transfer], wallets: &[Address], rules: &DrainRules) -> Vec<DrainAlert> {
    let watched: HashSet<&Address> = wallets.iter().collect();
    let mut states: HashMap<(&Address, &Asset), AssetState> = HashMap::new();
    let mut paid: HashMap<&Address, HashSet<&Address>> = HashMap::new();
    let mut alerts = Vec::new();
    for t in transfers {
        if t.from == t.to {
            continue;
        }
        if watched.contains(&t.from) {
            let recipients = paid.entry(&t.from).or_default();
            let new_recipient = !recipients.contains(&t.to);
            if t.amount > 0 {
                recipients.insert(&t.to);
            }
            let st = states.entry((&t.from, &t.asset)).or_default();
            if let Some(alert) = outflow(st, t, new_recipient, rules) {
                alerts.push(alert);
            }
        }
        if watched.contains(&t.to) {
            let st = states.entry((&t.to, &t.asset)).or_default();
            st.balance = st.balance.saturating_add(t.amount);
        }
    }
    alerts
}

/// Books one outflow of a watched wallet and returns the alert it raises, if any.
fn outflow(
    st: &mut AssetState,
    t: &Transfer,
    new_recipient: bool,
    rules: &DrainRules,
) -> Option<DrainAlert> {
    let now = t.time.unix();
    st.evict(now.saturating_sub(rules.window_secs));
    let balance_before = st.balance;
    st.window.push_back(Outflow {
        time: now,
        amount: t.amount,
        balance_before,
    });
    st.window_sum = st.window_sum.saturating_add(t.amount);
    st.balance = balance_before.saturating_sub(t.amount);
    let start_balance = st
        .window
        .front()
        .map_or(balance_before, |o| o.balance_before);
    let outflow = st.window_sum;

    let mut broken = Vec::new();
    if start_balance > 0 && exceeds_pct(outflow, rules.volume_pct, start_balance) {
        broken.push(DrainRule::Volume);
    }
    if rules.volume_abs.is_some_and(|abs| outflow > abs) {
        broken.push(DrainRule::VolumeAbsolute);
    }
    if new_recipient
        && balance_before > 0
        && exceeds_pct(t.amount, rules.new_recipient_pct, balance_before)
    {
        broken.push(DrainRule::NewRecipient);
    }
    if broken.is_empty() {
        return None;
    }
    let starts_episode = st
        .last_breaking
        .is_none_or(|last| now.saturating_sub(last) >= rules.window_secs);
    // max: a transfer stamped earlier than the last breaking one must not shorten the
    // episode and let the next breaking transfer alert too soon.
    st.last_breaking = Some(st.last_breaking.map_or(now, |last| last.max(now)));
    if !starts_episode {
        return None;
    }

    let mut why = Vec::new();
    for rule in &broken {
        why.push(match rule {
            DrainRule::Volume => format!(
                "{outflow} sent within {} s is {} of the {start_balance} it held at the window's start (limit {}%)",
                rules.window_secs,
                pct_text(outflow, start_balance),
                rules.volume_pct
            ),
            DrainRule::VolumeAbsolute => format!(
                "{outflow} sent within {} s exceeds the absolute limit of {}",
                rules.window_secs,
                rules.volume_abs.unwrap_or_default()
            ),
            DrainRule::NewRecipient => format!(
                "this one transfer to a recipient it never paid before is {} of the {balance_before} it held just before (limit {}%)",
                pct_text(t.amount, balance_before),
                rules.new_recipient_pct
            ),
        });
    }
    let detail = format!(
        "Possible drain of {}: it sent {} {} (base units) to {} at {} in block {} (tx {}); {}.",
        t.from,
        t.amount,
        t.asset,
        t.to,
        t.time,
        t.block,
        t.tx,
        why.join("; ")
    );
    Some(DrainAlert {
        wallet: t.from.to_string(),
        asset: t.asset.to_string(),
        rules: broken,
        tx: t.tx.clone(),
        index: t.index,
        block: t.block,
        time: t.time,
        to: t.to.to_string(),
        amount: t.amount,
        window_outflow: outflow,
        balance_before: start_balance,
        detail,
    })
}

/// `part × 100 > pct × whole`, exactly, for any u128 values.
fn exceeds_pct(part: u128, pct: u32, whole: u128) -> bool {
    // For integers, 100·p > X ⟺ p > ⌊X / 100⌋; with whole = 100·q + r,
    // ⌊pct·whole / 100⌋ = pct·q + ⌊pct·r / 100⌋, whose parts cannot overflow needlessly.
    let pct = u128::from(pct);
    (whole / 100)
        .checked_mul(pct)
        .and_then(|hi| hi.checked_add(whole % 100 * pct / 100))
        // A limit beyond u128::MAX is above any part.
        .is_some_and(|limit| part > limit)
}

/// `part / whole` as a percentage with one decimal, truncated, for people to read.
fn pct_text(part: u128, whole: u128) -> String {
    if whole == 0 {
        return "n/a".into();
    }
    match part.checked_mul(1_000) {
        Some(p) => {
            let tenths = p / whole;
            format!("{}.{}%", tenths / 10, tenths % 10)
        }
        None => format!("{}%", (part / whole).saturating_mul(100)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceeds_pct_is_exact_at_the_limit_and_at_u128_max() {
        assert!(!exceeds_pct(50, 5, 1_000));
        assert!(exceeds_pct(51, 5, 1_000));
        // 5 % of 1,001 is 50.05: 50 is below it, 51 above.
        assert!(!exceeds_pct(50, 5, 1_001));
        assert!(exceeds_pct(51, 5, 1_001));
        assert!(!exceeds_pct(u128::MAX, 100, u128::MAX));
        assert!(exceeds_pct(u128::MAX, 99, u128::MAX));
        assert!(!exceeds_pct(u128::MAX, u32::MAX, u128::MAX));
        assert!(exceeds_pct(u128::MAX / 10 + 1, 10, u128::MAX));
        assert!(!exceeds_pct(u128::MAX / 10, 10, u128::MAX));
        assert!(exceeds_pct(1, 0, u128::MAX));
        assert!(!exceeds_pct(0, 0, 7));
    }

    #[test]
    fn saturated_window_is_recounted_on_eviction() {
        let mut st = AssetState::default();
        for (time, amount) in [(0, 1u128 << 127), (10, 1u128 << 127), (20, 5)] {
            st.window.push_back(Outflow {
                time,
                amount,
                balance_before: 0,
            });
            st.window_sum = st.window_sum.saturating_add(amount);
        }
        assert_eq!(st.window_sum, u128::MAX);
        st.evict(0);
        // Subtracting from the saturated sum would give 2^127 − 1 + 0; the truth is
        // 2^127 + 5.
        assert_eq!(st.window_sum, (1u128 << 127) + 5);
        st.evict(10);
        assert_eq!(st.window_sum, 5);
    }

    #[test]
    fn pct_text_truncates_to_tenths() {
        assert_eq!(pct_text(150_000, 970_000), "15.4%");
        assert_eq!(pct_text(1, 0), "n/a");
        assert_eq!(pct_text(u128::MAX, 1), format!("{}%", u128::MAX));
    }
}
