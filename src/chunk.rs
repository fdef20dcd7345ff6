//! Structure-aware chunking bounded by the embedder's real token count.
//!
//! A document is cut into *sections* (a PDF page, a Markdown heading's body, or the whole text),
//! each section into *blocks* (paragraphs; code split at blank lines), and blocks are packed
//! greedily into chunks of at most `chunk_tokens` tokens as the embedder's own tokenizer counts
//! them. A block larger than that is cut into windows at word boundaries with `overlap_tokens` of
//! overlap. Chunks never cross a page or a heading, so a citation points to one place. Every
//! chunk's text is an exact slice of its page's text, and its char offsets say where.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::extract::{DocKind, Extracted};

/// Splits text into tokens the way the embedding model does.
pub trait Tokenize {
    /// Byte ranges of the tokens of `text`, in order, without special tokens.
    fn token_spans(&self, text: &str) -> Vec<Range<usize>>;
}

/// Tokens split at white space: a [`Tokenize`] for tools and tests that have no embedder (the
/// fuzz target, logic tests). Real chunking uses the embedder's own tokenizer.
pub struct WhitespaceTokens;

impl Tokenize for WhitespaceTokens {
    fn token_spans(&self, text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, c) in text.char_indices() {
            match (c.is_whitespace(), start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    out.push(s..i);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push(s..text.len());
        }
        out
    }
}

/// Chunk size settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkingConfig {
    /// Largest chunk, in model tokens (heading included).
    pub chunk_tokens: usize,
    /// Tokens repeated between consecutive windows of one long paragraph.
    pub overlap_tokens: usize,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            chunk_tokens: 200,
            overlap_tokens: 32,
        }
    }
}

/// A piece of a document, ready to embed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chunk {
    /// 1-based page number for PDFs.
    pub page: Option<u32>,
    /// Heading path, e.g. `Sourdough > Bulk fermentation` (empty when there is none).
    pub heading: String,
    /// The chunk's text: an exact slice of the page text.
    pub text: String,
    /// Char offset of the chunk's start within its page's text (the whole text if unpaged).
    pub char_start: usize,
    /// Char offset just past the chunk's end.
    pub char_end: usize,
    /// Token count of `text` (without heading).
    pub tokens: usize,
}

impl Chunk {
    /// The text given to the embedder: heading path, then the chunk text.
    pub fn embedding_text(&self) -> String {
        if self.heading.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.heading, self.text)
        }
    }
}

/// Largest share of the budget a heading may take; longer heading paths are cut.
const MAX_HEADING_TOKENS: usize = 48;

/// Cut a document into chunks.
pub fn chunk_document(doc: &Extracted, tok: &dyn Tokenize, cfg: &ChunkingConfig) -> Vec<Chunk> {
    let chunks = chunk_pages(doc, tok, cfg, true);
    if chunks.is_empty() {
        // Headings and nothing under them ("# Buy milk"): the headings are the text.
        return chunk_pages(doc, tok, cfg, false);
    }
    chunks
}

fn chunk_pages(
    doc: &Extracted,
    tok: &dyn Tokenize,
    cfg: &ChunkingConfig,
    by_heading: bool,
) -> Vec<Chunk> {
    let budget = cfg.chunk_tokens.max(4);
    let overlap = cfg.overlap_tokens.min(budget / 2);
    let mut chunks = Vec::new();
    for page in &doc.pages {
        let sections = match doc.kind {
            DocKind::Markdown
            | DocKind::Html
            | DocKind::Word
            | DocKind::Odt
            | DocKind::Slides
            | DocKind::Epub
            | DocKind::Spreadsheet
            | DocKind::Mail
            | DocKind::Rtf
                if by_heading =>
            {
                markdown_sections(&page.text)
            }
            _ => vec![Section {
                heading: String::new(),
                range: 0..page.text.len(),
            }],
        };
        let mut offsets = CharOffsets::new(&page.text);
        for section in sections {
            let heading = clip_heading(&section.heading, tok);
            let heading_tokens = if heading.is_empty() {
                0
            } else {
                tok.token_spans(&heading).len()
            };
            let room = budget.saturating_sub(heading_tokens).max(budget / 2);
            let blocks = blocks(&page.text, section.range.clone(), doc.kind);
            for range in pack(&page.text, &blocks, tok, room, overlap) {
                let text = &page.text[range.clone()];
                let tokens = tok.token_spans(text).len();
                chunks.push(Chunk {
                    page: page.number,
                    heading: heading.clone(),
                    text: text.to_string(),
                    char_start: offsets.char_at(range.start),
                    char_end: offsets.char_at(range.end),
                    tokens,
                });
            }
        }
    }
    chunks
}

fn clip_heading(heading: &str, tok: &dyn Tokenize) -> String {
    let spans = tok.token_spans(heading);
    if spans.len() <= MAX_HEADING_TOKENS {
        return heading.to_string();
    }
    // Keep the innermost part of the path: it says the most about the chunk.
    let cut = spans[spans.len() - MAX_HEADING_TOKENS].start;
    format!("… {}", heading[cut..].trim())
}

