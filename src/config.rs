//! Engine configuration. The shell builds a [`Config`] (from flags, its own defaults and the
//! optional `config.toml` in the data dir) and passes it in; the engine reads no environment.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::answer::AnswerConfig;
use crate::chunk::ChunkingConfig;
use crate::embed::EmbedderConfig;
pub use crate::extract::OcrConfig;

/// Everything the engine needs to open a library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Where the index lives.
    pub data_dir: PathBuf,
    /// Where catalog models are installed.
    pub models_dir: PathBuf,
    /// The embedding model.
    pub embedder: EmbedderConfig,
    /// Set when `[embedder] endpoint` names an OpenAI-compatible server that embeds instead of
    /// a local model (`embedder` then carries its id and token limit only). The engine speaks
    /// no HTTP: a shell builds that embedder and opens the library with it
    /// ([`crate::Library::open_with_embedder`]).
    pub embedder_endpoint: Option<EmbedderEndpoint>,
    /// The ONNX Runtime shared library.
    pub runtime_library: PathBuf,
    /// Chunk sizes.
    pub chunking: ChunkingConfig,
    /// Ingest limits.
    pub ingest: IngestConfig,
    /// Text recognition for scanned pages and images.
    pub ocr: OcrConfig,
    /// The language model.
    pub llm: LlmConfig,
    /// Answering (ask, chat).
    pub answer: AnswerConfig,
    /// What clients of the HTTP API (and MCP) may reach.
    pub api: ApiConfig,
}

/// `[api]`: what clients of the HTTP API may reach, besides the library's collections, the
/// desktop's watched folders and the documents already indexed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Folders (and files) clients may index; anything else gets `path_not_allowed`.
    pub allowed_roots: Vec<PathBuf>,
}

/// Which language model answers, and how much context it gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// A catalog id, the name of an imported model (`hearth models import`), or a path to a
    /// `.gguf` file. Empty or `auto`: chosen for this machine ([`crate::llm::speed`]).
    pub model: String,
    /// The automatic choice takes the best model whose first token is expected within this
    /// many seconds for a typical prompt on this machine (the quickest when none is).
    pub first_token_budget_s: f64,
    /// Context window (prompt + answer) in tokens; capped by what the model was trained for.
    pub context_window: usize,
    /// Draft answer tokens by prompt lookup and check them in one batch (speculative
    /// decoding). Changes speed only: greedy answers are the same token for token. On by
    /// default: on real manuals it makes the default model's answers 1.10–1.21x faster
    /// overall (those that copy their sources 1.4–1.5x) and the 1.5B's 1.06x (README).
    pub speculate: bool,
    /// An OpenAI-compatible server that answers instead of a local model, as its base URL
    /// (`http://127.0.0.1:8080/v1`: llama.cpp's llama-server, Ollama, vLLM). Empty: a local
    /// model. Retrieval, prompts, citation checks and the unknown-term and similarity gates stay
    /// in Hearth; the model's own "not in your documents" probability is not available.
    pub endpoint: String,
    /// The model name sent to the endpoint (Ollama: `qwen2.5:1.5b`; llama-server: any).
    pub endpoint_model: String,
    /// Sent as `Authorization: Bearer <key>` when set. Kept here, never read from the
    /// environment.
    pub endpoint_key: String,
    /// Seconds to wait for the endpoint: to connect, and between streamed pieces.
    pub endpoint_timeout_s: f64,
    /// A PEM file of certificates to trust for an `https://` endpoint besides the system's
    /// (a server with a certificate of its own). Empty: the system's only.
    pub endpoint_ca: String,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            model: String::new(),
            // the issue-30 target for time to first token; on the evaluation suite the 1.5B
            // answered 0.75 right against the 0.5B's 0.53, at 6.7 s against 2.7 s here, so a
            // machine about twice as fast in prefill gets the 1.5B
            first_token_budget_s: 3.5,
            context_window: 4096,
            speculate: true,
            endpoint: String::new(),
            endpoint_model: String::new(),
            endpoint_key: String::new(),
            endpoint_timeout_s: 120.0,
            endpoint_ca: String::new(),
        }
    }
}

