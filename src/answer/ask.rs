//! [`ask`]: retrieve, choose the evidence, prompt the model, check its answer and citations.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::check::{pick_quote, question_kind, quote_reply, says_not_there, Gate, Judge};
use super::citations::{
    attribute, drop_citations, resolve_citations, source_shares, unsupported_citations,
    unsupported_sentences,
};
use super::followup::{rewrite_query, trim_history};
use super::prompt::{ask_prompt, ASK_SYSTEM};
use super::{
    blocking, check_question, evidence, fill_timings, run_chat, Answer, AnswerConfig, AnswerEvent,
    AnswerTimings, Citation, DeclineReason, OnEvent, NOT_FOUND,
};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::llm::{ms, GenerateParams, Generator, Message};

/// Answer `question` from `library`, continuing the conversation `history` (oldest first,
/// user/assistant turns; may be empty). Sources and tokens stream to `on_event`.
///
/// The model is asked to answer from the evidence and never to decline: whether the documents
/// hold an answer is decided around it. Before it runs, by how close the nearest passage is
/// (`min_similarity`) and by words of the question no document mentions; after, by the answer
/// check (`check.rs`): only sentences that add what the evidence holds are shown, and when none
/// does, the evidence sentence that matches best is quoted (if it matches well enough,
/// `min_quote_score`) or the reply is "not in your documents".
pub async fn ask(
    library: &Library,
    llm: Arc<dyn Generator>,
    question: &str,
    history: &[Message],
    cfg: &AnswerConfig,
    cancel: &Cancel,
    on_event: OnEvent,
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
    let history = trim_history(llm.as_ref(), history, cfg.history_tokens)?;
    let on_event = Arc::new(Mutex::new(on_event));
    let emit = {
        let on_event = on_event.clone();
        move |e: AnswerEvent| {
            if let Ok(mut f) = on_event.lock() {
                f(e)
            }
        }
    };

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
    let kind = question_kind(&question);
    let model = llm.info().name.clone();
    let mut answer = Answer {
        answer: String::new(),
        citations: Vec::new(),
        sources: Vec::new(),
        not_found: false,
        declined_because: None,
        quoted: false,
        draft: None,
        kind,
        best_sentences: Vec::new(),
        unsupported: Vec::new(),
        dropped_citations: Vec::new(),
        query: query.clone(),
        best_similarity: f32::MIN,
        unknown_terms: Vec::new(),
        model,
        cancelled: false,
        timings: AnswerTimings::default(),
    };

    // 2. Retrieve; decide whether the documents can answer at all.
    let t = Instant::now();
    let (search, unknown_terms) = tokio::join!(
        library.search_with_similarity(&query, cfg.passages.max(1), &cfg.collections),
        library.unknown_terms(&query, &cfg.collections)
    );
    let ((hits, best, _), mut unknown_terms) = (search?, unknown_terms?);
    // a misspelt word is not a missing one, nor one the passages found say in another form
    // or by initials, in their text or their document's name and headings
    let places: Vec<String> = hits
        .iter()
        .flat_map(|h| {
            [
                h.text.clone(),
                crate::store::chunk_context(&h.path, &h.heading),
            ]
        })
        .collect();
    unknown_terms.retain(|t| {
        !crate::lexical::near_miss(t, places.iter().map(String::as_str))
            && !places.iter().any(|p| {
                crate::lexical::mentions(p, t)
                    || crate::lexical::mentions_in_another_form(p, t)
                    || crate::lexical::mentions_joined(p, &query, t)
            })
    });
    timings.retrieve_ms = ms(t);
    answer.best_similarity = best;
    answer.unknown_terms = unknown_terms;
    let names_the_unknown = cfg.decline_unknown_terms && !answer.unknown_terms.is_empty();
    if hits.is_empty() || best < cfg.min_similarity || names_the_unknown {
        let (text, reason) = if names_the_unknown {
            (
                never_mentioned(&answer.unknown_terms),
                DeclineReason::UnknownTerms,
            )
        } else {
            (NOT_FOUND.to_string(), DeclineReason::NoClosePassage)
        };
        emit(AnswerEvent::Token(text.clone()));
        timings.total_ms = ms(started);
        timings.first_token_ms = timings.total_ms;
        answer.answer = text;
        answer.not_found = true;
        answer.declined_because = Some(reason);
        answer.timings = timings;
        return Ok(answer);
    }
    let evidence = choose_evidence(library, llm.clone(), &query, hits, cfg).await?;
    let sources = evidence.sources;
    answer.best_sentences = evidence.best;
    timings.evidence_ms = ms(started);
    emit(AnswerEvent::Sources(sources.clone()));
    let judge = Judge::new(&question, &sources).with_close(&answer.best_sentences);

    // 3. Quote without asking the model, for the kinds of question where a quote is right more
    //    often than the model.
    if cfg.check_answers && cfg.quote_kinds.contains(&kind) {
        let reply = fallback(&judge, &answer.best_sentences, cfg.min_quote_score, None);
        timings.first_token_ms = ms(started);
        return Ok(finish_without_model(answer, reply, sources, timings, &emit));
    }

    // 4. Prompt: instructions, earlier turns, then the evidence with the question.
    let mut messages = vec![Message::system(ASK_SYSTEM)];
    messages.extend(history.iter().cloned());
    messages.push(Message::user(ask_prompt(&question, &sources)));
    let before_generation_ms = ms(started);
    let params = GenerateParams {
        max_tokens: cfg.max_answer_tokens,
        temperature: cfg.temperature,
        stop: ["\nQuestion:", "\nExcerpts:"]
            .into_iter()
            .map(String::from)
            .chain(cfg.stop.iter().filter(|s| !s.is_empty()).cloned())
            .collect(),
        ..GenerateParams::default()
    };
    // Only sentences that pass the check are shown as they are written.
    let gate = Arc::new(Mutex::new(Gate::new(judge)));
    let first_shown: Arc<Mutex<Option<f64>>> = Arc::new(Mutex::new(None));
    let checking = cfg.check_answers;
    // Generation also stops when the check has seen enough (see `Gate::gave_up`).
    let generation = cancel.child();
    let gen = {
        let (gate, first_shown, emit) = (gate.clone(), first_shown.clone(), emit.clone());
        let generation_stop = generation.clone();
        run_chat(llm, messages, params, generation, move |piece| {
            let shown = if checking {
                gate.lock()
                    .map(|mut g| {
                        let shown = g.push(piece);
                        if g.gave_up() {
                            generation_stop.cancel();
                        }
                        shown
                    })
                    .unwrap_or_default()
            } else {
                piece.to_string()
            };
            if !shown.is_empty() {
                if let Ok(mut f) = first_shown.lock() {
                    f.get_or_insert_with(|| ms(started));
                }
                emit(AnswerEvent::Token(shown));
            }
        })
        .await?
    };
    let mut gate = Arc::try_unwrap(gate)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .ok_or_else(|| Error::Internal("the answer check is still in use".into()))?;
    fill_timings(&mut timings, &gen, started, before_generation_ms);
    let cancelled = cancel.is_cancelled();
    answer.cancelled = cancelled;
    let shown = if checking {
        let rest = if cancelled {
            String::new()
        } else {
            gate.finish()
        };
        if !rest.is_empty() {
            emit(AnswerEvent::Token(rest));
        }
        gate.shown().to_string()
    } else {
        gen.text.clone()
    };
    if let Some(t) = *first_shown
        .lock()
        .map_err(|_| Error::Internal("timer".into()))?
    {
        timings.first_token_ms = t;
    }
    if checking && shown.trim().is_empty() && !cancelled {
        // Nothing the model wrote passed: quote the evidence, or decline.
        let reply = fallback(
            gate.judge(),
            &answer.best_sentences,
            cfg.min_quote_score,
            Some(&gen.text),
        );
        answer.draft = Some(gen.text.trim().to_string());
        timings.first_token_ms = ms(started);
        return Ok(finish_without_model(answer, reply, sources, timings, &emit));
    }
    if shown.trim() != gen.text.trim() {
        answer.draft = Some(gen.text.trim().to_string());
    }

    // 5. Keep only citations that point at a source holding some of the answer; an uncited
    //    answer most of whose words one source holds is attributed to it (and says so).
    let (mut text, mut cited, mut dropped) = resolve_citations(&shown, sources.len());
    let shares = source_shares(&text, &question, &sources);
    let unsupported_cited = unsupported_citations(&cited, &shares);
    if !unsupported_cited.is_empty() {
        text = drop_citations(&text, &unsupported_cited);
        cited.retain(|n| !unsupported_cited.contains(n));
        dropped.extend(unsupported_cited);
    }
    let mut citations: Vec<Citation> = sources
        .iter()
        .filter(|s| cited.contains(&s.n))
        .cloned()
        .collect();
    if citations.is_empty() {
        if let Some(src) = attribute(&shares, &sources) {
            text = format!("{} [{}]", text.trim_end(), src.n);
            citations.push(Citation {
                attributed: true,
                ..src.clone()
            });
        }
    }
    answer.unsupported = unsupported_sentences(&text, &sources);
    answer.answer = text.trim().to_string();
    answer.citations = citations;
    answer.dropped_citations = dropped;
    answer.sources = sources;
    answer.timings = timings;
    Ok(answer)
}

