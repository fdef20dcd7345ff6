//! Writes that survive a crash or a power cut.
//!
//! Two kinds of file make up a library: small JSON/TOML files written whole (`meta.json`,
//! settings, speed measurements) and the LanceDB tables. Small files go through
//! [`write_atomic`]: a temporary file in the same folder, `fsync`ed, renamed over the old one,
//! then the folder itself `fsync`ed so the rename is on disk too. A reader (or the next start
//! after a power cut) sees the old file or the new one, never an empty or half-written one.
//!
//! LanceDB writes through `object_store`'s local file system, which by default leaves data in
//! the page cache, and Lance writes its data files beside `object_store` with no sync at all: a
//! hard stop after a "successful" commit can leave a zero-byte manifest or a manifest naming
//! data that never reached the disk (the failure that lost a whole LanceDB store in
//! tenequm/pond #110). [`lance_session`] gives every connection a store that `fsync`s each file
//! it writes and the folder it is published in, data files before the manifest, so a commit
//! that returned is durable.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use lance_io::object_store::providers::local::FileStoreProvider;
use lance_io::object_store::{ObjectStore, ObjectStoreParams, ObjectStoreProvider};
use object_store::local::LocalFileSystem;
use url::Url;

/// Write `bytes` to `path` so that after any crash the file holds either its old content or
/// `bytes`: temp file + fsync + rename + fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file path"))?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        sync_dir(dir)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Make a folder's entries (a rename or a new file in it) durable. A no-op where folders cannot
/// be opened for syncing (Windows).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Local `file://` stores exactly as LanceDB makes them, except that every write is fsynced.
#[derive(Debug, Default)]
struct DurableFiles;

#[async_trait::async_trait]
impl ObjectStoreProvider for DurableFiles {
    async fn new_store(
        &self,
        base_path: Url,
        params: &ObjectStoreParams,
    ) -> lance_core::Result<ObjectStore> {
        let mut store = FileStoreProvider.new_store(base_path, params).await?;
        store.inner = Arc::new(LocalFileSystem::new().with_fsync(true));
        // Lance writes data, transaction and index files of a plain local store with its own
        // writer (a temp file renamed into place, never synced), and only the manifest through
        // `object_store`. A prefix other than the scheme turns that shortcut off, so every file
        // goes through the fsyncing store above and is on disk before the manifest that
        // names it.
        store.store_prefix = "file+fsync".into();
        Ok(store)
    }

    fn extract_path(&self, url: &Url) -> lance_core::Result<object_store::path::Path> {
        FileStoreProvider.extract_path(url)
    }

    fn calculate_object_store_prefix(
        &self,
        url: &Url,
        storage_options: Option<&std::collections::HashMap<String, String>>,
    ) -> lance_core::Result<String> {
        FileStoreProvider.calculate_object_store_prefix(url, storage_options)
    }
}

/// A LanceDB session whose local tables are written durably (see the module docs).
pub(crate) fn lance_session() -> Arc<lancedb::Session> {
    let session = lancedb::Session::default();
    session
        .store_registry()
        .insert("file", Arc::new(DurableFiles));
    Arc::new(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second, longer").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second, longer");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("meta.json")]);
    }

    #[test]
    fn atomic_write_into_a_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let err = write_atomic(&dir.path().join("gone/meta.json"), b"x").unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
