//! Zip-packaged documents (recognised by their parts, never the extension), and Word documents
//! (`.docx`: a zip archive holding `word/document.xml`).
//! The body is walked in order into Markdown-like text: paragraphs styled `Title` / `Heading N`
//! become `#` headings (so chunks carry their heading path), other paragraphs become blocks,
//! table rows become `a | b | c` lines, line breaks and tabs are kept; footnotes and endnotes
//! follow under a "Notes" heading. Word files record no page numbers, so citations name the
//! section.
//!
//! Bounded against hostile files: the XML parts are read through a size cap (a zip bomb stops
//! there with a per-file error), quick-xml expands no custom entities (no DTDs), and an
//! encrypted Office file (an OLE container, not a zip) or a legacy `.doc` gets its own error.

use std::io::Read;

use quick_xml::events::Event;
use quick_xml::Reader;

use crate::error::{Error, Result};

/// Most bytes any one XML part may take uncompressed.
const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;

/// The OLE compound-file signature: encrypted (password-protected) OOXML files and legacy
/// `.doc`/`.xls`/`.ppt` files.
const OLE_SIGNATURE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// A zip archive's local-file signature.
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// An OLE compound file (encrypted Office file or legacy binary format).
pub fn looks_like_ole(bytes: &[u8]) -> bool {
    bytes.starts_with(&OLE_SIGNATURE)
}

/// Most bytes all the parts read from one archive may take uncompressed.
const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// What a zip archive holds, by its parts (OOXML) or its `mimetype` file (OpenDocument, EPUB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ZipKind {
    Docx,
    Pptx,
    Xlsx,
    Odt,
    Odp,
    Ods,
    Epub,
    Other,
}

/// Recognise an Office document, OpenDocument file or e-book inside a zip archive; an archive
/// that does not open (truncated, damaged) is an error.
pub(super) fn zip_kind(bytes: &[u8]) -> Result<ZipKind> {
    let mut pkg = Package::open(bytes, "Office document, e-book or zip archive")?;
    for (part, kind) in [
        ("word/document.xml", ZipKind::Docx),
        ("ppt/presentation.xml", ZipKind::Pptx),
        ("xl/workbook.xml", ZipKind::Xlsx),
    ] {
        if pkg.has(part) {
            return Ok(kind);
        }
    }
    let mime = pkg.part("mimetype")?.unwrap_or_default();
    Ok(match String::from_utf8_lossy(&mime).trim() {
        // documents and their templates (.ott/.otp/.ots) alike
        "application/vnd.oasis.opendocument.text"
        | "application/vnd.oasis.opendocument.text-template" => ZipKind::Odt,
        "application/vnd.oasis.opendocument.presentation"
        | "application/vnd.oasis.opendocument.presentation-template" => ZipKind::Odp,
        "application/vnd.oasis.opendocument.spreadsheet"
        | "application/vnd.oasis.opendocument.spreadsheet-template" => ZipKind::Ods,
        "application/epub+zip" => ZipKind::Epub,
        _ => ZipKind::Other,
    })
}

/// A zip-packaged document whose parts are read through size caps: one part may expand to
/// [`MAX_PART_BYTES`], all parts together to [`MAX_TOTAL_BYTES`] (a zip bomb stops there).
pub(super) struct Package<'a> {
    zip: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
    /// What the file is, for error messages ("Word file").
    what: &'static str,
    read: u64,
}

impl<'a> Package<'a> {
    pub(super) fn open(bytes: &'a [u8], what: &'static str) -> Result<Self> {
        let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| Error::unsupported(format!("damaged {what} ({e})")))?;
        Ok(Package { zip, what, read: 0 })
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(name).is_some()
    }

    /// Names of the parts, in archive order.
    pub(super) fn names(&self) -> Vec<String> {
        self.zip
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .collect()
    }

    /// A part's bytes, `None` if the archive has no such part.
    pub(super) fn part(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let what = self.what;
        let file = match self.zip.by_name(name) {
            Ok(f) => f,
            Err(zip::result::ZipError::FileNotFound) => return Ok(None),
            Err(e) => return Err(Error::unsupported(format!("damaged {what} ({e})"))),
        };
        let cap = MAX_PART_BYTES.min(MAX_TOTAL_BYTES - self.read);
        let mut out = Vec::new();
        file.take(cap + 1)
            .read_to_end(&mut out)
            .map_err(|e| Error::unsupported(format!("damaged {what} ({e})")))?;
        if out.len() as u64 > cap {
            return Err(Error::unsupported(format!(
                "{what} expands beyond {} MB (a zip bomb?)",
                cap / 1024 / 1024
            )));
        }
        self.read += out.len() as u64;
        Ok(Some(out))
    }
}

