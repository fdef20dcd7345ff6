//! [`summarize`]: map-reduce over a document's pages and sections, streaming the final pass.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::{blocking, fill_timings, run_chat, AnswerTimings};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::llm::{GenerateParams, Generator, Message};

/// A summary of one document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// The document.
    pub path: String,
    /// The summary.
    pub summary: String,
    /// Pages (PDF) or 1.
    pub pages: usize,
    /// Parts summarized separately before the final pass (0: the document fit in one pass).
    pub parts: usize,
    /// Model name.
    pub model: String,
    /// True when the caller cancelled.
    pub cancelled: bool,
    /// Timings of the final pass (total_ms covers everything).
    pub timings: AnswerTimings,
}

/// Progress of a summary.
#[derive(Debug, Clone)]
pub enum SummaryEvent {
    /// Part `done` of `total` summarized (map step).
    Part {
        /// Parts done.
        done: usize,
        /// Parts in all.
        total: usize,
    },
    /// A piece of the final summary.
    Token(String),
}

const SUMMARY_SYSTEM: &str = "You summarize documents faithfully and concisely. Use only what \
the text says.";

/// Summarize the document at `path` of any length: the text is cut into parts that fit the
/// model's context, each part is summarized, and the part summaries are summarized again until
/// one pass is left, which streams to `on_event`.
pub async fn summarize(
    llm: Arc<dyn Generator>,
    path: &Path,
    max_file_mb: u64,
    ocr: &crate::extract::OcrConfig,
    cancel: &Cancel,
    mut on_event: Box<dyn FnMut(SummaryEvent) + Send>,
) -> Result<Summary> {
    let started = Instant::now();
    let p = path.to_path_buf();
    let (ocr, job) = (ocr.clone(), cancel.clone());
    let extracted = blocking(move || {
        let meta = std::fs::metadata(&p).map_err(|e| Error::BadPath {
            path: p.clone(),
            reason: e.to_string(),
        })?;
        if !meta.is_file() {
            return Err(Error::BadPath {
                path: p.clone(),
                reason: "not a file".into(),
            });
        }
        let limit = crate::extract::size_limit(&p, max_file_mb * 1_000_000);
        if meta.len() > limit {
            return Err(Error::unsupported(format!(
                "file too large ({:.1} MB; the limit is {} MB)",
                meta.len() as f64 / 1e6,
                limit / 1_000_000
            )));
        }
        let bytes = std::fs::read(&p)?;
        let opts = crate::extract::ExtractOptions::new(&ocr, job);
        crate::extract::extract_with(&p, &bytes, &opts)
    })
    .await
    .map_err(|e| match e {
        e @ (Error::BadPath { .. } | Error::Io(_)) => e,
        e => Error::InvalidRequest(format!("{}: cannot be summarized: {e}", path.display())),
    })?;
    let pages = extracted.pages.len();
    let text: Vec<String> = extracted
        .pages
        .iter()
        .map(|p| p.text.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if text.is_empty() {
        return Err(Error::InvalidRequest(format!(
            "{}: cannot be summarized: no text",
            path.display()
        )));
    }
    let window = llm.info().context_window;
    // room for instructions and the summary itself
    let part_tokens = (window.saturating_sub(400) / 2).clamp(256, 1500);
    let mut parts = split_parts(llm.as_ref(), &text, part_tokens)?;
    let mut n_parts = 0;
    // map-reduce until the parts fit one pass
    while parts.len() > 1 {
        let total = parts.len();
        n_parts += total;
        let mut next = Vec::with_capacity(total);
        for (i, part) in parts.into_iter().enumerate() {
            if cancel.is_cancelled() {
                return Err(Error::Cancelled);
            }
            let messages = vec![
                Message::system(SUMMARY_SYSTEM),
                Message::user(format!(
                    "Summarize this part of a document in 3 to 5 sentences.\n\n{part}"
                )),
            ];
            let params = GenerateParams {
                max_tokens: 160,
                ..GenerateParams::default()
            };
            let g = run_chat(llm.clone(), messages, params, cancel.clone(), |_| {}).await?;
            next.push(g.text.trim().to_string());
            on_event(SummaryEvent::Part { done: i + 1, total });
        }
        parts = split_parts(llm.as_ref(), &next, part_tokens)?;
        if parts.len() >= total {
            // summaries did not shrink (tiny window): merge pairwise by force
            parts = parts.chunks(2).map(|c| c.join("\n")).collect();
        }
    }
    let body = parts.pop().unwrap_or_default();
    let instruction = if n_parts == 0 {
        "Summarize this document in a short paragraph, then list its key points."
    } else {
        "These are summaries of consecutive parts of one document. Write one summary of the \
         whole document: a short paragraph, then its key points."
    };
    let messages = vec![
        Message::system(SUMMARY_SYSTEM),
        Message::user(format!("{instruction}\n\n{body}")),
    ];
    let params = GenerateParams {
        max_tokens: 320,
        ..GenerateParams::default()
    };
    let gen = run_chat(
        llm.clone(),
        messages,
        params,
        cancel.clone(),
        move |piece| on_event(SummaryEvent::Token(piece.to_string())),
    )
    .await?;
    let mut timings = AnswerTimings::default();
    fill_timings(&mut timings, &gen, started, 0.0);
    timings.first_token_ms = gen.first_token_ms;
    Ok(Summary {
        path: path.display().to_string(),
        summary: gen.text.trim().to_string(),
        pages,
        parts: n_parts,
        model: llm.info().name.clone(),
        cancelled: gen.stop_reason == crate::llm::StopReason::Cancelled,
        timings,
    })
}

/// Greedily pack `texts` (pages, or summaries) into parts of at most `budget` model tokens;
/// a text longer than the budget is cut at paragraph, then sentence boundaries.
fn split_parts(llm: &dyn Generator, texts: &[String], budget: usize) -> Result<Vec<String>> {
    let mut pieces: Vec<(String, usize)> = Vec::new();
    for t in texts {
        let n = llm.count_tokens(t)?;
        if n <= budget {
            pieces.push((t.clone(), n));
            continue;
        }
        for para in t.split("\n\n").flat_map(|p| {
            if p.len() > budget * 3 {
                crate::lexical::sentence_ranges(p)
                    .into_iter()
                    .map(|r| &p[r])
                    .collect()
            } else {
                vec![p]
            }
        }) {
            let para = para.trim();
            if para.is_empty() {
                continue;
            }
            let n = llm.count_tokens(para)?;
            if n <= budget {
                pieces.push((para.to_string(), n));
            } else {
                // a giant run-on: hard cut by characters
                let chars: Vec<char> = para.chars().collect();
                let step = (chars.len() * budget / n).max(1);
                for c in chars.chunks(step) {
                    let s: String = c.iter().collect();
                    let n = llm.count_tokens(&s)?;
                    pieces.push((s, n));
                }
            }
        }
    }
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for (p, n) in pieces {
        if used + n > budget && !current.is_empty() {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        if !current.is_empty() {
            current.push_str("\n\n");
        }
        current.push_str(&p);
        used += n + 1;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    Ok(parts)
}
