//! Hearth as a Model Context Protocol server, over stdio (`hearth mcp`) and over Streamable HTTP
//! (`POST /mcp` in `hearth serve`, behind the API's token and `Origin` check): other assistants
//! (LM Studio, Open WebUI, AnythingLLM, Claude-style desktop clients) reach the library through
//! tools. A shell over the engine, as the HTTP API is:
//!
//! - `search` — passages with path, page, heading, score;
//! - `ask` — a cited answer from the documents, with `not_found`; progress notifications while
//!   it runs; `notifications/cancelled` stops generation at the next token;
//! - `list_documents`, `list_collections`;
//! - `read_page` — the text of one page of an indexed document (only indexed documents);
//! - resources: every indexed document as `hearth://doc/<path>` (`?page=N`: that page), listed
//!   by `resources/list`, read by `resources/read`, with a URI template for pages.
//!
//! Two eras of the protocol, chosen per request: the current revision, 2026-07-28, which is
//! stateless (no handshake: `server/discover` says what the server speaks, and every request
//! carries its protocol version and the client's capabilities in `params._meta`; over HTTP the
//! `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers must agree with the body, and
//! errors have HTTP statuses), and the initialize handshake of 2025-11-25 (also 2025-06-18,
//! 2025-03-26, 2024-11-05) for older clients. JSON-RPC 2.0, one message per line on stdio.
//! Answers take their turn at the same generation queue as the HTTP API's.
//!
//! It is written here rather than on the official SDK (`rmcp` 3.11) for a measured reason: the
//! SDK's server feature needs schemars 1, which turns on indexmap's `serde` feature, and that
//! changes the feature set under DataFusion, Lance and Tauri, so a warm build recompiles that
//! whole tree.
//!
//! Engine errors are tool errors (`isError: true`) whose text starts with the engine's stable
//! code in brackets (`[invalid_request] the query is empty`); a malformed request is a JSON-RPC
//! error (-32602 and friends).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hearth::{Cancel, Library, SearchMode, SearchRequest};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::gate::Gate;
use crate::LoadLlm;

/// Resolves once `cancel` is set (checked every 50 ms: a wait for a turn is not a hot loop).
async fn cancelled(cancel: &Cancel) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Where documents live as resources: `hearth://doc/<absolute path, percent-encoded>`, with
/// `?page=N` for one page.
const DOC_URI: &str = "hearth://doc";

/// A document's resource URI.
fn doc_uri(path: &str) -> String {
    let mut out = String::from(DOC_URI);
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The document path and page of a resource URI.
fn doc_of(uri: &str) -> Option<(String, Option<u32>)> {
    let rest = uri.strip_prefix(DOC_URI)?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut bytes = Vec::new();
    let raw = path.as_bytes();
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' && i + 2 < raw.len() {
            let hex = std::str::from_utf8(&raw[i + 1..i + 3]).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    let page = query
        .split('&')
        .find_map(|kv| kv.strip_prefix("page="))
        .and_then(|p| p.parse::<u32>().ok());
    Some((String::from_utf8(bytes).ok()?, page))
}

/// Protocol revisions this server speaks, newest first.
const VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// The stateless revisions: no handshake, every request carries its version in `_meta`.
const STATELESS: &[&str] = &["2026-07-28"];
const VERSION_KEY: &str = "io.modelcontextprotocol/protocolVersion";
const CAPABILITIES_KEY: &str = "io.modelcontextprotocol/clientCapabilities";
const SERVER_INFO_KEY: &str = "io.modelcontextprotocol/serverInfo";
/// JSON-RPC error codes of the stateless revision.
const HEADER_MISMATCH: i64 = -32020;
const UNSUPPORTED_VERSION: i64 = -32022;

const INSTRUCTIONS: &str = "Hearth searches and answers from the user's own documents on this computer. Use search to find passages and ask for a cited answer; cite the path and page.";

fn capabilities() -> Value {
    json!({
        "tools": { "listChanged": false },
        "resources": { "listChanged": false, "subscribe": false },
    })
}

fn server_info() -> Value {
    json!({ "name": "hearth", "version": env!("CARGO_PKG_VERSION") })
}

/// Which protocol a request speaks: the initialize handshake (2025-11-25 and older) or the
/// stateless revision (2026-07-28), where each request carries its version, the client's
/// capabilities in `params._meta`, and over HTTP mirrors version, method and name in headers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Era {
    Handshake,
    Stateless,
}

