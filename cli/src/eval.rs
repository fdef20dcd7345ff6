//! `hearth eval`: retrieval quality on HaluEval QA.
//!
//! Each row of HaluEval QA has a question and the passage (`knowledge`) that answers it. The
//! first `--passages` rows' passages become one text file each in a temporary corpus, which is
//! ingested through the normal pipeline; then the first `--questions` questions are searched in
//! every mode and the rank of the gold passage's file is scored: recall@1, recall@5, MRR@10 and
//! nDCG@10 (one relevant document per question).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hearth::{SearchMode, SearchRequest};

/// Arguments of `hearth eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// HaluEval QA jsonl [default: <models dir>/halueval-qa/dataset_halueval_qa.jsonl]
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Questions to ask.
    #[arg(long, default_value_t = 2000)]
    questions: usize,
    /// Passages to index (questions are taken from these rows).
    #[arg(long, default_value_t = 10000)]
    passages: usize,
    /// Keep the index here (reused when it exists) instead of a temp dir.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
    /// Instead of retrieval metrics, ask this many questions with the language model (and as
    /// many whose passage is not indexed) and score the answers.
    #[arg(long, default_value_t = 0)]
    answers: usize,
    /// Language model for --answers.
    #[arg(long)]
    model: Option<String>,
}

#[derive(Default, Clone, serde::Serialize)]
struct Metrics {
    mode: String,
    questions: usize,
    recall_at_1: f64,
    recall_at_5: f64,
    mrr_at_10: f64,
    ndcg_at_10: f64,
    p50_ms: f64,
    p95_ms: f64,
}

pub async fn run(models_dir: &Option<PathBuf>, args: EvalArgs) -> Result<i32> {
    let temp;
    let work = match &args.work_dir {
        Some(d) => d.clone(),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
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
        return eval_answers(&library, &config, &dataset, &rows, &file_of, &args).await;
    }
    let questions: Vec<(&str, String)> = rows
        .iter()
        .take(args.questions)
        .map(|r| {
            (
                r.question.as_str(),
                file_of[&r.knowledge].to_string_lossy().into_owned(),
            )
        })
        .collect();
    let mut all = Vec::new();
    for mode in [SearchMode::Vector, SearchMode::Text, SearchMode::Hybrid] {
        let mut m = Metrics {
            mode: format!("{mode:?}").to_lowercase(),
            questions: questions.len(),
            ..Default::default()
        };
        let mut latencies = Vec::with_capacity(questions.len());
        for (question, gold) in &questions {
            let req = SearchRequest {
                query: question.to_string(),
                limit: 10,
                mode,
            };
            let t = Instant::now();
            let hits = library.search(&req).await?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            // Rank of the gold document among distinct documents.
            let mut seen = Vec::new();
            for h in &hits {
                if !seen.contains(&h.path) {
                    seen.push(h.path.clone());
                }
            }
            if let Some(pos) = seen.iter().position(|p| p == gold) {
                let rank = pos + 1;
                if rank == 1 {
                    m.recall_at_1 += 1.0;
                }
                if rank <= 5 {
                    m.recall_at_5 += 1.0;
                }
                m.mrr_at_10 += 1.0 / rank as f64;
                m.ndcg_at_10 += 1.0 / ((rank + 1) as f64).log2();
            }
        }
        let n = questions.len().max(1) as f64;
        m.recall_at_1 /= n;
        m.recall_at_5 /= n;
        m.mrr_at_10 /= n;
        m.ndcg_at_10 /= n;
        latencies.sort_by(|a, b| a.total_cmp(b));
        m.p50_ms = percentile(&latencies, 0.50);
        m.p95_ms = percentile(&latencies, 0.95);
        if !args.json {
            println!(
                "{:<7} n={:<5} recall@1 {:.3}  recall@5 {:.3}  MRR@10 {:.3}  nDCG@10 {:.3}  latency p50 {:.1} ms  p95 {:.1} ms",
                m.mode, m.questions, m.recall_at_1, m.recall_at_5, m.mrr_at_10, m.ndcg_at_10, m.p50_ms, m.p95_ms
            );
        }
        all.push(m);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(0)
}

fn normalize(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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
) -> Result<i32> {
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
        "first_token_ms_p50": percentile(&ttft, 0.5),
        "first_token_ms_p95": percentile(&ttft, 0.95),
        "tokens_per_s_p50": percentile(&tps, 0.5),
        "peak_rss_bytes": crate::bench::peak_rss_bytes(),
        "gate": gate,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(0)
}

/// Where `hearth models fetch halueval-qa` puts the HaluEval QA set.
pub(crate) fn default_dataset(models_dir: &Path) -> PathBuf {
    models_dir.join("halueval-qa/dataset_halueval_qa.jsonl")
}

/// One HaluEval QA row.
pub(crate) struct QaRow {
    /// The passage that answers the question.
    pub knowledge: String,
    /// The question.
    pub question: String,
    /// The gold answer.
    pub answer: String,
}

/// The first `n` rows of HaluEval QA.
pub(crate) fn load_halueval(path: &Path, n: usize) -> Result<Vec<QaRow>> {
    let file = std::fs::File::open(path).with_context(|| {
        format!(
            "{} (fetch it with `hearth models fetch halueval-qa`)",
            path.display()
        )
    })?;
    let mut rows = Vec::new();
    for line in std::io::BufReader::new(file).lines().take(n) {
        let v: serde_json::Value = serde_json::from_str(&line?)?;
        let field = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        rows.push(QaRow {
            knowledge: field("knowledge"),
            question: field("question"),
            answer: field("right_answer"),
        });
    }
    Ok(rows)
}

pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[idx]
}
