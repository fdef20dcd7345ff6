//! The model catalog (`models/catalog.toml`, compiled in) and what is installed.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::embed::{EmbedderConfig, Pooling};
use crate::error::{Error, Result};

const CATALOG_TOML: &str = include_str!("../models/catalog.toml");

/// Every model Hearth knows how to fetch.
#[derive(Debug, Clone, Deserialize)]
pub struct Catalog {
    /// The entries, in catalog order.
    #[serde(rename = "model")]
    pub models: Vec<CatalogModel>,
}

/// One catalog entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CatalogModel {
    /// Stable id; also the folder name under the models dir.
    pub id: String,
    /// `embedder`, `runtime`, `dataset` (later: `llm`).
    pub kind: String,
    /// Fetched by default.
    #[serde(default)]
    pub default: bool,
    /// One-line description.
    pub description: String,
    /// Licence as far as it is known.
    pub licence: String,
    /// Where the bytes come from.
    pub source: String,
    /// Embedders: longest input in tokens.
    #[serde(default)]
    pub max_tokens: Option<usize>,
    /// Embedders: pooling.
    #[serde(default)]
    pub pooling: Option<Pooling>,
    /// Language models: answer quality rank (higher answers better). Only ranked models are
    /// chosen automatically ([`crate::llm::speed::choose`]).
    #[serde(default)]
    pub rank: Option<u32>,
    /// The files that make up the model.
    #[serde(rename = "file")]
    pub files: Vec<CatalogFile>,
}

/// One file of a catalog model.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CatalogFile {
    /// File name inside the model's folder.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex sha256.
    pub sha256: String,
}

/// Whether a catalog model is present in a models dir.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledModel {
    /// The catalog entry.
    #[serde(flatten)]
    pub model: CatalogModel,
    /// Folder it lives in.
    pub path: PathBuf,
    /// All files present with the catalog's sizes (hashes are verified by the fetch step).
    pub installed: bool,
    /// Total size in bytes.
    pub size: u64,
}

impl Catalog {
    /// The catalog compiled into this build.
    pub fn builtin() -> Catalog {
        toml::from_str(CATALOG_TOML).expect("models/catalog.toml is valid (checked by a test)")
    }

    /// Find an entry by id.
    pub fn get(&self, id: &str) -> Option<&CatalogModel> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The default entry of a kind.
    pub fn default_of(&self, kind: &str) -> Option<&CatalogModel> {
        self.models.iter().find(|m| m.kind == kind && m.default)
    }

    /// Each catalog entry with its install state under `models_dir`.
    pub fn installed(&self, models_dir: &Path) -> Vec<InstalledModel> {
        self.models
            .iter()
            .map(|m| {
                let path = models_dir.join(&m.id);
                let installed = m.files.iter().all(|f| {
                    std::fs::metadata(path.join(&f.name))
                        .map(|md| md.len() == f.size)
                        .unwrap_or(false)
                });
                InstalledModel {
                    size: m.files.iter().map(|f| f.size).sum(),
                    model: m.clone(),
                    path,
                    installed,
                }
            })
            .collect()
    }

    /// Embedder settings for a catalog embedder installed under `models_dir`.
    pub fn embedder_config(&self, id: &str, models_dir: &Path) -> Result<EmbedderConfig> {
        let m = self
            .get(id)
            .filter(|m| m.kind == "embedder")
            .ok_or_else(|| Error::Config(format!("no embedder '{id}' in the catalog")))?;
        let dir = models_dir.join(&m.id);
        // safetensors weights run on Hearth's own encoder, ONNX files on ONNX Runtime
        let weights = m
            .files
            .iter()
            .find(|f| f.name.ends_with(".safetensors"))
            .or_else(|| m.files.iter().find(|f| f.name.ends_with(".onnx")))
            .ok_or_else(|| {
                Error::Internal(format!(
                    "catalog entry {id} has no .safetensors or .onnx file"
                ))
            })?;
        Ok(EmbedderConfig {
            id: m.id.clone(),
            model: dir.join(&weights.name),
            tokenizer_dir: dir,
            max_tokens: m.max_tokens.unwrap_or(256),
            pooling: m.pooling.unwrap_or_default(),
            batch_size: 32,
            threads: 0,
        })
    }

    /// Name and GGUF path of the catalog language model `id` under `models_dir`.
    pub fn llm_path(&self, id: &str, models_dir: &Path) -> Result<(String, PathBuf)> {
        let m = self
            .get(id)
            .filter(|m| m.kind == "llm")
            .ok_or_else(|| Error::Config(format!("no language model '{id}' in the catalog")))?;
        let file = m
            .files
            .iter()
            .find(|f| f.name.ends_with(".gguf"))
            .ok_or_else(|| Error::Internal(format!("catalog entry {id} has no .gguf file")))?;
        let path = models_dir.join(&m.id).join(&file.name);
        if !path.is_file() {
            return Err(Error::ModelMissing {
                path,
                hint: format!("run `hearth models fetch {id}`"),
            });
        }
        Ok((m.id.clone(), path))
    }

    /// Path of the default ONNX Runtime library under `models_dir`.
    pub fn runtime_library(&self, models_dir: &Path) -> Result<PathBuf> {
        let m = self
            .default_of("runtime")
            .ok_or_else(|| Error::Internal("catalog has no default runtime".into()))?;
        let file = m
            .files
            .first()
            .ok_or_else(|| Error::Internal("runtime entry has no file".into()))?;
        Ok(models_dir.join(&m.id).join(&file.name))
    }
}

/// Every installed language model as (name, GGUF path): the catalog's, then imported ones.
pub fn language_models(models_dir: &Path) -> Vec<(String, PathBuf)> {
    let catalog = Catalog::builtin();
    catalog
        .installed(models_dir)
        .into_iter()
        .filter(|m| m.installed && m.model.kind == "llm")
        .filter_map(|m| catalog.llm_path(&m.model.id, models_dir).ok())
        .chain(imported(models_dir))
        .collect()
}

/// Where an imported GGUF named `name` lives.
pub fn imported_path(models_dir: &Path, name: &str) -> PathBuf {
    models_dir.join("imported").join(format!("{name}.gguf"))
}

/// Imported GGUF models: (name, path), sorted by name.
pub fn imported(models_dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(models_dir.join("imported"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p)))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_parses_and_has_defaults() {
        let c = Catalog::builtin();
        let e = c.default_of("embedder").unwrap();
        assert_eq!(e.id, "all-minilm-l6-v2");
        assert!(c.default_of("runtime").is_some());
        for m in &c.models {
            for f in &m.files {
                assert_eq!(f.sha256.len(), 64, "{}/{}", m.id, f.name);
                assert!(f.size > 0);
            }
        }
        let cfg = c.embedder_config(&e.id, Path::new("/m")).unwrap();
        assert_eq!(
            cfg.model,
            Path::new("/m/all-minilm-l6-v2/model.safetensors")
        );
        let onnx = c
            .embedder_config("all-minilm-l6-v2-int8", Path::new("/m"))
            .unwrap();
        assert_eq!(onnx.model, Path::new("/m/all-minilm-l6-v2-int8/model.onnx"));
    }
}
