//! One decoder-only transformer for the Llama family as stored in GGUF: `llama` (SmolLM2,
//! Llama 2/3), `qwen2` (q/k/v biases), `qwen3` (per-head q/k RMS norms) and `gemma3` (see
//! [`Gemma`]). Weights stay
//! quantized ([`QLinear`], [`QEmbedding`]); activations, norms, RoPE and attention are f32
//! candle tensors for prompt chunks and plain slices for single tokens; the KV cache is an
//! append-only f16 buffer per layer (see [`super::attention`]).

use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Module, Result, Tensor};

use super::attention::{attend_run, merge, part_len, Elem, Run, RUN};
use super::disjoint::Disjoint;
use super::gguf::GgufFile;
use super::qmat::{QEmbedding, QLinear};

/// What the KV cache holds: f16, as llama.cpp keeps it (half the bytes to read per decoded
/// token). On the real-document eval (24 + 22 questions, default model) an f32 cache gave the
/// same 46 verdicts; on the 1.5B at 1,500 tokens f16 decodes faster (see the README).
type Kv = half::f16;

/// Shape of the network, read from GGUF metadata.
#[derive(Debug, Clone)]
pub struct Hyper {
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads.
    pub n_head: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_head`).
    pub n_kv_head: usize,
    /// Size of one head.
    pub head_dim: usize,
    /// Residual width.
    pub hidden: usize,
    /// RMS norm epsilon.
    pub eps: f64,
    /// RoPE base.
    pub rope_theta: f32,
    /// NeoX (split halves) RoPE; GGUF `llama` files use the interleaved form.
    pub rope_neox: bool,
    /// Trained context length.
    pub context_length: usize,
    /// Gemma 3's differences, for `gemma3` files.
    pub gemma: Option<Gemma>,
}

/// What Gemma 3 does differently from the Llama family (as llama.cpp runs it): token
/// embeddings scaled by √hidden; an RMS norm after attention and after the MLP as well as
/// before them; GELU (tanh form) gating in place of SiLU; and every layer except each
/// `global_every`-th attends only to the last `window` positions, with its own RoPE base.
#[derive(Debug, Clone, Copy)]
pub struct Gemma {
    /// Positions a sliding-window layer sees (itself included).
    pub window: usize,
    /// Every this-many-th layer (counting from 1) attends to the whole context.
    pub global_every: usize,
    /// RoPE base of the sliding-window layers.
    pub local_rope_theta: f32,
    /// Linear RoPE scaling of the global layers (positions divided by it; 1 when absent).
    pub global_rope_scale: f32,
}

impl Hyper {
    /// The sizes in `gguf`'s metadata, checked ([`Hyper::check`]).
    pub fn read(gguf: &GgufFile) -> crate::Result<Hyper> {
        let arch = gguf.architecture.clone();
        let n_head = gguf.arch_u32("attention.head_count")? as usize;
        let hidden = gguf.arch_u32("embedding_length")? as usize;
        let head_dim = gguf
            .arch_u32("attention.key_length")
            .map(|v| v as usize)
            .unwrap_or(hidden.checked_div(n_head).unwrap_or(0));
        let hyper = Hyper {
            n_layer: gguf.arch_u32("block_count")? as usize,
            n_head,
            n_kv_head: gguf.arch_u32("attention.head_count_kv")? as usize,
            head_dim,
            hidden,
            eps: gguf
                .arch_f32("attention.layer_norm_rms_epsilon")
                .unwrap_or(1e-6) as f64,
            rope_theta: gguf.arch_f32("rope.freq_base").unwrap_or(10_000.0),
            rope_neox: arch != "llama",
            context_length: gguf.arch_u32("context_length")? as usize,
            gemma: if arch == "gemma3" {
                Some(Gemma {
                    window: gguf.arch_u32("attention.sliding_window")? as usize,
                    global_every: gguf
                        .arch_u32("attention.sliding_window_type")
                        .map(|v| v as usize)
                        .unwrap_or(6),
                    local_rope_theta: gguf.arch_f32("rope.local_freq_base").unwrap_or(10_000.0),
                    global_rope_scale: gguf.arch_f32("rope.scaling.factor").unwrap_or(1.0),
                })
            } else {
                None
            },
        };
        hyper
            .check()
            .map_err(|reason| crate::Error::ModelInvalid { name: arch, reason })?;
        Ok(hyper)
    }

    /// Why these sizes cannot describe a model we can run (a damaged or hand-edited header
    /// would otherwise divide by zero or index past a head), if they cannot.
    fn check(&self) -> std::result::Result<(), String> {
        let h = self;
        let zero = [
            ("block_count", h.n_layer),
            ("attention.head_count", h.n_head),
            ("attention.head_count_kv", h.n_kv_head),
            ("embedding_length", h.hidden),
            ("context_length", h.context_length),
        ]
        .into_iter()
        .find(|(_, v)| *v == 0);
        if let Some((key, _)) = zero {
            return Err(format!("the GGUF metadata gives `{key}` as 0"));
        }
        if !h.n_head.is_multiple_of(h.n_kv_head) {
            return Err(format!(
                "{} attention heads cannot share {} key/value heads evenly",
                h.n_head, h.n_kv_head
            ));
        }
        if let Some(g) = &h.gemma {
            if g.window == 0 || g.global_every == 0 {
                return Err(
                    "the GGUF metadata gives a sliding window (or its pattern) of 0".into(),
                );
            }
            if !(g.global_rope_scale > 0.0 && g.local_rope_theta > 0.0) {
                return Err("the GGUF metadata gives a RoPE base or scale of 0 or less".into());
            }
        }
        if h.head_dim == 0 || !h.head_dim.is_multiple_of(2) {
            return Err(format!(
                "a head size of {} cannot take rotary positions (it must be even and above 0)",
                h.head_dim
            ));
        }
        Ok(())
    }
}

/// RMS norm with its weight both as a tensor (prompt path) and as a slice (decode path).
struct Norm {
    t: Tensor,
    w: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn new(q: QTensor, eps: f64) -> Result<Norm> {
        let t = q.dequantize(&Device::Cpu)?;
        let w = t.flatten_all()?.to_vec1::<f32>()?;
        Ok(Norm {
            t,
            w,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::rms_norm(x, &self.t, self.eps)
    }

    /// Normalize each `w.len()`-long piece of `x` in place.
    fn apply(&self, x: &mut [f32]) {
        for piece in x.chunks_mut(self.w.len()) {
            let ms = piece.iter().map(|v| v * v).sum::<f32>() / piece.len() as f32;
            let scale = 1.0 / (ms + self.eps).sqrt();
            for (v, w) in piece.iter_mut().zip(&self.w) {
                *v *= scale * w;
            }
        }
    }
}

struct Layer {
    attn_norm: Norm,
    wq: QLinear,
    wk: QLinear,
    wv: QLinear,
    wo: QLinear,
    q_norm: Option<Norm>,
    k_norm: Option<Norm>,
    ffn_norm: Norm,
    gate: QLinear,
    up: QLinear,
    down: QLinear,
    /// Gemma 3's norms of the attention's and the MLP's outputs.
    post_attn_norm: Option<Norm>,
    post_ffn_norm: Option<Norm>,
    /// Positions this layer attends to, if not all ([`Gemma::window`]); such a layer takes
    /// the local RoPE tables.
    window: Option<usize>,
    /// Keys and values of past positions, `[position][kv_head][head_dim]`, appended in place
    /// ([`Kv`]).
    k: Vec<Kv>,
    v: Vec<Kv>,
}

/// RoPE tables: cos and sin of every position × frequency, as tensors (prompt path) and
/// slices (decode path).
struct Rope {
    cos: Tensor,
    sin: Tensor,
    cos_v: Vec<f32>,
    sin_v: Vec<f32>,
}

impl Rope {
    /// Tables for `positions` positions of heads of `head_dim`, base `theta`, positions
    /// divided by `scale`.
    fn new(theta: f32, scale: f32, head_dim: usize, positions: usize) -> Result<Rope> {
        let dev = Device::Cpu;
        let half = head_dim / 2;
        let inv: Vec<f32> = (0..half)
            .map(|i| 1.0 / theta.powf(2.0 * i as f32 / head_dim as f32) / scale)
            .collect();
        let inv = Tensor::from_vec(inv, (1, half), &dev)?;
        let t = Tensor::arange(0u32, positions as u32, &dev)?
            .to_dtype(DType::F32)?
            .reshape((positions, 1))?;
        let freqs = t.matmul(&inv)?;
        let (cos, sin) = (freqs.cos()?, freqs.sin()?);
        Ok(Rope {
            cos_v: cos.flatten_all()?.to_vec1::<f32>()?,
            sin_v: sin.flatten_all()?.to_vec1::<f32>()?,
            cos,
            sin,
        })
    }
}

/// The loaded network with its KV cache.
pub struct Transformer {
    hyper: Hyper,
    embed: QEmbedding,
    layers: Vec<Layer>,
    norm: Norm,
    lm_head: QLinear,
    rope: Rope,
    /// The sliding-window layers' tables ([`Gemma`]).
    local_rope: Option<Rope>,
    max_positions: usize,
    /// Tokens in the KV cache.
    pub cached: usize,
}

impl Transformer {
    /// Read the weights of `gguf`, whose sizes are `hyper` ([`Hyper::read`]); RoPE tables are
    /// made for `max_positions` positions.
    pub fn load(
        gguf: &mut GgufFile,
        hyper: Hyper,
        max_positions: usize,
    ) -> crate::Result<Transformer> {
        let max_positions = max_positions.min(hyper.context_length);
        Self::load_weights(gguf, hyper, max_positions).map_err(|e| crate::Error::ModelInvalid {
            name: gguf.architecture.clone(),
            reason: format!("cannot load weights: {e}"),
        })
    }

    fn load_weights(
        gguf: &mut GgufFile,
        hyper: Hyper,
        max_positions: usize,
    ) -> Result<Transformer> {
        let dev = Device::Cpu;
        let has = |name: &str| gguf.content.tensor_infos.contains_key(name);
        let has_q_norm = has("blk.0.attn_q_norm.weight");
        let has_bias = has("blk.0.attn_q.bias");
        let has_output = has("output.weight");
        let mut tensor = |name: &str| gguf.tensor(name);
        let mut layers = Vec::with_capacity(hyper.n_layer);
        for i in 0..hyper.n_layer {
            let p = format!("blk.{i}");
            let mut lin = |w: &str, b: &str| -> Result<QLinear> {
                let weight = tensor(&format!("{p}.{w}.weight"))?;
                let bias = if has_bias && b == "bias" {
                    Some(tensor(&format!("{p}.{w}.bias"))?.dequantize(&dev)?)
                } else {
                    None
                };
                QLinear::new(weight, bias)
            };
            let wq = lin("attn_q", "bias")?;
            let wk = lin("attn_k", "bias")?;
            let wv = lin("attn_v", "bias")?;
            let wo = lin("attn_output", "")?;
            let gate = lin("ffn_gate", "")?;
            let up = lin("ffn_up", "")?;
            let down = lin("ffn_down", "")?;
            let mut norm =
                |name: &str| Norm::new(tensor(&format!("{p}.{name}.weight"))?, hyper.eps);
            let (q_norm, k_norm) = if has_q_norm {
                (Some(norm("attn_q_norm")?), Some(norm("attn_k_norm")?))
            } else {
                (None, None)
            };
            let (post_attn_norm, post_ffn_norm) = if hyper.gemma.is_some() {
                (
                    Some(norm("post_attention_norm")?),
                    Some(norm("post_ffw_norm")?),
                )
            } else {
                (None, None)
            };
            let window = hyper
                .gemma
                .filter(|g| !(i + 1).is_multiple_of(g.global_every))
                .map(|g| g.window);
            layers.push(Layer {
                attn_norm: norm("attn_norm")?,
                ffn_norm: norm("ffn_norm")?,
                wq,
                wk,
                wv,
                wo,
                q_norm,
                k_norm,
                gate,
                up,
                down,
                post_attn_norm,
                post_ffn_norm,
                window,
                k: Vec::new(),
                v: Vec::new(),
            });
        }
        let embed_q = std::sync::Arc::new(tensor("token_embd.weight")?);
        let lm_head = if has_output {
            QLinear::new(tensor("output.weight")?, None)?
        } else {
            // tied embeddings: one copy of the table serves both
            QLinear::shared(embed_q.clone(), None)?
        };
        let embed = QEmbedding::new(embed_q)?;
        let norm = Norm::new(tensor("output_norm.weight")?, hyper.eps)?;
        let (d, n) = (hyper.head_dim, max_positions);
        let global_scale = hyper.gemma.map_or(1.0, |g| g.global_rope_scale);
        let rope = Rope::new(hyper.rope_theta, global_scale, d, n)?;
        let local_rope = match hyper.gemma {
            Some(g) => Some(Rope::new(g.local_rope_theta, 1.0, d, n)?),
            None => None,
        };
        Ok(Transformer {
            rope,
            local_rope,
            hyper,
            embed,
            layers,
            norm,
            lm_head,
            max_positions,
            cached: 0,
        })
    }

    /// The network's shape.
    pub fn hyper(&self) -> &Hyper {
        &self.hyper
    }

    /// Positions the RoPE tables (and so the KV cache) allow.
    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Vocabulary size of the output layer.
    pub fn vocab(&self) -> usize {
        self.lm_head.out_features()
    }

    /// Forget the KV cache.
    pub fn clear(&mut self) {
        for l in &mut self.layers {
            l.k.clear();
            l.v.clear();
        }
        self.cached = 0;
    }

    /// Drop cached positions from `keep` on (to reuse a common prompt prefix).
    pub fn truncate(&mut self, keep: usize) -> Result<()> {
        if keep >= self.cached {
            return Ok(());
        }
        if keep == 0 {
            self.clear();
            return Ok(());
        }
        let row = self.hyper.n_kv_head * self.hyper.head_dim;
        for l in &mut self.layers {
            l.k.truncate(keep * row);
            l.v.truncate(keep * row);
        }
        self.cached = keep;
        Ok(())
    }

    /// Refuse an empty run or one past the positions the cache allows.
    fn check_room(&self, l: usize) -> Result<()> {
        if l == 0 || self.cached + l > self.max_positions {
            candle_core::bail!(
                "{} positions requested, room for {}",
                self.cached + l,
                self.max_positions
            );
        }
        Ok(())
    }

    /// Run `ids` at the end of the cache; returns the logits of the last one (`[vocab]`).
    pub fn forward(&mut self, ids: &[u32]) -> Result<Tensor> {
        self.check_room(ids.len())?;
        let pos = self.cached;
        let l = ids.len();
        if l == 1 {
            let logits = self.forward_each(ids)?;
            let n = logits.len();
            return Tensor::from_vec(logits, n, &Device::Cpu);
        }
        let h = &self.hyper;
        // causal, and for sliding-window layers only the last `window` positions
        let mask = |window: Option<usize>| -> Result<Tensor> {
            let mut m = vec![0f32; l * (pos + l)];
            for i in 0..l {
                let first = first_visible(window, pos + i);
                for j in (0..first).chain((pos + i + 1)..(pos + l)) {
                    m[i * (pos + l) + j] = f32::NEG_INFINITY;
                }
            }
            Tensor::from_vec(m, (l, pos + l), &Device::Cpu)
        };
        let global_mask = mask(None)?;
        let local_mask = match h.gemma {
            Some(g) => Some(mask(Some(g.window))?),
            None => None,
        };
        let tables = |rope: &Rope| -> Result<(Tensor, Tensor)> {
            Ok((rope.cos.narrow(0, pos, l)?, rope.sin.narrow(0, pos, l)?))
        };
        let global_tables = tables(&self.rope)?;
        let local_tables = match &self.local_rope {
            Some(r) => Some(tables(r)?),
            None => None,
        };
        let mut x = self.embed.forward(ids)?;
        if h.gemma.is_some() {
            x = (x * (h.hidden as f64).sqrt())?;
        }
        for layer in &mut self.layers {
            let (mask, (cos, sin)) = match (layer.window, &local_mask, &local_tables) {
                (Some(_), Some(m), Some(t)) => (m, t),
                _ => (&global_mask, &global_tables),
            };
            let residual = x.clone();
            let a = layer.attn_norm.forward(&x)?;
            let heads = |t: Tensor, n: usize| -> Result<Tensor> {
                t.reshape((1, l, n, h.head_dim))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let [q, k, v]: [Tensor; 3] =
                QLinear::forward_all(&[&layer.wq, &layer.wk, &layer.wv], &a)?
                    .try_into()
                    .expect("three layers, three outputs");
            let mut q = heads(q, h.n_head)?;
            let mut k = heads(k, h.n_kv_head)?;
            let v = heads(v, h.n_kv_head)?;
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                q = qn.forward(&q)?;
                k = kn.forward(&k)?;
            }
            let (q, k) = if h.rope_neox {
                (
                    candle_nn::rotary_emb::rope(&q, cos, sin)?,
                    candle_nn::rotary_emb::rope(&k, cos, sin)?,
                )
            } else {
                (
                    candle_nn::rotary_emb::rope_i(&q, cos, sin)?,
                    candle_nn::rotary_emb::rope_i(&k, cos, sin)?,
                )
            };
            // append to the cache ([position][kv_head][dim]), then view it as [kv_head, T, dim]
            let kv_len = pos + l;
            let (kvh, d) = (h.n_kv_head, h.head_dim);
            let append = |cache: &mut Vec<Kv>, t: &Tensor| -> Result<()> {
                let new = t
                    .squeeze(0)?
                    .transpose(0, 1)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                Kv::append(cache, &new);
                Ok(())
            };
            append(&mut layer.k, &k)?;
            append(&mut layer.v, &v)?;
            // a sliding-window layer reads only the positions its first query can see
            let first = first_visible(layer.window, pos);
            let seen = kv_len - first;
            let k = heads_of(&layer.k, first..kv_len, kvh, d)?;
            let v = heads_of(&layer.v, first..kv_len, kvh, d)?;
            // grouped-query attention: fold the query heads of a group into the row dimension
            let group = h.n_head / h.n_kv_head;
            let q = q.reshape((h.n_kv_head, group * l, h.head_dim))?;
            let scale = 1.0 / (h.head_dim as f64).sqrt();
            let att = (q.matmul(&k.t()?)? * scale)?
                .reshape((h.n_kv_head, group, l, seen))?
                .broadcast_add(&mask.narrow(1, first, seen)?)?
                .reshape((h.n_kv_head, group * l, seen))?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v)?; // [kv_head, group*l, d]
            let y = y
                .reshape((h.n_head, l, h.head_dim))?
                .transpose(0, 1)?
                .reshape((1, l, h.n_head * h.head_dim))?;
            let mut o = layer.wo.forward(&y)?;
            if let Some(n) = &layer.post_attn_norm {
                o = n.forward(&o)?;
            }
            let x1 = (residual + o)?;
            let f = layer.ffn_norm.forward(&x1)?;
            let [g, u]: [Tensor; 2] = QLinear::forward_all(&[&layer.gate, &layer.up], &f)?
                .try_into()
                .expect("two layers, two outputs");
            let gu = if h.gemma.is_some() {
                let mut gv = g.flatten_all()?.to_vec1::<f32>()?;
                super::kernels::gelu_mul(&mut gv, &u.flatten_all()?.to_vec1::<f32>()?);
                Tensor::from_vec(gv, g.shape(), &Device::Cpu)?
            } else {
                (candle_nn::ops::silu(&g)? * u)?
            };
            let mut dn = layer.down.forward(&gu)?;
            if let Some(n) = &layer.post_ffn_norm {
                dn = n.forward(&dn)?;
            }
            x = (&x1 + dn)?;
        }
        self.cached = pos + l;
        let last = x.narrow(1, l - 1, 1)?;
        let last = self.norm.forward(&last)?;
        self.lm_head.forward(&last)?.flatten_all()
    }

    /// Logits of every one of `ids` (run at the end of the cache), `[ids.len()][vocab]` row
    /// major. Each token's numbers are exactly those a run of that token alone would give
    /// (the same per-token arithmetic, batch-invariant matmuls), so checking speculative
    /// tokens this way agrees to the bit with decoding them one by one.
    pub fn forward_each(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        self.check_room(ids.len())?;
        let pos0 = self.cached;
        let l = ids.len();
        let h = self.hyper.clone();
        let (d, half) = (h.head_dim, h.head_dim / 2);
        let group = h.n_head / h.n_kv_head;
        let scale = 1.0 / (d as f32).sqrt();
        let (qw, kw) = (h.n_head * d, h.n_kv_head * d);
        let (global_rope, local_rope) = (&self.rope, self.local_rope.as_ref());
        let rope = |x: &mut [f32], pos: usize, local: bool| {
            let r = if local {
                local_rope.unwrap_or(global_rope)
            } else {
                global_rope
            };
            let cos = &r.cos_v[pos * half..(pos + 1) * half];
            let sin = &r.sin_v[pos * half..(pos + 1) * half];
            for head in x.chunks_mut(d) {
                for i in 0..half {
                    let (a, b) = if h.rope_neox {
                        (i, i + half)
                    } else {
                        (2 * i, 2 * i + 1)
                    };
                    let (x0, x1) = (head[a], head[b]);
                    head[a] = x0 * cos[i] - x1 * sin[i];
                    head[b] = x0 * sin[i] + x1 * cos[i];
                }
            }
        };
        let mut x = Vec::with_capacity(l * h.hidden);
        for &id in ids {
            x.extend(self.embed.row(id)?);
        }
        if h.gemma.is_some() {
            let s = (h.hidden as f32).sqrt();
            x.iter_mut().for_each(|v| *v *= s);
        }
        for layer in &mut self.layers {
            let mut a = x.clone();
            layer.attn_norm.apply(&mut a);
            let mut q = layer.wq.rows(&a)?;
            let mut k = layer.wk.rows(&a)?;
            let v = layer.wv.rows(&a)?;
            if let (Some(qn), Some(kn)) = (&layer.q_norm, &layer.k_norm) {
                qn.apply(&mut q);
                kn.apply(&mut k);
            }
            let local = layer.window.is_some();
            for i in 0..l {
                rope(&mut q[i * qw..(i + 1) * qw], pos0 + i, local);
                rope(&mut k[i * kw..(i + 1) * kw], pos0 + i, local);
            }
            Kv::append(&mut layer.k, &k);
            Kv::append(&mut layer.v, &v);
            let mut y = vec![0f32; l * qw];
            let (keys, values) = (&layer.k, &layer.v);
            let pl = part_len(d);
            for i in 0..l {
                let kv_len = pos0 + i + 1;
                // the positions this layer sees: all, or the last `window`
                let first = first_visible(layer.window, pos0 + i);
                // one piece of work per key/value group and run of positions
                let runs = (kv_len - first).div_ceil(RUN);
                let items = h.n_kv_head * runs;
                let mut parts = vec![0f32; items * group * pl];
                let shared = Disjoint::new(&mut parts);
                let q = &q[i * qw..(i + 1) * qw];
                let attend = |items: std::ops::Range<usize>| {
                    let mut scores = vec![0f32; group * RUN];
                    for item in items {
                        let (g, r) = (item / runs, item % runs);
                        let (t0, t1) = (first + r * RUN, kv_len.min(first + (r + 1) * RUN));
                        // SAFETY: item `item`'s results (group × (d + 2) values) are written by
                        // this worker only (the pool hands each item to one worker).
                        let out =
                            unsafe { shared.part(item * group * pl..(item + 1) * group * pl) };
                        let run = Run {
                            q: &q[g * group * d..(g + 1) * group * d],
                            d,
                            keys: &keys[t0 * kw + g * d..],
                            values: &values[t0 * kw + g * d..],
                            stride: kw,
                            n: t1 - t0,
                            scale,
                        };
                        attend_run(run, &mut scores, out);
                    }
                };
                // over the pool (which worker does a piece does not change its arithmetic);
                // short contexts inline, a pool call costs a few microseconds
                if (kv_len - first) * h.n_head * d >= 1 << 15 {
                    candle_core::utils::barrier_pool().execute_chunked(items, attend);
                } else {
                    attend(0..items);
                }
                for g in 0..h.n_kv_head {
                    merge(
                        &parts[g * runs * group * pl..(g + 1) * runs * group * pl],
                        runs,
                        d,
                        &mut y[i * qw + g * group * d..i * qw + (g + 1) * group * d],
                    );
                }
            }
            let mut o = layer.wo.rows(&y)?;
            if let Some(n) = &layer.post_attn_norm {
                n.apply(&mut o);
            }
            for (xv, ov) in x.iter_mut().zip(&o) {
                *xv += ov;
            }
            let mut f = x.clone();
            layer.ffn_norm.apply(&mut f);
            let g = layer.gate.rows(&f)?;
            let u = layer.up.rows(&f)?;
            let gu: Vec<f32> = if h.gemma.is_some() {
                let mut g = g;
                super::kernels::gelu_mul(&mut g, &u);
                g
            } else {
                g.iter()
                    .zip(&u)
                    .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                    .collect()
            };
            let mut dn = layer.down.rows(&gu)?;
            if let Some(n) = &layer.post_ffn_norm {
                n.apply(&mut dn);
            }
            for (xv, dv) in x.iter_mut().zip(&dn) {
                *xv += dv;
            }
        }
        self.cached = pos0 + l;
        self.norm.apply(&mut x);
        self.lm_head.rows(&x)
    }
}

/// The first position a query at `pos` attends to: 0, or with a sliding `window` the first of
/// the last `window` positions up to and including its own (llama.cpp's rule: key `j` is seen
/// when `pos − j < window`). The prompt mask, the prompt path's key range and the decode
/// attention all take it from here.
fn first_visible(window: Option<usize>, pos: usize) -> usize {
    window.map_or(0, |w| (pos + 1).saturating_sub(w))
}

/// The cache's `[position][kv_head][d]` rows at `positions` as `[kv_head, position, d]` f32
/// (the prompt path's attention).
fn heads_of(
    cache: &[Kv],
    positions: std::ops::Range<usize>,
    kvh: usize,
    d: usize,
) -> Result<Tensor> {
    let n = positions.len();
    let mut out = vec![0f32; n * kvh * d];
    let rows = cache.chunks_exact(kvh * d).skip(positions.start).take(n);
    for (t, row) in rows.enumerate() {
        for (g, head) in row.chunks_exact(d).enumerate() {
            Kv::load(head, &mut out[(g * n + t) * d..(g * n + t + 1) * d]);
        }
    }
    Tensor::from_vec(out, (kvh, n, d), &Device::Cpu)
}
