//! What the desktop shell keeps between commands: where the library lives, the opened engine,
//! the loaded language model, running jobs and the files that failed to index.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hearth::llm::speed::{self, Speed};
use hearth::{Cancel, Config, FailedFile, Generator, Library, Llm};
use serde::{Deserialize, Serialize};

use crate::error::ErrorDto;

/// The folder watch that runs while the app does ([`crate::watching`] starts and stops it),
/// and the states it reported.
#[derive(Default)]
pub struct Watching {
    pub(crate) running: tokio::sync::Mutex<
        Option<(
            hearth::watch::WatchControl,
            tauri::async_runtime::JoinHandle<()>,
        )>,
    >,
    pub(crate) states: Arc<Mutex<BTreeMap<String, hearth::watch::FolderState>>>,
}

/// Lock a mutex of the shell's state even when a command panicked while holding it: the data
/// behind these locks (settings, failures, jobs, watch states) is replaced whole or edited in
/// one step, so it is never left half-written, and one panic must not make every later command
/// panic too.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Desktop settings that are not engine settings (those live in `<data dir>/config.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DesktopSettings {
    /// Chosen data dir; `None` = the default (shared with the CLI).
    pub data_dir: Option<PathBuf>,
    /// Retrieval mode for search and the chat's sources: hybrid, vector or text.
    pub search_mode: String,
}

impl Default for DesktopSettings {
    fn default() -> Self {
        DesktopSettings {
            data_dir: None,
            search_mode: "hybrid".into(),
        }
    }
}

/// A running job: its cancel token, registered under its id until dropped.
pub struct Job<'a> {
    shell: &'a Shell,
    id: String,
    /// Tripped by the `cancel` command.
    pub cancel: Cancel,
}

impl Drop for Job<'_> {
    fn drop(&mut self) {
        lock(&self.shell.jobs).remove(&self.id);
    }
}

/// The shell's state, managed by Tauri and shared by every command.
pub struct Shell {
    settings_path: PathBuf,
    settings: Mutex<DesktopSettings>,
    /// Set when HEARTH_DATA_DIR fixes the data dir (as for the CLI).
    env_data_dir: Option<PathBuf>,
    models_dir: PathBuf,
    default_data_dir: PathBuf,
    library: tokio::sync::Mutex<Option<Arc<Library>>>,
    llm: tokio::sync::Mutex<Option<(String, Arc<Llm>)>>,
    /// Held while language models are measured (one measurement at a time, and the automatic
    /// choice waits for the numbers).
    measuring: tokio::sync::Mutex<()>,
    jobs: Mutex<HashMap<String, Cancel>>,
    failures: Mutex<BTreeMap<String, FailedFile>>,
    /// The watched folders' watch.
    pub watching: Watching,
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> T {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Write `value` as JSON durably: a crash or power cut leaves the old file or the new one.
pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ErrorDto> {
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        hearth::durable::write_atomic(path, &serde_json::to_vec_pretty(value)?)
    };
    write().map_err(|e| ErrorDto::new("io", format!("cannot write {}: {e}", path.display())))
}

impl Shell {
    /// Directories as the CLI resolves them: `HEARTH_DATA_DIR` / `HEARTH_MODELS_DIR`, else the
    /// OS data dir. Desktop settings live in the OS config dir.
    pub fn from_environment() -> Shell {
        let base = dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("hearth");
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let settings_path = dirs::config_dir()
            .unwrap_or_else(|| base.clone())
            .join("hearth")
            .join("desktop.json");
        let settings: DesktopSettings = read_json(&settings_path);
        let shell = Shell {
            settings_path,
            settings: Mutex::new(settings),
            env_data_dir: env("HEARTH_DATA_DIR"),
            models_dir: env("HEARTH_MODELS_DIR").unwrap_or_else(|| base.join("models")),
            default_data_dir: base,
            library: tokio::sync::Mutex::new(None),
            llm: tokio::sync::Mutex::new(None),
            measuring: tokio::sync::Mutex::new(()),
            jobs: Mutex::new(HashMap::new()),
            failures: Mutex::new(BTreeMap::new()),
            watching: Default::default(),
        };
        *lock(&shell.failures) = read_json(&shell.failures_path());
        shell
    }