/// A part named by a relationship or a link (`../media/a%20b.xml`, `/ppt/x.xml`), relative to
/// the folder of the part that names it, as a path inside the archive.
pub(super) fn part_path(dir: &str, target: &str) -> String {
    let target = target.replace("%20", " ");
    let (dir, target) = match target.strip_prefix('/') {
        Some(abs) => ("", abs),
        None => (dir, target.as_str()),
    };
    let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    for piece in target.split('/') {
        match piece {
            ".." => {
                parts.pop();
            }
            "." | "" => {}
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// An attribute's value with the predefined entities and character references resolved.
pub(super) fn attr_value(a: &quick_xml::events::attributes::Attribute) -> Option<String> {
    a.normalized_value(quick_xml::XmlVersion::default())
        .ok()
        .map(|v| v.into_owned())
}

/// The character an XML entity or character reference stands for: the five predefined
/// entities and `&#...;`; custom (DTD) entities are never expanded.
pub(super) fn xml_ref(r: &quick_xml::events::BytesRef) -> Option<char> {
    match AsRef::<str>::as_ref(r) {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => r.resolve_char_ref().ok().flatten(),
    }
}

/// The text of a `.docx`.
pub fn docx_text(bytes: &[u8]) -> Result<String> {
    let mut pkg = Package::open(bytes, "Word file")?;
    let body = pkg
        .part("word/document.xml")?
        .ok_or_else(|| Error::unsupported("not a Word document (no word/document.xml)"))?;
    let mut out = body_text(&body)?;
    let mut notes = String::new();
    for part in ["word/footnotes.xml", "word/endnotes.xml"] {
        if let Some(xml) = pkg.part(part)? {
            notes.push_str(&body_text(&xml)?);
        }
    }
    if !notes.trim().is_empty() {
        out.push_str("\n# Notes\n\n");
        out.push_str(&notes);
    }
    Ok(out)
}

/// Paragraphs, headings and table rows of a WordprocessingML part, in order.
fn body_text(xml: &[u8]) -> Result<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut para = String::new();
    let mut heading: Option<usize> = None;
    let mut in_text = false;
    // Cells of the (outermost) table row being read, and how deep in tables we are: a nested
    // table's text goes into the outer cell holding it.
    let mut row: Vec<String> = Vec::new();
    let mut tables = 0usize;
    let bad = |e: quick_xml::Error| Error::unsupported(format!("damaged Word file (XML: {e})"));
    loop {
        match reader.read_event_into(&mut buf).map_err(bad)? {
            Event::Start(e) => match e.local_name().into_inner() {
                "p" => {
                    para.clear();
                    heading = None;
                }
                "t" => in_text = true,
                "tbl" => tables += 1,
                "tc" if tables == 1 => row.push(String::new()),
                "tr" if tables == 1 => row.clear(),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().into_inner() {
                "pStyle" => {
                    for a in e.attributes().flatten() {
                        if a.key.local_name().into_inner() == "val" {
                            heading = heading_level(&a.value);
                        }
                    }
                }
                "tab" => para.push('\t'),
                "br" | "cr" => para.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => {
                para.push_str(&t.xml10_content());
            }
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = xml_ref(&r) {
                    para.push(c);
                }
            }
            Event::End(e) => match e.local_name().into_inner() {
                "t" => in_text = false,
                "p" => {
                    let text = para.trim();
                    if tables > 0 {
                        if let Some(cell) = row.last_mut() {
                            if !cell.is_empty() && !text.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(&text.replace('\n', " "));
                        }
                    } else if !text.is_empty() {
                        match heading {
                            Some(level) => {
                                let line = text.replace('\n', " ");
                                out.push_str(&format!("{} {line}\n\n", "#".repeat(level)));
                            }
                            None => {
                                out.push_str(&super::not_heading(text));
                                out.push_str("\n\n");
                            }
                        }
                    }
                    para.clear();
                    heading = None;
                }
                "tr" if tables == 1 => {
                    let cells: Vec<&str> = row.iter().map(|c| c.trim()).collect();
                    if cells.iter().any(|c| !c.is_empty()) {
                        out.push_str(&cells.join(" | "));
                        out.push('\n');
                    }
                    row.clear();
                }
                "tbl" => {
                    tables = tables.saturating_sub(1);
                    if tables == 0 {
                        out.push('\n');
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// `Title` → 1, `Heading1`…`Heading5` (any case, with or without a space) → 2…6: headings sit
/// under the title in heading paths ("Report > Nesting").
pub(super) fn heading_level(style: &str) -> Option<usize> {
    let s = style.to_ascii_lowercase().replace(' ', "");
    if s == "title" {
        return Some(1);
    }
    s.strip_prefix("heading")
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|n| (1..=9).contains(n))
        .map(|n| (n + 1).min(6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_headings_and_table_rows_in_order() {
        let xml = br#"<w:document xmlns:w="x"><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Tools</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">Saws &amp; files, </w:t></w:r><w:r><w:t>sharp.</w:t></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>Item</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Qty</w:t></w:r></w:p></w:tc></w:tr>
            <w:tr><w:tc><w:p><w:r><w:t>Saw</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            </w:body></w:document>"#;
        let text = body_text(xml).unwrap();
        assert_eq!(
            text,
            "## Tools\n\nSaws & files, sharp.\n\nItem | Qty\nSaw | 2\n\n"
        );
    }

    #[test]
    fn damaged_and_hostile_files_are_refused_with_a_reason() {
        assert!(docx_text(b"PK\x03\x04 truncated").is_err());
        let err = body_text(b"<w:p><w:t>crossed</w:p></w:t>").unwrap_err();
        assert!(err.to_string().contains("damaged Word file"), "{err}");
        // An entity defined by a DTD is not expanded (no billion laughs).
        let xml =
            br#"<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">]><w:p><w:r><w:t>&a;&a;</w:t></w:r></w:p>"#;
        assert_eq!(body_text(xml).unwrap(), "");
        assert_eq!(heading_level("Heading 2"), Some(3));
        // A zip bomb: a small archive whose document part expands past the cap.
        let mut bomb = std::io::Cursor::new(Vec::new());
        {
            use std::io::Write;
            let mut w = zip::ZipWriter::new(&mut bomb);
            let opts = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated);
            w.start_file("word/document.xml", opts).unwrap();
            let block = vec![b' '; 1 << 20];
            for _ in 0..=(MAX_PART_BYTES >> 20) {
                w.write_all(&block).unwrap();
            }
            w.finish().unwrap();
        }
        let bytes = bomb.into_inner();
        assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
        let err = docx_text(&bytes).unwrap_err();
        assert!(err.to_string().contains("zip bomb"), "{err}");
        assert_eq!(heading_level("Normal"), None);
    }
}
