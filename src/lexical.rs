//! Question words in sentences: the cheap, exact signal that complements embeddings.
//!
//! A question's content words (stop words dropped, lightly stemmed) weigh by how rare they are
//! among the candidate sentences, so the topic word every sentence shares counts little and the
//! word that singles out the answer counts a lot. A sentence's *coverage* is the share of the
//! question's weight it holds. Evidence selection ([`crate::answer`]) picks sentences by it, and
//! the second stage of hybrid search ([`crate::retrieve::rerank`]) uses each chunk's best
//! sentence.

use std::collections::{BTreeSet, HashMap};
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
/// "hatching" meets "hatch" and "variables" meets "variable". Ordered, so that sums of word
/// weights over them add in the same order in every process (a hash set's order is seeded per
/// process, and near-tied sums then came out differently from run to run).
pub(crate) fn content_words(text: &str) -> BTreeSet<String> {
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

/// A word of a question that names something: a candidate for "your documents never mention
/// it" (see `Library::unknown_terms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Term {
    /// The word as written (surrounding punctuation and a possessive `'s` removed).
    pub text: String,
    /// Written like a name, not like an everyday word: a capital after the first letter
    /// (`WireGuard`, `MySQL`) or a capitalised word inside a sentence (`Jupyter`), letters mixed
    /// with digits (`HDF5`), or joined by `_` `.` `/` (`pg_stat_statements`, `config.fish`).
    pub name_like: bool,
}

/// The content words of `question` as written, each once: stop words, single letters and plain
/// numbers left out, words split at brackets and commas, hyphenated or slashed compounds
/// (`left-pad`, `try/finally`) split into their words.
pub(crate) fn question_terms(question: &str) -> Vec<Term> {
    let mut out: Vec<Term> = Vec::new();
    let mut sentence_start = true;
    // brackets, commas and the like separate words even without a space: "hist(data)",
    // "{error,{shutdown,…}}"
    let pieces = question.split_whitespace().flat_map(|raw| {
        let ends_sentence = raw.ends_with(['.', '?', '!', ':']);
        let parts: Vec<&str> = raw
            .split([
                '(', ')', '{', '}', '[', ']', ',', ';', '=', '<', '>', '"', '`', '|',
            ])
            .filter(|p| !p.is_empty())
            .collect();
        let last = parts.len().saturating_sub(1);
        parts
            .into_iter()
            .enumerate()
            .map(move |(i, p)| (p, i == 0, ends_sentence && i == last))
    });
    for (piece, first_of_word, ends_sentence) in pieces {
        let word = piece.trim_matches(|c: char| !c.is_alphanumeric() && c != '_' && c != '~');
        let word = word
            .strip_suffix("'s")
            .or_else(|| word.strip_suffix("’s"))
            .unwrap_or(word);
        let at_start = sentence_start && first_of_word;
        if first_of_word || ends_sentence {
            sentence_start = ends_sentence;
        }
        if word.contains(['\'', '’']) {
            continue; // a contraction ("can't", "aren't"): function words
        }
        // words joined by a slash ("try/finally", "LISTEN/NOTIFY") are words; a path or a
        // fraction ("/etc/hosts", "1/100") is one term
        let slashed_words = word.contains('/')
            && !piece.starts_with(['/', '~', '.'])
            && word
                .split('/')
                .all(|w| !w.is_empty() && w.chars().all(char::is_alphabetic));
        let joined = word.contains(['_', '.', '/']) && !slashed_words;
        let parts: Vec<&str> = if joined {
            vec![word]
        } else {
            word.split(['-', '/']).collect()
        };
        for part in parts {
            let lower = part.to_lowercase();
            let letters = part.chars().filter(|c| c.is_alphabetic()).count();
            if letters == 0 || part.chars().count() < 2 || STOPWORDS.contains(&lower.as_str()) {
                continue;
            }
            let digits = part.chars().any(|c| c.is_ascii_digit());
            let inner_capital = part.chars().skip(1).any(char::is_uppercase);
            let capitalised = part.chars().next().is_some_and(char::is_uppercase) && !at_start;
            let name_like = joined || digits || inner_capital || capitalised;
            if !out.iter().any(|t| t.text.to_lowercase() == lower) {
                out.push(Term {
                    text: part.to_string(),
                    name_like,
                });
            }
        }
    }
    out
}

