//! Tauri's build step, with the config at the repository root. The app's own commands get
//! generated permissions (`allow-<command>`) so the window's capability lists exactly what the
//! UI may call.

const COMMANDS: &[&str] = &[
    "app_info",
    "library_entries",
    "ingest",
    "cancel",
    "remove",
    "search",
    "page_text",
    "open_document",
    "ask",
    "summarize",
    "models",
    "import_model",
    "fetch_model",
    "set_active_model",
    "measure_models",
    "get_settings",
    "save_settings",
    "watched_folders",
    "set_watch_paused",
    "unwatch",
    "rebuild",
    "collections",
    "change_collection",
    "api_status",
    "api_start",
    "api_stop",
    "api_new_token",
];

fn main() {
    println!("cargo:rerun-if-changed=../ui");
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    tauri_build::try_build(attributes).expect("tauri build step");
}
