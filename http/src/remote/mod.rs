//! Models behind an OpenAI-compatible server (llama.cpp's `llama-server`, Ollama, vLLM):
//! [`RemoteLlm`] answers (`llm.rs`), [`RemoteEmbedder`] embeds (`embed.rs`). Answers keep
//! Hearth's retrieval, prompts and citation checks while the tokens come from elsewhere.
//!
//! This module holds what both share: the HTTP client (reqwest with rustls, `http://` and
//! `https://`, a certificate of the user's own trusted through `endpoint_ca`), retries with
//! backoff while nothing has been streamed, a timeout for silence, and the one place every shell
//! asks "a server, or a local model?" ([`answerer`], [`open_library`]).
//!
//! Callers block (the answer path and the embedder run on blocking threads): requests run on a
//! small runtime of this module's own, and their bytes come back over a channel, so a caller on
//! any thread can wait, check its cancel flag and stop a request.

mod embed;
mod llm;
#[cfg(test)]
mod tests;
mod tls;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use hearth::config::LlmConfig;
use hearth::{Cancel, Config, Error, Generator, Library, Result};
use serde_json::Value;

pub use embed::RemoteEmbedder;
pub use llm::RemoteLlm;

/// Attempts for a request that fails before anything was streamed.
const ATTEMPTS: u32 = 3;
/// How often a waiting caller looks at its cancel flag.
const POLL: Duration = Duration::from_millis(250);
/// Most bytes of an error reply read.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Most bytes of a whole reply read (an embeddings batch: 64 vectors of 4,096 numbers as JSON
/// is ~6 MB).
const MAX_REPLY: usize = 64 << 20;

/// What answers when `[llm] endpoint` is set: the server, asked for its models first so that
/// one that is down is reported before the question is taken. `None`: no endpoint, a local
/// model answers. Every shell (CLI, `hearth serve`, the desktop) decides here.
pub async fn answerer(llm: &LlmConfig) -> Result<Option<Arc<dyn Generator>>> {
    if llm.endpoint.trim().is_empty() {
        return Ok(None);
    }
    let remote = RemoteLlm::new(llm)?;
    let probe = remote.clone();
    tokio::task::spawn_blocking(move || probe.check())
        .await
        .map_err(|e| Error::Internal(format!("endpoint check thread: {e}")))??;
    Ok(Some(Arc::new(remote)))
}

/// The answering server's name (`model at URL`), when `[llm] endpoint` is set.
pub fn answerer_name(llm: &LlmConfig) -> Option<String> {
    (!llm.endpoint.trim().is_empty()).then(|| RemoteLlm::name(llm))
}

/// Opens the library of `config` with the embedder it names: the server of `[embedder]
/// endpoint` (its vector size asked first), else the local model.
pub async fn open_library(config: Config) -> Result<Library> {
    let Some(remote) = config.embedder_endpoint.clone() else {
        return Library::open(config).await;
    };
    let embedder = tokio::task::spawn_blocking(move || RemoteEmbedder::new(&remote))
        .await
        .map_err(|e| Error::Internal(format!("embedding server check thread: {e}")))??;
    config.validate()?;
    Library::open_with_embedder(config, Arc::new(embedder)).await
}

/// Why one attempt failed, and whether another may succeed.
enum Failure {
    /// Connection refused or broken, silence, 429, 5xx, before anything was streamed: worth
    /// another try.
    Transient(Error),
    /// Anything else, or any failure after text was streamed.
    Final(Error),
}

impl Failure {
    fn error(self) -> Error {
        match self {
            Failure::Transient(e) | Failure::Final(e) => e,
        }
    }
}

/// Where an OpenAI-compatible server is and the client that talks to it.
#[derive(Debug, Clone)]
struct Endpoint {
    /// The base URL without a trailing slash (`http://127.0.0.1:8080/v1`).
    base: String,
    key: String,
    timeout: Duration,
    client: reqwest::Client,
}

