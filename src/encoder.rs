//! Hearth's own sentence encoder: BERT-family models (all-MiniLM-L6-v2 and kin) from their
//! fp32 safetensors, run on the integer kernels the language model uses.
//!
//! Every linear layer is quantized at load to 8 bits per 32 weights (Q8_0) and multiplied by
//! [`QLinear`]: activations are quantized once per product; with AVX-512 VNNI, products of 16
//! tokens or more take the prompt kernel, otherwise (and for fewer tokens) the tile kernel
//! (AVX2 `vpmaddubsw`). Attention, layer norms and GELU stay in f32.
//!
//! No work goes to padding: a batch's texts are laid end to end, one row per real token, for
//! every linear layer; attention runs per text over its own tokens only. Texts are sorted by
//! length and cut into batches of about [`BATCH_TOKENS`] tokens.

use std::ops::Range;
use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use rayon::prelude::*;

use crate::chunk::Tokenize;
use crate::embed::{EmbedderConfig, Pooling};
use crate::error::{Error, Result};
use crate::llm::kernels;
use crate::llm::qmat::QLinear;
use crate::Embedder;

/// Tokens per forward pass: enough rows for the prompt kernel to run at full speed, few
/// enough to bound memory (the widest activations, 4,096 × 1,536 floats, are 24 MB).
const BATCH_TOKENS: usize = 4096;

/// Values per piece of work when element-wise steps (norms, GELU) are spread over the pool.
const PAR_VALUES: usize = 32 * 1024;

/// The shape of a BERT encoder, from its `config.json`.
#[derive(Debug, Clone, serde::Deserialize)]
struct BertConfig {
    hidden_size: usize,
    num_attention_heads: usize,
    num_hidden_layers: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_act")]
    hidden_act: String,
}

fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

/// Layer norm weights.
struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// `x = norm(x + y)` row by row (`y` empty: `x = norm(x)`), rows spread over the pool.
    fn add_apply(&self, x: &mut [f32], y: &[f32]) {
        let h = self.w.len();
        let rows = (PAR_VALUES / h).max(1) * h;
        if y.is_empty() {
            x.par_chunks_mut(rows).for_each(|x| self.apply(x));
        } else {
            x.par_chunks_mut(rows)
                .zip(y.par_chunks(rows))
                .for_each(|(x, y)| {
                    add(x, y);
                    self.apply(x);
                });
        }
    }

    /// Normalize each `w.len()`-long row of `x` in place.
    fn apply(&self, x: &mut [f32]) {
        let n = self.w.len() as f32;
        for row in x.chunks_exact_mut(self.w.len()) {
            let mean = row.iter().sum::<f32>() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.w).zip(&self.b) {
                *v = (*v - mean) * inv * w + b;
            }
        }
    }
}

struct Layer {
    /// Query, key and value in one product (`[3 × hidden, hidden]`).
    qkv: QLinear,
    out: QLinear,
    attn_norm: Norm,
    up: QLinear,
    down: QLinear,
    ffn_norm: Norm,
}

/// A BERT-family sentence encoder on Hearth's integer kernels.
pub struct BertEncoder {
    id: String,
    max_tokens: usize,
    pooling: Pooling,
    tokenizer: tokenizers::Tokenizer,
    cfg: BertConfig,
    /// `[vocab][hidden]`.
    word: Vec<f32>,
    /// `[position][hidden]`, with token type 0's vector added.
    position: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
}

impl std::fmt::Debug for BertEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEncoder")
            .field("id", &self.id)
            .field("layers", &self.layers.len())
            .finish()
    }
}

fn invalid(name: &str, reason: impl std::fmt::Display) -> Error {
    Error::ModelInvalid {
        name: name.to_string(),
        reason: reason.to_string(),
    }
}

/// The tensors of a safetensors file, taken by name.
struct Weights<'a> {
    tensors: std::collections::HashMap<String, Tensor>,
    name: &'a str,
    eps: f32,
}

impl Weights<'_> {
    /// The f32 tensor `key` (some exports prefix every name with `bert.`).
    fn take(&mut self, key: &str) -> Result<Tensor> {
        let name = self.name;
        self.tensors
            .remove(key)
            .or_else(|| self.tensors.remove(&format!("bert.{key}")))
            .ok_or_else(|| invalid(name, format!("tensor {key} is missing")))?
            .to_dtype(DType::F32)
            .map_err(|e| invalid(name, e))
    }

    fn vec(&mut self, key: &str) -> Result<Vec<f32>> {
        let t = self.take(key)?;
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| invalid(self.name, e))
    }

    fn norm(&mut self, prefix: &str) -> Result<Norm> {
        Ok(Norm {
            w: self.vec(&format!("{prefix}.weight"))?,
            b: self.vec(&format!("{prefix}.bias"))?,
            eps: self.eps,
        })
    }

    /// The linear layers `prefixes` stacked into one (their outputs side by side), with
    /// weights quantized to Q8_0.
    fn linear(&mut self, prefixes: &[&str]) -> Result<QLinear> {
        let mut ws = Vec::new();
        let mut bs = Vec::new();
        for p in prefixes {
            ws.push(self.take(&format!("{p}.weight"))?);
            bs.push(self.take(&format!("{p}.bias"))?);
        }
        let name = self.name;
        let w = Tensor::cat(&ws, 0).map_err(|e| invalid(name, e))?;
        let b = Tensor::cat(&bs, 0).map_err(|e| invalid(name, e))?;
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).map_err(|e| invalid(name, e))?;
        QLinear::new(q, Some(b)).map_err(|e| invalid(name, e))
    }
}

