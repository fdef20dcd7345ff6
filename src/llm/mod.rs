//! On-device text generation with a quantized GGUF model, run by Hearth's own transformer
//! ([`transformer`], candle tensors and our kernels).
//!
//! [`Llm::load`] opens and checks the file ([`gguf`]), builds its tokenizer ([`tokenizer`]) and
//! chat template ([`template`]) from the metadata, and loads the network ([`transformer`]) with
//! weights kept quantized ([`qmat`]). [`Llm::generate`] streams text through a callback,
//! stops on end-of-turn tokens, stop strings, a token budget or a [`Cancel`], and never lets the
//! prompt plus the answer overflow the context window. One generation runs at a time per model
//! (the KV cache is the model's); a new prompt that shares a prefix with the cached one reuses it.

// Every unsafe operation in the kernels sits in an `unsafe` block of its own, under the
// `# Safety` contract of the function it is in.
#![deny(unsafe_op_in_unsafe_fn)]
pub mod attention;
pub(crate) mod blocks;
mod choice;
pub mod cpu;
mod disjoint;
pub mod gguf;
pub mod kernels;
pub mod kquant;
pub mod qgemm;
pub mod qmat;
pub mod speculate;
pub mod speed;
pub mod template;
pub mod tokenizer;
pub mod transformer;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use candle_core::Tensor;
use candle_transformers::generation::{LogitsProcessor, Sampling};
use serde::Serialize;
use tokenizers::Tokenizer;

use crate::cancel::Cancel;
use crate::error::{Error, Result};
pub use template::{ChatTemplate, Message, Role};
use transformer::Transformer;

/// `logits` as one f32 vector.
fn logit_values(logits: &Tensor) -> candle_core::Result<Vec<f32>> {
    logits
        .flatten_all()?
        .to_dtype(candle_core::DType::F32)?
        .to_vec1()
}

/// Tokens run through the network at once while reading a prompt. 128 against 512, after the
/// prompt kernel: prefill as fast or faster (Qwen 0.5B, 300 tokens 284–295 vs 275 tok/s;
/// 1,500 tokens 185–197 vs 181), and the activations smaller (peak RSS at 1,500 tokens 643 vs
/// 735 MiB; the 1.5B at 512 tokens 1.28–1.30 vs 1.39 GB).
const PREFILL_CHUNK: usize = 128;

/// What a loaded model is.
#[derive(Debug, Clone, Serialize)]
pub struct LlmInfo {
    /// Display name: catalog id, or the file stem.
    pub name: String,
    /// The GGUF file.
    pub path: PathBuf,
    /// `general.architecture`.
    pub architecture: String,
    /// Context length the model was trained for.
    pub trained_context: usize,
    /// Context window used here (prompt + answer).
    pub context_window: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Whether the file carried a chat template (otherwise ChatML is used).
    pub chat_template: bool,
}

/// How to generate.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct GenerateParams {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// 0 = greedy.
    pub temperature: f64,
    /// Nucleus sampling mass (with temperature > 0).
    pub top_p: f64,
    /// Penalty (> 1) for tokens already generated.
    pub repeat_penalty: f32,
    /// How many recent generated tokens the penalty looks at.
    pub repeat_last_n: usize,
    /// Sampling seed.
    pub seed: u64,
    /// Extra strings that end the answer (not included in it).
    pub stop: Vec<String>,
    /// Greedy decoding drafts tokens by prompt lookup and checks them in one batch
    /// ([`speculate`]); the output is the same token for token, only faster.
    pub speculate: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self {
            max_tokens: 512,
            temperature: 0.0,
            top_p: 0.9,
            repeat_penalty: 1.1,
            repeat_last_n: 64,
            seed: 299_792_458,
            stop: Vec::new(),
            speculate: true,
        }
    }
}

