//! The answer prompt: instructions, then the numbered evidence and the question.

use std::path::Path;

use super::Citation;

pub(super) const ASK_SYSTEM: &str =
    "You answer questions about the user's documents from numbered \
excerpts of them. Give the answer the excerpts contain in one to three sentences, and put the \
number of each excerpt you use in brackets, like [1]. Only when no excerpt is about the \
question, reply: I couldn't find this in your documents.";

/// The user turn of an answer: the evidence, numbered, then the question.
pub(super) fn ask_prompt(question: &str, sources: &[Citation]) -> String {
    let excerpts: String = sources
        .iter()
        .map(|s| format!("[{}] ({}) {}\n", s.n, source_label(s), s.text))
        .collect();
    format!("Excerpts:\n{excerpts}\nQuestion: {question}")
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
