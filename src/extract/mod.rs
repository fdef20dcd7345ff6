//! File → text, with pages for PDFs.
//!
//! Files are recognised by their content, not their extension: a PDF is a PDF because it starts
//! with `%PDF-`; text is decoded from UTF-8, UTF-16 (with or without BOM) or Windows-1252/Latin-1;
//! anything else is binary and refused. The extension only chooses *how* to read text
//! (Markdown, HTML, code or plain).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{contain, Error, Result};
use office::ZipKind;

mod epub;
pub mod furniture;
mod html;
mod mail;
mod ocr;
pub use ocr::OcrConfig;
mod odf;
mod office;
mod pdf;
mod rtf;
mod sheets;
mod slides;
mod table;

pub use ocr::{Ocr, Progress as OcrProgress};

pub use html::html_to_text;

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
    /// A `.csv` / `.tsv` table, each row written out with its column names.
    Table,
    /// A Word document (`.docx`), its headings kept as Markdown headings.
    Word,
    /// An image (PNG, JPEG, TIFF, …) read by OCR; a multi-page TIFF has pages.
    Image,
    /// An OpenDocument text (`.odt`), headings kept as in Word documents.
    Odt,
    /// A slide deck (`.pptx`, `.odp`): one page per slide, its title as the heading.
    Slides,
    /// An e-book (`.epub`): chapters in reading order, chapter titles as headings.
    Epub,
    /// A workbook (`.xlsx`, `.ods`): a `# Sheet: NAME` section per sheet, rows as in a table.
    Spreadsheet,
    /// E-mail (`.eml`, `.mbox`): one page per message, its subject, sender and date as heading.
    Mail,
    /// Rich Text Format (`.rtf`), headings kept as in Word documents.
    Rtf,
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
            DocKind::Table => "table",
            DocKind::Word => "docx",
            DocKind::Image => "image",
            DocKind::Odt => "odt",
            DocKind::Slides => "slides",
            DocKind::Epub => "epub",
            DocKind::Spreadsheet => "spreadsheet",
            DocKind::Mail => "mail",
            DocKind::Rtf => "rtf",
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
/// Zip-packaged documents read by content ([`office::zip_kind`]).
const OFFICE_EXTENSIONS: &[&str] = &[
    "docx", "docm", "dotx", "odt", "ott", "pptx", "pptm", "potx", "odp", "otp", "epub", "xlsx",
    "xlsm", "xltx", "ods", "ots",
];
const MAIL_EXTENSIONS: &[&str] = &["eml", "mbox", "mbx"];
const RTF_EXTENSIONS: &[&str] = &["rtf"];
/// Images Tesseract reads; taken in folder walks only when OCR is available.
const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "gif"];

/// How files are read beyond their bytes: OCR (if available) and the job's cancel flag.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Text recognition for scanned pages and images; `None`: not available or turned off.
    pub ocr: Option<Ocr>,
    /// Why `ocr` is `None`, for the error of a file that needs it.
    pub ocr_missing: String,
    /// Checked between OCR pages.
    pub cancel: crate::cancel::Cancel,
    /// Pages recognised / to recognise in the file being read, for progress reports.
    pub ocr_progress: std::sync::Arc<OcrProgress>,
}

impl ExtractOptions {
    /// Options for `cfg`: OCR when it is enabled and installed.
    pub fn new(cfg: &OcrConfig, cancel: crate::cancel::Cancel) -> Self {
        let ocr = Ocr::from_config(cfg);
        let ocr_missing = if ocr.is_some() {
            String::new()
        } else {
            ocr::unavailable_hint(cfg)
        };
        ExtractOptions {
            ocr,
            ocr_missing,
            cancel,
            ocr_progress: Default::default(),
        }
    }

    /// `(done, total)` pages of the OCR running now, if one is.
    pub fn ocr_pages(&self) -> Option<(usize, usize)> {
        self.ocr_progress.get()
    }

    fn ocr_hint(&self) -> &str {
        if self.ocr_missing.is_empty() {
            "OCR is not available"
        } else {
            &self.ocr_missing
        }
    }
}

/// The text of a paragraph that is not a heading: lines that would read as Markdown headings
/// (a shell prompt "# umount /mnt", a "#1 priority") are indented by one space so the chunker
/// keeps them as text instead of starting a section with them.
pub(crate) fn not_heading(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.lines().any(|l| l.starts_with('#')) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.starts_with('#') {
            out.push(' ');
        }
        out.push_str(line);
    }
    std::borrow::Cow::Owned(out)
}

/// A path's extension, lowercased (`""` when it has none).
pub fn extension_of(path: &Path) -> String {
    extension(path)
}

