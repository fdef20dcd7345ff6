//! `hearth eval --set suite` (and `--set docs`, `--set heldout`): quality on real documents
//! nobody at Hearth wrote, corpus by corpus.
//!
//! The suite has five corpora, each a folder of real documents with questions written for them
//! the way a person asks (paraphrased, not copied from the text; some naming a document by its
//! sender, title or file name), each answerable one with its gold file (PDF pages, or a heading
//! for long books) and short strings a right answer contains, and about a quarter on-topic but
//! answered nowhere in the corpus:
//!
//! * `manuals`: PDF and HTML manuals from Debian's doc packages (`eval/fetch-corpus.sh`): the
//!   development part is Bash, gnuplot, PostgreSQL and the Debian Reference
//!   (`eval/real-questions.jsonl`), the held-out part Octave, Mnesia and git
//!   (`eval/heldout-questions.jsonl`, `eval/fetch-corpus.sh --heldout`).
//! * `news`, `letters`, `mail`, `reports` (`eval/fetch-suite.sh`, `eval/suite/*.jsonl`): CNN /
//!   Daily Mail articles; the New Testament epistles and three novels (.txt, .epub, .docx);
//!   Usenet posts with their headers (.eml); minutes of a 1992 workshop, Debian's founding
//!   documents and 1961 government reports (.docx, .odt, .html, .txt). Each question carries its
//!   part (`split`: dev or heldout).
//!
//! Tune on `--split dev` (the default); run `--split heldout` only to report. Retrieval is
//! scored on distinct units (a PDF page, else a file): hit@1, hit@5, MRR@10 for vector, BM25 and
//! the default hybrid. With `--answers N`, up to N answerable and N unanswerable questions of
//! each part are asked and the answers scored: right (a gold string in the answer), right and
//! cited (also a citation of the gold file / page / section), unanswerable declined, answerable
//! declined, answers that only restate the question, quotes, time to first token.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use hearth::Hit;
use serde::Deserialize;

use crate::eval_args::{EvalArgs, Split};
use crate::measure::{percentile, write_jsonl};
use crate::scoring::{normalize, score_retrieval, Method, Metrics, Probe};

/// A folder of documents with its questions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Part {
    /// The corpus it belongs to (reports are per corpus and split).
    pub corpus: &'static str,
    /// Its folder, under the corpora dir (the models dir unless `--corpora-dir`).
    pub dir: &'static str,
    /// The command that fetches it.
    fetch: &'static str,
    /// The questions (JSON lines, compiled in).
    questions: &'static str,
    /// The split of all its questions (else each question says).
    split: Option<Split>,
}

/// The manuals' development part: what retrieval, evidence and refusals were first tuned on.
pub(crate) const DEV: Part = Part {
    corpus: "manuals",
    dir: "eval-real",
    fetch: "eval/fetch-corpus.sh",
    questions: include_str!("../../eval/real-questions.jsonl"),
    split: Some(Split::Dev),
};

/// The manuals' held-out part (Octave and Mnesia manuals, git's pages).
pub(crate) const HELDOUT: Part = Part {
    corpus: "manuals",
    dir: "eval-heldout",
    fetch: "eval/fetch-corpus.sh --heldout",
    questions: include_str!("../../eval/heldout-questions.jsonl"),
    split: Some(Split::Heldout),
};

const fn suite_part(corpus: &'static str, dir: &'static str, questions: &'static str) -> Part {
    Part {
        corpus,
        dir,
        fetch: "eval/fetch-suite.sh",
        questions,
        split: None,
    }
}

/// Every part of the suite, in report order.
pub(crate) const SUITE: [Part; 6] = [
    DEV,
    HELDOUT,
    suite_part(
        "news",
        "eval-suite/news",
        include_str!("../../eval/suite/news.jsonl"),
    ),
    suite_part(
        "letters",
        "eval-suite/letters",
        include_str!("../../eval/suite/letters.jsonl"),
    ),
    suite_part(
        "mail",
        "eval-suite/mail",
        include_str!("../../eval/suite/mail.jsonl"),
    ),
    suite_part(
        "reports",
        "eval-suite/reports",
        include_str!("../../eval/suite/reports.jsonl"),
    ),
];

