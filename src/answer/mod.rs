//! Answers from the user's documents: [`ask`] (retrieve → compact numbered sources → streamed,
//! cited answer), follow-ups in a conversation ([`ask`] with history: the question is first
//! rewritten into a standalone query), and [`summarize`] (map-reduce over a document's pages and
//! sections, streaming the final pass).
//!
//! All of it runs the model on a blocking thread and streams through a callback; a [`Cancel`]
//! stops generation at the next token.

use std::collections::{BTreeSet, HashSet};

mod evidence;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::Cancel;
use crate::library::Library;
use crate::llm::{ms, GenerateParams, Generation, GuardedReply, Llm, Message, Role};

/// What a person sees when the documents do not hold the answer.
pub const NOT_FOUND: &str = "I couldn't find this in your documents.";

/// Longest question accepted, in characters.
pub const MAX_QUESTION_CHARS: usize = 4_000;

/// Settings for answering (the `[answer]` table of config.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// Retrieved chunks whose sentences compete for the prompt.
    pub passages: usize,
    /// Most sources (chunks, each cut down to its chosen sentences) in the prompt.
    pub max_sources: usize,
    /// Model tokens allowed for all sources together (keeps time to first token low).
    pub source_tokens: usize,
    /// Below this cosine similarity between the question and its nearest chunk, the documents
    /// are taken not to hold the answer and the model is not asked.
    pub min_similarity: f32,
    /// The model says "not in your documents" only when it gives that reply at least this
    /// probability at its first step (above 1: never); otherwise it is made to answer.
    pub decline_probability: f32,
    /// Most tokens in an answer.
    pub max_answer_tokens: usize,
    /// Model tokens of earlier turns kept in a conversation.
    pub history_tokens: usize,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            passages: 8,
            max_sources: 4,
            source_tokens: 200,
            min_similarity: 0.25,
            decline_probability: 0.45,
            max_answer_tokens: 256,
            history_tokens: 400,
        }
    }
}

/// A source given to the model, numbered as the model sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    /// The number used in the prompt (`[n]`).
    pub n: usize,
    /// Document path.
    pub path: String,
    /// 1-based PDF page, if any.
    pub page: Option<u32>,
    /// The passage text the model was shown.
    pub text: String,
    /// Heading path of the chunk.
    pub heading: String,
    /// Chunk id in the index.
    pub chunk_id: String,
    /// Char offsets of the chunk within its page (or document).
    pub char_start: u64,
    /// End char offset.
    pub char_end: u64,
    /// True when the model wrote no citation and Hearth attributed the answer to this source
    /// because the answer's words come from it (its `[n]` was appended to the answer).
    #[serde(default)]
    pub attributed: bool,
}

/// Where the time of an answer went.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AnswerTimings {
    /// Query rewriting (follow-ups only), ms.
    pub rewrite_ms: f64,
    /// Retrieval, ms.
    pub retrieve_ms: f64,
    /// From the request to the evidence being chosen (and sent as [`AnswerEvent::Sources`]), ms.
    pub evidence_ms: f64,
    /// Tokens in the answer prompt.
    pub prompt_tokens: usize,
    /// From the request to the first answer token, ms.
    pub first_token_ms: f64,
    /// Decode speed, tokens/s.
    pub tokens_per_s: f64,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Whole request, ms.
    pub total_ms: f64,
}

/// An answer with its sources.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Answer {
    /// The answer text (citations that point nowhere removed).
    pub answer: String,
    /// Sources the answer cites, by number.
    pub citations: Vec<Citation>,
    /// Every source that was in the prompt.
    pub sources: Vec<Citation>,
    /// True when the documents were judged not to hold the answer (before asking the model, or
    /// by the model itself).
    pub not_found: bool,
    /// Sentences of the answer that no source supports (few of their words are in any source).
    pub unsupported: Vec<String>,
    /// Citation numbers the model wrote that matched no source (removed from `answer`).
    pub dropped_citations: Vec<usize>,
    /// The query retrieval ran (differs from the question for rewritten follow-ups).
    pub query: String,
    /// Cosine similarity between the query and the nearest chunk (what `min_similarity` gates).
    pub best_similarity: f32,
    /// The probability the model gave "not in your documents" as its reply (what
    /// `decline_probability` gates); absent when the model was not asked.
    pub decline_probability: Option<f32>,
    /// Model name.
    pub model: String,
    /// True when the caller cancelled.
    pub cancelled: bool,
    /// Timings.
    pub timings: AnswerTimings,
}

/// What a streaming answer reports as it goes.
#[derive(Debug, Clone)]
pub enum AnswerEvent {
    /// The evidence is chosen: these sources go to the model (sent before any answer token).
    Sources(Vec<Citation>),
    /// A piece of answer text.
    Token(String),
}

