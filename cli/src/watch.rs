//! `hearth watch`: keep the index current with folders while they change.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use hearth::watch::{watch, FolderState, WatchControl, WatchEvent, WatchOptions};
use hearth::{IngestEvent, Library};

/// Watch `folders` until Ctrl-C, printing one line per folder state change and per applied set
/// of changes (or one JSON object per event with `json`).
pub(crate) async fn run(
    library: &Library,
    folders: &[PathBuf],
    poll: Option<f64>,
    json: bool,
    no_wait: bool,
) -> Result<i32> {
    let control = WatchControl::new();
    {
        let control = control.clone();
        crate::on_ctrl_c("stopping", move || control.stop());
    }
    let opts = WatchOptions {
        poll: poll.map(Duration::from_secs_f64),
        ..WatchOptions::default()
    };
    let busy = Arc::new(AtomicBool::new(false));
    let (stop, busy_seen) = (control.clone(), busy.clone());
    let sink = move |event: WatchEvent| {
        // --no-wait: another process writing ends the watch with its one-line message.
        if let WatchEvent::Failed { code, message } = &event {
            if no_wait && code == "library_busy" {
                eprintln!("error: {message}");
                busy_seen.store(true, Ordering::SeqCst);
                stop.stop();
                return;
            }
        }
        if json {
            if !matches!(event, WatchEvent::Ingest(IngestEvent::Progress { .. })) {
                if let Ok(line) = serde_json::to_string(&event) {
                    println!("{line}");
                }
            }
            return;
        }
        match event {
            WatchEvent::Folder { path, state } => match state {
                FolderState::Missing => eprintln!(
                    "{path}: not there; its documents stay indexed until it comes back or you \
                     remove them (hearth remove)"
                ),
                state => eprintln!("{path}: {state}"),
            },
            WatchEvent::Ingest(IngestEvent::Waiting { holder }) => eprintln!(
                "waiting for the other Hearth process ({holder}) to finish writing to this library…"
            ),
            WatchEvent::Ingest(IngestEvent::Failed(f)) => {
                eprintln!("failed: {}: {}", f.path, f.error)
            }
            WatchEvent::Ingest(_) => {}
            WatchEvent::Applied {
                paths,
                report,
                delay_ms,
            } => {
                if report.indexed + report.removed + report.failed.len() == 0 {
                    return;
                }
                let what = if paths.len() == 1 {
                    paths[0].clone()
                } else {
                    format!("{} paths", paths.len())
                };
                let after = if delay_ms > 0.0 {
                    format!(" ({:.1} s after the change)", delay_ms / 1e3)
                } else {
                    String::new()
                };
                println!(
                    "{what}: indexed {}, removed {}, failed {}{after}",
                    report.indexed,
                    report.removed,
                    report.failed.len()
                );
            }
            WatchEvent::Failed { message, .. } => {
                eprintln!("could not apply changes: {message}; trying again shortly")
            }
        }
    };
    watch(library, folders, &opts, &sink, &control).await?;
    Ok(if busy.load(Ordering::SeqCst) { 1 } else { 0 })
}
