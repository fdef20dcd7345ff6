//! `hearth eval --set docs`: quality on real documents nobody at Hearth wrote.
//!
//! The corpus is two PDF manuals (Bash, gnuplot) and HTML pages of the PostgreSQL 15
//! documentation and the Debian Reference, taken from Debian's doc packages by
//! `eval/fetch-corpus.sh`. The questions (`eval/real-questions.jsonl`, compiled in) were written
//! for them the way a user asks, not copied from the text; each answerable one names its gold
//! file (and PDF pages) and short strings a right answer contains, and the unanswerable ones are
//! on-topic but answered nowhere in the corpus.
//!
//! Retrieval is scored on distinct pages (a PDF page, or an HTML file): hit@1, hit@5, MRR@10.
//! With `--answers N`, up to N answerable and N unanswerable questions are asked of the
//! language model, and the answers are scored: correct (a gold string in the answer), correct
//! and cited (also a citation on a gold page), refusals on either side, and time to first token.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hearth::Hit;
use serde::Deserialize;

use crate::eval::{normalize, percentile, score_retrieval, EvalArgs, Method, Probe};

/// A real-document question set: its corpus (fetched by `eval/fetch-corpus.sh`) and questions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocSet {
    /// Name in reports and in the work dir's file names.
    pub name: &'static str,
    /// Default corpus dir under the models dir.
    pub corpus: &'static str,
    /// Extra argument of `eval/fetch-corpus.sh` for this set.
    fetch_flag: &'static str,
    /// The questions (JSON lines, compiled in).
    questions: &'static str,
}

/// The development set: what retrieval, evidence and refusals were tuned on.
pub(crate) const DEV: DocSet = DocSet {
    name: "docs",
    corpus: "eval-real",
    fetch_flag: "",
    questions: include_str!("../../eval/real-questions.jsonl"),
};

/// The held-out set (Octave and Mnesia manuals, git's pages): only for checking what was tuned.
pub(crate) const HELDOUT: DocSet = DocSet {
    name: "heldout",
    corpus: "eval-heldout",
    fetch_flag: "--heldout ",
    questions: include_str!("../../eval/heldout-questions.jsonl"),
};

/// One question of the real-document set.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DocQuestion {
    pub id: String,
    pub question: String,
    /// Gold file, relative to the corpus dir (`None` for unanswerable questions).
    pub file: Option<String>,
    /// Other files that state the answer too.
    #[serde(default)]
    pub also_files: Vec<String>,
    /// Gold pages of a PDF (physical, 1-based); `None` for HTML.
    pub pages: Option<Vec<u32>>,
    /// A right answer contains one of these (case and punctuation folded).
    pub answers: Vec<String>,
    pub answerable: bool,
}

impl DocQuestion {
    /// Whether `path` (absolute) / `page` is a page that answers this question.
    fn is_gold(&self, corpus: &Path, path: &str, page: Option<u32>) -> bool {
        let in_file = self
            .file
            .iter()
            .chain(&self.also_files)
            .any(|f| Path::new(path) == corpus.join(f));
        in_file
            && match (&self.pages, page) {
                (Some(pages), Some(p)) => pages.contains(&p),
                (Some(_), None) => false,
                (None, _) => true,
            }
    }

    fn answered_right(&self, answer: &str) -> bool {
        let a = normalize(answer);
        self.answers.iter().any(|g| {
            let g = normalize(g);
            !g.is_empty() && a.contains(&g)
        })
    }
}

pub(crate) fn load_questions(set: &DocSet, path: Option<&Path>) -> Result<Vec<DocQuestion>> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| p.display().to_string())?,
        None => set.questions.to_string(),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("question line {}", i + 1)))
        .collect()
}

/// The unit retrieval is scored on: a PDF page, or a whole (HTML, text) file.
fn page_unit(h: &Hit) -> String {
    format!("{}#{}", h.path, h.page.unwrap_or(0))
}