/// Callback for [`AnswerEvent`]s.
pub type OnEvent = Box<dyn FnMut(AnswerEvent) + Send>;

const ASK_SYSTEM: &str = "You answer questions about the user's documents from numbered \
excerpts of them. Give the answer the excerpts contain in one to three sentences, and put the \
number of each excerpt you use in brackets, like [1]. Only when no excerpt is about the \
question, reply: I couldn't find this in your documents.";

/// The user turn of an answer: the evidence, numbered, then the question.
fn ask_prompt(question: &str, sources: &[Citation]) -> String {
    let excerpts: String = sources
        .iter()
        .map(|s| format!("[{}] ({}) {}\n", s.n, source_label(s), s.text))
        .collect();
    format!("Excerpts:\n{excerpts}\nQuestion: {question}")
}

/// Whether an answer is the model saying the documents do not hold it.
fn is_decline(answer: &str) -> bool {
    let a = answer.to_lowercase();
    a.contains("couldn't find this") || a.contains("could not find this")
}

/// Answer sentences of at least three content words, less than half of which appear in any one
/// source: what a reader should check before trusting.
fn unsupported_sentences(answer: &str, sources: &[Citation]) -> Vec<String> {
    let source_words: Vec<HashSet<String>> = sources
        .iter()
        .map(|s| crate::lexical::content_words(&s.text))
        .collect();
    crate::lexical::sentence_ranges(answer)
        .into_iter()
        .map(|r| answer[r].trim())
        .filter(|sentence| {
            let w = crate::lexical::content_words(&strip_markers(sentence));
            w.len() >= 3
                && source_words
                    .iter()
                    .all(|sw| w.intersection(sw).count() * 2 < w.len())
        })
        .map(str::to_string)
        .collect()
}

/// Text without its `[n]` citation markers.
fn strip_markers(text: &str) -> String {
    resolve_citations(text, 0).0
}

const REWRITE_SYSTEM: &str = "Rewrite the user's last question as one standalone search \
question that makes sense without the conversation: name what \"it\", \"they\" or \"that\" \
refers to. Do not answer it. Reply with the question only.\n\nExample:\nConversation:\nUser: \
What is rsync?\nAssistant: A tool that copies files between machines [1].\nLast question: \
Does it keep permissions?\n\nStandalone question: Does rsync keep file permissions when it \
copies?";

fn check_question(q: &str) -> Result<&str> {
    let q = q.trim();
    if q.is_empty() {
        return Err(Error::InvalidRequest("the question is empty".into()));
    }
    let chars = q.chars().count();
    if chars > MAX_QUESTION_CHARS {
        return Err(Error::InvalidRequest(format!(
            "the question is {chars} characters long; the limit is {MAX_QUESTION_CHARS} \
             (to condense a long text, save it to a file and use summarize)"
        )));
    }
    Ok(q)
}

/// Run `f` with the model on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("generation thread: {e}")))?
}

