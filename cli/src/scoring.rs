//! Retrieval scoring shared by the evaluations: the ranking methods compared, the metrics, and
//! one pass that scores every method from the same first-stage lists.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use hearth::retrieve::{best_sentence_coverage, fuse, rerank, Fusion, HYBRID_DEPTH};
use hearth::{Hit, Library, SearchRequest};

use crate::measure::{percentile, write_lines};

pub(crate) fn parse_method(s: &str) -> std::result::Result<Method, String> {
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

pub(crate) fn normalize(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}
