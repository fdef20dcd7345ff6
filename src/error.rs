//! One error type for the engine.
//!
//! Variants are split by who can fix them: [`Error::is_user_error`] is true for problems the user
//! can act on (a missing model, a bad file, a wrong path); everything else is an internal failure.
//! Each variant has a stable [`Error::code`] that shells hand to their UIs.

use std::path::PathBuf;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A model file (or the ONNX Runtime library) is not where the catalog or config says.
    #[error("model file missing: {path} ({hint})")]
    ModelMissing {
        /// The file that was looked for.
        path: PathBuf,
        /// What to do about it.
        hint: String,
    },
    /// A model file exists but cannot be used (bad sha256, wrong shape, failed to load).
    #[error("model {name} cannot be used: {reason}")]
    ModelInvalid {
        /// Model id or path.
        name: String,
        /// Why.
        reason: String,
    },
    /// The configuration file or a setting is wrong.
    #[error("configuration error: {0}")]
    Config(String),
    /// The data directory cannot be created, read or written.
    #[error("data directory {path}: {reason}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The index on disk was made by an incompatible version or with another embedding model.
    #[error("index incompatible: {0}")]
    IndexIncompatible(String),
    /// A path given by the user does not exist or cannot be read.
    #[error("{path}: {reason}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file was read but its content cannot be indexed (empty, binary, no text layer...).
    #[error("{reason}")]
    Unsupported {
        /// Why the content cannot be indexed.
        reason: String,
    },
    /// A file or folder cannot be read (gone, permission denied, not a file...).
    #[error("{0}")]
    Unreadable(String),
    /// A reader crashed on this file (a bug in a parser, contained): the file is reported, the
    /// run goes on.
    #[error("the reader crashed on this file ({0}); it was skipped")]
    ReaderCrashed(String),
    /// A PDF is encrypted and cannot be read without a password.
    #[error("PDF is encrypted (password protected)")]
    EncryptedPdf,
    /// A PDF could not be parsed (truncated, corrupt) or its parser crashed.
    #[error("cannot read PDF: {0}")]
    CorruptPdf(String),
    /// The request itself is invalid (empty query, bad limit...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// Another process is writing to this library and the caller chose not to wait.
    #[error("library is busy (being written by {0}); try again when it is done")]
    Busy(String),
    /// An I/O error while reading a document.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The embedding model failed while running.
    #[error("embedding failed: {0}")]
    Embedding(String),
    /// The language model failed while generating.
    #[error("generation failed: {0}")]
    Generation(String),
    /// The vector store failed.
    #[error("store error: {0}")]
    Store(String),
    /// A model could not be downloaded (no connection, the index or a file is not as
    /// expected); what was downloaded so far is kept for the next try.
    #[error("download failed: {0}")]
    Download(String),
    /// A bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// A stable, machine-readable code for this error (used by the UI and the JSON outputs).
    pub fn code(&self) -> &'static str {
        match self {
            Error::ModelMissing { .. } => "model_missing",
            Error::ModelInvalid { .. } => "model_invalid",
            Error::Config(_) => "config",
            Error::DataDir { .. } => "data_dir",
            Error::IndexIncompatible(_) => "index_incompatible",
            Error::BadPath { .. } => "bad_path",
            Error::Unsupported { .. } => "unsupported_file",
            Error::Unreadable(_) => "unreadable",
            Error::ReaderCrashed(_) => "reader_crashed",
            Error::EncryptedPdf => "encrypted_pdf",
            Error::CorruptPdf(_) => "corrupt_pdf",
            Error::InvalidRequest(_) => "invalid_request",
            Error::Cancelled => "cancelled",
            Error::Busy(_) => "library_busy",
            Error::Io(_) => "io",
            Error::Embedding(_) => "embedding",
            Error::Generation(_) => "generation",
            Error::Store(_) => "store",
            Error::Download(_) => "download_failed",
            Error::Internal(_) => "internal",
        }
    }

    /// True when the user can fix the cause (as opposed to an internal failure).
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Embedding(_) | Error::Generation(_) | Error::Store(_) | Error::Internal(_)
        )
    }

    pub(crate) fn unsupported(reason: impl Into<String>) -> Self {
        Error::Unsupported {
            reason: reason.into(),
        }
    }
}

/// The message of a caught panic (`&str` and `String` payloads; anything else is "no message").
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_string())
}

/// Run `f`, turning a panic inside it into [`Error::ReaderCrashed`]: one file's bad bytes must
/// never take a whole run down, whichever reader they hit.
pub(crate) fn contain<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|panic| Err(Error::ReaderCrashed(panic_message(panic.as_ref()))))
}

impl From<lancedb::Error> for Error {
    fn from(e: lancedb::Error) -> Self {
        store_error(e.to_string())
    }
}

/// A store failure, in plain words where the cause is the disk's.
fn store_error(message: String) -> Error {
    let lower = message.to_ascii_lowercase();
    if lower.contains("no space left on device") || lower.contains("os error 28") {
        Error::Store(
            "the disk holding the library is full (no space left on device); the last complete \
             commit is kept — free some space and run it again"
                .into(),
        )
    } else if lower.contains("read-only file system") || lower.contains("os error 30") {
        Error::Store(
            "the library is on a read-only file system; searching works, indexing cannot".into(),
        )
    } else {
        Error::Store(message)
    }
}

impl From<arrow_schema::ArrowError> for Error {
    fn from(e: arrow_schema::ArrowError) -> Self {
        Error::Store(e.to_string())
    }
}
