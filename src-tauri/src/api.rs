//! The HTTP API inside the desktop app (`hearth-http`, as `hearth serve` runs it): Settings
//! turns it on and off and shows its address and token. It serves the app's own library and
//! language model, on loopback only.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use tauri::{AppHandle, Manager, State};

use crate::error::ErrorDto;
use crate::state::Shell;

/// The port the app tries first (the CLI's default too).
pub const DEFAULT_PORT: u16 = 8741;

struct Running {
    addr: SocketAddr,
    token: String,
    read_token: String,
    token_file: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
}

/// The app's API server, when it runs.
#[derive(Default)]
pub struct ApiServer(tokio::sync::Mutex<Option<Running>>);

/// What Settings shows.
#[derive(Debug, Serialize)]
pub struct ApiView {
    running: bool,
    /// `http://127.0.0.1:8741`
    address: Option<String>,
    /// The base URL OpenAI clients take (`…/v1`).
    base_url: Option<String>,
    token: Option<String>,
    /// A token that may only search and ask (no indexing or removing).
    read_token: Option<String>,
    token_file: Option<String>,
}

fn view(running: Option<&Running>) -> ApiView {
    match running {
        None => ApiView {
            running: false,
            address: None,
            base_url: None,
            token: None,
            read_token: None,
            token_file: None,
        },
        Some(r) => ApiView {
            running: true,
            address: Some(format!("http://{}", r.addr)),
            base_url: Some(format!("http://{}/v1", r.addr)),
            token: Some(r.token.clone()),
            read_token: Some(r.read_token.clone()),
            token_file: Some(r.token_file.display().to_string()),
        },
    }
}

/// Whether the API runs, and where.
#[tauri::command]
pub async fn api_status(api: State<'_, ApiServer>) -> Result<ApiView, ErrorDto> {
    Ok(view(api.0.lock().await.as_ref()))
}

fn engine_error(e: ErrorDto) -> hearth::Error {
    hearth::Error::Internal(e.message)
}

/// Start the API on 127.0.0.1:`port` (default 8741, or a free port when 8741 is taken).
#[tauri::command]
pub async fn api_start(
    app: AppHandle,
    api: State<'_, ApiServer>,
    port: Option<u16>,
) -> Result<ApiView, ErrorDto> {
    let mut slot = api.0.lock().await;
    if slot.is_none() {
        *slot = Some(start(app, port.unwrap_or(DEFAULT_PORT), false).await?);
    }
    Ok(view(slot.as_ref()))
}

/// After the window's library was replaced (a new data folder, new chunk sizes): a running API
/// moves to the new one, on the same port when it is free (its token is the new data folder's).
pub async fn follow_library(app: &AppHandle) {
    let api = app.state::<ApiServer>();
    let mut slot = api.0.lock().await;
    let Some(old) = slot.take() else {
        return;
    };
    let port = old.addr.port();
    let _ = old.stop.send(());
    match start(app.clone(), port, true).await {
        Ok(running) => *slot = Some(running),
        Err(e) => eprintln!(
            "Hearth API: could not restart on the new library: {}",
            e.message
        ),
    }
}

/// `reclaim`: the port was ours a moment ago; wait up to 2 s for the old server to let it go.
async fn start(app: AppHandle, port: u16, reclaim: bool) -> Result<Running, ErrorDto> {
    let shell = app.state::<Shell>();
    let library = shell.library().await?;
    let data_dir = library.config().data_dir.clone();
    let hearth_http::ApiTokens {
        token,
        token_file,
        read_token,
        ..
    } = hearth_http::api_tokens(&data_dir).map_err(|e| {
        ErrorDto::new(
            "io",
            format!("cannot make the API token in {}: {e}", data_dir.display()),
        )
    })?;
    let mut bound = tokio::net::TcpListener::bind(("127.0.0.1", port)).await;
    for _ in 0..20 {
        // a server being stopped may hold the port a moment longer
        match &bound {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && reclaim => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                bound = tokio::net::TcpListener::bind(("127.0.0.1", port)).await;
            }
            _ => break,
        }
    }
    if matches!(&bound, Err(e) if e.kind() == std::io::ErrorKind::AddrInUse) {
        // another program has the port: any free one will do (Settings shows it)
        bound = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await;
    }
    let listener = bound.map_err(|e| {
        ErrorDto::new(
            "io",
            format!("cannot listen on 127.0.0.1:{port}: {e} (is another program using it?)"),
        )
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| ErrorDto::new("io", e.to_string()))?;
    let loader_app = app.clone();
    let load_llm: hearth_http::LoadLlm = Arc::new(move || {
        let app = loader_app.clone();
        Box::pin(async move {
            let shell = app.state::<Shell>();
            let config = shell
                .library()
                .await
                .map_err(engine_error)?
                .config()
                .clone();
            shell.llm(&config, |_| {}).await.map_err(engine_error)
        })
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut options = hearth_http::Options::new(token.clone());
    options.read_token = Some(read_token.clone());
    // clients may index the watched folders too (besides collections and [api] allowed_roots)
    let roots_app = app.clone();
    options.roots = Some(Arc::new(move || {
        crate::watching::list(&roots_app.state::<Shell>()).folders
    }));
    tauri::async_runtime::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = hearth_http::serve(listener, library, load_llm, options, shutdown).await {
            eprintln!("Hearth API stopped: {e}");
        }
    });
    Ok(Running {
        addr,
        token,
        read_token,
        token_file,
        stop,
    })
}

/// Replace the API token with a new one; a running API restarts on the same port with it, so
/// clients holding the old token are refused from now on.
#[tauri::command]
pub async fn api_new_token(app: AppHandle, api: State<'_, ApiServer>) -> Result<ApiView, ErrorDto> {
    let shell = app.state::<Shell>();
    let data_dir = shell.library().await?.config().data_dir.clone();
    hearth_http::new_api_token(&data_dir).map_err(|e| {
        ErrorDto::new(
            "io",
            format!("cannot make a new API token in {}: {e}", data_dir.display()),
        )
    })?;
    let mut slot = api.0.lock().await;
    if let Some(old) = slot.take() {
        let port = old.addr.port();
        let _ = old.stop.send(());
        *slot = Some(start(app.clone(), port, true).await?);
    }
    Ok(view(slot.as_ref()))
}

/// Stop the API (answers in progress are finished first).
#[tauri::command]
pub async fn api_stop(api: State<'_, ApiServer>) -> Result<ApiView, ErrorDto> {
    if let Some(r) = api.0.lock().await.take() {
        let _ = r.stop.send(());
    }
    Ok(view(None))
}
