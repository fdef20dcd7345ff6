//! `hearth bench`: numbers, not assertions.
//!
//! * `ingest`: files/s, chunks/s, MB/s and the split extract / chunk / embed / store on a folder.
//! * `extract`: reading speed per format on a folder (MB/s, pages/s), and OCR pages per minute
//!   for scanned PDF pages and images.
//! * `embed`: the engine's embedder against raw ONNX Runtime (same model, same tokenizer, same
//!   batch size, same threads), texts/s and the ratio.
//! * `search`: p50/p95 latency of vector, text and hybrid search (query embedding included) at
//!   10k and 100k chunks, exact and with the ANN index, plus the index build time. The larger
//!   tables repeat the real HaluEval passage vectors with small noise (re-normalised) so that
//!   latency is measured at size without embedding 100k passages first.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use hearth::store::{ChunkRow, DocRecord};
use hearth::{Config, Embedder, Library, OnnxEmbedder, SearchMode, SearchRequest};

use crate::datasets::{default_dataset, load_halueval, QaRow};
use crate::measure::{peak_rss_bytes, percentile, rss_bytes};

/// Arguments of `hearth bench`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// ingest, extract, embed, search, llm, watch, api (the HTTP API: search load and time to
    /// first streamed token; on --data-dir's library, or a temporary one, after ingesting
    /// --corpus [default: the real-document corpus]) or all (all but extract and api).
    #[arg(default_value = "all")]
    what: String,
    /// Folder to ingest for the ingest benchmark [default: HaluEval passages written as files].
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// With `ingest`: also run the plain Python pipeline (bench/plain_pipeline.py: pypdf,
    /// 200-word chunks, sentence-transformers fp32, LanceDB) on the same folder and print the
    /// ratios per CPU-second and per wall-second. Needs the venv of
    /// bench/setup_plain_pipeline.sh (at $HEARTH_BENCH_VENV, default /var/cache/hearth-bench/venv).
    #[arg(long)]
    compare: bool,
    /// Texts for the embedding benchmark.
    #[arg(long, default_value_t = 1024)]
    texts: usize,
    /// Table sizes for the search benchmark.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    rows: Vec<usize>,
    /// Queries per measurement.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Questions answered by `api` (over HTTP, then in-process).
    #[arg(long, default_value_t = 10)]
    answers: usize,
    /// Times `api` lets a client leave mid-answer while another waits (per kind of client).
    #[arg(long, default_value_t = 3)]
    handovers: usize,
    /// Language model for `llm` (catalog id, imported name or .gguf path).
    #[arg(long)]
    model: Option<String>,
    /// Prompt tokens for `llm`.
    #[arg(long, default_value_t = 512)]
    prompt_tokens: usize,
    /// Decode steps for `llm`.
    #[arg(long, default_value_t = 32)]
    gen_tokens: usize,
    /// Repetitions for `llm` (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Saves timed by `watch` (save → searchable).
    #[arg(long, default_value_t = 50)]
    edits: usize,
    /// Files of the idle tree `watch` keeps watched.
    #[arg(long, default_value_t = 10_000)]
    idle_files: usize,
    /// Seconds the idle tree is watched.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
}

fn halueval(config: &Config, n: usize) -> Result<Vec<QaRow>> {
    load_halueval(&default_dataset(&config.models_dir), n)
}

pub async fn run(
    data_dir: &Option<PathBuf>,
    models_dir: &Option<PathBuf>,
    args: BenchArgs,
) -> Result<i32> {
    let work = tempfile::tempdir()?;
    let config = crate::config_from(&Some(work.path().join("base")), models_dir)?;
    let all = args.what == "all";
    if !matches!(
        args.what.as_str(),
        "all" | "ingest" | "embed" | "search" | "llm" | "watch" | "extract" | "api"
    ) {
        bail!(
            "unknown benchmark '{}' (ingest, extract, embed, search, llm, watch, api or all)",
            args.what
        );
    }
    println!(
        "machine: {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if all || args.what == "embed" {
        let texts: Vec<String> = halueval(&config, args.texts)?
            .into_iter()
            .map(|r| r.knowledge)
            .collect();
        bench_embed(&config, &texts)?;
        bench_encoders(&config, &texts)?;
    }
    if all || args.what == "ingest" {
        bench_ingest(&config, work.path(), args.corpus.as_deref(), args.compare).await?;
    }
    if args.what == "extract" {
        let Some(corpus) = args.corpus.as_deref() else {
            bail!(
                "`hearth bench extract` needs --corpus FOLDER (documents of the formats to time)"
            );
        };
        bench_extract(&config, corpus)?;
    }
    if args.what == "api" {
        let data = data_dir.clone().unwrap_or_else(|| work.path().join("api"));
        let config = crate::config_from(&Some(data), models_dir)?;
        let corpus = args
            .corpus
            .clone()
            .unwrap_or_else(|| config.models_dir.join(crate::eval_docs::DEV.dir));
        let questions = crate::eval_docs::load_questions(&crate::eval_docs::DEV, None)?
            .into_iter()
            .filter(|q| q.answerable)
            .map(|q| q.question)
            .collect();
        crate::bench_api::run(
            &config,
            &corpus,
            questions,
            args.queries,
            args.answers,
            args.handovers,
        )
        .await?;
    }
    if all || args.what == "search" {
        bench_search(&config, work.path(), &args.rows, args.queries).await?;
    }
    if all || args.what == "llm" {
        bench_llm(&config, &args).await?;
    }
    if all || args.what == "watch" {
        bench_watch(&config, work.path(), &args).await?;
    }
    Ok(0)
}

