//! Engine configuration. The shell builds a [`Config`] (from flags, its own defaults and the
//! optional `config.toml` in the data dir) and passes it in; the engine reads no environment.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::answer::AnswerConfig;
use crate::catalog::Catalog;
use crate::chunk::ChunkingConfig;
use crate::embed::EmbedderConfig;
use crate::error::{Error, Result};
pub use crate::extract::OcrConfig;
use crate::llm::speed::{choose, AutoChoice, Candidate, Machine, SpeedTable};

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

impl Config {
    /// The name of the optional settings file inside the data dir.
    pub const FILE_NAME: &'static str = "config.toml";

    /// Defaults for a data dir and models dir, then `data_dir/config.toml` applied on top.
    pub fn load(data_dir: &Path, models_dir: &Path) -> Result<Config> {
        let catalog = Catalog::builtin();
        let mut config = Self::load_defaults(data_dir, models_dir)?;
        let path = data_dir.join(Self::FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(config),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let file: ConfigFile =
            toml::from_str(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        config.apply(file, &catalog)?;
        Ok(config)
    }

    /// The defaults for a data dir and models dir, without `config.toml`.
    fn load_defaults(data_dir: &Path, models_dir: &Path) -> Result<Config> {
        let catalog = Catalog::builtin();
        let default_embedder = catalog
            .default_of("embedder")
            .ok_or_else(|| Error::Internal("catalog has no default embedder".into()))?;
        let config = Config {
            data_dir: data_dir.to_path_buf(),
            models_dir: models_dir.to_path_buf(),
            embedder: catalog.embedder_config(&default_embedder.id, models_dir)?,
            embedder_endpoint: None,
            runtime_library: catalog.runtime_library(models_dir)?,
            chunking: ChunkingConfig::default(),
            ingest: IngestConfig::default(),
            ocr: OcrConfig::default(),
            llm: LlmConfig::default(),
            answer: AnswerConfig::default(),
            api: ApiConfig::default(),
        };
        Ok(config)
    }

    /// Write `update` into this data dir's `config.toml` and return the configuration it gives.
    /// The new file is checked before it replaces the old one; a bad value is refused and the
    /// old file is kept.
    pub fn save_settings(&self, update: &SettingsUpdate) -> Result<Config> {
        let path = self.data_dir.join(Self::FILE_NAME);
        let old = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )))
            }
        };
        let mut table: toml::Table =
            toml::from_str(&old).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        if let Some(c) = update.chunking {
            let mut t = toml::Table::new();
            t.insert(
                "chunk_tokens".into(),
                toml::Value::Integer(c.chunk_tokens as i64),
            );
            t.insert(
                "overlap_tokens".into(),
                toml::Value::Integer(c.overlap_tokens as i64),
            );
            table.insert("chunking".into(), toml::Value::Table(t));
        }
        if let Some(model) = &update.llm_model {
            let llm = table
                .entry("llm")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match llm {
                toml::Value::Table(t) => {
                    t.insert("model".into(), toml::Value::String(model.clone()));
                }
                _ => {
                    return Err(Error::Config(format!(
                        "{}: [llm] is not a table",
                        path.display()
                    )))
                }
            }
        }
        let text = toml::to_string(&table).map_err(|e| Error::Config(e.to_string()))?;
        // check the result before writing it
        let file: ConfigFile = toml::from_str(&text).map_err(|e| Error::Config(e.to_string()))?;
        let mut checked = Config::load_defaults(&self.data_dir, &self.models_dir)?;
        checked.apply(file, &Catalog::builtin())?;
        if !is_auto(update.llm_model.as_deref().unwrap_or("")) {
            let (_, path) = checked.llm_model(None)?;
            if !path.is_file() {
                return Err(Error::ModelMissing {
                    path,
                    hint: "give the path of a .gguf file that exists, or a catalog id".into(),
                });
            }
        }
        std::fs::create_dir_all(&self.data_dir).map_err(|e| Error::DataDir {
            path: self.data_dir.clone(),
            reason: e.to_string(),
        })?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &path)?;
        Ok(checked)
    }

    fn apply(&mut self, file: ConfigFile, catalog: &Catalog) -> Result<()> {
        match file.embedder {
            Some(EmbedderChoice::Catalog { catalog: id }) => {
                self.embedder = catalog.embedder_config(&id, &self.models_dir)?
            }
            Some(EmbedderChoice::Custom(custom)) => self.embedder = custom,
            Some(EmbedderChoice::Remote(remote)) => {
                self.embedder = EmbedderConfig {
                    id: remote.id.clone(),
                    model: PathBuf::new(),
                    tokenizer_dir: PathBuf::new(),
                    max_tokens: remote.max_tokens,
                    pooling: Default::default(),
                    batch_size: 32,
                    threads: 0,
                };
                self.embedder_endpoint = Some(remote);
            }
            None => {}
        }
        if let Some(c) = file.chunking {
            self.chunking = c;
        }
        if let Some(i) = file.ingest {
            self.ingest = i;
        }
        if let Some(o) = file.ocr {
            self.ocr = o;
        }
        if let Some(l) = file.llm {
            self.llm = l;
        }
        if let Some(a) = file.answer {
            self.answer = a;
        }
        if let Some(a) = file.api {
            self.api = a;
        }
        if let Some(lib) = file.runtime_library {
            self.runtime_library = lib;
        }
        self.validate()
    }

    /// Check settings that would otherwise fail later in confusing ways.
    pub fn validate(&self) -> Result<()> {
        let langs_ok =
            !self.ocr.languages.is_empty()
                && self.ocr.languages.split('+').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                });
        if !langs_ok {
            return Err(Error::Config(format!(
                "ocr.languages must be Tesseract language codes joined by '+' (e.g. \"eng+deu\"), got {:?}",
                self.ocr.languages
            )));
        }
        if !(70..=600).contains(&self.ocr.dpi) {
            return Err(Error::Config(format!(
                "ocr.dpi must be between 70 and 600, got {}",
                self.ocr.dpi
            )));
        }
        let max_chunk = self.embedder.max_tokens.saturating_sub(2);
        if self.chunking.chunk_tokens < 16 || self.chunking.chunk_tokens > max_chunk {
            return Err(Error::Config(format!(
                "chunking.chunk_tokens must be between 16 and {max_chunk} (the model's {} tokens minus 2), got {}",
                self.embedder.max_tokens, self.chunking.chunk_tokens
            )));
        }
        if self.chunking.overlap_tokens * 2 > self.chunking.chunk_tokens {
            return Err(Error::Config(
                "chunking.overlap_tokens must be at most half of chunk_tokens".into(),
            ));
        }
        if self.ingest.files_per_batch == 0
            || self.ingest.chunks_per_batch == 0
            || self.ingest.max_file_mb == 0
        {
            return Err(Error::Config(
                "ingest.files_per_batch, chunks_per_batch and max_file_mb must be positive".into(),
            ));
        }
        let budget = self.llm.first_token_budget_s;
        if !(budget.is_finite() && budget > 0.0) {
            return Err(Error::Config(
                "llm.first_token_budget_s must be a positive number of seconds".into(),
            ));
        }
        if let Some(remote) = &self.embedder_endpoint {
            let ok = url::Url::parse(remote.endpoint.trim())
                .is_ok_and(|u| u.scheme() == "http" && u.host_str().is_some());
            if !ok || remote.id.trim().is_empty() {
                return Err(Error::Config(format!(
                    "embedder.endpoint must be an http:// base URL such as \
                     \"http://127.0.0.1:11434/v1\", with an id naming the model (https is not \
                     supported), got {:?}",
                    remote.endpoint
                )));
            }
        }
        let endpoint = self.llm.endpoint.trim();
        if !endpoint.is_empty() {
            let ok = url::Url::parse(endpoint)
                .is_ok_and(|u| u.scheme() == "http" && u.host_str().is_some());
            if !ok {
                return Err(Error::Config(format!(
                    "llm.endpoint must be an http:// base URL such as \"http://127.0.0.1:8080/v1\" \
                     (https is not supported: reach a remote server through an SSH tunnel or a \
                     local proxy), got {endpoint:?}"
                )));
            }
            let t = self.llm.endpoint_timeout_s;
            if !(t.is_finite() && t > 0.0) {
                return Err(Error::Config(
                    "llm.endpoint_timeout_s must be a positive number of seconds".into(),
                ));
            }
        }
        if self.llm.context_window < 512 {
            return Err(Error::Config(
                "llm.context_window must be at least 512".into(),
            ));
        }
        if self.answer.passages == 0 || self.answer.source_tokens < 64 {
            return Err(Error::Config(
                "answer.passages must be positive and answer.source_tokens at least 64".into(),
            ));
        }
        let q = self.answer.min_quote_score;
        if q.is_nan() || q < 0.0 {
            return Err(Error::Config(
                "answer.min_quote_score must be a number from 0 (always quote when the model's \
                 answer fails the check) up; above 2 Hearth never quotes"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The language model to load: its display name and GGUF path (`choice` overrides the
    /// configured one). Resolves catalog ids, imported names and file paths.
    pub fn llm_model(&self, choice: Option<&str>) -> Result<(String, PathBuf)> {
        let catalog = Catalog::builtin();
        let want = choice.unwrap_or(&self.llm.model);
        if is_auto(want) {
            if let Some(c) = self.auto_llm() {
                return Ok((c.id, c.path));
            }
            let m = catalog
                .default_of("llm")
                .ok_or_else(|| Error::Internal("catalog has no default llm".into()))?;
            return catalog.llm_path(&m.id, &self.models_dir);
        }
        if let Some(m) = catalog.get(want).filter(|m| m.kind == "llm") {
            return catalog.llm_path(&m.id, &self.models_dir);
        }
        let imported = crate::catalog::imported_path(&self.models_dir, want);
        if imported.is_file() {
            return Ok((want.to_string(), imported));
        }
        let path = PathBuf::from(want);
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
            || path.is_file()
        {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| want.to_string());
            return Ok((name, path));
        }
        let known: Vec<String> = catalog
            .models
            .iter()
            .filter(|m| m.kind == "llm")
            .map(|m| m.id.clone())
            .chain(
                crate::catalog::imported(&self.models_dir)
                    .into_iter()
                    .map(|(n, _)| n),
            )
            .collect();
        Err(Error::Config(format!(
            "unknown model '{want}' (known: {}; or give a path to a .gguf file)",
            known.join(", ")
        )))
    }
}

/// Whether a model setting asks for the automatic choice.
pub fn is_auto(model: &str) -> bool {
    model.is_empty() || model.eq_ignore_ascii_case("auto")
}

impl Config {
    /// Whether the language model is chosen for this machine (no model set).
    pub fn llm_is_auto(&self) -> bool {
        is_auto(&self.llm.model)
    }

    /// The installed catalog models the automatic choice may take, with this machine's
    /// measurements where taken.
    pub fn answer_candidates(&self) -> Vec<Candidate> {
        let table = SpeedTable::load(&self.models_dir);
        let machine = Machine::this();
        let catalog = Catalog::builtin();
        catalog
            .installed(&self.models_dir)
            .into_iter()
            .filter(|m| m.installed && m.model.kind == "llm")
            .filter_map(|m| {
                let rank = m.model.rank?;
                let (id, path) = catalog.llm_path(&m.model.id, &self.models_dir).ok()?;
                let speed = table.get(&id, m.size, &machine).cloned();
                Some(Candidate {
                    id,
                    path,
                    rank,
                    speed,
                })
            })
            .collect()
    }

    /// The model the automatic choice takes now, and why; `None` when no ranked model is
    /// installed.
    pub fn auto_llm(&self) -> Option<AutoChoice> {
        let catalog = Catalog::builtin();
        let default = catalog
            .default_of("llm")
            .map(|m| m.id.as_str())
            .unwrap_or("");
        choose(
            &self.answer_candidates(),
            self.llm.first_token_budget_s,
            default,
        )
    }

    /// Candidates of the automatic choice not yet measured on this machine: the shells measure
    /// them ([`crate::llm::speed::measure`]) before the automatic choice loads a model.
    pub fn unmeasured_answerers(&self) -> Vec<(String, PathBuf)> {
        self.answer_candidates()
            .into_iter()
            .filter(|c| c.speed.is_none())
            .map(|c| (c.id, c.path))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::llm::speed::Speed;

    /// "Install" a catalog model as a sparse file of its catalog size.
    fn install(models: &Path, id: &str) -> u64 {
        let m = Catalog::builtin().get(id).unwrap().clone();
        let f = &m.files[0];
        std::fs::create_dir_all(models.join(id)).unwrap();
        std::fs::File::create(models.join(id).join(&f.name))
            .unwrap()
            .set_len(f.size)
            .unwrap();
        f.size
    }

    fn measured(models: &Path, id: &str, size: u64, prefill: f64) {
        SpeedTable::record(
            models,
            Speed {
                model: id.into(),
                file_size: size,
                machine: Machine::this(),
                prefill_tok_s: prefill,
                decode_tok_s: 20.0,
                load_s: 1.0,
                measured_at: 0,
            },
        )
        .unwrap();
    }

    #[test]
    fn the_answerer_is_chosen_for_this_machine_unless_one_is_set() {
        let data = tempfile::tempdir().unwrap();
        let models = tempfile::tempdir().unwrap();
        let (small, big) = (
            "qwen2.5-coder-0.5b-instruct-q4km",
            "qwen2.5-coder-1.5b-instruct-q4km",
        );
        let small_size = install(models.path(), small);
        let big_size = install(models.path(), big);
        install(models.path(), "smollm2-135m-instruct-q4_1"); // unranked: never chosen
        let config = Config::load(data.path(), models.path()).unwrap();
        assert!(config.llm_is_auto());
        // nothing measured: the catalog default, and both ranked models wait for a measurement
        assert_eq!(config.llm_model(None).unwrap().0, small);
        let mut todo: Vec<String> = config
            .unmeasured_answerers()
            .into_iter()
            .map(|m| m.0)
            .collect();
        todo.sort();
        assert_eq!(todo, [small, big]);
        // a fast machine: the 1.5B starts within the 3 s budget (400/200 + 1/20 s)
        measured(models.path(), small, small_size, 600.0);
        measured(models.path(), big, big_size, 200.0);
        assert!(config.unmeasured_answerers().is_empty());
        assert_eq!(config.llm_model(None).unwrap().0, big);
        assert_eq!(config.llm_model(Some("auto")).unwrap().0, big);
        // a slow one: nothing fits, the quickest answers
        measured(models.path(), small, small_size, 90.0);
        measured(models.path(), big, big_size, 30.0);
        let choice = config.auto_llm().unwrap();
        assert_eq!(choice.id, small);
        assert!(choice.reason.contains("quickest"), "{}", choice.reason);
        // a bigger budget lets the 1.5B answer again
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[llm]\nfirst_token_budget_s = 20\n",
        )
        .unwrap();
        let config = Config::load(data.path(), models.path()).unwrap();
        assert_eq!(config.llm_model(None).unwrap().0, big);
        // a model set in the settings wins, and `auto` hands the choice back
        let config = config
            .save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some(small.into()),
            })
            .unwrap();
        assert!(!config.llm_is_auto());
        assert_eq!(config.llm_model(None).unwrap().0, small);
        let config = config
            .save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some("auto".into()),
            })
            .unwrap();
        assert_eq!(config.llm_model(None).unwrap().0, big);
        // a path to a file that is not there is refused, the settings unchanged
        let err = config
            .save_settings(&SettingsUpdate {
                chunking: None,
                llm_model: Some("/no/such/model.gguf".into()),
            })
            .unwrap_err();
        assert!(matches!(err, Error::ModelMissing { .. }), "{err}");
        let config = Config::load(data.path(), models.path()).unwrap();
        assert!(config.llm_is_auto());
        // a changed model file is measured again
        std::fs::File::options()
            .write(true)
            .open(models.path().join(big).join("model.gguf"))
            .unwrap()
            .set_len(big_size - 1)
            .unwrap();
        assert_eq!(
            config.llm_model(None).unwrap().0,
            small,
            "the 1.5B is no longer installed"
        );
        // a bad budget is refused
        std::fs::write(
            data.path().join(Config::FILE_NAME),
            "[llm]\nfirst_token_budget_s = 0\n",
        )
        .unwrap();
        let err = Config::load(data.path(), models.path()).unwrap_err();
        assert!(err.to_string().contains("first_token_budget_s"), "{err}");
    }

    #[test]
    fn settings_are_saved_into_config_toml_keeping_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "[ingest]\nmax_file_mb = 7\n").unwrap();
        let c = Config::load(dir.path(), Path::new("/models")).unwrap();
        let update = SettingsUpdate {
            chunking: Some(ChunkingConfig {
                chunk_tokens: 120,
                overlap_tokens: 20,
            }),
            llm_model: None,
        };
        let saved = c.save_settings(&update).unwrap();
        assert_eq!(saved.chunking.chunk_tokens, 120);
        let reloaded = Config::load(dir.path(), Path::new("/models")).unwrap();
        assert_eq!(reloaded.chunking.overlap_tokens, 20);
        assert_eq!(reloaded.ingest.max_file_mb, 7, "other keys are kept");

        // a bad value is refused and the file is left as it was
        let before = std::fs::read_to_string(&file).unwrap();
        let bad = SettingsUpdate {
            chunking: Some(ChunkingConfig {
                chunk_tokens: 100,
                overlap_tokens: 90,
            }),
            llm_model: None,
        };
        let err = reloaded.save_settings(&bad).unwrap_err();
        assert!(err.to_string().contains("overlap_tokens"), "{err}");
        let unknown = SettingsUpdate {
            chunking: None,
            llm_model: Some("no-such-model".into()),
        };
        assert!(reloaded.save_settings(&unknown).is_err());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);
    }

    #[test]
    fn config_file_overrides_defaults_and_custom_embedder() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config::load(dir.path(), Path::new("/models")).unwrap();
        assert_eq!(c.embedder.id, "all-minilm-l6-v2");
        std::fs::write(
            dir.path().join("config.toml"),
            "[embedder]\nid = \"my-e5\"\nonnx = \"/x/model.onnx\"\ntokenizer_dir = \"/x\"\nmax_tokens = 512\npooling = \"cls\"\n\n[chunking]\nchunk_tokens = 300\noverlap_tokens = 40\n",
        )
        .unwrap();
        let c = Config::load(dir.path(), Path::new("/models")).unwrap();
        assert_eq!(c.embedder.id, "my-e5");
        assert_eq!(c.embedder.max_tokens, 512);
        assert_eq!(c.chunking.chunk_tokens, 300);
        std::fs::write(
            dir.path().join("config.toml"),
            "[chunking]\nchunk_tokens = 9000\n",
        )
        .unwrap();
        let err = Config::load(dir.path(), Path::new("/models")).unwrap_err();
        assert!(err.to_string().contains("chunk_tokens"), "{err}");
        std::fs::write(
            dir.path().join("config.toml"),
            "[chunking]\nchunk_size = 9\n",
        )
        .unwrap();
        assert_eq!(
            Config::load(dir.path(), Path::new("/models"))
                .unwrap_err()
                .code(),
            "config"
        );
    }
}
