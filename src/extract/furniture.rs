//! Page furniture: the running headers and footers a paged document repeats on page after page
//! ("Chapter 5: Shell Variables 85", "Bash Reference Manual", "Page 12 of 40").
//!
//! They hold nothing a question is about, yet in the bash manual each became a chunk of its own
//! (a header, then a blank line): one embedded passage per page that matched every query about
//! its chapter's name. A line is furniture when it is among the first or last [`EDGE`]
//! non-empty lines of a page (and every line between it and the page's edge is furniture too),
//! is short, and the same line — with its digits ignored, so page
//! numbers count as one — stands at an edge of at least [`MIN_PAGES`] pages and of
//! [`MIN_SHARE`] of the document's pages, or it is a bare page number there.

use std::collections::HashMap;

use super::Page;

/// Lines at the top and at the bottom of a page that may be furniture.
const EDGE: usize = 2;
/// Furniture repeats on at least this many pages...
const MIN_PAGES: usize = 3;
/// ...and on at least this share of the document's pages (a chapter header repeats on its
/// chapter's pages only: 8 of 196 in the bash manual's chapter 7).
const MIN_SHARE: f64 = 0.02;
/// Longest furniture line, in words.
const MAX_WORDS: usize = 12;

/// A line as compared across pages: lowercase, digit runs as `#`, single spaces.
fn shape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut last = ' ';
    for c in line.trim().chars() {
        let c = if c.is_ascii_digit() {
            '#'
        } else if c.is_whitespace() {
            ' '
        } else {
            c.to_ascii_lowercase()
        };
        if (c == '#' || c == ' ') && c == last {
            continue;
        }
        out.push(c);
        last = c;
    }
    out
}

/// A bare page number ("12", "- 12 -", "Page 12", "12 of 40", "xii").
fn is_page_number(shape: &str) -> bool {
    let s = shape.trim_matches(|c: char| c == '-' || c == ' ' || c == '–' || c == '—');
    let s = s.strip_prefix("page ").unwrap_or(s);
    s == "#"
        || s == "# of #"
        || s == "# / #"
        || (!s.is_empty() && s.len() <= 5 && s.chars().all(|c| "ivx".contains(c)))
}

/// The indexes of a page's non-empty lines at its top edge (outermost first), and at its
/// bottom edge (outermost first).
fn edges(lines: &[&str]) -> [Vec<usize>; 2] {
    let filled: Vec<usize> = (0..lines.len())
        .filter(|&i| !lines[i].trim().is_empty())
        .collect();
    let top: Vec<usize> = filled.iter().take(EDGE).copied().collect();
    let bottom = filled
        .iter()
        .rev()
        .take(EDGE)
        .copied()
        .filter(|i| !top.contains(i))
        .collect();
    [top, bottom]
}

/// Entries of a table of contents or an index on a page: runs of at least three leader dots
/// (`. . .` or `...`) followed by a page number.
fn leader_entries(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut i, mut entries) = (0, 0);
    while i < b.len() {
        if b[i] != b'.' {
            i += 1;
            continue;
        }
        let mut dots = 0;
        while i < b.len() && (b[i] == b'.' || (b[i] == b' ' && i + 1 < b.len() && b[i + 1] == b'.'))
        {
            dots += (b[i] == b'.') as usize;
            i += 1;
        }
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if dots >= 3 && i < b.len() && b[i].is_ascii_digit() {
            entries += 1;
        }
    }
    entries
}

/// A page that is a table of contents or an index: at least [`MIN_ENTRIES`] leader entries,
/// and few words per entry (a title or a term, its dots and its page).
fn is_listing(text: &str) -> bool {
    let entries = leader_entries(text);
    let words = text
        .split_whitespace()
        .filter(|w| !w.chars().all(|c| c == '.'))
        .count();
    entries >= MIN_ENTRIES && words <= entries * MAX_WORDS_PER_ENTRY
}

/// Leader entries from which a page may be a listing.
const MIN_ENTRIES: usize = 8;
/// Words per entry of a listing, leader dots not counted (`3.2.5 Compound Commands . . . 12`:
/// 4).
const MAX_WORDS_PER_ENTRY: usize = 12;

/// A line at a page's edge: its index among the page's lines, and its [`shape`] if it is
/// short enough to be furniture.
type EdgeLine = (usize, Option<String>);

/// What [`strip`] took out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stripped {
    /// Header, footer and page-number lines.
    pub lines: usize,
    /// Table-of-contents and index pages, emptied.
    pub listings: usize,
}

