//! `hearth eval`: retrieval and answer quality on HaluEval QA and on real documents
//! ([`crate::eval_docs`]: manuals from Debian's doc packages with questions written for them).
//!
//! Each row of HaluEval QA has a question and the passage (`knowledge`) that answers it. The
//! first `--passages` rows' passages become one text file each in a temporary corpus, which is
//! ingested through the normal pipeline; then the first `--questions` questions are searched in
//! every mode and the rank of the gold passage's file is scored: recall@1, recall@5, MRR@10 and
//! nDCG@10 (one relevant document per question).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Result};
use hearth::Hit;

use crate::datasets::{default_dataset, load_halueval, QaRow};
use crate::eval_args::{EvalArgs, EvalSet, Split};
use crate::measure::{peak_rss_bytes, percentile};
use crate::scoring::{normalize, score_retrieval, Method, Probe};

/// `hearth eval`: the chosen sets, one after the other.
pub async fn run(models_dir: &Option<PathBuf>, args: EvalArgs) -> Result<i32> {
    let temp;
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    if matches!(args.set, EvalSet::Halueval | EvalSet::All) {
        run_halueval(models_dir, &work, &args).await?;
    }
    use crate::eval_docs::{run_parts, DEV, HELDOUT, SUITE};
    match args.set {
        EvalSet::Docs | EvalSet::All => {
            run_parts(&[DEV], Split::Dev, models_dir, &work, &args).await?
        }
        EvalSet::Heldout => run_parts(&[HELDOUT], Split::Heldout, models_dir, &work, &args).await?,
        EvalSet::Suite => run_parts(&SUITE, args.split, models_dir, &work, &args).await?,
        EvalSet::Summaries => crate::eval_summaries::run(models_dir, &args).await?,
        EvalSet::Halueval => {}
    }
    Ok(0)
}