/// What writes answers: a local GGUF model ([`Llm`]) or a model behind an OpenAI-compatible
/// server (the HTTP shell's client). The answer path (`answer::ask`, `summarize`) needs only
/// this much, so a remote model gets the same prompts, citation checks and gates.
pub trait Generator: Send + Sync {
    /// What the model is (name, context window).
    fn info(&self) -> &LlmInfo;
    /// Tokens `text` takes (an estimate where the model's tokenizer is not at hand).
    fn count_tokens(&self, text: &str) -> Result<usize>;
    /// Reply to the chat `messages`, streaming text to `on_text`; stops at the next token once
    /// `cancel` is tripped.
    fn chat(
        &self,
        messages: &[Message],
        params: &GenerateParams,
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation>;
}

impl Generator for Llm {
    fn info(&self) -> &LlmInfo {
        Llm::info(self)
    }
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Llm::count_tokens(self, text)
    }
    fn chat(
        &self,
        messages: &[Message],
        params: &GenerateParams,
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        Llm::chat(self, messages, params, cancel, on_text)
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn.
    EndOfTurn,
    /// A stop string appeared.
    StopString,
    /// `max_tokens` (or the context window) was reached.
    Length,
    /// The caller cancelled.
    Cancelled,
}

/// The result of one generation.
#[derive(Debug, Clone, Serialize)]
pub struct Generation {
    /// Generated text (stop strings removed).
    pub text: String,
    /// Why it ended.
    pub stop_reason: StopReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Prompt tokens found already in the KV cache (not recomputed).
    pub cached_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Time to read the prompt, ms.
    pub prefill_ms: f64,
    /// From the call to the first generated token, ms.
    pub first_token_ms: f64,
    /// Decode speed after the first token, tokens/s.
    pub tokens_per_s: f64,
    /// Tokens drafted by prompt lookup and checked ([`speculate`]).
    pub drafted_tokens: usize,
    /// Of those, the ones kept.
    pub accepted_tokens: usize,
}

struct State {
    model: Box<Transformer>,
    /// Tokens whose keys/values are in the cache.
    cached: Vec<u32>,
}

impl State {
    /// Run `ids` after the cached tokens and record them; on failure the cache is dropped
    /// (a half-written cache must not be reused).
    fn advance(&mut self, ids: &[u32]) -> Result<Tensor> {
        let out = self.model.forward(ids);
        self.record(ids, out)
    }

    /// As [`State::advance`], with the logits of every token (`[ids.len()][vocab]`).
    fn advance_each(&mut self, ids: &[u32]) -> Result<Vec<f32>> {
        let out = self.model.forward_each(ids);
        self.record(ids, out)
    }

    /// Record `ids` as cached when the network ran them, else drop the whole cache.
    fn record<T>(&mut self, ids: &[u32], out: candle_core::Result<T>) -> Result<T> {
        match out {
            Ok(v) => {
                self.cached.extend_from_slice(ids);
                Ok(v)
            }
            Err(e) => {
                self.model.clear();
                self.cached.clear();
                Err(Error::Generation(e.to_string()))
            }
        }
    }

    /// Keep (at most) the first `keep` cached tokens; returns how many the network kept.
    fn keep(&mut self, keep: usize) -> Result<usize> {
        self.model
            .truncate(keep)
            .map_err(|e| Error::Generation(e.to_string()))?;
        let kept = keep.min(self.model.cached);
        self.cached.truncate(kept);
        Ok(kept)
    }
}

/// A loaded GGUF model.
pub struct Llm {
    info: LlmInfo,
    tokenizer: Tokenizer,
    template: ChatTemplate,
    end_ids: Vec<u32>,
    state: Mutex<State>,
    /// `llm.speculate`: greedy answers may use prompt-lookup speculative decoding.
    speculation: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Llm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llm").field("info", &self.info).finish()
    }
}

/// Tokens that end an assistant turn in the chat formats we know.
const END_OF_TURN: &[&str] = &[
    "<|im_end|>",
    "<|endoftext|>",
    "<|eot_id|>",
    "<end_of_turn>",
    "<|end|>",
    "</s>",
];

impl Llm {
    /// Load `path` with a context window of at most `context_window` tokens.
    pub fn load(path: &Path, name: &str, context_window: usize) -> Result<Llm> {
        let mut gguf = gguf::GgufFile::open(path)?;
        let tokenizer = tokenizer::load(&gguf, path)?;
        let token = |key: &str| {
            gguf.get(key)
                .and_then(|v| v.to_u32().ok())
                .and_then(|id| tokenizer.id_to_token(id))
                .unwrap_or_default()
        };
        let bos = token("tokenizer.ggml.bos_token_id");
        let eos = token("tokenizer.ggml.eos_token_id");
        let source = gguf.string("tokenizer.chat_template");
        let add_bos = gguf
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let template = ChatTemplate::new(source.as_deref(), &bos, &eos, add_bos)?;
        let mut end_ids: Vec<u32> = END_OF_TURN
            .iter()
            .filter_map(|t| tokenizer.token_to_id(t))
            .collect();
        if let Some(id) = gguf
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
        {
            end_ids.push(id);
        }
        let architecture = gguf.architecture.clone();
        let vocab = tokenizer.get_vocab_size(true);
        // sizes checked before any weight is read
        let hyper = transformer::Hyper::read(&gguf)?;
        let model = Box::new(Transformer::load(&mut gguf, hyper, context_window.max(64))?);
        let info = LlmInfo {
            name: name.into(),
            path: path.to_path_buf(),
            architecture,
            trained_context: model.hyper().context_length,
            context_window: model.max_positions(),
            vocab,
            chat_template: !template.is_fallback,
        };
        Ok(Llm {
            info,
            tokenizer,
            template,
            end_ids,
            speculation: std::sync::atomic::AtomicBool::new(true),
            state: Mutex::new(State {
                model,
                cached: Vec::new(),
            }),
        })
    }

