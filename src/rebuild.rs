//! Changing the embedding model or the chunk sizes without a broken library.
//!
//! The index in use stays as it is, searchable with the model that built it, while a new index
//! is built beside it (`<data dir>/index-<fingerprint>`) from the same documents with the
//! configured model and chunk sizes. When the new one is complete, `meta.json` is rewritten
//! (atomically) to name it: one step, seen by every process at its next read. Cancelling or a
//! crash leaves `meta.json` naming the old index; the next rebuild resumes the new one where it
//! stopped (its folder name depends only on the target settings, and the incremental ingest
//! skips what it already holds).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cancel::Cancel;
use crate::chunk::ChunkingConfig;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::{self, IngestEvent, IngestReport, ProgressSink};
use crate::library::{configured_meta, Active, Library};
use crate::lock::Holder;
use crate::store::{generation_dir, generation_dirs, remove_generation, write_meta, Meta, Store};

/// How the configuration differs from the index in use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexChange {
    /// The embedding model of the index in use.
    pub from_embedder: String,
    /// The configured embedding model.
    pub to_embedder: String,
    /// The index's chunk sizes (`None`: not recorded).
    pub from_chunking: Option<ChunkingConfig>,
    /// The configured chunk sizes.
    pub to_chunking: ChunkingConfig,
    /// The index's layout version ([`crate::store::SCHEMA_VERSION`] is the current one).
    #[serde(default)]
    pub from_layout: u32,
    /// The current layout version.
    #[serde(default)]
    pub to_layout: u32,
}

impl IndexChange {
    /// One line for people: what a rebuild would change.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.from_embedder != self.to_embedder {
            parts.push(format!(
                "embedding model {} → {}",
                self.from_embedder, self.to_embedder
            ));
        }
        if let Some(from) = self.from_chunking.filter(|c| *c != self.to_chunking) {
            parts.push(format!(
                "chunks of {}/{} → {}/{} tokens (size/overlap)",
                from.chunk_tokens,
                from.overlap_tokens,
                self.to_chunking.chunk_tokens,
                self.to_chunking.overlap_tokens
            ));
        }
        if self.from_layout < self.to_layout {
            parts.push(
                "folder and file names and headings searched with the text (index layout \
                 upgrade)"
                    .to_string(),
            );
        }
        parts.join(", ")
    }
}

/// What the configuration asks for that the index in use was not built with, if anything.
/// An index that did not record its chunk sizes is taken to have the configured ones.
/// An index of an older layout (no document context) is rebuilt in the current one.
pub fn pending_change(config: &Config, meta: &Meta) -> Option<IndexChange> {
    let chunking_differs = meta.chunking.is_some_and(|c| c != config.chunking);
    let old_layout = meta.schema_version < crate::store::SCHEMA_VERSION;
    (meta.embedder != config.embedder.id || chunking_differs || old_layout).then(|| IndexChange {
        from_embedder: meta.embedder.clone(),
        to_embedder: config.embedder.id.clone(),
        from_chunking: meta.chunking,
        to_chunking: config.chunking,
        from_layout: meta.schema_version,
        to_layout: crate::store::SCHEMA_VERSION,
    })
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    /// What changed (`None`: the index already matched the configuration; nothing was done).
    pub change: Option<IndexChange>,
    /// The new index now serves every search and write.
    pub switched: bool,
    /// The re-indexing of the documents into the new index (resumed runs skip what is there).
    pub ingest: IngestReport,
    /// Documents of the old index whose files are gone: not in the new one.
    pub gone: Vec<String>,
    /// Documents in the new index.
    pub documents: usize,
    /// The old index folder could not be deleted (it is deleted at the next rebuild).
    pub old_kept: Option<String>,
}

impl Library {
    /// How the configuration differs from the index in use (`None`: it does not).
    pub fn pending_change(&self) -> Option<IndexChange> {
        pending_change(self.config(), &self.active().meta)
    }

