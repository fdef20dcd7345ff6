//! Sentence embeddings: the [`Embedder`] swap point and its ONNX implementation (fastembed on
//! ONNX Runtime, loaded from a library path the shell passes in — no downloads, no env vars).

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, TryLockError};

use serde::{Deserialize, Serialize};

use crate::chunk::Tokenize;
use crate::error::{Error, Result};

/// Turns text into unit-length vectors. Implementations must be deterministic for a given model.
/// Its [`Tokenize`] impl splits text the way the model does (chunk sizes are counted with it).
pub trait Embedder: Tokenize + Send + Sync {
    /// Identifies the model; an index remembers it and refuses vectors from another model.
    fn id(&self) -> &str;
    /// Vector dimension.
    fn dim(&self) -> usize;
    /// Longest input in tokens (special tokens included) before the model truncates.
    fn max_tokens(&self) -> usize;
    /// Embed a batch of texts; one L2-normalised vector each, in order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>>;
}

/// How token vectors are pooled into one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over tokens (sentence-transformers models such as all-MiniLM-L6-v2).
    #[default]
    Mean,
    /// The first ([CLS]) token (BGE-style models).
    Cls,
}

/// Where an ONNX embedding model's files are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderConfig {
    /// Name recorded in the index (e.g. `all-minilm-l6-v2`).
    pub id: String,
    /// The weights: a BERT-family `.safetensors` file (run by Hearth's own encoder,
    /// [`crate::encoder`], with `config.json` from `tokenizer_dir`), or any `.onnx` file
    /// (inputs `input_ids`, `attention_mask`, optional `token_type_ids`; output token vectors
    /// `[batch, tokens, dim]`), run by ONNX Runtime. Written `onnx = ...` in older configs.
    #[serde(alias = "onnx")]
    pub model: PathBuf,
    /// Folder with `tokenizer.json` (and optionally `config.json`, `special_tokens_map.json`,
    /// `tokenizer_config.json`).
    pub tokenizer_dir: PathBuf,
    /// Longest input in tokens.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: usize,
    /// Pooling of token vectors.
    #[serde(default)]
    pub pooling: Pooling,
    /// Texts per ONNX run.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Threads ONNX Runtime uses (0 = all cores).
    #[serde(default)]
    pub threads: usize,
}

fn default_max_tokens() -> usize {
    256
}
fn default_batch() -> usize {
    32
}

/// An ONNX sentence encoder run by fastembed on a dynamically loaded ONNX Runtime.
pub struct OnnxEmbedder {
    id: String,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    model: Mutex<fastembed::TextEmbedding>,
    /// A second session on the same weights for short requests (search queries) that arrive
    /// while `model` is busy with a bulk batch, so a query never waits behind an ingest.
    /// Created the first time it is needed.
    query_model: OnceLock<Mutex<fastembed::TextEmbedding>>,
    /// What the query session is made from (taken when it is created).
    spare: Mutex<
        Option<(
            fastembed::UserDefinedEmbeddingModel,
            fastembed::InitOptionsUserDefined,
        )>,
    >,
    tokenizer: tokenizers::Tokenizer,
}

impl std::fmt::Debug for OnnxEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxEmbedder")
            .field("id", &self.id)
            .field("dim", &self.dim)
            .finish()
    }
}

pub(crate) fn read_model_file(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::ModelMissing {
            path: path.to_path_buf(),
            hint: format!("{what} not found; run `hearth models fetch` (or `python3 models/fetch.py`), or fix the config"),
        },
        _ => Error::ModelInvalid {
            name: path.display().to_string(),
            reason: e.to_string(),
        },
    })
}

static ONNX_ENV: std::sync::OnceLock<ort::environment::Environment> = std::sync::OnceLock::new();

/// Load ONNX Runtime from `library` and create the process's one ONNX Runtime environment
/// (idempotent: later calls return the same environment).
pub fn load_onnx_runtime(library: &Path) -> Result<ort::environment::Environment> {
    if let Some(env) = ONNX_ENV.get() {
        return Ok(env.clone());
    }
    if !library.is_file() {
        return Err(Error::ModelMissing {
            path: library.to_path_buf(),
            hint: "ONNX Runtime library not found; run `hearth models fetch` (or `python3 models/fetch.py`)".into(),
        });
    }
    let invalid = |reason: String| Error::ModelInvalid {
        name: library.display().to_string(),
        reason,
    };
    let env = ort::init_from(library)
        .map_err(|e| invalid(format!("cannot load ONNX Runtime: {e}")))?
        .with_name("hearth")
        .build()
        .map_err(|e| invalid(format!("cannot start ONNX Runtime: {e}")))?;
    Ok(ONNX_ENV.get_or_init(|| env).clone())
}