/// `<tokenizer_dir>/config.json` of `cfg`, as `T` (this module's shape, or candle's).
fn read_config<T: serde::de::DeserializeOwned>(cfg: &EmbedderConfig) -> Result<T> {
    let path = cfg.tokenizer_dir.join("config.json");
    serde_json::from_slice(&crate::embed::read_model_file(&path, "config.json")?)
        .map_err(|e| invalid(&cfg.id, format!("config.json: {e}")))
}

/// The tokenizer of `cfg`, splitting without padding or truncation.
fn read_tokenizer(cfg: &EmbedderConfig) -> Result<tokenizers::Tokenizer> {
    let path = cfg.tokenizer_dir.join("tokenizer.json");
    let mut tokenizer =
        tokenizers::Tokenizer::from_bytes(crate::embed::read_model_file(&path, "tokenizer.json")?)
            .map_err(|e| invalid(&cfg.id, format!("bad tokenizer.json: {e}")))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| invalid(&cfg.id, e))?;
    Ok(tokenizer)
}

/// Token ids of `text`, special tokens included, cut to `max_tokens` (at least 2; the last
/// token kept is the closing `[SEP]`).
fn token_ids(tokenizer: &tokenizers::Tokenizer, max_tokens: usize, text: &str) -> Result<Vec<u32>> {
    let enc = tokenizer
        .encode(text, true)
        .map_err(|e| Error::Embedding(e.to_string()))?;
    let mut ids = enc.get_ids().to_vec();
    if let (true, Some(&last)) = (ids.len() > max_tokens, ids.last()) {
        ids.truncate(max_tokens.saturating_sub(1));
        ids.push(last);
    }
    Ok(ids)
}

impl BertEncoder {
    /// Load `cfg.model` (a `.safetensors` file) with `config.json` and `tokenizer.json` from
    /// `cfg.tokenizer_dir`.
    pub fn load(cfg: &EmbedderConfig) -> Result<Self> {
        let name = cfg.id.as_str();
        let bert: BertConfig = read_config(cfg)?;
        if bert.hidden_act != "gelu" {
            return Err(invalid(
                name,
                format!(
                    "activation {} is not supported (gelu only)",
                    bert.hidden_act
                ),
            ));
        }
        let h = bert.hidden_size;
        if h == 0
            || bert.num_attention_heads == 0
            || !h.is_multiple_of(bert.num_attention_heads)
            || !h.is_multiple_of(32)
            || !bert.intermediate_size.is_multiple_of(32)
        {
            return Err(invalid(name, "layer sizes are not multiples of 32"));
        }
        let max_tokens = cfg.max_tokens.min(bert.max_position_embeddings);
        if max_tokens < 2 {
            return Err(invalid(
                name,
                "max_tokens must leave room for [CLS] and [SEP]",
            ));
        }
        let tokenizer = read_tokenizer(cfg)?;
        if !cfg.model.is_file() {
            // says how to get it
            crate::embed::read_model_file(&cfg.model, "sentence encoder weights")?;
        }
        let tensors = candle_core::safetensors::load(&cfg.model, &Device::Cpu)
            .map_err(|e| invalid(name, format!("{}: {e}", cfg.model.display())))?;
        let mut w = Weights {
            tensors,
            name,
            eps: bert.layer_norm_eps as f32,
        };
        let word = w.vec("embeddings.word_embeddings.weight")?;
        let mut position = w.vec("embeddings.position_embeddings.weight")?;
        let types = w.vec("embeddings.token_type_embeddings.weight")?;
        if word.is_empty()
            || word.len() % h != 0
            || position.len() < h * bert.max_position_embeddings
            || types.len() < h
        {
            return Err(invalid(name, "embedding tables do not match hidden_size"));
        }
        for row in position.chunks_mut(h) {
            for (p, t) in row.iter_mut().zip(&types[..h]) {
                *p += t;
            }
        }
        let embed_norm = w.norm("embeddings.LayerNorm")?;
        let layers = (0..bert.num_hidden_layers)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    qkv: w.linear(&[
                        &format!("{p}.attention.self.query"),
                        &format!("{p}.attention.self.key"),
                        &format!("{p}.attention.self.value"),
                    ])?,
                    out: w.linear(&[&format!("{p}.attention.output.dense")])?,
                    attn_norm: w.norm(&format!("{p}.attention.output.LayerNorm"))?,
                    up: w.linear(&[&format!("{p}.intermediate.dense")])?,
                    down: w.linear(&[&format!("{p}.output.dense")])?,
                    ffn_norm: w.norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(BertEncoder {
            id: cfg.id.clone(),
            max_tokens,
            pooling: cfg.pooling,
            tokenizer,
            cfg: bert,
            word,
            position,
            embed_norm,
            layers,
        })
    }

