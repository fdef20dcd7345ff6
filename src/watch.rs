//! Watched folders: keep the index a current copy of folders while they change.
//!
//! [`watch`] catches up with each folder once (an ordinary ingest: unchanged files are skipped by
//! size and modification time, so nothing unchanged is embedded again), then follows the file
//! system's change notices (inotify, FSEvents, kqueue, ReadDirectoryChangesW through `notify`),
//! or a periodic scan where those are not available. Notices are gathered until the folder has
//! been quiet for a moment (or for at most a few seconds under a steady stream of them), and the
//! paths they name go through the same incremental ingest as `hearth ingest`: content hash,
//! atomic replace, the cross-process write lock. An editor's write-to-temp-and-rename, a bulk
//! copy or a renamed folder are just sets of paths to look at again.
//!
//! A watched folder that disappears (deleted, moved away, an unplugged drive) keeps its documents
//! in the index and is shown as missing; when a folder is at that path again it is caught up with
//! and watched again.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};
use serde::Serialize;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::extract::{is_candidate, is_image};
use crate::ingest::{absolute, IngestEvent, IngestReport};
use crate::library::Library;

/// Above this many changed paths in one batch, each touched folder is walked whole instead
/// (one walk compares sizes and times; it does not re-embed unchanged files).
const MAX_PATHS_PER_BATCH: usize = 1_000;

/// How a watch gathers and applies changes.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Apply changes once no new notice came for this long.
    pub quiet: Duration,
    /// ...or once the oldest pending change is this old, even if notices keep coming.
    pub max_delay: Duration,
    /// Scan the folders at this interval instead of using the system's change notices (for
    /// network and FUSE file systems, whose changes made elsewhere are not notified).
    pub poll: Option<Duration>,
    /// Interval of the periodic scan used when change notices cannot be had.
    pub fallback_poll: Duration,
    /// How often each folder is checked for having gone or come back.
    pub folder_check: Duration,
    /// After a failed update, wait this long before trying again.
    pub retry_after: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            quiet: Duration::from_millis(300),
            max_delay: Duration::from_secs(2),
            poll: None,
            fallback_poll: Duration::from_secs(10),
            folder_check: Duration::from_secs(2),
            retry_after: Duration::from_secs(10),
        }
    }
}

/// What a watched folder is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum FolderState {
    /// Indexing what changed while nobody watched.
    CatchingUp,
    /// Following changes (`polling`: by a periodic scan, not change notices).
    Watching {
        /// Changes are found by scanning, not notified.
        polling: bool,
    },
    /// Watching is paused (by the shell); changes are caught up with on resume.
    Paused,
    /// The folder is not there; its documents stay indexed until it comes back or is removed.
    Missing,
    /// The folder cannot be watched or updated.
    Error {
        /// Why, in one line.
        message: String,
    },
}

impl std::fmt::Display for FolderState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FolderState::CatchingUp => write!(f, "catching up"),
            FolderState::Watching { polling: false } => write!(f, "watching"),
            FolderState::Watching { polling: true } => write!(f, "watching (by periodic scan)"),
            FolderState::Paused => write!(f, "paused"),
            FolderState::Missing => write!(f, "missing (its documents are kept)"),
            FolderState::Error { message } => write!(f, "error: {message}"),
        }
    }
}

/// What a watch reports.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchEvent {
    /// A folder's state changed.
    Folder {
        /// The folder (absolute, as indexed).
        path: String,
        /// Its new state.
        state: FolderState,
    },
    /// Progress of the ingest that applies changes (or catches up).
    Ingest(IngestEvent),
    /// A set of changes is in the index (searchable from now on).
    Applied {
        /// The paths looked at again (files or folders).
        paths: Vec<String>,
        /// What the ingest did; failures of paths that vanished meanwhile are left out.
        report: IngestReport,
        /// From the first notice of the batch to its commit, ms (0 for a catch-up).
        delay_ms: f64,
    },
    /// Applying changes failed; they are tried again shortly. Nothing indexed is lost.
    Failed {
        /// Why.
        message: String,
        /// Stable error code.
        code: String,
    },
}

