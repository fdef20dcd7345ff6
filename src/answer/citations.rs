//! Citation checking: markers that point nowhere are dropped, an uncited answer built from a
//! source's words is attributed to it, and answer sentences no source supports are listed.

use std::collections::BTreeSet;

use super::Citation;

/// Answer sentences of at least three content words, less than half of which appear in any one
/// source: what a reader should check before trusting.
pub fn unsupported_sentences(answer: &str, sources: &[Citation]) -> Vec<String> {
    let source_words: Vec<BTreeSet<String>> = sources
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

/// How much of `answer` each source holds: the answer's content words that do not just restate
/// `question` (all of them when it only restates it) and that some source has, each weighed by
/// how rare it is among the sources (the option or value an answer names is usually in one
/// source only); a source's share is the weight of those words it has over the weight of them
/// all. All zero when no such word exists
/// (words found in no source — "based on the excerpts" — are evidence of nothing).
pub(super) fn source_shares(answer: &str, question: &str, sources: &[Citation]) -> Vec<f64> {
    let asked = crate::lexical::content_words(question);
    let source_words: Vec<BTreeSet<String>> = sources
        .iter()
        .map(|s| crate::lexical::content_words(&s.text))
        .collect();
    let n = sources.len() as f64;
    let answered = crate::lexical::content_words(&strip_markers(answer));
    let weigh = |restating: bool| -> Vec<(String, f64)> {
        answered
            .iter()
            .filter(|w| restating || !asked.contains(*w))
            .filter_map(|w| {
                let df = source_words
                    .iter()
                    .filter(|s| s.contains(w.as_str()))
                    .count() as f64;
                (df > 0.0).then(|| ((*w).clone(), (1.0 + n / (df + 0.5)).ln()))
            })
            .collect()
    };
    // an answer that only restates the question ("X was started first", asked which of X and
    // Y was) still comes from where its words are
    let mut weighed = weigh(false);
    if weighed.is_empty() {
        weighed = weigh(true);
    }
    let total: f64 = weighed.iter().map(|(_, x)| x).sum();
    source_words
        .iter()
        .map(|sw| {
            if total <= 0.0 {
                return 0.0;
            }
            let held: f64 = weighed
                .iter()
                .filter(|(w, _)| sw.contains(w))
                .map(|(_, x)| x)
                .sum();
            held / total
        })
        .collect()
}

/// The source an uncited answer comes from, if one stands out: the one with the largest of
/// `shares` (see [`source_shares`]), when that is at least [`ATTRIBUTION_SHARE`]. Sources that
/// hold the same weight (shares within [`SHARE_TIE`]: the same sum added in another order)
/// are tied, and the first of them — the better-ranked source — is taken.
pub(super) fn attribute<'a>(shares: &[f64], sources: &'a [Citation]) -> Option<&'a Citation> {
    let best = shares
        .iter()
        .take(sources.len())
        .copied()
        .fold(f64::NEG_INFINITY, f64::max);
    if best < ATTRIBUTION_SHARE {
        return None;
    }
    sources
        .iter()
        .zip(shares)
        .find(|(_, &share)| share >= best - SHARE_TIE)
        .map(|(s, _)| s)
}

/// Shares closer than this are the same weight (see [`attribute`]).
const SHARE_TIE: f64 = 1e-9;

/// The sources the model cited that hold (almost) none of its answer: less than
/// [`CITED_SHARE`] of `shares`, while the answer has words some source holds.
pub(super) fn unsupported_citations(cited: &BTreeSet<usize>, shares: &[f64]) -> Vec<usize> {
    if shares.iter().all(|&s| s <= 0.0) {
        return Vec::new();
    }
    cited
        .iter()
        .copied()
        .filter(|&n| {
            n.checked_sub(1)
                .and_then(|i| shares.get(i))
                .is_some_and(|&s| s < CITED_SHARE)
        })
        .collect()
}

/// Share of an uncited answer's word weight a source must hold to be credited with it.
const ATTRIBUTION_SHARE: f64 = 0.5;

/// Share of an answer's word weight below which a source the model cited is not taken to
/// support it (the marker is dropped).
const CITED_SHARE: f64 = 0.15;

