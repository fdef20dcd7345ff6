//! One writer at a time, across processes.
//!
//! The desktop app, `hearth ingest`, `hearth watch` and any later shell may point at the same
//! data dir. Every write to the index happens while holding an advisory lock on
//! `<data dir>/write.lock` (`flock`): the operating system drops it when its holder exits or is
//! killed, so a stale lock never needs cleaning up. The holder writes its pid and what it is
//! doing into the file so the next writer can say whom it waits for. Readers (search, ask)
//! never take it: LanceDB readers see the last commit whatever a writer does.
//!
//! A second writer either waits (polling, so [`Cancel`] stops the wait) or, when told not to,
//! fails at once with [`Error::Busy`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::cancel::Cancel;
use crate::error::{Error, Result};

const LOCK_FILE: &str = "write.lock";

/// How often a waiting writer tries again.
const POLL: Duration = Duration::from_millis(200);

/// Who holds the write lock, as it wrote itself down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Process id (0 when the file did not say).
    pub pid: u32,
    /// What it is doing, e.g. "hearth ingest".
    pub what: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.pid, self.what.is_empty()) {
            (0, true) => write!(f, "another Hearth process"),
            (0, false) => write!(f, "{}", self.what),
            (pid, true) => write!(f, "pid {pid}"),
            (pid, false) => write!(f, "pid {pid}, {}", self.what),
        }
    }
}

/// The write lock of one data dir, held until dropped.
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
    path: PathBuf,
}

fn lock_error(path: &Path, e: std::io::Error) -> Error {
    let reason = match e.raw_os_error() {
        Some(30) => "the library folder is read-only, so nothing can be indexed or removed \
                     (searching still works)"
            .to_string(),
        _ => format!("cannot open the write lock {}: {e}", path.display()),
    };
    Error::DataDir {
        path: path.parent().unwrap_or(path).to_path_buf(),
        reason,
    }
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    let mut lines = text.lines();
    let pid = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let what = lines.next().unwrap_or("").trim().to_string();
    Holder { pid, what }
}

impl WriteLock {
    /// Take the lock now, or say who holds it.
    pub fn try_acquire(data_dir: &Path, what: &str) -> Result<std::result::Result<Self, Holder>> {
        std::fs::create_dir_all(data_dir).map_err(|e| lock_error(&data_dir.join(LOCK_FILE), e))?;
        let path = data_dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| lock_error(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Err(read_holder(&mut file))),
            Err(TryLockError::Error(e)) => return Err(lock_error(&path, e)),
        }
        // Best effort: the lock is what matters, the note only names the holder.
        let note = format!("{}\n{what}\n", std::process::id());
        let _ = file
            .set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| file.write_all(note.as_bytes()));
        Ok(Ok(WriteLock { _file: file, path }))
    }

    /// Take the lock, waiting for another writer when `wait` (calling `on_wait` once with who
    /// it is), or failing with [`Error::Busy`] at once when not. A cancelled wait returns
    /// [`Error::Cancelled`].
    pub async fn acquire(
        data_dir: &Path,
        what: &str,
        wait: bool,
        on_wait: &(dyn Fn(&Holder) + Send + Sync),
        cancel: &Cancel,
    ) -> Result<Self> {
        let mut told = false;
        loop {
            match Self::try_acquire(data_dir, what)? {
                Ok(lock) => return Ok(lock),
                Err(holder) if !wait => return Err(Error::Busy(holder.to_string())),
                Err(holder) => {
                    if !told {
                        on_wait(&holder);
                        told = true;
                    }
                }
            }
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_and_told_who_writes() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriteLock::try_acquire(dir.path(), "hearth ingest")
            .unwrap()
            .unwrap();
        let holder = WriteLock::try_acquire(dir.path(), "other")
            .unwrap()
            .unwrap_err();
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.what, "hearth ingest");
        drop(first);
        // Released on drop: the file stays, the lock does not.
        assert!(dir.path().join(LOCK_FILE).exists());
        WriteLock::try_acquire(dir.path(), "other")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn no_wait_fails_with_busy_and_a_cancelled_wait_stops() {
        let dir = tempfile::tempdir().unwrap();
        let _held = WriteLock::try_acquire(dir.path(), "desktop")
            .unwrap()
            .unwrap();
        let err = WriteLock::acquire(dir.path(), "cli", false, &|_| {}, &Cancel::new())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "library_busy");
        assert!(err.to_string().contains("desktop"), "{err}");
        let cancel = Cancel::new();
        cancel.cancel();
        let told = std::sync::atomic::AtomicBool::new(false);
        let err = WriteLock::acquire(
            dir.path(),
            "cli",
            true,
            &|h| {
                assert_eq!(h.what, "desktop");
                told.store(true, std::sync::atomic::Ordering::SeqCst);
            },
            &cancel,
        )
        .await
        .unwrap_err();
        assert_eq!(err.code(), "cancelled");
        assert!(told.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[test]
    fn a_lock_file_left_by_a_dead_process_is_no_obstacle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "999999\nhearth ingest\n").unwrap();
        let lock = WriteLock::try_acquire(dir.path(), "me").unwrap().unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text, format!("{}\nme\n", std::process::id()));
    }
}
