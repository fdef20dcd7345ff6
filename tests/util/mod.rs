//! Shared helpers for the integration tests: real models, a real LanceDB in a temp dir.

use std::path::{Path, PathBuf};

use hearth::{Cancel, Config, IngestReport, Library, SearchMode, SearchRequest};

/// Where the fetched models are: $HEARTH_MODELS_DIR or the default install location.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HEARTH_MODELS_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".local/share")
        });
    base.join("hearth/models")
}

pub fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// A library on a fresh temp data dir with the real default embedder.
pub async fn library(dir: &Path) -> Library {
    let config = Config::load(&dir.join("data"), &models_dir()).expect("config");
    Library::open(config)
        .await
        .expect("open library (are the models fetched? run `python3 models/fetch.py`)")
}

/// Copy the good corpus into `dest` (tests change files, never the fixtures).
pub fn copy_corpus(dest: &Path) -> PathBuf {
    let root = dest.join("corpus");
    copy_dir(&data("corpus"), &root);
    std::fs::canonicalize(root).unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub async fn ingest(lib: &Library, paths: &[PathBuf]) -> IngestReport {
    lib.ingest(paths, &|_| {}, &Cancel::new())
        .await
        .expect("ingest")
}

pub async fn search(lib: &Library, q: &str, mode: SearchMode) -> Vec<hearth::Hit> {
    lib.search(&SearchRequest {
        query: q.to_string(),
        limit: 5,
        mode,
        collections: Vec::new(),
    })
    .await
    .expect("search")
}

pub fn file_name(path: &str) -> &str {
    Path::new(path).file_name().unwrap().to_str().unwrap()
}

/// The error of the file whose path ends with `name` in an ingest report (panics if none).
pub fn failure(report: &IngestReport, name: &str) -> String {
    report
        .failed
        .iter()
        .find(|f| f.path.ends_with(name))
        .map(|f| f.error.clone())
        .unwrap_or_else(|| panic!("no failure for {name}: {report:#?}"))
}

/// The index key (canonical path) of `dir/file`.
pub fn doc_key(dir: &Path, file: &str) -> String {
    std::fs::canonicalize(dir.join(file))
        .unwrap()
        .display()
        .to_string()
}
