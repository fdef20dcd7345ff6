//! A language model behind an OpenAI-compatible server (llama.cpp's `llama-server`, Ollama,
//! vLLM): [`RemoteLlm`] is a [`Generator`], so answers keep Hearth's retrieval, prompts and
//! citation checks while the tokens come from elsewhere.
//!
//! A small blocking HTTP/1.1 client (the answer path runs on a blocking thread): plain `http://`
//! only, streamed chat completions read as server-sent events, retries with backoff while
//! nothing has been streamed yet, a timeout for silence, cancellation between pieces.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use std::ops::Range;

use hearth::chunk::Tokenize;
use hearth::config::{EmbedderEndpoint, LlmConfig};
use hearth::llm::StopReason;
use hearth::Embedder;
use hearth::{
    Cancel, Error, GenerateParams, Generation, Generator, LlmInfo, Message, Result, Role,
};
use serde_json::{json, Value};

/// Attempts for a request that fails before anything was streamed.
const ATTEMPTS: u32 = 3;
/// How often a blocked read wakes to look at the cancel flag.
const POLL: Duration = Duration::from_millis(250);
/// Most bytes of an error reply read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Most bytes of a whole reply read (an embeddings batch: 64 vectors of 4,096 numbers as JSON
/// is ~6 MB).
const MAX_REPLY: usize = 64 << 20;

/// Where an OpenAI-compatible server is and how to talk to it.
#[derive(Debug, Clone)]
struct Endpoint {
    base: String,
    host: String,
    port: u16,
    /// `/v1` (the base URL's path, without a trailing slash).
    prefix: String,
    key: String,
    timeout: Duration,
}

/// An OpenAI-compatible chat endpoint.
#[derive(Debug, Clone)]
pub struct RemoteLlm {
    endpoint: Endpoint,
    model: String,
    info: LlmInfo,
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    /// Connection refused or reset, 429, 5xx: worth another try.
    Transient(Error),
    /// Anything else, or a failure after text was streamed.
    Final(Error),
}

impl RemoteLlm {
    /// The endpoint of `[llm] endpoint` (with `endpoint_model`, `endpoint_key`,
    /// `endpoint_timeout_s` and `context_window`).
    pub fn new(cfg: &LlmConfig) -> Result<Self> {
        let endpoint = Endpoint::new(
            "llm.endpoint",
            &cfg.endpoint,
            &cfg.endpoint_key,
            cfg.endpoint_timeout_s,
        )?;
        let model = if cfg.endpoint_model.trim().is_empty() {
            "default".to_string()
        } else {
            cfg.endpoint_model.trim().to_string()
        };
        Ok(Self {
            info: LlmInfo {
                name: format!("{model} at {}", endpoint.base),
                path: PathBuf::from(&endpoint.base),
                architecture: "remote".into(),
                trained_context: cfg.context_window,
                context_window: cfg.context_window,
                vocab: 0,
                chat_template: true,
            },
            endpoint,
            model,
        })
    }

    /// Ask the server for its models (`GET …/models`): a clear error now, rather than at the
    /// first question, when it is down or is not an OpenAI-compatible server.
    pub fn check(&self) -> Result<Vec<String>> {
        let (status, body) = self
            .endpoint
            .request("GET", "/models", None)
            .and_then(|mut c| c.read_all())
            .map_err(|f| match f {
                Failure::Transient(e) | Failure::Final(e) => e,
            })?;
        if status != 200 {
            return Err(self.endpoint.refused(status, &body));
        }
        let v: Value = serde_json::from_slice(&body).map_err(|_| self.endpoint.garbage(&body))?;
        let ids = v["data"]
            .as_array()
            .ok_or_else(|| self.endpoint.garbage(&body))?
            .iter()
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect();
        Ok(ids)
    }