/// The HTTP headers a stateless request mirrors its body in.
#[derive(Default)]
pub(crate) struct Mirrored {
    /// `MCP-Protocol-Version`.
    pub(crate) version: Option<String>,
    /// `Mcp-Method`.
    pub(crate) method: Option<String>,
    /// `Mcp-Name` (the tool's name, or the resource's URI).
    pub(crate) name: Option<String>,
}

/// The stateless revision's checks of a request's envelope (and, over HTTP, its headers):
/// `Err((code, message, data))` for the first that fails.
fn check_envelope(
    method: &str,
    params: &Value,
    headers: Option<&Mirrored>,
) -> Result<(), (i64, String, Value)> {
    let meta = &params["_meta"];
    let version = &meta[VERSION_KEY];
    if meta.get(CAPABILITIES_KEY).is_none() {
        let why = format!("params._meta must carry {VERSION_KEY:?} and {CAPABILITIES_KEY:?}");
        return Err((-32602, why, Value::Null));
    }
    if let Some(h) = headers {
        let mismatch = |what: &str| {
            Err((
                HEADER_MISMATCH,
                format!("the {what} header does not match the request body"),
                Value::Null,
            ))
        };
        if h.version.as_deref() != version.as_str() {
            return mismatch("MCP-Protocol-Version");
        }
        if h.method.as_deref() != Some(method) {
            return mismatch("Mcp-Method");
        }
        let named = match method {
            "tools/call" => params["name"].as_str(),
            "resources/read" => params["uri"].as_str(),
            _ => None,
        };
        if named.is_some() && h.name.as_deref() != named {
            return mismatch("Mcp-Name");
        }
    }
    let Some(version) = version.as_str() else {
        return Err((
            -32602,
            "the protocol version must be a string".into(),
            Value::Null,
        ));
    };
    if !STATELESS.contains(&version) {
        return Err((
            UNSUPPORTED_VERSION,
            "Unsupported protocol version".into(),
            json!({ "supported": STATELESS, "requested": version }),
        ));
    }
    Ok(())
}

/// The HTTP status of a stateless request's JSON-RPC error (the handshake era answers 200).
pub(crate) fn error_status(code: i64) -> u16 {
    match code {
        -32601 => 404,
        -32700 | -32600 | -32602 | HEADER_MISMATCH | -32021 | UNSUPPORTED_VERSION => 400,
        _ => 200,
    }
}

/// A stateless-era result carries `resultType`, the server's identity in `_meta`, and, for
/// what a client may cache, `ttlMs` and `cacheScope` (never cached: the library changes).
fn stamp(era: Era, method: &str, mut response: Value) -> Value {
    if era == Era::Handshake {
        return response;
    }
    if let Some(result) = response.get_mut("result").and_then(Value::as_object_mut) {
        result.entry("resultType").or_insert(json!("complete"));
        let meta = result.entry("_meta").or_insert(json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(SERVER_INFO_KEY.into(), server_info());
        }
        if matches!(
            method,
            "server/discover"
                | "tools/list"
                | "resources/list"
                | "resources/templates/list"
                | "resources/read"
        ) {
            result.insert("ttlMs".into(), json!(0));
            result.insert("cacheScope".into(), json!("private"));
        }
    }
    response
}

/// Most passages one `search` returns.
const MAX_HITS: usize = 50;

/// What the tools run on.
#[derive(Clone)]
struct Tools {
    library: Arc<Library>,
    load_llm: LoadLlm,
    /// Turns for generations, shared with the HTTP API's answers and summaries.
    gate: Arc<Gate>,
}

