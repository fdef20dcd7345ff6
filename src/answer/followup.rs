//! Follow-up questions: the conversation kept within a token budget, and the last question
//! rewritten into a standalone search query.

use std::sync::Arc;

use super::run_chat;
use crate::cancel::Cancel;
use crate::error::Result;
use crate::llm::{GenerateParams, Generator, Message, Role};

const REWRITE_SYSTEM: &str = "Rewrite the user's last question as one standalone search \
question that makes sense without the conversation: name what \"it\", \"they\" or \"that\" \
refers to. Do not answer it. Reply with the question only.\n\nExample:\nConversation:\nUser: \
What is rsync?\nAssistant: A tool that copies files between machines [1].\nLast question: \
Does it keep permissions?\n\nStandalone question: Does rsync keep file permissions when it \
copies?";

/// Keep the most recent turns of `history` that fit `budget` model tokens.
pub(super) fn trim_history(
    llm: &dyn Generator,
    history: &[Message],
    budget: usize,
) -> Result<Vec<Message>> {
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

pub(super) async fn rewrite_query(
    llm: Arc<dyn Generator>,
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
