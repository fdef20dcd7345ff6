//! File → text, with pages for PDFs.
//!
//! Files are recognised by their content, not their extension: a PDF is a PDF because it starts
//! with `%PDF-`; text is decoded from UTF-8, UTF-16 (with or without BOM) or Windows-1252/Latin-1;
//! anything else is binary and refused. The extension only chooses *how* to read text
//! (Markdown, HTML, code or plain).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What kind of document a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// Plain text.
    Text,
    /// Markdown (headings become the heading path of chunks).
    Markdown,
    /// PDF, text kept per page.
    Pdf,
    /// HTML, converted to Markdown-like text (scripts and styles dropped).
    Html,
    /// Source code or structured text (split at blank lines).
    Code,
}

impl DocKind {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Text => "text",
            DocKind::Markdown => "markdown",
            DocKind::Pdf => "pdf",
            DocKind::Html => "html",
            DocKind::Code => "code",
        }
    }
}

/// One page of extracted text. Non-PDF documents have one page with no number.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// 1-based page number for paged documents (PDF), `None` otherwise.
    pub number: Option<u32>,
    /// The text of the page.
    pub text: String,
}

/// The text of a document.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// What the file was read as.
    pub kind: DocKind,
    /// Its pages (exactly one for non-PDF files).
    pub pages: Vec<Page>,
}

const CODE_EXTENSIONS: &[&str] = &[
    "rs", "py", "js", "mjs", "ts", "tsx", "jsx", "go", "c", "h", "cc", "cpp", "hpp", "java", "kt",
    "swift", "rb", "php", "cs", "scala", "sh", "bash", "zsh", "sql", "lua", "r", "jl", "toml",
    "yaml", "yml", "json", "ini", "cfg", "conf", "css", "scss", "xml", "tex", "el", "hs", "ml",
    "ex", "exs", "erl", "clj", "dart", "zig", "nim", "vue", "svelte",
];
const TEXT_EXTENSIONS: &[&str] = &["txt", "text", "rst", "org", "log", "csv", "tsv", "adoc"];
const MARKDOWN_EXTENSIONS: &[&str] = &["md", "markdown", "mdown", "mkd"];
const HTML_EXTENSIONS: &[&str] = &["html", "htm", "xhtml"];

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// Whether a folder walk should pick this file up. Files named explicitly are always tried;
/// in folders, only files that look like documents are taken (so a photo library is not
/// reported as thousands of failures).
pub fn is_candidate(path: &Path) -> bool {
    let ext = extension(path);
    ext == "pdf"
        || CODE_EXTENSIONS.contains(&ext.as_str())
        || TEXT_EXTENSIONS.contains(&ext.as_str())
        || MARKDOWN_EXTENSIONS.contains(&ext.as_str())
        || HTML_EXTENSIONS.contains(&ext.as_str())
}

/// Extract the text of a file's bytes. `path` only picks the text flavour; the content decides
/// whether it is a PDF, text or binary. Never panics: a crash inside the PDF parser is reported
/// as [`Error::CorruptPdf`].
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Extracted> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::unsupported("empty file (no text)"));
    }
    if looks_like_pdf(bytes) {
        let pages = extract_pdf(bytes)?;
        return Ok(Extracted {
            kind: DocKind::Pdf,
            pages,
        });
    }
    if extension(path) == "pdf" {
        return Err(Error::CorruptPdf(
            "not a PDF file (no %PDF- header)".to_string(),
        ));
    }
    let text = decode_text(bytes)?;
    if text.trim().is_empty() {
        return Err(Error::unsupported("empty file (no text)"));
    }
    let ext = extension(path);
    let head = text.trim_start().get(..64).unwrap_or(text.trim_start());
    let head = head.to_ascii_lowercase();
    let (kind, text) = if HTML_EXTENSIONS.contains(&ext.as_str())
        || head.starts_with("<!doctype html")
        || head.starts_with("<html")
    {
        (DocKind::Html, html_to_text(&text))
    } else if MARKDOWN_EXTENSIONS.contains(&ext.as_str()) {
        (DocKind::Markdown, text)
    } else if CODE_EXTENSIONS.contains(&ext.as_str()) {
        (DocKind::Code, text)
    } else {
        (DocKind::Text, text)
    };
    if text.trim().is_empty() {
        return Err(Error::unsupported("document has no visible text"));
    }
    Ok(Extracted {
        kind,
        pages: vec![Page { number: None, text }],
    })
}

fn looks_like_pdf(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    head.windows(5).any(|w| w == b"%PDF-")
}