/// The sources and best sentences `ask` would put before the model for `query` (retrieval and
/// evidence selection, no generation and no decline checks): what `hearth eval --evidence`
/// scores.
pub async fn evidence_for(
    library: &Library,
    llm: Arc<dyn Generator>,
    query: &str,
    cfg: &AnswerConfig,
) -> Result<(Vec<Citation>, Vec<super::EvidenceSentence>)> {
    let (hits, _, _) = library
        .search_with_similarity(query, cfg.passages.max(1), &cfg.collections)
        .await?;
    let evidence = choose_evidence(library, llm, query, hits, cfg).await?;
    Ok((evidence.sources, evidence.best))
}

/// Choose the evidence for `query` from `hits` on a blocking thread (sentences embedded with the
/// library's embedder, tokens counted with `llm`'s tokenizer).
async fn choose_evidence(
    library: &Library,
    llm: Arc<dyn Generator>,
    query: &str,
    hits: Vec<crate::retrieve::Hit>,
    cfg: &AnswerConfig,
) -> Result<evidence::Evidence> {
    let (query, embedder) = (query.to_string(), library.embedder().clone());
    let (budget, max_sources) = (cfg.evidence_tokens(), cfg.max_sources);
    blocking(move || {
        evidence::select(
            &query,
            &hits,
            budget,
            max_sources,
            &|s| llm.count_tokens(s),
            &|texts| embedder.embed(texts),
        )
    })
    .await
}