/// One question of a corpus.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DocQuestion {
    pub id: String,
    pub question: String,
    /// Gold file, relative to the corpus dir (`None` for unanswerable questions).
    pub file: Option<String>,
    /// Other files that state the answer too.
    #[serde(default)]
    pub also_files: Vec<String>,
    /// Gold pages of a PDF (physical, 1-based); `None` for other files.
    pub pages: Option<Vec<u32>>,
    /// For long books: a right passage's heading path contains this (case folded).
    #[serde(default)]
    pub section: Option<String>,
    /// A right answer contains one of these (case and punctuation folded).
    pub answers: Vec<String>,
    pub answerable: bool,
    /// Development or held-out part (when the part does not fix it).
    #[serde(default)]
    pub split: Option<Split>,
}

impl DocQuestion {
    /// Whether `path` (absolute) / `page` / `heading` is a place that answers this question.
    pub(crate) fn is_gold(
        &self,
        corpus: &Path,
        path: &str,
        page: Option<u32>,
        heading: &str,
    ) -> bool {
        let in_file = self
            .file
            .iter()
            .chain(&self.also_files)
            .any(|f| Path::new(path) == corpus.join(f));
        let in_section = match &self.section {
            Some(s) => heading.to_lowercase().contains(&s.to_lowercase()),
            None => true,
        };
        in_file
            && in_section
            && match (&self.pages, page) {
                (Some(pages), Some(p)) => pages.contains(&p),
                (Some(_), None) => false,
                (None, _) => true,
            }
    }

    pub(crate) fn answered_right(&self, answer: &str) -> bool {
        let a = format!(" {} ", answer_form(answer));
        self.answers.iter().any(|g| {
            let g = answer_form(g);
            !g.is_empty() && a.contains(&format!(" {g} "))
        })
    }
}

/// `text` as answers are compared: [`normalize`]d, with thousands separators dropped
/// ("1,000" is "1000") and number words up to ninety-nine written as digits ("twenty-six" is
/// "26", "nine" is "9"), so a right answer in the other form counts.
fn answer_form(text: &str) -> String {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = [
        "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
    ];
    let chars: Vec<char> = text.chars().collect();
    let joined: String = chars
        .iter()
        .enumerate()
        .filter(|&(i, &c)| {
            !(c == ','
                && i > 0
                && chars[i - 1].is_ascii_digit()
                && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        })
        .map(|(_, c)| *c)
        .collect();
    let words: Vec<String> = normalize(&joined).split(' ').map(str::to_string).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if let Some(t) = TENS.iter().position(|x| *x == w) {
            let unit = words
                .get(i + 1)
                .and_then(|n| UNITS[1..10].iter().position(|x| x == n));
            match unit {
                Some(u) => {
                    out.push(((t + 2) * 10 + u + 1).to_string());
                    i += 2;
                }
                None => {
                    out.push(((t + 2) * 10).to_string());
                    i += 1;
                }
            }
            continue;
        }
        match UNITS.iter().position(|x| *x == w) {
            Some(u) => out.push(u.to_string()),
            None => out.push(w.to_string()),
        }
        i += 1;
    }
    out.join(" ")
}

pub(crate) fn load_questions(part: &Part, path: Option<&Path>) -> Result<Vec<DocQuestion>> {
    let text = match path {
        Some(p) => std::fs::read_to_string(p).with_context(|| p.display().to_string())?,
        None => part.questions.to_string(),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let mut q: DocQuestion = serde_json::from_str(l)
                .with_context(|| format!("{} question line {}", part.corpus, i + 1))?;
            if let Some(s) = part.split {
                q.split = Some(s);
            }
            Ok(q)
        })
        .collect()
}

/// The unit retrieval is scored on: a PDF page, or a whole file.
fn page_unit(h: &Hit) -> String {
    format!("{}#{}", h.path, h.page.unwrap_or(0))
}