/// Per format: files, bytes, pages and seconds of reading, plus OCR apart.
#[derive(Default)]
struct ReadStats {
    files: usize,
    failed: usize,
    bytes: u64,
    pages: usize,
    secs: f64,
}

/// Reading speed per format on the files of a folder. Each file is read without OCR (best of
/// three); a PDF with pages that have no text layer, or an image, is then read again with OCR
/// and the difference is counted as OCR time for the pages it recognised.
fn bench_extract(config: &Config, corpus: &Path) -> Result<()> {
    use hearth::extract::{extract_with, ExtractOptions};
    let mut files = Vec::new();
    let mut dirs = vec![corpus.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let ft = e.file_type()?;
            if ft.is_dir() {
                dirs.push(e.path());
            } else if ft.is_file() {
                files.push(e.path());
            }
        }
    }
    files.sort();
    let plain = ExtractOptions::default();
    let with_ocr = ExtractOptions::new(&config.ocr, hearth::Cancel::new());
    println!(
        "extract: {} files under {} (OCR {})",
        files.len(),
        corpus.display(),
        if with_ocr.ocr.is_some() {
            "on"
        } else {
            "not available"
        }
    );
    let mut by_kind: std::collections::BTreeMap<String, ReadStats> = Default::default();
    let mut ocr = ReadStats::default();
    for path in &files {
        let bytes = std::fs::read(path)?;
        let mut best = f64::MAX;
        let mut result = None;
        for _ in 0..3 {
            let t = Instant::now();
            let r = extract_with(path, &bytes, &plain);
            best = best.min(t.elapsed().as_secs_f64());
            result = Some(r);
        }
        let result = result.expect("ran");
        let empty_pages = |doc: &hearth::extract::Extracted| {
            doc.pages
                .iter()
                .filter(|p| p.text.trim().chars().count() < 16)
                .count()
        };
        let needs_ocr = match &result {
            Ok(doc) => doc.kind == hearth::extract::DocKind::Pdf && empty_pages(doc) > 0,
            Err(e) => {
                let m = e.to_string();
                m.contains("no text layer") || m.contains("image")
            }
        };
        let kind = match &result {
            Ok(doc) => doc.kind.as_str().to_string(),
            Err(_) => match hearth::extract::extension_of(path) {
                e if e.is_empty() => "(no ext.)".to_string(),
                e => format!(".{e}"),
            },
        };
        let stats = by_kind.entry(kind).or_default();
        stats.files += 1;
        stats.bytes += bytes.len() as u64;
        stats.secs += best;
        match &result {
            Ok(doc) => stats.pages += doc.pages.len(),
            // (a scan read by OCR below is not a failure)
            Err(_) if needs_ocr && with_ocr.ocr.is_some() => {}
            Err(_) => stats.failed += 1,
        }
        if needs_ocr && with_ocr.ocr.is_some() {
            let before = result.as_ref().map(&empty_pages).ok();
            let t = Instant::now();
            let again = extract_with(path, &bytes, &with_ocr);
            let secs = t.elapsed().as_secs_f64() - best;
            if let Ok(doc) = again {
                let recognised = before
                    .unwrap_or(doc.pages.len())
                    .saturating_sub(empty_pages(&doc));
                let recognised = if before.is_none() {
                    doc.pages.len()
                } else {
                    recognised
                };
                ocr.files += 1;
                ocr.pages += recognised;
                ocr.bytes += bytes.len() as u64;
                ocr.secs += secs.max(0.0);
            } else {
                ocr.failed += 1;
                stats.failed += 1;
            }
        }
    }
    println!("  (reading without OCR; files only OCR can read are counted under their extension)");
    println!(
        "  {:<12} {:>6} {:>7} {:>9} {:>8} {:>9} {:>10}",
        "format", "files", "failed", "MB", "pages", "MB/s", "pages/s"
    );
    for (kind, s) in &by_kind {
        let mb = s.bytes as f64 / 1e6;
        println!(
            "  {:<12} {:>6} {:>7} {:>9.2} {:>8} {:>9.1} {:>10.1}",
            kind,
            s.files,
            s.failed,
            mb,
            s.pages,
            mb / s.secs.max(1e-9),
            s.pages as f64 / s.secs.max(1e-9)
        );
    }
    if ocr.files > 0 {
        println!(
            "  OCR: {} pages of {} files in {:.1} s: {:.1} pages/min on {} cores ({} files failed)",
            ocr.pages,
            ocr.files,
            ocr.secs,
            ocr.pages as f64 * 60.0 / ocr.secs.max(1e-9),
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            ocr.failed
        );
    }
    Ok(())
}

