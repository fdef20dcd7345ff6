//! [`RemoteLlm`]: a [`Generator`] whose tokens come from an OpenAI-compatible chat endpoint,
//! streamed as server-sent events (or read whole from a server that does not stream).

use std::path::PathBuf;
use std::time::Instant;

use hearth::config::LlmConfig;
use hearth::llm::StopReason;
use hearth::{
    Cancel, Error, GenerateParams, Generation, Generator, LlmInfo, Message, Result, Role,
};
use reqwest::Method;
use serde_json::{json, Value};

use super::{Endpoint, Failure, MAX_ERROR_BODY, MAX_REPLY};

/// An OpenAI-compatible chat endpoint.
#[derive(Debug, Clone)]
pub struct RemoteLlm {
    pub(super) endpoint: Endpoint,
    model: String,
    info: LlmInfo,
}

impl RemoteLlm {
    /// The endpoint of `[llm] endpoint` (with `endpoint_model`, `endpoint_key`, `endpoint_ca`,
    /// `endpoint_timeout_s` and `context_window`).
    pub fn new(cfg: &LlmConfig) -> Result<Self> {
        let endpoint = Endpoint::new(
            "llm.endpoint",
            &cfg.endpoint,
            &cfg.endpoint_key,
            &cfg.endpoint_ca,
            cfg.endpoint_timeout_s,
        )?;
        Ok(Self {
            info: LlmInfo {
                name: Self::name(cfg),
                path: PathBuf::from(&endpoint.base),
                architecture: "remote".into(),
                trained_context: cfg.context_window,
                context_window: cfg.context_window,
                vocab: 0,
                chat_template: true,
            },
            endpoint,
            model: Self::model(cfg),
        })
    }

    /// The model name sent to the server (`endpoint_model`, else "default").
    fn model(cfg: &LlmConfig) -> String {
        match cfg.endpoint_model.trim() {
            "" => "default".to_string(),
            m => m.to_string(),
        }
    }

    /// `model at URL`: how the shells name the answering server (no client is built).
    pub(super) fn name(cfg: &LlmConfig) -> String {
        let base = cfg.endpoint.trim().trim_end_matches('/');
        format!("{} at {base}", Self::model(cfg))
    }

    /// Ask the server for its models (`GET …/models`): a clear error now, rather than at the
    /// first question, when it is down or is not an OpenAI-compatible server.
    pub fn check(&self) -> Result<Vec<String>> {
        let at = &self.endpoint;
        let (status, body) = at
            .fetch(Method::GET, "/models", None)
            .map_err(Failure::error)?;
        if status != 200 {
            return Err(at.refused(status, &body));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| at.garbage(&body))?;
        let ids = v["data"]
            .as_array()
            .ok_or_else(|| at.garbage(&body))?
            .iter()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect();
        Ok(ids)
    }

