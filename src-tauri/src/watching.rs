//! Watched folders in the desktop app: every folder the user added (and fully indexed) is
//! watched while the app runs, through the engine's [`hearth::watch`]. The list and the pause
//! switch live in `<data dir>/desktop/watched.json`; each folder's state goes to the window as
//! `watch` events and is kept for `watched_folders`.

use std::path::PathBuf;

use hearth::watch::{watch, FolderState, WatchControl, WatchEvent, WatchOptions};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Emitter, Manager};

use crate::error::ErrorDto;
use crate::state::{read_json, write_json, Shell};

/// What is kept on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct WatchedList {
    /// Folders, absolute.
    pub folders: Vec<PathBuf>,
    /// Watching paused by the user (kept across restarts).
    pub paused: bool,
}

/// What the window shows: each folder and its state.
#[derive(Debug, Clone, Serialize)]
pub struct WatchedView {
    paused: bool,
    folders: Vec<WatchedFolder>,
}

#[derive(Debug, Clone, Serialize)]
struct WatchedFolder {
    path: String,
    #[serde(flatten)]
    state: FolderState,
}

fn list_path(shell: &Shell) -> PathBuf {
    shell.data_dir().join("desktop").join("watched.json")
}

/// The watched folders of the current library.
pub fn list(shell: &Shell) -> WatchedList {
    read_json(&list_path(shell))
}

fn save(shell: &Shell, list: &WatchedList) -> Result<(), ErrorDto> {
    write_json(&list_path(shell), list)
}

/// The folders and their states, for the window.
pub fn view(shell: &Shell) -> WatchedView {
    let list = list(shell);
    let states = crate::state::lock(&shell.watching.states).clone();
    WatchedView {
        paused: list.paused,
        folders: list
            .folders
            .iter()
            .map(|f| {
                let path = f.display().to_string();
                let state = if list.paused {
                    FolderState::Paused
                } else {
                    states
                        .get(&path)
                        .cloned()
                        .unwrap_or(FolderState::CatchingUp)
                };
                WatchedFolder { path, state }
            })
            .collect(),
    }
}

/// Change the list (add folders, drop folders at or under a path, pause or resume) and restart
/// the watch on the new list.
pub async fn update(
    app: &AppHandle,
    change: impl FnOnce(&mut WatchedList),
) -> Result<WatchedView, ErrorDto> {
    let shell = app.state::<Shell>();
    let mut l = list(&shell);
    change(&mut l);
    l.folders.sort();
    l.folders.dedup();
    save(&shell, &l)?;
    restart(app).await;
    Ok(view(&shell))
}

/// Stop the running watch (if any) and wait for it to end.
pub async fn stop(shell: &Shell) {
    let running = shell.watching.running.lock().await.take();
    if let Some((control, task)) = running {
        control.stop();
        let _ = task.await;
    }
}

/// (Re)start watching the current library's folders; the first pass catches up with what
/// changed while the app was closed.
pub async fn restart(app: &AppHandle) {
    let shell = app.state::<Shell>();
    stop(&shell).await;
    crate::state::lock(&shell.watching.states).clear();
    let list = list(&shell);
    if list.folders.is_empty() || list.paused {
        let _ = app.emit("watch", view(&shell));
        return;
    }
    let lib = match shell.library().await {
        Ok(lib) => lib,
        Err(_) => return, // the window already explains why the library cannot open
    };
    let control = WatchControl::new();
    let task = {
        let (app, control) = (app.clone(), control.clone());
        let states = shell.watching.states.clone();
        tauri::async_runtime::spawn(async move {
            let sink_app = app.clone();
            let sink = move |event: WatchEvent| match event {
                WatchEvent::Folder { path, state } => {
                    crate::state::lock(&states).insert(path, state);
                    let shell = sink_app.state::<Shell>();
                    let _ = sink_app.emit("watch", view(&shell));
                }
                WatchEvent::Applied { paths, report, .. } => {
                    if report.indexed + report.removed + report.failed.len() > 0 {
                        // Failures listed for these paths are replaced by this run's.
                        let shell = sink_app.state::<Shell>();
                        for p in &paths {
                            let _ = shell.clear_failures(p);
                        }
                        let _ = shell.record_failures(&report.failed, &[]);
                        let _ = sink_app.emit("library-changed", ());
                    }
                }
                WatchEvent::Failed { message, .. } => {
                    eprintln!("hearth: watched folders: {message}; trying again shortly")
                }
                WatchEvent::Ingest(_) => {}
            };
            let _ = watch(
                &lib,
                &list.folders,
                &WatchOptions::default(),
                &sink,
                &control,
            )
            .await;
        })
    };
    *shell.watching.running.lock().await = Some((control, task));
}
