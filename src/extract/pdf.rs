//! PDF pages through `lopdf` + `pdf-extract`, one text per page; pages without a text layer
//! (scanned) are recognised by OCR when it is available ([`super::ocr`]).

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::ocr::MIN_PAGE_CHARS;
use super::{ExtractOptions, Page};
use crate::error::{panic_message, Error, Result};

pub(super) fn extract_pdf(bytes: &[u8], opts: &ExtractOptions) -> Result<Vec<Page>> {
    // pdf-extract (and lopdf under it) panic on some malformed files: contain it here.
    let outcome = catch_unwind(AssertUnwindSafe(|| extract_pdf_inner(bytes)));
    let mut pages = match outcome {
        Ok(result) => result?,
        Err(panic) => {
            let msg = panic_message(panic.as_ref());
            return Err(Error::CorruptPdf(format!("PDF parser crashed: {msg}")));
        }
    };
    // Scanned pages (no or almost no text layer) are recognised, and only those: a mixed PDF
    // keeps the text layer of its other pages.
    let scanned: Vec<u32> = pages
        .iter()
        .filter(|p| visible_chars(&p.text) < MIN_PAGE_CHARS)
        .filter_map(|p| p.number)
        .collect();
    if let (Some(ocr), false) = (&opts.ocr, scanned.is_empty()) {
        let texts = ocr.pdf_pages(bytes, &scanned, &opts.cancel, &opts.ocr_progress)?;
        for (number, text) in scanned.iter().zip(texts) {
            let text = tidy_pdf_text(&text);
            if let Some(page) = pages.iter_mut().find(|p| p.number == Some(*number)) {
                if visible_chars(&text) > visible_chars(&page.text) {
                    page.text = text;
                }
            }
        }
        if pages.iter().all(|p| p.text.trim().is_empty()) {
            return Err(Error::unsupported(
                "PDF has no text layer, and OCR recognised no text on its pages",
            ));
        }
    }
    if pages.iter().all(|p| p.text.trim().is_empty()) {
        return Err(Error::unsupported(format!(
            "PDF has no text layer (scanned or image-only; {})",
            opts.ocr_hint()
        )));
    }
    Ok(pages)
}

fn visible_chars(text: &str) -> usize {
    text.chars().filter(|c| !c.is_whitespace()).count()
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
pub(super) fn tidy_pdf_text(raw: &str) -> String {
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::extract::{extract, DocKind};

    fn fixture(rel: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(rel),
        )
        .unwrap()
    }

    #[test]
    fn tidy_joins_lines_and_keeps_paragraphs() {
        let raw = "First   line of\nthe para-\ngraph.\n\n\nSecond  para.";
        assert_eq!(
            tidy_pdf_text(raw),
            "First line of the paragraph.\n\nSecond para."
        );
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
