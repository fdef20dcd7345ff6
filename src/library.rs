//! [`Library`]: the engine's front door. Shells open one and call it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::cancel::Cancel;
use crate::catalog::{Catalog, InstalledModel};
use crate::config::Config;
use crate::embed::Embedder;
use crate::error::{Error, Result};
use crate::ingest::{self, IngestEvent, IngestReport, ProgressSink};
use crate::llm::ms;
use crate::lock::{Holder, WriteLock};
use crate::retrieve::{fuse, Fusion, Hit, SearchMode, SearchRequest};
use crate::store::{migrate, read_meta, write_meta, DocRecord, Meta, Store, SCHEMA_VERSION};

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
    /// The embedding model the configuration names: what a rebuild embeds with.
    pub(crate) configured: Arc<dyn Embedder>,
    /// The index in use and the model that made it. Replaced whole when a rebuild (by this or
    /// another process) switches `meta.json` to a new index folder.
    active: std::sync::RwLock<Arc<Active>>,
    /// Wait for another process's write to finish (else fail with `library_busy`).
    wait_for_writer: bool,
    /// How this process names itself in the write lock ("hearth ingest", "Hearth desktop").
    writer_name: String,
    /// Writers through this handle take turns here first (a watch and an ingest in one app),
    /// so that the cross-process lock only ever waits for another process.
    local_writer: Arc<tokio::sync::Mutex<()>>,
}

/// The index generation in use.
pub(crate) struct Active {
    pub(crate) store: Store,
    /// The model its vectors came from (the configured one, or the old one until a rebuild).
    pub(crate) embedder: Arc<dyn Embedder>,
    /// Why it cannot be searched by meaning or written to (its model could not be loaded).
    pub(crate) unusable: Option<String>,
    pub(crate) meta: Meta,
}

impl Active {
    /// The chunk sizes its documents are cut with.
    pub(crate) fn chunking(&self, config: &Config) -> crate::chunk::ChunkingConfig {
        self.meta.chunking.unwrap_or(config.chunking)
    }