/// What one part reports for one split.
#[derive(Debug, serde::Serialize)]
pub(crate) struct PartReport {
    corpus: &'static str,
    split: Split,
    dir: String,
    documents: usize,
    chunks: usize,
    answerable: usize,
    unanswerable: usize,
    retrieval: Vec<Metrics>,
    search_latency_ms: (f64, f64),
    #[serde(skip_serializing_if = "Option::is_none")]
    answers: Option<serde_json::Value>,
    #[serde(skip)]
    asked: Vec<Asked>,
    /// With --evidence: each answerable question's evidence, scored.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evidence: Vec<crate::eval_evidence::Probed>,
}

/// Run `parts` (only their questions of `split`), one library per part in `work`; prints a
/// table per corpus and split at the end.
pub(crate) async fn run_parts(
    parts: &[Part],
    split: Split,
    models_dir: &Option<PathBuf>,
    work: &Path,
    args: &EvalArgs,
) -> Result<()> {
    let mut reports: Vec<PartReport> = Vec::new();
    for part in parts {
        if !args.corpora.is_empty() && !args.corpora.iter().any(|c| c == part.corpus) {
            continue;
        }
        let dir_name = part.dir.replace('/', "-");
        for s in [Split::Dev, Split::Heldout] {
            if !split.admits(s) || part.split.is_some_and(|p| p != s) {
                continue;
            }
            if let Some(r) = run_part(part, s, models_dir, &work.join(&dir_name), args).await? {
                reports.push(r);
            }
        }
    }
    if args.evidence {
        return print_evidence(&reports, args);
    }
    let table = summary_table(&reports);
    if args.json {
        let out = serde_json::json!({"parts": reports, "table": table});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&table);
    }
    Ok(())
}

async fn run_part(
    part: &Part,
    split: Split,
    models_dir: &Option<PathBuf>,
    work: &Path,
    args: &EvalArgs,
) -> Result<Option<PartReport>> {
    let config = crate::config_from(&Some(work.join("data")), models_dir)?;
    let corpus = match (&args.docs_dir, part.split) {
        // --docs-dir names the folder of a single manuals part (--set docs / heldout)
        (Some(d), Some(_)) => d.clone(),
        _ => args
            .corpora_dir
            .clone()
            .unwrap_or_else(|| config.models_dir.clone())
            .join(part.dir),
    };
    let ready = match part.split {
        Some(_) => corpus.join(".complete"),
        None => corpus.parent().unwrap_or(&corpus).join(".complete"),
    };
    if !ready.exists() {
        bail!(
            "no {} corpus in {} (fetch it with `{}`)",
            part.corpus,
            corpus.display(),
            part.fetch
        );
    }
    let corpus = std::fs::canonicalize(&corpus)?;
    let questions: Vec<DocQuestion> = load_questions(part, args.docs_questions.as_deref())?
        .into_iter()
        .filter(|q| q.split == Some(split))
        .collect();
    if questions.is_empty() {
        return Ok(None);
    }
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
        "{} ingest: {} indexed, {} unchanged, {} chunks, {} failed in {:.1} s",
        part.corpus,
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
            gold: Box::new(move |h: &Hit| q.is_gold(corpus_ref, &h.path, h.page, &h.heading)),
        })
        .collect();
    let label = format!("{}/{}", part.corpus, split.name());
    let (retrieval, latency) = score_retrieval(
        &library,
        &probes,
        &Method::all(&args.methods),
        &label,
        args.json,
        args.work_dir
            .as_ref()
            .map(|w| w.join(format!("candidates-{}-{}.jsonl", part.corpus, split.name())))
            .as_deref(),
    )
    .await?;
    let mut out = PartReport {
        corpus: part.corpus,
        split,
        dir: corpus.display().to_string(),
        documents: report.indexed + report.skipped,
        chunks: hearth::status(&config).await?.chunks,
        answerable: answerable.len(),
        unanswerable: unanswerable.len(),
        retrieval,
        search_latency_ms: latency,
        answers: None,
        asked: Vec::new(),
        evidence: Vec::new(),
    };
    if args.evidence {
        let config = crate::answer::for_model(config.clone(), args.model.as_deref());
        let llm = crate::answer::load_answerer(&config, args.model.as_deref()).await?;
        out.evidence =
            crate::eval_evidence::probe(&library, llm, &config.answer, &corpus, &answerable)
                .await?;
        if let Some(work) = &args.work_dir {
            let name = format!("evidence-{}-{}.jsonl", part.corpus, split.name());
            write_jsonl(&work.join(name), &out.evidence)?;
        }
    } else if args.answers > 0 {
        let (summary, asked) = eval_answers(
            part,
            split,
            &library,
            &config,
            &corpus,
            &answerable,
            &unanswerable,
            args,
        )
        .await?;
        out.answers = Some(summary);
        out.asked = asked;
    }
    Ok(Some(out))
}