    /// Sentence vectors of texts given as token ids (each at most `max_tokens` long and not
    /// empty), in one forward pass.
    fn forward(&self, texts: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let h = self.cfg.hidden_size;
        let total: usize = texts.iter().map(|t| t.len()).sum();
        let vocab = self.word.len() / h;
        let mut x = Vec::with_capacity(total * h);
        for ids in texts {
            for (pos, &id) in ids.iter().enumerate() {
                let id = (id as usize).min(vocab - 1);
                let w = &self.word[id * h..(id + 1) * h];
                let p = &self.position[pos * h..(pos + 1) * h];
                x.extend(w.iter().zip(p).map(|(w, p)| w + p));
            }
        }
        self.embed_norm.add_apply(&mut x, &[]);
        let spans: Vec<Range<usize>> = texts
            .iter()
            .scan(0, |at, ids| {
                let span = *at..*at + ids.len();
                *at = span.end;
                Some(span)
            })
            .collect();
        for layer in &self.layers {
            let qkv = layer.qkv.rows(&x)?;
            let y = self.attention(&qkv, &spans);
            let o = layer.out.rows(&y)?;
            layer.attn_norm.add_apply(&mut x, &o);
            let mut f = layer.up.rows(&x)?;
            f.par_chunks_mut(PAR_VALUES).for_each(kernels::gelu);
            layer.ffn_norm.add_apply(&mut x, &layer.down.rows(&f)?);
        }
        Ok(spans
            .iter()
            .map(|span| {
                let rows = &x[span.start * h..span.end * h];
                let mut v = match self.pooling {
                    Pooling::Cls => rows[..h].to_vec(),
                    Pooling::Mean => rows.chunks_exact(h).fold(vec![0f32; h], |mut v, r| {
                        add(&mut v, r);
                        v
                    }),
                };
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= n);
                v
            })
            .collect())
    }

    /// Self-attention of each text over its own tokens: `qkv` holds each token's query, key
    /// and value (`[token][3 × hidden]`), `spans` each text's tokens; returns `[token][hidden]`.
    /// Texts go to the pool's workers; per head, `gemm` reads the queries, keys and values in
    /// place (stride `3 × hidden`) for the scores and writes the head's columns of the output.
    fn attention(&self, qkv: &[f32], spans: &[Range<usize>]) -> Vec<f32> {
        let h = self.cfg.hidden_size;
        let heads = self.cfg.num_attention_heads;
        let d = h / heads;
        let scale = 1.0 / (d as f32).sqrt();
        let mut y = vec![0f32; qkv.len() / 3];
        let mut outs: Vec<&mut [f32]> = Vec::with_capacity(spans.len());
        let mut rest = y.as_mut_slice();
        for span in spans {
            let (mine, tail) = rest.split_at_mut(span.len() * h);
            outs.push(mine);
            rest = tail;
        }
        outs.into_par_iter()
            .zip(spans.par_iter())
            .for_each(|(out, span)| {
                let l = span.len();
                let tokens = &qkv[span.start * 3 * h..span.end * 3 * h];
                let mut p = vec![0f32; l * l];
                for head in 0..heads {
                    let (q, k, v) = (head * d, h + head * d, 2 * h + head * d);
                    // SAFETY: every index gemm forms is inside its matrix: the queries, keys
                    // and values are `l` rows of `d` values at stride `3h` from their offsets
                    // in `tokens` (l × 3h values); `p` is l × l; `out` is l rows of `h`, and
                    // the head's `d` columns start at `q` < h.
                    unsafe {
                        // scores: P = scale · Q Kᵀ
                        gemm::gemm(
                            l,
                            l,
                            d,
                            p.as_mut_ptr(),
                            1,
                            l as isize,
                            false,
                            tokens.as_ptr().add(q),
                            1,
                            3 * h as isize,
                            tokens.as_ptr().add(k),
                            3 * h as isize,
                            1,
                            0.0,
                            scale,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                    for row in p.chunks_exact_mut(l) {
                        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let inv = 1.0 / kernels::exp_shifted(row, max);
                        row.iter_mut().for_each(|x| *x *= inv);
                    }
                    // SAFETY: as above.
                    unsafe {
                        // this head's columns of the output: P V
                        gemm::gemm(
                            l,
                            d,
                            l,
                            out.as_mut_ptr().add(q),
                            1,
                            h as isize,
                            false,
                            p.as_ptr(),
                            1,
                            l as isize,
                            tokens.as_ptr().add(v),
                            1,
                            3 * h as isize,
                            0.0,
                            1.0,
                            false,
                            false,
                            false,
                            gemm::Parallelism::None,
                        );
                    }
                }
            });
        y
    }
}

/// `x[i] += y[i]`.
fn add(x: &mut [f32], y: &[f32]) {
    for (x, y) in x.iter_mut().zip(y) {
        *x += y;
    }
}

impl Embedder for BertEncoder {
    fn id(&self) -> &str {
        &self.id
    }

    fn dim(&self) -> usize {
        self.cfg.hidden_size
    }

    fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let ids = texts
            .iter()
            .map(|t| token_ids(&self.tokenizer, self.max_tokens, t))
            .collect::<Result<Vec<_>>>()?;
        // longest first, in batches of about BATCH_TOKENS tokens
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let mut out = vec![Vec::new(); texts.len()];
        let mut start = 0;
        while start < order.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < order.len()
                && (end == start || tokens + ids[order[end]].len() <= BATCH_TOKENS)
            {
                tokens += ids[order[end]].len();
                end += 1;
            }
            let batch: Vec<&[u32]> = order[start..end].iter().map(|&i| &ids[i][..]).collect();
            let vectors = self
                .forward(&batch)
                .map_err(|e| Error::Embedding(e.to_string()))?;
            for (v, &i) in vectors.into_iter().zip(&order[start..end]) {
                out[i] = v;
            }
            start = end;
        }
        Ok(out)
    }
}

