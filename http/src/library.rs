//! Hearth's own routes: health, status, search, documents, ingest (progress as SSE), summarize.

use std::path::{Path, PathBuf};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hearth::answer::{self, SummaryEvent};
use hearth::{Cancel, IngestEvent, SearchMode, SearchRequest};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::parse_json;
use crate::{event_stream, ApiError, CancelOnDrop, Shared};

/// Most hits one search returns.
const MAX_HITS: usize = 100;

/// `GET /health` (no token needed): the server is up.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

/// `GET /api/status`
pub(crate) async fn status(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    let status = state.library.status().await?;
    let mut v = serde_json::to_value(status)
        .map_err(|e| ApiError::from(hearth::Error::Internal(e.to_string())))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("language_model".into(), json!(state.model_name()));
    }
    Ok(Json(v))
}

#[derive(Deserialize)]
pub(crate) struct SearchBody {
    query: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    collections: Vec<String>,
}

/// `POST /api/search` `{query, mode?, limit?, collections?}`
pub(crate) async fn search(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body: SearchBody = parse_json(body)?;
    if body.query.trim().is_empty() {
        return Err(ApiError::invalid("the query is empty"));
    }
    let limit = body.limit.unwrap_or(10);
    if limit == 0 || limit > MAX_HITS {
        return Err(ApiError::invalid(format!(
            "limit must be between 1 and {MAX_HITS}"
        )));
    }
    let mode: SearchMode = match body.mode.as_deref() {
        None => SearchMode::Hybrid,
        Some(m) => m.parse()?,
    };
    let started = Instant::now();
    let request = SearchRequest {
        query: body.query,
        limit,
        mode,
        collections: body.collections,
    };
    let hits = state.library.search(&request).await?;
    let hits: Vec<Value> = hits.iter().map(hit_json).collect();
    Ok(Json(json!({
        "hits": hits,
        "took_ms": started.elapsed().as_secs_f64() * 1e3,
    })))
}

/// A search hit as the API (and MCP's `search`) shows it.
pub(crate) fn hit_json(h: &hearth::Hit) -> Value {
    json!({
        "path": h.path, "page": h.page, "where": hearth::extract::place(&h.path, h.page),
        "heading": h.heading, "text": h.text, "score": h.score,
        "char_start": h.char_start, "char_end": h.char_end,
    })
}

/// `GET /api/documents`
pub(crate) async fn documents(State(state): State<Shared>) -> Result<Json<Value>, ApiError> {
    let docs = state.library.documents().await?;
    Ok(Json(json!({ "documents": docs })))
}

#[derive(Deserialize)]
pub(crate) struct PathQuery {
    path: String,
}

/// `DELETE /api/documents?path=…`: a document, or every document under a folder, leaves the
/// index (the files are not touched).
pub(crate) async fn remove(
    State(state): State<Shared>,
    query: Result<Query<PathQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|_| {
        ApiError::invalid("say which document: DELETE /api/documents?path=/absolute/path")
    })?;
    let removed = state.library.remove(&q.path).await?;
    Ok(Json(json!({ "removed": removed })))
}

fn absolute(paths: &[String]) -> Result<Vec<PathBuf>, ApiError> {
    paths
        .iter()
        .map(|p| {
            let path = PathBuf::from(p);
            if path.is_absolute() {
                Ok(path)
            } else {
                Err(ApiError::invalid(format!(
                    "{p}: give absolute paths (they are read on the server's machine)"
                )))
            }
        })
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct IngestBody {
    paths: Vec<String>,
    #[serde(default)]
    collection: Option<String>,
}

/// `POST /api/ingest` `{paths, collection?}`: progress as server-sent events (the engine's
/// ingest events, `phase` first), ending with `{"phase": "finished", …report}`. A client that
/// disconnects stops the ingest after the current batch; what was indexed stays.
pub(crate) async fn ingest(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: IngestBody = parse_json(body)?;
    let paths = absolute(&body.paths)?;
    if paths.is_empty() {
        return Err(ApiError::invalid("paths is empty"));
    }
    let (paths, within) = crate::scope::check(&state, &paths).await?;
    if let Some(name) = &body.collection {
        state.library.add_to_collection(name, &paths).await?;
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let cancel = Cancel::new();
    let guard = CancelOnDrop(cancel.clone());
    let library = state.library.clone();
    tokio::spawn(async move {
        let sink_tx = tx.clone();
        let sink_cancel = cancel.clone();
        let sink = move |event: IngestEvent| {
            let line = serde_json::to_string(&event).unwrap_or_default();
            if sink_tx.send(line).is_err() {
                sink_cancel.cancel();
            }
        };
        if let Err(e) = library
            .ingest_within(&paths, Some(&within), &sink, &cancel)
            .await
        {
            let _ = tx.send(ApiError::from(e).body().to_string());
        }
    });
    Ok(event_stream(rx, guard).into_response())
}

#[derive(Deserialize)]
pub(crate) struct SummarizeBody {
    path: String,
    #[serde(default = "yes")]
    stream: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/summarize` `{path, stream?}`: an indexed document's summary. Streamed (the
/// default) as events `{"type": "part", done, total}`, `{"type": "token", text}` and last
/// `{"type": "summary", …}`; with `stream: false`, the summary as one JSON object.
pub(crate) async fn summarize(
    State(state): State<Shared>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: SummarizeBody = parse_json(body)?;
    if state.library.document(&body.path).await?.is_none() {
        return Err(ApiError::from(hearth::Error::InvalidRequest(format!(
            "{}: only documents in the index can be summarized",
            body.path
        ))));
    }
    let turn = state.gate.enter().await?;
    let llm = state.llm().await?;
    let config = state.library.config().clone();
    let cancel = Cancel::new();
    let guard = CancelOnDrop(cancel.clone());
    let path = PathBuf::from(&body.path);
    if !body.stream {
        let summary = answer::summarize(
            llm,
            &path,
            config.ingest.max_file_mb,
            &config.ocr,
            &cancel,
            Box::new(|_| {}),
        )
        .await?;
        drop((guard, turn));
        return Ok(Json(summary).into_response());
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let on_event = {
        let (tx, cancel) = (tx.clone(), cancel.clone());
        Box::new(move |ev: SummaryEvent| {
            let v = match ev {
                SummaryEvent::Part { done, total } => {
                    json!({ "type": "part", "done": done, "total": total })
                }
                SummaryEvent::Token(text) => json!({ "type": "token", "text": text }),
            };
            if tx.send(v.to_string()).is_err() {
                cancel.cancel();
            }
        })
    };
    tokio::spawn(async move {
        let _turn = turn;
        let result = answer::summarize(
            llm,
            Path::new(&path),
            config.ingest.max_file_mb,
            &config.ocr,
            &cancel,
            on_event,
        )
        .await;
        let last = match result.map(serde_json::to_value) {
            Ok(Ok(mut v)) => {
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), json!("summary"));
                }
                v
            }
            Ok(Err(e)) => ApiError::from(hearth::Error::Internal(e.to_string())).body(),
            Err(e) => ApiError::from(e).body(),
        };
        let _ = tx.send(last.to_string());
    });
    Ok(event_stream(rx, guard).into_response())
}
