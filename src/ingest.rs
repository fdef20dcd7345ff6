//! Ingest: walk the inputs, skip what is unchanged, extract → chunk → embed → store the rest in
//! batches, drop what was deleted, and keep the indexes fresh. Progress goes to a sink;
//! cancellation is checked between files and between embedding batches, and every batch is
//! committed whole or not at all, so a stopped run leaves a consistent index.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cancel::Cancel;
use crate::chunk::{chunk_document, Chunk, ChunkingConfig};
use crate::config::{IngestConfig, OcrConfig};
use crate::embed::Embedder;
use crate::error::{contain, Error, Result};
use crate::extract::{extract_with, is_candidate, is_image, ExtractOptions};
use crate::store::{ChunkRow, DocRecord, Store};

/// A file that could not be indexed, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFile {
    /// The path as found.
    pub path: String,
    /// One-line reason.
    pub error: String,
    /// Stable error code.
    pub code: String,
}

/// What an ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngestReport {
    /// Files (re)indexed in this run.
    pub indexed: usize,
    /// Files already indexed and unchanged.
    pub skipped: usize,
    /// Documents removed because their file is gone.
    pub removed: usize,
    /// Files that could not be indexed.
    pub failed: Vec<FailedFile>,
    /// Chunks written in this run.
    pub chunks: usize,
    /// True when the run was stopped early (what was committed stays).
    pub cancelled: bool,
    /// Files found in the folders that are not of a type Hearth reads (images, archives…).
    #[serde(default)]
    pub unsupported: Unsupported,
    /// Time spent per stage.
    pub timings: StageTimings,
}

/// Files of types Hearth does not read, found by a walk: counted, never dropped in silence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unsupported {
    /// How many.
    pub count: usize,
    /// How many per extension (lowercase, without the dot; `""` for none).
    pub by_type: std::collections::BTreeMap<String, usize>,
    /// Their paths, the first [`UNSUPPORTED_LISTED`] of them.
    pub paths: Vec<String>,
}

/// Paths of unsupported files a report lists (the count covers all).
pub const UNSUPPORTED_LISTED: usize = 1000;

impl Unsupported {
    fn add(&mut self, path: &Path) {
        self.count += 1;
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        *self.by_type.entry(ext).or_default() += 1;
        if self.paths.len() < UNSUPPORTED_LISTED {
            self.paths.push(path.display().to_string());
        }
    }

    /// "12 (.jpg 10, .docx 2)": the count and the most common types.
    pub fn describe(&self) -> String {
        format!("{} ({})", self.count, self.types())
    }

    /// ".jpg 10, .docx 2": the most common types (five at most).
    pub fn types(&self) -> String {
        let mut types: Vec<(&String, &usize)> = self.by_type.iter().collect();
        types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let shown: Vec<String> = types
            .iter()
            .take(5)
            .map(|(t, n)| {
                if t.is_empty() {
                    format!("no extension {n}")
                } else {
                    format!(".{t} {n}")
                }
            })
            .collect();
        let more = if types.len() > 5 { ", …" } else { "" };
        format!("{}{more}", shown.join(", "))
    }
}

/// Seconds per stage (wall time inside the stage).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimings {
    /// Reading, hashing and text extraction.
    pub extract_s: f64,
    /// Chunking (tokenizing included).
    pub chunk_s: f64,
    /// Embedding.
    pub embed_s: f64,
    /// Writing to the store and maintaining indexes.
    pub store_s: f64,
    /// Bytes of the files processed.
    pub bytes: u64,
}

/// Progress of an ingest run, for a progress bar or a UI.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum IngestEvent {
    /// Another process is writing to the library; this run waits for it.
    Waiting {
        /// Who writes.
        holder: crate::lock::Holder,
    },
    /// Inputs walked: how many files were found and how many need work.
    Scanned {
        /// Candidate files found.
        found: usize,
        /// Files new or changed.
        to_index: usize,
        /// Total bytes to process.
        bytes: u64,
    },
    /// Work done so far.
    Progress {
        /// Files processed (indexed, failed or unchanged-content).
        files_done: usize,
        /// Files to process.
        files_total: usize,
        /// Chunks embedded.
        chunks_done: usize,
        /// Bytes processed.
        bytes_done: u64,
        /// Path being processed (empty while embedding).
        current: String,
    },
    /// A file failed; the run goes on.
    Failed(FailedFile),
    /// Indexes are being updated.
    Indexing,
    /// The run ended.
    Finished(IngestReport),
}

