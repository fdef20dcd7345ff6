//! Hearth desktop: a thin Tauri 2 shell over the engine. Commands (`commands`) translate the
//! UI's requests to engine calls; `state` holds the one opened library and language model.
//! The web UI lives in `ui/` (plain ES modules, no build step).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod api;
mod commands;
mod error;
mod open;
mod state;
mod watching;

use tauri::Manager;

fn main() {
    // before anything that may run an instruction this processor lacks
    hearth::llm::cpu::refuse_unsupported_processor();
    hearth::llm::cpu::keep_freed_memory();
    let shell = state::Shell::from_environment();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(shell)
        .manage(api::ApiServer::default())
        .setup(|app| {
            // Open the library (load the embedding model) while the window paints, so the
            // first search does not wait for it; then, at first start (or with a new model or
            // a new Hearth), measure how fast this machine runs the language models, so the
            // first question does not wait for that either.
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                let shell = handle.state::<state::Shell>();
                let _ = shell.library().await;
                // Watched folders: catch up with what changed while the app was closed.
                watching::restart(&handle).await;
                if let Ok(config) = shell.config() {
                    shell.measure_if_needed(&config, || {}).await;
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::library_entries,
            commands::ingest,
            commands::cancel,
            commands::remove,
            commands::search,
            commands::page_text,
            commands::open_document,
            commands::ask,
            commands::summarize,
            commands::models,
            commands::import_model,
            commands::fetch_model,
            commands::set_active_model,
            commands::measure_models,
            commands::get_settings,
            commands::save_settings,
            commands::watched_folders,
            commands::set_watch_paused,
            commands::unwatch,
            commands::rebuild,
            commands::collections,
            commands::change_collection,
            api::api_status,
            api::api_start,
            api::api_stop,
            api::api_new_token,
        ])
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running Hearth");
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    #[test]
    fn csp_is_strict_and_the_window_may_call_only_our_commands() {
        let conf: Value = serde_json::from_str(include_str!("../../tauri.conf.json")).unwrap();
        let csp = conf["app"]["security"]["csp"]
            .as_str()
            .expect("a CSP is set");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "CSP lacks {directive}: {csp}");
        }
        // Tauri's own IPC origin is the only URL allowed.
        let rest = csp.replace("http://ipc.localhost", "");
        for loose in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
            assert!(!rest.contains(loose), "CSP allows {loose}: {csp}");
        }
        let caps: Value = serde_json::from_str(include_str!("../capabilities/main.json")).unwrap();
        for p in caps["permissions"].as_array().unwrap() {
            let p = p.as_str().expect("plain permission names");
            let ok = p.starts_with("allow-")
                || [
                    "core:event:allow-listen",
                    "core:event:allow-unlisten",
                    "dialog:allow-open",
                ]
                .contains(&p);
            assert!(ok, "unexpected permission {p}");
        }
    }
}