    /// Allow or forbid speculative decoding (`llm.speculate`; on by default). It changes
    /// speed only: greedy output is the same token for token.
    pub fn set_speculation(&self, on: bool) {
        self.speculation
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// What this model is.
    pub fn info(&self) -> &LlmInfo {
        &self.info
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Tokens `text` takes.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(tokenizer::encode(&self.tokenizer, text)?.len())
    }

    /// Render chat `messages` with the model's template.
    pub fn render(&self, messages: &[Message]) -> Result<String> {
        self.template.render(messages)
    }

    /// Generate a reply to the chat `messages`.
    pub fn chat(
        &self,
        messages: &[Message],
        params: &GenerateParams,
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let prompt = self.render(messages)?;
        self.generate(&prompt, params, cancel, on_text)
    }

    /// Continue `prompt` (already in the model's chat format), streaming text to `on_text`.
    pub fn generate(
        &self,
        prompt: &str,
        params: &GenerateParams,
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let start = Instant::now();
        let ids = tokenizer::encode(&self.tokenizer, prompt)?;
        let window = self.info.context_window;
        if ids.is_empty() {
            return Err(Error::InvalidRequest("empty prompt".into()));
        }
        if ids.len() + 8 > window {
            return Err(Error::InvalidRequest(format!(
                "the prompt takes {} tokens but the model's context window is {window}: \
                 shorten it or raise llm.context_window",
                ids.len()
            )));
        }
        let max_new = params.max_tokens.min(window - ids.len());
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::Internal("model lock poisoned".into()))?;
        let state = &mut *state;
        let gen_err = |e: candle_core::Error| Error::Generation(e.to_string());

        // Reuse the cached prefix; at least the last prompt token is always run.
        let common = state
            .cached
            .iter()
            .zip(&ids)
            .take_while(|(a, b)| a == b)
            .count()
            .min(ids.len() - 1);
        let common = state.keep(common)?;

        let mut logits: Option<Tensor> = None;
        for chunk in ids[common..].chunks(PREFILL_CHUNK) {
            if cancel.is_cancelled() {
                // the cache holds part of the prompt: keep it consistent
                return Ok(self.cancelled(ids.len(), common, start));
            }
            logits = Some(state.advance(chunk)?);
        }
        let prefill_ms = ms(start);
        let mut logits = logits.expect("at least one prompt token");
        let sampling = if params.temperature <= 0.0 {
            Sampling::ArgMax
        } else {
            Sampling::TopP {
                p: params.top_p,
                temperature: params.temperature,
            }
        };
        let mut sampler = LogitsProcessor::from_sampling(params.seed, sampling);
        let mut stream = tokenizer::TokenStream::new(&self.tokenizer);
        let mut generated: Vec<u32> = Vec::new();
        let mut text = String::new();
        let mut emitted = 0usize;
        let mut first_token_ms = 0.0;
        let mut decode_start = Instant::now();
        let mut stop_reason = StopReason::Length;
        let greedy = params.temperature <= 0.0;
        let speculating = greedy
            && params.speculate
            && self.speculation.load(std::sync::atomic::Ordering::Relaxed);
        // the prompt and the answer so far, where drafts are looked up
        let mut history = ids.clone();
        // tokens known to come next; `true` when already in the KV cache
        let mut queue: std::collections::VecDeque<(u32, bool)> = Default::default();
        let mut draft_len = 2 * speculate::MIN_DRAFT;
        let (mut drafted_tokens, mut accepted_tokens) = (0usize, 0usize);
        let recent = |tokens: &[u32]| tokens.len().saturating_sub(params.repeat_last_n);
        while generated.len() < max_new {
            if cancel.is_cancelled() {
                stop_reason = StopReason::Cancelled;
                break;
            }
            let (next, in_cache) = match queue.pop_front() {
                Some(known) => known,
                None => {
                    let mut v = logit_values(&logits).map_err(gen_err)?;
                    let context = &generated[recent(&generated)..];
                    if greedy {
                        (
                            speculate::greedy(&mut v, params.repeat_penalty, context),
                            false,
                        )
                    } else {
                        speculate::penalise(&mut v, params.repeat_penalty, context);
                        let n = v.len();
                        let l = Tensor::from_vec(v, n, logits.device()).map_err(gen_err)?;
                        (sampler.sample(&l).map_err(gen_err)?, false)
                    }
                }
            };
            if generated.is_empty() {
                first_token_ms = ms(start);
                decode_start = Instant::now();
            }
            if self.end_ids.contains(&next) {
                stop_reason = StopReason::EndOfTurn;
                break;
            }
            generated.push(next);
            history.push(next);
            if let Some(piece) = stream.push(next)? {
                text.push_str(&piece);
                if let Some(cut) = find_stop(&text, &params.stop) {
                    text.truncate(cut);
                    stop_reason = StopReason::StopString;
                    break;
                }
                let safe = safe_len(&text, &params.stop);
                if safe > emitted {
                    on_text(&text[emitted..safe]);
                    emitted = safe;
                }
            }
            if generated.len() >= max_new {
                break;
            }
            if in_cache {
                continue; // an accepted draft: what follows it is already queued
            }
            // drafting pays only while most drafts are kept: an answer that keeps rejecting
            // them (it does not copy its sources) goes on one token at a time
            let paying = drafted_tokens < speculate::PROBATION
                || accepted_tokens as f64 >= speculate::MIN_ACCEPTANCE * drafted_tokens as f64;
            let draft = if speculating && paying {
                speculate::draft(&history, draft_len.min(max_new - generated.len()))
            } else {
                Vec::new()
            };
            if draft.is_empty() {
                logits = state.advance(&[next])?;
                continue;
            }
            // run the token and its draft in one batch; keep the draft while greedy agrees
            let before = state.cached.len();
            let mut batch = vec![next];
            batch.extend_from_slice(&draft);
            let mut rows = state.advance_each(&batch)?;
            let vocab = rows.len() / batch.len();
            let mut context = generated.clone();
            let mut ok = 0;
            let pick = loop {
                let row = &mut rows[ok * vocab..(ok + 1) * vocab];
                let from = recent(&context);
                let t = speculate::greedy(row, params.repeat_penalty, &context[from..]);
                if ok < draft.len() && t == draft[ok] {
                    context.push(t);
                    ok += 1;
                } else {
                    break t;
                }
            };
            drafted_tokens += draft.len();
            accepted_tokens += ok;
            draft_len = speculate::adapt(draft_len, draft.len(), ok);
            state.keep(before + 1 + ok)?;
            queue.extend(draft[..ok].iter().map(|&t| (t, true)));
            queue.push_back((pick, false));
        }
        if stop_reason == StopReason::Length || stop_reason == StopReason::Cancelled {
            if let Some(rest) = stream.rest()? {
                text.push_str(&rest);
            }
        }
        if text.len() > emitted {
            on_text(&text[emitted..]);
        }
        let decode_s = decode_start.elapsed().as_secs_f64();
        let n = generated.len();
        Ok(Generation {
            text,
            stop_reason,
            prompt_tokens: ids.len(),
            cached_tokens: common,
            completion_tokens: n,
            prefill_ms,
            first_token_ms,
            tokens_per_s: if n > 1 && decode_s > 0.0 {
                (n - 1) as f64 / decode_s
            } else {
                0.0
            },
            drafted_tokens,
            accepted_tokens,
        })
    }