/// The tool list, with the schemas and descriptions a client's model reads.
fn tool_list() -> Value {
    let collections = json!({
        "type": "array", "items": {"type": "string"},
        "description": "Only documents in these collections (names from list_collections); leave out for all."
    });
    json!({ "tools": [
        {
            "name": "search",
            "description": "Search the user's own documents (notes, mail, letters, reports, PDFs, manuals) on this computer. Returns the best-matching passages, each with its file path, page, section heading and score. Quote the path and page when you use a passage.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "query": {"type": "string", "description": "What to look for, in the user's words."},
                    "mode": {"type": "string", "enum": ["hybrid", "vector", "text"], "description": "hybrid (default): meaning and words; vector: meaning; text: exact words (BM25)."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_HITS, "description": "How many passages (default 8)."},
                    "collections": collections,
                },
                "required": ["query"]
            }
        },
        {
            "name": "ask",
            "description": "Answer a question from the user's own documents with Hearth's local model. Returns the answer with numbered citations (file path, page, cited text). not_found is true when the documents do not hold the answer: then say so rather than guess. Takes a few seconds; progress is reported.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "question": {"type": "string", "description": "The question, as the user would ask it."},
                    "collections": collections,
                },
                "required": ["question"]
            }
        },
        {
            "name": "list_documents",
            "description": "List the documents in the user's Hearth library: path, kind, pages, size.",
            "inputSchema": {"type": "object", "properties": {}}
        },
        {
            "name": "read_page",
            "description": "Read the whole text of one page of a document in the library, as search or list_documents name it. Only indexed documents can be read.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "description": "The document's path."},
                    "page": {"type": "integer", "minimum": 1, "description": "1-based page (PDFs, slides, mail folders); leave out for a document without pages."}
                },
                "required": ["path"]
            }
        },
        {
            "name": "list_collections",
            "description": "List the user's collections (named groups of folders and files) with how many documents each holds.",
            "inputSchema": {"type": "object", "properties": {}}
        }
    ]})
}

/// A malformed call: a JSON-RPC error (-32602), not a tool error.
struct BadParams(String);

fn text_arg(args: &Value, name: &str) -> Result<String, BadParams> {
    args.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| BadParams(format!("`{name}` (a string) is required")))
}

fn opt_int(args: &Value, name: &str) -> Result<Option<u64>, BadParams> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| BadParams(format!("`{name}` must be a positive integer"))),
    }
}

fn string_list(args: &Value, name: &str) -> Result<Vec<String>, BadParams> {
    match args.get(name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| BadParams(format!("`{name}` must be a list of strings")))
            })
            .collect(),
        Some(_) => Err(BadParams(format!("`{name}` must be a list of strings"))),
    }
}

/// A tool that ran and failed: a stable code (the engine's, or `too_many_requests`) and what
/// went wrong.
struct ToolError {
    code: &'static str,
    message: String,
}

