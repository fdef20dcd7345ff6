//! `hearth eval --set summaries`: how good `hearth summarize` is on news articles with
//! reference summaries (100 CNN / Daily Mail articles, `eval/fetch-suite.sh`).
//!
//! Each article is summarized as `hearth summarize` does it, and the summary is scored against
//! the reference with ROUGE-1, ROUGE-2 (F1 of shared word uni- and bigrams) and ROUGE-L (F1 of
//! the longest common word subsequence), next to the lead-3 baseline (the article's first three
//! sentences), which is hard to beat on news. Also: the share of summary sentences no part of
//! the article supports (fewer than half of their content words in it, as for answers), the
//! share of summaries with none, and seconds per article. Words are lowercased letters and
//! digits, not stemmed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::eval_args::EvalArgs;
use crate::measure::{percentile, write_jsonl};

/// ROUGE F1 scores of one summary.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub(crate) struct Rouge {
    pub r1: f64,
    pub r2: f64,
    pub rl: f64,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn f1(overlap: f64, candidate: usize, reference: usize) -> f64 {
    if overlap <= 0.0 || candidate == 0 || reference == 0 {
        return 0.0;
    }
    let p = overlap / candidate as f64;
    let r = overlap / reference as f64;
    2.0 * p * r / (p + r)
}

fn ngram_f1(c: &[String], r: &[String], n: usize) -> f64 {
    use std::collections::HashMap;
    fn grams(w: &[String], n: usize) -> HashMap<&[String], usize> {
        let mut m: HashMap<&[String], usize> = HashMap::new();
        for g in w.windows(n) {
            *m.entry(g).or_default() += 1;
        }
        m
    }
    let (gc, gr) = (grams(c, n), grams(r, n));
    let overlap: usize = gc
        .iter()
        .map(|(g, k)| (*k).min(gr.get(g).copied().unwrap_or(0)))
        .sum();
    f1(
        overlap as f64,
        c.len().saturating_sub(n - 1),
        r.len().saturating_sub(n - 1),
    )
}