    fn attempt(
        &self,
        body: &[u8],
        cancel: &Cancel,
        on_text: &mut dyn FnMut(&str),
        started: Instant,
    ) -> std::result::Result<Generation, Failure> {
        let mut c = self
            .endpoint
            .request("POST", "/chat/completions", Some(body))?;
        let (status, json_reply) = c.head(cancel)?;
        if status != 200 {
            let body = c.rest(MAX_ERROR_BODY)?;
            return Err(self.endpoint.refusal(status, &body));
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
            let body = c.rest(MAX_REPLY)?;
            let v: Value = serde_json::from_slice(&body)
                .map_err(|_| Failure::Final(self.endpoint.garbage(&body)))?;
            let text = v["choices"][0]["message"]["content"]
                .as_str()
                .ok_or_else(|| Failure::Final(self.endpoint.garbage(&body)))?;
            gen.first_token_ms = started.elapsed().as_secs_f64() * 1e3;
            on_text(text);
            gen.text = text.to_string();
            Self::finish(&mut gen, &v);
            return Ok(gen);
        }
        let mut pieces = 0usize;
        let mut first_at = None;
        while let Some(line) = c.line(cancel)? {
            if cancel.is_cancelled() {
                gen.stop_reason = StopReason::Cancelled;
                break;
            }
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue; // comments, event names, blank separators
            };
            if data == "[DONE]" {
                break;
            }
            let v: Value = serde_json::from_str(data).map_err(|_| {
                let e = self.endpoint.garbage(data.as_bytes());
                if pieces == 0 {
                    Failure::Final(e)
                } else {
                    Failure::Final(Error::Generation(format!("{e} (mid-answer)")))
                }
            })?;
            if v["error"].is_object() || v["error"].is_string() {
                return Err(Failure::Final(self.endpoint.refused(200, data.as_bytes())));
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
            Self::finish(&mut gen, &v);
        }
        if cancel.is_cancelled() {
            gen.stop_reason = StopReason::Cancelled;
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

impl Endpoint {
    /// `url` must be `http://host[:port]/prefix`; `what` names the setting in errors.
    fn new(what: &str, url: &str, key: &str, timeout_s: f64) -> Result<Self> {
        let base = url.trim().trim_end_matches('/').to_string();
        let parsed =
            url::Url::parse(&base).map_err(|e| Error::Config(format!("{what} {base:?}: {e}")))?;
        if parsed.scheme() != "http" {
            return Err(Error::Config(format!(
                "{what} {base:?}: only http:// endpoints are supported"
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| Error::Config(format!("{what} {base:?} names no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Self {
            port: parsed.port().unwrap_or(80),
            prefix: parsed.path().trim_end_matches('/').to_string(),
            host,
            base,
            key: key.trim().to_string(),
            timeout: Duration::from_secs_f64(if timeout_s.is_finite() {
                timeout_s.max(1.0)
            } else {
                120.0
            }),
        })
    }

    fn refused(&self, status: u16, body: &[u8]) -> Error {
        let said = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| {
                v["error"]["message"]
                    .as_str()
                    .or_else(|| v["error"].as_str())
                    .or_else(|| v["detail"].as_str())
                    .map(String::from)
            })
            .unwrap_or_else(|| snippet(body));
        Error::Generation(format!(
            "the model server at {} answered {status}: {said}",
            self.base
        ))
    }

    fn garbage(&self, body: &[u8]) -> Error {
        Error::Generation(format!(
            "the model server at {} did not answer as an OpenAI-compatible server: {}",
            self.base,
            snippet(body)
        ))
    }

    /// A non-200 reply as a failure: 429 and 5xx are worth another try, the rest are not.
    fn refusal(&self, status: u16, body: &[u8]) -> Failure {
        let e = self.refused(status, body);
        if status == 429 || status >= 500 {
            Failure::Transient(e)
        } else {
            Failure::Final(e)
        }
    }

    /// Runs `attempt` up to [`ATTEMPTS`] times, waiting 0.5 s, then 1 s, after a transient
    /// failure; a cancelled job ends as [`Error::Cancelled`].
    fn with_retries<T>(
        &self,
        cancel: &Cancel,
        mut attempt: impl FnMut() -> std::result::Result<T, Failure>,
    ) -> Result<T> {
        let mut wait = Duration::from_millis(500);
        let mut tries = 0;
        loop {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            tries += 1;
            match attempt() {
                Ok(v) => return Ok(v),
                Err(Failure::Transient(_)) if tries < ATTEMPTS => {
                    std::thread::sleep(wait);
                    wait *= 2;
                }
                Err(Failure::Transient(e) | Failure::Final(e)) => {
                    return Err(if cancel.is_cancelled() {
                        Error::Cancelled
                    } else {
                        e
                    })
                }
            }
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> std::result::Result<Connection, Failure> {
        let down = |e: std::io::Error| {
            Failure::Transient(Error::Generation(format!(
                "cannot reach the model server at {}: {e} (is it running?)",
                self.base
            )))
        };
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(down)?
            .next()
            .ok_or_else(|| down(std::io::Error::other("no address")))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(down)?;
        stream.set_read_timeout(Some(POLL)).map_err(down)?;
        stream.set_nodelay(true).map_err(down)?;
        let mut head = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\
             Accept: application/json, text/event-stream\r\nUser-Agent: hearth\r\n",
            self.prefix, self.host, self.port
        );
        if !self.key.is_empty() {
            head.push_str(&format!("Authorization: Bearer {}\r\n", self.key));
        }
        if let Some(b) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                b.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).map_err(down)?;
        if let Some(b) = body {
            stream.write_all(b).map_err(down)?;
        }
        Ok(Connection {
            stream,
            timeout: self.timeout,
            base: self.base.clone(),
            raw: Vec::new(),
            body: Body::Plain,
            payload: Vec::new(),
            ended: false,
        })
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
        self.complete(messages, params, cancel, on_text)
    }
}

impl RemoteLlm {
    /// One chat completion, streamed to `on_text`.
    fn complete(
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

/// An embedding model behind an OpenAI-compatible `/v1/embeddings` (`[embedder] endpoint`).
/// Its dimension is asked of the server when it is made; vectors come back L2-normalised.
/// Tokens for chunk sizes are words and punctuation marks (the server's tokenizer is not at
/// hand; a model token is rarely longer than a word, so chunks stay under its limit).
#[derive(Debug, Clone)]
pub struct RemoteEmbedder {
    endpoint: Endpoint,
    id: String,
    model: String,
    dim: usize,
    max_tokens: usize,
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
        let reply = self
            .endpoint
            .with_retries(&Cancel::new(), || {
                let mut c = self.endpoint.request("POST", "/embeddings", Some(&body))?;
                let (status, reply) = c.read_all()?;
                if status != 200 {
                    return Err(self.endpoint.refusal(status, &reply));
                }
                Ok(reply)
            })
            .map_err(|e| Error::Embedding(e.to_string()))?;
        let garbage = || Error::Embedding(self.endpoint.garbage(&reply).to_string());
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

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
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

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    if text.is_empty() {
        return "an empty reply".into();
    }
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    format!("{s:?}")
}

/// How the reply body is framed.
enum Body {
    /// Until the connection closes (or `Content-Length`, which `Connection: close` makes the
    /// same).
    Plain,
    /// `Transfer-Encoding: chunked`: the size line being read, or bytes left in a chunk.
    Chunked(Chunk),
}

enum Chunk {
    Size(Vec<u8>),
    Data(usize),
    /// The CRLF after a chunk's data.
    Crlf(usize),
    Done,
}

/// One request's reply, read with a timeout for silence and a cancel check while waiting.
struct Connection {
    stream: TcpStream,
    timeout: Duration,
    base: String,
    /// Bytes read but not yet taken as head.
    raw: Vec<u8>,
    body: Body,
    /// Body bytes not yet taken as lines.
    payload: Vec<u8>,
    ended: bool,
}

impl Connection {
    /// Read more from the socket; false at the end of the stream.
    fn fill(&mut self, cancel: Option<&Cancel>) -> std::result::Result<bool, Failure> {
        let waited = Instant::now();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.raw.extend_from_slice(&buf[..n]);
                    return Ok(true);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) =>
                {
                    if cancel.is_some_and(Cancel::is_cancelled) {
                        return Err(Failure::Final(Error::Cancelled));
                    }
                    if waited.elapsed() >= self.timeout {
                        return Err(Failure::Transient(Error::Generation(format!(
                            "the model server at {} sent nothing for {:.0} s",
                            self.base,
                            self.timeout.as_secs_f64()
                        ))));
                    }
                }
                Err(e) => {
                    return Err(Failure::Transient(Error::Generation(format!(
                        "the connection to the model server at {} broke: {e}",
                        self.base
                    ))))
                }
            }
        }
    }

    /// The status and whether the body is one JSON document (not an event stream).
    fn head(&mut self, cancel: &Cancel) -> std::result::Result<(u16, bool), Failure> {
        let end = loop {
            if let Some(i) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            if self.raw.len() > 64 * 1024 || !self.fill(Some(cancel))? {
                return Err(Failure::Transient(Error::Generation(format!(
                    "the model server at {} closed the connection without an HTTP reply",
                    self.base
                ))));
            }
        };
        let head = String::from_utf8_lossy(&self.raw[..end]).to_string();
        self.raw.drain(..end + 4);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| {
                Failure::Final(Error::Generation(format!(
                    "the model server at {} sent no HTTP status",
                    self.base
                )))
            })?;
        let mut json_reply = false;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            if k == "transfer-encoding" && v.contains("chunked") {
                self.body = Body::Chunked(Chunk::Size(Vec::new()));
            }
            if k == "content-type" && v.starts_with("application/json") {
                json_reply = true;
            }
        }
        self.decode();
        Ok((status, json_reply))
    }

    /// Move what `raw` holds of the body into `payload`, undoing chunked framing.
    fn decode(&mut self) {
        let raw = std::mem::take(&mut self.raw);
        let Body::Chunked(state) = &mut self.body else {
            self.payload.extend_from_slice(&raw);
            return;
        };
        let mut i = 0;
        while i < raw.len() {
            match state {
                Chunk::Size(line) => {
                    let b = raw[i];
                    i += 1;
                    if b == b'\n' {
                        let text = String::from_utf8_lossy(line);
                        let size = text.split(';').next().unwrap_or("").trim();
                        let size = usize::from_str_radix(size, 16).unwrap_or(0);
                        *state = if size == 0 {
                            Chunk::Done
                        } else {
                            Chunk::Data(size)
                        };
                    } else if b != b'\r' {
                        line.push(b);
                    }
                }
                Chunk::Data(left) => {
                    let n = (*left).min(raw.len() - i);
                    self.payload.extend_from_slice(&raw[i..i + n]);
                    i += n;
                    *left -= n;
                    if *left == 0 {
                        *state = Chunk::Crlf(2);
                    }
                }
                Chunk::Crlf(left) => {
                    i += 1;
                    *left -= 1;
                    if *left == 0 {
                        *state = Chunk::Size(Vec::new());
                    }
                }
                Chunk::Done => {
                    self.ended = true;
                    return;
                }
            }
        }
        if matches!(state, Chunk::Done) {
            self.ended = true;
        }
    }

    /// The next line of the body (without its line end); `None` at its end.
    fn line(&mut self, cancel: &Cancel) -> std::result::Result<Option<String>, Failure> {
        loop {
            if let Some(i) = self.payload.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.payload.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
            }
            if cancel.is_cancelled() {
                return Ok(None);
            }
            let more = match self.fill(Some(cancel)) {
                Err(Failure::Final(Error::Cancelled)) => return Ok(None),
                other => other?,
            };
            if self.ended || !more {
                if self.payload.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.payload);
                return Ok(Some(String::from_utf8_lossy(&rest).trim_end().to_string()));
            }
            self.decode();
        }
    }

    /// The rest of the body, read up to about `limit` bytes (error replies, whole-JSON replies).
    fn rest(&mut self, limit: usize) -> std::result::Result<Vec<u8>, Failure> {
        while !self.ended && self.payload.len() < limit {
            if !self.fill(None)? {
                break;
            }
            self.decode();
        }
        Ok(std::mem::take(&mut self.payload))
    }

    /// Status and body of a plain request.
    fn read_all(&mut self) -> std::result::Result<(u16, Vec<u8>), Failure> {
        let (status, _) = self.head(&Cancel::new())?;
        let limit = if status == 200 {
            MAX_REPLY
        } else {
            MAX_ERROR_BODY
        };
        Ok((status, self.rest(limit)?))
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A server that answers each connection with the next canned reply and keeps the request
    /// bodies.
    fn fake(replies: Vec<String>) -> (String, Arc<Mutex<Vec<Value>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for reply in replies {
                let (stream, _) = listener.accept().unwrap();
                let mut r = BufReader::new(stream);
                let mut length = 0;
                let mut line = String::new();
                loop {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    if line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                r.read_exact(&mut body).unwrap();
                log.lock()
                    .unwrap()
                    .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                let mut s = r.into_inner();
                s.write_all(reply.as_bytes()).unwrap();
            }
        });
        (format!("http://{addr}/v1"), seen)
    }

    /// An event stream as llama-server sends it: chunked, one event per chunk.
    fn stream(pieces: &[&str], finish: &str) -> String {
        let mut events: Vec<String> = pieces
            .iter()
            .map(|p| {
                json!({"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": null}]})
                    .to_string()
            })
            .collect();
        events.push(
            json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}).to_string(),
        );
        events.push(json!({"choices": [], "usage": {"prompt_tokens": 42, "completion_tokens": pieces.len()}}).to_string());
        events.push("[DONE]".into());
        let mut out = String::from(
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        for e in events {
            let data = format!("data: {e}\n\n");
            out.push_str(&format!("{:x}\r\n{data}\r\n", data.len()));
        }
        out.push_str("0\r\n\r\n");
        out
    }

    fn reply(status: &str, content_type: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    fn remote(endpoint: &str) -> RemoteLlm {
        RemoteLlm::new(&LlmConfig {
            endpoint: endpoint.into(),
            endpoint_model: "qwen".into(),
            endpoint_key: "sekrit".into(),
            endpoint_timeout_s: 5.0,
            ..LlmConfig::default()
        })
        .unwrap()
    }

    fn ask(llm: &RemoteLlm, cancel_after_first: bool) -> (Result<Generation>, Vec<String>) {
        let cancel = Cancel::new();
        let mut pieces = Vec::new();
        let params = GenerateParams {
            max_tokens: 16,
            stop: vec!["\nQuestion:".into()],
            ..GenerateParams::default()
        };
        let c = cancel.clone();
        let result = llm.chat(
            &[
                Message::system("Answer."),
                Message::user("When do the eggs hatch?"),
            ],
            &params,
            &cancel,
            &mut |p| {
                pieces.push(p.to_string());
                if cancel_after_first {
                    c.cancel();
                }
            },
        );
        (result, pieces)
    }

    #[test]
    fn a_streamed_answer_arrives_piece_by_piece_with_its_usage() {
        let (url, seen) = fake(vec![stream(
            &["They hatch", " after 25 days", " [1]."],
            "stop",
        )]);
        let (gen, pieces) = ask(&remote(&url), false);
        let gen = gen.unwrap();
        assert_eq!(pieces, ["They hatch", " after 25 days", " [1]."]);
        assert_eq!(gen.text, "They hatch after 25 days [1].");
        assert_eq!((gen.prompt_tokens, gen.completion_tokens), (42, 3));
        assert_eq!(gen.stop_reason, StopReason::EndOfTurn);
        let req = &seen.lock().unwrap()[0];
        assert_eq!(req["model"], "qwen");
        assert_eq!(req["stream"], true);
        assert_eq!(req["max_tokens"], 16);
        assert_eq!(req["stop"][0], "\nQuestion:");
        assert_eq!(req["messages"][1]["role"], "user");
    }

    #[test]
    fn a_busy_server_is_tried_again_and_a_refusal_is_not() {
        let busy = reply(
            "503 Service Unavailable",
            "application/json",
            r#"{"error":{"message":"loading model"}}"#,
        );
        let (url, seen) = fake(vec![busy, stream(&["Yes."], "length")]);
        let (gen, _) = ask(&remote(&url), false);
        let gen = gen.unwrap();
        assert_eq!(gen.text, "Yes.");
        assert_eq!(gen.stop_reason, StopReason::Length);
        assert_eq!(seen.lock().unwrap().len(), 2);

        let denied = reply(
            "401 Unauthorized",
            "application/json",
            r#"{"error":{"message":"invalid api key"}}"#,
        );
        let (url, seen) = fake(vec![denied]);
        let e = ask(&remote(&url), false).0.unwrap_err().to_string();
        assert!(e.contains("401") && e.contains("invalid api key"), "{e}");
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[test]
    fn a_server_that_is_down_or_speaks_something_else_is_named() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = ask(&remote(&format!("http://127.0.0.1:{port}/v1")), false)
            .0
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot reach the model server") && e.contains("is it running"),
            "{e}"
        );

        let html = reply(
            "200 OK",
            "text/event-stream",
            "data: <html>not an API</html>\n\n",
        );
        let (url, _) = fake(vec![html]);
        let e = ask(&remote(&url), false).0.unwrap_err().to_string();
        assert!(
            e.contains("did not answer as an OpenAI-compatible server"),
            "{e}"
        );

        let (url, _) = fake(vec![reply("200 OK", "application/json", "{\"data\": 5}")]);
        assert!(remote(&url).check().is_err());
        let (url, _) = fake(vec![reply(
            "200 OK",
            "application/json",
            r#"{"data":[{"id":"qwen"}]}"#,
        )]);
        assert_eq!(remote(&url).check().unwrap(), ["qwen"]);
    }

    #[test]
    fn a_server_that_does_not_stream_is_read_whole_and_cancel_stops_a_stream() {
        let whole = json!({"choices": [{"message": {"role": "assistant", "content": "Whole."}, "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 7, "completion_tokens": 2}}).to_string();
        let (url, _) = fake(vec![reply("200 OK", "application/json", &whole)]);
        let (gen, pieces) = ask(&remote(&url), false);
        assert_eq!(gen.unwrap().text, "Whole.");
        assert_eq!(pieces, ["Whole."]);

        let (url, _) = fake(vec![stream(&["One", " two", " three"], "stop")]);
        let (gen, pieces) = ask(&remote(&url), true);
        let gen = gen.unwrap();
        assert_eq!(gen.stop_reason, StopReason::Cancelled);
        assert_eq!(pieces, ["One"]);
    }

    #[test]
    fn a_large_embeddings_reply_is_read_whole() {
        // 64 vectors of 4,096 numbers: a ~3 MB JSON reply
        let vectors = |n: usize| {
            let data: Vec<Value> = (0..n)
                .map(|i| json!({"index": i, "embedding": vec![0.123_456_789_f64; 4096]}))
                .collect();
            reply(
                "200 OK",
                "application/json",
                &json!({"data": data}).to_string(),
            )
        };
        let (url, _) = fake(vec![vectors(1), vectors(64)]);
        let e = RemoteEmbedder::new(&EmbedderEndpoint {
            id: "big".into(),
            endpoint: url,
            endpoint_model: String::new(),
            endpoint_key: String::new(),
            max_tokens: 256,
            endpoint_timeout_s: 5.0,
        })
        .unwrap();
        assert_eq!(e.dim(), 4096);
        let texts: Vec<String> = (0..64).map(|i| format!("text {i}")).collect();
        let out = e.embed(&texts).unwrap();
        assert_eq!(out.len(), 64);
        assert!((out[63].iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn remote_embedder_tokens_are_words_and_marks() {
        let e = RemoteEmbedder {
            endpoint: Endpoint::new("x", "http://127.0.0.1:1/v1", "", 1.0).unwrap(),
            id: "x".into(),
            model: "x".into(),
            dim: 4,
            max_tokens: 16,
        };
        let t = "Héron eggs, 25 days.";
        let words: Vec<&str> = e.token_spans(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(words, ["Héron", "eggs", ",", "25", "days", "."]);
        assert_eq!(normalised(vec![3.0, 4.0]), [0.6, 0.8]);
    }

    #[test]
    fn only_plain_http_endpoints_are_taken() {
        let cfg = |e: &str| LlmConfig {
            endpoint: e.into(),
            ..LlmConfig::default()
        };
        assert!(RemoteLlm::new(&cfg("https://example.com/v1")).is_err());
        let r = RemoteLlm::new(&cfg("http://[::1]:8080/v1/")).unwrap();
        assert_eq!(
            (
                r.endpoint.host.as_str(),
                r.endpoint.port,
                r.endpoint.prefix.as_str()
            ),
            ("::1", 8080, "/v1")
        );
    }
}