    /// The data dir in use.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.env_data_dir {
            return d.clone();
        }
        lock(&self.settings)
            .data_dir
            .clone()
            .unwrap_or_else(|| self.default_data_dir.clone())
    }

    /// True when the environment fixes the data dir.
    pub fn data_dir_fixed(&self) -> bool {
        self.env_data_dir.is_some()
    }

    /// Where models are installed.
    pub fn models_dir(&self) -> &Path {
        &self.models_dir
    }

    /// Current desktop settings.
    pub fn settings(&self) -> DesktopSettings {
        lock(&self.settings).clone()
    }

    /// Engine configuration for the current data dir.
    pub fn config(&self) -> Result<Config, ErrorDto> {
        Ok(Config::load(&self.data_dir(), &self.models_dir)?)
    }

    /// The library, opened on first use and shared afterwards.
    pub async fn library(&self) -> Result<Arc<Library>, ErrorDto> {
        let mut slot = self.library.lock().await;
        if let Some(lib) = slot.as_ref() {
            return Ok(lib.clone());
        }
        let config = self.config()?;
        // `[embedder] endpoint`: a server the user runs embeds
        let mut lib = hearth_http::open_library(config).await?;
        lib.set_writer("Hearth desktop", true);
        let lib = Arc::new(lib);
        *slot = Some(lib.clone());
        Ok(lib)
    }

    /// Measure `models` on this machine, one after the other, and record the numbers in the
    /// models dir. A model that cannot be measured is left out (and stays unmeasured).
    pub async fn measure(&self, models: Vec<(String, PathBuf)>) -> Vec<Result<Speed, ErrorDto>> {
        let _one_at_a_time = self.measuring.lock().await;
        self.measure_locked(models).await
    }

    async fn measure_locked(&self, models: Vec<(String, PathBuf)>) -> Vec<Result<Speed, ErrorDto>> {
        let mut out = Vec::new();
        for (name, path) in models {
            let dir = self.models_dir.clone();
            let at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let r = tokio::task::spawn_blocking(move || {
                speed::measure_and_record(&dir, &name, &path, at).map(|r| r.kept)
            })
            .await
            .map_err(|e| ErrorDto::new("internal", format!("measuring thread: {e}")))
            .and_then(|r| r.map_err(ErrorDto::from));
            out.push(r);
        }
        out
    }

    /// When the language model is chosen automatically, measure the candidates this machine
    /// has no numbers for (first start, a new model, a new Hearth). `on_start` is called
    /// before a measurement starts.
    pub async fn measure_if_needed(&self, config: &Config, on_start: impl FnOnce()) {
        if !config.llm_is_auto() {
            return;
        }
        // after a measurement already running, look again
        let _one_at_a_time = self.measuring.lock().await;
        let todo = config.unmeasured_answerers();
        if !todo.is_empty() {
            on_start();
            self.measure_locked(todo).await;
        }
    }

    /// The language model named by the configuration, loaded on first use. `on_status` tells
    /// the UI about slow steps (measuring this machine, loading the model).
    pub async fn llm(
        &self,
        config: &Config,
        on_status: impl Fn(&str),
    ) -> Result<Arc<dyn Generator>, ErrorDto> {
        if let Some(remote) = hearth_http::answerer(&config.llm).await? {
            // a model server the user runs answers (`[llm] endpoint` in config.toml)
            return Ok(remote);
        }
        self.measure_if_needed(config, || {
            on_status("Measuring how fast this computer runs the language models (once)…")
        })
        .await;
        let (name, path) = config.llm_model(None)?;
        let mut slot = self.llm.lock().await;
        if let Some((loaded, llm)) = slot.as_ref() {
            if *loaded == name {
                return Ok(llm.clone());
            }
        }
        *slot = None; // free the old model before loading another
        on_status("Loading the language model…");
        let window = config.llm.context_window;
        let n = name.clone();
        let llm = tokio::task::spawn_blocking(move || Llm::load(&path, &n, window))
            .await
            .map_err(|e| ErrorDto::new("internal", format!("model loading thread: {e}")))??;
        llm.set_speculation(config.llm.speculate);
        let llm = Arc::new(llm);
        *slot = Some((name, llm.clone()));
        Ok(llm)
    }

    /// Change desktop settings; a new data dir closes the open library.
    pub async fn update_settings(&self, new: DesktopSettings) -> Result<(), ErrorDto> {
        let old_dir = self.data_dir();
        write_json(&self.settings_path, &new)?;
        *lock(&self.settings) = new;
        if self.data_dir() != old_dir {
            *self.library.lock().await = None;
            *lock(&self.failures) = read_json(&self.failures_path());
        }
        Ok(())
    }

    /// Forget the open library (its configuration changed).
    pub async fn reopen(&self) {
        *self.library.lock().await = None;
    }

    /// Register a cancellable job; it is forgotten when the returned guard is dropped.
    pub fn job(&self, id: &str) -> Job<'_> {
        let cancel = Cancel::new();
        lock(&self.jobs).insert(id.to_string(), cancel.clone());
        Job {
            shell: self,
            id: id.to_string(),
            cancel,
        }
    }

    /// Cancel a job; false when no such job runs.
    pub fn cancel_job(&self, id: &str) -> bool {
        match lock(&self.jobs).get(id) {
            Some(c) => {
                c.cancel();
                true
            }
            None => false,
        }
    }

    fn failures_path(&self) -> PathBuf {
        self.data_dir().join("desktop").join("failures.json")
    }

    /// Files that failed to index, with their reasons (kept across restarts until the file is
    /// indexed or removed).
    pub fn failures(&self) -> Vec<FailedFile> {
        lock(&self.failures).values().cloned().collect()
    }

    /// Record an ingest run: new failures are added, files now indexed are cleared.
    pub fn record_failures(
        &self,
        failed: &[FailedFile],
        indexed: &[String],
    ) -> Result<(), ErrorDto> {
        let snapshot = {
            let mut map = lock(&self.failures);
            for p in indexed {
                map.remove(p);
            }
            for f in failed {
                map.insert(f.path.clone(), f.clone());
            }
            map.clone()
        };
        write_json(&self.failures_path(), &snapshot)
    }

    /// Forget failures of a file or of everything under a folder.
    pub fn clear_failures(&self, path: &str) -> Result<usize, ErrorDto> {
        let folder = format!("{}/", path.trim_end_matches('/'));
        let (n, snapshot) = {
            let mut map = lock(&self.failures);
            let before = map.len();
            map.retain(|p, _| p != path && !p.starts_with(&folder));
            (before - map.len(), map.clone())
        };
        write_json(&self.failures_path(), &snapshot)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_a_lock_is_held_does_not_break_the_next_command() {
        let settings = Arc::new(Mutex::new(vec![1]));
        let s = settings.clone();
        let panicked = std::thread::spawn(move || {
            let mut held = lock(&s);
            held.push(2);
            panic!("a command fails while holding the lock");
        })
        .join();
        assert!(panicked.is_err() && settings.is_poisoned());
        // the next command reads and writes as before
        lock(&settings).push(3);
        assert_eq!(*lock(&settings), vec![1, 2, 3]);
    }
}