/// What Hearth says when it does not show the model's words.
enum Reply {
    /// This evidence sentence, quoted.
    Quote(super::EvidenceSentence),
    /// "Not in your documents".
    Decline,
}

/// Quote the evidence sentence that answers best, if one matches the question at least
/// `min_score` and adds something to it; decline when none does, or when the model's `draft`
/// said the excerpts do not tell.
fn fallback(
    judge: &Judge,
    best: &[super::EvidenceSentence],
    min_score: f32,
    draft: Option<&str>,
) -> Reply {
    if draft.is_some_and(says_not_there) {
        return Reply::Decline;
    }
    match pick_quote(judge, best) {
        Some(s) if s.score() >= f64::from(min_score) => Reply::Quote(s.clone()),
        _ => Reply::Decline,
    }
}

/// Give `reply` as the answer (streamed as one piece, at `timings.first_token_ms`).
fn finish_without_model(
    mut answer: Answer,
    reply: Reply,
    sources: Vec<Citation>,
    mut timings: AnswerTimings,
    emit: &dyn Fn(AnswerEvent),
) -> Answer {
    match reply {
        Reply::Quote(s) => {
            answer.answer = quote_reply(&s);
            answer.quoted = true;
            answer.citations = sources.iter().filter(|c| c.n == s.n).cloned().collect();
        }
        Reply::Decline => {
            answer.answer = NOT_FOUND.to_string();
            answer.not_found = true;
            answer.declined_because = Some(DeclineReason::NotInEvidence);
        }
    }
    emit(AnswerEvent::Token(answer.answer.clone()));
    timings.total_ms = timings.first_token_ms;
    answer.sources = sources;
    answer.timings = timings;
    answer
}

/// The reply to a question that names what the documents never mention.
fn never_mentioned(terms: &[String]) -> String {
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\u{201c}{t}\u{201d}"))
        .collect();
    let list = match quoted.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    format!("{} They never mention {list}.", NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reply_names_the_missing_words() {
        let one = never_mentioned(&["WireGuard".into()]);
        assert_eq!(
            one,
            "I couldn't find this in your documents. They never mention \u{201c}WireGuard\u{201d}."
        );
        let three = never_mentioned(&["a".into(), "b".into(), "c".into()]);
        assert!(
            three.ends_with("\u{201c}a\u{201d}, \u{201c}b\u{201d} or \u{201c}c\u{201d}."),
            "{three}"
        );
    }
}