    fn cancelled(&self, prompt_tokens: usize, cached: usize, start: Instant) -> Generation {
        Generation {
            text: String::new(),
            stop_reason: StopReason::Cancelled,
            prompt_tokens,
            cached_tokens: cached,
            completion_tokens: 0,
            prefill_ms: ms(start),
            first_token_ms: 0.0,
            tokens_per_s: 0.0,
            drafted_tokens: 0,
            accepted_tokens: 0,
        }
    }

    /// Benchmark: prefill `ids` from an empty cache, then `decode_steps` greedy steps; returns
    /// (prefill tokens/s, decode tokens/s).
    pub fn forward_fresh(&self, ids: &[u32], decode_steps: usize) -> Result<(f64, f64)> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::Internal("model lock poisoned".into()))?;
        let gen_err = |e: candle_core::Error| Error::Generation(e.to_string());
        state.model.clear();
        state.cached.clear();
        let t = Instant::now();
        let mut logits = None;
        for chunk in ids.chunks(PREFILL_CHUNK) {
            logits = Some(state.model.forward(chunk).map_err(gen_err)?);
        }
        let prefill_s = t.elapsed().as_secs_f64();
        let mut next = logits
            .ok_or_else(|| Error::InvalidRequest("no tokens".into()))?
            .argmax(0)
            .and_then(|t| t.to_scalar::<u32>())
            .map_err(gen_err)?;
        let t = Instant::now();
        for _ in 0..decode_steps {
            let l = state.model.forward(&[next]).map_err(gen_err)?;
            next = l
                .argmax(0)
                .and_then(|t| t.to_scalar::<u32>())
                .map_err(gen_err)?;
        }
        let decode_s = t.elapsed().as_secs_f64();
        state.model.clear();
        Ok((
            ids.len() as f64 / prefill_s,
            decode_steps as f64 / decode_s.max(1e-9),
        ))
    }
    /// What checking speculative tokens costs on this machine: after prefilling `ids`, the
    /// median time (ms, of `repeat` runs) of one batched pass over `k` tokens for each `k` of
    /// `sizes` (1 is a plain decode step). Speculation pays when a batch of `k` costs less
    /// than the tokens it is expected to yield. `None` for a network that does not check in
    /// batches.
    pub fn batch_costs(
        &self,
        ids: &[u32],
        sizes: &[usize],
        repeat: usize,
    ) -> Result<Option<Vec<(usize, f64)>>> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| Error::Internal("model lock poisoned".into()))?;
        if ids.is_empty() {
            return Ok(None);
        }
        state.model.clear();
        state.cached.clear();
        for chunk in ids.chunks(PREFILL_CHUNK) {
            state.advance(chunk)?;
        }
        let base = state.cached.len();
        let mut out = Vec::new();
        for &k in sizes {
            let batch: Vec<u32> = ids.iter().cycle().take(k.max(1)).copied().collect();
            let mut times = Vec::new();
            for _ in 0..repeat.max(1) {
                let t = Instant::now();
                state.advance_each(&batch)?;
                times.push(ms(t));
                state.keep(base)?;
            }
            times.sort_by(|a, b| a.total_cmp(b));
            out.push((k, times[times.len() / 2]));
        }
        state.model.clear();
        state.cached.clear();
        Ok(Some(out))
    }
}

