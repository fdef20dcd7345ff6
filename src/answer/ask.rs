//! [`ask`]: retrieve, choose the evidence, prompt the model, check its citations.

use std::sync::Arc;
use std::time::Instant;

use super::citations::{
    attribute, drop_citations, is_decline, resolve_citations, source_shares, unsupported_citations,
    unsupported_sentences,
};
use super::followup::{rewrite_query, trim_history};
use super::prompt::{ask_prompt, ASK_INSIST, ASK_SYSTEM};
use super::{
    blocking, check_question, evidence, fill_timings, run_chat, Answer, AnswerConfig, AnswerEvent,
    AnswerTimings, Citation, OnEvent, NOT_FOUND,
};
use crate::cancel::Cancel;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::llm::{ms, GenerateParams, Generator, GuardedReply, Message};

/// Answer `question` from `library`, continuing the conversation `history` (oldest first,
/// user/assistant turns; may be empty). Sources and tokens stream to `on_event`.
pub async fn ask(
    library: &Library,
    llm: Arc<dyn Generator>,
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
    let history = trim_history(llm.as_ref(), history, cfg.history_tokens)?;

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
    let (search, unknown_terms) = tokio::join!(
        library.search_with_similarity(&query, cfg.passages.max(1), &cfg.collections),
        library.unknown_terms(&query, &cfg.collections)
    );
    let ((hits, best, _), mut unknown_terms) = (search?, unknown_terms?);
    // a misspelt word is not a missing one
    unknown_terms.retain(|t| !crate::lexical::near_miss(t, hits.iter().map(|h| h.text.as_str())));
    timings.retrieve_ms = ms(t);
    let model = llm.info().name.clone();
    let names_the_unknown = cfg.decline_unknown_terms && !unknown_terms.is_empty();
    if hits.is_empty() || best < cfg.min_similarity || names_the_unknown {
        let answer = if names_the_unknown {
            never_mentioned(&unknown_terms)
        } else {
            NOT_FOUND.to_string()
        };
        on_event(AnswerEvent::Token(answer.clone()));
        timings.total_ms = ms(started);
        return Ok(Answer {
            answer,
            citations: Vec::new(),
            sources: Vec::new(),
            not_found: true,
            unsupported: Vec::new(),
            dropped_citations: Vec::new(),
            query,
            best_similarity: best,
            unknown_terms,
            decline_probability: None,
            model,
            cancelled: false,
            timings,
        });
    }
    let sources = {
        let (query, llm, embedder) = (query.clone(), llm.clone(), library.embedder().clone());
        let (budget, max_sources) = (cfg.source_tokens, cfg.max_sources);
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
        .await?
    };
    timings.evidence_ms = ms(started);
    on_event(AnswerEvent::Sources(sources.clone()));

    // 3. Prompt: instructions, earlier turns, then the evidence with the question.
    let mut messages = vec![Message::system(ASK_SYSTEM)];
    messages.extend(history.iter().cloned());
    messages.push(Message::user(ask_prompt(&question, &sources)));
    let before_generation_ms = ms(started);
    let params = GenerateParams {
        max_tokens: cfg.max_answer_tokens,
        temperature: cfg.temperature,
        stop: ["\nQuestion:", "\nSources:"]
            .into_iter()
            .map(String::from)
            .chain(cfg.stop.iter().filter(|s| !s.is_empty()).cloned())
            .collect(),
        guard: Some(GuardedReply {
            text: NOT_FOUND.into(),
            min_probability: cfg.decline_probability,
            insist: ASK_INSIST.into(),
        }),
        barred_starts: vec!["[1]".into(), " [1]".into()],
        ..GenerateParams::default()
    };
    let gen = run_chat(llm, messages, params, cancel.clone(), move |piece| {
        on_event(AnswerEvent::Token(piece.to_string()))
    })
    .await?;

    // 4. Keep only citations that point at a source holding some of the answer; an uncited
    //    answer most of whose words one source holds is attributed to it (and says so).
    let (mut answer, mut cited, mut dropped) = resolve_citations(&gen.text, sources.len());
    let declined = is_decline(&answer);
    let shares = source_shares(&answer, &question, &sources);
    let unsupported_cited = unsupported_citations(&cited, &shares);
    if !declined && !unsupported_cited.is_empty() {
        answer = drop_citations(&answer, &unsupported_cited);
        cited.retain(|n| !unsupported_cited.contains(n));
        dropped.extend(unsupported_cited);
    }
    let mut citations: Vec<Citation> = sources
        .iter()
        .filter(|s| cited.contains(&s.n) && !declined)
        .cloned()
        .collect();
    if citations.is_empty() && !declined {
        if let Some(src) = attribute(&shares, &sources) {
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
        unknown_terms,
        decline_probability: gen.guard_probability,
        model,
        cancelled: gen.stop_reason == crate::llm::StopReason::Cancelled,
        timings,
    })
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
        assert!(super::super::citations::is_decline(&one));
        let three = never_mentioned(&["a".into(), "b".into(), "c".into()]);
        assert!(
            three.ends_with("\u{201c}a\u{201d}, \u{201c}b\u{201d} or \u{201c}c\u{201d}."),
            "{three}"
        );
    }
}