/// Where watch events go.
pub type WatchSink<'a> = &'a (dyn Fn(WatchEvent) + Send + Sync);

/// Stops a running watch from another task or thread.
#[derive(Debug, Clone, Default)]
pub struct WatchControl {
    cancel: Cancel,
}

impl WatchControl {
    /// A control for a watch that runs.
    pub fn new() -> Self {
        Self::default()
    }
    /// End the watch (a running update stops at its next safe point).
    pub fn stop(&self) {
        self.cancel.cancel()
    }
    /// Whether the watch was told to stop.
    pub fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

type Notice = notify::Result<notify::Event>;

/// One watched folder.
struct Folder {
    path: PathBuf,
    key: String,
    /// (device, inode) of the directory being watched, to notice it being swapped.
    identity: Option<(u64, u64)>,
    watcher: Option<Box<dyn Watcher + Send>>,
    /// What is shown.
    state: FolderState,
    /// What is shown when nothing is going on (watching, by notices or by scan).
    idle: FolderState,
}

fn identity(md: &std::fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((md.dev(), md.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        None
    }
}

fn sender(tx: &UnboundedSender<Notice>) -> impl Fn(Notice) + Send + 'static {
    let tx = tx.clone();
    move |n| {
        let _ = tx.send(n);
    }
}

/// Start following `path`: change notices, else a periodic scan. Returns the watcher and the
/// state to show while it runs.
fn start_watcher(
    path: &Path,
    opts: &WatchOptions,
    tx: &UnboundedSender<Notice>,
) -> std::result::Result<(Box<dyn Watcher + Send>, FolderState), FolderState> {
    let poll = |interval: Duration| -> notify::Result<Box<dyn Watcher + Send>> {
        let config = notify::Config::default().with_poll_interval(interval);
        let mut w = notify::PollWatcher::new(sender(tx), config)?;
        w.watch(path, RecursiveMode::Recursive)?;
        Ok(Box::new(w))
    };
    let polling = FolderState::Watching { polling: true };
    if let Some(interval) = opts.poll {
        return poll(interval).map(|w| (w, polling)).map_err(watch_error);
    }
    let native = || -> notify::Result<Box<dyn Watcher + Send>> {
        let mut w = notify::recommended_watcher(sender(tx))?;
        w.watch(path, RecursiveMode::Recursive)?;
        Ok(Box::new(w))
    };
    match native() {
        Ok(w) => Ok((w, FolderState::Watching { polling: false })),
        // No change notices here (more folders than the inotify limit allows, a file system
        // without them): scan instead.
        Err(_) => poll(opts.fallback_poll)
            .map(|w| (w, polling))
            .map_err(watch_error),
    }
}

fn watch_error(e: notify::Error) -> FolderState {
    FolderState::Error {
        message: format!("cannot watch this folder: {e}"),
    }
}

fn under(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// A path inside a watched folder that ingest would not look at: a hidden file or folder
/// (editor swap files, `.git`), as the folder walk skips them.
fn hidden_below(path: &Path, root: &Path) -> bool {
    path.strip_prefix(root).is_ok_and(|rel| {
        rel.components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
    })
}

/// Whether gathered changes are applied now: the folder has been quiet for `quiet`, or the
/// oldest change waited `max_delay`; never before `not_before` (after a failure).
fn due(
    first: Option<Instant>,
    last: Option<Instant>,
    not_before: Option<Instant>,
    opts: &WatchOptions,
    now: Instant,
) -> bool {
    let (Some(first), Some(last)) = (first, last) else {
        return false;
    };
    if not_before.is_some_and(|t| now < t) {
        return false;
    }
    now - last >= opts.quiet || now - first >= opts.max_delay
}

/// Watch `folders` until `control` stops it: catch up with each once, then apply every change.
/// Returns when stopped; a folder that cannot be watched is reported as such and the others go
/// on. Errors only for bad arguments (a path that is a file).
pub async fn watch(
    lib: &Library,
    folders: &[PathBuf],
    opts: &WatchOptions,
    events: WatchSink<'_>,
    control: &WatchControl,
) -> Result<()> {
    if folders.is_empty() {
        return Err(Error::InvalidRequest("no folders to watch".into()));
    }
    let mut roots: Vec<Folder> = Vec::new();
    for f in folders {
        let abs = absolute(f);
        let path = std::fs::canonicalize(&abs).unwrap_or(abs);
        if path.is_file() {
            return Err(Error::BadPath {
                path: path.clone(),
                reason: "is a file; watch takes folders (index a single file with ingest)".into(),
            });
        }
        if roots.iter().any(|r| r.path == path) {
            continue;
        }
        let unset = FolderState::Error {
            message: "not started".into(),
        };
        roots.push(Folder {
            key: path.to_string_lossy().into_owned(),
            path,
            identity: None,
            watcher: None,
            state: unset.clone(),
            idle: unset,
        });
    }
    let data_dir = std::fs::canonicalize(&lib.config().data_dir)
        .unwrap_or_else(|_| lib.config().data_dir.clone());
    let (tx, mut rx) = unbounded_channel::<Notice>();
    let mut w = Watch {
        lib,
        opts,
        events,
        control,
        tx,
        data_dir,
        roots,
        pending: HashSet::new(),
        rescan: false,
        first: None,
        last: None,
        not_before: None,
    };
    // Watchers start before the walk, so nothing changed during the walk is missed.
    w.check_folders();
    w.catch_up(None).await;
    let mut last_check = Instant::now();
    while !control.is_stopped() {
        if let Ok(Some(n)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            w.take(n);
            while let Ok(n) = rx.try_recv() {
                w.take(n);
            }
        }
        if last_check.elapsed() >= opts.folder_check {
            last_check = Instant::now();
            let back = w.check_folders();
            w.catch_up(Some(back)).await;
        }
        if due(w.first, w.last, w.not_before, opts, Instant::now()) {
            let back = w.check_folders();
            w.catch_up(Some(back)).await;
            w.apply().await;
        }
    }
    while rx.try_recv().is_ok() {}
    Ok(())
}

struct Watch<'a> {
    lib: &'a Library,
    opts: &'a WatchOptions,
    events: WatchSink<'a>,
    control: &'a WatchControl,
    tx: UnboundedSender<Notice>,
    /// The library's own files (when the data dir sits inside a watched folder).
    data_dir: PathBuf,
    roots: Vec<Folder>,
    /// Paths named by notices since the last update.
    pending: HashSet<PathBuf>,
    /// A notice said events were lost, or an update failed: walk every folder.
    rescan: bool,
    first: Option<Instant>,
    last: Option<Instant>,
    /// After a failure: no update before this.
    not_before: Option<Instant>,
}

impl Watch<'_> {
    fn set_state(&mut self, i: usize, state: FolderState) {
        if self.roots[i].state != state {
            self.roots[i].state = state.clone();
            (self.events)(WatchEvent::Folder {
                path: self.roots[i].key.clone(),
                state,
            });
        }
    }