/// Where progress events go.
pub type ProgressSink<'a> = &'a (dyn Fn(IngestEvent) + Send + Sync);

#[derive(Debug)]
struct Candidate {
    path: PathBuf,
    key: String,
    size: u64,
    mtime_ms: i64,
}

fn mtime_ms(md: &std::fs::Metadata) -> i64 {
    md.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn path_key(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn failed(path: &Path, err: &Error) -> FailedFile {
    FailedFile {
        path: path.display().to_string(),
        error: err.to_string(),
        code: err.code().to_string(),
    }
}

fn io_reason(e: &std::io::Error) -> Error {
    Error::Unreadable(match e.kind() {
        std::io::ErrorKind::NotFound => "no such file (it may have been moved or deleted)".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a folder, not a file".into(),
        _ => format!("cannot read: {e}"),
    })
}

/// Inputs walked: candidate files, per-path failures, and the roots under which a missing
/// indexed document means "deleted".
struct Walk {
    files: Vec<Candidate>,
    failures: Vec<FailedFile>,
    /// Roots (folders or files) that were walked.
    roots: Vec<String>,
    /// Subtrees that could not be read: documents under them are kept.
    unreadable: Vec<String>,
    /// Inputs that do not exist (fine if they were indexed: they are removed; an error if not).
    missing: Vec<PathBuf>,
    /// Files in the folders that are not of a type Hearth reads.
    unsupported: Unsupported,
}

impl Walk {
    /// Drop the files whose real path is not under one of `roots` (canonical folders or
    /// files): each is reported as `path_not_allowed`.
    fn confine(&mut self, roots: &[PathBuf]) {
        let (inside, outside): (Vec<Candidate>, Vec<Candidate>) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|c| roots.iter().any(|r| c.path.starts_with(r)));
        self.files = inside;
        for c in outside {
            self.failures.push(FailedFile {
                path: c.path.display().to_string(),
                error: "outside the folders API clients may reach (a link leads out of them)"
                    .into(),
                code: "path_not_allowed".into(),
            });
        }
    }
}

fn walk(inputs: &[PathBuf], images: bool) -> Walk {
    let mut w = Walk {
        files: Vec::new(),
        failures: Vec::new(),
        roots: Vec::new(),
        unreadable: Vec::new(),
        missing: Vec::new(),
        unsupported: Unsupported::default(),
    };
    let mut seen = HashSet::new();
    for input in inputs {
        let abs = absolute(input);
        let root = std::fs::canonicalize(&abs).unwrap_or_else(|_| normalize(&abs));
        w.roots.push(path_key(&root));
        let md = match std::fs::metadata(&root) {
            Ok(md) => md,
            Err(e) => {
                if e.kind() == std::io::ErrorKind::NotFound {
                    w.missing.push(root);
                } else {
                    w.unreadable.push(path_key(&root));
                    w.failures.push(failed(input, &io_reason(&e)));
                }
                continue;
            }
        };
        if md.is_file() {
            if seen.insert(root.clone()) {
                w.files.push(Candidate {
                    key: path_key(&root),
                    path: root,
                    size: md.len(),
                    mtime_ms: mtime_ms(&md),
                });
            }
            continue;
        }
        let walker = walkdir::WalkDir::new(&root)
            .follow_links(true)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e
                        .path()
                        .map(Path::to_path_buf)
                        .unwrap_or_else(|| root.clone());
                    let reason = if let Some(ancestor) = e.loop_ancestor() {
                        format!("symlink loop (points back to {})", ancestor.display())
                    } else if let Some(io) = e.io_error() {
                        io_reason(io).to_string()
                    } else {
                        e.to_string()
                    };
                    w.unreadable.push(path_key(&path));
                    w.failures.push(FailedFile {
                        path: path.display().to_string(),
                        error: reason,
                        code: "unreadable".into(),
                    });
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            if !(is_candidate(entry.path()) || images && is_image(entry.path())) {
                w.unsupported.add(entry.path());
                continue;
            }
            // Through symlinks the same file can be reached twice: index it once, by its real path.
            let real =
                std::fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path().to_path_buf());
            if !seen.insert(real.clone()) {
                continue;
            }
            match entry.metadata() {
                Ok(md) => w.files.push(Candidate {
                    key: path_key(&real),
                    path: real,
                    size: md.len(),
                    mtime_ms: mtime_ms(&md),
                }),
                Err(e) => w.failures.push(FailedFile {
                    path: entry.path().display().to_string(),
                    error: e.to_string(),
                    code: "unreadable".into(),
                }),
            }
        }
    }
    w
}

