//! Errors of the qlog writer.
use thiserror::Error;

/// Why a qlog record could not be written.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum QlogError {
    /// The underlying writer failed.
    #[error("qlog: write failed: {0}")]
    Io(#[from] std::io::Error),
    /// An event could not be serialised.
    #[error("qlog: cannot serialise: {0}")]
    Json(#[from] serde_json::Error),
}