/// Decode bytes as text: UTF-8 (BOM optional), UTF-16 LE/BE (BOM, or detected from the zero
/// bytes), else Windows-1252 (a superset of Latin-1's printable range) when it looks like text.
pub fn decode_text(bytes: &[u8]) -> Result<String> {
    if let Some((enc, bom_len)) = encoding_rs::Encoding::for_bom(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(&bytes[bom_len..]);
        if had_errors && enc != encoding_rs::UTF_8 {
            return Err(Error::unsupported(format!(
                "text claims {} but does not decode",
                enc.name()
            )));
        }
        return Ok(text.into_owned());
    }
    if let Some(enc) = sniff_utf16(bytes) {
        let (text, had_errors) = enc.decode_without_bom_handling(bytes);
        if !had_errors && mostly_printable(&text) {
            return Ok(text.into_owned());
        }
    }
    if bytes.contains(&0) {
        return Err(Error::unsupported(
            "binary file (contains NUL bytes), not text",
        ));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            if mostly_printable(s) {
                Ok(s.to_string())
            } else {
                Err(Error::unsupported(
                    "binary file (control characters), not text",
                ))
            }
        }
        Err(_) => {
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(bytes);
            if mostly_printable(&text) {
                Ok(text.into_owned())
            } else {
                Err(Error::unsupported(
                    "binary file, or text in an unknown encoding (not UTF-8, UTF-16 or Latin-1)",
                ))
            }
        }
    }
}

/// UTF-16 without a BOM: most ASCII-range text has a zero in every other byte.
fn sniff_utf16(bytes: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let sample = &bytes[..bytes.len().min(4096) & !1];
    if sample.len() < 4 {
        return None;
    }
    let pairs = sample.len() / 2;
    let even_zero = sample.iter().step_by(2).filter(|b| **b == 0).count();
    let odd_zero = sample
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|b| **b == 0)
        .count();
    if odd_zero * 10 >= pairs * 7 && even_zero * 10 <= pairs {
        Some(encoding_rs::UTF_16LE)
    } else if even_zero * 10 >= pairs * 7 && odd_zero * 10 <= pairs {
        Some(encoding_rs::UTF_16BE)
    } else {
        None
    }
}

fn mostly_printable(text: &str) -> bool {
    let mut total = 0usize;
    let mut bad = 0usize;
    for c in text.chars().take(65_536) {
        total += 1;
        if (c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\x0c')) || c == '\u{fffd}' {
            bad += 1;
        }
    }
    total > 0 && bad * 100 <= total
}

fn extract_pdf(bytes: &[u8]) -> Result<Vec<Page>> {
    // pdf-extract (and lopdf under it) panic on some malformed files: contain it here.
    let outcome = catch_unwind(AssertUnwindSafe(|| extract_pdf_inner(bytes)));
    let pages = match outcome {
        Ok(result) => result?,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "parser crashed".to_string());
            return Err(Error::CorruptPdf(format!("PDF parser crashed: {msg}")));
        }
    };
    if pages.iter().all(|p| p.text.trim().is_empty()) {
        return Err(Error::unsupported(
            "PDF has no text layer (scanned or image-only; OCR is not supported)",
        ));
    }
    Ok(pages)
}

fn extract_pdf_inner(bytes: &[u8]) -> Result<Vec<Page>> {
    let mut doc = lopdf::Document::load_mem(bytes).map_err(|e| Error::CorruptPdf(e.to_string()))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(Error::EncryptedPdf);
    }
    let pages_by_number = doc.get_pages();
    for page_id in pages_by_number.values() {
        expand_quote_operators(&mut doc, *page_id);
    }
    let numbers: Vec<u32> = pages_by_number.keys().copied().collect();
    if numbers.is_empty() {
        return Err(Error::CorruptPdf("PDF has no pages".to_string()));
    }
    let mut pages = Vec::with_capacity(numbers.len());
    let mut failures = 0usize;
    let mut last_error = String::new();
    for number in numbers {
        let mut raw = String::new();
        let result = {
            let mut out = pdf_extract::PlainTextOutput::new(&mut raw);
            pdf_extract::output_doc_page(&doc, &mut out, number)
        };
        if let Err(e) = result {
            failures += 1;
            last_error = e.to_string();
            raw.clear();
        }
        pages.push(Page {
            number: Some(number),
            text: tidy_pdf_text(&raw),
        });
    }
    if failures == pages.len() {
        return Err(Error::CorruptPdf(last_error));
    }
    Ok(pages)
}

