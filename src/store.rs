//! The on-disk index: LanceDB tables `documents` and `chunks` in `<data dir>/index`, and a small
//! `meta.json` that records the schema version and the embedding model the vectors came from.
//!
//! Every write that changes what a search can see is one LanceDB commit: replacing the chunks of
//! a batch of files is a single `merge_insert` (new rows in, the files' old rows out), so a
//! reader sees either the old or the new version of a file, never half of it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float32Array, Int32Array, Int64Array, RecordBatch,
    RecordBatchIterator, RecordBatchReader, StringArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use lancedb::index::scalar::{CombinedFieldsQuery, FtsIndexBuilder, FtsQuery, FullTextSearchQuery};
use lancedb::index::vector::IvfHnswSqIndexBuilder;
use lancedb::index::{Index, IndexType};
use lancedb::query::{ExecutableQuery, QueryBase, Select};
use lancedb::table::OptimizeAction;
use lancedb::{DistanceType, Table};
use serde::{Deserialize, Serialize};

use crate::chunk::ChunkingConfig;
use crate::embed::EmbedderConfig;
use crate::error::{Error, Result};
use crate::retrieve::Hit;

/// Version of the on-disk layout. Bump it with a migration in [`migrate`].
pub const SCHEMA_VERSION: u32 = 2;

const DOCUMENTS: &str = "documents";
const CHUNKS: &str = "chunks";
const META_FILE: &str = "meta.json";
/// Present while a write that spans both tables is under way; found at the next write, it
/// means the last writer died in the middle and [`Store::repair`] runs.
const PENDING_FILE: &str = "write.pending";

/// How stale a read may be with respect to other writers' commits.
const READ_CONSISTENCY: std::time::Duration = std::time::Duration::ZERO;
/// The index folder of libraries made before rebuilds existed (and the prefix of the others).
pub const INDEX_DIR: &str = "index";

/// What `meta.json` holds: which index generation is in use and how its vectors and chunks were
/// made. Rewriting it (atomically) is how a rebuilt index replaces the old one in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Layout version.
    pub schema_version: u32,
    /// Embedding model the vectors were made with.
    pub embedder: String,
    /// Vector dimension.
    pub dim: usize,
    /// The folder inside the data dir that holds the index in use (`index` until the first
    /// rebuild, then `index-<fingerprint>`).
    #[serde(default = "default_index_dir")]
    pub index_dir: String,
    /// The embedding model's files and settings, so that the index stays searchable with it
    /// after the configuration names another model (absent in indexes made before rebuilds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedder_config: Option<EmbedderConfig>,
    /// The chunk sizes the documents were cut with (absent: unknown, taken as the configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunking: Option<ChunkingConfig>,
}

fn default_index_dir() -> String {
    INDEX_DIR.to_string()
}

/// The folder an index made with `embedder`, `dim` and `chunking` is built in: the same for the
/// same settings, so that an interrupted rebuild resumes where it stopped.
pub fn generation_dir(embedder: &str, dim: usize, chunking: &ChunkingConfig) -> String {
    use sha2::Digest;
    let key = format!(
        "{embedder}\n{dim}\n{}\n{}\nlayout {SCHEMA_VERSION}",
        chunking.chunk_tokens, chunking.overlap_tokens
    );
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{INDEX_DIR}-{hex}")
}

/// Index folders in `data_dir` (`index`, `index-*`), by name.
pub fn generation_dirs(data_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n == INDEX_DIR || n.starts_with(&format!("{INDEX_DIR}-")))
        .collect();
    out.sort();
    out
}

/// Delete an index folder that is not in use (and its interrupted-write marker).
pub fn remove_generation(data_dir: &Path, index_dir: &str) -> Result<()> {
    let _ = std::fs::remove_file(data_dir.join(pending_file(index_dir)));
    match std::fs::remove_dir_all(data_dir.join(index_dir)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(data_dir_error(data_dir, e)),
    }
    .and_then(|()| crate::durable::sync_dir(data_dir).map_err(|e| data_dir_error(data_dir, e)))
}