/// The evidence table of `reports` (per corpus and split, then all corpora of each split).
fn print_evidence(reports: &[PartReport], args: &EvalArgs) -> Result<()> {
    let rows: Vec<(String, String, Vec<&crate::eval_evidence::Probed>)> = groups(reports)
        .into_iter()
        .map(|(split, corpus, group)| {
            let probed = group.iter().flat_map(|r| r.evidence.iter()).collect();
            (corpus, split.name().to_string(), probed)
        })
        .collect();
    if args.json {
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(c, s, p)| {
                serde_json::json!({"corpus": c, "split": s, "evidence": crate::eval_evidence::summary(p)})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        crate::eval_evidence::print_table(&rows);
    }
    Ok(())
}

/// Share of `v` for which `f` holds (0 when `v` is empty).
fn share(v: &[&Asked], f: &dyn Fn(&Asked) -> bool) -> f64 {
    v.iter().filter(|a| f(a)).count() as f64 / v.len().max(1) as f64
}

/// `f` over the questions the model was asked (a prompt was built), ascending.
fn sorted_over_prompts(asked: &[&Asked], f: &dyn Fn(&Asked) -> f64) -> Vec<f64> {
    let mut v: Vec<f64> = asked
        .iter()
        .filter(|a| a.prompt_tokens > 0)
        .map(|a| f(a))
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// One asked question, as scored (also written to `<work dir>/answers-<corpus>-<split>.jsonl`).
#[derive(Debug, serde::Serialize)]
struct Asked {
    id: String,
    question: String,
    answerable: bool,
    /// Declined, by any rule (the reply is "not in your documents").
    declined: bool,
    /// Declined before generation by the similarity gate.
    gated: bool,
    /// Declined before generation because the question names what no chunk mentions.
    names_unknown: bool,
    /// The answer given.
    answer: String,
    /// What the question asks for.
    kind: hearth::answer::QuestionKind,
    /// The answer is a quote of the evidence.
    quoted: bool,
    /// Why it was declined, if it was.
    declined_because: Option<hearth::answer::DeclineReason>,
    /// What the model wrote, when the answer is not all of it.
    draft: Option<String>,
    /// The model's own words (the draft, else the answer) hold a gold string.
    model_right: bool,
    /// The quote Hearth would make holds a gold string (the ceiling of quoting), and its score.
    quote_right: bool,
    quote_score: f64,
    /// The evidence sentences that matched best, with (coverage, similarity).
    best_sentences: Vec<(String, f64, f64)>,
    /// The answer opens with 60+ characters copied verbatim from the evidence (it echoed an
    /// excerpt instead of answering).
    copied: bool,
    /// The answer adds no content word to the question that a source holds: it restates it.
    restates: bool,
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
    evidence: Vec<String>,
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

/// Whether `answer` only restates `question`: none of its words beyond the question's are in
/// a source (the engine's answer check, on the whole answer).
fn restates(answer: &str, question: &str, sources: &[hearth::Citation]) -> bool {
    hearth::answer::adds_nothing(answer, question, sources)
}

/// The answer metrics of `asked`.
fn score(asked: &[Asked]) -> serde_json::Value {
    let (yes, no): (Vec<&Asked>, Vec<&Asked>) = asked.iter().partition(|a| a.answerable);
    serde_json::json!({
        "answer_correct": share(&yes, &|a| !a.declined && a.correct),
        "correct_and_cited": share(&yes, &|a| !a.declined && a.correct && a.cites_gold),
        "cites_gold": share(&yes, &|a| !a.declined && a.cites_gold),
        "refused_answerable": share(&yes, &|a| a.declined),
        "restates_question": share(&yes, &|a| !a.declined && a.restates),
        "copied_an_excerpt": share(&yes, &|a| !a.declined && a.copied),
        "quoted": share(&yes, &|a| a.quoted),
        "model_right": share(&yes, &|a| a.model_right),
        "quote_right": share(&yes, &|a| a.quote_right),
        "declined_unanswerable": share(&no, &|a| a.declined),
        "quoted_unanswerable": share(&no, &|a| a.quoted),
    })
}

/// Per kind of question: how often the model's own words are right against how often the
/// quote would be (what `answer.quote_kinds` is chosen from).
fn by_kind(asked: &[&Asked]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for kind in hearth::answer::QuestionKind::ALL {
        let of: Vec<&Asked> = asked
            .iter()
            .copied()
            .filter(|a| a.answerable && a.kind == kind && !a.gated && !a.names_unknown)
            .collect();
        if of.is_empty() {
            continue;
        }
        out.insert(
            kind.name().into(),
            serde_json::json!({
                "asked": of.len(),
                "model_right": share(&of, &|a| a.model_right),
                "quote_right": share(&of, &|a| a.quote_right),
                "answer_right": share(&of, &|a| !a.declined && a.correct),
            }),
        );
    }
    serde_json::Value::Object(out)
}

/// Ask up to `--answers` answerable and as many unanswerable questions with the default
/// settings, and score the answers.
#[allow(clippy::too_many_arguments)]
async fn eval_answers(
    part: &Part,
    split: Split,
    library: &hearth::Library,
    config: &hearth::Config,
    corpus: &Path,
    answerable: &[&DocQuestion],
    unanswerable: &[&DocQuestion],
    args: &EvalArgs,
) -> Result<(serde_json::Value, Vec<Asked>)> {
    let config = &crate::answer::for_model(config.clone(), args.model.as_deref());
    let llm = crate::answer::load_answerer(config, args.model.as_deref()).await?;
    let taped = match &args.tape {
        Some(path) => Some(Arc::new(crate::tape::Taped::open(llm.clone(), path)?)),
        None => None,
    };
    let llm: Arc<dyn hearth::Generator> = match &taped {
        Some(t) => t.clone(),
        None => llm,
    };
    let cancel = hearth::Cancel::new();
    let cfg = config.answer.clone();
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
        use hearth::answer::DeclineReason;
        let gated = a.declined_because == Some(DeclineReason::NoClosePassage);
        let quote = hearth::answer::best_quote(&q.question, &a.sources, &a.best_sentences);
        let model_words = match (&a.draft, a.quoted || a.not_found) {
            (Some(d), _) => d.clone(),
            (None, false) => a.answer.clone(),
            (None, true) => String::new(),
        };
        let gold_sources: Vec<usize> = a
            .sources
            .iter()
            .filter(|c| q.is_gold(corpus, &c.path, c.page, &c.heading))
            .map(|c| c.n)
            .collect();
        let declined = a.not_found;
        let record = Asked {
            id: q.id.clone(),
            question: q.question.clone(),
            answerable: q.answerable,
            declined,
            gated,
            names_unknown: a.declined_because == Some(DeclineReason::UnknownTerms),
            kind: a.kind,
            quoted: a.quoted,
            declined_because: a.declined_because,
            draft: a.draft.clone(),
            model_right: q.answerable && q.answered_right(&model_words),
            quote_right: q.answerable && quote.is_some_and(|s| q.answered_right(&s.text)),
            quote_score: quote.map(|s| s.score()).unwrap_or(0.0),
            best_sentences: a
                .best_sentences
                .iter()
                .map(|s| (s.text.clone(), s.coverage, s.similarity))
                .collect(),
            correct: q.answerable && q.answered_right(&a.answer),
            copied: copied(&a.answer, &a.sources),
            restates: !declined && restates(&a.answer, &q.question, &a.sources),
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
            evidence: a.sources.iter().map(|c| c.text.clone()).collect(),
            answer: a.answer.clone(),
        };
        if !args.json {
            let verdict = match (q.answerable, record.declined) {
                (true, true) => "REFUSED",
                (true, false) if record.correct && record.quoted => "OK-QUOTE",
                (true, false) if record.correct && record.cites_gold => "OK",
                (true, false) if record.correct => "OK-UNCITED",
                (true, false) if record.restates => "RESTATES",
                (true, false) => "WRONG",
                (false, true) => "DECLINED",
                (false, false) if record.quoted => "QUOTED",
                (false, false) => "ANSWERED",
            };
            eprintln!(
                "[{}/{}] {verdict:<10} {} | {} | gold: {} | {}",
                i + 1,
                n + m,
                q.id,
                q.question,
                q.answers.join(" / "),
                crate::snippet(&a.answer, 160)
            );
        }
        asked.push(record);
    }
    if let Some(t) = &taped {
        eprintln!(
            "tape: {} generations replayed, {} generated",
            t.replayed.load(std::sync::atomic::Ordering::Relaxed),
            t.generated.load(std::sync::atomic::Ordering::Relaxed)
        );
    }
    if let Some(work) = &args.work_dir {
        let name = format!("answers-{}-{}.jsonl", part.corpus, split.name());
        write_jsonl(&work.join(name), &asked)?;
    }
    let all: Vec<&Asked> = asked.iter().collect();
    let ttft = sorted_over_prompts(&all, &|a| a.first_token_ms);
    let prompt_tokens = sorted_over_prompts(&all, &|a| a.prompt_tokens as f64);
    let evidence_ms = sorted_over_prompts(&all, &|a| a.evidence_ms);
    let (yes, no): (Vec<&Asked>, Vec<&Asked>) = asked.iter().partition(|a| a.answerable);
    let mut out = serde_json::json!({
        "model": llm.info().name,
        "answerable": n,
        "unanswerable": m,
        "gold_page_in_prompt": share(&yes, &|a| a.gold_in_prompt),
        "gold_answer_in_prompt": share(&yes, &|a| a.answer_in_prompt),
        "first_token_ms_p50": percentile(&ttft, 0.5),
        "first_token_ms_p95": percentile(&ttft, 0.95),
        "prompt_tokens_p50": percentile(&prompt_tokens, 0.5),
        "evidence_ms_p50": percentile(&evidence_ms, 0.5),
        "evidence_ms_p95": percentile(&evidence_ms, 0.95),
        "unknown_terms": {
            "declines_answerable": share(&yes, &|a| a.names_unknown),
            "declines_unanswerable": share(&no, &|a| a.names_unknown),
        },
        "gated": {
            "declines_answerable": share(&yes, &|a| a.gated),
            "declines_unanswerable": share(&no, &|a| a.gated),
        },
    });
    if let (Some(o), serde_json::Value::Object(at)) = (out.as_object_mut(), score(&asked)) {
        o.extend(at);
    }
    Ok((out, asked))
}

/// One row of the closing table: a corpus and split (or all corpora of a split).
#[derive(Debug, serde::Serialize)]
struct Row {
    corpus: String,
    split: Split,
    answerable: usize,
    unanswerable: usize,
    hit5_vector: f64,
    hit5_text: f64,
    hit5_hybrid: f64,
    mrr_hybrid: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    answers: Option<serde_json::Value>,
}

fn summary_table(reports: &[PartReport]) -> Vec<Row> {
    let hit5 = |r: &PartReport, mode: &str| {
        r.retrieval
            .iter()
            .find(|m| m.mode == mode)
            .map(|m| (m.recall_at_5, m.mrr_at_10))
            .unwrap_or_default()
    };
    let mut rows: Vec<Row> = Vec::new();
    for (split, corpus, group) in groups(reports) {
        let n: usize = group.iter().map(|r| r.answerable).sum();
        let weighted = |f: &dyn Fn(&PartReport) -> f64| {
            group
                .iter()
                .map(|r| f(r) * r.answerable as f64)
                .sum::<f64>()
                / n.max(1) as f64
        };
        let asked: Vec<&Asked> = group.iter().flat_map(|r| r.asked.iter()).collect();
        let answers = (!asked.is_empty()).then(|| {
            let (yes, no): (Vec<&Asked>, Vec<&Asked>) =
                asked.iter().copied().partition(|a| a.answerable);
            let ttft = sorted_over_prompts(&asked, &|a| a.first_token_ms);
            let evidence = sorted_over_prompts(&asked, &|a| a.evidence_ms);
            serde_json::json!({
                "asked": [yes.len(), no.len()],
                "right_and_cited": share(&yes, &|a| !a.declined && a.correct && a.cites_gold),
                "right": share(&yes, &|a| !a.declined && a.correct),
                "declined_unanswerable": share(&no, &|a| a.declined),
                "declined_answerable": share(&yes, &|a| a.declined),
                "restates": share(&yes, &|a| !a.declined && a.restates),
                "quoted": share(&yes, &|a| a.quoted),
                "quoted_unanswerable": share(&no, &|a| a.quoted),
                "by_kind": by_kind(&asked),
                "first_token_ms_p50": percentile(&ttft, 0.5),
                "evidence_ms_p50": percentile(&evidence, 0.5),
            })
        });
        rows.push(Row {
            corpus,
            split,
            answerable: n,
            unanswerable: group.iter().map(|r| r.unanswerable).sum(),
            hit5_vector: weighted(&|r| hit5(r, "vector").0),
            hit5_text: weighted(&|r| hit5(r, "text").0),
            hit5_hybrid: weighted(&|r| hit5(r, "hybrid").0),
            mrr_hybrid: weighted(&|r| hit5(r, "hybrid").1),
            answers,
        });
    }
    rows
}

/// `reports` grouped for the closing tables: per split, each corpus (in the order they ran),
/// then all corpora of the split as "ALL" when there are several.
fn groups(reports: &[PartReport]) -> Vec<(Split, String, Vec<&PartReport>)> {
    let mut out = Vec::new();
    for split in [Split::Dev, Split::Heldout] {
        let of_split: Vec<&PartReport> = reports.iter().filter(|r| r.split == split).collect();
        let mut groups: Vec<(String, Vec<&PartReport>)> = Vec::new();
        for r in &of_split {
            match groups.iter_mut().find(|(c, _)| c == r.corpus) {
                Some((_, v)) => v.push(r),
                None => groups.push((r.corpus.to_string(), vec![r])),
            }
        }
        if groups.len() > 1 {
            groups.push(("ALL".into(), of_split));
        }
        out.extend(groups.into_iter().map(|(c, g)| (split, c, g)));
    }
    out
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<9} {:<8} {:>4} {:>4}  {:>6} {:>6} {:>6} {:>6}  {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6}",
        "corpus", "split", "ans", "unan", "v@5", "t@5", "h@5", "hMRR", "r+cite", "right",
        "decl-u", "decl-a", "restat", "quoted", "ttft50", "ev50"
    );
    for r in rows {
        let a = |k: &str| {
            r.answers
                .as_ref()
                .and_then(|v| v[k].as_f64())
                .map(|x| format!("{x:.3}"))
                .unwrap_or_else(|| "-".into())
        };
        let ms = |k: &str| {
            r.answers
                .as_ref()
                .and_then(|v| v[k].as_f64())
                .map(|x| format!("{:.0}", x))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<9} {:<8} {:>4} {:>4}  {:>6.3} {:>6.3} {:>6.3} {:>6.3}  {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6}",
            r.corpus,
            r.split.name(),
            r.answerable,
            r.unanswerable,
            r.hit5_vector,
            r.hit5_text,
            r.hit5_hybrid,
            r.mrr_hybrid,
            a("right_and_cited"),
            a("right"),
            a("declined_unanswerable"),
            a("declined_answerable"),
            a("restates"),
            a("quoted"),
            ms("first_token_ms_p50"),
            ms("evidence_ms_p50"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_questions_are_well_formed() {
        let (mut dev, mut heldout, mut unanswerable, mut all) = (0, 0, 0, 0);
        for part in &SUITE {
            let qs = load_questions(part, None).unwrap();
            check_questions(part, &qs);
            all += qs.len();
            unanswerable += qs.iter().filter(|q| !q.answerable).count();
            dev += qs.iter().filter(|q| q.split == Some(Split::Dev)).count();
            heldout += qs
                .iter()
                .filter(|q| q.split == Some(Split::Heldout))
                .count();
        }
        assert_eq!(dev + heldout, all, "every question is in a part");
        assert!(all >= 440, "{all} questions");
        // about a quarter cannot be answered from the documents
        assert!((0.2..0.35).contains(&(unanswerable as f64 / all as f64)));
        assert!(
            heldout * 3 >= all,
            "a third or more is held out: {heldout} of {all}"
        );
    }

    fn check_questions(part: &Part, qs: &[DocQuestion]) {
        let mut ids: Vec<&str> = qs.iter().map(|q| q.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            qs.len(),
            "question ids are unique in {}",
            part.dir
        );
        for q in qs {
            assert!(q.split.is_some(), "{} has a split", q.id);
            assert_eq!(q.answerable, q.file.is_some(), "{}", q.id);
            assert_eq!(q.answerable, !q.answers.is_empty(), "{}", q.id);
            if let Some(f) = &q.file {
                assert_eq!(f.ends_with(".pdf"), q.pages.is_some(), "{}", q.id);
            }
            for a in &q.answers {
                assert!(
                    normalize(a).len() >= 2,
                    "{}: answer {a:?} is too short",
                    q.id
                );
            }
        }
    }

    #[test]
    fn gold_places_and_answers_are_matched_as_documented() {
        let q = DocQuestion {
            id: "x".into(),
            question: "how do I keep more history?".into(),
            file: Some("bash/bashref.pdf".into()),
            also_files: vec![],
            pages: Some(vec![12, 13]),
            section: None,
            answers: vec!["HISTSIZE".into()],
            answerable: true,
            split: Some(Split::Dev),
        };
        let corpus = Path::new("/c");
        assert!(q.is_gold(corpus, "/c/bash/bashref.pdf", Some(13), ""));
        assert!(!q.is_gold(corpus, "/c/bash/bashref.pdf", Some(14), ""));
        assert!(!q.is_gold(corpus, "/c/other.pdf", Some(13), ""));
        assert!(q.answered_right("Set `histsize` higher [1]."));
        assert!(!q.answered_right("Use HISTFILE."));
        assert!(!q.answered_right("Use HISTSIZES."), "whole words only");
        let numbers = DocQuestion {
            answers: vec!["nine States".into(), "1,000".into(), "twenty-six".into()],
            ..q.clone()
        };
        assert!(numbers.answered_right("It took 9 states [2]."));
        assert!(numbers.answered_right("About 1000 people."));
        assert!(numbers.answered_right("After 26 days."));
        assert!(!numbers.answered_right("After 2 days, 6 hours."));
        assert_eq!(answer_form("Twenty-six, 1,000 and forty"), "26 1000 and 40");
        let book = DocQuestion {
            file: Some("books/p.epub".into()),
            pages: None,
            section: Some("Chapter 12".into()),
            ..q
        };
        assert!(book.is_gold(corpus, "/c/books/p.epub", None, "Pride > CHAPTER 12"));
        assert!(!book.is_gold(corpus, "/c/books/p.epub", None, "Pride > Chapter 3"));
    }

    #[test]
    fn restating_the_question_is_told_from_answering_it() {
        let src = |text: &str| hearth::Citation {
            n: 1,
            path: "/d/a.txt".into(),
            text: text.into(),
            ..Default::default()
        };
        let sources = [src("In 1964 Johnson declared war on poverty in America.")];
        let q = "What did Lyndon Johnson declare an all-out war against in his 1964 address?";
        assert!(restates(
            "Lyndon Johnson declared an all-out war against in his 1964 address. [1]",
            q,
            &sources
        ));
        assert!(!restates("He declared war on poverty [1].", q, &sources));
    }
}
