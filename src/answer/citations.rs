//! Citation checking: markers that point nowhere are dropped, an uncited answer built from a
//! source's words is attributed to it, and answer sentences no source supports are listed.

use std::collections::{BTreeSet, HashSet};

use super::Citation;

/// Whether an answer is the model saying the documents do not hold it.
pub(super) fn is_decline(answer: &str) -> bool {
    let a = answer.to_lowercase();
    a.contains("couldn't find this") || a.contains("could not find this")
}

/// Answer sentences of at least three content words, less than half of which appear in any one
/// source: what a reader should check before trusting.
pub(super) fn unsupported_sentences(answer: &str, sources: &[Citation]) -> Vec<String> {
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

/// The source whose words make up most of `answer` (at least 60% of its content words), if any.
pub(super) fn attribute<'a>(answer: &str, sources: &'a [Citation]) -> Option<&'a Citation> {
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
}
