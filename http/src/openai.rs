//! The OpenAI-compatible routes: models, chat completions (answered from the library, with
//! citations) and embeddings.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use hearth::answer::{self, AnswerEvent};
use hearth::{Answer, Cancel, Citation, Message, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::parse_json;
use crate::{event_stream, ApiError, CancelOnDrop, Shared};

/// The model id that means "the library, with whichever language model answers".
pub(crate) const LIBRARY_MODEL: &str = "hearth";
/// Most inputs in one embeddings request (OpenAI's own limit).
const MAX_EMBED_INPUTS: usize = 2048;
/// Most answer tokens a request may ask for.
const MAX_ANSWER_TOKENS: u64 = 4096;

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn request_id(prefix: &str) -> String {
    // an id that is not random is still an id
    let hex = crate::security::random_hex(12).unwrap_or_else(|_| "0".repeat(24));
    format!("{prefix}-{hex}")
}

fn model_not_found(model: &str, known: &[String]) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "model_not_found",
        format!(
            "the model '{model}' does not exist here; use one of: {}",
            known.join(", ")
        ),
    )
}

/// `GET /v1/models`
pub(crate) async fn models(State(state): State<Shared>) -> Json<Value> {
    let mut ids = vec![LIBRARY_MODEL.to_string()];
    ids.extend(state.model_name());
    ids.push(state.library.embedder().id().to_string());
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "id": id, "object": "model", "created": 0, "owned_by": "hearth" }))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

impl ChatMessage {
    fn text(&self) -> Result<String, ApiError> {
        match &self.content {
            None => Ok(String::new()),
            Some(Content::Text(t)) => Ok(t.clone()),
            Some(Content::Parts(parts)) => {
                let mut out = Vec::new();
                for p in parts {
                    match (p.kind.as_str(), &p.text) {
                        ("text", Some(t)) => out.push(t.as_str()),
                        (kind, _) => {
                            return Err(ApiError::invalid(format!(
                                "message parts of type '{kind}' are not taken; send text"
                            )))
                        }
                    }
                }
                Ok(out.join("\n"))
            }
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    stop: Option<Stop>,
    #[serde(default)]
    n: Option<u32>,
    /// Hearth's own: answer only from documents in these collections.
    #[serde(default)]
    collections: Vec<String>,
}

/// The question, the conversation before it and the answer settings of a chat request.
struct Prepared {
    question: String,
    history: Vec<Message>,
    config: hearth::AnswerConfig,
}

fn prepare(state: &Shared, req: &ChatRequest) -> Result<Prepared, ApiError> {
    // the configured model's name costs a look at the models dir: only asked for another name
    if let Some(model) = req.model.as_deref().filter(|m| *m != LIBRARY_MODEL) {
        let active = state.model_name();
        if active.as_deref() != Some(model) {
            let mut known = vec![LIBRARY_MODEL.to_string()];
            known.extend(active);
            return Err(model_not_found(model, &known));
        }
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("only n = 1 is supported"));
    }
    let Some((last, earlier)) = req.messages.split_last() else {
        return Err(ApiError::invalid("messages is empty"));
    };
    if last.role != "user" {
        return Err(ApiError::invalid(
            "the last message must be the user's question",
        ));
    }
    let mut history = Vec::new();
    for m in earlier {
        let role = match m.role.as_str() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            // Hearth's own instructions keep answers to the documents and cited
            "system" | "developer" | "tool" | "function" => continue,
            other => return Err(ApiError::invalid(format!("unknown message role '{other}'"))),
        };
        history.push(Message {
            role,
            content: m.text()?,
        });
    }
    let mut config = state.library.config().answer.clone();
    config.collections = req.collections.clone();
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(ApiError::invalid("temperature must be between 0 and 2"));
        }
        config.temperature = t;
    }
    if let Some(n) = req.max_completion_tokens.or(req.max_tokens) {
        if n == 0 || n > MAX_ANSWER_TOKENS {
            return Err(ApiError::invalid(format!(
                "max_tokens must be between 1 and {MAX_ANSWER_TOKENS}"
            )));
        }
        config.max_answer_tokens = n as usize;
    }
    config.stop = match &req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) if v.len() <= 4 => v.clone(),
        Some(Stop::Many(_)) => return Err(ApiError::invalid("stop takes at most 4 strings")),
    };
    Ok(Prepared {
        question: last.text()?,
        history,
        config,
    })
}

/// A citation as the API shows it.
pub(crate) fn citation_json(c: &Citation) -> Value {
    json!({
        "n": c.n,
        "path": c.path,
        "page": c.page,
        "where": hearth::extract::place(&c.path, c.page),
        "heading": c.heading,
        "text": c.text,
        "attributed": c.attributed,
    })
}

fn finish_reason(a: &Answer, cfg: &hearth::AnswerConfig) -> &'static str {
    if !a.not_found && a.timings.completion_tokens >= cfg.max_answer_tokens {
        "length"
    } else {
        "stop"
    }
}