/// Ingest settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Files larger than this are refused with a clear reason instead of being read (PDFs and
    /// images: four times this, see [`crate::extract::size_limit`]).
    pub max_file_mb: u64,
    /// Most files extracted and committed together (one atomic store write per batch).
    pub files_per_batch: usize,
    /// A batch is also closed once it holds this many chunks (bounds memory and the work a
    /// cancellation can discard).
    pub chunks_per_batch: usize,
    /// Row count from which a vector (ANN) index is built; below it search is exact.
    pub vector_index_min_rows: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_file_mb: 64,
            files_per_batch: 256,
            chunks_per_batch: 512,
            vector_index_min_rows: 10_000,
        }
    }
}

/// The optional `config.toml` in the data dir. Every field may be left out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// A custom ONNX embedding model instead of the catalog default, or another catalog id.
    pub embedder: Option<EmbedderChoice>,
    /// Chunk sizes.
    pub chunking: Option<ChunkingConfig>,
    /// Ingest limits.
    pub ingest: Option<IngestConfig>,
    /// Text recognition (OCR).
    pub ocr: Option<OcrConfig>,
    /// Path of another ONNX Runtime library.
    pub runtime_library: Option<PathBuf>,
    /// The language model.
    pub llm: Option<LlmConfig>,
    /// Answering.
    pub answer: Option<AnswerConfig>,
    /// What API clients may reach.
    pub api: Option<ApiConfig>,
}

/// An embedding model behind an OpenAI-compatible `/v1/embeddings` (Ollama, vLLM,
/// llama-server with `--embedding`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderEndpoint {
    /// Recorded in the index, so vectors of two models are never mixed (e.g.
    /// `nomic-embed-text`); also the model name sent, unless `endpoint_model` is set.
    pub id: String,
    /// Base URL, `http://127.0.0.1:11434/v1`.
    pub endpoint: String,
    /// The model name sent to the server (default: `id`).
    #[serde(default)]
    pub endpoint_model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    #[serde(default)]
    pub endpoint_key: String,
    /// Longest input in tokens (chunks are cut below it; tokens are counted as words and
    /// punctuation here, which errs low).
    #[serde(default = "remote_max_tokens")]
    pub max_tokens: usize,
    /// Seconds to wait for the server.
    #[serde(default = "remote_timeout")]
    pub endpoint_timeout_s: f64,
    /// A PEM file of certificates to trust for an `https://` endpoint besides the system's.
    #[serde(default)]
    pub endpoint_ca: String,
}

fn remote_max_tokens() -> usize {
    256
}

fn remote_timeout() -> f64 {
    120.0
}

/// `[embedder]` in `config.toml`: a catalog id, an OpenAI-compatible server, or the files of any
/// local ONNX model of the same shape (token vectors out, pooled here).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EmbedderChoice {
    /// `[embedder] catalog = "all-minilm-l6-v2-int8"`
    Catalog {
        /// Catalog id.
        catalog: String,
    },
    /// `[embedder] id = "nomic-embed-text", endpoint = "http://127.0.0.1:11434/v1"`
    Remote(EmbedderEndpoint),
    /// `[embedder] id = "...", onnx = "...", tokenizer_dir = "..."`
    Custom(EmbedderConfig),
}

/// Settings a UI may change; they are written into `<data dir>/config.toml`, keeping every other
/// key of that file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SettingsUpdate {
    /// New chunk sizes (used for files indexed from now on).
    pub chunking: Option<ChunkingConfig>,
    /// The language model: a catalog id, an imported model's name or a `.gguf` path; empty or
    /// `auto` means chosen for this machine.
    pub llm_model: Option<String>,
}

/// Whether a model setting asks for the automatic choice.
pub fn is_auto(model: &str) -> bool {
    model.is_empty() || model.eq_ignore_ascii_case("auto")
}