/// Whether `text` mentions `term`: a word of `text` with the same stem (`"fishes"` mentions
/// `"fish"`), or, for a term joined by punctuation, the term itself between word boundaries.
/// Case is ignored.
pub(crate) fn mentions(text: &str, term: &str) -> bool {
    let term = term.to_lowercase();
    if term.chars().all(|c| c.is_alphanumeric()) {
        let want = stem(&term);
        return text
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w.len() >= term.len().min(3) && stem(&w.to_lowercase()) == want);
    }
    let lower = text.to_lowercase();
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    lower.match_indices(&term).any(|(i, m)| {
        !is_word(lower[..i].chars().next_back()) && !is_word(lower[i + m.len()..].chars().next())
    })
}

/// Whether `text` mentions `term` in another form: a word that extends it, or that it extends,
/// by an ending of one or two letters ("Kenyan" for "Kenya", "Americans" for "America"), or,
/// for a term of two to four capitals, consecutive words with those initials ("LBJ" in
/// "lyndon b johnson"). The shorter of the two words has at least four letters.
pub(crate) fn mentions_in_another_form(text: &str, term: &str) -> bool {
    let t = term.to_lowercase();
    if !t.chars().all(char::is_alphabetic) {
        return false;
    }
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let initials = term.chars().count() <= 4
        && term.chars().count() >= 2
        && term.chars().all(char::is_uppercase);
    if initials {
        let letters: Vec<char> = t.chars().collect();
        if words.windows(letters.len()).any(|w| {
            w.iter()
                .zip(&letters)
                .all(|(word, l)| word.starts_with(*l) && word.chars().all(char::is_alphabetic))
        }) {
            return true;
        }
    }
    let n = t.chars().count();
    words.iter().any(|w| {
        let m = w.chars().count();
        let (short, long, ls) = if m < n {
            (w.as_str(), t.as_str(), m)
        } else {
            (t.as_str(), w.as_str(), n)
        };
        // (`strip_prefix`, not a byte slice: an index into a word that does not start with
        // `short` may fall inside a character)
        let Some(ending) = long.strip_prefix(short) else {
            return false;
        };
        ls >= 4
            && !ending.is_empty()
            && (ending.len() <= 2 || (ls >= 5 && DEMONYM_ENDINGS.contains(&ending)))
    })
}

/// Three-letter endings that make a name's adjective or people ("Venusian" for "Venus").
const DEMONYM_ENDINGS: &[&str] = &["ian", "ean", "ese", "ish", "ite", "ans"];

/// Whether `text` writes `term` joined with the word next to it in `question` ("Super Bowl"
/// as "Superbowl", "Space Shuttle" as "spaceshuttle").
pub(crate) fn mentions_joined(text: &str, question: &str, term: &str) -> bool {
    let words: Vec<&str> = question
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().enumerate().any(|(i, w)| {
        if *w != term {
            return false;
        }
        let before = i.checked_sub(1).map(|j| format!("{}{w}", words[j]));
        let after = words.get(i + 1).map(|n| format!("{w}{n}"));
        [before, after]
            .into_iter()
            .flatten()
            .any(|joined| mentions(text, &joined))
    })
}

/// Whether `term` looks like a misspelling of a word of `texts`: a plain word of 4+ letters
/// within one edit (two from 8 letters on; a swap of neighbours is one edit) of a word there.
pub(crate) fn near_miss<'a>(term: &str, texts: impl IntoIterator<Item = &'a str>) -> bool {
    let term: Vec<char> = term.to_lowercase().chars().collect();
    if term.len() < 4 || !term.iter().all(|c| c.is_alphabetic()) {
        return false;
    }
    let bound = if term.len() >= 8 { 2 } else { 1 };
    texts.into_iter().any(|text| {
        text.split(|c: char| !c.is_alphanumeric()).any(|w| {
            let w: Vec<char> = w.to_lowercase().chars().collect();
            w.len().abs_diff(term.len()) <= bound && w != term && edits(&term, &w) <= bound
        })
    })
}

