//! Question words in sentences: the cheap, exact signal that complements embeddings.
//!
//! A question's content words (stop words dropped, lightly stemmed) weigh by how rare they are
//! among the candidate sentences, so the topic word every sentence shares counts little and the
//! word that singles out the answer counts a lot. A sentence's *coverage* is the share of the
//! question's weight it holds. Evidence selection ([`crate::answer`]) picks sentences by it, and
//! the second stage of hybrid search ([`crate::retrieve::rerank`]) uses each chunk's best
//! sentence.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

/// Longest sentence, in words, before it is cut into pieces (tables, code and PDF lines without
/// full stops make "sentences" of hundreds of words).
const MAX_SENTENCE_WORDS: usize = 40;

/// Words that carry no topic.
const STOPWORDS: &[&str] = &[
    "it", "is", "at", "in", "on", "of", "to", "an", "as", "be", "by", "do", "if", "or", "so", "we",
    "my", "me", "he", "us", "am", "were", "been", "being", "these", "those", "here", "whom", "the",
    "and", "for", "are", "was", "what", "which", "who", "how", "does", "did", "with", "that",
    "this", "from", "about", "into", "when", "where", "why", "you", "your", "can", "its", "his",
    "her", "their", "there", "have", "has", "had", "not", "but", "all", "any", "one", "use",
    "using", "get", "make", "way", "there", "want", "need", "should", "would", "could", "will",
    "than", "then", "them", "they", "some", "like", "also", "just", "only", "other", "out", "more",
    "most", "such", "each", "many", "much", "very", "way", "ways", "thing",
];

/// Content words of `text`, lowercased and lightly stemmed (plural and -ing/-ed endings), so
/// "hatching" meets "hatch" and "variables" meets "variable".
pub(crate) fn content_words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| w.chars().count() >= 2)
        .map(|w| w.to_lowercase())
        .filter(|w| !STOPWORDS.contains(&w.as_str()))
        .map(|w| stem(&w))
        .collect()
}

fn stem(w: &str) -> String {
    let n = w.len();
    let mut s = if w.ends_with("ies") && n > 4 {
        format!("{}y", &w[..n - 3])
    } else if w.ends_with("es")
        && n > 4
        && ["s", "x", "z", "ch", "sh"]
            .iter()
            .any(|e| w[..n - 2].ends_with(e))
    {
        w[..n - 2].to_string()
    } else if w.ends_with('s') && !w.ends_with("ss") && n > 3 {
        w[..n - 1].to_string()
    } else if w.ends_with("ing") && n >= 6 {
        w[..n - 3].to_string()
    } else if w.ends_with("ed") && n >= 5 {
        w[..n - 2].to_string()
    } else {
        w.to_string()
    };
    if s.len() > 3 && s.ends_with('e') {
        s.pop();
    }
    s
}

/// Byte ranges of the sentences of `text` (split at `.`/`!`/`?` before white space and at line
/// breaks; over-long ones cut every [`MAX_SENTENCE_WORDS`] words), trimmed, none empty.
pub(crate) fn sentence_ranges(text: &str) -> Vec<Range<usize>> {
    let mut raw = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        let boundary = (matches!(c, '.' | '!' | '?')
            && bytes.get(end).is_none_or(|b| b.is_ascii_whitespace()))
            || c == '\n';
        if boundary {
            raw.push(start..end);
            start = end;
        }
    }
    raw.push(start..text.len());
    let mut out = Vec::new();
    for r in raw {
        let s = &text[r.clone()];
        let lead = s.len() - s.trim_start().len();
        let r = r.start + lead..r.start + s.trim_end().len();
        if r.is_empty() {
            continue;
        }
        // cut long runs at word starts
        let mut piece_start = r.start;
        let mut words = 0;
        for (i, space) in text[r.clone()].match_indices(char::is_whitespace) {
            let at = r.start + i;
            words += 1;
            if words >= MAX_SENTENCE_WORDS {
                let piece = piece_start..at;
                if !text[piece.clone()].trim().is_empty() {
                    out.push(piece);
                }
                piece_start = at + space.len(); // a thin or no-break space is 2-3 bytes
                words = 0;
            }
        }
        let tail = piece_start..r.end;
        if !text[tail.clone()].trim().is_empty() {
            let t = &text[tail.clone()];
            let lead = t.len() - t.trim_start().len();
            out.push(tail.start + lead..tail.end);
        }
    }
    out
}

