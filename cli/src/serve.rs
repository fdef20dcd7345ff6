//! `hearth serve`: the loopback HTTP API (the `hearth-http` crate) over this library.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use hearth_http::{LoadLlm, Options};

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on; port 0 picks a free one. Anything but a loopback address lets
    /// other machines reach the API (they still need the token).
    #[arg(long, default_value = "127.0.0.1:8741")]
    listen: SocketAddr,
    /// A browser origin allowed to call the API (e.g. http://localhost:3000; repeat for more).
    /// Without one, requests from web pages are refused.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Answers and summaries that may wait for the model; more get 429 with Retry-After.
    #[arg(long, default_value_t = 16)]
    max_queued: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Replace the API token with a new one before serving (clients holding the old one are
    /// refused from now on).
    #[arg(long)]
    new_token: bool,
}

pub(crate) async fn run(
    data_dir: &Option<PathBuf>,
    models_dir: &Option<PathBuf>,
    args: ServeArgs,
) -> Result<i32> {
    let config = crate::config_from(data_dir, models_dir)?;
    let token_context = || format!("API token in {}", config.data_dir.display());
    if args.new_token {
        hearth_http::new_api_token(&config.data_dir).with_context(token_context)?;
    }
    let tokens = hearth_http::api_tokens(&config.data_dir).with_context(token_context)?;
    let mut library = crate::open_library(config.clone()).await?;
    library.set_writer("hearth serve", true);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // the first line of stderr, for people and for scripts that start the server
    eprintln!(
        "hearth serve: listening on http://{addr} (bearer token in {})",
        tokens.token_file.display()
    );
    if !hearth_http::is_loopback(&addr) {
        eprintln!(
            "warning: {addr} is not a loopback address: other machines can reach the API; every \
             route but /health still requires the token, and traffic is not encrypted"
        );
    }
    if args.new_token {
        eprintln!("hearth serve: made new API tokens; the old ones no longer work");
    }
    eprintln!(
        "hearth serve: a read-only token (search and ask, no indexing) is in {}",
        tokens.read_token_file.display()
    );
    let load_llm = llm_loader(config);
    let mut options = Options::new(tokens.token);
    options.read_token = Some(tokens.read_token);
    options.cors_origins = args.cors_origins;
    options.max_queued = args.max_queued;
    options.max_body_bytes = args.max_body_bytes;
    hearth_http::serve(listener, Arc::new(library), load_llm, options, shutdown())
        .await
        .context("serving")?;
    eprintln!("hearth serve: stopped");
    Ok(0)
}

/// Loads the answering model as `hearth ask` does, once (measuring this machine first when the
/// choice is automatic and nothing is measured yet).
pub(crate) fn llm_loader(config: hearth::Config) -> LoadLlm {
    let loaded = Arc::new(tokio::sync::OnceCell::<Arc<dyn hearth::Generator>>::new());
    Arc::new(move || {
        let (config, loaded) = (config.clone(), loaded.clone());
        Box::pin(async move {
            let llm = loaded
                .get_or_try_init(|| async {
                    crate::answer::load_answerer(&config, None)
                        .await
                        .map_err(|e| match e.downcast::<hearth::Error>() {
                            Ok(e) => e,
                            Err(e) => hearth::Error::Internal(format!("{e:#}")),
                        })
                })
                .await?;
            Ok(llm.clone())
        })
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
