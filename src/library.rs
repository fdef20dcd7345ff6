//! [`Library`]: the engine's front door. Shells open one and call it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::cancel::Cancel;
use crate::catalog::{Catalog, InstalledModel};
use crate::config::Config;
use crate::embed::{Embedder, OnnxEmbedder};
use crate::error::{Error, Result};
use crate::ingest::{self, IngestEvent, IngestReport, ProgressSink};
use crate::llm::ms;
use crate::lock::{Holder, WriteLock};
use crate::retrieve::{fuse, Fusion, Hit, SearchMode, SearchRequest};
use crate::store::{read_meta, DocRecord, Store};

/// Candidates each retriever contributes to hybrid search (at least).
const HYBRID_DEPTH: usize = 20;

/// Chunks a question term's full-text lookup reads to find it written out.
const TERM_LOOKUP_DEPTH: usize = 20;

/// Longest lowercase everyday-looking word (no capitals, digits or joins) that can count as a
/// name when the embedder splits it: `zsh`, `tmux`, `ufw` do; on the real-document sets, longer
/// ones were mostly plain English the manuals happen not to use ("denominator", "unplugged",
/// "formatter": 5 answerable questions declined) against 2 names ("netplan", "viridis").
const PLAIN_TERM_MAX_CHARS: usize = 4;

/// A user's indexed documents: the store plus the embedding model that feeds and queries it.
pub struct Library {
    config: Config,
    store: Store,
    embedder: Arc<dyn Embedder>,
    /// Wait for another process's write to finish (else fail with `library_busy`).
    wait_for_writer: bool,
    /// How this process names itself in the write lock ("hearth ingest", "Hearth desktop").
    writer_name: String,
    /// Writers through this handle take turns here first (a watch and an ingest in one app),
    /// so that the cross-process lock only ever waits for another process.
    local_writer: Arc<tokio::sync::Mutex<()>>,
}

/// Held while writing: this handle's turn and the library's cross-process lock.
#[derive(Debug)]
pub struct WriteGuard {
    _lock: WriteLock,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("data_dir", &self.config.data_dir)
            .field("embedder", &self.embedder.id())
            .finish()
    }
}

/// Timing of one search.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchTimings {
    /// Query embedding, ms.
    pub embed_ms: f64,
    /// Store queries (and fusion), ms.
    pub search_ms: f64,
}

/// What `status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The data dir.
    pub data_dir: PathBuf,
    /// Documents indexed.
    pub documents: usize,
    /// Chunks indexed.
    pub chunks: usize,
    /// Bytes the index takes on disk.
    pub index_bytes: u64,
    /// Embedding model of the index (if one exists).
    pub embedder: Option<String>,
    /// Index layout version.
    pub schema_version: Option<u32>,
    /// A full-text index exists.
    pub fts_index: bool,
    /// A vector (ANN) index exists; without one, vector search is exact.
    pub vector_index: bool,
    /// Catalog models and whether they are installed.
    pub models: Vec<InstalledModel>,
}

/// One page of a document (or a whole text document) as it is indexed, pieced back together
/// from its chunks: what a reader view shows when a citation or a search hit is opened.
#[derive(Debug, Clone, Serialize)]
pub struct PageText {
    /// The document.
    pub path: String,
    /// 1-based page for PDFs, `None` for text documents.
    pub page: Option<u32>,
    /// Pages in the document (PDFs).
    pub pages: Option<u32>,
    /// The text.
    pub text: String,
}

impl Library {
    /// Open the library described by `config`, loading its embedding model.
    pub async fn open(config: Config) -> Result<Library> {
        config.validate()?;
        let cfg = config.embedder.clone();
        let lib = config.runtime_library.clone();
        let embedder = tokio::task::spawn_blocking(move || OnnxEmbedder::load(&cfg, &lib))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        Self::open_with_embedder(config, Arc::new(embedder)).await
    }