/// `text` without the citation markers (or the numbers within them) `drop` names.
pub(super) fn drop_citations(text: &str, drop: &[usize]) -> String {
    filter_citations(text, |n| !drop.contains(&n)).0
}

/// Find `[n]`, `[n, m]` citation markers; returns the text without markers that point
/// outside `1..=sources`, the valid numbers cited, and the dropped ones.
pub fn resolve_citations(text: &str, sources: usize) -> (String, BTreeSet<usize>, Vec<usize>) {
    filter_citations(text, |n| n >= 1 && n <= sources)
}

/// Markers `[n]`/`[n, m]` of `text` with only the numbers `keep` accepts (a marker left with
/// none goes); returns the text, the numbers kept and those dropped.
fn filter_citations(
    text: &str,
    keep: impl Fn(usize) -> bool,
) -> (String, BTreeSet<usize>, Vec<usize>) {
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
                let valid: Vec<usize> = nums.iter().copied().filter(|&n| keep(n)).collect();
                dropped.extend(nums.iter().copied().filter(|&n| !keep(n)));
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

    /// Two sources: basil (1) and eggs hatching (2).
    fn garden_sources() -> Vec<Citation> {
        let src = |n: usize, text: &str| Citation {
            n,
            path: format!("/d/{n}.md"),
            text: text.into(),
            ..Default::default()
        };
        vec![
            src(1, "Basil needs full sun and warm nights."),
            src(
                2,
                "The eggs hatch after 26 days, almost always in the early morning.",
            ),
        ]
    }

    #[test]
    fn uncited_answers_are_attributed_only_to_a_source_they_come_from() {
        let sources = garden_sources();
        let attr = |answer: &str, q: &str| {
            attribute(&source_shares(answer, q, &sources), &sources).map(|s| s.n)
        };
        assert_eq!(
            attr("The eggs hatch after 26 days.", "when do the eggs hatch?"),
            Some(2)
        );
        assert_eq!(
            attr(
                "Tomatoes like compost and regular watering.",
                "how do I grow tomatoes?"
            ),
            None
        );
        // an answer that only restates the question goes where its words are
        assert_eq!(
            attr("Basil is fine in full sun.", "is basil fine in full sun?"),
            Some(1)
        );
        assert_eq!(
            attr("The eggs hatch.", "which hatch: eggs or basil?"),
            Some(2)
        );
        // the rare word the answer names decides; words no source has count for nothing
        let answer = "Based on the excerpts, in the early morning, usually.";
        assert_eq!(attr(answer, "when do they come out?"), Some(2));
    }

    #[test]
    fn sources_holding_the_same_weight_go_to_the_better_ranked_one() {
        let sources = garden_sources();
        // "basil" only in 1, "egg" only in 2: the same weight each
        let shares = source_shares("Basil eggs.", "what now?", &sources);
        assert_eq!(shares[0], shares[1]);
        assert_eq!(attribute(&shares, &sources).map(|s| s.n), Some(1));
        // the same sum added in another order differs in its last bits: still a tie
        let nudged = [0.6, 0.6 + 1e-12];
        assert_eq!(attribute(&nudged, &sources).map(|s| s.n), Some(1));
        assert_eq!(attribute(&[0.6, 0.7], &sources).map(|s| s.n), Some(2));
        assert_eq!(attribute(&[0.4, 0.45], &sources).map(|s| s.n), None);
    }

    #[test]
    fn a_cited_source_holding_none_of_the_answer_is_dropped() {
        let sources = garden_sources();
        let answer = "They hatch after 26 days [1][2].";
        let (_, cited, _) = resolve_citations(answer, 2);
        let shares = source_shares(answer, "how long until the eggs hatch?", &sources);
        assert_eq!(unsupported_citations(&cited, &shares), vec![1]);
        assert_eq!(
            drop_citations(answer, &[1]),
            "They hatch after 26 days [2]."
        );
        // an answer with no word any source has keeps what it cites
        let shares = source_shares("Yes [1].", "does basil need sun?", &sources);
        assert!(unsupported_citations(&cited, &shares).is_empty());
    }
}
