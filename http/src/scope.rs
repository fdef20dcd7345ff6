//! What API clients may reach. A path given to `POST /api/ingest` must lie, once canonicalised
//! (links followed, `..` resolved), under a root the user chose: a collection's folders and
//! files, the shell's roots (the desktop's watched folders), `[api] allowed_roots` in
//! `config.toml`; or be a document already indexed (to re-read it). Anything else is refused
//! with `403 path_not_allowed`, naming the roots. The ingest itself is confined to the same
//! roots, so a link inside an allowed folder that leads out of it is not followed
//! ([`hearth::Library::ingest_within`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::StatusCode;

use crate::{ApiError, State};

/// Roots a shell adds, asked for on every request (the desktop's watched folders change).
pub type ShellRoots = Arc<dyn Fn() -> Vec<PathBuf> + Send + Sync>;

/// The canonical roots clients may reach now.
async fn roots(state: &State) -> Result<Vec<PathBuf>, ApiError> {
    let library = &state.library;
    let mut raw: Vec<PathBuf> = library.config().api.allowed_roots.clone();
    if let Some(shell) = &state.options.roots {
        raw.extend(shell());
    }
    for c in library.collections()? {
        raw.extend(c.paths.iter().map(PathBuf::from));
    }
    let mut out: Vec<PathBuf> = raw
        .iter()
        .filter_map(|r| std::fs::canonicalize(r).ok())
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Check `paths` (absolute) against the roots; returns the paths to ingest and what the ingest
/// may read (the roots, and the indexed documents named).
pub(crate) async fn check(
    state: &State,
    paths: &[PathBuf],
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), ApiError> {
    let roots = roots(state).await?;
    let mut within = roots.clone();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let indexed = state
            .library
            .document(&path.to_string_lossy())
            .await?
            .is_some();
        match std::fs::canonicalize(path) {
            Ok(real) if roots.iter().any(|r| real.starts_with(r)) => out.push(real),
            Ok(real) if indexed && real == *path => {
                within.push(real.clone());
                out.push(real);
            }
            // a vanished document: ingesting it removes it from the index
            Err(_) if indexed => out.push(path.clone()),
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_path",
                    format!("{}: {e}", path.display()),
                ))
            }
            Ok(real) => return Err(not_allowed(state, path, &real, &roots)),
        }
    }
    Ok((out, within))
}

fn not_allowed(state: &State, path: &Path, real: &Path, roots: &[PathBuf]) -> ApiError {
    let resolved = if real != path {
        format!(" (it leads to {})", real.display())
    } else {
        String::new()
    };
    let list = if roots.is_empty() {
        "none yet".to_string()
    } else {
        roots
            .iter()
            .map(|r| r.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let config = state
        .library
        .config()
        .data_dir
        .join(hearth::Config::FILE_NAME);
    ApiError::new(
        StatusCode::FORBIDDEN,
        "path_not_allowed",
        format!(
            "{}{resolved} is outside the folders API clients may reach ({list}); to allow it, \
             add it to a collection or watch it in Hearth, or list it under [api] \
             allowed_roots in {}",
            path.display(),
            config.display()
        ),
    )
}
