//! Answers from the user's documents, one idea per file: [`ask`] (retrieve → evidence →
//! streamed, cited answer; `ask.rs`), the evidence sentences it shows the model (`evidence.rs`),
//! the prompts (`prompt.rs`), follow-ups in a conversation (`followup.rs`: the question is first
//! rewritten into a standalone query), citation checking (`citations.rs`), and [`summarize`]
//! (map-reduce over a document's pages and sections, streaming the final pass; `summarize.rs`).
//!
//! All of it runs the model on a blocking thread and streams through a callback; a [`Cancel`]
//! stops generation at the next token.

mod ask;
mod check;
mod citations;
mod evidence;
mod followup;
mod prompt;
mod summarize;

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::llm::{ms, GenerateParams, Generation, Generator, Message};
pub use ask::{ask, evidence_for};
pub use check::{question_kind, EvidenceSentence, QuestionKind};

/// Whether `answer` adds nothing to `question` that `sources` hold: it restates the question
/// (or names only what no source has).
pub fn adds_nothing(answer: &str, question: &str, sources: &[Citation]) -> bool {
    check::Judge::new(question, sources)
        .judge(answer)
        .held
        .is_empty()
}

/// The evidence sentence Hearth would quote for `question` from `best` (the answer's
/// `best_sentences`) when the model's answer fails the check, whatever its score.
pub fn best_quote<'a>(
    question: &str,
    sources: &[Citation],
    best: &'a [EvidenceSentence],
) -> Option<&'a EvidenceSentence> {
    check::pick_quote(&check::Judge::new(question, sources), best)
}
pub use citations::{resolve_citations, unsupported_sentences};
pub use summarize::{summarize, Summary, SummaryEvent};

/// What a person sees when the documents do not hold the answer.
pub const NOT_FOUND: &str = "I couldn't find this in your documents.";

/// Longest question accepted, in characters.
pub const MAX_QUESTION_CHARS: usize = 4_000;

/// A source given to the model, numbered as the model sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Tokens drafted by prompt lookup and checked (speculative decoding).
    #[serde(default)]
    pub drafted_tokens: usize,
    /// Of those, the ones kept.
    #[serde(default)]
    pub accepted_tokens: usize,
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
    /// True when the documents were judged not to hold the answer.
    pub not_found: bool,
    /// Why, when `not_found`.
    pub declined_because: Option<DeclineReason>,
    /// True when the answer quotes the evidence ("Your documents say: “…” [n]") instead of
    /// giving the model's words: what the model wrote did not pass the answer check (it
    /// restated the question, named what no source holds, or left out what was asked), or the
    /// question is of a kind quoted without asking the model (`answer.quote_kinds`).
    pub quoted: bool,
    /// What the model wrote, when the answer is not all of it: sentences that did not pass the
    /// answer check were left out, or the answer is a quote or a decline instead.
    pub draft: Option<String>,
    /// What the question asks for (from its question word).
    pub kind: QuestionKind,
    /// The evidence sentences that match the question best, best first (a quote is one of
    /// them).
    pub best_sentences: Vec<EvidenceSentence>,
    /// Sentences of the answer that no source supports (few of their words are in any source).
    pub unsupported: Vec<String>,
    /// Citation numbers the model wrote that matched no source, or a source holding almost none
    /// of the answer's words (removed from `answer`).
    pub dropped_citations: Vec<usize>,
    /// The query retrieval ran (differs from the question for rewritten follow-ups).
    pub query: String,
    /// Cosine similarity between the query and the nearest chunk (what `min_similarity` gates).
    pub best_similarity: f32,
    /// Words of the query that name something no indexed chunk mentions ("WireGuard" asked of
    /// documents that never say it).
    #[serde(default)]
    pub unknown_terms: Vec<String>,
    /// Model name.
    pub model: String,
    /// True when the caller cancelled.
    pub cancelled: bool,
    /// Timings.
    pub timings: AnswerTimings,
}

/// Why an answer says the documents do not hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    /// No passage is close enough to the question by meaning (`answer.min_similarity`).
    NoClosePassage,
    /// The question names something no indexed text mentions (`answer.unknown_terms`).
    UnknownTerms,
    /// Neither the model's answer nor any evidence sentence answers it (the answer check).
    NotInEvidence,
}

/// What a streaming answer reports as it goes.
#[derive(Debug, Clone)]
pub enum AnswerEvent {
    /// The evidence is chosen: these sources go to the model (sent before any answer token).
    Sources(Vec<Citation>),
    /// A piece of answer text (only what passed the answer check is sent; a quote or a
    /// decline comes as one piece).
    Token(String),
}

/// Callback for [`AnswerEvent`]s.
pub type OnEvent = Box<dyn FnMut(AnswerEvent) + Send>;

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

async fn run_chat(
    llm: Arc<dyn Generator>,
    messages: Vec<Message>,
    params: GenerateParams,
    cancel: Cancel,
    mut on_text: impl FnMut(&str) + Send + 'static,
) -> Result<Generation> {
    blocking(move || llm.chat(&messages, &params, &cancel, &mut on_text)).await
}

