//! `hearth eval`: retrieval and answer quality on HaluEval QA and on real documents
//! ([`crate::eval_docs`]: manuals from Debian's doc packages with questions written for them).
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
use hearth::retrieve::{best_sentence_coverage, fuse, rerank, Fusion, HYBRID_DEPTH};
use hearth::{Hit, Library, SearchRequest};

/// Which evaluation sets `hearth eval` runs.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSet {
    /// HaluEval QA (short Wikipedia passages; its questions reuse their passages' words).
    Halueval,
    /// Real documents: PDF and HTML manuals nobody at Hearth wrote, paraphrased questions.
    Docs,
    /// Both (not the held-out set).
    All,
    /// The held-out real documents (Octave and Mnesia manuals, git's pages): for checking what
    /// was tuned on `docs`, with its own corpus (`eval/fetch-corpus.sh --heldout`).
    Heldout,
    /// Every corpus of the suite (manuals, news, letters, mail, reports), the `--split` part of
    /// each (`eval/fetch-corpus.sh`, `eval/fetch-corpus.sh --heldout`, `eval/fetch-suite.sh`).
    Suite,
    /// `hearth summarize` on news articles with reference summaries: ROUGE against them and
    /// against the lead-3 baseline, unsupported sentences, seconds per article.
    Summaries,
}

/// Arguments of `hearth eval`.
#[derive(clap::Args)]
pub struct EvalArgs {
    /// Which set(s) to run.
    #[arg(long, value_enum, default_value_t = EvalSet::All)]
    pub set: EvalSet,
    /// The real-document corpus [default: <models dir>/eval-real, made by eval/fetch-corpus.sh]
    #[arg(long)]
    pub docs_dir: Option<PathBuf>,
    /// Questions for the real documents [default: the built-in eval/real-questions.jsonl]
    #[arg(long)]
    pub docs_questions: Option<PathBuf>,
    /// The folder holding the suite's corpora (eval-real, eval-heldout, eval-suite/)
    /// [default: the models dir]
    #[arg(long)]
    pub corpora_dir: Option<PathBuf>,
    /// Only these corpora of the suite (manuals, news, letters, mail, reports). Repeatable.
    #[arg(long = "corpus")]
    pub corpora: Vec<String>,
    /// Which part of the suite's questions: dev (tune on it), heldout (report only) or all.
    #[arg(long, value_enum, default_value_t = crate::eval_docs::Split::Dev)]
    pub split: crate::eval_docs::Split,
    /// Also score these rankings: fusions of the vector and BM25 lists (rrf[:TEXT_WEIGHT],
    /// convex[:VECTOR_WEIGHT], zscore[:VECTOR_WEIGHT]) or the default fusion reranked
    /// (rerank:WEIGHT). Repeatable.
    #[arg(long = "method", value_parser = parse_method)]
    pub methods: Vec<Method>,
    /// HaluEval QA jsonl [default: <models dir>/halueval-qa/dataset_halueval_qa.jsonl]
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Questions to ask.
    #[arg(long, default_value_t = 2000)]
    pub questions: usize,
    /// Passages to index (questions are taken from these rows).
    #[arg(long, default_value_t = 10000)]
    pub passages: usize,
    /// Keep the index here (reused when it exists) instead of a temp dir; each question's
    /// candidates (and answers, with --answers) are written here as JSON lines too.
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Instead of retrieval metrics, ask this many questions with the language model (and as
    /// many whose passage is not indexed) and score the answers.
    #[arg(long, default_value_t = 0)]
    pub answers: usize,
    /// Language model for --answers.
    #[arg(long)]
    pub model: Option<String>,
    /// Articles to summarize with --set summaries (0: all 100).
    #[arg(long, default_value_t = 0)]
    pub summaries: usize,
}

fn parse_method(s: &str) -> std::result::Result<Method, String> {
    let (kind, weight) = match s.split_once(':') {
        Some((k, w)) => (k, Some(w.parse::<f32>().map_err(|e| format!("{w}: {e}"))?)),
        None => (s, None),
    };
    match kind {
        "rrf" => Ok(Method::Fused(Fusion::Rrf {
            k: 60.0,
            vector_weight: 1.0,
            text_weight: weight.unwrap_or(1.0),
        })),
        "convex" => Ok(Method::Fused(Fusion::Convex {
            vector_weight: weight.unwrap_or(0.5),
        })),
        "zscore" => Ok(Method::Fused(Fusion::ZScore {
            vector_weight: weight.unwrap_or(0.6),
        })),
        "rerank" => Ok(Method::Reranked(weight.unwrap_or(0.3))),
        other => Err(format!(
            "unknown method '{other}' (rrf[:TEXT_WEIGHT], convex[:VECTOR_WEIGHT], zscore[:VECTOR_WEIGHT], rerank[:WEIGHT])"
        )),
    }
}

/// A ranking method scored by the evaluation: one first-stage list, or a fusion of both.
#[derive(Clone, Copy, Debug)]
pub enum Method {
    Vector,
    Text,
    Fused(Fusion),
    /// The default fusion's top [`RERANK_DEPTH`], reranked with this weight.
    Reranked(f32),
}

/// Fused candidates the rerank method re-orders.
const RERANK_DEPTH: usize = 30;

impl Method {
    pub(crate) fn name(&self) -> String {
        match self {
            Method::Vector => "vector".into(),
            Method::Text => "text".into(),
            Method::Fused(f) if *f == Fusion::default() => "hybrid".into(),
            Method::Fused(Fusion::Rrf { text_weight, .. }) => format!("rrf:{text_weight}"),
            Method::Fused(Fusion::Convex { vector_weight }) => format!("convex:{vector_weight}"),
            Method::Fused(Fusion::ZScore { vector_weight }) => format!("zscore:{vector_weight}"),
            Method::Reranked(w) => format!("rerank:{w}"),
        }
    }