struct Section {
    heading: String,
    range: Range<usize>,
}

/// Split Markdown text at ATX headings (`#` … `######`), outside fenced code blocks. Heading
/// lines are not part of a section's body; they become its heading path.
fn markdown_sections(text: &str) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut start = 0usize;
    let mut heading = String::new();
    let mut in_fence = false;
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let line_start = pos;
        pos += line.len();
        let trimmed = line.trim_end();
        if trimmed.trim_start().starts_with("```") || trimmed.trim_start().starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let Some(level) = heading_level(trimmed) else {
            continue;
        };
        if !text[start..line_start].trim().is_empty() {
            sections.push(Section {
                heading: heading.clone(),
                range: start..line_start,
            });
        }
        let title = trimmed[level..]
            .trim()
            .trim_end_matches('#')
            .trim()
            .to_string();
        path.retain(|(l, _)| *l < level);
        path.push((level, title));
        heading = path
            .iter()
            .map(|(_, t)| t.as_str())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join(" > ");
        start = pos;
    }
    if !text[start..].trim().is_empty() {
        sections.push(Section {
            heading,
            range: start..text.len(),
        });
    }
    sections
}

fn heading_level(line: &str) -> Option<usize> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes) && line[hashes..].starts_with([' ', '\t']) {
        Some(hashes)
    } else {
        None
    }
}

/// Paragraph (or blank-line-separated code block) ranges inside `range`, trimmed.
fn blocks(text: &str, range: Range<usize>, kind: DocKind) -> Vec<Range<usize>> {
    let _ = kind; // all kinds split at blank lines; kept for future per-kind rules
    let mut out = Vec::new();
    let body = &text[range.clone()];
    let mut block_start: Option<usize> = None;
    let mut block_end = 0usize;
    let mut pos = range.start;
    for line in body.split_inclusive('\n') {
        let line_start = pos;
        pos += line.len();
        if line.trim().is_empty() {
            if let Some(s) = block_start.take() {
                out.push(s..block_end);
            }
        } else {
            let lead = line.len() - line.trim_start().len();
            if block_start.is_none() {
                block_start = Some(line_start + lead);
            }
            block_end = line_start + line.trim_end().len();
        }
    }
    if let Some(s) = block_start {
        out.push(s..block_end);
    }
    out
}

/// Pack blocks into chunk ranges of at most `budget` tokens.
fn pack(
    text: &str,
    blocks: &[Range<usize>],
    tok: &dyn Tokenize,
    budget: usize,
    overlap: usize,
) -> Vec<Range<usize>> {
    // Every piece (a block, or a window of an oversized block) with its token count.
    let mut pieces: Vec<(Range<usize>, usize)> = Vec::new();
    for block in blocks {
        let spans = tok.token_spans(&text[block.clone()]);
        if spans.len() <= budget {
            pieces.push((block.clone(), spans.len()));
        } else {
            for w in windows(&spans, budget, overlap) {
                let n = w.1;
                pieces.push((block.start + w.0.start..block.start + w.0.end, n));
            }
        }
    }
    let mut out = Vec::new();
    let mut current: Option<(Range<usize>, usize)> = None;
    for (range, n) in pieces {
        current = match current {
            None => Some((range, n)),
            // Adjacent pieces of one block overlap; never merge those (they are full windows).
            Some((cur, m)) if m + n <= budget && range.start >= cur.end => {
                Some((cur.start..range.end, m + n))
            }
            Some((cur, _)) => {
                out.push(cur);
                Some((range, n))
            }
        };
    }
    if let Some((cur, _)) = current {
        out.push(cur);
    }
    out
}

/// Windows of at most `budget` tokens over one long block, each starting and ending at a word
/// boundary where one is near, overlapping by about `overlap` tokens.
fn windows(spans: &[Range<usize>], budget: usize, overlap: usize) -> Vec<(Range<usize>, usize)> {
    // A token starts a word when there is a gap (whitespace) before it.
    let starts_word = |i: usize| i == 0 || spans[i].start > spans[i - 1].end;
    let mut out = Vec::new();
    let mut first = 0usize;
    while first < spans.len() {
        let mut last = (first + budget).min(spans.len()); // exclusive
        if last < spans.len() {
            // Back off to a word start, but not more than a quarter of the window.
            let floor = first + budget * 3 / 4;
            let mut cut = last;
            while cut > floor && !starts_word(cut) {
                cut -= 1;
            }
            if starts_word(cut) && cut > first {
                last = cut;
            }
        }
        out.push((spans[first].start..spans[last - 1].end, last - first));
        if last >= spans.len() {
            break;
        }
        let mut next = last.saturating_sub(overlap).max(first + 1);
        let floor = next.saturating_sub(overlap).max(first + 1);
        while next > floor && !starts_word(next) {
            next -= 1;
        }
        first = next;
    }
    out
}