/// For each of `texts`, its sentences (byte ranges) with their coverage of `query`'s words, in
/// 0..=1. Word weights are computed over all the sentences of all the texts.
pub(crate) fn sentence_coverage(query: &str, texts: &[&str]) -> Vec<Vec<(Range<usize>, f64)>> {
    let ranges: Vec<Vec<Range<usize>>> = texts.iter().map(|t| sentence_ranges(t)).collect();
    let words: Vec<Vec<HashSet<String>>> = texts
        .iter()
        .zip(&ranges)
        .map(|(t, rs)| rs.iter().map(|r| content_words(&t[r.clone()])).collect())
        .collect();
    let query_words = content_words(query);
    let n = ranges.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    let mut df: HashMap<&str, usize> = HashMap::new();
    for w in &query_words {
        let count = words.iter().flatten().filter(|s| s.contains(w)).count();
        df.insert(w, count);
    }
    let idf = |w: &str| (1.0 + n / (df.get(w).copied().unwrap_or(0) as f64 + 0.5)).ln();
    let total: f64 = query_words.iter().map(|w| idf(w)).sum::<f64>().max(1e-9);
    ranges
        .into_iter()
        .zip(words)
        .map(|(rs, ws)| {
            rs.into_iter()
                .zip(ws)
                .map(|(r, sw)| {
                    let covered: f64 = query_words
                        .iter()
                        .filter(|w| sw.contains(*w))
                        .map(|w| idf(w))
                        .sum();
                    (r, covered / total)
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_stops_and_lines_and_long_runs() {
        let text = "First one. Second? v1.2 stays whole\nline two";
        let got: Vec<&str> = sentence_ranges(text)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(
            got,
            vec!["First one.", "Second?", "v1.2 stays whole", "line two"]
        );
        let long = "w ".repeat(100);
        let pieces = sentence_ranges(&long);
        assert_eq!(pieces.len(), 3);
        assert!(pieces
            .iter()
            .all(|r| long[r.clone()].split_whitespace().count() <= MAX_SENTENCE_WORDS));
    }

    #[test]
    fn long_runs_are_cut_at_wide_spaces_too() {
        // HaluEval's Quanah Parker passage: thin spaces (3 bytes) and no-break spaces (2)
        for space in ['\u{2009}', '\u{a0}', ' '] {
            let text = format!("(  1845{space}or 1852 – Fe{space}").repeat(30);
            let ranges = sentence_ranges(&text);
            assert!(ranges.len() >= 3, "{ranges:?}");
            for r in &ranges {
                let piece = &text[r.clone()]; // slicing panics off a char boundary
                assert!(!piece.trim().is_empty(), "{r:?}");
            }
        }
    }

    #[test]
    fn rare_question_words_weigh_more_than_the_topic_word() {
        let texts = [
            "History is kept. History has a size. The history file is HISTFILE.",
            "History lines are numbered.",
        ];
        let cov = sentence_coverage("which file keeps the history", &texts);
        // "history" is in every sentence, "file" in one: that sentence covers the most.
        let best = cov[0]
            .iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(r, _)| &texts[0][r.clone()])
            .unwrap();
        assert_eq!(best, "The history file is HISTFILE.");
        assert!(cov[1][0].1 > 0.0 && cov[1][0].1 < 0.5);
        for (a, b) in [
            ("variables", "variable"),
            ("hatching", "hatches"),
            ("named", "names"),
            ("queries", "query"),
        ] {
            assert_eq!(content_words(a), content_words(b), "{a} / {b}");
        }
    }
}