impl From<hearth::Error> for ToolError {
    fn from(e: hearth::Error) -> Self {
        Self {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

impl From<crate::ApiError> for ToolError {
    fn from(e: crate::ApiError) -> Self {
        Self {
            code: e.code,
            message: e.message,
        }
    }
}

/// A tool's result: structured content, also given as text.
fn tool_result(result: Result<Value, ToolError>) -> Value {
    match result {
        Ok(v) => json!({
            "content": [{"type": "text", "text": serde_json::to_string_pretty(&v).unwrap_or_default()}],
            "structuredContent": v,
            "isError": false,
        }),
        Err(e) => json!({
            "content": [{"type": "text", "text": format!("[{}] {}", e.code, e.message)}],
            "isError": true,
        }),
    }
}

impl Tools {
    async fn call(
        &self,
        name: &str,
        args: &Value,
        cancel: &Cancel,
        progress: &(dyn Fn(f64, &str) + Sync),
    ) -> Result<Result<Value, ToolError>, BadParams> {
        if name == "ask" {
            let question = text_arg(args, "question")?;
            let collections = string_list(args, "collections")?;
            return Ok(self.ask(&question, collections, cancel, progress).await);
        }
        let done = match name {
            "search" => {
                let query = text_arg(args, "query")?;
                let limit = opt_int(args, "limit")?.unwrap_or(8) as usize;
                let collections = string_list(args, "collections")?;
                let mode = args.get("mode").and_then(Value::as_str);
                self.search(query, mode, limit, collections).await
            }
            "list_documents" => self.library.documents().await.map(|docs| {
                json!({ "documents": docs.iter().map(|d| json!({
                    "path": d.path, "kind": d.kind, "pages": d.pages, "size": d.size,
                })).collect::<Vec<_>>() })
            }),
            "read_page" => {
                let path = text_arg(args, "path")?;
                let page = opt_int(args, "page")?.map(|p| u32::try_from(p).unwrap_or(u32::MAX));
                self.read_page(&path, page).await
            }
            "list_collections" => self
                .library
                .collection_stats()
                .await
                .map(|c| json!({ "collections": c })),
            other => return Err(BadParams(format!("no tool named {other:?}"))),
        };
        Ok(done.map_err(ToolError::from))
    }

    async fn search(
        &self,
        query: String,
        mode: Option<&str>,
        limit: usize,
        collections: Vec<String>,
    ) -> hearth::Result<Value> {
        if limit == 0 || limit > MAX_HITS {
            return Err(hearth::Error::InvalidRequest(format!(
                "limit must be between 1 and {MAX_HITS}"
            )));
        }
        let mode: SearchMode = mode
            .map(str::parse)
            .transpose()?
            .unwrap_or(SearchMode::Hybrid);
        let request = SearchRequest {
            query,
            limit,
            mode,
            collections,
        };
        let hits = self.library.search(&request).await?;
        let passages: Vec<Value> = hits.iter().map(crate::library::hit_json).collect();
        Ok(json!({ "passages": passages }))
    }

    async fn ask(
        &self,
        question: &str,
        collections: Vec<String>,
        cancel: &Cancel,
        progress: &(dyn Fn(f64, &str) + Sync),
    ) -> Result<Value, ToolError> {
        progress(0.0, "waiting for the language model");
        // a turn, as the API's answers take one; a cancelled call stops waiting for it
        let _turn = tokio::select! {
            turn = self.gate.enter() => turn?,
            () = cancelled(cancel) => return Err(hearth::Error::Cancelled.into()),
        };
        let llm = (self.load_llm)().await?;
        progress(1.0, "finding the passages");
        let mut cfg = self.library.config().answer.clone();
        cfg.collections = collections;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let on_event: hearth::answer::OnEvent = Box::new(move |e| {
            if matches!(e, hearth::AnswerEvent::Token(_)) {
                let _ = tx.send(());
            }
        });
        let answering =
            hearth::answer::ask(&self.library, llm, question, &[], &cfg, cancel, on_event);
        tokio::pin!(answering);
        let mut told = false;
        let answer = loop {
            tokio::select! {
                r = &mut answering => break r?,
                Some(()) = rx.recv(), if !told => {
                    told = true;
                    progress(2.0, "writing the answer");
                }
            }
        };
        if answer.cancelled {
            return Err(hearth::Error::Cancelled.into());
        }
        Ok(json!({
            "answer": answer.answer,
            "not_found": answer.not_found,
            "quoted": answer.quoted,
            "citations": answer.citations.iter().map(crate::openai::citation_json).collect::<Vec<_>>(),
            "model": answer.model,
        }))
    }

    /// `resources/list` (every indexed document) and `resources/read` (a page's text).
    async fn resources(
        &self,
        method: &str,
        params: &Value,
    ) -> Result<hearth::Result<Value>, BadParams> {
        if method == "resources/list" {
            return Ok(self.library.documents().await.map(|docs| {
                json!({ "resources": docs.iter().map(|d| json!({
                    "uri": doc_uri(&d.path),
                    "name": std::path::Path::new(&d.path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| d.path.clone()),
                    "description": format!("{} ({}{})", d.path, d.kind, d.pages.map(|p| format!(", {p} pages")).unwrap_or_default()),
                    "mimeType": "text/plain",
                    "size": d.size,
                })).collect::<Vec<_>>() })
            }));
        }
        let uri = text_arg(params, "uri")?;
        let (path, page) = doc_of(&uri)
            .ok_or_else(|| BadParams(format!("{uri} is not a Hearth document ({DOC_URI}/…)")))?;
        Ok(self.read_page(&path, page).await.map(|p| {
            json!({ "contents": [{ "uri": uri, "mimeType": "text/plain", "text": p["text"] }] })
        }))
    }

    async fn read_page(&self, path: &str, page: Option<u32>) -> hearth::Result<Value> {
        if self.library.document(path).await?.is_none() {
            return Err(hearth::Error::InvalidRequest(format!(
                "{path} is not in the library (only indexed documents can be read)"
            )));
        }
        let p = self.library.page_text(path, page).await?;
        Ok(json!({ "path": p.path, "page": p.page, "pages": p.pages, "text": p.text }))
    }
}

fn error(id: &Value, code: i64, message: impl Into<String>) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message.into() } })
}

