//! The answer prompt: instructions, then the numbered evidence and the question.

use super::Citation;

/// The answer instructions: the same for every kind of document (no wording about commands
/// or settings, which leaked into answers about letters and mail), and no refusal to give:
/// whether the documents hold an answer is decided outside the model (see `check.rs`).
pub(super) const ASK_SYSTEM: &str = "You answer questions about the user's own documents \
(notes, letters, mail, articles, reports, books, manuals) from numbered excerpts of them. Reply \
with the answer itself in one or two plain sentences, using the facts the excerpts give, and \
put the number of each excerpt you use in brackets, like [1].";

/// The user turn of an answer: the evidence, numbered, then the question.
pub(super) fn ask_prompt(question: &str, sources: &[Citation]) -> String {
    let excerpts: String = sources
        .iter()
        .map(|s| format!("[{}] ({}) {}\n", s.n, source_label(s), s.text))
        .collect();
    format!("Excerpts:\n{excerpts}\nQuestion: {question}")
}

pub(super) fn source_label(s: &Citation) -> String {
    let place = crate::extract::place(&s.path, s.page);
    // the section the excerpt is in often names what it is about ("EXPLAIN > Parameters")
    let parts: Vec<&str> = s
        .heading
        .split(" > ")
        .filter(|p| !p.trim().is_empty())
        .collect();
    let section = parts[parts.len().saturating_sub(2)..].join(" > ");
    if section.is_empty() || section.chars().count() > 80 {
        place
    } else {
        format!("{place}, {section}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(page: Option<u32>, heading: &str) -> Citation {
        Citation {
            n: 2,
            path: "/docs/pg/sql-explain.html".into(),
            page,
            text: "Include information on buffer usage.".into(),
            heading: heading.into(),
            chunk_id: "c".into(),
            char_start: 0,
            char_end: 10,
            attributed: false,
        }
    }

    #[test]
    fn excerpts_are_numbered_with_their_place_and_section() {
        let p = ask_prompt(
            "which option shows buffers?",
            &[source(None, "SQL Commands > EXPLAIN > Parameters")],
        );
        assert_eq!(
            p,
            "Excerpts:\n[2] (sql-explain.html, EXPLAIN > Parameters) Include information on \
             buffer usage.\n\nQuestion: which option shows buffers?"
        );
        assert_eq!(
            source_label(&source(Some(7), "")),
            "sql-explain.html, page 7"
        );
    }
}