/// Milliseconds since `since`.
pub(crate) fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// Byte index where the first stop string starts, if one appears.
fn find_stop(text: &str, stop: &[String]) -> Option<usize> {
    stop.iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// Length of `text` that can be shown: a tail that could begin a stop string is held back.
fn safe_len(text: &str, stop: &[String]) -> usize {
    let mut safe = text.len();
    for s in stop.iter().filter(|s| !s.is_empty()) {
        for (i, _) in s.char_indices().skip(1) {
            if text.ends_with(&s[..i]) {
                safe = safe.min(text.len() - i);
            }
        }
    }
    safe
}

/// Check that `file` is a GGUF this engine can run and copy it into `models_dir` as an
/// imported model named `name` (default: the file's stem). Returns the name and new path.
pub fn import(models_dir: &Path, file: &Path, name: Option<&str>) -> Result<(String, PathBuf)> {
    let gguf = gguf::GgufFile::open(file)?;
    transformer::Hyper::read(&gguf)?;
    drop(gguf);
    let name = match name {
        Some(n) => n.to_string(),
        None => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "imported".into()),
    };
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(Error::InvalidRequest(format!(
            "'{name}' cannot be a model name"
        )));
    }
    let dest = crate::catalog::imported_path(models_dir, &name);
    if dest.exists() {
        return Err(Error::InvalidRequest(format!(
            "a model named '{name}' is already imported ({}); choose another name",
            dest.display()
        )));
    }
    let dir = dest.parent().expect("imported path has a parent");
    std::fs::create_dir_all(dir).map_err(|e| Error::DataDir {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let tmp = dir.join(format!(".{name}.gguf.partial"));
    std::fs::copy(file, &tmp)
        .and_then(|_| std::fs::rename(&tmp, &dest))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::DataDir {
                path: dest.clone(),
                reason: format!("cannot copy the model: {e}"),
            }
        })?;
    Ok((name, dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_are_held_back_and_cut() {
        let stop = vec!["\nQuestion:".to_string()];
        assert_eq!(safe_len("The answer\nQue", &stop), "The answer".len());
        assert_eq!(safe_len("The answer", &stop), "The answer".len());
        assert_eq!(find_stop("A.\nQuestion: b", &stop), Some(2));
        assert_eq!(find_stop("A.", &stop), None);
    }
}