/// What a numbered page of this document is called in citations: "slide" for slide decks,
/// else "page". Decided by the extension: hits and citations carry only the path.
pub fn page_unit(path: &str) -> &'static str {
    match extension(Path::new(path)).as_str() {
        "pptx" | "pptm" | "potx" | "odp" | "otp" => "slide",
        "mbox" | "mbx" => "message",
        _ => "page",
    }
}

/// Where a passage is, as citations name it: "manual.pdf, page 3", "deck.pptx, slide 2",
/// "notes.md" (the file name, and the page in its own unit).
pub fn place(path: &str, page: Option<u32>) -> String {
    let name = Path::new(path)
        .file_name()
        .map_or_else(|| path.to_string(), |n| n.to_string_lossy().into_owned());
    match page {
        Some(p) => format!("{name}, {} {p}", page_unit(path)),
        None => name,
    }
}

/// The largest file of this kind read, given the limit for text (`ingest.max_file_mb`): PDFs
/// and images may be four times larger, as a scan is mostly pictures (a 200-page manual scanned
/// at 200 dpi is ~70 MB) and yields far less text than its size.
pub fn size_limit(path: &Path, text_limit: u64) -> u64 {
    if extension(path) == "pdf" || is_image(path) {
        text_limit.saturating_mul(4)
    } else {
        text_limit
    }
}

/// Whether a path names an image (by extension).
pub fn is_image(path: &Path) -> bool {
    IMAGE_EXTENSIONS.contains(&extension(path).as_str())
}

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
        || OFFICE_EXTENSIONS.contains(&ext.as_str())
        || MAIL_EXTENSIONS.contains(&ext.as_str())
        || RTF_EXTENSIONS.contains(&ext.as_str())
        || CODE_EXTENSIONS.contains(&ext.as_str())
        || TEXT_EXTENSIONS.contains(&ext.as_str())
        || MARKDOWN_EXTENSIONS.contains(&ext.as_str())
        || HTML_EXTENSIONS.contains(&ext.as_str())
}

/// Extract the text of a file's bytes without OCR. See [`extract_with`].
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Extracted> {
    extract_with(path, bytes, &ExtractOptions::default())
}

/// Extract the text of a file's bytes. `path` only picks the text flavour; the content decides
/// whether it is a PDF, an Office file, an image, text or binary. Never panics: a crash inside
/// the PDF parser is reported as [`Error::CorruptPdf`], one in any other reader as
/// [`Error::ReaderCrashed`].
pub fn extract_with(path: &Path, bytes: &[u8], opts: &ExtractOptions) -> Result<Extracted> {
    contain(|| extract_contained(path, bytes, opts))
}