async fn run_halueval(models_dir: &Option<PathBuf>, work: &Path, args: &EvalArgs) -> Result<()> {
    let corpus = work.join("corpus");
    let data_dir = work.join("data");
    let config = crate::config_from(&Some(data_dir.clone()), models_dir)?;
    let dataset = args
        .dataset
        .clone()
        .unwrap_or_else(|| default_dataset(&config.models_dir));
    let rows = load_halueval(&dataset, args.passages)?;
    if rows.is_empty() {
        bail!("{} has no rows", dataset.display());
    }
    // One file per distinct passage; a question's gold file is the one holding its passage.
    std::fs::create_dir_all(&corpus)?;
    let mut file_of: HashMap<String, PathBuf> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if !file_of.contains_key(&row.knowledge) {
            let path = corpus.join(format!("passage-{i:05}.txt"));
            if !path.exists() {
                std::fs::write(&path, &row.knowledge)?;
            }
            file_of.insert(row.knowledge.clone(), std::fs::canonicalize(&path)?);
        }
    }
    eprintln!(
        "indexing {} passages from {}",
        file_of.len(),
        dataset.display()
    );
    let library = crate::open_library(config.clone()).await?;
    let started = Instant::now();
    let report = crate::ingest_with_progress(&library, std::slice::from_ref(&corpus), true).await?;
    eprintln!(
        "ingest: {} indexed, {} unchanged, {} chunks, {} failed in {:.1} s",
        report.indexed,
        report.skipped,
        report.chunks,
        report.failed.len(),
        started.elapsed().as_secs_f64()
    );
    if args.answers > 0 {
        return eval_answers(&library, &config, &dataset, &rows, &file_of, args).await;
    }
    let golds: Vec<String> = rows
        .iter()
        .take(args.questions)
        .map(|r| file_of[&r.knowledge].to_string_lossy().into_owned())
        .collect();
    let probes: Vec<Probe<'_>> = rows
        .iter()
        .zip(&golds)
        .map(|(r, gold)| Probe {
            question: &r.question,
            unit: Box::new(|h: &Hit| h.path.clone()),
            gold: Box::new(move |h: &Hit| &h.path == gold),
        })
        .collect();
    let (metrics, latency) = score_retrieval(
        &library,
        &probes,
        &Method::all(&args.methods),
        "halueval",
        args.json,
        args.work_dir
            .as_ref()
            .map(|w| w.join("candidates-halueval.jsonl"))
            .as_deref(),
    )
    .await?;
    if args.json {
        let out = serde_json::json!({
            "set": "halueval",
            "retrieval": metrics,
            "search_latency_ms": {"p50": latency.0, "p95": latency.1},
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// Answer quality: the first `--answers` questions (their passages are indexed) and as many
/// questions from rows after `--passages` whose passages are not (the right reply is "not in
/// your documents"). An answer is correct when it contains the gold answer string
/// (case and punctuation ignored); it is grounded when a citation points at the gold file.
async fn eval_answers(
    library: &hearth::Library,
    config: &hearth::Config,
    dataset: &Path,
    rows: &[QaRow],
    file_of: &HashMap<String, PathBuf>,
    args: &EvalArgs,
) -> Result<()> {
    let config = &crate::answer::for_model(config.clone(), args.model.as_deref());
    let llm = crate::answer::load_llm(config, args.model.as_deref()).await?;
    let extra = load_halueval(dataset, args.passages + args.answers)?;
    let unanswerable: Vec<&QaRow> = extra
        .iter()
        .skip(args.passages)
        .filter(|r| !file_of.contains_key(&r.knowledge))
        .collect();
    let cancel = hearth::Cancel::new();
    let cfg = config.answer.clone();
    let ask = |q: String| {
        let (llm, cfg, cancel) = (llm.clone(), &cfg, &cancel);
        async move { hearth::answer::ask(library, llm, &q, &[], cfg, cancel, Box::new(|_| {})).await }
    };
    let (mut correct, mut cited_gold, mut gold_in_sources, mut cited_any, mut refused_wrongly) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    // questions naming what no chunk mentions (declined before generation by default)
    let (mut unknown_answerable, mut unknown_unanswerable) = (0usize, 0usize);
    let (mut ttft, mut tps) = (Vec::new(), Vec::new());
    let (mut sim_answerable, mut sim_unanswerable) = (Vec::new(), Vec::new());
    let n = args.answers.min(rows.len());
    for (i, row) in rows.iter().take(n).enumerate() {
        let gold = file_of[&row.knowledge].to_string_lossy().into_owned();
        let a = ask(row.question.clone()).await?;
        let ok = !row.answer.is_empty() && normalize(&a.answer).contains(&normalize(&row.answer));
        correct += ok as usize;
        cited_gold += a.citations.iter().any(|c| c.path == gold) as usize;
        cited_any += (!a.citations.is_empty()) as usize;
        gold_in_sources += a.sources.iter().any(|c| c.path == gold) as usize;
        refused_wrongly += a.not_found as usize;
        unknown_answerable += (!a.unknown_terms.is_empty()) as usize;
        sim_answerable.push(a.best_similarity);
        if !a.not_found {
            ttft.push(a.timings.first_token_ms);
            tps.push(a.timings.tokens_per_s);
        }
        if !args.json {
            eprintln!(
                "[{}/{n}] {} | gold: {} | answer: {}",
                i + 1,
                if ok { "OK " } else { "-- " },
                row.answer,
                crate::snippet(&a.answer, 120)
            );
        }
    }
    let mut refused = 0usize;
    let m = unanswerable.len().min(n);
    for row in unanswerable.iter().take(m) {
        let a = ask(row.question.clone()).await?;
        refused += (a.not_found || normalize(&a.answer).contains("couldn t find")) as usize;
        unknown_unanswerable += (!a.unknown_terms.is_empty()) as usize;
        sim_unanswerable.push(a.best_similarity);
    }
    ttft.sort_by(|a, b| a.total_cmp(b));
    tps.sort_by(|a, b| a.total_cmp(b));
    let nf = n.max(1) as f64;
    // what answer.min_similarity would do: share of each set declined before generation
    let gate: Vec<serde_json::Value> = [0.2f32, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
        .iter()
        .map(|&t| {
            serde_json::json!({
                "min_similarity": t,
                "declines_answerable": sim_answerable.iter().filter(|&&s| s < t).count() as f64 / nf,
                "declines_unanswerable": sim_unanswerable.iter().filter(|&&s| s < t).count() as f64 / m.max(1) as f64,
            })
        })
        .collect();
    let out = serde_json::json!({
        "model": llm.info().name,
        "answerable": n,
        "answer_contains_gold": correct as f64 / nf,
        "cites_gold_passage": cited_gold as f64 / nf,
        "cites_something": cited_any as f64 / nf,
        "gold_passage_in_prompt": gold_in_sources as f64 / nf,
        "refused_answerable": refused_wrongly as f64 / nf,
        "unanswerable": m,
        "refused_unanswerable": refused as f64 / m.max(1) as f64,
        "unknown_terms": {
            "answerable": unknown_answerable as f64 / nf,
            "unanswerable": unknown_unanswerable as f64 / m.max(1) as f64,
        },
        "first_token_ms_p50": percentile(&ttft, 0.5),
        "first_token_ms_p95": percentile(&ttft, 0.95),
        "tokens_per_s_p50": percentile(&tps, 0.5),
        "peak_rss_bytes": peak_rss_bytes(),
        "gate": gate,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
