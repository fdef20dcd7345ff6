//! OpenDocument text (`.odt`) and presentations (`.odp`), recognised by the archive's
//! `mimetype`. `content.xml` is walked in order: `text:h` headings (and the `Title` paragraph)
//! become `#` headings as in Word documents, paragraphs and list items become blocks, table rows
//! become `a | b` lines, footnotes follow under "Notes"; tracked deletions, annotations and
//! note numbers are left out. A presentation gives one [`Slide`] per `draw:page`, its title frame
//! as the title and its `presentation:notes` as speaker notes.

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::office::{attr_value, xml_ref, Package};
use super::slides::Slide;
use crate::error::{Error, Result};

/// The text of an `.odt`.
pub(super) fn odt_text(bytes: &[u8]) -> Result<String> {
    let xml = content(bytes)?;
    let walk = walk(&xml, false)?;
    let mut out = walk.text;
    if !walk.notes.is_empty() {
        out.push_str("\n# Notes\n\n");
        for n in walk.notes {
            out.push_str(&n);
            out.push_str("\n\n");
        }
    }
    Ok(out)
}

/// The slides of an `.odp`.
pub(super) fn odp_slides(bytes: &[u8]) -> Result<Vec<Slide>> {
    let xml = content(bytes)?;
    let slides = walk(&xml, true)?.slides;
    if slides.is_empty() {
        return Err(Error::unsupported(
            "OpenDocument presentation has no slides",
        ));
    }
    Ok(slides)
}

fn content(bytes: &[u8]) -> Result<Vec<u8>> {
    Package::open(bytes, "OpenDocument file")?
        .part("content.xml")?
        .ok_or_else(|| Error::unsupported("damaged OpenDocument file (no content.xml)"))
}

#[derive(Debug, Default)]
struct Walk {
    text: String,
    notes: Vec<String>,
    slides: Vec<Slide>,
}

/// Elements whose text is not the document's: note numbers, deleted text kept for change
/// tracking, comments, field declarations, and a slide's page number / date / footer frames.
fn skipped(name: &str) -> bool {
    matches!(
        name,
        "note-citation" | "tracked-changes" | "annotation" | "sequence-decls" | "page-number"
    )
}