fn extract_contained(path: &Path, bytes: &[u8], opts: &ExtractOptions) -> Result<Extracted> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Error::unsupported("empty file (no text)"));
    }
    if let Some(kind) = image_type(bytes) {
        return image_text(kind, bytes, opts);
    }
    if looks_like_pdf(bytes) {
        let pages = pdf::extract_pdf(bytes, opts);
        opts.ocr_progress.clear();
        let mut pages = pages?;
        furniture::strip(&mut pages);
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
    if office::looks_like_ole(bytes) {
        return Err(Error::unsupported(
            "a password-protected or legacy (.doc/.xls/.ppt) Office file: save it as .docx \
             without a password to index it",
        ));
    }
    if office::looks_like_zip(bytes) {
        return zipped(bytes);
    }
    if rtf::is_rtf(bytes) {
        let text = rtf::rtf_text(bytes)?;
        if text.trim().is_empty() {
            return Err(Error::unsupported("RTF document has no text"));
        }
        return Ok(Extracted {
            kind: DocKind::Rtf,
            pages: vec![Page { number: None, text }],
        });
    }
    let ext = extension(path);
    let mail_ext = MAIL_EXTENSIONS.contains(&ext.as_str());
    if mail_ext || mail::looks_like_mail(bytes) {
        match mail::mail_pages(bytes, opts) {
            Ok(pages) => {
                return Ok(Extracted {
                    kind: DocKind::Mail,
                    pages,
                })
            }
            Err(e) if mail_ext => return Err(e),
            Err(_) => {} // text that only looked like mail
        }
    }
    let text = decode_text(bytes)?;
    if text.trim().is_empty() {
        return Err(Error::unsupported("empty file (no text)"));
    }
    let head = text.trim_start().get(..64).unwrap_or(text.trim_start());
    let head = head.to_ascii_lowercase();
    let (kind, text) = if HTML_EXTENSIONS.contains(&ext.as_str())
        || head.starts_with("<!doctype html")
        || head.starts_with("<html")
    {
        (DocKind::Html, html_to_text(&text)?)
    } else if MARKDOWN_EXTENSIONS.contains(&ext.as_str()) {
        (DocKind::Markdown, text)
    } else if CODE_EXTENSIONS.contains(&ext.as_str()) {
        (DocKind::Code, text)
    } else if let Some(rows) = matches!(ext.as_str(), "csv" | "tsv")
        .then(|| table::table_text(&text, ext == "tsv"))
        .flatten()
    {
        (DocKind::Table, rows)
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

/// A zip-packaged document, by what the archive holds.
fn zipped(bytes: &[u8]) -> Result<Extracted> {
    let one = |kind, text: String, what: &str| {
        if text.trim().is_empty() {
            return Err(Error::unsupported(format!("{what} has no text")));
        }
        Ok(Extracted {
            kind,
            pages: vec![Page { number: None, text }],
        })
    };
    let deck = |slides: Vec<slides::Slide>| {
        let pages = slides::slide_pages(slides);
        if pages.iter().all(|p| p.text.trim().is_empty()) {
            return Err(Error::unsupported("the slides have no text"));
        }
        Ok(Extracted {
            kind: DocKind::Slides,
            pages,
        })
    };
    match office::zip_kind(bytes)? {
        ZipKind::Docx => one(DocKind::Word, office::docx_text(bytes)?, "Word document"),
        ZipKind::Odt => one(DocKind::Odt, odf::odt_text(bytes)?, "OpenDocument text"),
        ZipKind::Pptx => deck(slides::pptx_slides(bytes)?),
        ZipKind::Odp => deck(odf::odp_slides(bytes)?),
        ZipKind::Xlsx => one(
            DocKind::Spreadsheet,
            sheets::xlsx_text(bytes)?,
            "spreadsheet",
        ),
        ZipKind::Ods => one(
            DocKind::Spreadsheet,
            sheets::ods_text(bytes)?,
            "spreadsheet",
        ),
        ZipKind::Epub => one(DocKind::Epub, epub::epub_text(bytes)?, "e-book"),
        ZipKind::Other => Err(Error::unsupported(
            "a zip archive, not a document Hearth reads",
        )),
    }
}

/// The image format of a file, by its signature.
fn image_type(bytes: &[u8]) -> Option<&'static str> {
    let sigs: [(&[u8], &str); 7] = [
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"\xff\xd8\xff", "JPEG"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"GIF87a", "GIF"),
        (b"GIF89a", "GIF"),
        (b"BM", "BMP"),
    ];
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some("WebP");
    }
    // "BM" alone is too weak a signature: a BMP also names its own size at bytes 2..6.
    sigs.iter()
        .find(|(sig, kind)| {
            bytes.starts_with(sig)
                && (*kind != "BMP"
                    || bytes.len() >= 6
                        && u32::from_le_bytes([bytes[2], bytes[3], bytes[4], bytes[5]]) as usize
                            == bytes.len())
        })
        .map(|(_, kind)| *kind)
}