pub(crate) async fn run(
    set: &DocSet,
    models_dir: &Option<PathBuf>,
    work: &Path,
    args: &EvalArgs,
) -> Result<()> {
    let config = crate::config_from(&Some(work.join("data")), models_dir)?;
    let corpus = args
        .docs_dir
        .clone()
        .unwrap_or_else(|| config.models_dir.join(set.corpus));
    if !corpus.join(".complete").exists() {
        bail!(
            "no real-document corpus in {} (fetch it with `eval/fetch-corpus.sh {}{}`)",
            corpus.display(),
            set.fetch_flag,
            corpus.display()
        );
    }
    let corpus = std::fs::canonicalize(&corpus)?;
    let questions = load_questions(set, args.docs_questions.as_deref())?;
    for q in questions.iter().filter(|q| q.answerable) {
        for f in q.file.iter().chain(&q.also_files) {
            if !corpus.join(f).is_file() {
                bail!("question {}: {} is not in {}", q.id, f, corpus.display());
            }
        }
    }
    let library = crate::open_library(config.clone()).await?;
    let started = Instant::now();
    let report = crate::ingest_with_progress(&library, std::slice::from_ref(&corpus), true).await?;
    eprintln!(
        "docs ingest: {} indexed, {} unchanged, {} chunks, {} failed in {:.1} s",
        report.indexed,
        report.skipped,
        report.chunks,
        report.failed.len(),
        started.elapsed().as_secs_f64()
    );
    for f in &report.failed {
        eprintln!("  failed: {} ({})", f.path, f.error);
    }
    let answerable: Vec<&DocQuestion> = questions.iter().filter(|q| q.answerable).collect();
    let unanswerable: Vec<&DocQuestion> = questions.iter().filter(|q| !q.answerable).collect();
    let corpus_ref = &corpus;
    let probes: Vec<Probe<'_>> = answerable
        .iter()
        .map(|q| Probe {
            question: &q.question,
            unit: Box::new(page_unit),
            gold: Box::new(move |h: &Hit| q.is_gold(corpus_ref, &h.path, h.page)),
        })
        .collect();
    let (metrics, latency) = score_retrieval(
        &library,
        &probes,
        &Method::all(&args.methods),
        set.name,
        args.json,
        args.work_dir
            .as_ref()
            .map(|w| w.join(format!("candidates-{}.jsonl", set.name)))
            .as_deref(),
    )
    .await?;
    if let Some(w) = &args.work_dir {
        let off_corpus: Vec<Probe<'_>> = unanswerable
            .iter()
            .map(|q| Probe {
                question: &q.question,
                unit: Box::new(page_unit),
                gold: Box::new(|_: &Hit| false),
            })
            .collect();
        let path = w.join(format!("candidates-{}-unanswerable.jsonl", set.name));
        crate::eval::dump_candidates(&library, &off_corpus, &path).await?;
    }
    let mut out = serde_json::json!({
        "set": set.name,
        "corpus": corpus,
        "documents": report.indexed + report.skipped,
        "chunks": hearth::status(&config).await?.chunks,
        "answerable": answerable.len(),
        "unanswerable": unanswerable.len(),
        "retrieval": metrics,
        "search_latency_ms": {"p50": latency.0, "p95": latency.1},
    });
    if args.answers > 0 {
        out["answers"] = eval_answers(
            set,
            &library,
            &config,
            &corpus,
            &answerable,
            &unanswerable,
            args,
        )
        .await?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(())
}

/// One asked question, as scored (also written to `<work dir>/answers-<set>.jsonl`).
#[derive(Debug, serde::Serialize)]
struct Asked {
    id: String,
    question: String,
    answerable: bool,
    /// Declined before generation by the similarity gate.
    gated: bool,
    /// Declined before generation because the question names what no chunk mentions
    /// (`answer.decline_unknown_terms`; the model was still asked, to score the other rules).
    names_unknown: bool,
    /// The probability the model gave "not in your documents".
    decline_probability: f32,
    /// The model's answer (made to answer: it never declined at its first step).
    answer: String,
    /// The model still wrote a decline somewhere in its answer.
    wrote_decline: bool,
    /// The answer opens with 60+ characters copied verbatim from the evidence (it echoed an
    /// excerpt instead of answering).
    copied: bool,
    correct: bool,
    cites_gold: bool,
    /// The sources the answer cites (by number), and whether Hearth attributed it.
    cited: Vec<usize>,
    attributed: bool,
    /// The sources (by number) on a gold page.
    gold_sources: Vec<usize>,
    gold_in_prompt: bool,
    /// A gold answer string is in the evidence the model was shown.
    answer_in_prompt: bool,
    best_similarity: f32,
    unknown_terms: Vec<String>,
    first_token_ms: f64,
    evidence_ms: f64,
    prompt_tokens: usize,
    tokens_per_s: f64,
    completion_tokens: usize,
    drafted_tokens: usize,
    accepted_tokens: usize,
    evidence: Vec<String>,
}

impl Asked {
    /// Whether the answerer declines this question with `answer.decline_probability = t`.
    fn declined_at(&self, t: f32) -> bool {
        self.gated || self.names_unknown || self.wrote_decline || self.decline_probability >= t
    }
}

/// Whether `answer` (citation markers aside) opens with at least 60 characters found verbatim
/// in one of `sources`.
fn copied(answer: &str, sources: &[hearth::Citation]) -> bool {
    let (plain, _, _) = hearth::answer::resolve_citations(answer, 0);
    let a = normalize(&plain);
    let Some((end, _)) = a.char_indices().nth(60) else {
        return false;
    };
    sources
        .iter()
        .any(|s| normalize(&s.text).contains(&a[..end]))
}

/// The answer metrics if the answerer declines at `answer.decline_probability = t`.
fn score_at(asked: &[Asked], t: f32) -> serde_json::Value {
    let (yes, no): (Vec<&Asked>, Vec<&Asked>) = asked.iter().partition(|a| a.answerable);
    let share = |v: &[&Asked], f: &dyn Fn(&Asked) -> bool| {
        v.iter().filter(|a| f(a)).count() as f64 / v.len().max(1) as f64
    };
    serde_json::json!({
        "decline_probability": t,
        "answer_correct": share(&yes, &|a| !a.declined_at(t) && a.correct),
        "correct_and_cited": share(&yes, &|a| !a.declined_at(t) && a.correct && a.cites_gold),
        "cites_gold_page": share(&yes, &|a| !a.declined_at(t) && a.cites_gold),
        "refused_answerable": share(&yes, &|a| a.declined_at(t)),
        "copied_an_excerpt": share(&yes, &|a| !a.declined_at(t) && a.copied),
        "declined_unanswerable": share(&no, &|a| a.declined_at(t)),
    })
}

/// Ask up to `--answers` answerable and as many unanswerable questions. The model is made to
/// answer every one while the probability it gave "not in your documents" is recorded, so the
/// metrics can be given for any `answer.decline_probability` from the one run: the configured
/// one first, then a sweep.
async fn eval_answers(
    set: &DocSet,
    library: &hearth::Library,
    config: &hearth::Config,
    corpus: &Path,
    answerable: &[&DocQuestion],
    unanswerable: &[&DocQuestion],
    args: &EvalArgs,
) -> Result<serde_json::Value> {
    let llm = crate::answer::load_answerer(config, args.model.as_deref()).await?;
    let cancel = hearth::Cancel::new();
    let mut cfg = config.answer.clone();
    let threshold = cfg.decline_probability;
    cfg.decline_probability = f32::INFINITY;
    let unknown_rule = cfg.decline_unknown_terms;
    cfg.decline_unknown_terms = false;
    let n = args.answers.min(answerable.len());
    let m = args.answers.min(unanswerable.len());
    let mut asked: Vec<Asked> = Vec::new();
    for (i, q) in answerable
        .iter()
        .take(n)
        .chain(unanswerable.iter().take(m))
        .enumerate()
    {
        let a = hearth::answer::ask(
            library,
            llm.clone(),
            &q.question,
            &[],
            &cfg,
            &cancel,
            Box::new(|_| {}),
        )
        .await?;
        let gated = a.not_found && a.decline_probability.is_none();
        let gold_sources: Vec<usize> = a
            .sources
            .iter()
            .filter(|c| q.is_gold(corpus, &c.path, c.page))
            .map(|c| c.n)
            .collect();
        let record = Asked {
            id: q.id.clone(),
            question: q.question.clone(),
            answerable: q.answerable,
            gated,
            names_unknown: unknown_rule && !a.unknown_terms.is_empty(),
            decline_probability: a.decline_probability.unwrap_or(1.0),
            wrote_decline: !gated
                && (a.not_found || normalize(&a.answer).contains("couldn t find")),
            correct: q.answerable && q.answered_right(&a.answer),
            copied: copied(&a.answer, &a.sources),
            cites_gold: a.citations.iter().any(|c| gold_sources.contains(&c.n)),
            cited: a.citations.iter().map(|c| c.n).collect(),
            attributed: a.citations.iter().any(|c| c.attributed),
            gold_in_prompt: !gold_sources.is_empty(),
            gold_sources,
            answer_in_prompt: q.answerable && a.sources.iter().any(|c| q.answered_right(&c.text)),
            best_similarity: a.best_similarity,
            unknown_terms: a.unknown_terms.clone(),
            first_token_ms: a.timings.first_token_ms,
            evidence_ms: a.timings.evidence_ms,
            prompt_tokens: a.timings.prompt_tokens,
            tokens_per_s: a.timings.tokens_per_s,
            completion_tokens: a.timings.completion_tokens,
            drafted_tokens: a.timings.drafted_tokens,
            accepted_tokens: a.timings.accepted_tokens,
            evidence: a.sources.iter().map(|c| c.text.clone()).collect(),
            answer: a.answer.clone(),
        };
        if !args.json {
            let verdict = match (q.answerable, record.declined_at(threshold)) {
                (true, true) => "REFUSED",
                (true, false) if record.correct && record.cites_gold => "OK",
                (true, false) if record.correct => "OK-UNCITED",
                (true, false) => "WRONG",
                (false, true) => "DECLINED",
                (false, false) => "ANSWERED",
            };
            eprintln!(
                "[{}/{}] {verdict:<10} p={:.2} {} | {} | gold: {} | {}",
                i + 1,
                n + m,
                record.decline_probability,
                q.id,
                q.question,
                q.answers.join(" / "),
                crate::snippet(&a.answer, 160)
            );
        }
        asked.push(record);
    }
    if let Some(work) = &args.work_dir {
        let lines: Vec<String> = asked
            .iter()
            .map(serde_json::to_string)
            .collect::<std::result::Result<_, _>>()?;
        crate::eval::write_lines(&work.join(format!("answers-{}.jsonl", set.name)), &lines)?;
    }
    let sorted = |f: &dyn Fn(&Asked) -> f64| {
        let mut v: Vec<f64> = asked
            .iter()
            .filter(|a| a.prompt_tokens > 0)
            .map(f)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let ttft = sorted(&|a| a.first_token_ms);
    let prompt_tokens = sorted(&|a| a.prompt_tokens as f64);
    let evidence_ms = sorted(&|a| a.evidence_ms);
    // decode speed over answers long enough to measure (speculation included)
    let decode: Vec<f64> = {
        let mut v: Vec<f64> = asked
            .iter()
            .filter(|a| a.completion_tokens >= 8)
            .map(|a| a.tokens_per_s)
            .collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let drafted: usize = asked.iter().map(|a| a.drafted_tokens).sum();
    let accepted: usize = asked.iter().map(|a| a.accepted_tokens).sum();
    let generated: usize = asked.iter().map(|a| a.completion_tokens).sum();
    let (yes, no): (Vec<&Asked>, Vec<&Asked>) = asked.iter().partition(|a| a.answerable);
    let gold_in_prompt =
        yes.iter().filter(|a| a.gold_in_prompt).count() as f64 / yes.len().max(1) as f64;
    let answer_in_prompt =
        yes.iter().filter(|a| a.answer_in_prompt).count() as f64 / yes.len().max(1) as f64;
    // what answer.min_similarity would decline before generation, on either side
    let gate: Vec<serde_json::Value> = [0.2f32, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
        .iter()
        .map(|&t| {
            let share = |v: &[&Asked]| {
                v.iter().filter(|a| a.best_similarity < t).count() as f64 / v.len().max(1) as f64
            };
            serde_json::json!({
                "min_similarity": t,
                "declines_answerable": share(&yes),
                "declines_unanswerable": share(&no),
            })
        })
        .collect();
    let unknown = |v: &[&Asked]| {
        v.iter().filter(|a| !a.unknown_terms.is_empty()).count() as f64 / v.len().max(1) as f64
    };
    let unknown_terms = serde_json::json!({
        "declines_answerable": unknown(&yes),
        "declines_unanswerable": unknown(&no),
        "applied": unknown_rule,
    });
    let sweep: Vec<serde_json::Value> = [0.1f32, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 2.0]
        .iter()
        .map(|&t| score_at(&asked, t))
        .collect();
    let mut out = serde_json::json!({
        "model": llm.info().name,
        "answerable": n,
        "unanswerable": m,
        "gold_page_in_prompt": gold_in_prompt,
        "gold_answer_in_prompt": answer_in_prompt,
        "first_token_ms_p50": percentile(&ttft, 0.5),
        "first_token_ms_p95": percentile(&ttft, 0.95),
        "prompt_tokens_p50": percentile(&prompt_tokens, 0.5),
        "evidence_ms_p50": percentile(&evidence_ms, 0.5),
        "evidence_ms_p95": percentile(&evidence_ms, 0.95),
        "decode_tokens_per_s_p50": percentile(&decode, 0.5),
        "decode_tokens_per_s_mean": decode.iter().sum::<f64>() / decode.len().max(1) as f64,
        "speculation": {
            "generated_tokens": generated,
            "drafted_tokens": drafted,
            "accepted_tokens": accepted,
            "acceptance_rate": accepted as f64 / drafted.max(1) as f64,
            "accepted_share_of_answer": accepted as f64 / generated.max(1) as f64,
        },
        "decline_sweep": sweep,
        "gate": gate,
        "unknown_terms": unknown_terms,
    });
    if let (Some(o), serde_json::Value::Object(at)) =
        (out.as_object_mut(), score_at(&asked, threshold))
    {
        o.extend(at);
    }
    if !args.json {
        println!("{} answers: {}", set.name, serde_json::to_string(&out)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_questions_are_well_formed() {
        for (set, min_answerable, min_unanswerable) in [(DEV, 60, 20), (HELDOUT, 30, 15)] {
            check_questions(
                &load_questions(&set, None).unwrap(),
                min_answerable,
                min_unanswerable,
            );
        }
    }

    fn check_questions(qs: &[DocQuestion], min_answerable: usize, min_unanswerable: usize) {
        let answerable = qs.iter().filter(|q| q.answerable).count();
        assert!(
            answerable >= min_answerable,
            "{answerable} answerable questions"
        );
        assert!(qs.len() - answerable >= min_unanswerable);
        let mut ids: Vec<&str> = qs.iter().map(|q| q.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), qs.len(), "question ids are unique");
        for q in qs {
            assert_eq!(q.answerable, q.file.is_some(), "{}", q.id);
            assert_eq!(q.answerable, !q.answers.is_empty(), "{}", q.id);
            if let Some(f) = &q.file {
                assert_eq!(f.ends_with(".pdf"), q.pages.is_some(), "{}", q.id);
            }
        }
    }

    #[test]
    fn gold_pages_and_answers_are_matched_as_documented() {
        let q = DocQuestion {
            id: "x".into(),
            question: "how do I keep more history?".into(),
            file: Some("bash/bashref.pdf".into()),
            also_files: vec![],
            pages: Some(vec![12, 13]),
            answers: vec!["HISTSIZE".into()],
            answerable: true,
        };
        let corpus = Path::new("/c");
        assert!(q.is_gold(corpus, "/c/bash/bashref.pdf", Some(13)));
        assert!(!q.is_gold(corpus, "/c/bash/bashref.pdf", Some(14)));
        assert!(!q.is_gold(corpus, "/c/other.pdf", Some(13)));
        assert!(q.answered_right("Set `histsize` higher [1]."));
        assert!(!q.answered_right("Use HISTFILE."));
    }
}