fn pending_file(index_dir: &str) -> String {
    if index_dir == INDEX_DIR {
        PENDING_FILE.to_string()
    } else {
        format!("{index_dir}.pending")
    }
}

/// A document row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DocRecord {
    /// Absolute, canonical path.
    pub path: String,
    /// sha256 of the content, hex.
    pub hash: String,
    /// Size in bytes.
    pub size: i64,
    /// Modification time, ms since the epoch.
    pub mtime_ms: i64,
    /// What it was read as.
    pub kind: String,
    /// Page count (PDFs).
    pub pages: Option<i32>,
    /// Chunks stored for it.
    pub chunks: i32,
}

/// A chunk row, vector included.
#[derive(Debug, Clone)]
pub struct ChunkRow {
    /// Unique id (`<path hash>-<content hash>-<ordinal>`).
    pub id: String,
    /// The document's path.
    pub doc_path: String,
    /// The document's content hash.
    pub doc_hash: String,
    /// Position within the document.
    pub ordinal: i32,
    /// 1-based page, PDFs only.
    pub page: Option<i32>,
    /// Heading path.
    pub heading: String,
    /// Text.
    pub text: String,
    /// The document's label and the heading path ([`chunk_context`]), searched with the text
    /// (stored only in indexes of layout 2 and later).
    pub context: String,
    /// Char offsets within the page.
    pub char_start: i64,
    /// End char offset.
    pub char_end: i64,
    /// Unit vector.
    pub vector: Vec<f32>,
}

/// The index on disk.
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    /// The index folder inside `dir`.
    index_dir: String,
    docs: Table,
    chunks: Table,
    dim: usize,
    chunk_schema: SchemaRef,
    doc_schema: SchemaRef,
    /// The chunks table has the `context` column (layout 2).
    has_context: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("dir", &self.dir).finish()
    }
}

/// Quote a string for a LanceDB SQL filter.
pub fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn doc_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("hash", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("mtime_ms", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("pages", DataType::Int32, true),
        Field::new("chunks", DataType::Int32, false),
    ]))
}

fn item_field() -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Float32, true))
}

fn chunk_schema(dim: usize, with_context: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("doc_path", DataType::Utf8, false),
        Field::new("doc_hash", DataType::Utf8, false),
        Field::new("ordinal", DataType::Int32, false),
        Field::new("page", DataType::Int32, true),
        Field::new("heading", DataType::Utf8, false),
        Field::new("text", DataType::Utf8, false),
    ];
    if with_context {
        fields.push(Field::new("context", DataType::Utf8, false));
    }
    fields.extend([
        Field::new("char_start", DataType::Int64, false),
        Field::new("char_end", DataType::Int64, false),
        Field::new(
            "vector",
            DataType::FixedSizeList(item_field(), dim as i32),
            false,
        ),
    ]);
    Arc::new(Schema::new(fields))
}