/// An image's text by OCR: one page, or one per page of a multi-page TIFF.
fn image_text(kind: &str, bytes: &[u8], opts: &ExtractOptions) -> Result<Extracted> {
    let Some(ocr) = &opts.ocr else {
        return Err(Error::unsupported(format!(
            "a {kind} image: its text can only be read by OCR ({})",
            opts.ocr_hint()
        )));
    };
    let texts = ocr.image(bytes).map_err(|e| match e {
        Error::Cancelled => e,
        e => Error::unsupported(format!("a {kind} image that could not be read: {e}")),
    })?;
    let many = texts.len() > 1;
    let pages: Vec<Page> = texts
        .into_iter()
        .enumerate()
        .map(|(i, t)| Page {
            number: many.then_some(i as u32 + 1),
            text: pdf::tidy_pdf_text(&t),
        })
        .collect();
    if pages.iter().all(|p| p.text.trim().is_empty()) {
        return Err(Error::unsupported(format!(
            "a {kind} image in which OCR recognised no text"
        )));
    }
    Ok(Extracted {
        kind: DocKind::Image,
        pages,
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
        // An image is named as one, with why it is not read (no OCR here).
        let err = extract(p, &png).unwrap_err();
        assert!(err.to_string().contains("a PNG image"), "{err}");
        let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00";
        let err = extract(p, elf).unwrap_err();
        assert!(err.to_string().contains("binary"), "{err}");
    }

    #[test]
    fn lines_that_look_like_headings_stay_text() {
        assert_eq!(not_heading("# umount /mnt\nok"), " # umount /mnt\nok");
        assert_eq!(not_heading("no # here"), "no # here");
        // live-manual's EPUB keeps shell sessions in paragraphs, not <pre>.
        let text = html_to_text(
            "<h1>Run time</h1><p class=\"code\"># umount /mnt<br/># cryptsetup luksClose live</p>",
        )
        .unwrap();
        assert!(text.starts_with("# Run time\n\n"), "{text}");
        assert!(!text.lines().skip(1).any(|l| l.starts_with('#')), "{text}");
    }

    #[test]
    fn images_are_known_by_their_signatures() {
        assert_eq!(image_type(b"\xff\xd8\xff\xe0rest"), Some("JPEG"));
        assert_eq!(image_type(b"II*\x00rest"), Some("TIFF"));
        assert_eq!(image_type(b"RIFF\x10\x00\x00\x00WEBPVP8 "), Some("WebP"));
        // "BM" starts many texts: a BMP must also state its own length.
        assert_eq!(image_type(b"BMW owners club notes"), None);
        let mut bmp = b"BM".to_vec();
        bmp.extend(30u32.to_le_bytes());
        bmp.resize(30, 0);
        assert_eq!(image_type(&bmp), Some("BMP"));
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
}

/// Bounded mutation fuzzing of extract → chunk, run with the unit tests: real documents (the test
/// corpus, the bad PDFs, HTML with the markup real pages have) are cut, spliced and corrupted
/// thousands of times by a fixed-seed generator. No reader may crash (a contained crash comes
/// back as `reader_crashed`, which fails the test with the input that caused it), and every
/// chunk must be an exact slice of its page at its char offsets. The libFuzzer target in
/// `fuzz/` runs the same check coverage-guided.
#[cfg(test)]
mod fuzz_tests {
    use super::*;
    use crate::chunk::{chunk_document, ChunkingConfig, WhitespaceTokens as Words};

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const SNIPPETS: &[&[u8]] = &[
        b"&",
        b"&amp;",
        b"&#x",
        b"&#xD800;",
        b"&#99999999;",
        b"&lsquo",
        b"\xe2\x80\x98",
        b"\xe2\x80",
        b"<",
        b">",
        b"</",
        b"<pre>",
        b"</pre>",
        b"<h2>",
        b"</h2>",
        b"<li>",
        b"<table><tr><td>",
        b"<script>",
        b"<!--",
        b"-->",
        b"<![CDATA[",
        b"\x00",
        b"\xff\xfe",
        b"\r\n",
        b"\n\n# ",
        b"```\n",
        b"%PDF-1.4\n",
        b"endobj",
        b"stream\n",
        b"\xf0\x9f\x98",
        b"<svg><text>",
        b"<div class=\"toc\">",
        b"\t\t",
        b"   ",
        b".\n",
        b"#######",
        b"{",
        b"}",
        b"{\\*\\x ",
        b"\\'e",
        b"\\u-3000?",
        b"\\par ",
        b"\\cell ",
        b"\nFrom x@y Mon Jan  1 00:00:00 2024\n",
        b"\n--",
        b"=?utf-8?b?",
        b"Content-Type: multipart/mixed; boundary=\"b\"\n\n",
        b"PK\x03\x04",
    ];

    fn seeds() -> Vec<(&'static str, Vec<u8>)> {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut seeds = vec![
            ("page.html", b"<!DOCTYPE html><html><head><title>T&uuml;tle</title></head><body><div class=\"navheader\">Prev</div><h1>Chapter&nbsp;1</h1><p>It&rsquo;s &lsquo;quoted&rsquo; &mdash; fine.</p><ul><li>one<li>two</ul><pre>  code\n\n  more</pre><table><tr><th>a<td>b</table></body></html>".to_vec()),
            ("notes.md", "# Title\n\nPara one.\n\n## Sub\n\n```\ncode\n```\n\nÜnïcödé ‘text’ …\n".as_bytes().to_vec()),
            ("plain.txt", b"Caf\xe9 latin-1 text\r\nwith lines\r\n\r\nand paragraphs.".to_vec()),
        ];
        for rel in [
            "corpus/web/pasta-recipe.html",
            "corpus/notes/sourdough.md",
            "corpus/code/retry.rs",
            "corpus/field-guide.pdf",
            "bad/encrypted.pdf",
            "formats/field-report.rtf",
            "formats/station-list.mbox",
            "formats/boathouse.eml",
            "formats/field-report.docx",
            "formats/field-report.odt",
            "formats/field-talk.pptx",
            "formats/station-log.xlsx",
            "formats/field-report.epub",
        ] {
            let name: &'static str =
                Box::leak(rel.rsplit('/').next().unwrap().to_string().into_boxed_str());
            seeds.push((name, std::fs::read(data.join(rel)).unwrap()));
        }
        seeds
    }

    fn mutate(rng: &mut Rng, input: &[u8], seeds: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = input.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(b.len() + 1);
            match rng.below(6) {
                0 => b.truncate(at),
                1 => {
                    let s = SNIPPETS[rng.below(SNIPPETS.len())];
                    b.splice(at..at, s.iter().copied());
                }
                2 if !b.is_empty() => {
                    let i = rng.below(b.len());
                    b[i] ^= 1 << rng.below(8);
                }
                3 => {
                    let other = &seeds[rng.below(seeds.len())].1;
                    let from = rng.below(other.len());
                    let len = rng.below(256).min(other.len() - from);
                    b.splice(at..at, other[from..from + len].iter().copied());
                }
                4 if at < b.len() => {
                    let len = rng.below(64).min(b.len() - at);
                    b.drain(at..at + len);
                }
                _ => {
                    let s = SNIPPETS[rng.below(SNIPPETS.len())];
                    for _ in 0..rng.below(50) {
                        b.splice(at..at, s.iter().copied());
                    }
                }
            }
        }
        b
    }

    #[test]
    fn mutated_documents_never_crash_a_reader_and_chunk_exactly() {
        let seeds = seeds();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let cfg = ChunkingConfig {
            chunk_tokens: 24,
            overlap_tokens: 6,
        };
        let mut extracted = 0;
        for round in 0..4000 {
            let (name, seed) = &seeds[round % seeds.len()];
            let bytes = mutate(&mut rng, seed, &seeds);
            let doc = match extract(Path::new(name), &bytes) {
                Ok(doc) => doc,
                Err(e) => {
                    assert_ne!(
                        e.code(),
                        "reader_crashed",
                        "{name} round {round}: {e}\ninput: {:?}",
                        String::from_utf8_lossy(&bytes)
                    );
                    continue;
                }
            };
            extracted += 1;
            for chunk in chunk_document(&doc, &Words, &cfg) {
                let page = doc
                    .pages
                    .iter()
                    .find(|p| p.number == chunk.page)
                    .expect("chunk page exists");
                let slice: String = page
                    .text
                    .chars()
                    .skip(chunk.char_start)
                    .take(chunk.char_end - chunk.char_start)
                    .collect();
                assert_eq!(slice, chunk.text, "{name} round {round}");
                assert!(chunk.tokens <= cfg.chunk_tokens, "{name} round {round}");
            }
        }
        assert!(extracted > 1000, "only {extracted} inputs were readable");
    }

    /// The XML inside Office files, e-books and OpenDocument files mutated and zipped again (a
    /// mutation of the archive's bytes mostly just breaks its checksums).
    #[test]
    fn mutated_xml_inside_packages_never_crashes_a_reader() {
        use std::io::{Read, Write};
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/formats");
        let seeds = seeds();
        let mut rng = Rng(0xD1B5_4A32_D192_ED03);
        let targets = [
            ("field-report.docx", "word/document.xml"),
            ("field-report.odt", "content.xml"),
            ("field-talk.pptx", "ppt/slides/slide3.xml"),
            ("field-talk.pptx", "ppt/presentation.xml"),
            ("field-talk.odp", "content.xml"),
            ("station-log.xlsx", "xl/worksheets/sheet1.xml"),
            ("station-log.xlsx", "xl/sharedStrings.xml"),
            ("station-log.xlsx", "xl/styles.xml"),
            ("station-log.ods", "content.xml"),
            ("field-report.epub", "OEBPS/content.opf"),
            ("field-report.epub", "OEBPS/sections/section0002.xhtml"),
        ];
        let mut read = 0;
        for (round, (file, part)) in targets.iter().cycle().take(targets.len() * 60).enumerate() {
            let bytes = std::fs::read(data.join(file)).unwrap();
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
            let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).unwrap();
                let name = entry.name().unwrap().into_owned();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                if name == *part {
                    content = mutate(&mut rng, &content, &seeds);
                }
                out.start_file(name, zip::write::SimpleFileOptions::default())
                    .unwrap();
                out.write_all(&content).unwrap();
            }
            let mutated = out.finish().unwrap().into_inner();
            match extract(Path::new(file), &mutated) {
                Ok(_) => read += 1,
                Err(e) => assert_ne!(
                    e.code(),
                    "reader_crashed",
                    "{file}:{part} round {round}: {e}"
                ),
            }
        }
        assert!(read > 200, "only {read} mutated packages were readable");
    }
}
