//! # Hearth engine
//!
//! Local, private retrieval over a person's own documents. Files are read ([`extract`]), cut
//! into token-bounded chunks that remember their file, page and heading ([`chunk`]), embedded by
//! a local sentence encoder ([`embed`]) and kept in an on-disk LanceDB index ([`store`]) that
//! is searched by vector, full text, or both fused ([`retrieve`]). [`ingest`] orchestrates the
//! pipeline incrementally; [`Library`] is the front door the desktop app, the CLI and the HTTP
//! API call. The engine reads no environment variables and owns no runtime: shells pass a
//! [`Config`] in and drive it from their tokio runtime.
//!
//! See `ARCHITECTURE.md` at the repository root for the data flow.
#![deny(missing_docs)]

pub mod answer;
pub mod cancel;
pub mod catalog;
pub mod chunk;
pub mod collections;
pub mod config;
pub mod durable;
pub mod embed;
pub mod encoder;
pub mod error;
pub mod extract;
pub mod ingest;
mod lexical;
mod library;
pub mod llm;
pub mod lock;
pub mod rebuild;
pub mod retrieve;
pub mod settings;
pub mod store;
pub mod watch;

pub use answer::{Answer, AnswerConfig, AnswerEvent, Citation, Summary, SummaryEvent};
pub use cancel::Cancel;
pub use catalog::{Catalog, InstalledModel};
pub use config::{Config, OcrConfig};
pub use embed::{Embedder, EmbedderConfig, OnnxEmbedder};
pub use error::{Error, Result};
pub use ingest::{FailedFile, IngestEvent, IngestReport};
pub use library::{status, Library, PageText, SearchTimings, Status, WriteGuard};
pub use llm::{GenerateParams, Generation, Generator, Llm, LlmInfo, Message, Role};
pub use retrieve::{Hit, SearchMode, SearchRequest};
pub use watch::{FolderState, WatchControl, WatchEvent, WatchOptions};