fn data_dir_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::DataDir {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// Read `meta.json` if the data dir has an index.
pub fn read_meta(data_dir: &Path) -> Result<Option<Meta>> {
    let path = data_dir.join(META_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| {
            Error::IndexIncompatible(format!(
                "{} is damaged ({e}); the index beside it is intact: if it was built with the \
                 configured embedding model and chunk sizes, delete this file and Hearth writes \
                 it again, else delete the index folders ({INDEX_DIR}, {INDEX_DIR}-*) in {} and \
                 ingest again",
                path.display(),
                data_dir.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(data_dir_error(data_dir, e)),
    }
}

/// Write `meta.json` atomically (temp, fsync, rename, fsync of the folder).
pub fn write_meta(data_dir: &Path, meta: &Meta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| Error::Internal(e.to_string()))?;
    crate::durable::write_atomic(&data_dir.join(META_FILE), &json)
        .map_err(|e| data_dir_error(data_dir, e))
}

/// Check that this Hearth can use an index of `meta`'s layout. Version 1 stores no document
/// context; version 2 adds the `context` column (the document's folder and file name and the
/// chunk's heading path), searched with the text and embedded with it. A version 1 index stays
/// usable as it is (searched by its text alone) until `hearth reindex` rebuilds it
/// ([`crate::rebuild::pending_change`] names the upgrade).
pub fn migrate(meta: &mut Meta) -> Result<()> {
    if meta.schema_version > SCHEMA_VERSION {
        return Err(Error::IndexIncompatible(format!(
            "the index uses layout version {} but this Hearth understands up to {}; upgrade Hearth",
            meta.schema_version, SCHEMA_VERSION
        )));
    }
    meta.schema_version = meta.schema_version.max(1);
    Ok(())
}

/// The words a document's place gives: its folder's and its file's names, with `-`, `_` and
/// `.` as spaces (`Speeches/2018-donald-j-trump.txt` → `Speeches 2018 donald j trump`): what a
/// person remembers a file by, and often what a speech or a letter never says itself.
pub fn document_label(path: &str) -> String {
    let p = Path::new(path);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    let folder = p
        .parent()
        .and_then(|d| d.file_name())
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let words = |s: &str| {
        s.split(['-', '_', '.', ' '])
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("{} {}", words(folder), words(stem))
        .trim()
        .to_string()
}

/// The `context` of a chunk: its document's label and its heading path.
pub fn chunk_context(path: &str, heading: &str) -> String {
    let label = document_label(path);
    if heading.is_empty() {
        label
    } else {
        format!("{label} \u{2014} {heading}")
    }
}

/// Fewest candidates the HNSW search of the vector index keeps.
const HNSW_EF_MIN: usize = 64;

impl Store {
    /// Open (creating if needed) the index in `data_dir/index_dir` for vectors of `dim`.
    /// `meta.json` is neither read nor written here: which folder is in use is the caller's
    /// business (see [`crate::library::Library`]).
    pub async fn open(data_dir: &Path, index_dir: &str, dim: usize) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| data_dir_error(data_dir, e))?;
        let dir = data_dir.join(index_dir);
        let uri = dir
            .to_str()
            .ok_or_else(|| data_dir_error(data_dir, "path is not valid UTF-8"))?;
        let db = lancedb::connect(uri)
            .session(crate::durable::lance_session())
            // Every read looks for commits made since by other handles and processes (a CLI
            // ingest while the desktop app searches): without this a table never moves past
            // the version it was opened at.
            .read_consistency_interval(READ_CONSISTENCY)
            .execute()
            .await?;
        let doc_schema = doc_schema();
        let names = db.table_names().execute().await?;
        let docs = if names.iter().any(|n| n == DOCUMENTS) {
            db.open_table(DOCUMENTS).execute().await?
        } else {
            db.create_empty_table(DOCUMENTS, doc_schema.clone())
                .execute()
                .await?
        };
        let (chunks, has_context) = if names.iter().any(|n| n == CHUNKS) {
            let table = db.open_table(CHUNKS).execute().await?;
            let has_context = table.schema().await?.field_with_name("context").is_ok();
            (table, has_context)
        } else {
            let table = db
                .create_empty_table(CHUNKS, chunk_schema(dim, true))
                .execute()
                .await?;
            (table, true)
        };
        let chunk_schema = chunk_schema(dim, has_context);
        Ok(Store {
            dir: data_dir.to_path_buf(),
            index_dir: index_dir.to_string(),
            docs,
            chunks,
            dim,
            chunk_schema,
            doc_schema,
            has_context,
        })
    }

    /// Whether chunks carry their document context (layout 2): it is then searched with the
    /// text and embedded with it.
    pub fn has_context(&self) -> bool {
        self.has_context
    }

    /// The index folder's name inside the data dir.
    pub fn index_dir(&self) -> &str {
        &self.index_dir
    }

    /// Vector dimension of this index.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Every document row.
    pub async fn documents(&self) -> Result<Vec<DocRecord>> {
        self.query_documents(None).await
    }

    /// The row of one document, if it is indexed.
    pub async fn document(&self, path: &str) -> Result<Option<DocRecord>> {
        let filter = format!("path = {}", sql_string(path));
        Ok(self.query_documents(Some(filter)).await?.pop())
    }

    async fn query_documents(&self, filter: Option<String>) -> Result<Vec<DocRecord>> {
        let mut query = self.docs.query();
        if let Some(f) = filter {
            query = query.only_if(f);
        }
        let batches: Vec<RecordBatch> = query.execute().await?.try_collect().await?;
        let mut out = Vec::new();
        for b in &batches {
            let path = strings(b, "path")?;
            let hash = strings(b, "hash")?;
            let size = i64s(b, "size")?;
            let mtime = i64s(b, "mtime_ms")?;
            let kind = strings(b, "kind")?;
            let pages = i32s(b, "pages")?;
            let chunks = i32s(b, "chunks")?;
            for i in 0..b.num_rows() {
                out.push(DocRecord {
                    path: path.value(i).to_string(),
                    hash: hash.value(i).to_string(),
                    size: size.value(i),
                    mtime_ms: mtime.value(i),
                    kind: kind.value(i).to_string(),
                    pages: (!pages.is_null(i)).then(|| pages.value(i)),
                    chunks: chunks.value(i),
                });
            }
        }
        Ok(out)
    }

    /// Replace the given documents and all their chunks. Chunks are swapped in one commit
    /// (a search sees the old file or the new one); the document rows follow.
    pub async fn replace(&self, docs: &[DocRecord], chunks: Vec<ChunkRow>) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let filter = format!(
            "doc_path IN ({})",
            docs.iter()
                .map(|d| sql_string(&d.path))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let batch = self.chunk_batch(chunks)?;
        self.begin_pending()?;
        let mut merge = self.chunks.merge_insert(&["id"]);
        merge
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(Some(filter));
        merge.execute(reader(batch)).await?;
        self.upsert_documents(docs).await?;
        self.end_pending()
    }

    fn begin_pending(&self) -> Result<()> {
        crate::durable::write_atomic(&self.dir.join(pending_file(&self.index_dir)), b"")
            .map_err(|e| data_dir_error(&self.dir, e))
    }

    fn end_pending(&self) -> Result<()> {
        match std::fs::remove_file(self.dir.join(pending_file(&self.index_dir))) {
            Ok(()) => crate::durable::sync_dir(&self.dir).map_err(|e| data_dir_error(&self.dir, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(data_dir_error(&self.dir, e)),
        }
    }

    /// True when the last write spanning both tables did not finish (its process died).
    pub fn interrupted(&self) -> bool {
        self.dir.join(pending_file(&self.index_dir)).exists()
    }

    /// Bring the two tables back into agreement after an interrupted write: chunks whose
    /// document row is missing or holds another content hash are dropped, and so is a document
    /// row whose chunks are not all there (its file is then indexed again by the next ingest of
    /// its folder). Returns the number of documents affected. Call it holding the write lock.
    pub async fn repair(&self) -> Result<usize> {
        let batches: Vec<RecordBatch> = self
            .chunks
            .query()
            .select(Select::columns(&["doc_path", "doc_hash"]))
            .execute()
            .await?
            .try_collect()
            .await?;
        let mut counts: std::collections::HashMap<(String, String), i32> =
            std::collections::HashMap::new();
        for b in &batches {
            let path = strings(b, "doc_path")?;
            let hash = strings(b, "doc_hash")?;
            for i in 0..b.num_rows() {
                *counts
                    .entry((path.value(i).to_string(), hash.value(i).to_string()))
                    .or_default() += 1;
            }
        }
        let docs = self.documents().await?;
        let mut bad_docs = Vec::new();
        for d in &docs {
            let have = counts
                .remove(&(d.path.clone(), d.hash.clone()))
                .unwrap_or(0);
            if have != d.chunks {
                bad_docs.push(d.path.clone());
            }
        }
        // What is left in `counts` belongs to no document row.
        let mut affected: std::collections::BTreeSet<String> = bad_docs.iter().cloned().collect();
        for ((path, hash), _) in counts {
            self.chunks
                .delete(
                    format!(
                        "doc_path = {} AND doc_hash = {}",
                        sql_string(&path),
                        sql_string(&hash)
                    )
                    .as_str(),
                )
                .await?;
            affected.insert(path);
        }
        if !bad_docs.is_empty() {
            self.remove(&bad_docs).await?;
        }
        self.end_pending()?;
        Ok(affected.len())
    }

    /// Insert or update document rows (e.g. a new mtime for a file whose content is unchanged).
    pub async fn upsert_documents(&self, docs: &[DocRecord]) -> Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let batch = self.doc_batch(docs)?;
        let mut merge = self.docs.merge_insert(&["path"]);
        merge
            .when_matched_update_all(None)
            .when_not_matched_insert_all();
        merge.execute(reader(batch)).await?;
        Ok(())
    }

    /// Remove documents and their chunks.
    pub async fn remove(&self, paths: &[String]) -> Result<()> {
        self.begin_pending()?;
        for group in paths.chunks(256) {
            let list = group
                .iter()
                .map(|p| sql_string(p))
                .collect::<Vec<_>>()
                .join(", ");
            self.chunks
                .delete(format!("doc_path IN ({list})").as_str())
                .await?;
            self.docs
                .delete(format!("path IN ({list})").as_str())
                .await?;
        }
        self.end_pending()
    }

    /// The chunks of one document (one page of it when `page` is given), in document order,
    /// as search hits with a score of 0.
    pub async fn document_chunks(&self, path: &str, page: Option<u32>) -> Result<Vec<Hit>> {
        let mut filter = format!("doc_path = {}", sql_string(path));
        if let Some(p) = page {
            filter.push_str(&format!(" AND page = {p}"));
        }
        let batches: Vec<RecordBatch> = self
            .chunks
            .query()
            .only_if(filter)
            .select(Select::columns(HIT_COLUMNS))
            .execute()
            .await?
            .try_collect()
            .await?;
        // chunks are slices of their page in order: offsets give document order
        let mut out = hits(&batches, None, |s| s)?;
        out.sort_by_key(|h| (h.page, h.char_start, h.char_end));
        Ok(out)
    }

    /// Number of document and chunk rows.
    pub async fn counts(&self) -> Result<(usize, usize)> {
        Ok((
            self.docs.count_rows(None).await?,
            self.chunks.count_rows(None).await?,
        ))
    }

    /// Bytes the index takes on disk.
    pub fn disk_bytes(&self) -> u64 {
        walkdir::WalkDir::new(self.dir.join(&self.index_dir))
            .into_iter()
            .filter_map(|e| e.ok())
            .filter_map(|e| e.metadata().ok())
            .filter(|m| m.is_file())
            .map(|m| m.len())
            .sum()
    }

    /// Which indexes exist: (full-text, vector).
    pub async fn indexes(&self) -> Result<(bool, bool)> {
        let list = self.chunks.list_indices().await?;
        let fts_on = |col: &str| {
            list.iter()
                .any(|i| i.index_type == IndexType::FTS && i.columns.iter().any(|c| c == col))
        };
        let fts = fts_on("text") && (!self.has_context || fts_on("context"));
        let vector = list.iter().any(|i| i.columns.iter().any(|c| c == "vector"));
        Ok((fts, vector))
    }

    /// Compact what the last writes left (many small fragments make every scan slower), fold new
    /// rows into existing indexes, and build missing ones. The vector index is only built from
    /// `vector_min_rows` rows on; below that, exact search is fast enough.
    pub async fn maintain_indexes(&self, vector_min_rows: usize) -> Result<()> {
        self.chunks.optimize(OptimizeAction::All).await?;
        self.docs.optimize(OptimizeAction::All).await?;
        let rows = self.chunks.count_rows(None).await?;
        if rows == 0 {
            return Ok(());
        }
        let (fts, vector) = self.indexes().await?;
        if !fts {
            self.create_fts_index().await?;
        }
        if !vector && rows >= vector_min_rows.max(256) {
            self.create_vector_index(rows).await?;
        }
        Ok(())
    }

    /// (Re)build the full-text indexes on chunk text (and context).
    pub async fn create_fts_index(&self) -> Result<()> {
        self.chunks
            .create_index(&["text"], Index::FTS(FtsIndexBuilder::default()))
            .replace(true)
            .execute()
            .await?;
        if self.has_context {
            self.chunks
                .create_index(&["context"], Index::FTS(FtsIndexBuilder::default()))
                .replace(true)
                .execute()
                .await?;
        }
        Ok(())
    }

    /// (Re)build the vector index (IVF + HNSW with scalar quantisation, cosine).
    pub async fn create_vector_index(&self, rows: usize) -> Result<()> {
        let partitions = ((rows as f64).sqrt() / 4.0).clamp(1.0, 256.0) as u32;
        self.chunks
            .create_index(
                &["vector"],
                Index::IvfHnswSq(
                    IvfHnswSqIndexBuilder::default()
                        .distance_type(DistanceType::Cosine)
                        .num_partitions(partitions),
                ),
            )
            .replace(true)
            .execute()
            .await?;
        Ok(())
    }

    /// Nearest chunks to a query vector; score = cosine similarity.
    /// (With a vector index, HNSW keeps at least [`HNSW_EF_MIN`] candidates.)
    /// `filter` (a LanceDB SQL condition) keeps the search to some chunks, applied before the
    /// nearest are taken.
    pub async fn vector_search(
        &self,
        query: &[f32],
        limit: usize,
        filter: Option<&str>,
    ) -> Result<Vec<Hit>> {
        if query.len() != self.dim {
            return Err(Error::Internal(format!(
                "query vector has {} dims, index has {}",
                query.len(),
                self.dim
            )));
        }
        let mut q = self
            .chunks
            .query()
            .nearest_to(query)?
            .column("vector")
            .distance_type(DistanceType::Cosine)
            // HNSW's candidate list (LanceDB's default: 1.5 × limit) missed a row added after
            // the index was built, with an unrelated one returned first; a wider list costs
            // little next to embedding the query
            .ef((limit * 4).max(HNSW_EF_MIN))
            .limit(limit)
            .select(Select::columns(HIT_COLUMNS));
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        hits(&batches, Some("_distance"), |d| 1.0 - d)
    }

    /// BM25 full-text search over chunk text.
    /// `filter` as for [`Store::vector_search`].
    pub async fn text_search(
        &self,
        query: &str,
        limit: usize,
        filter: Option<&str>,
    ) -> Result<Vec<Hit>> {
        if self.chunks.count_rows(None).await? == 0 {
            return Ok(Vec::new());
        }
        if !self.indexes().await?.0 {
            // Left without one by a writer that died before building it. A reader writes only
            // when no writer is at work (else the writer builds it at the end of its run).
            match crate::lock::WriteLock::try_acquire(&self.dir, "Hearth (full-text index)") {
                Ok(Ok(_lock)) if !self.indexes().await?.0 => self.create_fts_index().await?,
                Ok(Ok(_)) => {}
                _ => return Ok(Vec::new()),
            }
        }
        let fts = if self.has_context {
            // text and context as one field (BM25F): a word of the file name counts as if the
            // passage said it, with the passage's own words
            let q = CombinedFieldsQuery::try_new(
                query.to_string(),
                vec!["text".to_string(), "context".to_string()],
            )
            .map_err(|e| Error::Store(e.to_string()))?;
            FullTextSearchQuery::new_query(FtsQuery::CombinedFields(q))
        } else {
            FullTextSearchQuery::new(query.to_string())
                .with_column("text".to_string())
                .map_err(|e| Error::Store(e.to_string()))?
        };
        let mut q = self
            .chunks
            .query()
            .full_text_search(fts)
            .limit(limit)
            .select(Select::columns(HIT_COLUMNS));
        if let Some(f) = filter {
            q = q.only_if(f);
        }
        let batches: Vec<RecordBatch> = q.execute().await?.try_collect().await?;
        let mut out = hits(&batches, Some("_score"), |s| s)?;
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(out)
    }

    fn doc_batch(&self, docs: &[DocRecord]) -> Result<RecordBatch> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                docs.iter().map(|d| d.path.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                docs.iter().map(|d| d.hash.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(docs.iter().map(|d| d.size))),
            Arc::new(Int64Array::from_iter_values(
                docs.iter().map(|d| d.mtime_ms),
            )),
            Arc::new(StringArray::from_iter_values(
                docs.iter().map(|d| d.kind.as_str()),
            )),
            Arc::new(Int32Array::from_iter(docs.iter().map(|d| d.pages))),
            Arc::new(Int32Array::from_iter_values(docs.iter().map(|d| d.chunks))),
        ];
        Ok(RecordBatch::try_new(self.doc_schema.clone(), cols)?)
    }

    fn chunk_batch(&self, rows: Vec<ChunkRow>) -> Result<RecordBatch> {
        let mut flat = Vec::with_capacity(rows.len() * self.dim);
        for r in &rows {
            if r.vector.len() != self.dim {
                return Err(Error::Internal(format!(
                    "vector of {} dims for a {}-d index",
                    r.vector.len(),
                    self.dim
                )));
            }
            flat.extend_from_slice(&r.vector);
        }
        let vectors = FixedSizeListArray::try_new(
            item_field(),
            self.dim as i32,
            Arc::new(Float32Array::from(flat)),
            None,
        )?;
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.id.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.doc_path.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.doc_hash.as_str()),
            )),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.ordinal))),
            Arc::new(Int32Array::from_iter(rows.iter().map(|r| r.page))),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.heading.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.text.as_str()),
            )),
        ];
        if self.has_context {
            cols.push(Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.context.as_str()),
            )));
        }
        cols.extend::<[ArrayRef; 3]>([
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.char_start),
            )),
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|r| r.char_end),
            )),
            Arc::new(vectors),
        ]);
        Ok(RecordBatch::try_new(self.chunk_schema.clone(), cols)?)
    }
}

