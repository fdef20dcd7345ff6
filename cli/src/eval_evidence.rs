//! `hearth eval --set suite --evidence`: what the answer prompt holds, without generating.
//!
//! Each answerable question's evidence is chosen as `hearth ask` would (retrieval, then the
//! evidence sentences within the budget of the answerer the settings pick) and scored: is the
//! gold file in the prompt, does a gold answer string stand in it, and in the sentence a quote
//! would use. Nothing is generated, so a corpus takes seconds: what evidence selection is tuned
//! with before the answers are measured.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;

use crate::eval_docs::DocQuestion;
use crate::measure::percentile;

/// One question's evidence, as scored (also written to
/// `<work dir>/evidence-<corpus>-<split>.jsonl`).
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Probed {
    id: String,
    question: String,
    /// A source of the prompt is in the gold file (page, section).
    gold_in_prompt: bool,
    /// A gold answer string stands in the prompt's sources.
    answer_in_prompt: bool,
    /// ... in the sentence that matched the question best.
    best_right: bool,
    /// ... in the sentence Hearth would quote.
    quote_right: bool,
    /// Sources in the prompt, and their length in characters.
    sources: usize,
    chars: usize,
    evidence_ms: f64,
    /// The best sentences (text, coverage, similarity), best first.
    best_sentences: Vec<(String, f64, f64)>,
}

/// Choose and score the evidence of every question in `answerable`.
pub(crate) async fn probe(
    library: &hearth::Library,
    llm: Arc<dyn hearth::Generator>,
    cfg: &hearth::AnswerConfig,
    corpus: &Path,
    answerable: &[&DocQuestion],
) -> Result<Vec<Probed>> {
    let mut out = Vec::with_capacity(answerable.len());
    for q in answerable {
        let t = Instant::now();
        let (sources, best) =
            hearth::answer::evidence_for(library, llm.clone(), &q.question, cfg).await?;
        let evidence_ms = t.elapsed().as_secs_f64() * 1000.0;
        let quote = hearth::answer::best_quote(&q.question, &sources, &best);
        out.push(Probed {
            id: q.id.clone(),
            question: q.question.clone(),
            gold_in_prompt: sources
                .iter()
                .any(|c| q.is_gold(corpus, &c.path, c.page, &c.heading)),
            answer_in_prompt: sources.iter().any(|c| q.answered_right(&c.text)),
            best_right: best.first().is_some_and(|s| q.answered_right(&s.text)),
            quote_right: quote.is_some_and(|s| q.answered_right(&s.text)),
            sources: sources.len(),
            chars: sources.iter().map(|c| c.text.chars().count()).sum(),
            evidence_ms,
            best_sentences: best
                .iter()
                .map(|s| (s.text.clone(), s.coverage, s.similarity))
                .collect(),
        });
    }
    Ok(out)
}

/// The shares over `probed`, as one JSON object.
pub(crate) fn summary(probed: &[&Probed]) -> serde_json::Value {
    let share = |f: &dyn Fn(&Probed) -> bool| {
        probed.iter().filter(|p| f(p)).count() as f64 / probed.len().max(1) as f64
    };
    let mut ms: Vec<f64> = probed.iter().map(|p| p.evidence_ms).collect();
    ms.sort_by(f64::total_cmp);
    let mut chars: Vec<f64> = probed.iter().map(|p| p.chars as f64).collect();
    chars.sort_by(f64::total_cmp);
    serde_json::json!({
        "questions": probed.len(),
        "gold_in_prompt": share(&|p| p.gold_in_prompt),
        "answer_in_prompt": share(&|p| p.answer_in_prompt),
        "best_right": share(&|p| p.best_right),
        "quote_right": share(&|p| p.quote_right),
        "chars_p50": percentile(&chars, 0.5),
        "evidence_ms_p50": percentile(&ms, 0.5),
    })
}

/// Print one line per corpus and split (and all corpora) of `rows`: (corpus, split, probed).
pub(crate) fn print_table(rows: &[(String, String, Vec<&Probed>)]) {
    println!(
        "\n{:<9} {:<8} {:>4}  {:>7} {:>7} {:>7} {:>7} {:>7} {:>6}",
        "corpus", "split", "ans", "file-in", "ans-in", "best", "quote", "chars50", "ev50"
    );
    for (corpus, split, probed) in rows {
        let s = summary(probed);
        let f = |k: &str| s[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:<9} {:<8} {:>4}  {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.0} {:>6.0}",
            corpus,
            split,
            probed.len(),
            f("gold_in_prompt"),
            f("answer_in_prompt"),
            f("best_right"),
            f("quote_right"),
            f("chars_p50"),
            f("evidence_ms_p50"),
        );
    }
}