/// Byte → char offset conversion in one forward pass.
struct CharOffsets<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
}

impl<'a> CharOffsets<'a> {
    fn new(text: &'a str) -> Self {
        CharOffsets {
            text,
            byte: 0,
            chars: 0,
        }
    }

    fn char_at(&mut self, byte: usize) -> usize {
        if byte < self.byte {
            self.byte = 0;
            self.chars = 0;
        }
        self.chars += self.text[self.byte..byte].chars().count();
        self.byte = byte;
        self.chars
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::extract::Page;

    /// Whitespace tokens stand in for the embedder's in logic tests.
    pub use super::WhitespaceTokens as Words;

    fn doc(kind: DocKind, pages: &[&str]) -> Extracted {
        Extracted {
            kind,
            pages: pages
                .iter()
                .enumerate()
                .map(|(i, t)| Page {
                    number: (kind == DocKind::Pdf).then_some(i as u32 + 1),
                    text: t.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn markdown_heading_paths_and_exact_offsets() {
        let md = "# Bread\n\nIntro text here.\n\n## Starter\n\nFeed 1:5:5.\n\n```sh\n# not a heading\n```\n\n### Timing\n\nTwice a day.\n\n## Bake\n\nHot oven.\n";
        let chunks = chunk_document(&doc(DocKind::Markdown, &[md]), &Words, &Default::default());
        let got: Vec<(&str, &str)> = chunks
            .iter()
            .map(|c| (c.heading.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("Bread", "Intro text here."),
                (
                    "Bread > Starter",
                    "Feed 1:5:5.\n\n```sh\n# not a heading\n```"
                ),
                ("Bread > Starter > Timing", "Twice a day."),
                ("Bread > Bake", "Hot oven."),
            ]
        );
        for c in &chunks {
            let slice: String = md
                .chars()
                .skip(c.char_start)
                .take(c.char_end - c.char_start)
                .collect();
            assert_eq!(slice, c.text);
        }
    }

    #[test]
    fn a_note_of_headings_only_is_indexed_as_its_text() {
        let chunks = chunk_document(
            &doc(DocKind::Markdown, &["# Buy milk and eggs\n"]),
            &Words,
            &Default::default(),
        );
        let got: Vec<_> = chunks
            .iter()
            .map(|c| (c.heading.as_str(), c.text.as_str()))
            .collect();
        assert_eq!(got, [("", "# Buy milk and eggs")]);
        // With a body somewhere, headings stay headings.
        let chunks = chunk_document(
            &doc(DocKind::Markdown, &["# Groceries\n\n## Bread\n\nRye.\n"]),
            &Words,
            &Default::default(),
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "Rye.");
    }

    #[test]
    fn pdf_chunks_keep_pages_and_never_cross_them() {
        let chunks = chunk_document(
            &doc(DocKind::Pdf, &["alpha beta", "gamma delta", "épsilon zeta"]),
            &Words,
            &Default::default(),
        );
        let pages: Vec<_> = chunks.iter().map(|c| (c.page, c.text.as_str())).collect();
        assert_eq!(
            pages,
            vec![
                (Some(1), "alpha beta"),
                (Some(2), "gamma delta"),
                (Some(3), "épsilon zeta")
            ]
        );
        assert_eq!((chunks[2].char_start, chunks[2].char_end), (0, 12));
    }

    #[test]
    fn long_paragraph_is_windowed_with_overlap_within_budget() {
        let words: Vec<String> = (0..1000).map(|i| format!("w{i}")).collect();
        let text = words.join(" ");
        let cfg = ChunkingConfig {
            chunk_tokens: 100,
            overlap_tokens: 20,
        };
        let chunks = chunk_document(&doc(DocKind::Text, &[&text]), &Words, &cfg);
        assert!(chunks.len() >= 12 && chunks.len() <= 13, "{}", chunks.len());
        for c in &chunks {
            assert!(c.tokens <= 100, "{}", c.tokens);
        }
        // Consecutive windows overlap by 20 words.
        let first_words: Vec<&str> = chunks[0].text.split(' ').collect();
        let second_words: Vec<&str> = chunks[1].text.split(' ').collect();
        assert_eq!(first_words[80], second_words[0]);
        assert!(chunks.last().unwrap().text.ends_with("w999"));
    }

    #[test]
    fn small_paragraphs_are_packed_together() {
        let text = "one two three\n\nfour five\n\nsix seven eight nine\n\nten";
        let cfg = ChunkingConfig {
            chunk_tokens: 16,
            overlap_tokens: 2,
        };
        let chunks = chunk_document(&doc(DocKind::Text, &[text]), &Words, &cfg);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, text);
        let cfg = ChunkingConfig {
            chunk_tokens: 6,
            overlap_tokens: 2,
        };
        let chunks = chunk_document(&doc(DocKind::Text, &[text]), &Words, &cfg);
        let texts: Vec<_> = chunks.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            vec!["one two three\n\nfour five", "six seven eight nine\n\nten"]
        );
    }
}
