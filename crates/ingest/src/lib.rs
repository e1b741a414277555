//! Readers of outside formats into the domain model. Every error names its place in the
//! input (file, line, column); nothing here writes a store.

pub mod csv;
pub mod mftracer;
pub mod synth;
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