fn walk(xml: &[u8], presentation: bool) -> Result<Walk> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut w = Walk::default();
    // Paragraphs being read, innermost last (a footnote's paragraphs sit inside a paragraph),
    // each with its heading level.
    let mut paras: Vec<(String, Option<usize>)> = Vec::new();
    let mut skip = 0usize;
    let mut in_note = 0usize;
    let mut in_speaker_notes = false;
    let mut frame_class = String::new();
    let mut tables = 0usize;
    let mut row: Vec<String> = Vec::new();
    let mut slide: Option<Slide> = None;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(bad)?;
        match event {
            Event::Start(e) => {
                let name = e.local_name().into_inner();
                if skip > 0 || skipped(name) {
                    skip += 1;
                } else {
                    match name {
                        "p" => paras.push((String::new(), title_style(&e))),
                        "h" => {
                            let level = attr(&e, "outline-level")
                                .and_then(|l| l.parse::<usize>().ok())
                                .unwrap_or(1);
                            paras.push((String::new(), Some((level + 1).min(6))));
                        }
                        "note-body" => in_note += 1,
                        "table" => tables += 1,
                        "table-row" if tables == 1 => row.clear(),
                        "table-cell" | "covered-table-cell" if tables == 1 => {
                            row.push(String::new())
                        }
                        "page" if presentation => slide = Some(Slide::default()),
                        "notes" if presentation => in_speaker_notes = true,
                        "frame" => {
                            frame_class = attr(&e, "class").unwrap_or_default();
                            if matches!(
                                frame_class.as_str(),
                                "page-number" | "date-time" | "footer" | "header"
                            ) {
                                skip += 1;
                            }
                        }
                        _ => {}
                    }
                }
            }
            Event::Empty(e) if skip == 0 => {
                if presentation && e.local_name().into_inner() == "page" {
                    w.slides.push(Slide::default()); // a slide with nothing on it still counts
                } else if let Some((para, _)) = paras.last_mut() {
                    match e.local_name().into_inner() {
                        "s" => {
                            let n = attr(&e, "c").and_then(|c| c.parse().ok()).unwrap_or(1);
                            para.extend(std::iter::repeat_n(' ', n.min(64)));
                        }
                        "tab" => para.push('\t'),
                        "line-break" => para.push('\n'),
                        _ => {}
                    }
                }
            }
            Event::Text(t) if skip == 0 => {
                if let Some((para, _)) = paras.last_mut() {
                    para.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) if skip == 0 => {
                if let (Some((para, _)), Some(c)) = (paras.last_mut(), xml_ref(&r)) {
                    para.push(c);
                }
            }
            Event::End(e) => {
                let name = e.local_name().into_inner();
                match name {
                    _ if skip > 0 => skip -= 1,
                    "p" | "h" => {
                        let (para, heading) = paras.pop().unwrap_or_default();
                        let text = para.trim();
                        if text.is_empty() {
                        } else if in_note > 0 {
                            w.notes.push(text.to_string());
                        } else if tables > 0 {
                            if let Some(cell) = row.last_mut() {
                                if !cell.is_empty() {
                                    cell.push(' ');
                                }
                                cell.push_str(&text.replace('\n', " "));
                            }
                        } else if let Some(s) = slide.as_mut() {
                            if in_speaker_notes {
                                s.notes.push(text.to_string());
                            } else if frame_class == "title" {
                                if !s.title.is_empty() {
                                    s.title.push(' ');
                                }
                                s.title.push_str(&text.replace('\n', " "));
                            } else {
                                s.body.push(text.to_string());
                            }
                        } else if let Some(level) = heading {
                            let line = text.replace('\n', " ");
                            w.text
                                .push_str(&format!("{} {line}\n\n", "#".repeat(level)));
                        } else {
                            w.text.push_str(&super::not_heading(text));
                            w.text.push_str("\n\n");
                        }
                    }
                    "note-body" => in_note = in_note.saturating_sub(1),
                    "table-row" if tables == 1 => {
                        while row.last().is_some_and(|c| c.trim().is_empty()) {
                            row.pop();
                        }
                        if !row.is_empty() {
                            let line = row.iter().map(|c| c.trim()).collect::<Vec<_>>().join(" | ");
                            match slide.as_mut() {
                                Some(s) => s.body.push(line),
                                None => {
                                    w.text.push_str(&line);
                                    w.text.push('\n');
                                }
                            }
                        }
                        row.clear();
                    }
                    "table" => {
                        tables = tables.saturating_sub(1);
                        if tables == 0 && slide.is_none() {
                            w.text.push('\n');
                        }
                    }
                    "frame" => frame_class.clear(),
                    "notes" if presentation => in_speaker_notes = false,
                    "page" if presentation => w.slides.extend(slide.take()),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(w)
}

/// A paragraph styled `Title` is the document's first-level heading.
fn title_style(e: &BytesStart) -> Option<usize> {
    attr(e, "style-name").filter(|s| s == "Title").map(|_| 1)
}

fn attr(e: &BytesStart, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().into_inner() == local)
        .and_then(|a| attr_value(&a))
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::unsupported(format!("damaged OpenDocument file (XML: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headings_lists_tables_and_footnotes_in_order() {
        let xml = br#"<office:document-content xmlns:office="o" xmlns:text="t" xmlns:table="b"><office:body><office:text>
            <text:sequence-decls><text:sequence-decl text:name="Table"/></text:sequence-decls>
            <text:p text:style-name="Title">Report</text:p>
            <text:h text:outline-level="1">Tools</text:h>
            <text:p>Saws<text:s text:c="2"/>&amp; files<text:note><text:note-citation>1</text:note-citation><text:note-body><text:p>Bought in 2019.</text:p></text:note-body></text:note>, sharp.</text:p>
            <text:tracked-changes><text:changed-region><text:deletion><text:p>old words</text:p></text:deletion></text:changed-region></text:tracked-changes>
            <text:list><text:list-item><text:p>first</text:p></text:list-item></text:list>
            <table:table><table:table-row><table:table-cell><text:p>Saw</text:p></table:table-cell><table:table-cell><text:p>2</text:p></table:table-cell><table:table-cell/></table:table-row></table:table>
            </office:text></office:body></office:document-content>"#;
        let w = walk(xml, false).unwrap();
        assert_eq!(
            w.text,
            "# Report\n\n## Tools\n\nSaws  & files, sharp.\n\nfirst\n\nSaw | 2\n\n"
        );
        assert_eq!(w.notes, ["Bought in 2019."]);
    }

    #[test]
    fn a_presentation_gives_slides_with_titles_and_notes() {
        let xml = br#"<d xmlns:draw="d" xmlns:text="t" xmlns:presentation="p"><draw:page draw:name="one">
            <draw:frame presentation:class="title"><draw:text-box><text:p>Ice cover</text:p></draw:text-box></draw:frame>
            <draw:frame presentation:class="outline"><draw:text-box><text:p>64 centimetres</text:p></draw:text-box></draw:frame>
            <presentation:notes><draw:frame presentation:class="notes"><draw:text-box><text:p>Mention the auger.</text:p></draw:text-box></draw:frame>
            <draw:frame presentation:class="page-number"><draw:text-box><text:p><text:page-number>1</text:page-number></text:p></draw:text-box></draw:frame></presentation:notes>
            </draw:page><draw:page/></d>"#;
        let w = walk(xml, true).unwrap();
        assert_eq!(w.slides.len(), 2);
        assert_eq!(w.slides[0].title, "Ice cover");
        assert_eq!(w.slides[0].body, ["64 centimetres"]);
        assert_eq!(w.slides[0].notes, ["Mention the auger."]);
    }

    #[test]
    fn broken_xml_is_a_damaged_file() {
        let err = walk(b"<text:p>a</text:h>", false).unwrap_err();
        assert!(err.to_string().contains("damaged OpenDocument"), "{err}");
    }
}