/// CPU seconds this process has used (user + system); 0 where /proc is not available.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) : utime is the 14th, stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Watched folders: time from saving a file to it being searchable, and what watching an idle
/// tree costs.
async fn bench_watch(config: &Config, work: &Path, args: &BenchArgs) -> Result<()> {
    use hearth::watch::{watch, WatchControl, WatchEvent, WatchOptions};
    use std::sync::Mutex;
    use std::time::Duration;

    println!("\n== watch: save → searchable ==");
    let notes = work.join("watch-notes");
    std::fs::create_dir_all(&notes)?;
    let notes = std::fs::canonicalize(&notes)?;
    let topics = [
        "garden", "boat", "kitchen", "bicycle", "attic", "orchard", "pantry", "garage",
    ];
    for (i, t) in topics.iter().cycle().take(20).enumerate() {
        std::fs::write(
            notes.join(format!("note-{i:02}.md")),
            format!("# Note {i}\n\nThings to do in the {t}: sweep, sort, repair.\n"),
        )?;
    }
    let mut cfg = config.clone();
    cfg.data_dir = work.join("watch-data");
    let lib = Arc::new(Library::open(cfg).await?);
    let control = WatchControl::new();
    let delays = Arc::new(Mutex::new(Vec::<f64>::new()));
    let applied = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let task = {
        let (lib, folder, control) = (lib.clone(), notes.clone(), control.clone());
        let (delays, applied) = (delays.clone(), applied.clone());
        tokio::spawn(async move {
            let sink = move |e: WatchEvent| {
                if let WatchEvent::Applied { delay_ms, .. } = e {
                    if delay_ms > 0.0 {
                        delays.lock().unwrap().push(delay_ms);
                    }
                    applied.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            };
            watch(&lib, &[folder], &WatchOptions::default(), &sink, &control).await
        })
    };
    while applied.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut latencies = Vec::new();
    for i in 0..args.edits {
        let token = format!("quillwort{i}x{}", std::process::id());
        let file = notes.join(format!("note-{:02}.md", i % 20));
        let text = format!("# Note {i}\n\nSaved edit {i}: the {token} goes on the top shelf.\n");
        let saved = Instant::now();
        if i % 2 == 0 {
            std::fs::write(&file, text)?;
        } else {
            // The way many editors save: a temp file renamed over the original.
            let tmp = notes.join(format!(".note-{i}.tmp"));
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, &file)?;
        }
        loop {
            let hits = lib
                .search(&SearchRequest {
                    query: token.clone(),
                    limit: 1,
                    mode: SearchMode::Text,
                    collections: Vec::new(),
                })
                .await?;
            if hits.first().is_some_and(|h| h.text.contains(&token)) {
                break;
            }
            if saved.elapsed() > Duration::from_secs(60) {
                bail!("edit {i} not searchable after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        latencies.push(saved.elapsed().as_secs_f64() * 1e3);
    }
    control.stop();
    task.await??;
    let p = |v: &[f64], q: f64| percentile(v, q);
    latencies.sort_by(f64::total_cmp);
    let mut d = delays.lock().unwrap().clone();
    d.sort_by(f64::total_cmp);
    println!(
        "{} saves: searchable after p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms (of which waiting for the folder to be quiet: {} ms; notice → commit p50 {:.0} ms)",
        latencies.len(),
        p(&latencies, 0.5),
        p(&latencies, 0.95),
        latencies.iter().cloned().fold(0.0, f64::max),
        WatchOptions::default().quiet.as_millis(),
        p(&d, 0.5),
    );

    println!("\n== watch: an idle tree of {} files ==", args.idle_files);
    let tree = work.join("watch-tree");
    for i in 0..args.idle_files {
        let dir = tree.join(format!("d{:03}", i / 100));
        if i % 100 == 0 {
            std::fs::create_dir_all(&dir)?;
        }
        std::fs::write(
            dir.join(format!("f{i:05}.txt")),
            format!("Item {i} of the idle tree."),
        )?;
    }
    let tree = std::fs::canonicalize(&tree)?;
    let started = Instant::now();
    crate::ingest_with_progress(&lib, std::slice::from_ref(&tree), true).await?;
    println!(
        "first ingest of the tree: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (rss0, cpu0) = (rss_bytes(), cpu_seconds());
    let control = WatchControl::new();
    let caught_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let task = {
        let (lib, folder, control, caught_up) = (
            lib.clone(),
            tree.clone(),
            control.clone(),
            caught_up.clone(),
        );
        tokio::spawn(async move {
            let sink = move |e: WatchEvent| {
                if matches!(e, WatchEvent::Applied { .. }) {
                    caught_up.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            };
            watch(&lib, &[folder], &WatchOptions::default(), &sink, &control).await
        })
    };
    while !caught_up.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let catch_up = started.elapsed().as_secs_f64();
    let (rss1, cpu1) = (rss_bytes(), cpu_seconds());
    tokio::time::sleep(Duration::from_secs(args.idle_secs)).await;
    let (rss2, cpu2) = (rss_bytes(), cpu_seconds());
    control.stop();
    task.await??;
    println!(
        "start (catch-up walk, nothing changed): {catch_up:.2} s, {:.2} CPU s, memory +{:.1} MB",
        cpu1 - cpu0,
        (rss1 as f64 - rss0 as f64) / 1e6
    );
    println!(
        "idle for {} s: {:.3} CPU s ({:.3}% of one core), memory {:+.1} MB",
        args.idle_secs,
        cpu2 - cpu1,
        (cpu2 - cpu1) / args.idle_secs as f64 * 100.0,
        (rss2 as f64 - rss1 as f64) / 1e6
    );
    Ok(())
}

/// Milliseconds of one pass over k tokens, per k ([`hearth::llm::Llm::batch_costs`]).
type BatchCosts = Vec<(usize, f64)>;
/// Prefill and decode tokens/s of each run.
type Runs = Vec<(f64, f64)>;

/// Prefill and decode tokens/s of the language model on a fixed prompt, plus peak memory and
/// the cost of one pass over k tokens.
async fn bench_llm(config: &Config, args: &BenchArgs) -> Result<()> {
    let t = Instant::now();
    let llm = crate::answer::load_llm(config, args.model.as_deref()).await?;
    let load_s = t.elapsed().as_secs_f64();
    let info = llm.info().clone();
    let ids = hearth::llm::speed::sample_ids(&llm, args.prompt_tokens)?;
    let (gen, repeat) = (args.gen_tokens, args.repeat.max(1));
    let (runs, batches) =
        tokio::task::spawn_blocking(move || -> hearth::Result<(Runs, Option<BatchCosts>)> {
            let runs = (0..repeat)
                .map(|_| llm.forward_fresh(&ids, gen))
                .collect::<hearth::Result<Vec<_>>>()?;
            // what a speculative check of k tokens costs against one decode step
            let batches = llm.batch_costs(&ids, &[1, 2, 4, 8], repeat.max(3))?;
            Ok((runs, batches))
        })
        .await??;
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let prefill = median(runs.iter().map(|r| r.0).collect());
    let decode = median(runs.iter().map(|r| r.1).collect());
    println!(
        "llm {} ({}): load {:.2} s; prompt {} tokens: prefill {:.1} tok/s (first run {:.1}), \
         decode {:.1} tok/s over {} tokens (first run {:.1}); {} threads; peak RSS {}",
        info.name,
        info.architecture,
        load_s,
        args.prompt_tokens,
        prefill,
        runs[0].0,
        decode,
        args.gen_tokens,
        runs[0].1,
        rayon_threads(),
        crate::human_bytes(peak_rss_bytes())
    );
    if let Some(b) = &batches {
        let one = b.first().map(|x| x.1).unwrap_or(1.0).max(1e-9);
        let cells: Vec<String> = b
            .iter()
            .map(|(k, ms)| format!("{k} tokens {ms:.1} ms ({:.2}x)", ms / one))
            .collect();
        println!(
            "  one pass over k tokens (speculative checks): {}",
            cells.join(", ")
        );
    }
    // decoding reads every weight once per step: how close it runs to the memory's speed
    let peak_rss = peak_rss_bytes();
    let weight_bytes = hearth::llm::gguf::GgufFile::open(&info.path)?.decode_weight_bytes();
    let stream = hearth::llm::speed::stream_bandwidth();
    let decode_read = weight_bytes as f64 * decode;
    println!(
        "  decode reads {:.0} MB of weights per token: {:.1} GB/s; memory streams {:.1} GB/s \
         here ({:.0}%; at that speed decode would run {:.1} tok/s)",
        weight_bytes as f64 / 1e6,
        decode_read / 1e9,
        stream / 1e9,
        decode_read / stream * 100.0,
        stream / weight_bytes as f64
    );
    let batch_ms: Vec<serde_json::Value> = batches
        .iter()
        .flatten()
        .map(|(k, ms)| serde_json::json!({"tokens": k, "ms": ms}))
        .collect();
    println!(
        "{}",
        serde_json::json!({"engine": "hearth", "model": info.name, "prompt_tokens": args.prompt_tokens,
            "gen_tokens": args.gen_tokens, "threads": rayon_threads(),
            "prefill_tok_s": prefill, "decode_tok_s": decode, "peak_rss_bytes": peak_rss,
            "decode_weight_bytes": weight_bytes, "stream_bytes_s": stream, "batch_ms": batch_ms})
    );
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

fn bench_embed(config: &Config, texts: &[String]) -> Result<()> {
    // the engine's ONNX path against raw ONNX Runtime: the configured model if it is ONNX, else
    // the catalog's int8 ONNX MiniLM
    let cfg = if config
        .embedder
        .model
        .extension()
        .is_some_and(|e| e == "onnx")
    {
        config.embedder.clone()
    } else {
        hearth::catalog::Catalog::builtin()
            .embedder_config("all-minilm-l6-v2-int8", &config.models_dir)?
    };
    if !cfg.model.is_file() {
        println!(
            "embed: no ONNX embedder installed ({}); skipped",
            cfg.model.display()
        );
        return Ok(());
    }
    let embedder = OnnxEmbedder::load(&cfg, &config.runtime_library)?;
    let batch = cfg.batch_size;
    // Warm up both paths once.
    embedder.embed(&texts[..batch.min(texts.len())])?;
    let t = Instant::now();
    let ours = embedder.embed(texts)?;
    let ours_s = t.elapsed().as_secs_f64();

    let env = hearth::embed::load_onnx_runtime(&config.runtime_library)?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut session = ort::session::Session::builder(&env)?
        .with_optimization_level(ort::session::builder::GraphOptimizationLevel::Level3)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_intra_threads(threads)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .commit_from_file(&cfg.model)?;
    let mut tokenizer = tokenizers::Tokenizer::from_file(cfg.tokenizer_dir.join("tokenizer.json"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokenizer
        .with_truncation(Some(tokenizers::TruncationParams {
            max_length: cfg.max_tokens,
            ..Default::default()
        }))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tokenizer.with_padding(Some(tokenizers::PaddingParams::default()));
    let needs_types = session
        .inputs()
        .iter()
        .any(|i| i.name() == "token_type_ids");
    // Same order as the engine (sorted by length) so both pad alike.
    let mut sorted: Vec<&str> = texts.iter().map(String::as_str).collect();
    sorted.sort_by_key(|t| t.len());
    let mut run_raw = |texts: &[&str]| -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::new();
        for group in texts.chunks(batch) {
            let enc = tokenizer
                .encode_batch(group.to_vec(), true)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let (b, len) = (enc.len(), enc[0].len());
            let ids: Vec<i64> = enc
                .iter()
                .flat_map(|e| e.get_ids().iter().map(|&x| x as i64))
                .collect();
            let mask: Vec<i64> = enc
                .iter()
                .flat_map(|e| e.get_attention_mask().iter().map(|&x| x as i64))
                .collect();
            let types: Vec<i64> = enc
                .iter()
                .flat_map(|e| e.get_type_ids().iter().map(|&x| x as i64))
                .collect();
            let mut inputs = ort::inputs![
                "input_ids" => ort::value::Tensor::from_array(([b, len], ids))?,
                "attention_mask" => ort::value::Tensor::from_array(([b, len], mask.clone()))?,
            ];
            if needs_types {
                inputs.push((
                    "token_type_ids".into(),
                    ort::value::Tensor::from_array(([b, len], types))?.into(),
                ));
            }
            let outputs = session.run(inputs)?;
            let (shape, data) = outputs[0].try_extract_tensor::<f32>()?;
            let dim = shape[2] as usize;
            for row in 0..b {
                let mut v = vec![0f32; dim];
                let mut count = 0f32;
                for tok in 0..len {
                    if mask[row * len + tok] == 1 {
                        count += 1.0;
                        let base = (row * len + tok) * dim;
                        for (d, x) in v.iter_mut().enumerate() {
                            *x += data[base + d];
                        }
                    }
                }
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                let _ = count; // mean pooling then L2 norm: the count cancels out
                out.push(v.iter().map(|x| x / norm).collect());
            }
        }
        Ok(out)
    };
    run_raw(&sorted[..batch.min(sorted.len())])?;
    let t = Instant::now();
    let raw = run_raw(&sorted)?;
    let raw_s = t.elapsed().as_secs_f64();
    // Agreement check: the same texts must give the same vectors.
    let mut index_of: Vec<usize> = (0..texts.len()).collect();
    index_of.sort_by_key(|&i| texts[i].len());
    let mut worst = 1.0f32;
    for (k, &i) in index_of.iter().enumerate() {
        let cos: f32 = ours[i].iter().zip(&raw[k]).map(|(a, b)| a * b).sum();
        worst = worst.min(cos);
    }
    let n = texts.len() as f64;
    println!(
        "embed: {} texts, batch {}, {} threads: engine {:.1} texts/s, raw onnxruntime {:.1} texts/s, ratio raw/engine {:.2}x (min cosine engine vs raw {:.4})",
        texts.len(), batch, threads, n / ours_s, n / raw_s, ours_s / raw_s, worst
    );
    Ok(())
}

/// Run bench/plain_pipeline.py (built into this binary) on `corpus` in the venv of
/// bench/setup_plain_pipeline.sh; its one-line JSON report.
fn plain_pipeline(config: &Config, corpus: &Path, work: &Path) -> Result<serde_json::Value> {
    let venv = std::env::var_os("HEARTH_BENCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/hearth-bench/venv"));
    let python = venv.join("bin/python");
    if !python.is_file() {
        bail!(
            "no Python venv at {} for the plain pipeline: run bench/setup_plain_pipeline.sh \
             (or set HEARTH_BENCH_VENV)",
            venv.display()
        );
    }
    let script = work.join("plain_pipeline.py");
    std::fs::write(&script, include_str!("../../bench/plain_pipeline.py"))?;
    let model = config.models_dir.join("all-minilm-l6-v2");
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(corpus)
        .arg(&model)
        .arg(work.join("plain-lancedb"))
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("the plain pipeline failed ({})", out.status);
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    Ok(serde_json::from_str(line)?)
}

/// The two MiniLM-L6 encoders side by side on the same texts: Hearth's own integer encoder
/// (`all-minilm-l6-v2`) and the int8 ONNX model under ONNX Runtime
/// (`all-minilm-l6-v2-int8`), each against the fp32 weights run by candle's BERT.
fn bench_encoders(config: &Config, texts: &[String]) -> Result<()> {
    let catalog = hearth::catalog::Catalog::builtin();
    let installed = catalog.installed(&config.models_dir);
    let has = |id: &str| installed.iter().any(|m| m.model.id == id && m.installed);
    let (own_id, onnx_id) = ("all-minilm-l6-v2", "all-minilm-l6-v2-int8");
    if !has(own_id) || !has(onnx_id) {
        println!("encoders: {own_id} and {onnx_id} are not both installed; skipped");
        return Ok(());
    }
    let own_cfg = catalog.embedder_config(own_id, &config.models_dir)?;
    let onnx_cfg = catalog.embedder_config(onnx_id, &config.models_dir)?;
    let own = hearth::encoder::load(&own_cfg, &config.runtime_library)?;
    let onnx = hearth::encoder::load(&onnx_cfg, &config.runtime_library)?;
    let tokens: usize = texts
        .iter()
        .map(|t| own.token_spans(t).len().min(own.max_tokens() - 2) + 2)
        .sum();
    let reference = hearth::encoder::reference_vectors(&own_cfg, texts)?;
    let mut rows = Vec::new();
    for (name, e) in [("hearth int8", &own), ("onnxruntime int8", &onnx)] {
        e.embed(&texts[..8.min(texts.len())])?;
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let v = e.embed(texts)?;
        let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        let cos: Vec<f32> = v
            .iter()
            .zip(&reference)
            .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum())
            .collect();
        let min = cos.iter().copied().fold(1.0f32, f32::min);
        let mean = cos.iter().sum::<f32>() / cos.len().max(1) as f32;
        rows.push((name, wall, cpu, min, mean));
    }
    println!(
        "encoders: {} texts, {} tokens (special tokens included, cut at {}):",
        texts.len(),
        tokens,
        own.max_tokens()
    );
    for (name, wall, cpu, min, mean) in &rows {
        println!(
            "  {name:<17} {:>7.0} tokens/s wall, {:>7.0} tokens per CPU-second; cosine to fp32 min {min:.4} mean {mean:.5}",
            tokens as f64 / wall,
            tokens as f64 / cpu.max(1e-9)
        );
    }
    if let [a, b] = &rows[..] {
        println!(
            "  hearth / onnxruntime: {:.2}x per wall-second, {:.2}x per CPU-second",
            b.1 / a.1,
            b.2 / a.2.max(1e-9)
        );
    }
    Ok(())
}

async fn bench_ingest(
    config: &Config,
    work: &Path,
    corpus: Option<&Path>,
    compare: bool,
) -> Result<()> {
    let corpus = match corpus {
        Some(c) => c.to_path_buf(),
        None => {
            let dir = work.join("ingest-corpus");
            std::fs::create_dir_all(&dir)?;
            for (i, r) in halueval(config, 2000)?.iter().enumerate() {
                std::fs::write(dir.join(format!("p{i:05}.txt")), &r.knowledge)?;
            }
            dir
        }
    };
    let mut cfg = config.clone();
    cfg.data_dir = work.join("ingest-data");
    // the comparison counts the model load in (the Python pipeline's time does); the ingest
    // line below does not
    let (opened, cpu) = (Instant::now(), cpu_seconds());
    let library = crate::open_library(cfg).await?;
    let t = Instant::now();
    let r = crate::ingest_with_progress(&library, std::slice::from_ref(&corpus), false).await?;
    let secs = t.elapsed().as_secs_f64();
    let (total, cpu) = (opened.elapsed().as_secs_f64(), cpu_seconds() - cpu);
    let tm = &r.timings;
    if compare {
        let pages: i64 = library
            .documents()
            .await?
            .iter()
            .map(|d| d.pages.unwrap_or(1) as i64)
            .sum();
        let plain = plain_pipeline(config, &corpus, work)?;
        let cell = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(0.0);
        println!(
            "{:<28} {:>6} {:>6} {:>7} {:>8} {:>8} {:>9}",
            "ingest (model load included)",
            "files",
            "pages",
            "chunks",
            "wall s",
            "CPU s",
            "peak RSS"
        );
        println!(
            "{:<28} {:>6} {:>6} {:>7} {:>8.1} {:>8.1} {:>6.0} MB",
            "hearth",
            r.indexed,
            pages,
            r.chunks,
            total,
            cpu,
            peak_rss_bytes() as f64 / 1e6
        );
        println!(
            "{:<28} {:>6} {:>6} {:>7} {:>8.1} {:>8.1} {:>6.0} MB",
            "plain python (fp32 torch)",
            cell(&plain, "files"),
            cell(&plain, "pages"),
            cell(&plain, "chunks"),
            cell(&plain, "wall_s"),
            cell(&plain, "cpu_s"),
            cell(&plain, "peak_rss_bytes") / 1e6
        );
        println!(
            "hearth / plain python: {:.2}x per CPU-second, {:.2}x per wall-second",
            cell(&plain, "cpu_s") / cpu.max(1e-9),
            cell(&plain, "wall_s") / total.max(1e-9)
        );
    }
    println!(
        "ingest {}: {} files, {} chunks, {:.2} MB in {:.2} s: {:.1} files/s, {:.1} chunks/s, {:.3} MB/s; extract {:.2} s, chunk {:.2} s, embed {:.2} s, store {:.2} s; {} failed",
        corpus.display(), r.indexed, r.chunks, tm.bytes as f64 / 1e6, secs,
        r.indexed as f64 / secs, r.chunks as f64 / secs, tm.bytes as f64 / 1e6 / secs,
        tm.extract_s, tm.chunk_s, tm.embed_s, tm.store_s, r.failed.len()
    );
    let t = Instant::now();
    let again = crate::ingest_with_progress(&library, std::slice::from_ref(&corpus), false).await?;
    println!(
        "re-ingest unchanged: {} skipped, {} indexed in {:.2} s",
        again.skipped,
        again.indexed,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn bench_search(config: &Config, work: &Path, sizes: &[usize], queries: usize) -> Result<()> {
    let rows = halueval(config, 10_000)?;
    let embedder = hearth::encoder::load(&config.embedder, &config.runtime_library)?;
    let passages: Vec<String> = rows.iter().map(|r| r.knowledge.clone()).collect();
    let t = Instant::now();
    let base_vectors = {
        let e = embedder.clone();
        let p = passages.clone();
        tokio::task::spawn_blocking(move || e.embed(&p)).await??
    };
    println!(
        "search setup: embedded {} passages in {:.1} s",
        passages.len(),
        t.elapsed().as_secs_f64()
    );
    let questions: Vec<String> = rows
        .iter()
        .map(|r| r.question.clone())
        .take(queries)
        .collect();
    let mut rng = 0x9E3779B97F4A7C15u64;
    let mut noise = move || {
        // xorshift + Box-Muller-free approximation: sum of uniforms.
        let mut s = 0f32;
        for _ in 0..4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            s += (rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        }
        s * 0.03
    };
    for &size in sizes {
        let mut cfg = config.clone();
        cfg.data_dir = work.join(format!("search-{size}"));
        let library = Library::open_with_embedder(cfg, embedder.clone()).await?;
        let store = library.store();
        let t = Instant::now();
        let mut written = 0usize;
        let mut copy = 0usize;
        while written < size {
            let n = (size - written).min(passages.len());
            let mut chunk_rows = Vec::with_capacity(n);
            let mut docs = Vec::with_capacity(n);
            for i in 0..n {
                let path = format!("/bench/copy{copy}/p{i:05}.txt");
                let mut v: Vec<f32> = base_vectors[i].clone();
                if copy > 0 {
                    v.iter_mut().for_each(|x| *x += noise());
                    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                    v.iter_mut().for_each(|x| *x /= norm);
                }
                chunk_rows.push(ChunkRow {
                    id: format!("{copy}-{i}"),
                    doc_path: path.clone(),
                    doc_hash: format!("{copy:016}{i:016}"),
                    ordinal: 0,
                    page: None,
                    heading: String::new(),
                    text: passages[i].clone(),
                    context: hearth::store::chunk_context(&path, ""),
                    char_start: 0,
                    char_end: passages[i].chars().count() as i64,
                    vector: v,
                });
                docs.push(DocRecord {
                    path,
                    hash: format!("{copy:016}{i:016}"),
                    size: passages[i].len() as i64,
                    mtime_ms: 0,
                    kind: "text".into(),
                    pages: None,
                    chunks: 1,
                });
            }
            for (d, c) in docs.chunks(2000).zip(chunk_rows.chunks(2000)) {
                store.replace(d, c.to_vec()).await?;
            }
            written += n;
            copy += 1;
        }
        println!(
            "search {size} rows: wrote table in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        store.maintain_indexes(usize::MAX).await?;
        println!(
            "search {size} rows: full-text index + compaction {:.1} s",
            t.elapsed().as_secs_f64()
        );
        measure(&library, &questions, size, "exact").await?;
        let t = Instant::now();
        store.create_vector_index(size).await?;
        println!(
            "search {size} rows: vector index (IVF-HNSW-SQ) built in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        measure(&library, &questions, size, "ann").await?;
    }
    Ok(())
}

async fn measure(library: &Library, questions: &[String], size: usize, label: &str) -> Result<()> {
    for mode in [SearchMode::Vector, SearchMode::Text, SearchMode::Hybrid] {
        let mut total = Vec::new();
        let mut embed = Vec::new();
        // One warm-up query, then the measured ones.
        library
            .search(&SearchRequest {
                query: questions[0].clone(),
                limit: 10,
                mode,
                collections: Vec::new(),
            })
            .await?;
        for q in questions {
            let t = Instant::now();
            let (_, timings) = library
                .search_timed(&SearchRequest {
                    query: q.clone(),
                    limit: 10,
                    mode,
                    collections: Vec::new(),
                })
                .await?;
            total.push(t.elapsed().as_secs_f64() * 1e3);
            embed.push(timings.embed_ms);
        }
        total.sort_by(|a, b| a.total_cmp(b));
        embed.sort_by(|a, b| a.total_cmp(b));
        println!(
            "search {size} rows {label:<5} {:<7} p50 {:>6.1} ms  p95 {:>6.1} ms  (query embedding p50 {:.1} ms)",
            format!("{mode:?}").to_lowercase(),
            percentile(&total, 0.5),
            percentile(&total, 0.95),
            percentile(&embed, 0.5)
        );
    }
    Ok(())
}
