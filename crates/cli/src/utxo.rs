//! `ashiato cluster` and `ashiato peel`: address clusters and peel chains of a Bitcoin
//! input or store, as tables or JSON an analyst can cite (every merge and every peel
//! names its transaction).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ashiato_btc::cluster::{ChangeHeuristic, ClusterOptions, Clusters, Reason};
use ashiato_btc::peel::{End, PeelChain, PeelIndex};
use ashiato_model::{Address, Chain, UtxoTx};
use ashiato_store::Store;
use clap::Args;
use serde_json::json;

use crate::{load, InputFormat};

#[derive(Args)]
pub struct UtxoSource {
    /// Bitcoin blk files (a blocks folder or one file) or a BlockSci/TaintedTX export.
    #[arg(long, conflicts_with = "store")]
    pub input: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    pub input_format: InputFormat,
    /// A store holding Bitcoin transactions (ingested or synced).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl UtxoSource {
    fn load(&self) -> Result<Vec<UtxoTx>> {
        match (&self.input, &self.store) {
            (Some(p), _) => load::load_utxo_txs(p, self.input_format),
            (None, Some(dir)) => {
                let store =
                    Store::open(dir).with_context(|| format!("opening store {}", dir.display()))?;
                Ok(store.utxo_txs(Chain::Bitcoin)?)
            }
            (None, None) => bail!("give --input PATH or --store DIR"),
        }
    }
}

#[derive(Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub src: UtxoSource,
    /// Change heuristics to add to multi-input clustering, comma-separated, or `all`:
    /// address-reuse, address-type, optimal-change, power-of-ten, first-seen, peel-chain.
    #[arg(long, value_delimiter = ',')]
    pub change: Vec<String>,
    /// Merge CoinJoin inputs anyway (shows what the CoinJoin rule prevents).
    #[arg(long)]
    pub ignore_coinjoins: bool,
    /// Print the cluster of these addresses.
    #[arg(long, value_delimiter = ',')]
    pub address: Vec<String>,
    /// Two addresses, A,B: which transactions put them in one cluster.
    #[arg(long, value_delimiter = ',')]
    pub explain: Vec<String>,
    /// How many of the largest cluster sizes to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

fn heuristics(names: &[String]) -> Result<Vec<ChangeHeuristic>> {
    if names.iter().any(|n| n == "all") {
        return Ok(ChangeHeuristic::ALL.to_vec());
    }
    names
        .iter()
        .map(|n| {
            ChangeHeuristic::parse(n).with_context(|| {
                let all: Vec<&str> = ChangeHeuristic::ALL.iter().map(|h| h.name()).collect();
                format!("unknown change heuristic {n:?}; known: {}", all.join(", "))
            })
        })
        .collect()
}

fn addr(s: &str) -> Result<Address> {
    Address::parse(Chain::Bitcoin, s).with_context(|| format!("address {s}"))
}

fn reason(r: &Reason) -> String {
    match r {
        Reason::MultiInput => "multi-input".into(),
        Reason::Change(h) => format!("change ({})", h.name()),
    }
}