/// pdf-extract ignores the `'` and `"` text operators (next line, then show text), which
/// ghostscript and other producers use for every body line: rewrite them into the equivalent
/// `T*` + `Tj` (and `Tw`/`Tc` for `"`) so their text is not lost. Pages without them are untouched.
fn expand_quote_operators(doc: &mut lopdf::Document, page_id: lopdf::ObjectId) {
    use lopdf::content::Operation;
    let Ok(content) = doc.get_and_decode_page_content(page_id) else {
        return;
    };
    if !content
        .operations
        .iter()
        .any(|op| op.operator == "'" || op.operator == "\"")
    {
        return;
    }
    let mut operations = Vec::with_capacity(content.operations.len() + 16);
    for op in content.operations {
        match (op.operator.as_str(), op.operands.len()) {
            ("'", 1) => {
                operations.push(Operation::new("T*", vec![]));
                operations.push(Operation::new("Tj", op.operands));
            }
            ("\"", 3) => {
                let mut operands = op.operands.into_iter();
                let (aw, ac, text) = (operands.next(), operands.next(), operands.next());
                operations.push(Operation::new("Tw", aw.into_iter().collect()));
                operations.push(Operation::new("Tc", ac.into_iter().collect()));
                operations.push(Operation::new("T*", vec![]));
                operations.push(Operation::new("Tj", text.into_iter().collect()));
            }
            _ => operations.push(op),
        }
    }
    let rewritten = lopdf::content::Content { operations };
    if let Ok(bytes) = rewritten.encode() {
        let _ = doc.change_page_content(page_id, bytes);
    }
}

/// pdf-extract leaves runs of spaces and single line breaks from the page layout: fold spaces,
/// keep blank lines as paragraph breaks, and join lines inside a paragraph.
fn tidy_pdf_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut paragraph = String::new();
    let flush = |paragraph: &mut String, out: &mut String| {
        if !paragraph.is_empty() {
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(paragraph.trim());
            paragraph.clear();
        }
    };
    for line in raw.lines() {
        let folded: String = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if folded.is_empty() {
            flush(&mut paragraph, &mut out);
            continue;
        }
        if !paragraph.is_empty() {
            if paragraph.ends_with('-') && folded.chars().next().is_some_and(|c| c.is_lowercase()) {
                paragraph.pop(); // re-join a hyphenated line break
            } else {
                paragraph.push(' ');
            }
        }
        paragraph.push_str(&folded);
    }
    flush(&mut paragraph, &mut out);
    out
}

/// Convert HTML to Markdown-like text: headings become `#` lines, block elements become line
/// breaks, scripts/styles/head are dropped, entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut title = String::new();
    let bytes = html.as_bytes();
    let mut i = 0;
    let mut skip_until: Option<&'static str> = None;
    let mut in_title = false;
    while i < bytes.len() {
        if bytes[i] == b'<' {
            // Comments.
            if html[i..].starts_with("<!--") {
                i = html[i..]
                    .find("-->")
                    .map(|p| i + p + 3)
                    .unwrap_or(bytes.len());
                continue;
            }
            let end = match html[i..].find('>') {
                Some(p) => i + p,
                None => break,
            };
            let tag = &html[i + 1..end];
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            i = end + 1;
            if let Some(until) = skip_until {
                if closing && name == until {
                    skip_until = None;
                }
                continue;
            }
            match name.as_str() {
                "script" if !closing => skip_until = Some("script"),
                "style" if !closing => skip_until = Some("style"),
                "noscript" if !closing => skip_until = Some("noscript"),
                "template" if !closing => skip_until = Some("template"),
                "title" => in_title = !closing,
                "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                    out.push_str("\n\n");
                    if !closing {
                        let level = (name.as_bytes()[1] - b'0') as usize;
                        out.push_str(&"#".repeat(level));
                        out.push(' ');
                    }
                }
                "p" | "div" | "section" | "article" | "header" | "footer" | "main" | "table"
                | "ul" | "ol" | "blockquote" | "pre" | "aside" | "nav" | "figure" => {
                    out.push_str("\n\n")
                }
                "br" | "tr" | "hr" | "dt" | "dd" => out.push('\n'),
                "li" if !closing => out.push_str("\n- "),
                "td" | "th" if !closing => out.push(' '),
                _ => {}
            }
            continue;
        }
        let next = html[i..].find('<').map(|p| i + p).unwrap_or(bytes.len());
        if skip_until.is_none() {
            let text = decode_entities(&html[i..next]);
            if in_title {
                title.push_str(&text);
            } else {
                out.push_str(&text);
            }
        }
        i = next;
    }
    // Fold whitespace inside lines, keep paragraph structure.
    let mut cleaned = String::with_capacity(out.len());
    let title = title.split_whitespace().collect::<Vec<_>>().join(" ");
    let has_h1 = out.contains("\n# ");
    if !title.is_empty() && !has_h1 {
        cleaned.push_str("# ");
        cleaned.push_str(&title);
        cleaned.push_str("\n\n");
    }
    let mut blank = false;
    for line in out.lines() {
        let folded = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if folded.is_empty() || folded == "-" {
            blank = true;
            continue;
        }
        if blank && !cleaned.is_empty() {
            cleaned.push('\n');
        }
        blank = false;
        cleaned.push_str(&folded);
        cleaned.push('\n');
    }
    cleaned
}

fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('&') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|end| {
            let name = &rest[1..end];
            let c = if let Some(num) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
            } else if let Some(num) = name.strip_prefix('#') {
                num.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                named_entity(name)
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "eacute" => 'é',
        "egrave" => 'è',
        "ecirc" => 'ê',
        "aacute" => 'á',
        "agrave" => 'à',
        "acirc" => 'â',
        "iacute" => 'í',
        "oacute" => 'ó',
        "ocirc" => 'ô',
        "uacute" => 'ú',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "Uuml" => 'Ü',
        "Ouml" => 'Ö',
        "Auml" => 'Ä',
        "szlig" => 'ß',
        "ccedil" => 'ç',
        "ntilde" => 'ñ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "copy" => '©',
        "reg" => '®',
        "deg" => '°',
        "euro" => '€',
        "pound" => '£',
        "middot" => '·',
        "times" => '×',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_empty_and_binary() {
        let p = Path::new("a.txt");
        assert!(matches!(extract(p, b""), Err(Error::Unsupported { .. })));
        assert!(matches!(
            extract(p, b"  \n\t"),
            Err(Error::Unsupported { .. })
        ));
        let png = [
            0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 1, 2, 3,
        ];
        let err = extract(p, &png).unwrap_err();
        assert!(err.to_string().contains("binary"), "{err}");
    }

    #[test]
    fn decodes_latin1_and_utf16() {
        let latin1 = b"Caf\xe9 cr\xe8me br\xfbl\xe9e";
        assert_eq!(decode_text(latin1).unwrap(), "Café crème brûlée");
        let utf16le: Vec<u8> = "héllo wörld"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(decode_text(&utf16le).unwrap(), "héllo wörld");
        let mut bom_be = vec![0xFE, 0xFF];
        bom_be.extend("naïve".encode_utf16().flat_map(|u| u.to_be_bytes()));
        assert_eq!(decode_text(&bom_be).unwrap(), "naïve");
    }

    #[test]
    fn pdf_by_content_not_extension() {
        let err = extract(Path::new("x.pdf"), b"hello, I am text").unwrap_err();
        assert_eq!(err.code(), "corrupt_pdf");
        let err = extract(Path::new("x.txt"), b"%PDF-1.7\n garbage").unwrap_err();
        assert_eq!(err.code(), "corrupt_pdf");
    }

    #[test]
    fn html_drops_scripts_and_keeps_headings() {
        let html = "<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body>\
            <script>var secret = 1;</script><h1>Cacio e pepe</h1><p>Pecorino &amp; pepper, pur&eacute;e</p>\
            <h2>Steps</h2><ul><li>Toast</li><li>Mix</li></ul></body></html>";
        let text = html_to_text(html);
        assert!(!text.contains("secret"));
        assert!(!text.contains("p{}"));
        assert!(text.contains("# Cacio e pepe"));
        assert!(text.contains("## Steps"));
        assert!(text.contains("Pecorino & pepper, purée"));
        assert!(text.contains("- Toast"));
    }

    #[test]
    fn tidy_joins_lines_and_keeps_paragraphs() {
        let raw = "First   line of\nthe para-\ngraph.\n\n\nSecond  para.";
        assert_eq!(
            tidy_pdf_text(raw),
            "First line of the paragraph.\n\nSecond para."
        );
    }
}

#[cfg(test)]
mod pdf_tests {
    use super::*;

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(rel),
        )
        .unwrap()
    }

    #[test]
    fn pdf_text_is_kept_per_page() {
        let doc = extract(Path::new("guide.pdf"), &fixture("corpus/field-guide.pdf")).unwrap();
        assert_eq!(doc.kind, DocKind::Pdf);
        assert_eq!(doc.pages.len(), 4);
        assert!(
            doc.pages[2].text.contains("ice reached 71 centimetres"),
            "{}",
            doc.pages[2].text
        );
        assert!(doc.pages[1].text.contains("The eggs hatch after 26 days"));
        assert!(!doc.pages[0].text.contains("heron"));
    }

    #[test]
    fn encrypted_and_scanned_pdfs_get_their_own_errors() {
        let err = extract(Path::new("e.pdf"), &fixture("bad/encrypted.pdf")).unwrap_err();
        assert_eq!(err.code(), "encrypted_pdf", "{err}");
        let err = extract(Path::new("s.pdf"), &fixture("bad/scanned.pdf")).unwrap_err();
        assert!(err.to_string().contains("no text layer"), "{err}");
    }
}