    fn usable(&self) -> Result<()> {
        match &self.unusable {
            Some(why) => Err(Error::IndexIncompatible(why.clone())),
            None => Ok(()),
        }
    }
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
            .field("embedder", &self.active().embedder.id())
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
    /// The configuration names another embedding model or other chunk sizes than the index
    /// was built with: `hearth reindex` (or the app) rebuilds it.
    pub index_change: Option<crate::rebuild::IndexChange>,
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
        if let Some(remote) = &config.embedder_endpoint {
            return Err(Error::Config(format!(
                "the embedding model is served at {}: this front end opens libraries with a \
                 local embedding model only",
                remote.endpoint
            )));
        }
        let embedder = load_embedder(config.embedder.clone(), &config).await?;
        Self::open_with_embedder(config, embedder).await
    }

    /// Open with an embedder the caller built (another model, or a fake in unit tests).
    pub async fn open_with_embedder(
        config: Config,
        embedder: Arc<dyn Embedder>,
    ) -> Result<Library> {
        let active = load_active(&config, &embedder).await?;
        let store = &active.store;
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
            configured: embedder,
            active: std::sync::RwLock::new(Arc::new(active)),
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
        // Another process may have switched the library to a rebuilt index since we opened it.
        let active = self.current().await?;
        if active.store.interrupted() {
            active.store.repair().await?;
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

    /// The embedding model of the index in use (until a rebuild, the one it was built with,
    /// which may not be the configured one).
    pub fn embedder(&self) -> Arc<dyn Embedder> {
        self.active().embedder.clone()
    }

    /// The index in use (for tools and benchmarks).
    pub fn store(&self) -> Store {
        self.active().store.clone()
    }

    pub(crate) fn active(&self) -> Arc<Active> {
        self.active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_active(&self, active: Active) {
        *self
            .active
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(active);
    }

    /// The index in use, following a switch to a rebuilt index made since (by this handle or
    /// another process): `meta.json` names the folder in use, and is read on each call (a few
    /// microseconds). When it cannot be read the index already open is kept.
    pub(crate) async fn current(&self) -> Result<Arc<Active>> {
        let active = self.active();
        match read_meta(&self.config.data_dir) {
            Ok(Some(meta)) if meta.index_dir != active.meta.index_dir => {
                let fresh = load_active(&self.config, &self.configured).await?;
                self.set_active(fresh);
                Ok(self.active())
            }
            _ => Ok(active),
        }
    }

    /// Run a read against the index in use. If it fails and meanwhile a rebuild switched the
    /// library to a new index (the old folder is deleted at the switch, possibly under a read
    /// in flight), it runs again on the new one: readers never fail because of a switch.
    async fn read<'s, T, F, Fut>(&'s self, f: F) -> Result<T>
    where
        F: Fn(Arc<Active>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + 's,
    {
        let first = self.current().await?;
        match f(first.clone()).await {
            Err(e) => {
                let now = self.current().await?;
                if Arc::ptr_eq(&first, &now) {
                    Err(e)
                } else {
                    f(now).await
                }
            }
            ok => ok,
        }
    }

    /// Index files and folders (recursively). Unchanged files are skipped, changed ones replaced,
    /// deleted ones removed; failures are listed per file and never stop the run.
    pub async fn ingest(
        &self,
        paths: &[PathBuf],
        progress: ProgressSink<'_>,
        cancel: &Cancel,
    ) -> Result<IngestReport> {
        self.ingest_within(paths, None, progress, cancel).await
    }

    /// As [`Library::ingest`], reading only files whose real path (links followed) is under
    /// one of `within` (canonical folders or files, when given): the others are reported as
    /// `path_not_allowed` failures. The HTTP API confines its clients with it.
    pub async fn ingest_within(
        &self,
        paths: &[PathBuf],
        within: Option<&[PathBuf]>,
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
        let active = self.current().await?;
        active.usable()?;
        ingest::run(
            &active.store,
            active.embedder.clone(),
            ingest::Settings {
                chunking: active.chunking(&self.config),
                limits: self.config.ingest,
                ocr: &self.config.ocr,
                within,
            },
            paths,
            progress,
            cancel,
        )
        .await
    }

    /// Every indexed document, by path.
    pub async fn documents(&self) -> Result<Vec<DocRecord>> {
        let mut docs = self
            .read(|a| async move { a.store.documents().await })
            .await?;
        docs.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(docs)
    }

    /// The index's row for one document (`None`: not indexed).
    pub async fn document(&self, path: &str) -> Result<Option<DocRecord>> {
        self.read(|a| async move { a.store.document(path).await })
            .await
    }

    /// Remove a document, or every document under a folder, from the index (the files on disk
    /// are not touched). Returns the paths removed; a path that matches nothing is an error.
    pub async fn remove(&self, path: &str) -> Result<Vec<String>> {
        let folder = format!("{}/", path.trim_end_matches('/'));
        let paths: Vec<String> = self
            .current()
            .await?
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
        self.current().await?.store.remove(&paths).await?;
        Ok(paths)
    }

    /// The indexed text of `path` at `page` (PDFs) or the whole document (`page` = `None`).
    /// Only indexed documents can be read this way.
    pub async fn page_text(&self, path: &str, page: Option<u32>) -> Result<PageText> {
        self.read(|a| page_text_in(a, path, page)).await
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
    /// `collections` keeps it to documents in those (empty: the whole library).
    pub async fn search_with_similarity(
        &self,
        query: &str,
        limit: usize,
        collections: &[String],
    ) -> Result<(Vec<Hit>, f32, SearchTimings)> {
        let req = SearchRequest {
            query: query.to_string(),
            limit,
            mode: SearchMode::Hybrid,
            collections: collections.to_vec(),
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
        self.read(|a| self.search_in(a, req)).await
    }

    async fn search_in(
        &self,
        active: Arc<Active>,
        req: &SearchRequest,
    ) -> Result<(Vec<Hit>, Option<f32>, SearchTimings)> {
        let store = &active.store;
        let mut timings = SearchTimings::default();
        let Some(filter) = self.scope(&req.collections)?.filter("doc_path") else {
            // Collections without any folder or file: nothing to find.
            return Ok((Vec::new(), None, timings));
        };
        let filter = filter.as_deref();
        let best = |hits: &[Hit]| hits.iter().map(|h| h.score).fold(f32::MIN, f32::max);
        let (hits, best) = match req.mode {
            SearchMode::Vector => {
                let v = embed_query(&active, &req.query, &mut timings).await?;
                let started = Instant::now();
                let hits = store.vector_search(&v, req.limit, filter).await?;
                timings.search_ms = ms(started);
                let b = best(&hits);
                (hits, Some(b))
            }
            SearchMode::Text => {
                let started = Instant::now();
                let hits = store.text_search(&req.query, req.limit, filter).await?;
                timings.search_ms = ms(started);
                (hits, None)
            }
            SearchMode::Hybrid => {
                // Each retriever fetches more than asked so that fusion has candidates to weigh.
                let depth = (req.limit * 2).max(crate::retrieve::HYBRID_DEPTH);
                let (vector, text) =
                    candidates_in(&active, &req.query, depth, &mut timings, filter).await?;
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
        self.read(|a| async move {
            candidates_in(&a, query, depth, &mut SearchTimings::default(), None).await
        })
        .await
    }

    /// The words of `question` that name something (a name, or a short lowercase word the
    /// embedder does not know as one piece: `zsh`, `tmux`) which no indexed chunk mentions:
    /// "WireGuard" asked of documents that never say it. Each candidate is looked up in the full-text index and checked in the
    /// chunks it returns (the same stem, or a joined term between word boundaries); all
    /// lookups run at once.
    /// `collections` keeps the lookups to documents in those (empty: the whole library).
    pub async fn unknown_terms(
        &self,
        question: &str,
        collections: &[String],
    ) -> Result<Vec<String>> {
        let Some(filter) = self.scope(collections)?.filter("doc_path") else {
            return Ok(Vec::new());
        };
        let filter = filter.as_deref();
        self.read(|a| unknown_terms_in(a, question, filter)).await
    }

    /// Counts, sizes, indexes and models.
    pub async fn status(&self) -> Result<Status> {
        let active = self.current().await?;
        status_of(&self.config, Some(&active.store)).await
    }
}

async fn page_text_in(active: Arc<Active>, path: &str, page: Option<u32>) -> Result<PageText> {
    let store = &active.store;
    let doc = store.document(path).await?.ok_or_else(|| Error::BadPath {
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
    let chunks = store.document_chunks(path, page).await?;
    Ok(PageText {
        path: path.into(),
        page,
        pages,
        text: piece_together(&chunks),
    })
}

async fn candidates_in(
    active: &Active,
    query: &str,
    depth: usize,
    timings: &mut SearchTimings,
    filter: Option<&str>,
) -> Result<(Vec<Hit>, Vec<Hit>)> {
    let v = embed_query(active, query, timings).await?;
    let store = &active.store;
    let started = Instant::now();
    let (vector, text) = tokio::join!(
        store.vector_search(&v, depth, filter),
        store.text_search(query, depth, filter)
    );
    timings.search_ms = ms(started);
    Ok((vector?, text?))
}

async fn embed_query(
    active: &Active,
    query: &str,
    timings: &mut SearchTimings,
) -> Result<Vec<f32>> {
    let started = Instant::now();
    active.usable()?;
    let embedder = active.embedder.clone();
    let text = vec![query.to_string()];
    let mut v = tokio::task::spawn_blocking(move || embedder.embed(&text))
        .await
        .map_err(|e| Error::Internal(e.to_string()))??;
    timings.embed_ms = ms(started);
    v.pop()
        .ok_or_else(|| Error::Internal("no query vector".into()))
}

async fn unknown_terms_in(
    active: Arc<Active>,
    question: &str,
    filter: Option<&str>,
) -> Result<Vec<String>> {
    let candidates: Vec<String> = crate::lexical::question_terms(question)
        .into_iter()
        .filter(|t| {
            t.name_like
                || (t.text.chars().count() <= PLAIN_TERM_MAX_CHARS
                    && active.embedder.token_spans(&t.text.to_lowercase()).len() >= 2)
        })
        .map(|t| t.text)
        .collect();
    let store = &active.store;
    let lookups = candidates.iter().map(|term| async move {
        let hits = store.text_search(term, TERM_LOOKUP_DEPTH, filter).await?;
        Ok::<bool, Error>(!hits.iter().any(|h| {
            crate::lexical::mentions(&h.text, term)
                || crate::lexical::mentions(&crate::store::chunk_context(&h.path, &h.heading), term)
        }))
    });
    let absent = futures::future::try_join_all(lookups).await?;
    Ok(candidates
        .into_iter()
        .zip(absent)
        .filter(|(_, a)| *a)
        .map(|(t, _)| t)
        .collect())
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

/// Open the index `meta.json` names (creating the first one if there is none), with the model
/// it was built with: the configured one, or, after the configuration moved on to another model,
/// the old one (from `meta.json`'s record, else the catalog), so that it stays searchable until a
/// rebuild replaces it. If that model cannot be loaded the index is opened but marked unusable.
pub(crate) async fn load_active(config: &Config, configured: &Arc<dyn Embedder>) -> Result<Active> {
    let data_dir = &config.data_dir;
    let Some(mut meta) = read_meta(data_dir)? else {
        let mut index_dir =
            crate::store::generation_dir(configured.id(), configured.dim(), &config.chunking);
        // meta.json deleted (after a message about it being damaged) beside an index made
        // before rebuilds existed: that folder is the index.
        let legacy = data_dir.join(crate::store::INDEX_DIR);
        if !data_dir.join(&index_dir).exists() && legacy.is_dir() {
            index_dir = crate::store::INDEX_DIR.to_string();
        }
        let meta = configured_meta(config, configured.as_ref(), index_dir);
        let store = Store::open(data_dir, &meta.index_dir, meta.dim).await?;
        write_meta(data_dir, &meta)?;
        return Ok(Active {
            store,
            embedder: configured.clone(),
            unusable: None,
            meta,
        });
    };
    migrate(&mut meta)?;
    let (embedder, unusable) = if meta.embedder == configured.id() {
        if meta.dim != configured.dim() {
            return Err(Error::IndexIncompatible(format!(
                "this index holds {}-d vectors but the embedding model '{}' gives {}-d ones; \
                 run `hearth reindex` after naming the model differently, or use another --data-dir",
                meta.dim,
                configured.id(),
                configured.dim()
            )));
        }
        (configured.clone(), None)
    } else {
        match load_index_embedder(config, &meta).await {
            Ok(e) if e.dim() == meta.dim => (e, None),
            Ok(e) => (
                configured.clone(),
                Some(format!(
                    "the index's embedding model '{}' now gives {}-d vectors, not the index's {}; \
                     run `hearth reindex` to rebuild the index with '{}'",
                    meta.embedder,
                    e.dim(),
                    meta.dim,
                    configured.id()
                )),
            ),
            Err(e) => (
                configured.clone(),
                Some(format!(
                    "the index was built with the embedding model '{}', which cannot be loaded \
                     ({e}); run `hearth reindex` to rebuild it with '{}'",
                    meta.embedder,
                    configured.id()
                )),
            ),
        }
    };
    let store = Store::open(data_dir, &meta.index_dir, meta.dim).await?;
    Ok(Active {
        store,
        embedder,
        unusable,
        meta,
    })
}

/// `meta.json` for an index in `index_dir` made with `embedder` and the configured chunk sizes
/// (the model's files recorded when it is the configured one).
pub(crate) fn configured_meta(config: &Config, embedder: &dyn Embedder, index_dir: String) -> Meta {
    Meta {
        schema_version: SCHEMA_VERSION,
        embedder: embedder.id().to_string(),
        dim: embedder.dim(),
        index_dir,
        embedder_config: (config.embedder.id == embedder.id()).then(|| config.embedder.clone()),
        chunking: Some(config.chunking),
    }
}

/// The model an index was built with: a catalog model from the models folder in use (which may
/// have moved), else the files `meta.json` recorded.
async fn load_index_embedder(config: &Config, meta: &Meta) -> Result<Arc<dyn Embedder>> {
    let catalog = Catalog::builtin().embedder_config(&meta.embedder, &config.models_dir);
    let cfg = match (catalog, &meta.embedder_config) {
        (Ok(c), _) => c,
        (Err(_), Some(c)) => c.clone(),
        (Err(e), None) => return Err(e),
    };
    load_embedder(cfg, config).await
}

/// Load an embedding model off the async threads (ONNX models with the configured ONNX
/// Runtime).
async fn load_embedder(
    cfg: crate::embed::EmbedderConfig,
    config: &Config,
) -> Result<Arc<dyn Embedder>> {
    let lib = config.runtime_library.clone();
    tokio::task::spawn_blocking(move || crate::encoder::load(&cfg, &lib))
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
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
            opened = Store::open(&config.data_dir, &m.index_dir, m.dim).await?;
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
        index_change: meta
            .as_ref()
            .and_then(|m| crate::rebuild::pending_change(config, m)),
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