/// `path` made absolute against the current directory (not resolved: see `canonicalize`).
pub(crate) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// `a/./b/../c` → `a/c` without touching the file system (for paths that no longer exist).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Whether `path` is `root` or inside it (path boundaries respected).
pub(crate) fn under(path: &str, root: &str) -> bool {
    path == root
        || (path.starts_with(root)
            && (root.ends_with('/') || path[root.len()..].starts_with(std::path::MAIN_SEPARATOR)))
}

/// A file read and cut into chunks, waiting for its vectors.
struct Prepared {
    doc: DocRecord,
    chunks: Vec<Chunk>,
}

enum Outcome {
    Prepared(Prepared),
    /// Same content as indexed: only the mtime changes.
    Unchanged(DocRecord),
    Failed(FailedFile),
}

fn prepare(
    c: &Candidate,
    known: Option<&DocRecord>,
    embedder: &dyn Embedder,
    chunking: &ChunkingConfig,
    max_bytes: u64,
    opts: &ExtractOptions,
    timings: &mut StageTimings,
) -> Outcome {
    let started = Instant::now();
    let fail = |e: Error| Outcome::Failed(failed(&c.path, &e));
    let max_bytes = crate::extract::size_limit(&c.path, max_bytes);
    if c.size > max_bytes {
        return fail(Error::unsupported(format!(
            "file too large ({:.1} MB; the limit is {} MB, set ingest.max_file_mb in config.toml to raise it)",
            c.size as f64 / 1e6,
            max_bytes / 1_000_000
        )));
    }
    let bytes = match read_bounded(&c.path, max_bytes) {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    timings.bytes += bytes.len() as u64;
    let hash = hex::encode(Sha256::digest(&bytes));
    if let Some(k) = known {
        if k.hash == hash {
            timings.extract_s += started.elapsed().as_secs_f64();
            return Outcome::Unchanged(DocRecord {
                size: bytes.len() as i64,
                mtime_ms: c.mtime_ms,
                ..k.clone()
            });
        }
    }
    let extracted = extract_with(&c.path, &bytes, opts);
    drop(bytes);
    timings.extract_s += started.elapsed().as_secs_f64();
    let extracted = match extracted {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    let started = Instant::now();
    let chunks = chunk_document(&extracted, embedder, chunking);
    timings.chunk_s += started.elapsed().as_secs_f64();
    if chunks.is_empty() {
        return fail(Error::unsupported("no text to index"));
    }
    let paged = extracted.pages.iter().any(|p| p.number.is_some());
    let pages = paged.then_some(extracted.pages.len() as i32);
    Outcome::Prepared(Prepared {
        doc: DocRecord {
            path: c.key.clone(),
            hash,
            size: c.size as i64,
            mtime_ms: c.mtime_ms,
            kind: extracted.kind.as_str().to_string(),
            pages,
            chunks: chunks.len() as i32,
        },
        chunks,
    })
}

/// Read a whole file, refusing to go past `max` bytes even if it grew since it was listed.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| io_reason(&e))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_reason(&e))?;
    if bytes.len() as u64 > max {
        return Err(Error::unsupported(format!(
            "file too large (over {} MB)",
            max / 1_000_000
        )));
    }
    Ok(bytes)
}

fn chunk_id(path: &str, hash: &str, ordinal: usize) -> String {
    let p = Sha256::digest(path.as_bytes());
    format!("{}-{}-{ordinal}", &hex::encode(p)[..16], &hash[..16])
}

/// Texts embedded per call, between which cancellation and progress are checked.
const EMBED_GROUP: usize = 128;

/// How an ingest cuts and reads files: the index's chunk sizes, the ingest limits, OCR.
pub(crate) struct Settings<'a> {
    pub chunking: ChunkingConfig,
    pub limits: IngestConfig,
    pub ocr: &'a OcrConfig,
    /// Only files whose real path (links followed) is under one of these canonical folders
    /// are read; others are reported as `path_not_allowed` (API clients' scope).
    pub within: Option<&'a [PathBuf]>,
}