impl Tokenize for BertEncoder {
    fn token_spans(&self, text: &str) -> Vec<Range<usize>> {
        crate::embed::token_spans(&self.tokenizer, text)
    }
}

/// Vectors of `texts` from the same weights in full f32 precision, by candle's own BERT (not
/// this module's code): the reference [`BertEncoder`] is checked against (`hearth bench
/// embed`, the tests). One text per forward pass, so no padding enters either.
pub fn reference_vectors(cfg: &EmbedderConfig, texts: &[String]) -> Result<Vec<Vec<f32>>> {
    use candle_transformers::models::bert::{BertModel, Config};
    let name = cfg.id.as_str();
    let bert: Config = read_config(cfg)?;
    // the same token ids as the encoder's
    let BertConfig {
        max_position_embeddings,
        ..
    } = read_config(cfg)?;
    let max_tokens = cfg.max_tokens.min(max_position_embeddings);
    let tokenizer = read_tokenizer(cfg)?;
    // SAFETY: the file is only read, and not changed by Hearth while it is mapped.
    let vb = unsafe {
        candle_nn::VarBuilder::from_mmaped_safetensors(&[&cfg.model], DType::F32, &Device::Cpu)
    }
    .map_err(|e| invalid(name, e))?;
    let model = BertModel::load(vb, &bert).map_err(|e| invalid(name, e))?;
    let run = |ids: Vec<u32>| -> candle_core::Result<Vec<f32>> {
        let l = ids.len();
        let ids = Tensor::from_vec(ids, (1, l), &Device::Cpu)?;
        let types = ids.zeros_like()?;
        let out = model.forward(&ids, &types, None)?.squeeze(0)?; // [l, h]
        let v = match cfg.pooling {
            Pooling::Mean => out.mean(0)?,
            Pooling::Cls => out.get(0)?,
        };
        let n = v.sqr()?.sum_all()?.sqrt()?;
        v.broadcast_div(&n)?.to_vec1::<f32>()
    };
    texts
        .iter()
        .map(|t| {
            let ids = token_ids(&tokenizer, max_tokens, t)?;
            run(ids).map_err(|e| Error::Embedding(e.to_string()))
        })
        .collect()
}

/// Load the embedder `cfg` names: `.safetensors` weights on Hearth's own encoder
/// ([`BertEncoder`]), anything else as ONNX on the ONNX Runtime library
/// `runtime_library`.
pub fn load(cfg: &EmbedderConfig, runtime_library: &Path) -> Result<std::sync::Arc<dyn Embedder>> {
    if cfg.model.extension().is_some_and(|e| e == "safetensors") {
        Ok(std::sync::Arc::new(BertEncoder::load(cfg)?))
    } else {
        Ok(std::sync::Arc::new(crate::embed::OnnxEmbedder::load(
            cfg,
            runtime_library,
        )?))
    }
}