fn reply(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// What an incoming message asks for.
pub(crate) enum Incoming {
    /// Answer with this (a response or a JSON-RPC error).
    Reply { message: Value, era: Era },
    /// A notification or a response: nothing to send.
    Nothing,
    /// A tool call or a resource read (already registered, so that it can be cancelled), to
    /// run with [`Mcp::call`].
    Call(Call),
}

/// A tool call or a resource read that is running.
pub(crate) struct Call {
    id: Value,
    /// `tools/call`, `resources/list` or `resources/read`.
    method: String,
    params: Value,
    era: Era,
    /// Set to stop it.
    pub(crate) cancel: Cancel,
    /// Its number under its id (see [`Running`]).
    serial: u64,
}

/// The protocol over the tools, shared by the stdio and HTTP transports: requests are
/// answered, tool calls run, `notifications/cancelled` stops the call it names.
#[derive(Clone)]
pub(crate) struct Mcp {
    tools: Tools,
    running: Arc<Running>,
}

/// The calls running, by request id (as JSON text). Over HTTP, with no sessions, two clients
/// may use the same id at once: each call has its own serial number under its id, so one
/// ending does not unregister the other.
#[derive(Default)]
struct Running {
    calls: Mutex<HashMap<String, Vec<(u64, Cancel)>>>,
    serial: AtomicU64,
}

impl Running {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<(u64, Cancel)>>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a call under `key`: its cancellation and serial number.
    fn start(&self, key: String) -> (Cancel, u64) {
        let (cancel, serial) = (Cancel::new(), self.serial.fetch_add(1, Ordering::Relaxed));
        self.calls()
            .entry(key)
            .or_default()
            .push((serial, cancel.clone()));
        (cancel, serial)
    }

    fn finish(&self, key: &str, serial: u64) {
        let mut calls = self.calls();
        if let Some(under) = calls.get_mut(key) {
            under.retain(|(s, _)| *s != serial);
            if under.is_empty() {
                calls.remove(key);
            }
        }
    }

    /// Cancels every call running under `key`; how many.
    fn cancel(&self, key: &str) -> usize {
        let calls = self.calls();
        let under = calls.get(key).map(Vec::as_slice).unwrap_or_default();
        under.iter().for_each(|(_, c)| c.cancel());
        under.len()
    }

    fn cancel_all(&self) {
        self.calls()
            .values()
            .flatten()
            .for_each(|(_, c)| c.cancel());
    }
}

impl Mcp {
    /// MCP over `library`; answers take their turn at `gate`.
    pub(crate) fn new(library: Arc<Library>, load_llm: LoadLlm, gate: Arc<Gate>) -> Self {
        Self {
            tools: Tools {
                library,
                load_llm,
                gate,
            },
            running: Arc::default(),
        }
    }

    /// Read one message (with the HTTP headers that mirror it, over HTTP).
    pub(crate) fn receive(&self, message: &Value, headers: Option<&Mirrored>) -> Incoming {
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        let params = message.get("params").cloned().unwrap_or(Value::Null);
        let Some(id) = message.get("id").cloned() else {
            if method == "notifications/cancelled" {
                let key = params
                    .get("requestId")
                    .map(Value::to_string)
                    .unwrap_or_default();
                if self.running.cancel(&key) > 0 {
                    eprintln!("hearth mcp: request {key} cancelled by the client");
                }
            }
            return Incoming::Nothing;
        };
        if method.is_empty() {
            return Incoming::Nothing; // a response to something we never ask
        }
        let era = if method != "initialize" && params["_meta"].get(VERSION_KEY).is_some() {
            Era::Stateless
        } else {
            Era::Handshake
        };
        if era == Era::Stateless {
            if let Err((code, why, data)) = check_envelope(method, &params, headers) {
                let mut message = error(&id, code, why);
                if !data.is_null() {
                    message["error"]["data"] = data;
                }
                return Incoming::Reply { message, era };
            }
        }
        let message = match method {
            "initialize" => {
                let asked = params.get("protocolVersion").and_then(Value::as_str);
                let version = asked
                    .filter(|v| VERSIONS.contains(v))
                    .unwrap_or(VERSIONS[0]);
                reply(
                    &id,
                    json!({
                        "protocolVersion": version,
                        "capabilities": capabilities(),
                        "serverInfo": server_info(),
                        "instructions": INSTRUCTIONS,
                    }),
                )
            }
            "server/discover" => reply(
                &id,
                json!({
                    "supportedVersions": STATELESS.iter().chain(VERSIONS).collect::<Vec<_>>(),
                    "capabilities": capabilities(),
                    "instructions": INSTRUCTIONS,
                }),
            ),
            "ping" => reply(&id, json!({})),
            "tools/list" => reply(&id, tool_list()),
            "resources/templates/list" => reply(
                &id,
                json!({ "resourceTemplates": [{
                    "uriTemplate": format!("{DOC_URI}{{+path}}{{?page}}"),
                    "name": "document-page",
                    "title": "A page of a document in the library",
                    "description": "The text of one page of an indexed document (page 1 when no page is given).",
                    "mimeType": "text/plain",
                }]}),
            ),
            "tools/call" | "resources/list" | "resources/read" => {
                let (cancel, serial) = self.running.start(id.to_string());
                return Incoming::Call(Call {
                    id,
                    method: method.to_string(),
                    params,
                    era,
                    cancel,
                    serial,
                });
            }
            other => error(&id, -32601, format!("no method {other:?}")),
        };
        Incoming::Reply {
            message: stamp(era, method, message),
            era,
        }
    }

    /// Run `call`; progress notifications go to `emit`. Returns the response, or `None` when
    /// the call was cancelled (a cancelled request gets no response).
    pub(crate) async fn call(
        &self,
        call: Call,
        emit: impl Fn(Value) + Send + Sync,
    ) -> Option<Value> {
        let Call {
            id,
            method,
            params,
            era,
            cancel,
            serial,
        } = call;
        let response = self.respond(&id, &method, params, &cancel, emit).await;
        self.running.finish(&id.to_string(), serial);
        response.map(|r| stamp(era, &method, r))
    }

    async fn respond(
        &self,
        id: &Value,
        method: &str,
        params: Value,
        cancel: &Cancel,
        emit: impl Fn(Value) + Send + Sync,
    ) -> Option<Value> {
        if method != "tools/call" {
            return Some(match self.tools.resources(method, &params).await {
                Ok(Ok(v)) => reply(id, v),
                Ok(Err(e)) => error(id, -32002, format!("[{}] {e}", e.code())),
                Err(BadParams(why)) => error(id, -32602, why),
            });
        }
        let name = params.get("name").and_then(Value::as_str).unwrap_or("");
        let args = params
            .get("arguments")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let token = params
            .get("_meta")
            .and_then(|m| m.get("progressToken"))
            .cloned();
        let progress = move |step: f64, message: &str| {
            if let Some(token) = &token {
                emit(json!({
                    "jsonrpc": "2.0", "method": "notifications/progress",
                    "params": { "progressToken": token, "progress": step, "total": 3.0, "message": message },
                }));
            }
        };
        match self.tools.call(name, &args, cancel, &progress).await {
            Err(BadParams(why)) => Some(error(id, -32602, why)),
            Ok(Err(e)) if e.code == "cancelled" && cancel.is_cancelled() => None,
            Ok(r) => Some(reply(id, tool_result(r))),
        }
    }

    fn cancel_all(&self) {
        self.running.cancel_all();
    }
}

/// Serve MCP on this process's stdin and stdout until the client closes stdin.
pub async fn serve_stdio(library: Arc<Library>, load_llm: LoadLlm) -> std::io::Result<()> {
    let (out, mut outgoing) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(message) = outgoing.recv().await {
            let mut line = serde_json::to_string(&message).unwrap_or_default();
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    // as the API: one answer at a time, 16 waiting (a client that sends more gets a tool error)
    let gate = Gate::new(crate::MAX_GENERATIONS, crate::MAX_QUEUED);
    let mcp = Mcp::new(library, load_llm, Arc::new(gate));
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let message = match serde_json::from_str::<Value>(&line) {
            Ok(m) => m,
            Err(e) => {
                let _ = out.send(error(&Value::Null, -32700, format!("not JSON: {e}")));
                continue;
            }
        };
        match mcp.receive(&message, None) {
            Incoming::Reply { message, .. } => {
                let _ = out.send(message);
            }
            Incoming::Nothing => {}
            Incoming::Call(call) => {
                // on its own task, so that other requests and cancellations are read meanwhile
                let (mcp, out) = (mcp.clone(), out.clone());
                tokio::spawn(async move {
                    let emit_out = out.clone();
                    let emit = move |m: Value| {
                        let _ = emit_out.send(m);
                    };
                    if let Some(r) = mcp.call(call, emit).await {
                        let _ = out.send(r);
                    }
                });
            }
        }
    }
    // the client is gone: stop what still runs
    mcp.cancel_all();
    drop(out);
    let _ = writer.await;
    Ok(())
}

/// `POST /mcp`: MCP's Streamable HTTP transport, behind the API's bearer token and `Origin`
/// check. One JSON-RPC message per request: a notification gets 202; a request its response
/// as JSON, or, for a tool call whose client accepts `text/event-stream`, a stream of the
/// call's progress notifications ending with its response. A client that drops the stream
/// cancels the call. No server-initiated stream (`GET /mcp` is 405) and no sessions.
pub(crate) async fn http(
    axum::extract::State(state): axum::extract::State<crate::Shared>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let refuse = |code: i64, why: String| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(error(&Value::Null, code, why)),
        )
            .into_response()
    };
    let message: Value = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => return refuse(-32700, format!("not JSON: {e}")),
    };
    if message.is_array() {
        return refuse(-32600, "batches are not supported".into());
    }
    let mcp = state.mcp.clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let mirrored = Mirrored {
        version: header("mcp-protocol-version"),
        method: header("mcp-method"),
        name: header("mcp-name").and_then(|v| header_value(&v)),
    };
    // a stateless request's JSON-RPC error has the HTTP status the revision gives it
    let status = |era: Era, message: &Value| match message["error"]["code"].as_i64() {
        Some(code) if era == Era::Stateless => {
            StatusCode::from_u16(error_status(code)).unwrap_or(StatusCode::OK)
        }
        _ => StatusCode::OK,
    };
    match mcp.receive(&message, Some(&mirrored)) {
        Incoming::Reply { message, era } => {
            (status(era, &message), axum::Json(message)).into_response()
        }
        Incoming::Nothing => StatusCode::ACCEPTED.into_response(),
        Incoming::Call(call) => {
            let streams = header("accept").is_some_and(|a| a.contains("text/event-stream"));
            let (era, guard) = (call.era, crate::CancelOnDrop(call.cancel.clone()));
            if !streams {
                let r = mcp.call(call, |_| {}).await;
                drop(guard);
                return match r {
                    Some(r) => (status(era, &r), axum::Json(r)).into_response(),
                    None => StatusCode::ACCEPTED.into_response(),
                };
            }
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            tokio::spawn(async move {
                let progress_tx = tx.clone();
                let emit = move |m: Value| {
                    let _ = progress_tx.send(m.to_string());
                };
                if let Some(r) = mcp.call(call, emit).await {
                    let _ = tx.send(r.to_string());
                }
            });
            crate::event_stream(rx, guard).into_response()
        }
    }
}