/// Answer `question` from `library`, continuing the conversation `history` (oldest first,
/// user/assistant turns; may be empty). Sources and tokens stream to `on_event`.
pub async fn ask(
    library: &Library,
    llm: Arc<Llm>,
    question: &str,
    history: &[Message],
    cfg: &AnswerConfig,
    cancel: &Cancel,
    mut on_event: OnEvent,
) -> Result<Answer> {
    let started = Instant::now();
    let question = check_question(question)?.to_string();
    let status = library.status().await?;
    if status.chunks == 0 {
        return Err(Error::InvalidRequest(
            "no documents are indexed yet: add some with `hearth ingest PATH` first".into(),
        ));
    }
    let mut timings = AnswerTimings::default();
    let history = trim_history(&llm, history, cfg.history_tokens)?;

    // 1. A follow-up becomes a standalone query.
    let query = if history.is_empty() {
        question.clone()
    } else {
        let t = Instant::now();
        let q = rewrite_query(llm.clone(), &history, &question, cancel).await?;
        timings.rewrite_ms = ms(t);
        q
    };
    if cancel.is_cancelled() {
        return Err(Error::Cancelled);
    }

    // 2. Retrieve; decide whether the documents can answer at all.
    let t = Instant::now();
    let (hits, best, _) = library
        .search_with_similarity(&query, cfg.passages.max(1))
        .await?;
    timings.retrieve_ms = ms(t);
    let model = llm.info().name.clone();
    if hits.is_empty() || best < cfg.min_similarity {
        on_event(AnswerEvent::Token(NOT_FOUND.into()));
        timings.total_ms = ms(started);
        return Ok(Answer {
            answer: NOT_FOUND.into(),
            citations: Vec::new(),
            sources: Vec::new(),
            not_found: true,
            unsupported: Vec::new(),
            dropped_citations: Vec::new(),
            query,
            best_similarity: best,
            decline_probability: None,
            model,
            cancelled: false,
            timings,
        });
    }
    let sources = evidence::select(&query, &hits, cfg.source_tokens, cfg.max_sources, &|s| {
        llm.count_tokens(s)
    })?;
    timings.evidence_ms = ms(started);
    on_event(AnswerEvent::Sources(sources.clone()));

    // 3. Prompt: instructions, earlier turns, then the evidence with the question.
    let mut messages = vec![Message::system(ASK_SYSTEM)];
    messages.extend(history.iter().cloned());
    messages.push(Message::user(ask_prompt(&question, &sources)));
    let before_generation_ms = ms(started);
    let params = GenerateParams {
        max_tokens: cfg.max_answer_tokens,
        stop: vec!["\nQuestion:".into(), "\nSources:".into()],
        guard: Some(GuardedReply {
            text: NOT_FOUND.into(),
            min_probability: cfg.decline_probability,
        }),
        ..GenerateParams::default()
    };
    let gen = run_chat(llm, messages, params, cancel.clone(), move |piece| {
        on_event(AnswerEvent::Token(piece.to_string()))
    })
    .await?;

    // 4. Keep only citations that point at a source; an uncited answer built from a source's
    //    words is attributed to it (and says so).
    let (mut answer, cited, dropped) = resolve_citations(&gen.text, sources.len());
    let mut citations: Vec<Citation> = sources
        .iter()
        .filter(|s| cited.contains(&s.n))
        .cloned()
        .collect();
    let declined = is_decline(&answer);
    if declined {
        citations.clear();
    }
    if citations.is_empty() && !declined {
        if let Some(src) = attribute(&answer, &sources) {
            answer = format!("{} [{}]", answer.trim_end(), src.n);
            citations.push(Citation {
                attributed: true,
                ..src.clone()
            });
        }
    }
    fill_timings(&mut timings, &gen, started, before_generation_ms);
    let unsupported = if declined {
        Vec::new()
    } else {
        unsupported_sentences(&answer, &sources)
    };
    Ok(Answer {
        answer: answer.trim().to_string(),
        citations,
        sources,
        not_found: declined,
        unsupported,
        dropped_citations: dropped,
        query,
        best_similarity: best,
        decline_probability: gen.guard_probability,
        model,
        cancelled: gen.stop_reason == crate::llm::StopReason::Cancelled,
        timings,
    })
}

fn fill_timings(t: &mut AnswerTimings, gen: &Generation, started: Instant, before_ms: f64) {
    t.prompt_tokens = gen.prompt_tokens;
    t.first_token_ms = before_ms + gen.first_token_ms;
    t.tokens_per_s = gen.tokens_per_s;
    t.completion_tokens = gen.completion_tokens;
    t.total_ms = ms(started);
}

fn source_label(s: &Citation) -> String {
    let name = Path::new(&s.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| s.path.clone());
    match s.page {
        Some(p) => format!("{name}, page {p}"),
        None => name,
    }
}

async fn run_chat(
    llm: Arc<Llm>,
    messages: Vec<Message>,
    params: GenerateParams,
    cancel: Cancel,
    mut on_text: impl FnMut(&str) + Send + 'static,
) -> Result<Generation> {
    blocking(move || llm.chat(&messages, &params, &cancel, &mut on_text)).await
}

/// Keep the most recent turns of `history` that fit `budget` model tokens.
fn trim_history(llm: &Llm, history: &[Message], budget: usize) -> Result<Vec<Message>> {
    let mut kept = Vec::new();
    let mut used = 0;
    for m in history.iter().rev().filter(|m| m.role != Role::System) {
        let n = llm.count_tokens(&m.content)? + 4;
        if used + n > budget {
            break;
        }
        used += n;
        kept.push(m.clone());
    }
    kept.reverse();
    // a conversation excerpt starts with the user
    while kept.first().is_some_and(|m| m.role != Role::User) {
        kept.remove(0);
    }
    Ok(kept)
}

async fn rewrite_query(
    llm: Arc<Llm>,
    history: &[Message],
    question: &str,
    cancel: &Cancel,
) -> Result<String> {
    let transcript: String = history
        .iter()
        .map(|m| {
            let who = if m.role == Role::User {
                "User"
            } else {
                "Assistant"
            };
            format!("{who}: {}\n", first_line_block(&m.content, 400))
        })
        .collect();
    let messages = vec![
        Message::system(REWRITE_SYSTEM),
        Message::user(format!(
            "Conversation:\n{transcript}\nLast question: {question}\n\nStandalone question:"
        )),
    ];
    let params = GenerateParams {
        max_tokens: 48,
        stop: vec!["\n".into()],
        ..GenerateParams::default()
    };
    let gen = run_chat(llm, messages, params, cancel.clone(), |_| {}).await?;
    let q = gen.text.trim().trim_matches('"').trim().to_string();
    // A rewrite that lost the question's own words is not trusted alone.
    Ok(if q.is_empty() {
        question.to_string()
    } else if crate::lexical::content_words(&q)
        .is_disjoint(&crate::lexical::content_words(question))
    {
        format!("{q} {question}")
    } else {
        q
    })
}