impl OnnxEmbedder {
    /// Load the model. `runtime_library` is the `libonnxruntime.so` to use.
    pub fn load(cfg: &EmbedderConfig, runtime_library: &Path) -> Result<Self> {
        let env = load_onnx_runtime(runtime_library)?;
        let onnx = read_model_file(&cfg.model, "ONNX embedding model")?;
        let dir = &cfg.tokenizer_dir;
        let tokenizer_json = read_model_file(&dir.join("tokenizer.json"), "tokenizer.json")?;
        let invalid = |reason: String| Error::ModelInvalid {
            name: cfg.id.clone(),
            reason,
        };
        let mut tokenizer = tokenizers::Tokenizer::from_bytes(&tokenizer_json)
            .map_err(|e| invalid(format!("bad tokenizer.json: {e}")))?;
        let optional = |name: &str| std::fs::read(dir.join(name)).ok();
        let files = fastembed::TokenizerFiles {
            tokenizer_file: tokenizer_json.clone(),
            config_file: optional("config.json").unwrap_or_else(|| b"{}".to_vec()),
            special_tokens_map_file: optional("special_tokens_map.json")
                .unwrap_or_else(|| b"{}".to_vec()),
            tokenizer_config_file: complete_tokenizer_config(
                optional("tokenizer_config.json"),
                &tokenizer,
                cfg.max_tokens,
            )
            .map_err(invalid)?,
        };
        let pooling = match cfg.pooling {
            Pooling::Mean => fastembed::Pooling::Mean,
            Pooling::Cls => fastembed::Pooling::Cls,
        };
        let model = fastembed::UserDefinedEmbeddingModel::new(onnx, files).with_pooling(pooling);
        let mut options = fastembed::InitOptionsUserDefined::new()
            .with_environment(env)
            .with_max_length(cfg.max_tokens);
        if cfg.threads > 0 {
            options = options.with_intra_threads(cfg.threads);
        }
        let spare = (model.clone(), options.clone());
        let mut model = fastembed::TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| invalid(e.to_string()))?;
        let probe = model
            .embed(vec!["dimension probe"], None)
            .map_err(|e| invalid(format!("test embedding failed: {e}")))?;
        let dim = probe.first().map(|v| v.len()).unwrap_or(0);
        if dim == 0 {
            return Err(invalid("model returned an empty vector".into()));
        }
        tokenizer
            .with_truncation(None)
            .map_err(|e| invalid(e.to_string()))?;
        tokenizer.with_padding(None);
        Ok(OnnxEmbedder {
            id: cfg.id.clone(),
            dim,
            max_tokens: cfg.max_tokens,
            batch_size: cfg.batch_size.max(1),
            model: Mutex::new(model),
            query_model: OnceLock::new(),
            spare: Mutex::new(Some(spare)),
            tokenizer,
        })
    }
}

/// fastembed wants `model_max_length` and `pad_token` in `tokenizer_config.json`; many models
/// ship only `tokenizer.json`. Fill what is missing from the model's own tokenizer.
fn complete_tokenizer_config(
    file: Option<Vec<u8>>,
    tokenizer: &tokenizers::Tokenizer,
    max_tokens: usize,
) -> std::result::Result<Vec<u8>, String> {
    let mut config: serde_json::Value = match file {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("tokenizer_config.json is not valid JSON: {e}"))?,
        None => serde_json::json!({}),
    };
    let map = config
        .as_object_mut()
        .ok_or("tokenizer_config.json is not a JSON object")?;
    if !map.get("model_max_length").is_some_and(|v| v.is_number()) {
        map.insert("model_max_length".into(), max_tokens.into());
    }
    let has_pad = map
        .get("pad_token")
        .is_some_and(|v| v.is_string() || v["content"].is_string());
    if !has_pad {
        let from_padding = tokenizer.get_padding().map(|p| p.pad_token.clone());
        let pad = from_padding
            .into_iter()
            .chain(["[PAD]", "<pad>", "<|endoftext|>", "</s>"].map(String::from))
            .find(|t| tokenizer.token_to_id(t).is_some())
            .ok_or("the tokenizer has no padding token ([PAD], <pad>, ...)")?;
        map.insert("pad_token".into(), pad.into());
    }
    serde_json::to_vec(&config).map_err(|e| e.to_string())
}

