//! `ashiato export`: a stored chain as Parquet partitions for a distributed engine
//! (docs/scale-out.md).

use std::path::PathBuf;

use anyhow::{Context, Result};
use ashiato_model::Chain;
use ashiato_parquet::ExportOptions;
use ashiato_store::Store;
use clap::{Args, ValueEnum};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Parquet,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Store directory to read.
    #[arg(long)]
    store: PathBuf,
    /// Chain to export (account family: transfers, labels, incidents).
    #[arg(long)]
    chain: Chain,
    #[arg(long, value_enum, default_value_t = ExportFormat::Parquet)]
    format: ExportFormat,
    /// Output directory; must be new or empty.
    #[arg(long)]
    out: PathBuf,
    /// Rows per partition (closed at the next block boundary).
    #[arg(long, default_value_t = 1_000_000)]
    rows_per_part: usize,
}

pub fn run(a: ExportArgs, out: &mut impl std::io::Write) -> Result<()> {
    let ExportFormat::Parquet = a.format;
    let store =
        Store::open(&a.store).with_context(|| format!("opening store {}", a.store.display()))?;
    let m = ashiato_parquet::export(
        &store,
        &a.store,
        a.chain,
        &a.out,
        &ExportOptions {
            rows_per_part: a.rows_per_part,
        },
    )
    .with_context(|| format!("exporting {} to {}", a.chain, a.out.display()))?;
    writeln!(
        out,
        "{}: {} transfers in {} partition(s), {} labels, {} incidents",
        a.out.display(),
        m.transfers.rows,
        m.transfers.parts.len(),
        m.labels.rows,
        m.incidents.rows
    )?;
    Ok(())
}