/// Remove running headers, footers and page numbers from the pages of a paged document (fewer
/// than [`MIN_PAGES`] pages: left alone), and empty its table-of-contents and index pages:
/// they repeat the titles and terms of other pages, so they matched queries in place of the
/// pages that hold the answer. The pages themselves stay (and keep their numbers).
pub fn strip(pages: &mut [Page]) -> Stripped {
    let mut out = Stripped::default();
    if pages.len() < MIN_PAGES {
        return out;
    }
    for page in pages.iter_mut() {
        if is_listing(&page.text) {
            page.text.clear();
            out.listings += 1;
        }
    }
    // each page's edge lines (outermost first) with their shapes, `None` when too long
    let page_edges: Vec<[Vec<EdgeLine>; 2]> = pages
        .iter()
        .map(|page| {
            let lines: Vec<&str> = page.text.lines().collect();
            edges(&lines).map(|edge| {
                edge.into_iter()
                    .map(|i| {
                        let s = shape(lines[i]);
                        (i, (s.split(' ').count() <= MAX_WORDS).then_some(s))
                    })
                    .collect()
            })
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for edges in &page_edges {
        let mut shapes: Vec<&str> = edges
            .iter()
            .flatten()
            .filter_map(|(_, s)| s.as_deref())
            .collect();
        shapes.sort_unstable();
        shapes.dedup();
        for s in shapes {
            *seen.entry(s).or_default() += 1;
        }
    }
    let min = MIN_PAGES.max((pages.len() as f64 * MIN_SHARE).ceil() as usize);
    let furniture = |s: &str| is_page_number(s) || seen.get(s).is_some_and(|&n| n >= min);
    for (page, edges) in pages.iter_mut().zip(&page_edges) {
        // from each edge inwards, up to the first line that is not furniture
        let drop: Vec<usize> = edges
            .iter()
            .flat_map(|edge| {
                edge.iter()
                    .take_while(|(_, s)| s.as_deref().is_some_and(furniture))
                    .map(|(i, _)| *i)
            })
            .collect();
        if drop.is_empty() {
            continue;
        }
        out.lines += drop.len();
        let kept: Vec<&str> = page
            .text
            .lines()
            .enumerate()
            .filter(|(i, _)| !drop.contains(i))
            .map(|(_, l)| l)
            .collect();
        page.text = kept.join("\n").trim().to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: u32, text: &str) -> Page {
        Page {
            number: Some(n),
            text: text.to_string(),
        }
    }

    #[test]
    fn running_headers_and_page_numbers_go_and_the_text_stays() {
        let mut pages: Vec<Page> = (1..=6)
            .map(|n| {
                let chapter = if n <= 3 { "Basic Shell Features" } else { "Job Control" };
                let words = ["reads", "expands", "splits", "globs", "quotes", "runs"];
                let w = words[n as usize - 1];
                page(
                    n,
                    &format!(
                        "Chapter {}: {chapter} {}\n\nThe shell {w} its input.\nThen it {w} again.\n\n{}",
                        1 + n / 4,
                        n + 10,
                        n + 10
                    ),
                )
            })
            .collect();
        // furniture below a line of text is not at the edge: kept
        pages[4].text = format!("A note.\n{}", pages[4].text);
        let removed = strip(&mut pages);
        assert_eq!(removed.lines, 11, "{pages:?}");
        assert_eq!(
            pages[0].text,
            "The shell reads its input.\nThen it reads again."
        );
        assert!(pages[4]
            .text
            .starts_with("A note.\nChapter 2: Job Control 15\n"));
        assert!(pages[4].text.ends_with("Then it quotes again."));
        assert_eq!(
            pages.iter().filter(|p| p.text.contains("Chapter")).count(),
            1
        );
    }

    #[test]
    fn a_line_on_two_pages_or_a_short_document_is_left_alone() {
        let mut pages = vec![
            page(1, "Dear Anne,\nThe garden is in bloom."),
            page(2, "Dear Anne,\nThe roses are out."),
            page(3, "Yours, Fred"),
        ];
        let before = pages.clone();
        assert_eq!(strip(&mut pages), Stripped::default());
        assert_eq!(
            pages.iter().map(|p| &p.text).collect::<Vec<_>>(),
            before.iter().map(|p| &p.text).collect::<Vec<_>>()
        );
        let mut two = vec![page(1, "Intro\n1"), page(2, "More\n2")];
        assert_eq!(strip(&mut two), Stripped::default());
    }

    #[test]
    fn contents_and_index_pages_are_emptied_and_prose_with_dots_is_not() {
        let toc: String = (1..=12)
            .map(|i| {
                format!(
                    "3.{i} Shell Expansions {} {}\n",
                    ". ".repeat(40 + i as usize),
                    20 + i
                )
            })
            .collect();
        let index: String = (1..=30)
            .map(|i| format!("alias{i} ........ {}  ", 40 + i))
            .collect();
        let prose =
            "Wait... what? The tool says 1. Then 2... and 3. It is done.... 4 times. ".repeat(5);
        let mut pages = vec![
            page(1, &toc),
            page(2, &prose),
            page(3, &index),
            page(4, "The end."),
        ];
        let out = strip(&mut pages);
        assert_eq!(out.listings, 2, "{pages:?}");
        assert!(pages[0].text.is_empty() && pages[2].text.is_empty());
        assert_eq!(pages[1].text, prose);
        assert_eq!(pages[3].number, Some(4));
    }
}