fn lcs(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut cur = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            cur[j + 1] = if x == y {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// ROUGE-1, -2 and -L F1 of `candidate` against `reference`.
pub(crate) fn rouge(candidate: &str, reference: &str) -> Rouge {
    let (c, r) = (words(candidate), words(reference));
    Rouge {
        r1: ngram_f1(&c, &r, 1),
        r2: ngram_f1(&c, &r, 2),
        rl: f1(lcs(&c, &r) as f64, c.len(), r.len()),
    }
}

/// Titles and initials whose full stop ends no sentence.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "gen", "gov", "sen", "rep", "lt", "col", "sgt",
    "capt", "prof", "rev", "no", "vs", "mt", "ft",
];

/// The first three sentences of `article` (split at `.`, `!` or `?` before a space and a
/// capital or quote, so "U.S. officials" stays whole; not after a title or an initial).
pub(crate) fn lead3(article: &str) -> String {
    let chars: Vec<char> = article.chars().collect();
    let mut end = chars.len();
    let mut found = 0;
    for i in 0..chars.len() {
        let word_before: String = chars[..i]
            .iter()
            .rev()
            .take_while(|c| c.is_alphanumeric())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let abbreviation = chars[i] == '.'
            && (ABBREVIATIONS.contains(&word_before.to_lowercase().as_str())
                || (word_before.chars().count() == 1
                    && word_before.chars().all(char::is_uppercase)));
        if matches!(chars[i], '.' | '!' | '?')
            && !abbreviation
            && chars.get(i + 1).is_some_and(|c| c.is_whitespace())
            && chars[i + 1..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| c.is_uppercase() || *c == '"' || *c == '\u{201c}')
        {
            found += 1;
            if found == 3 {
                end = i + 1;
                break;
            }
        }
    }
    chars[..end].iter().collect::<String>().trim().to_string()
}

#[derive(serde::Deserialize)]
struct Reference {
    file: String,
    reference: String,
}

/// One summarized article, as scored (written to `<work dir>/summaries.jsonl`).
#[derive(Debug, serde::Serialize)]
struct Scored {
    file: String,
    summary: String,
    rouge: Rouge,
    lead3: Rouge,
    sentences: usize,
    unsupported: Vec<String>,
    seconds: f64,
}

pub(crate) async fn run(models_dir: &Option<PathBuf>, args: &EvalArgs) -> Result<()> {
    let config = crate::config_from(
        &Some(std::env::temp_dir().join("hearth-eval-unused")),
        models_dir,
    )?;
    let dir = args
        .corpora_dir
        .clone()
        .unwrap_or_else(|| config.models_dir.clone())
        .join("eval-suite/summaries");
    let refs_path = dir.join("references.jsonl");
    if !refs_path.exists() {
        bail!(
            "no summary set in {} (fetch it with `eval/fetch-suite.sh`)",
            dir.display()
        );
    }
    let refs: Vec<Reference> = std::fs::read_to_string(&refs_path)
        .with_context(|| refs_path.display().to_string())?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<std::result::Result<_, _>>()?;
    let n = if args.summaries == 0 {
        refs.len()
    } else {
        args.summaries.min(refs.len())
    };
    let llm: Arc<dyn hearth::Generator> =
        crate::answer::load_answerer(&config, args.model.as_deref()).await?;
    let cancel = hearth::Cancel::new();
    let mut scored: Vec<Scored> = Vec::new();
    for (i, r) in refs.iter().take(n).enumerate() {
        let path: &Path = &dir.join(&r.file);
        let article = std::fs::read_to_string(path)?;
        let started = Instant::now();
        let s = hearth::answer::summarize(
            llm.clone(),
            path,
            config.ingest.max_file_mb,
            &config.ocr,
            &cancel,
            Box::new(|_| {}),
        )
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        let source = hearth::Citation {
            n: 1,
            path: r.file.clone(),
            text: article.clone(),
            ..Default::default()
        };
        let unsupported = hearth::answer::unsupported_sentences(&s.summary, &[source]);
        let lead = lead3(&article);
        let one = Scored {
            file: r.file.clone(),
            rouge: rouge(&s.summary, &r.reference),
            lead3: rouge(&lead, &r.reference),
            sentences: s
                .summary
                .split(['.', '!', '?', '\n'])
                .filter(|x| x.split_whitespace().count() >= 3)
                .count(),
            unsupported,
            seconds,
            summary: s.summary,
        };
        if !args.json {
            eprintln!(
                "[{}/{n}] {} R-L {:.3} (lead-3 {:.3}) {:.1} s{}",
                i + 1,
                r.file,
                one.rouge.rl,
                one.lead3.rl,
                seconds,
                if one.unsupported.is_empty() {
                    String::new()
                } else {
                    format!(" unsupported: {:?}", one.unsupported)
                }
            );
        }
        scored.push(one);
    }
    if let Some(w) = &args.work_dir {
        std::fs::create_dir_all(w)?;
        write_jsonl(&w.join("summaries.jsonl"), &scored)?;
    }
    let k = scored.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Scored) -> f64| scored.iter().map(f).sum::<f64>() / k;
    let mut secs: Vec<f64> = scored.iter().map(|s| s.seconds).collect();
    secs.sort_by(|a, b| a.total_cmp(b));
    let sentences: usize = scored.iter().map(|s| s.sentences).sum();
    let unsupported: usize = scored.iter().map(|s| s.unsupported.len()).sum();
    let out = serde_json::json!({
        "model": llm.info().name,
        "articles": scored.len(),
        "summary": {"rouge1": mean(&|s| s.rouge.r1), "rouge2": mean(&|s| s.rouge.r2), "rougeL": mean(&|s| s.rouge.rl)},
        "lead3": {"rouge1": mean(&|s| s.lead3.r1), "rouge2": mean(&|s| s.lead3.r2), "rougeL": mean(&|s| s.lead3.rl)},
        "unsupported_sentence_share": unsupported as f64 / sentences.max(1) as f64,
        "summaries_without_unsupported": mean(&|s| s.unsupported.is_empty() as u8 as f64),
        "seconds_per_article_p50": percentile(&secs, 0.5),
        "seconds_per_article_mean": mean(&|s| s.seconds),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("summaries: {}", serde_json::to_string(&out)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rouge_counts_shared_words_pairs_and_order() {
        let r = rouge("the cat sat on the mat", "the cat lay on the mat");
        // 5 of 6 words shared, 3 of 5 bigrams, LCS 5
        assert!((r.r1 - 5.0 / 6.0).abs() < 1e-9, "{r:?}");
        assert!((r.r2 - 3.0 / 5.0).abs() < 1e-9, "{r:?}");
        assert!((r.rl - 5.0 / 6.0).abs() < 1e-9, "{r:?}");
        assert_eq!(rouge("", "x").rl, 0.0);
        let same = rouge("A b. C!", "a B c");
        assert_eq!((same.r1, same.r2, same.rl), (1.0, 1.0, 1.0));
    }

    #[test]
    fn lead3_takes_three_sentences_and_keeps_initials_whole() {
        let a = "U.S. officials met. Mr. Smith spoke at noon! Was it J. Doe? Yes. More.";
        assert_eq!(
            lead3(a),
            "U.S. officials met. Mr. Smith spoke at noon! Was it J. Doe?"
        );
        assert_eq!(lead3("One sentence only"), "One sentence only");
    }
}