pub fn cluster(a: ClusterArgs, out: &mut impl Write) -> Result<()> {
    let opts = ClusterOptions {
        change: heuristics(&a.change)?,
        ignore_coinjoins: a.ignore_coinjoins,
    };
    let addresses = a
        .address
        .iter()
        .map(|s| addr(s))
        .collect::<Result<Vec<_>>>()?;
    let explain = a
        .explain
        .iter()
        .map(|s| addr(s))
        .collect::<Result<Vec<_>>>()?;
    if !matches!(explain.len(), 0 | 2) {
        bail!("--explain takes two addresses, A,B");
    }
    let txs = a.src.load()?;
    let c = Clusters::build(&txs, &opts);
    let sizes = c.sizes();
    let members: Vec<(String, Vec<String>)> = addresses
        .iter()
        .map(|x| {
            let mut m: Vec<String> = c.members(x).iter().map(|m| m.to_string()).collect();
            m.sort();
            (x.to_string(), m)
        })
        .collect();
    let links = match explain.as_slice() {
        [x, y] => Some(c.explain(x, y)),
        _ => None,
    };
    if a.src.json {
        let j = json!({
            "transactions": txs.len(),
            "addresses": c.addresses(),
            "clusters": sizes.len(),
            "multi_address_clusters": sizes.iter().filter(|s| **s > 1).count(),
            "largest": &sizes[..sizes.len().min(a.top)],
            "coinjoins": c.coinjoins,
            "members": members.iter().map(|(x, m)| json!({"address": x, "cluster": m})).collect::<Vec<_>>(),
            "explain": links.as_ref().map(|l| l.as_ref().map(|l| l.iter().map(|l| json!({
                "a": l.a.to_string(), "b": l.b.to_string(), "txid": l.txid, "reason": reason(&l.reason),
            })).collect::<Vec<_>>())),
        });
        serde_json::to_writer_pretty(&mut *out, &j)?;
        writeln!(out)?;
        return Ok(());
    }
    let names: Vec<&str> = opts.change.iter().map(|h| h.name()).collect();
    writeln!(
        out,
        "{} transactions, {} addresses, {} clusters ({} with 2+ addresses); change heuristics: {}; CoinJoins {} ({} found)",
        txs.len(),
        c.addresses(),
        sizes.len(),
        sizes.iter().filter(|s| **s > 1).count(),
        if names.is_empty() { "none".into() } else { names.join(", ") },
        if opts.ignore_coinjoins { "merged anyway" } else { "not merged" },
        c.coinjoins.len(),
    )?;
    writeln!(
        out,
        "largest clusters: {:?}",
        &sizes[..sizes.len().min(a.top)]
    )?;
    for (x, m) in &members {
        writeln!(out, "cluster of {x}: {} address(es)", m.len())?;
        for y in m {
            writeln!(out, "  {y}")?;
        }
    }
    if let (Some(l), [x, y]) = (&links, explain.as_slice()) {
        match l {
            None => writeln!(out, "{x} and {y} are not in one cluster")?,
            Some(l) => {
                writeln!(
                    out,
                    "{x} and {y} are one cluster through {} merge(s):",
                    l.len()
                )?;
                for l in l {
                    writeln!(
                        out,
                        "  {} + {}  tx {}  {}",
                        l.a,
                        l.b,
                        l.txid,
                        reason(&l.reason)
                    )?;
                }
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct PeelArgs {
    #[command(flatten)]
    pub src: UtxoSource,
    /// Follow the chain from this transaction (a peel step) instead of listing all.
    #[arg(long)]
    pub tx: Option<String>,
    /// Shortest chain listed.
    #[arg(long, default_value_t = 3)]
    pub min_steps: usize,
    /// Most steps followed from --tx.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: u64,
    /// How many chains to list.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

fn end(e: &End) -> String {
    match e {
        End::Unspent => "change unspent".into(),
        End::SpentBy(t) => format!("change spent by {t} (not a peel step)"),
        End::Ambiguous => "both outputs continue (not guessed)".into(),
        End::Limit => "step limit".into(),
    }
}

fn chain_json(c: &PeelChain) -> serde_json::Value {
    json!({
        "steps": c.steps.iter().map(|s| json!({
            "txid": s.txid, "block": s.block, "input": s.input.to_string(),
            "peel_to": s.peel_to.as_ref().map(|a| a.to_string()), "peel": s.peel.to_string(),
            "peel_vout": s.peel_vout,
            "change_to": s.change_to.as_ref().map(|a| a.to_string()), "change": s.change.to_string(),
            "fee": s.fee.to_string(),
        })).collect::<Vec<_>>(),
        "peeled": c.peeled().to_string(),
        "end": end(&c.end),
    })
}

pub fn peel(a: PeelArgs, out: &mut impl Write) -> Result<()> {
    let txs = a.src.load()?;
    let idx = PeelIndex::new(&txs);
    let chains = match &a.tx {
        Some(t) => vec![idx.follow(t, a.max_steps as usize).with_context(|| {
            format!("{t}: not in the data, or not a peel step (one input, two outputs)")
        })?],
        None => idx.detect(a.min_steps),
    };
    if a.src.json {
        let j: Vec<_> = chains.iter().take(a.limit).map(chain_json).collect();
        serde_json::to_writer_pretty(&mut *out, &json!({"chains": chains.len(), "listed": j}))?;
        writeln!(out)?;
        return Ok(());
    }
    if a.tx.is_none() {
        writeln!(
            out,
            "{} peel chain(s) of {}+ steps",
            chains.len(),
            a.min_steps
        )?;
    }
    for c in chains.iter().take(a.limit) {
        writeln!(
            out,
            "\n{} step(s) from {} (block {}): {} sat in, {} sat peeled; {}",
            c.steps.len(),
            c.steps[0].txid,
            c.steps[0].block,
            c.steps[0].input,
            c.peeled(),
            end(&c.end)
        )?;
        for (i, s) in c.steps.iter().enumerate() {
            writeln!(
                out,
                "  {:>3}. {}  peel {} sat to {}  change {} sat to {}",
                i + 1,
                s.txid,
                s.peel,
                s.peel_to
                    .as_ref()
                    .map_or("(no address)".into(), |a| a.to_string()),
                s.change,
                s.change_to
                    .as_ref()
                    .map_or("(no address)".into(), |a| a.to_string()),
            )?;
        }
    }
    Ok(())
}