    /// Record one notice.
    fn take(&mut self, notice: Notice) {
        match notice {
            Ok(ev) => {
                if matches!(ev.kind, EventKind::Access(_)) {
                    return;
                }
                if ev.need_rescan() {
                    self.rescan = true;
                }
                let data_dir = &self.data_dir;
                let before = self.pending.len();
                self.pending
                    .extend(ev.paths.into_iter().filter(|p| !under(p, data_dir)));
                if self.pending.len() == before && !self.rescan {
                    return;
                }
            }
            // The watcher lost track (e.g. its event queue overflowed): walk everything.
            Err(_) => self.rescan = true,
        }
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Notice folders that went away or came back (or were swapped for another at their path)
    /// and (re)start watching those that are there. Returns the folders (re)started: they need
    /// a catch-up.
    fn check_folders(&mut self) -> Vec<usize> {
        let mut started = Vec::new();
        for i in 0..self.roots.len() {
            match std::fs::metadata(&self.roots[i].path) {
                Ok(md) if md.is_dir() => {
                    let id = identity(&md);
                    let root = &self.roots[i];
                    if root.watcher.is_some() && root.identity == id {
                        continue;
                    }
                    self.roots[i].watcher = None;
                    match start_watcher(&self.roots[i].path, self.opts, &self.tx) {
                        Ok((watcher, idle)) => {
                            self.roots[i].watcher = Some(watcher);
                            self.roots[i].identity = id;
                            self.roots[i].idle = idle.clone();
                            self.set_state(i, idle);
                            started.push(i);
                        }
                        Err(state) => self.set_state(i, state),
                    }
                }
                _ => {
                    if self.roots[i].state != FolderState::Missing {
                        self.roots[i].watcher = None;
                        self.roots[i].identity = None;
                        self.set_state(i, FolderState::Missing);
                    }
                }
            }
        }
        started
    }

    /// Walk folders whole (every watched one, or `which`): what changed while nobody looked.
    async fn catch_up(&mut self, which: Option<Vec<usize>>) {
        let which: Vec<usize> = which
            .unwrap_or_else(|| (0..self.roots.len()).collect())
            .into_iter()
            .filter(|&i| self.roots[i].watcher.is_some())
            .collect();
        if which.is_empty() {
            return;
        }
        for &i in &which {
            self.set_state(i, FolderState::CatchingUp);
        }
        let paths: Vec<PathBuf> = which.iter().map(|&i| self.roots[i].path.clone()).collect();
        // Notices about these folders so far are covered by the walk.
        self.pending
            .retain(|p| !paths.iter().any(|root| under(p, root)));
        if self.pending.is_empty() && !self.rescan {
            self.first = None;
            self.last = None;
        }
        if self.ingest(paths, None).await {
            for &i in &which {
                let idle = self.roots[i].idle.clone();
                self.set_state(i, idle);
            }
        } else {
            for &i in &which {
                self.set_state(
                    i,
                    FolderState::Error {
                        message: "could not catch up; trying again shortly".into(),
                    },
                );
            }
            self.retry_later();
        }
    }

    /// After a failed update: walk every folder again once `retry_after` has passed.
    fn retry_later(&mut self) {
        let now = Instant::now();
        self.rescan = true;
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.not_before = Some(now + self.opts.retry_after);
    }

    /// Apply the gathered changes.
    async fn apply(&mut self) {
        let first = self.first.take();
        self.last = None;
        let pending = std::mem::take(&mut self.pending);
        let rescan = std::mem::take(&mut self.rescan);
        let live: Vec<PathBuf> = self
            .roots
            .iter()
            .filter(|r| r.watcher.is_some())
            .map(|r| r.path.clone())
            .collect();
        let mut targets: Vec<PathBuf> = Vec::new();
        if rescan {
            targets.clone_from(&live);
        } else {
            let mut indexed: Option<Vec<String>> = None;
            let mut touched: HashSet<PathBuf> = HashSet::new();
            // Images are documents only where OCR can read them (as in an ingest's walk).
            let images = crate::extract::Ocr::from_config(&self.lib.config().ocr).is_some();
            for p in pending {
                // Under a missing folder, or a stale name from a folder moved away: ignored.
                let Some(root) = live.iter().find(|r| under(&p, r)) else {
                    continue;
                };
                if hidden_below(&p, root) {
                    continue;
                }
                touched.insert(root.clone());
                let keep = match std::fs::metadata(&p) {
                    Ok(md) if md.is_dir() => true,
                    Ok(_) => is_candidate(&p) || images && is_image(&p),
                    // Gone: worth a look only if something is indexed at or under it.
                    Err(_) => {
                        if indexed.is_none() {
                            let docs = self.lib.documents().await.unwrap_or_default();
                            indexed = Some(docs.into_iter().map(|d| d.path).collect());
                        }
                        indexed.iter().flatten().any(|d| under(Path::new(d), &p))
                    }
                };
                if keep {
                    targets.push(p);
                }
            }
            if targets.len() > MAX_PATHS_PER_BATCH {
                targets = touched.into_iter().collect();
            }
        }
        if targets.is_empty() {
            return;
        }
        targets.sort();
        if self.ingest(targets, first).await {
            for i in 0..self.roots.len() {
                if matches!(self.roots[i].state, FolderState::Error { .. })
                    && self.roots[i].watcher.is_some()
                {
                    let idle = self.roots[i].idle.clone();
                    self.set_state(i, idle);
                }
            }
        } else {
            self.retry_later();
        }
    }

    /// Ingest `paths` and report it; false if the ingest failed as a whole (nothing indexed is
    /// lost then: a failed write leaves the last commit in place).
    async fn ingest(&mut self, paths: Vec<PathBuf>, first: Option<Instant>) -> bool {
        let events = self.events;
        let sink = |e: IngestEvent| events(WatchEvent::Ingest(e));
        match self.lib.ingest(&paths, &sink, &self.control.cancel).await {
            Ok(mut report) => {
                self.not_before = None;
                // A path that vanished before it could be read is not a failure of the watch.
                report.failed.retain(|f| {
                    let vanished = !Path::new(&f.path).exists();
                    !(f.code == "bad_path" || (f.code == "unreadable" && vanished))
                });
                (self.events)(WatchEvent::Applied {
                    paths: paths.iter().map(|p| p.display().to_string()).collect(),
                    report,
                    delay_ms: first.map_or(0.0, |t| t.elapsed().as_secs_f64() * 1e3),
                });
                true
            }
            Err(e) => {
                (self.events)(WatchEvent::Failed {
                    message: e.to_string(),
                    code: e.code().to_string(),
                });
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_paths_below_the_folder_are_ignored_but_a_hidden_folder_itself_is_not() {
        let root = Path::new("/home/u/.notes");
        assert!(!hidden_below(Path::new("/home/u/.notes/a.md"), root));
        assert!(hidden_below(Path::new("/home/u/.notes/.a.md.swp"), root));
        assert!(hidden_below(Path::new("/home/u/.notes/.git/HEAD"), root));
        assert!(!hidden_below(Path::new("/home/u/.notes/sub/b.md"), root));
        assert!(!under(Path::new("/home/u/.notes2/a.md"), root));
    }

    #[test]
    fn changes_wait_for_quiet_or_the_longest_delay_and_not_before_a_retry() {
        let opts = WatchOptions {
            quiet: Duration::from_millis(300),
            max_delay: Duration::from_secs(2),
            ..WatchOptions::default()
        };
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        assert!(!due(None, None, None, &opts, ms(5000)), "nothing pending");
        // A lone change: applied once 300 ms passed without another.
        assert!(!due(Some(t0), Some(t0), None, &opts, ms(200)));
        assert!(due(Some(t0), Some(t0), None, &opts, ms(300)));
        // A steady stream (last notice 100 ms ago): waits, but at most 2 s.
        assert!(!due(Some(t0), Some(ms(1800)), None, &opts, ms(1900)));
        assert!(due(Some(t0), Some(ms(1900)), None, &opts, ms(2000)));
        // After a failure: not before the retry time.
        assert!(!due(Some(t0), Some(t0), Some(ms(10_000)), &opts, ms(5000)));
        assert!(due(Some(t0), Some(t0), Some(ms(10_000)), &opts, ms(10_000)));
    }
}