fn first_line_block(text: &str, max_chars: usize) -> String {
    let t: String = text.chars().take(max_chars).collect();
    t.replace('\n', " ")
}

/// The source whose words make up most of `answer` (at least 60% of its content words), if any.
fn attribute<'a>(answer: &str, sources: &'a [Citation]) -> Option<&'a Citation> {
    let aw = crate::lexical::content_words(&strip_markers(answer));
    if aw.len() < 2 {
        return None;
    }
    sources
        .iter()
        .map(|s| {
            (
                s,
                crate::lexical::content_words(&s.text)
                    .intersection(&aw)
                    .count() as f64
                    / aw.len() as f64,
            )
        })
        .filter(|(_, share)| *share >= 0.6)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(s, _)| s)
}

/// Find `[n]`, `[n, m]` citation markers; returns the text without markers that point
/// outside `1..=sources`, the valid numbers cited, and the dropped ones.
pub fn resolve_citations(text: &str, sources: usize) -> (String, BTreeSet<usize>, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut cited = BTreeSet::new();
    let mut dropped = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let inner = &after[..close];
        let nums: Option<Vec<usize>> = inner
            .split(',')
            .map(|p| {
                p.trim()
                    .trim_start_matches("Source")
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .collect();
        match nums {
            Some(nums) if !nums.is_empty() => {
                let valid: Vec<usize> = nums
                    .iter()
                    .copied()
                    .filter(|&n| n >= 1 && n <= sources)
                    .collect();
                dropped.extend(nums.iter().copied().filter(|&n| n < 1 || n > sources));
                if !valid.is_empty() {
                    out.push('[');
                    out.push_str(
                        &valid
                            .iter()
                            .map(|n| n.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                    out.push(']');
                }
                cited.extend(valid);
            }
            _ => {
                out.push('[');
                out.push_str(inner);
                out.push(']');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    // removing a marker can leave "word ." or double spaces
    let out = out.replace(" .", ".").replace("  ", " ");
    (out, cited, dropped)
}

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
    llm: Arc<Llm>,
    path: &Path,
    max_file_mb: u64,
    cancel: &Cancel,
    mut on_event: Box<dyn FnMut(SummaryEvent) + Send>,
) -> Result<Summary> {
    let started = Instant::now();
    let p = path.to_path_buf();
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
        if meta.len() > max_file_mb * 1_000_000 {
            return Err(Error::unsupported(format!(
                "file too large ({:.1} MB; the limit is {max_file_mb} MB)",
                meta.len() as f64 / 1e6
            )));
        }
        let bytes = std::fs::read(&p)?;
        crate::extract::extract(&p, &bytes)
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
    let mut parts = split_parts(&llm, &text, part_tokens)?;
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
        parts = split_parts(&llm, &next, part_tokens)?;
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
fn split_parts(llm: &Llm, texts: &[String], budget: usize) -> Result<Vec<String>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citations_pointing_nowhere_are_dropped() {
        let (text, cited, dropped) = resolve_citations(
            "Basil needs sun [1]. It hates frost [2, 7]. See [x] and [9].",
            3,
        );
        assert_eq!(
            text,
            "Basil needs sun [1]. It hates frost [2]. See [x] and."
        );
        assert_eq!(cited.into_iter().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(dropped, vec![7, 9]);
    }

    #[test]
    fn uncited_answers_are_attributed_only_to_a_source_they_come_from() {
        let src = |n: usize, text: &str| Citation {
            n,
            path: format!("/d/{n}.md"),
            page: None,
            text: text.into(),
            heading: String::new(),
            chunk_id: String::new(),
            char_start: 0,
            char_end: 0,
            attributed: false,
        };
        let sources = vec![
            src(1, "Basil needs full sun and warm nights."),
            src(
                2,
                "The eggs hatch after 26 days, almost always in the early morning.",
            ),
        ];
        let got = attribute("The eggs hatch after 26 days.", &sources);
        assert_eq!(got.map(|s| s.n), Some(2));
        assert!(attribute("Tomatoes like compost and regular watering.", &sources).is_none());
    }

    #[test]
    fn very_long_questions_are_refused_with_the_limit() {
        let q = "why ".repeat(5_000);
        let e = check_question(&q).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.to_string().contains("4000"), "{e}");
        assert!(check_question("  ").is_err());
    }
}