/// Run an ingest. See the module docs.
pub(crate) async fn run(
    store: &Store,
    embedder: Arc<dyn Embedder>,
    settings: Settings<'_>,
    inputs: &[PathBuf],
    progress: ProgressSink<'_>,
    cancel: &Cancel,
) -> Result<IngestReport> {
    let Settings {
        chunking,
        limits: cfg,
        ocr,
        within,
    } = settings;
    let mut report = IngestReport::default();
    let (walk, opts) = {
        let inputs = inputs.to_vec();
        let (ocr, cancel) = (ocr.clone(), cancel.clone());
        let within = within.map(<[PathBuf]>::to_vec);
        tokio::task::spawn_blocking(move || {
            // Finding the OCR tools runs them once per process.
            let opts = ExtractOptions::new(&ocr, cancel);
            let mut w = walk(&inputs, opts.ocr.is_some());
            if let Some(roots) = within {
                w.confine(&roots);
            }
            (w, Arc::new(opts))
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    };
    let known: HashMap<String, DocRecord> = store
        .documents()
        .await?
        .into_iter()
        .map(|d| (d.path.clone(), d))
        .collect();
    report.unsupported = walk.unsupported;
    let mut failures = walk.failures;
    for missing in &walk.missing {
        let key = path_key(missing);
        if !known.keys().any(|p| under(p, &key)) {
            failures.push(FailedFile {
                path: missing.display().to_string(),
                error: "no such file or folder".into(),
                code: "bad_path".into(),
            });
        }
    }
    for f in &failures {
        progress(IngestEvent::Failed(f.clone()));
    }
    report.failed.extend(failures);

    let found: HashSet<&str> = walk.files.iter().map(|c| c.key.as_str()).collect();
    let removed: Vec<String> = known
        .keys()
        .filter(|p| walk.roots.iter().any(|r| under(p, r)))
        .filter(|p| !walk.unreadable.iter().any(|u| under(p, u)))
        .filter(|p| !found.contains(p.as_str()))
        .cloned()
        .collect();

    let mut todo = Vec::new();
    for c in walk.files {
        match known.get(&c.key) {
            Some(k) if k.size == c.size as i64 && k.mtime_ms == c.mtime_ms => report.skipped += 1,
            _ => todo.push(c),
        }
    }
    let files_total = todo.len();
    progress(IngestEvent::Scanned {
        found: files_total + report.skipped,
        to_index: files_total,
        bytes: todo.iter().map(|c| c.size).sum(),
    });

    let known = Arc::new(known);
    let max_bytes = cfg.max_file_mb * 1_000_000;
    let mut files_done = 0usize;
    let mut bytes_done = 0u64;
    let mut todo = todo.into_iter().peekable();
    let mut wrote = false;
    'batches: while todo.peek().is_some() {
        // Extract and chunk files off the async threads, one at a time, until the batch is full.
        let mut prepared: Vec<Prepared> = Vec::new();
        let mut unchanged = Vec::new();
        let mut batch_files = 0usize;
        let mut batch_chunks = 0usize;
        while batch_files < cfg.files_per_batch && batch_chunks < cfg.chunks_per_batch {
            let Some(c) = todo.next() else { break };
            batch_files += 1;
            if cancel.is_cancelled() {
                report.cancelled = true;
                break 'batches;
            }
            progress(IngestEvent::Progress {
                files_done,
                files_total,
                chunks_done: report.chunks,
                bytes_done,
                current: c.path.display().to_string(),
            });
            let current = c.path.display().to_string();
            let (outcome, t, c) = {
                let embedder = embedder.clone();
                let known = known.clone();
                let reading = opts.clone();
                let mut task = tokio::task::spawn_blocking(move || {
                    let mut t = StageTimings::default();
                    // A reader or the chunker crashing on this file fails this file only.
                    let outcome = contain(|| {
                        Ok(prepare(
                            &c,
                            known.get(&c.key),
                            embedder.as_ref(),
                            &chunking,
                            max_bytes,
                            &reading,
                            &mut t,
                        ))
                    })
                    .unwrap_or_else(|e| Outcome::Failed(failed(&c.path, &e)));
                    (outcome, t, c)
                });
                // A long read (OCR of a scan) reports its pages every second.
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                tick.tick().await;
                let joined = loop {
                    tokio::select! {
                        joined = &mut task => break joined,
                        _ = tick.tick() => {
                            if let Some((done, total)) = opts.ocr_pages() {
                                progress(IngestEvent::Progress {
                                    files_done,
                                    files_total,
                                    chunks_done: report.chunks,
                                    bytes_done,
                                    current: format!("{current} (OCR: page {done} of {total})"),
                                });
                            }
                        }
                    }
                };
                joined.map_err(|e| Error::Internal(format!("extraction task failed: {e}")))?
            };
            add_timings(&mut report.timings, &t);
            files_done += 1;
            bytes_done += c.size;
            match outcome {
                Outcome::Prepared(p) => {
                    batch_chunks += p.chunks.len();
                    prepared.push(p)
                }
                Outcome::Unchanged(d) => {
                    report.skipped += 1;
                    unchanged.push(d)
                }
                // Stopped inside a long read (OCR): the file is not a failure, the run stops.
                Outcome::Failed(f) if f.code == "cancelled" && cancel.is_cancelled() => {
                    report.cancelled = true;
                    break 'batches;
                }
                Outcome::Failed(f) => {
                    progress(IngestEvent::Failed(f.clone()));
                    report.failed.push(f)
                }
            }
        }
        // Embed every chunk of the batch in groups, checking for cancellation in between. In an
        // index of layout 2 the document's label leads what is embedded.
        let with_context = store.has_context();
        let texts: Vec<String> = prepared
            .iter()
            .flat_map(|p| {
                let label = crate::store::document_label(&p.doc.path);
                p.chunks.iter().map(move |c| {
                    if with_context && !label.is_empty() {
                        format!("{label}\n{}", c.embedding_text())
                    } else {
                        c.embedding_text()
                    }
                })
            })
            .collect();
        let mut vectors: Vec<Vec<f32>> = Vec::with_capacity(texts.len());
        let started = Instant::now();
        for group in texts.chunks(EMBED_GROUP) {
            if cancel.is_cancelled() {
                report.cancelled = true;
                break 'batches;
            }
            let group = group.to_vec();
            let embedder = embedder.clone();
            let out = tokio::task::spawn_blocking(move || embedder.embed(&group))
                .await
                .map_err(|e| Error::Internal(format!("embedding task failed: {e}")))??;
            vectors.extend(out);
            progress(IngestEvent::Progress {
                files_done,
                files_total,
                chunks_done: report.chunks + vectors.len(),
                bytes_done,
                current: String::new(),
            });
        }
        report.timings.embed_s += started.elapsed().as_secs_f64();
        // Commit the batch: all its files at once.
        let started = Instant::now();
        let mut rows = Vec::with_capacity(vectors.len());
        let mut vectors = vectors.into_iter();
        let mut docs = Vec::with_capacity(prepared.len());
        for p in prepared {
            for (ordinal, chunk) in p.chunks.into_iter().enumerate() {
                let vector = vectors
                    .next()
                    .ok_or_else(|| Error::Internal("fewer vectors than chunks".into()))?;
                rows.push(ChunkRow {
                    id: chunk_id(&p.doc.path, &p.doc.hash, ordinal),
                    doc_path: p.doc.path.clone(),
                    doc_hash: p.doc.hash.clone(),
                    ordinal: ordinal as i32,
                    page: chunk.page.map(|p| p as i32),
                    context: crate::store::chunk_context(&p.doc.path, &chunk.heading),
                    heading: chunk.heading,
                    text: chunk.text,
                    char_start: chunk.char_start as i64,
                    char_end: chunk.char_end as i64,
                    vector,
                });
            }
            docs.push(p.doc);
        }
        report.chunks += rows.len();
        report.indexed += docs.len();
        wrote |= !docs.is_empty() || !unchanged.is_empty();
        store.replace(&docs, rows).await?;
        store.upsert_documents(&unchanged).await?;
        report.timings.store_s += started.elapsed().as_secs_f64();
    }
    if cancel.is_cancelled() {
        report.cancelled = true;
    }

    if !report.cancelled && !removed.is_empty() {
        store.remove(&removed).await?;
        report.removed = removed.len();
        wrote = true;
    }
    // A run that wrote nothing (a catch-up finding no change) leaves the indexes as they are,
    // unless the last writer died before building the full-text one: compacting and
    // re-indexing unchanged tables took seconds on a busy machine for nothing.
    if wrote || !store.indexes().await?.0 {
        progress(IngestEvent::Indexing);
        let started = Instant::now();
        store.maintain_indexes(cfg.vector_index_min_rows).await?;
        report.timings.store_s += started.elapsed().as_secs_f64();
    }
    progress(IngestEvent::Finished(report.clone()));
    Ok(report)
}

fn add_timings(total: &mut StageTimings, t: &StageTimings) {
    total.extract_s += t.extract_s;
    total.chunk_s += t.chunk_s;
    total.embed_s += t.embed_s;
    total.store_s += t.store_s;
    total.bytes += t.bytes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::fake::HashEmbedder;

    #[test]
    fn under_respects_path_boundaries() {
        assert!(under("/a/b/c.md", "/a/b"));
        assert!(under("/a/b", "/a/b"));
        assert!(!under("/a/bc/d.md", "/a/b"));
        assert!(under("/a/b/c", "/"));
    }

    #[test]
    fn normalize_folds_dots() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
    }

    #[test]
    fn a_file_that_vanishes_after_the_walk_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("note.txt");
        std::fs::write(&path, "soon gone").unwrap();
        let w = walk(&[dir.path().to_path_buf()], false);
        assert_eq!(w.files.len(), 1);
        std::fs::remove_file(&path).unwrap();
        let mut t = StageTimings::default();
        let outcome = prepare(
            &w.files[0],
            None,
            &HashEmbedder,
            &ChunkingConfig::default(),
            1 << 20,
            &ExtractOptions::default(),
            &mut t,
        );
        match outcome {
            Outcome::Failed(f) => {
                assert_eq!(f.code, "unreadable");
                assert!(f.error.contains("no such file"), "{}", f.error);
            }
            _ => panic!("expected a failure"),
        }
    }

    #[test]
    fn a_file_that_grows_past_the_limit_is_refused_without_reading_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.txt");
        std::fs::write(&path, "small").unwrap();
        let w = walk(std::slice::from_ref(&path), false);
        std::fs::write(&path, "x".repeat(5000)).unwrap();
        let mut t = StageTimings::default();
        let outcome = prepare(
            &w.files[0],
            None,
            &HashEmbedder,
            &ChunkingConfig::default(),
            1000,
            &ExtractOptions::default(),
            &mut t,
        );
        assert!(matches!(outcome, Outcome::Failed(f) if f.error.contains("too large")));
        assert!(t.bytes == 0);
    }
}
