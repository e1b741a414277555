//! Readers of outside formats into the domain model. Every error names its place in the
//! input (file, line, column); nothing here writes a store.

pub mod bitfinex;
pub mod csv;
pub mod mftracer;
pub mod synth;
pub mod synth_fit;
pub mod synth_utxo;
pub mod taintedtx;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A bad field: `file:line: column "name": why`.
    #[error("{file}:{line}: column {column:?}: {why}")]
    Field {
        file: String,
        line: u64,
        column: &'static str,
        why: String,
    },
    /// A bad row or header as a whole.
    #[error("{file}:{line}: {why}")]
    Row {
        file: String,
        line: u64,
        why: String,
    },
    /// Data that is well-formed field by field but inconsistent as a whole.
    #[error("{file}: {why}")]
    Inconsistent { file: String, why: String },
    /// The consumer of the rows stopped the read (its own error says why).
    #[error("stopped by the consumer")]
    Aborted,
}

impl IngestError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IngestError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Calls `f(line, record)` for every record of a CSV file whose header must be exactly
/// `header`; a record the reader cannot split is an error naming the file and line.
pub(crate) fn for_each_record(
    path: &std::path::Path,
    header: &[&str],
    mut f: impl FnMut(u64, &::csv::StringRecord) -> Result<(), IngestError>,
) -> Result<(), IngestError> {
    let mut r = open_with_header(path, header)?;
    for rec in r.records() {
        let rec = rec.map_err(|e| IngestError::Row {
            file: path.display().to_string(),
            line: e.position().map_or(0, |p| p.line()),
            why: e.to_string(),
        })?;
        f(rec.position().map_or(0, |p| p.line()), &rec)?;
    }
    Ok(())
}

/// Opens a CSV file whose header must be exactly `header`.
fn open_with_header(
    path: &std::path::Path,
    header: &[&str],
) -> Result<::csv::Reader<std::fs::File>, IngestError> {
    let file = path.display().to_string();
    let row_err = |e: ::csv::Error| IngestError::Row {
        file: file.clone(),
        line: 1,
        why: e.to_string(),
    };
    let mut r = ::csv::Reader::from_path(path).map_err(row_err)?;
    let got: Vec<String> = r
        .headers()
        .map_err(row_err)?
        .iter()
        .map(str::to_owned)
        .collect();
    if got != header {
        return Err(IngestError::Row {
            file,
            line: 1,
            why: format!(
                "header must be `{}`, found `{}`",
                header.join(","),
                got.join(",")
            ),
        });
    }
    Ok(r)
}
