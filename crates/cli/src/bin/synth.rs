//! `ashiato-synth`: writes a SYNTHETIC chain fitted to real data (see docs/synthetic.md).
//!
//!     ashiato-synth accounts --transfers N --seed S --out DIR [--part-rows 10000000] [--zstd]
//!     ashiato-synth utxo --txs N --seed S --out DIR [--part-rows 10000000] [--zstd]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use ashiato_ingest::synth_fit::{self, FitSpec, FitSummary, PartOptions};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Write a SYNTHETIC chain whose shape is fitted to real data")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Account-model transfers in the Ashiato CSV format (chain generic).
    Accounts {
        #[arg(long)]
        transfers: u64,
        #[command(flatten)]
        common: Common,
    },
    /// A UTXO chain as a TaintedTX export (transactions, coinbases included).
    Utxo {
        #[arg(long)]
        txs: u64,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Args)]
struct Common {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
    /// Rows (transfers or transactions) per part file.
    #[arg(long, default_value_t = 10_000_000)]
    part_rows: u64,
    /// Compress the parts with zstd (`.csv.zst`).
    #[arg(long)]
    zstd: bool,
    /// zstd level (with --zstd).
    #[arg(long, default_value_t = 3)]
    level: i32,
    /// Unix time of the first transfer.
    #[arg(long, default_value_t = 1_600_000_000)]
    start_time: i64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let (model, n, c) = match &cli.cmd {
        Cmd::Accounts { transfers, common } => ("accounts", *transfers, common),
        Cmd::Utxo { txs, common } => ("utxo", *txs, common),
    };
    let spec = FitSpec {
        transfers: n,
        seed: c.seed,
        start_time: c.start_time,
    };
    let opts = PartOptions {
        part_rows: c.part_rows,
        zstd: c.zstd.then_some(c.level),
    };
    let t0 = Instant::now();
    let s: FitSummary = if model == "accounts" {
        synth_fit::write_fitted_accounts_with(&c.out, &spec, &opts)?
    } else {
        synth_fit::write_fitted_utxo_with(&c.out, &spec, &opts)?
    };
    let secs = t0.elapsed().as_secs_f64();
    let about = c.out.join("SYNTHETIC.txt");
    let text = format!(
        "SYNTHETIC data: not a real chain. Nothing here happened on any ledger.\n\
         Made by: ashiato-synth {model} (crates/ingest/src/synth_fit.rs), seed {}, {n} {}, start time {}\n\
         Shape fitted to real data by tools/fit_synthetic.py: testdata/synth-fit/fit.json sha256 {}\n\
         Format: {}\n\
         Parts: {} files of at most {} rows{}\n\
         Trace seeds ({}): {}\n\
         Exits (labels.csv, kind exchange): {}\n\
         See docs/synthetic.md for the model and its departures from the real data.\n",
        c.seed,
        if model == "accounts" { "transfers" } else { "transactions" },
        c.start_time,
        synth_fit::fit_sha256(),
        if model == "accounts" {
            "Ashiato CSV (time,block,tx,from,to,asset,amount), chain generic, asset SYNUSD in cents"
        } else {
            "TaintedTX/BlockSci export (tx_hash, tx_height, tx_input, tx_output, adr_hash), bech32 bc1qsynth… addresses, no times"
        },
        s.files.len() - 1,
        c.part_rows,
        if c.zstd { ", zstd-compressed" } else { "" },
        if model == "accounts" { "accounts" } else { "theft txids" },
        s.seeds.join(","),
        s.exits.join(","),
    );
    std::fs::write(&about, text).with_context(|| format!("writing {}", about.display()))?;
    println!(
        "SYNTHETIC {model}: {} rows in {secs:.1} s ({:.0} rows/s)",
        s.transfers,
        s.transfers as f64 / secs
    );
    println!(
        "files: {} ({} bytes, {:.1} bytes/row)",
        s.files.len(),
        s.bytes,
        s.bytes as f64 / s.transfers.max(1) as f64
    );
    println!("accounts/addresses: {}", s.accounts);
    println!("seeds: {}", s.seeds.join(","));
    println!("exits: {}", s.exits.join(","));
    println!("wrote {}", about.display());
    Ok(())
}