    /// One try at a chat completion. Once text has reached `on_text`, every failure is final:
    /// a retry would stream the answer again.
    fn attempt(
        &self,
        body: &[u8],
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
        started: Instant,
    ) -> std::result::Result<Generation, Failure> {
        let at = &self.endpoint;
        let mut reply = at
            .send(Method::POST, "/chat/completions", Some(body.to_vec()))
            .map_err(Failure::Final)?;
        let (status, json_reply) = reply.head(at, cancel)?;
        if status != 200 {
            let body = reply.rest(at, MAX_ERROR_BODY)?;
            return Err(at.refusal(status, &body));
        }
        let mut gen = Generation {
            text: String::new(),
            stop_reason: StopReason::EndOfTurn,
            prompt_tokens: 0,
            cached_tokens: 0,
            completion_tokens: 0,
            prefill_ms: 0.0,
            first_token_ms: 0.0,
            tokens_per_s: 0.0,
            drafted_tokens: 0,
            accepted_tokens: 0,
        };
        if json_reply {
            // a server that does not stream: the whole reply at once
            let body = reply.rest(at, MAX_REPLY)?;
            let v: Value =
                serde_json::from_slice(&body).map_err(|_| Failure::Final(at.garbage(&body)))?;
            let text = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| Failure::Final(at.garbage(&body)))?;
            gen.first_token_ms = started.elapsed().as_secs_f64() * 1e3;
            on_text(text);
            gen.text = text.to_string();
            Self::finish(&mut gen, &v);
            return Ok(gen);
        }
        let mut pieces = 0usize;
        let mut first_at = None;
        // the stream ends with `data: [DONE]`; a finish reason also says the answer is whole
        let mut whole = false;
        let mid_answer = |f: Failure, pieces: usize| {
            if pieces == 0 {
                return f;
            }
            Failure::Final(Error::Generation(format!(
                "{} (mid-answer; what arrived is not complete)",
                f.error()
            )))
        };
        loop {
            let line = reply.line(at, cancel).map_err(|f| mid_answer(f, pieces))?;
            if cancel.is_cancelled() {
                gen.stop_reason = StopReason::Cancelled;
                break;
            }
            let Some(line) = line else {
                if whole {
                    break;
                }
                let cut = Failure::Transient(Error::Generation(format!(
                    "the model server at {} ended its reply before the answer was finished",
                    at.base
                )));
                return Err(mid_answer(cut, pieces));
            };
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue; // comments, event names, blank separators
            };
            if data == "[DONE]" {
                break;
            }
            let v: Value = serde_json::from_str(data)
                .map_err(|_| mid_answer(Failure::Final(at.garbage(data.as_bytes())), pieces))?;
            if v["error"].is_object() || v["error"].is_string() {
                let refused = Failure::Final(at.refused(200, data.as_bytes()));
                return Err(mid_answer(refused, pieces));
            }
            if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
                if !piece.is_empty() {
                    if first_at.is_none() {
                        first_at = Some(Instant::now());
                        gen.first_token_ms = started.elapsed().as_secs_f64() * 1e3;
                    }
                    pieces += 1;
                    gen.text.push_str(piece);
                    on_text(piece);
                }
            }
            whole |= v["choices"][0]["finish_reason"].is_string();
            Self::finish(&mut gen, &v);
        }
        if gen.completion_tokens == 0 {
            gen.completion_tokens = pieces;
        }
        if let Some(t) = first_at {
            let secs = t.elapsed().as_secs_f64();
            if secs > 0.0 && gen.completion_tokens > 1 {
                gen.tokens_per_s = (gen.completion_tokens - 1) as f64 / secs;
            }
        }
        Ok(gen)
    }

    /// Usage and finish reason, where the server sends them.
    fn finish(gen: &mut Generation, v: &Value) {
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            if let Some(p) = u["prompt_tokens"].as_u64() {
                gen.prompt_tokens = p as usize;
            }
            if let Some(c) = u["completion_tokens"].as_u64() {
                gen.completion_tokens = c as usize;
            }
        }
        if v["choices"][0]["finish_reason"].as_str() == Some("length") {
            gen.stop_reason = StopReason::Length;
        }
        gen.prefill_ms = gen.first_token_ms;
    }
}

impl Generator for RemoteLlm {
    fn info(&self) -> &LlmInfo {
        &self.info
    }

    /// An estimate (the server's tokenizer is not at hand): about four bytes of text a token,
    /// which errs high for English prose.
    fn count_tokens(&self, text: &str) -> Result<usize> {
        Ok(text.len().div_ceil(4))
    }

    fn chat(
        &self,
        messages: &[Message],
        params: &GenerateParams,
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Generation> {
        let messages: Vec<Value> = messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    Role::System => "system",
                    Role::User => "user",
                    Role::Assistant => "assistant",
                };
                json!({ "role": role, "content": m.content })
            })
            .collect();
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": { "include_usage": true },
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "seed": params.seed,
        });
        if params.temperature > 0.0 {
            body["top_p"] = json!(params.top_p);
        }
        let stop: Vec<&String> = params.stop.iter().filter(|s| !s.is_empty()).collect();
        if !stop.is_empty() {
            body["stop"] = json!(stop);
        }
        let body = serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?;
        let started = Instant::now();
        self.endpoint
            .with_retries(cancel, || self.attempt(&body, cancel, on_text, started))
    }
}
