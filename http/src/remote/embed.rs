//! [`RemoteEmbedder`]: an [`Embedder`] whose vectors come from an OpenAI-compatible
//! `/v1/embeddings`.

use std::ops::Range;

use hearth::chunk::Tokenize;
use hearth::config::EmbedderEndpoint;
use hearth::{Cancel, Embedder, Error, Result};
use reqwest::Method;
use serde_json::{json, Value};

use super::Endpoint;

/// An embedding model behind an OpenAI-compatible `/v1/embeddings` (`[embedder] endpoint`).
/// Its dimension is asked of the server when it is made; vectors come back L2-normalised.
/// Tokens for chunk sizes are words and punctuation marks (the server's tokenizer is not at
/// hand; a model token is rarely longer than a word, so chunks stay under its limit).
#[derive(Debug, Clone)]
pub struct RemoteEmbedder {
    pub(super) endpoint: Endpoint,
    pub(super) id: String,
    pub(super) model: String,
    pub(super) dim: usize,
    pub(super) max_tokens: usize,
}

/// Texts per embeddings request.
const EMBED_BATCH: usize = 64;

impl RemoteEmbedder {
    /// Connects to the server of `cfg` and learns the vector size from one embedding.
    pub fn new(cfg: &EmbedderEndpoint) -> Result<Self> {
        let endpoint = Endpoint::new(
            "embedder.endpoint",
            &cfg.endpoint,
            &cfg.endpoint_key,
            &cfg.endpoint_ca,
            cfg.endpoint_timeout_s,
        )?;
        let model = if cfg.endpoint_model.trim().is_empty() {
            cfg.id.trim().to_string()
        } else {
            cfg.endpoint_model.trim().to_string()
        };
        let mut e = Self {
            endpoint,
            id: cfg.id.trim().to_string(),
            model,
            dim: 0,
            max_tokens: cfg.max_tokens.max(16),
        };
        let probe = e.request(&["dimension probe".to_string()])?;
        e.dim = probe.first().map_or(0, Vec::len);
        if e.dim == 0 {
            return Err(Error::Embedding(format!(
                "the embedding server at {} gave an empty vector",
                e.endpoint.base
            )));
        }
        Ok(e)
    }

    fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let body = serde_json::to_vec(&json!({ "model": self.model, "input": texts }))
            .map_err(|e| Error::Internal(e.to_string()))?;
        let at = &self.endpoint;
        let reply = at
            .with_retries(&Cancel::new(), || {
                let (status, reply) = at.fetch(Method::POST, "/embeddings", Some(body.clone()))?;
                if status != 200 {
                    return Err(at.refusal(status, &reply));
                }
                Ok(reply)
            })
            .map_err(|e| Error::Embedding(e.to_string()))?;
        let garbage = || Error::Embedding(at.garbage(&reply).to_string());
        let v: Value = serde_json::from_slice(&reply).map_err(|_| garbage())?;
        let data = v["data"].as_array().ok_or_else(garbage)?;
        let mut out: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        for (i, item) in data.iter().enumerate() {
            let at = item["index"].as_u64().map_or(i, |n| n as usize);
            let vector: Vec<f32> = item["embedding"]
                .as_array()
                .ok_or_else(garbage)?
                .iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<_>>()
                .ok_or_else(garbage)?;
            if let Some(slot) = out.get_mut(at) {
                *slot = Some(normalised(vector));
            }
        }
        out.into_iter()
            .map(|v| v.ok_or_else(garbage))
            .collect::<Result<Vec<_>>>()
    }
}

pub(super) fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl Tokenize for RemoteEmbedder {
    fn token_spans(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        let mut word: Option<usize> = None;
        for (i, c) in text.char_indices() {
            if c.is_alphanumeric() {
                word.get_or_insert(i);
                continue;
            }
            if let Some(start) = word.take() {
                spans.push(start..i);
            }
            if !c.is_whitespace() {
                spans.push(i..i + c.len_utf8());
            }
        }
        if let Some(start) = word {
            spans.push(start..text.len());
        }
        spans
    }
}

impl Embedder for RemoteEmbedder {
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
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(EMBED_BATCH) {
            let vectors = self.request(batch)?;
            if vectors.iter().any(|v| v.len() != self.dim) {
                return Err(Error::Embedding(format!(
                    "the embedding server at {} changed its vector size (expected {})",
                    self.endpoint.base, self.dim
                )));
            }
            out.extend(vectors);
        }
        Ok(out)
    }
}
