//! Who may call: the bearer token, and the browser origins allowed (none unless listed).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, Shared};

/// The API token of the library in `data_dir`: read from `<data dir>/api-token`, or made (32
/// random bytes as hex) and written there with mode 0600 on first start. Returns the token and
/// the file's path. A token file other users can read is refused, with how to fix it.
pub fn api_token(data_dir: &Path) -> std::io::Result<(String, PathBuf)> {
    token_at(&crate::token_path(data_dir))
}

/// Both API tokens of a library, with their files.
#[derive(Debug, Clone)]
pub struct ApiTokens {
    /// The full token (everything).
    pub token: String,
    /// Its file, `<data dir>/api-token`.
    pub token_file: PathBuf,
    /// The read-only token (search, ask, list, summarize).
    pub read_token: String,
    /// Its file, `<data dir>/api-token-read`.
    pub read_token_file: PathBuf,
}

/// Both API tokens of the library in `data_dir`, each read or made as [`api_token`] says.
pub fn api_tokens(data_dir: &Path) -> std::io::Result<ApiTokens> {
    let (token, token_file) = api_token(data_dir)?;
    let (read_token, read_token_file) = read_only_token(data_dir)?;
    Ok(ApiTokens {
        token,
        token_file,
        read_token,
        read_token_file,
    })
}

/// The read-only token of the library in `data_dir` (`<data dir>/api-token-read`, made as
/// [`api_token`]): it may search, ask, list and summarize, not index or remove.
pub fn read_only_token(data_dir: &Path) -> std::io::Result<(String, PathBuf)> {
    token_at(&crate::read_token_path(data_dir))
}

/// Replace both API tokens of the library in `data_dir` with new ones (the old ones stop
/// working once a server reads the new files); returns the full token and its file's path.
pub fn new_api_token(data_dir: &Path) -> std::io::Result<(String, PathBuf)> {
    std::fs::create_dir_all(data_dir)?;
    make_token(&crate::read_token_path(data_dir))?;
    make_token(&crate::token_path(data_dir))
}

/// The token in `path`, or a new one made there.
fn token_at(path: &Path) -> std::io::Result<(String, PathBuf)> {
    let path = path.to_path_buf();
    match std::fs::File::open(&path) {
        Ok(mut f) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = f.metadata()?.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        format!(
                            "{} can be read by other users of this computer (mode {mode:o}); \
                             make it private with `chmod 600 {}`, or replace the token with \
                             `hearth serve --new-token`",
                            path.display(),
                            path.display()
                        ),
                    ));
                }
            }
            let mut token = String::new();
            f.read_to_string(&mut token)?;
            let token = token.trim().to_string();
            if token.len() < 32 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{} does not hold a usable token (32 or more letters and digits); \
                         delete it to have a new one made",
                        path.display()
                    ),
                ));
            }
            return Ok((token, path));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    make_token(&path)
}

/// Write a new token to `path`; returns it and the path.
fn make_token(path: &Path) -> std::io::Result<(String, PathBuf)> {
    let path = path.to_path_buf();
    let token = random_hex(32)?;
    // written whole to a temporary file of our own, then renamed: a reader never sees half a
    // token. The file is created new (never reused, whatever a leftover's permissions) and
    // private from the start.
    let tmp = path.with_extension(format!("{}.{}.tmp", std::process::id(), random_hex(4)?));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(token.as_bytes())?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // a temporary file left by an older version (a fixed name, which kept its permissions)
    let _ = std::fs::remove_file(path.with_extension("tmp"));
    Ok((token, path))
}

/// `bytes` random bytes from the OS, as hex.
pub(crate) fn random_hex(bytes: usize) -> std::io::Result<String> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Whether a request only reads the library (what a read-only token may do): every `GET`, and
/// the `POST`s that search, answer, embed or summarize. Indexing and removing are writes.
fn only_reads(method: &Method, path: &str) -> bool {
    *method == Method::GET
        || (*method == Method::POST
            && matches!(
                path,
                "/api/search"
                    | "/api/summarize"
                    | "/v1/chat/completions"
                    | "/v1/embeddings"
                    | "/mcp"
            ))
}

/// Compares without stopping at the first difference (no timing hint about the token).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(crate) async fn require_token(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let read_only = |t: &str| {
        state
            .options
            .read_token
            .as_deref()
            .is_some_and(|r| same(t.as_bytes(), r.as_bytes()))
    };
    match given {
        Some(t) if same(t.as_bytes(), state.options.token.as_bytes()) => next.run(request).await,
        Some(t) if read_only(t) => {
            if only_reads(request.method(), request.uri().path()) {
                next.run(request).await
            } else {
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "read_only_token",
                    format!(
                        "this token may search, ask, list and summarize, not {} {} (use the \
                         full token in the api-token file)",
                        request.method(),
                        request.uri().path()
                    ),
                )
                .into_response()
            }
        }
        Some(_) => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the bearer token is wrong (it is in the api-token file of the library's data dir)",
        )
        .into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "send `Authorization: Bearer <token>`; the token is in the api-token file of the \
             library's data dir",
        )
        .into_response(),
    }
}

/// Requests from a browser page carry `Origin`: only listed origins get through (with CORS
/// headers and preflight answers); the rest are refused before any work is done.
pub(crate) async fn origin_policy(
    State(state): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let Some(origin) = request.headers().get(header::ORIGIN).cloned() else {
        return next.run(request).await;
    };
    let allowed = origin
        .to_str()
        .is_ok_and(|o| state.options.cors_origins.iter().any(|a| a == o));
    if !allowed {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            format!(
                "requests from the web page at {} are not allowed (start the server with \
                 --cors-origin to allow it)",
                origin.to_str().unwrap_or("?")
            ),
        )
        .into_response();
    }
    let mut response = if request.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_private_and_then_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let (t1, path) = api_token(&dir).unwrap();
        assert_eq!(t1.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (t2, _) = api_token(&dir).unwrap();
        assert_eq!(t1, t2);
        std::fs::write(&path, "short").unwrap();
        let e = api_token(&dir).unwrap_err();
        assert!(e.to_string().contains("delete it"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_token_others_can_read_is_refused_and_a_leftover_temp_file_is_not_reused() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let path = crate::token_path(&dir);
        // an older version's leftover temp file, readable by everyone
        let leftover = path.with_extension("tmp");
        std::fs::write(&leftover, "x").unwrap();
        std::fs::set_permissions(&leftover, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (t1, _) = api_token(&dir).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!leftover.exists());
        let others: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(others.len(), 1, "only the token file is left: {others:?}");

        // made readable by others: refused, saying how to fix it
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = api_token(&dir).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(e.to_string().contains("--new-token"), "{e}");

        // a new token replaces it, private again
        let (t2, p2) = new_api_token(&dir).unwrap();
        assert_ne!(t1, t2);
        assert_eq!(
            std::fs::metadata(&p2).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(api_token(&dir).unwrap().0, t2);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
    }
}