    /// Build a new index with the configured embedding model and chunk sizes from the documents
    /// of the one in use, then switch to it in one step. Searches go on against the old index
    /// meanwhile; other writers wait (the write lock is held throughout, so the new index is
    /// exactly the old one's documents). Cancelled or killed: the old index stays in use and the
    /// next call resumes. Progress is reported as for an ingest.
    pub async fn rebuild(
        &self,
        progress: ProgressSink<'_>,
        cancel: &Cancel,
    ) -> Result<RebuildReport> {
        let on_wait = |h: &Holder| progress(IngestEvent::Waiting { holder: h.clone() });
        let _lock = match self.write_lock(&on_wait, cancel).await {
            Err(Error::Cancelled) => {
                return Ok(RebuildReport {
                    change: self.pending_change(),
                    ingest: cancelled(),
                    ..RebuildReport::default()
                })
            }
            other => other?,
        };
        let old = self.current().await?;
        let Some(change) = pending_change(self.config(), &old.meta) else {
            return Ok(RebuildReport {
                documents: old.store.documents().await?.len(),
                ..RebuildReport::default()
            });
        };
        let data_dir = self.config().data_dir.clone();
        let target = self.configured.clone();
        let chunking = self.config().chunking;
        let mut dir = generation_dir(target.id(), target.dim(), &chunking);
        if dir == old.meta.index_dir {
            // the folder in use already has this name (an index whose layout was changed in
            // place): build beside it, never into it
            dir.push_str("-next");
        }
        // Index folders neither in use nor this rebuild's are what an abandoned rebuild (for
        // other settings) or a failed clean-up left.
        for stale in generation_dirs(&data_dir) {
            if stale != old.meta.index_dir && stale != dir {
                remove_generation(&data_dir, &stale)?;
            }
        }
        let store = Store::open(&data_dir, &dir, target.dim()).await?;
        if store.interrupted() {
            store.repair().await?;
        }

        let docs = old.store.documents().await?;
        let (present, gone): (Vec<String>, Vec<String>) = docs
            .into_iter()
            .map(|d| d.path)
            .partition(|p| Path::new(p).exists());
        let mut report = RebuildReport {
            change: Some(change),
            gone,
            ..RebuildReport::default()
        };
        // What a cancelled run put in that the old index no longer has (removed since).
        let wanted: HashSet<&str> = present.iter().map(String::as_str).collect();
        let extra: Vec<String> = store
            .documents()
            .await?
            .into_iter()
            .map(|d| d.path)
            .filter(|p| !wanted.contains(p.as_str()))
            .collect();
        if !extra.is_empty() {
            store.remove(&extra).await?;
        }
        let inputs: Vec<PathBuf> = present.iter().map(PathBuf::from).collect();
        report.ingest = if inputs.is_empty() {
            let r = IngestReport::default();
            progress(IngestEvent::Finished(r.clone()));
            r
        } else {
            ingest::run(
                &store,
                target.clone(),
                ingest::Settings {
                    chunking,
                    limits: self.config().ingest,
                    ocr: &self.config().ocr,
                    within: None,
                },
                &inputs,
                progress,
                cancel,
            )
            .await?
        };
        if report.ingest.cancelled {
            return Ok(report);
        }
        report.documents = store.documents().await?.len();

        // The switch: one atomic rewrite of meta.json.
        let meta = configured_meta(self.config(), target.as_ref(), dir);
        write_meta(&data_dir, &meta)?;
        self.set_active(Active {
            store,
            embedder: target,
            unusable: None,
            meta,
        });
        report.switched = true;
        // Another process searching the old index finds meta.json changed at its next search
        // and opens the new one.
        if let Err(e) = remove_generation(&data_dir, &old.meta.index_dir) {
            report.old_kept = Some(format!(
                "{}: {e}",
                data_dir.join(&old.meta.index_dir).display()
            ));
        }
        Ok(report)
    }
}

fn cancelled() -> IngestReport {
    IngestReport {
        cancelled: true,
        ..IngestReport::default()
    }
}