impl Embedder for OnnxEmbedder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        self.embed_texts(texts)
    }
}

impl Tokenize for OnnxEmbedder {
    fn token_spans(&self, text: &str) -> Vec<Range<usize>> {
        token_spans(&self.tokenizer, text)
    }
}

/// The byte spans of `text`'s tokens (no special tokens; empty pieces left out), as a
/// [`Tokenize`] implementation reports them; none if the tokenizer fails on the text.
pub(crate) fn token_spans(tokenizer: &tokenizers::Tokenizer, text: &str) -> Vec<Range<usize>> {
    match tokenizer.encode(text, false) {
        Ok(enc) => enc
            .get_offsets()
            .iter()
            .filter(|(s, e)| e > s)
            .map(|(s, e)| *s..*e)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Requests of at most this many texts may use the query session.
const QUERY_LANE_MAX: usize = 4;

/// Requests of at most this many texts (an answer's evidence sentences) are embedded in batches
/// of [`SMALL_BATCH`]: texts of mixed length padded to the longest cost more than the batching
/// saves. 25 sentences took 200–235 ms in one batch of 32, 110–123 ms in batches of 4 (131–136
/// ms in 8; 1 and 2 no faster).
const SMALL_REQUEST: usize = 64;
const SMALL_BATCH: usize = 4;

impl OnnxEmbedder {
    fn query_session(&self) -> Result<&Mutex<fastembed::TextEmbedding>> {
        if let Some(q) = self.query_model.get() {
            return Ok(q);
        }
        let mut spare = self
            .spare
            .lock()
            .map_err(|_| Error::Internal("embedder lock poisoned".into()))?;
        // the ingredients are kept until a session is made, so a failure can be retried
        if let Some((model, options)) = spare.as_ref() {
            let session =
                fastembed::TextEmbedding::try_new_from_user_defined(model.clone(), options.clone())
                    .map_err(|e| Error::Embedding(format!("query session: {e}")))?;
            let _ = self.query_model.set(Mutex::new(session));
            *spare = None;
        }
        self.query_model
            .get()
            .ok_or_else(|| Error::Internal("query session unavailable".into()))
    }

    fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        // Batches of similar length waste less work on padding: sort by length, embed, unsort.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let sorted: Vec<&str> = order.iter().map(|&i| texts[i].as_str()).collect();
        let batch = if texts.len() <= SMALL_REQUEST {
            self.batch_size.min(SMALL_BATCH)
        } else {
            self.batch_size
        };
        let embed = |model: &mut fastembed::TextEmbedding| {
            model
                .embed(&sorted, Some(batch))
                .map_err(|e| Error::Embedding(e.to_string()))
        };
        let poisoned = || Error::Internal("embedder lock poisoned".into());
        let vectors = if texts.len() > QUERY_LANE_MAX {
            embed(&mut *self.model.lock().map_err(|_| poisoned())?)?
        } else {
            match self.model.try_lock() {
                Ok(mut model) => embed(&mut model)?,
                Err(TryLockError::Poisoned(_)) => return Err(poisoned()),
                // the bulk session is busy (an ingest batch): use the query session
                Err(TryLockError::WouldBlock) => {
                    embed(&mut *self.query_session()?.lock().map_err(|_| poisoned())?)?
                }
            }
        };
        let mut out = vec![Vec::new(); texts.len()];
        for (vector, &i) in vectors.into_iter().zip(&order) {
            out[i] = vector;
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod fake {
    use super::*;

    /// A tiny deterministic embedder for logic tests: hashed bag of words, normalised.
    pub struct HashEmbedder;

    impl Tokenize for HashEmbedder {
        fn token_spans(&self, text: &str) -> Vec<Range<usize>> {
            crate::chunk::tests::Words.token_spans(text)
        }
    }

    impl Embedder for HashEmbedder {
        fn id(&self) -> &str {
            "hash-test"
        }
        fn dim(&self) -> usize {
            64
        }
        fn max_tokens(&self) -> usize {
            256
        }
        fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
            Ok(texts
                .iter()
                .map(|t| {
                    let mut v = vec![0f32; 64];
                    for w in t.split_whitespace() {
                        let h = w
                            .to_lowercase()
                            .bytes()
                            .fold(1469598103934665603u64, |h, b| {
                                (h ^ b as u64).wrapping_mul(1099511628211)
                            });
                        v[(h % 64) as usize] += 1.0;
                    }
                    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                    v.iter().map(|x| x / n).collect()
                })
                .collect())
        }
    }
}