fn usage(a: &Answer) -> Value {
    let (p, c) = (a.timings.prompt_tokens, a.timings.completion_tokens);
    json!({ "prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c })
}

/// The `[n]` of citations Hearth attributed after the model finished (not in the stream).
fn attributed_suffix(a: &Answer) -> String {
    a.citations
        .iter()
        .filter(|c| c.attributed)
        .map(|c| format!(" [{}]", c.n))
        .collect()
}

/// Hearth's extra fields on a finished answer.
fn extras(a: &Answer) -> Value {
    json!({
        "citations": a.citations.iter().map(citation_json).collect::<Vec<_>>(),
        "not_found": a.not_found,
        "declined_because": a.declined_because,
        "quoted": a.quoted,
        "unsupported": a.unsupported,
    })
}

/// `POST /v1/chat/completions`
pub(crate) async fn chat_completions(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ChatRequest = parse_json(body)?;
    let prepared = prepare(&state, &req)?;
    let turn = state.gate.enter().await?;
    let llm = state.llm().await?;
    let model = llm.info().name.clone();
    let (id, created) = (request_id("chatcmpl"), unix_now());
    let cancel = Cancel::new();
    let guard = CancelOnDrop(cancel.clone());
    if !req.stream {
        let a = answer::ask(
            &state.library,
            llm,
            &prepared.question,
            &prepared.history,
            &prepared.config,
            &cancel,
            Box::new(|_| {}),
        )
        .await;
        log_answer(&id, &a);
        let a = a?;
        drop(guard);
        drop(turn);
        let mut body = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": a.answer },
                "finish_reason": finish_reason(&a, &prepared.config),
            }],
            "usage": usage(&a),
        });
        merge(&mut body, extras(&a));
        return Ok(Json(body).into_response());
    }

    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let chunk = {
        let (id, model) = (id.clone(), model.clone());
        move |delta: Value, finish: Option<&str>| {
            json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        }
    };
    let _ = tx.send(chunk(json!({ "role": "assistant", "content": "" }), None).to_string());
    let on_event = {
        let (tx, chunk, cancel) = (tx.clone(), chunk.clone(), cancel.clone());
        Box::new(move |ev: AnswerEvent| {
            if let AnswerEvent::Token(t) = ev {
                if tx
                    .send(chunk(json!({ "content": t }), None).to_string())
                    .is_err()
                {
                    cancel.cancel();
                }
            }
        })
    };
    let library = state.library.clone();
    tokio::spawn(async move {
        let _turn = turn;
        let result = answer::ask(
            &library,
            llm,
            &prepared.question,
            &prepared.history,
            &prepared.config,
            &cancel,
            on_event,
        )
        .await;
        log_answer(&id, &result);
        match result {
            Ok(a) => {
                let suffix = attributed_suffix(&a);
                if !suffix.is_empty() {
                    let _ = tx.send(chunk(json!({ "content": suffix }), None).to_string());
                }
                let mut last = chunk(json!({}), Some(finish_reason(&a, &prepared.config)));
                merge(&mut last, extras(&a));
                merge(&mut last, json!({ "usage": usage(&a) }));
                let _ = tx.send(last.to_string());
                let _ = tx.send("[DONE]".into());
            }
            Err(e) => {
                let _ = tx.send(ApiError::from(e).body().to_string());
            }
        }
    });
    Ok(event_stream(rx, guard).into_response())
}

/// One line on stderr per answer: what a server operator looks at.
fn log_answer(id: &str, result: &hearth::Result<Answer>) {
    match result {
        Ok(a) if a.cancelled => eprintln!(
            "{id}: cancelled after {} tokens (the client went away)",
            a.timings.completion_tokens
        ),
        Ok(a) => eprintln!(
            "{id}: {} tokens, first after {:.0} ms, {} citations",
            a.timings.completion_tokens,
            a.timings.first_token_ms,
            a.citations.len()
        ),
        Err(hearth::Error::Cancelled) => eprintln!("{id}: cancelled (the client went away)"),
        Err(e) => eprintln!("{id}: failed: {e}"),
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(a), Value::Object(b)) = (into.as_object_mut(), from) {
        a.extend(b);
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Input {
    One(String),
    Many(Vec<Value>),
}

#[derive(Deserialize)]
pub(crate) struct EmbeddingsRequest {
    input: Input,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<usize>,
}

/// `POST /v1/embeddings`
pub(crate) async fn embeddings(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let req: EmbeddingsRequest = parse_json(body)?;
    let embedder = state.library.embedder();
    let id = embedder.id().to_string();
    if let Some(model) = req.model.as_deref() {
        if model != id && model != LIBRARY_MODEL {
            return Err(model_not_found(model, &[LIBRARY_MODEL.into(), id]));
        }
    }
    let texts: Vec<String> = match req.input {
        Input::One(s) => vec![s],
        Input::Many(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(ApiError::invalid(
                    "input must be a string or an array of strings (token arrays are not taken)",
                )),
            })
            .collect::<Result<_, _>>()?,
    };
    if texts.is_empty() || texts.len() > MAX_EMBED_INPUTS {
        return Err(ApiError::invalid(format!(
            "input must hold 1 to {MAX_EMBED_INPUTS} texts"
        )));
    }
    if texts.iter().any(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid("input holds an empty text"));
    }
    if req.dimensions.is_some_and(|d| d != embedder.dim()) {
        return Err(ApiError::invalid(format!(
            "this embedder gives {} dimensions; it cannot give others",
            embedder.dim()
        )));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "encoding_format '{other}' is not known (float or base64)"
            )))
        }
    };
    let (vectors, tokens) = tokio::task::spawn_blocking(move || {
        let tokens: usize = texts.iter().map(|t| embedder.token_spans(t).len()).sum();
        embedder.embed(&texts).map(|v| (v, tokens))
    })
    .await
    .map_err(|e| ApiError::from(hearth::Error::Internal(format!("embedding thread: {e}"))))??;
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({ "object": "embedding", "index": i, "embedding": embedding })
        })
        .collect();
    Ok(Json(json!({
        "object": "list",
        "data": data,
        "model": id,
        "usage": { "prompt_tokens": tokens, "total_tokens": tokens },
    })))
}