/// A header value as sent: verbatim, or wrapped as `=?base64?…?=` when it would not survive as
/// a header (non-ASCII, edge whitespace). `None` for a wrapping that does not decode.
fn header_value(raw: &str) -> Option<String> {
    use base64::Engine;
    let Some(payload) = raw
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    else {
        return Some(raw.to_string());
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stateless_requests_are_checked_against_their_envelope_and_headers() {
        let meta = |v: &str| json!({ VERSION_KEY: v, CAPABILITIES_KEY: {} });
        let params = json!({ "name": "search", "_meta": meta("2026-07-28") });
        assert!(check_envelope("tools/call", &params, None).is_ok());
        let headers = Mirrored {
            version: Some("2026-07-28".into()),
            method: Some("tools/call".into()),
            name: Some("search".into()),
        };
        assert!(check_envelope("tools/call", &params, Some(&headers)).is_ok());
        // a header that disagrees with the body
        let other = Mirrored {
            name: Some("ask".into()),
            ..headers
        };
        let (code, why, _) = check_envelope("tools/call", &params, Some(&other)).unwrap_err();
        assert_eq!((code, why.contains("Mcp-Name")), (HEADER_MISMATCH, true));
        // a version this server does not speak names the ones it does
        let old = json!({ "_meta": meta("2027-03-30") });
        let (code, _, data) = check_envelope("tools/list", &old, None).unwrap_err();
        assert_eq!(code, UNSUPPORTED_VERSION);
        assert_eq!(data["supported"], json!(["2026-07-28"]));
        assert_eq!(error_status(code), 400);
        // no capabilities
        let bare = json!({ "_meta": { VERSION_KEY: "2026-07-28" } });
        assert_eq!(
            check_envelope("tools/list", &bare, None).unwrap_err().0,
            -32602
        );
        // results say they are complete, who answered, and that they are not to be cached
        let r = stamp(
            Era::Stateless,
            "tools/list",
            reply(&json!(1), json!({ "tools": [] })),
        );
        assert_eq!(r["result"]["resultType"], "complete");
        assert_eq!(r["result"]["_meta"][SERVER_INFO_KEY]["name"], "hearth");
        assert_eq!(r["result"]["ttlMs"], 0);
        let r = stamp(
            Era::Handshake,
            "tools/list",
            reply(&json!(1), json!({ "tools": [] })),
        );
        assert!(r["result"].get("resultType").is_none());
        assert_eq!(
            header_value("=?base64?w6lsw6h2ZQ==?=").as_deref(),
            Some("élève")
        );
        assert_eq!(header_value("search").as_deref(), Some("search"));
    }

    #[test]
    fn calls_under_one_id_are_kept_apart() {
        let running = Running::default();
        // two HTTP clients both number their first call 1
        let (a_cancel, a_serial) = running.start("1".into());
        let (b_cancel, b_serial) = running.start("1".into());
        running.finish("1", a_serial);
        // the other is still registered: a cancellation reaches it
        assert_eq!(running.cancel("1"), 1);
        assert!(b_cancel.is_cancelled() && !a_cancel.is_cancelled());
        running.finish("1", b_serial);
        assert_eq!(running.cancel("1"), 0);
        assert!(running.calls().is_empty());
        let (c_cancel, _) = running.start("2".into());
        running.cancel_all();
        assert!(c_cancel.is_cancelled());
    }

    #[test]
    fn document_uris_round_trip_any_path() {
        for path in [
            "/home/me/My Notes/café #1.md",
            "/d/report.pdf",
            "/a/100%/b?.txt",
        ] {
            let uri = doc_uri(path);
            assert!(uri.starts_with("hearth://doc/"), "{uri}");
            assert!(
                !uri.contains(' ') && !uri.contains('#') && !uri.contains('?'),
                "{uri}"
            );
            assert_eq!(doc_of(&uri), Some((path.to_string(), None)));
            assert_eq!(
                doc_of(&format!("{uri}?page=3")),
                Some((path.to_string(), Some(3)))
            );
        }
        assert_eq!(doc_of("file:///etc/passwd"), None);
        assert_eq!(doc_of("hearth://doc/%zz"), None);
    }
}