    /// The methods an evaluation scores: vector, text, the default hybrid, then `extra` fusions.
    pub(crate) fn all(extra: &[Method]) -> Vec<Method> {
        let mut v = vec![
            Method::Vector,
            Method::Text,
            Method::Fused(Fusion::default()),
        ];
        v.extend(extra.iter().copied());
        v
    }
}

/// Rank metrics of one method over a question set.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct Metrics {
    pub mode: String,
    pub questions: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub mrr_at_10: f64,
    pub ndcg_at_10: f64,
}

/// Depth of each first-stage list that the scored methods rank from.
const DEPTH: usize = 50;

/// A question and how to recognise a right hit for it.
pub(crate) struct Probe<'a> {
    pub question: &'a str,
    /// The unit a hit counts as (a document, or a document's page): ranks are over distinct units.
    pub unit: Box<dyn Fn(&Hit) -> String + 'a>,
    /// Whether a hit is (in) a gold unit.
    pub gold: Box<dyn Fn(&Hit) -> bool + 'a>,
}

/// Score every method on `probes` from one candidates call per question (the same first-stage
/// lists feed every fusion), and measure the default search's latency. Prints a line per method
/// unless `json`; returns the metrics and the (p50, p95) latency in ms.
pub(crate) async fn score_retrieval(
    library: &Library,
    probes: &[Probe<'_>],
    methods: &[Method],
    label: &str,
    json: bool,
    dump: Option<&Path>,
) -> Result<(Vec<Metrics>, (f64, f64))> {
    let mut all: Vec<Metrics> = methods
        .iter()
        .map(|m| Metrics {
            mode: m.name(),
            questions: probes.len(),
            ..Default::default()
        })
        .collect();
    let mut latencies = Vec::with_capacity(probes.len());
    let mut dumped = Vec::new();
    for p in probes {
        let t = Instant::now();
        library.search(&SearchRequest::new(p.question)).await?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        let (vector, text) = library.candidates(p.question, DEPTH).await?;
        if dump.is_some() {
            dumped.push(candidates_line(p, &vector, &text));
        }
        for (m, metrics) in methods.iter().zip(all.iter_mut()) {
            let hits = match m {
                Method::Vector => vector.clone(),
                Method::Text => text.clone(),
                // as hybrid search fuses them: the first HYBRID_DEPTH of each list
                Method::Fused(f) => fuse(
                    vector[..vector.len().min(HYBRID_DEPTH)].to_vec(),
                    text[..text.len().min(HYBRID_DEPTH)].to_vec(),
                    *f,
                    DEPTH,
                ),
                Method::Reranked(w) => rerank(
                    p.question,
                    fuse(
                        vector.clone(),
                        text.clone(),
                        Fusion::default(),
                        RERANK_DEPTH,
                    ),
                    *w,
                ),
            };
            if let Some(rank) = gold_rank(&hits, &p.unit, &p.gold, 10) {
                metrics.recall_at_1 += (rank == 1) as u8 as f64;
                metrics.recall_at_5 += (rank <= 5) as u8 as f64;
                metrics.mrr_at_10 += 1.0 / rank as f64;
                metrics.ndcg_at_10 += 1.0 / ((rank + 1) as f64).log2();
            }
        }
    }
    if let Some(path) = dump {
        write_lines(path, &dumped)?;
    }
    let n = probes.len().max(1) as f64;
    for m in &mut all {
        m.recall_at_1 /= n;
        m.recall_at_5 /= n;
        m.mrr_at_10 /= n;
        m.ndcg_at_10 /= n;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let latency = (percentile(&latencies, 0.5), percentile(&latencies, 0.95));
    if !json {
        for m in &all {
            println!(
                "{label:<9} {:<11} n={:<5} hit@1 {:.3}  hit@5 {:.3}  MRR@10 {:.3}  nDCG@10 {:.3}",
                m.mode, m.questions, m.recall_at_1, m.recall_at_5, m.mrr_at_10, m.ndcg_at_10
            );
        }
        println!(
            "{label:<9} search latency (default hybrid, 10 hits): p50 {:.1} ms  p95 {:.1} ms",
            latency.0, latency.1
        );
    }
    Ok((all, latency))
}

/// Write `lines` to `path`, one per line (a JSON-lines file).
pub(crate) fn write_lines(path: &Path, lines: &[String]) -> Result<()> {
    std::fs::write(path, lines.join("\n") + "\n").with_context(|| path.display().to_string())
}

/// Write `items` to `path` as JSON lines.
pub(crate) fn write_jsonl<T: serde::Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let lines: Vec<String> = items
        .iter()
        .map(serde_json::to_string)
        .collect::<std::result::Result<_, _>>()?;
    write_lines(path, &lines)
}

/// One question's first-stage lists as a JSON line, for studying fusions offline: each hit's
/// unit, whether it is gold, its score, its best sentence's coverage of the question, its
/// heading and its text.
fn candidates_line(p: &Probe<'_>, vector: &[Hit], text: &[Hit]) -> String {
    let list = |hits: &[Hit]| {
        let coverage = best_sentence_coverage(p.question, hits);
        hits.iter()
            .zip(coverage)
            .map(|(h, c)| {
                serde_json::json!({
                    "id": h.chunk_id, "unit": (p.unit)(h), "gold": (p.gold)(h),
                    "score": h.score, "coverage": c, "heading": h.heading, "text": h.text,
                })
            })
            .collect::<Vec<_>>()
    };
    serde_json::json!({"question": p.question, "vector": list(vector), "text": list(text)})
        .to_string()
}

/// 1-based rank of the first gold unit among the first `within` distinct units of `hits`.
pub(crate) fn gold_rank(
    hits: &[Hit],
    unit: &dyn Fn(&Hit) -> String,
    gold: &dyn Fn(&Hit) -> bool,
    within: usize,
) -> Option<usize> {
    let mut seen: Vec<String> = Vec::new();
    for h in hits {
        let u = unit(h);
        if !seen.contains(&u) {
            if seen.len() == within {
                return None;
            }
            seen.push(u);
        }
        if gold(h) {
            return Some(seen.len());
        }
    }
    None
}

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
    use crate::eval_docs::{run_parts, Split, DEV, HELDOUT, SUITE};
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

pub(crate) fn normalize(s: &str) -> String {
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
) -> Result<()> {
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
        "peak_rss_bytes": crate::bench::peak_rss_bytes(),
        "gate": gate,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
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