impl Endpoint {
    /// `url` is `http(s)://host[:port]/prefix`; `ca` a PEM file of certificates to trust
    /// besides the system's (a server with a certificate of its own); `what` names the setting
    /// in errors.
    fn new(what: &str, url: &str, key: &str, ca: &str, timeout_s: f64) -> Result<Self> {
        let base = url.trim().trim_end_matches('/').to_string();
        let parsed =
            url::Url::parse(&base).map_err(|e| Error::Config(format!("{what} {base:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "{what} {base:?}: only http:// and https:// endpoints are supported"
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| Error::Config(format!("{what} {base:?} names no host")))?;
        let timeout = Duration::from_secs_f64(if timeout_s.is_finite() {
            timeout_s.max(1.0)
        } else {
            120.0
        });
        let mut builder = reqwest::Client::builder()
            .user_agent("hearth")
            .connect_timeout(timeout)
            // one connection a request, as a server that closes idle connections expects
            .pool_max_idle_per_host(0)
            // a model server on the user's machine or network: no proxy from the environment
            .no_proxy()
            .no_gzip();
        if host.eq_ignore_ascii_case("localhost") {
            // both loopbacks, whichever the server binds (the hosts file often names one)
            let port = parsed.port_or_known_default().unwrap_or(80);
            builder = builder.resolve_to_addrs(
                host,
                &[
                    SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                    SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
                ],
            );
        }
        let ca = ca.trim();
        if !ca.is_empty() {
            let what_ca = format!("{what}_ca");
            let pem =
                std::fs::read(ca).map_err(|e| Error::Config(format!("{what_ca} {ca:?}: {e}")))?;
            let tls = tls::client_config(&pem)
                .map_err(|e| Error::Config(format!("{what_ca} {ca:?}: {e}")))?;
            builder = builder.use_preconfigured_tls(tls);
        }
        let client = builder
            .build()
            .map_err(|e| Error::Config(format!("{what} {base:?}: {}", crate::error_chain(&e))))?;
        Ok(Self {
            base,
            key: key.trim().to_string(),
            timeout,
            client,
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

    /// A failure of the transport, named for the user.
    fn broken(&self, e: &reqwest::Error) -> Failure {
        let chain = crate::error_chain(e);
        if e.is_timeout() {
            return self.silent();
        }
        if chain.contains("certificate") {
            // retrying will not change who the server says it is
            return Failure::Final(Error::Generation(format!(
                "the model server at {} did not prove who it is: {chain} (a server with a \
                 certificate of its own: set endpoint_ca to its PEM file)",
                self.base
            )));
        }
        if e.is_connect() {
            return Failure::Transient(Error::Generation(format!(
                "cannot reach the model server at {}: {chain} (is it running?)",
                self.base
            )));
        }
        Failure::Transient(Error::Generation(format!(
            "the connection to the model server at {} broke: {chain}",
            self.base
        )))
    }

    fn silent(&self) -> Failure {
        Failure::Transient(Error::Generation(format!(
            "the model server at {} sent nothing for {:.0} s",
            self.base,
            self.timeout.as_secs_f64()
        )))
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
                Err(f) => {
                    return Err(if cancel.is_cancelled() {
                        Error::Cancelled
                    } else {
                        f.error()
                    })
                }
            }
        }
    }

    /// Sends `method path` (with a JSON body) and gives the reply as it arrives.
    fn send(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Result<Reply> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/json, text/event-stream");
        if !self.key.is_empty() {
            req = req.bearer_auth(&self.key);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        // unbounded: the task never blocks the runtime's one worker on a slow reader
        let (tx, rx) = mpsc::channel();
        let timeout = self.timeout;
        let task = runtime()?.spawn(async move {
            let mut resp = match tokio::time::timeout(timeout, req.send()).await {
                Err(_) => {
                    let _ = tx.send(Event::Silent);
                    return;
                }
                Ok(Err(e)) => {
                    let _ = tx.send(Event::Broken(e));
                    return;
                }
                Ok(Ok(r)) => r,
            };
            let json = resp
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
            if tx
                .send(Event::Head {
                    status: resp.status().as_u16(),
                    json,
                })
                .is_err()
            {
                return;
            }
            loop {
                let event = match tokio::time::timeout(timeout, resp.chunk()).await {
                    Err(_) => Event::Silent,
                    Ok(Err(e)) => Event::Broken(e),
                    Ok(Ok(None)) => Event::End,
                    Ok(Ok(Some(bytes))) => Event::Bytes(bytes.to_vec()),
                };
                let last = !matches!(event, Event::Bytes(_));
                if tx.send(event).is_err() || last {
                    return;
                }
            }
        });
        Ok(Reply {
            rx,
            task,
            pending: Vec::new(),
            ended: false,
        })
    }

    /// Status and body of a plain request (the model list, embeddings).
    fn fetch(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> std::result::Result<(u16, Vec<u8>), Failure> {
        let never = Cancel::new();
        let mut reply = self.send(method, path, body).map_err(Failure::Final)?;
        let (status, _) = reply.head(self, &never)?;
        let limit = if status == 200 {
            MAX_REPLY
        } else {
            MAX_ERROR_BODY
        };
        Ok((status, reply.rest(self, limit)?))
    }
}

/// What the request's task sends its caller.
enum Event {
    Head {
        status: u16,
        json: bool,
    },
    Bytes(Vec<u8>),
    /// The body ended as its framing says it should.
    End,
    /// Nothing for the endpoint's timeout.
    Silent,
    Broken(reqwest::Error),
}

/// One request's reply, read by a blocking caller: the head, then the body by lines or whole.
/// Dropping it stops the request.
struct Reply {
    rx: mpsc::Receiver<Event>,
    task: tokio::task::JoinHandle<()>,
    /// Body bytes not yet taken.
    pending: Vec<u8>,
    ended: bool,
}

impl Drop for Reply {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Reply {
    /// The next event; `None` when `cancel` was set while waiting.
    fn next(&mut self, cancel: &Cancel) -> Option<Event> {
        loop {
            if cancel.is_cancelled() {
                return None;
            }
            match self.rx.recv_timeout(POLL) {
                Ok(e) => return Some(e),
                Err(RecvTimeoutError::Timeout) => continue,
                // the task ended without a last word (aborted or panicked)
                Err(RecvTimeoutError::Disconnected) => return Some(Event::End),
            }
        }
    }

    /// The status, and whether the body is one JSON document (not an event stream).
    fn head(
        &mut self,
        at: &Endpoint,
        cancel: &Cancel,
    ) -> std::result::Result<(u16, bool), Failure> {
        match self.next(cancel) {
            None => Err(Failure::Final(Error::Cancelled)),
            Some(Event::Head { status, json }) => Ok((status, json)),
            Some(Event::Silent) => Err(at.silent()),
            Some(Event::Broken(e)) => Err(at.broken(&e)),
            Some(Event::Bytes(_) | Event::End) => {
                Err(Failure::Transient(Error::Generation(format!(
                    "the model server at {} closed the connection without an HTTP reply",
                    at.base
                ))))
            }
        }
    }

    /// More of the body into `pending`: false at its end (or when cancelled).
    fn fill(&mut self, at: &Endpoint, cancel: &Cancel) -> std::result::Result<bool, Failure> {
        if self.ended {
            return Ok(false);
        }
        match self.next(cancel) {
            None => Ok(false),
            Some(Event::Bytes(b)) => {
                self.pending.extend_from_slice(&b);
                Ok(true)
            }
            Some(Event::End | Event::Head { .. }) => {
                self.ended = true;
                Ok(false)
            }
            Some(Event::Silent) => Err(at.silent()),
            Some(Event::Broken(e)) => Err(at.broken(&e)),
        }
    }

    /// The next line of the body (without its line end); `None` at its end or when cancelled.
    fn line(
        &mut self,
        at: &Endpoint,
        cancel: &Cancel,
    ) -> std::result::Result<Option<String>, Failure> {
        loop {
            if let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=i).collect();
                let text = String::from_utf8_lossy(&line);
                return Ok(Some(text.trim_end_matches(['\r', '\n']).to_string()));
            }
            if !self.fill(at, cancel)? {
                if self.pending.is_empty() || cancel.is_cancelled() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.pending);
                return Ok(Some(String::from_utf8_lossy(&rest).trim_end().to_string()));
            }
        }
    }

    /// The rest of the body, read up to about `limit` bytes.
    fn rest(&mut self, at: &Endpoint, limit: usize) -> std::result::Result<Vec<u8>, Failure> {
        let never = Cancel::new();
        while self.pending.len() < limit && self.fill(at, &never)? {}
        Ok(std::mem::take(&mut self.pending))
    }
}

/// The runtime requests run on: one worker thread, made at the first request.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("hearth-remote")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Internal(format!("cannot start the HTTP client's thread: {e}")))
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
