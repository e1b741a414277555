//! What a trace returns, and its three renderings: a table for people, JSON for programs,
//! CSV for spreadsheets.

use std::io::{self, Write};

use ashiato_model::Amount;
use serde::{Deserialize, Serialize};

use crate::policy::PolicyName;
use crate::walker::Direction;

/// Taint that reached one address, per asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressTaint {
    pub address: String,
    pub asset: String,
    /// Total tainted value received (poison: the whole value of every tainted receipt).
    pub taint: Amount,
    /// Tainted value still held at the end (policies that keep state; not poison).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holding: Option<Amount>,
    /// Hops from a seed at the first tainted receipt (`None` if it only received dust).
    pub hop: Option<u32>,
    /// Transaction ids that first carried taint here, seed side first.
    pub path: Vec<String>,
    /// Taint that arrived in movements below the dust threshold and was not followed.
    pub dust: Amount,
    pub dust_transfers: u32,
}

/// Taint that reached a labelled entity (an exchange, mixer, bridge or named terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    pub address: String,
    pub label: String,
    pub asset: String,
    pub amount: Amount,
    /// Number of tainted movements into it.
    pub transfers: u32,
    /// Transaction ids that carried the first tainted movement into it, seed side first.
    pub path: Vec<String>,
}

/// What became of the taint a movement carried (the order of docs/tracing.md's limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Deposited and followed: the recipient holds taint.
    Held,
    /// Below the dust threshold.
    Dust,
    /// Caught by the dust-spray rule: a bystander with its own history, not a holder.
    Spray,
    /// Reached a labelled entity.
    Exit,
    BeyondHops,
    ReturnedToSeed,
    LeftData,
}

/// One movement that carried taint (listed with [`crate::TraceSpec::movements`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub block: u64,
    /// Unix seconds.
    pub time: i64,
    pub tx: String,
    pub from: String,
    pub to: String,
    pub asset: String,
    /// The whole value moved.
    pub value: Amount,
    /// The tainted part of it under the policy.
    pub taint: Amount,
    pub hop: u32,
    pub outcome: Outcome,
    /// The exit's label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Transaction ids that carried the taint here, seed side first, this one last.
    pub path: Vec<String>,
}

/// Where the taint went, in total. For every policy but poison,
/// `entered = held + exited + dust + lost_to_fees + cut_by_hops + returned_to_seeds + left_data`
/// holds exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Value the seeds emitted inside the window.
    pub entered: Amount,
    /// Still held by traced addresses at the end.
    pub held: Amount,
    /// Delivered to labelled entities.
    pub exited: Amount,
    /// Below the dust threshold, not followed.
    pub dust: Amount,
    /// UTXO: went to miners as fees.
    pub lost_to_fees: Amount,
    /// Arrived beyond the hop limit, not followed.
    pub cut_by_hops: Amount,
    /// Sent back to a seed address.
    pub returned_to_seeds: Amount,
    /// Backward UTXO traces: reached a coin created outside the data.
    pub left_data: Amount,
    pub events: u64,
    pub tainted_events: u64,
}

impl Summary {
    pub fn accounted(&self) -> Amount {
        self.held
            + self.exited
            + self.dust
            + self.lost_to_fees
            + self.cut_by_hops
            + self.returned_to_seeds
            + self.left_data
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceResult {
    pub policy: PolicyName,
    pub direction: Direction,
    pub addresses: Vec<AddressTaint>,
    pub exits: Vec<Exit>,
    pub summary: Summary,
    /// Every movement that carried taint, in walk order (only when asked for).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub movements: Vec<Movement>,
}

impl TraceResult {
    /// Taint received by `address` in `asset`, or 0.
    pub fn taint_of(&self, address: &str, asset: &str) -> Amount {
        self.addresses
            .iter()
            .find(|a| a.address == address && a.asset == asset)
            .map_or(0, |a| a.taint)
    }

    pub fn exit(&self, address: &str) -> Option<&Exit> {
        self.exits.iter().find(|e| e.address == address)
    }

    pub fn write_json(&self, w: impl Write) -> io::Result<()> {
        serde_json::to_writer_pretty(w, self).map_err(io::Error::other)
    }

    /// One CSV with a `kind` column (`address` or `exit`) so that both lists fit one file.
    pub fn write_csv(&self, w: impl Write) -> io::Result<()> {
        let mut c = csv::Writer::from_writer(w);
        c.write_record([
            "kind", "address", "label", "asset", "amount", "holding", "hop", "path",
        ])?;
        for a in &self.addresses {
            c.write_record([
                "address",
                &a.address,
                "",
                &a.asset,
                &a.taint.to_string(),
                &a.holding.map(|h| h.to_string()).unwrap_or_default(),
                &a.hop.map(|h| h.to_string()).unwrap_or_default(),
                &a.path.join(" "),
            ])?;
        }
        for e in &self.exits {
            c.write_record([
                "exit",
                &e.address,
                &e.label,
                &e.asset,
                &e.amount.to_string(),
                "",
                "",
                &e.path.join(" "),
            ])?;
        }
        c.flush()
    }

    /// A table for a terminal: the `limit` most tainted addresses, every exit, the summary.
    pub fn write_table(&self, mut w: impl Write, limit: usize) -> io::Result<()> {
        use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
        let s = &self.summary;
        writeln!(
            w,
            "policy {} ({}): {} addresses tainted, {} exits, {} of {} events carried taint",
            self.policy,
            match self.direction {
                Direction::Forward => "forward",
                Direction::Backward => "backward",
            },
            self.addresses.iter().filter(|a| a.taint > 0).count(),
            self.exits.len(),
            s.tainted_events,
            s.events
        )?;
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED);
        t.set_header([
            "address",
            "asset",
            "taint received",
            "holding",
            "hop",
            "first path",
        ]);
        for a in self.addresses.iter().take(limit) {
            t.add_row([
                a.address.clone(),
                a.asset.clone(),
                a.taint.to_string(),
                a.holding
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "-".into()),
                a.hop
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "dust".into()),
                short_path(&a.path),
            ]);
        }
        writeln!(w, "{t}")?;
        if self.addresses.len() > limit {
            writeln!(
                w,
                "… {} more addresses (use --limit or --format json)",
                self.addresses.len() - limit
            )?;
        }
        if !self.exits.is_empty() {
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header(["exit", "label", "asset", "amount", "transfers", "path"]);
            for e in &self.exits {
                t.add_row([
                    e.address.clone(),
                    e.label.clone(),
                    e.asset.clone(),
                    e.amount.to_string(),
                    e.transfers.to_string(),
                    short_path(&e.path),
                ]);
            }
            writeln!(w, "{t}")?;
        }
        writeln!(
            w,
            "taint entered {} = held {} + exited {} + dust {} + fees {} + beyond hop limit {} + back to seeds {} + left data {}",
            s.entered, s.held, s.exited, s.dust, s.lost_to_fees, s.cut_by_hops, s.returned_to_seeds, s.left_data
        )
    }
}

fn short_path(p: &[String]) -> String {
    let short = |t: &String| {
        if t.len() > 14 {
            format!("{}…", &t[..12])
        } else {
            t.clone()
        }
    };
    match p.len() {
        0 => String::new(),
        1..=3 => p.iter().map(short).collect::<Vec<_>>().join(" → "),
        n => format!("{} → … ({} hops) → {}", short(&p[0]), n, short(&p[n - 1])),
    }
}