fn fill_timings(t: &mut AnswerTimings, gen: &Generation, started: Instant, before_ms: f64) {
    t.prompt_tokens = gen.prompt_tokens;
    t.first_token_ms = before_ms + gen.first_token_ms;
    t.tokens_per_s = gen.tokens_per_s;
    t.completion_tokens = gen.completion_tokens;
    t.drafted_tokens = gen.drafted_tokens;
    t.accepted_tokens = gen.accepted_tokens;
    t.total_ms = ms(started);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn very_long_questions_are_refused_with_the_limit() {
        let q = "why ".repeat(5_000);
        let e = check_question(&q).unwrap_err();
        assert_eq!(e.code(), "invalid_request");
        assert!(e.to_string().contains("4000"), "{e}");
        assert!(check_question("  ").is_err());
    }
}

/// The evidence budget when the settings fix none and the answerer is not chosen
/// automatically.
pub const DEFAULT_SOURCE_TOKENS: usize = 400;

/// Settings for answering (the `[answer]` table of config.toml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnswerConfig {
    /// Retrieved chunks whose sentences compete for the prompt.
    pub passages: usize,
    /// Most sources (chunks, each cut down to its chosen sentences) in the prompt.
    pub max_sources: usize,
    /// Model tokens allowed for all sources together (keeps time to first token low). 0 (the
    /// default): automatic — [`DEFAULT_SOURCE_TOKENS`], or 200 when that lets a better
    /// automatically chosen answerer start within `llm.first_token_budget_s` (settled when the
    /// settings load: `crate::llm::speed::choose_evidence`).
    pub source_tokens: usize,
    /// Below this cosine similarity between the question and its nearest chunk, the documents
    /// are taken not to hold the answer and the model is not asked.
    pub min_similarity: f32,
    /// Check every answer against the question and the evidence before showing it (see
    /// `answer::ask`): only sentences that add what the evidence holds are shown; when none
    /// does, the best evidence sentence is quoted or the reply is "not in your documents".
    /// Off: the model's words are shown as it writes them.
    pub check_answers: bool,
    /// When the model's answer fails the check, the best evidence sentence is quoted if its
    /// match with the question (share of the question's words it holds + cosine similarity)
    /// is at least this; otherwise Hearth says the documents do not hold the answer.
    pub min_quote_score: f32,
    /// Kinds of question (`who`, `when`, `where`, `quantity`, `why`, `how`, `what`) answered by
    /// quoting the best evidence sentence without asking the model.
    pub quote_kinds: Vec<QuestionKind>,
    /// No longer used (Hearth does not ask the model whether to decline); accepted so that
    /// older config files still load.
    #[serde(skip_serializing)]
    pub decline_probability: Option<f32>,
    /// Decline, without asking the model, a question that names something no indexed chunk
    /// mentions (a name like "WireGuard", or a word the embedder does not know as one piece);
    /// the reply says which words. A near miss of a word in the retrieved passages (a typo)
    /// does not count.
    pub decline_unknown_terms: bool,
    /// Most tokens in an answer.
    pub max_answer_tokens: usize,
    /// Model tokens of earlier turns kept in a conversation.
    pub history_tokens: usize,
    /// Answer only from documents in these collections (empty: the whole library). Set per
    /// question by the shells, never read from config.toml.
    #[serde(skip)]
    pub collections: Vec<String>,
    /// Sampling temperature of the answer (0: greedy, the default). Set per request by the
    /// shells (the HTTP API's `temperature`), never read from config.toml.
    #[serde(skip)]
    pub temperature: f64,
    /// More strings that end an answer (the HTTP API's `stop`). Set per request.
    #[serde(skip)]
    pub stop: Vec<String>,
    /// `source_tokens` was settled automatically (it was 0), so a change of answerer settles
    /// it again. Never read from config.toml.
    #[serde(skip)]
    pub evidence_auto: bool,
}

impl AnswerConfig {
    /// The evidence budget in tokens (`source_tokens`, with 0 — not settled — as
    /// [`DEFAULT_SOURCE_TOKENS`]).
    pub fn evidence_tokens(&self) -> usize {
        match self.source_tokens {
            0 => DEFAULT_SOURCE_TOKENS,
            n => n,
        }
    }
}

impl Default for AnswerConfig {
    fn default() -> Self {
        Self {
            passages: 8,
            max_sources: 4,
            source_tokens: 0,
            evidence_auto: false,
            min_similarity: 0.25,
            check_answers: true,
            min_quote_score: 0.6,
            // on the development questions a quote was right for 3 of 5 "why" questions, the
            // model for 1; for every other kind the model was right as often or more often
            quote_kinds: vec![QuestionKind::Why],
            decline_probability: None,
            decline_unknown_terms: true,
            max_answer_tokens: 256,
            history_tokens: 400,
            collections: Vec::new(),
            temperature: 0.0,
            stop: Vec::new(),
        }
    }
}