/// Edit distance between `a` and `b` (insertions, deletions, substitutions and swaps of two
/// neighbours).
fn edits(a: &[char], b: &[char]) -> usize {
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
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
    let words: Vec<Vec<BTreeSet<String>>> = texts
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
    fn question_terms_tell_names_from_words() {
        let terms = question_terms(
            "How do I set up a WireGuard VPN tunnel on Debian? Then netplan's config.fish, HDF5 \
             and a left-pad of 010 in Jupyter, isn't it? Like try/finally in hist(data) or \
             {error,{mnesia_sup,[normal]}} in /etc/hosts?",
        );
        let got: Vec<(&str, bool)> = terms
            .iter()
            .map(|t| (t.text.as_str(), t.name_like))
            .collect();
        assert_eq!(
            got,
            vec![
                ("set", false),
                ("up", false),
                ("WireGuard", true),
                ("VPN", true),
                ("tunnel", false),
                ("Debian", true),
                ("netplan", false),
                ("config.fish", true),
                ("HDF5", true),
                ("left", false),
                ("pad", false),
                ("Jupyter", true),
                ("try", false),
                ("finally", false),
                ("hist", false),
                ("data", false),
                ("error", false),
                ("mnesia_sup", true),
                ("normal", false),
                ("etc/hosts", true),
            ]
        );
    }

    #[test]
    fn mentions_match_stems_and_joined_terms_at_word_boundaries() {
        let text = "Selfish fishes; set pg_stat_statements.track = all (see config.fish).";
        assert!(mentions(text, "fish"));
        assert!(mentions(text, "Fishes"));
        assert!(!mentions("a selfish act", "fish"));
        assert!(mentions(text, "pg_stat_statements"));
        assert!(mentions(text, "config.fish"));
        assert!(!mentions(text, "pg_stat"));
        assert!(!mentions(text, "WireGuard"));
    }

    #[test]
    fn other_forms_and_initials_are_mentions() {
        assert!(mentions_in_another_form("a runner from Kenya", "Kenyan"));
        assert!(mentions_in_another_form("Kenyan runners", "Kenya"));
        assert!(mentions_in_another_form("2018 lyndon b johnson", "LBJ"));
        assert!(mentions_in_another_form(
            "a balloon in the atmosphere of Venus",
            "Venusian"
        ));
        assert!(!mentions_in_another_form("the Venus probe", "Venusoid"));
        // words that differ inside a character are compared without slicing into it
        assert!(!mentions_in_another_form("abcé", "abcd"));
        assert!(!mentions_in_another_form("ééééx", "abcde"));
        assert!(mentions_joined(
            "an ad during the Superbowl costs",
            "What did a Super Bowl unit cost?",
            "Super"
        ));
        assert!(mentions_joined(
            "an ad during the Superbowl costs",
            "What did a Super Bowl unit cost?",
            "Bowl"
        ));
        assert!(!mentions_joined(
            "an ad during the game costs",
            "What did a Super Bowl unit cost?",
            "Bowl"
        ));
        assert!(!mentions_in_another_form("lyndon johnson", "LBJ"));
        assert!(
            !mentions_in_another_form("the cat sat", "cats"),
            "too short"
        );
        assert!(
            !mentions_in_another_form("Kenya", "Kenyatta"),
            "too long an ending"
        );
        assert!(
            !mentions_in_another_form("kenya", "kenya"),
            "the same word is a plain mention"
        );
    }

    #[test]
    fn misspellings_are_near_misses_and_names_are_not() {
        let texts = [
            "Enable the globstar option.",
            "Set HISTCONTROL to ignorespace.",
        ];
        assert!(near_miss("globstra", texts)); // a swap
        assert!(near_miss("globtar", texts)); // a letter left out
        assert!(near_miss("ignorespcae", texts));
        assert!(!near_miss("globstar", texts)); // the word itself is not a miss
        assert!(!near_miss("WireGuard", texts));
        assert!(!near_miss("zsh", texts)); // too short to tell
        assert_eq!(edits(&['a', 'b'], &['b', 'a']), 1);
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