    /// Open with an embedder the caller built (another model, or a fake in unit tests).
    pub async fn open_with_embedder(
        config: Config,
        embedder: Arc<dyn Embedder>,
    ) -> Result<Library> {
        let store = Store::open(&config.data_dir, embedder.id(), embedder.dim()).await?;
        // A writer died between the two tables' commits: put it right now if nobody else is
        // writing (else the writer that holds the lock does, or the next one).
        if store.interrupted() {
            if let Ok(Ok(_lock)) = WriteLock::try_acquire(&config.data_dir, "Hearth (repair)") {
                // Best effort (a full disk may refuse it): the next writer tries again, and
                // reporting the failure is its job; opening to search must not fail for it.
                if store.interrupted() {
                    let _ = store.repair().await;
                }
            }
        }
        Ok(Library {
            config,
            store,
            embedder,
            wait_for_writer: true,
            writer_name: "Hearth".into(),
            local_writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Whether a write waits for another process's write (the default) or fails at once with
    /// `library_busy`; and how this process names itself to a writer that waits for it.
    pub fn set_writer(&mut self, name: &str, wait: bool) {
        self.writer_name = name.to_string();
        self.wait_for_writer = wait;
    }

    /// Take the library's cross-process write lock (see [`crate::lock`]), telling `on_wait`
    /// when another process holds it, and put right what a writer that died mid-way left.
    pub async fn write_lock(
        &self,
        on_wait: &(dyn Fn(&Holder) + Send + Sync),
        cancel: &Cancel,
    ) -> Result<WriteGuard> {
        let turn = loop {
            match self.local_writer.clone().try_lock_owned() {
                Ok(turn) => break turn,
                Err(_) if !self.wait_for_writer => {
                    return Err(Error::Busy(format!("this process, {}", self.writer_name)))
                }
                Err(_) if cancel.is_cancelled() => return Err(Error::Cancelled),
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        };
        let lock = WriteLock::acquire(
            &self.config.data_dir,
            &self.writer_name,
            self.wait_for_writer,
            on_wait,
            cancel,
        )
        .await?;
        if self.store.interrupted() {
            self.store.repair().await?;
        }
        Ok(WriteGuard {
            _lock: lock,
            _turn: turn,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The embedding model.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The store (for tools and benchmarks).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Index files and folders (recursively). Unchanged files are skipped, changed ones replaced,
    /// deleted ones removed; failures are listed per file and never stop the run.
    pub async fn ingest(
        &self,
        paths: &[PathBuf],
        progress: ProgressSink<'_>,
        cancel: &Cancel,
    ) -> Result<IngestReport> {
        if paths.is_empty() {
            return Err(Error::InvalidRequest("no paths to ingest".into()));
        }
        let on_wait = |h: &Holder| progress(IngestEvent::Waiting { holder: h.clone() });
        let _lock = match self.write_lock(&on_wait, cancel).await {
            Err(Error::Cancelled) => {
                let report = IngestReport {
                    cancelled: true,
                    ..IngestReport::default()
                };
                progress(IngestEvent::Finished(report.clone()));
                return Ok(report);
            }
            other => other?,
        };
        ingest::run(
            &self.store,
            self.embedder.clone(),
            self.config.chunking,
            self.config.ingest,
            paths,
            progress,
            cancel,
        )
        .await
    }

    /// Every indexed document, by path.
    pub async fn documents(&self) -> Result<Vec<DocRecord>> {
        let mut docs = self.store.documents().await?;
        docs.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(docs)
    }

    /// The index's row for one document (`None`: not indexed).
    pub async fn document(&self, path: &str) -> Result<Option<DocRecord>> {
        self.store.document(path).await
    }

    /// Remove a document, or every document under a folder, from the index (the files on disk
    /// are not touched). Returns the paths removed; a path that matches nothing is an error.
    pub async fn remove(&self, path: &str) -> Result<Vec<String>> {
        let folder = format!("{}/", path.trim_end_matches('/'));
        let paths: Vec<String> = self
            .store
            .documents()
            .await?
            .into_iter()
            .map(|d| d.path)
            .filter(|p| p == path || p.starts_with(&folder))
            .collect();
        if paths.is_empty() {
            return Err(Error::BadPath {
                path: path.into(),
                reason: "not in the index".into(),
            });
        }
        let _lock = self.write_lock(&|_| {}, &Cancel::new()).await?;
        self.store.remove(&paths).await?;
        Ok(paths)
    }

    /// The indexed text of `path` at `page` (PDFs) or the whole document (`page` = `None`).
    /// Only indexed documents can be read this way.
    pub async fn page_text(&self, path: &str, page: Option<u32>) -> Result<PageText> {
        let doc = self
            .store
            .document(path)
            .await?
            .ok_or_else(|| Error::BadPath {
                path: path.into(),
                reason: "not in the index".into(),
            })?;
        let pages = doc.pages.map(|p| p.max(0) as u32);
        let page = match (page, pages) {
            (Some(p), Some(n)) if p == 0 || p > n => {
                return Err(Error::InvalidRequest(format!(
                    "page {p} is out of range: the document has {n} pages"
                )))
            }
            (p, Some(_)) => Some(p.unwrap_or(1)),
            (_, None) => None,
        };
        let chunks = self.store.document_chunks(path, page).await?;
        Ok(PageText {
            path: path.into(),
            page,
            pages,
            text: piece_together(&chunks),
        })
    }

    /// Search the library.
    pub async fn search(&self, req: &SearchRequest) -> Result<Vec<Hit>> {
        Ok(self.search_timed(req).await?.0)
    }

    /// Search, also returning where the time went.
    pub async fn search_timed(&self, req: &SearchRequest) -> Result<(Vec<Hit>, SearchTimings)> {
        let (hits, _, timings) = self.search_scored(req).await?;
        Ok((hits, timings))
    }

    /// Hybrid search for `query` that also reports how close the nearest chunk is by meaning:
    /// the best cosine similarity among the vector candidates (the signal `ask` uses to decide
    /// that the documents do not hold an answer). One query embedding serves both.
    pub async fn search_with_similarity(
        &self,
        query: &str,
        limit: usize,
    ) -> Result<(Vec<Hit>, f32, SearchTimings)> {
        let req = SearchRequest {
            query: query.to_string(),
            limit,
            mode: SearchMode::Hybrid,
        };
        let (hits, best, timings) = self.search_scored(&req).await?;
        Ok((hits, best.unwrap_or(f32::MIN), timings))
    }

    /// Search; also returns the best vector similarity when vector candidates were fetched.
    async fn search_scored(
        &self,
        req: &SearchRequest,
    ) -> Result<(Vec<Hit>, Option<f32>, SearchTimings)> {
        req.validate()?;
        let mut timings = SearchTimings::default();
        let best = |hits: &[Hit]| hits.iter().map(|h| h.score).fold(f32::MIN, f32::max);
        let (hits, best) = match req.mode {
            SearchMode::Vector => {
                let v = self.embed_query(&req.query, &mut timings).await?;
                let started = Instant::now();
                let hits = self.store.vector_search(&v, req.limit).await?;
                timings.search_ms = ms(started);
                let b = best(&hits);
                (hits, Some(b))
            }
            SearchMode::Text => {
                let started = Instant::now();
                let hits = self.store.text_search(&req.query, req.limit).await?;
                timings.search_ms = ms(started);
                (hits, None)
            }
            SearchMode::Hybrid => {
                // Each retriever fetches more than asked so that fusion has candidates to weigh.
                let depth = (req.limit * 2).max(HYBRID_DEPTH);
                let (vector, text) = self
                    .candidates_timed(&req.query, depth, &mut timings)
                    .await?;
                let b = best(&vector);
                (fuse(vector, text, Fusion::default(), req.limit), Some(b))
            }
        };
        Ok((hits, best, timings))
    }

    /// The two first-stage lists hybrid search fuses: the `depth` nearest chunks by meaning
    /// (score: cosine) and the `depth` best by BM25 (score: BM25), each best-first. For
    /// evaluations and tools that try other fusions.
    pub async fn candidates(&self, query: &str, depth: usize) -> Result<(Vec<Hit>, Vec<Hit>)> {
        self.candidates_timed(query, depth, &mut SearchTimings::default())
            .await
    }

    async fn candidates_timed(
        &self,
        query: &str,
        depth: usize,
        timings: &mut SearchTimings,
    ) -> Result<(Vec<Hit>, Vec<Hit>)> {
        let v = self.embed_query(query, timings).await?;
        let started = Instant::now();
        let (vector, text) = tokio::join!(
            self.store.vector_search(&v, depth),
            self.store.text_search(query, depth)
        );
        timings.search_ms = ms(started);
        Ok((vector?, text?))
    }

    async fn embed_query(&self, query: &str, timings: &mut SearchTimings) -> Result<Vec<f32>> {
        let started = Instant::now();
        let embedder = self.embedder.clone();
        let text = vec![query.to_string()];
        let mut v = tokio::task::spawn_blocking(move || embedder.embed(&text))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        timings.embed_ms = ms(started);
        v.pop()
            .ok_or_else(|| Error::Internal("no query vector".into()))
    }

    /// The words of `question` that name something (a name, or a short lowercase word the
    /// embedder does not know as one piece: `zsh`, `tmux`) which no indexed chunk mentions:
    /// "WireGuard" asked of documents that never say it. Each candidate is looked up in the full-text index and checked in the
    /// chunks it returns (the same stem, or a joined term between word boundaries); all
    /// lookups run at once.
    pub async fn unknown_terms(&self, question: &str) -> Result<Vec<String>> {
        let candidates: Vec<String> = crate::lexical::question_terms(question)
            .into_iter()
            .filter(|t| {
                t.name_like
                    || (t.text.chars().count() <= PLAIN_TERM_MAX_CHARS
                        && self.embedder.token_spans(&t.text.to_lowercase()).len() >= 2)
            })
            .map(|t| t.text)
            .collect();
        let lookups = candidates.iter().map(|term| async move {
            let hits = self.store.text_search(term, TERM_LOOKUP_DEPTH).await?;
            Ok::<bool, Error>(!hits.iter().any(|h| crate::lexical::mentions(&h.text, term)))
        });
        let absent = futures::future::try_join_all(lookups).await?;
        Ok(candidates
            .into_iter()
            .zip(absent)
            .filter(|(_, a)| *a)
            .map(|(t, _)| t)
            .collect())
    }

    /// Counts, sizes, indexes and models.
    pub async fn status(&self) -> Result<Status> {
        status_of(&self.config, Some(&self.store)).await
    }
}

/// Rebuild a page's text from its chunks (exact slices of the page with char offsets, possibly
/// overlapping): overlaps are skipped, gaps (blank lines between blocks) become a blank line.
fn piece_together(chunks: &[Hit]) -> String {
    let mut sorted: Vec<&Hit> = chunks.iter().collect();
    sorted.sort_by_key(|h| (h.char_start, h.char_end));
    let mut out = String::new();
    let mut end = 0u64;
    for h in sorted {
        if h.char_end <= end && !out.is_empty() {
            continue;
        }
        if h.char_start >= end || out.is_empty() {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&h.text);
        } else {
            let skip = (end - h.char_start) as usize;
            out.extend(h.text.chars().skip(skip));
        }
        end = h.char_end;
    }
    out
}

/// Status of a data dir without loading any model (works when the model is missing).
pub async fn status(config: &Config) -> Result<Status> {
    status_of(config, None).await
}

async fn status_of(config: &Config, store: Option<&Store>) -> Result<Status> {
    let meta = read_meta(&config.data_dir)?;
    let models = Catalog::builtin().installed(&config.models_dir);
    let opened;
    let store = match (store, &meta) {
        (Some(s), _) => Some(s),
        (None, Some(m)) => {
            opened = Store::open(&config.data_dir, &m.embedder, m.dim).await?;
            Some(&opened)
        }
        (None, None) => None,
    };
    let (documents, chunks, index_bytes, (fts_index, vector_index)) = match store {
        Some(s) => {
            let (d, c) = s.counts().await?;
            (d, c, s.disk_bytes(), s.indexes().await?)
        }
        None => (0, 0, 0, (false, false)),
    };
    Ok(Status {
        data_dir: config.data_dir.clone(),
        documents,
        chunks,
        index_bytes,
        embedder: meta.as_ref().map(|m| m.embedder.clone()),
        schema_version: meta.as_ref().map(|m| m.schema_version),
        fts_index,
        vector_index,
        models,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start: u64, text: &str) -> Hit {
        Hit {
            path: "/d".into(),
            page: None,
            score: 0.0,
            text: text.into(),
            heading: String::new(),
            char_start: start,
            char_end: start + text.chars().count() as u64,
            chunk_id: start.to_string(),
        }
    }

    #[test]
    fn pages_are_pieced_together_without_repeating_overlaps() {
        // "alpha beta gamma" windowed with overlap, then a separate block after a gap
        let chunks = vec![
            chunk(30, "Second block."),
            chunk(6, "beta gamma"),
            chunk(0, "alpha beta"),
        ];
        assert_eq!(piece_together(&chunks), "alpha beta gamma\n\nSecond block.");
        assert_eq!(piece_together(&[]), "");
    }
}