const HIT_COLUMNS: &[&str] = &[
    "id",
    "doc_path",
    "page",
    "heading",
    "text",
    "char_start",
    "char_end",
];

fn reader(batch: RecordBatch) -> Box<dyn RecordBatchReader + Send> {
    let schema = batch.schema();
    Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema))
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> Result<&'a T> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| Error::Store(format!("column {name} missing or of the wrong type")))
}
fn strings<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    column::<StringArray>(b, name)
}
fn i64s<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Int64Array> {
    column::<Int64Array>(b, name)
}
fn i32s<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Int32Array> {
    column::<Int32Array>(b, name)
}

/// Decode hit columns; without a score column every score is 0.
fn hits(
    batches: &[RecordBatch],
    score_col: Option<&str>,
    score: impl Fn(f32) -> f32,
) -> Result<Vec<Hit>> {
    let mut out = Vec::new();
    for b in batches {
        let id = strings(b, "id")?;
        let path = strings(b, "doc_path")?;
        let page = i32s(b, "page")?;
        let heading = strings(b, "heading")?;
        let text = strings(b, "text")?;
        let start = i64s(b, "char_start")?;
        let end = i64s(b, "char_end")?;
        let s = score_col
            .map(|c| column::<Float32Array>(b, c))
            .transpose()?;
        for i in 0..b.num_rows() {
            out.push(Hit {
                path: path.value(i).to_string(),
                page: (!page.is_null(i)).then(|| page.value(i) as u32),
                score: s.map_or(0.0, |s| score(s.value(i))),
                text: text.value(i).to_string(),
                heading: heading.value(i).to_string(),
                char_start: start.value(i) as u64,
                char_end: end.value(i) as u64,
                chunk_id: id.value(i).to_string(),
            });
        }
    }
    Ok(out)
}
