//! PowerPoint decks (`.pptx`): one page per slide in the deck's order (the presentation's slide
//! list, not the part names), the slide title as the page's heading, the other text boxes and
//! table rows as its text, and the speaker notes after them. OpenDocument decks (`.odp`) are read
//! in [`super::odf`] into the same [`Slide`]s.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::office::{attr_value, part_path as resolve, xml_ref, Package};
use super::Page;
use crate::error::{Error, Result};

/// One slide's text.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Slide {
    pub title: String,
    /// Paragraphs of the other text boxes and `a | b` table rows, in the slide's order.
    pub body: Vec<String>,
    pub notes: Vec<String>,
}

/// Slides as pages, numbered from 1: `# Title`, the body, then "Speaker notes:".
pub(super) fn slide_pages(slides: Vec<Slide>) -> Vec<Page> {
    slides
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let mut text = String::new();
            if !s.title.trim().is_empty() {
                text.push_str(&format!("# {}\n\n", s.title.trim().replace('\n', " ")));
            }
            for p in s.body.iter().filter(|p| !p.trim().is_empty()) {
                text.push_str(&super::not_heading(p.trim()));
                text.push_str("\n\n");
            }
            let notes: Vec<&str> = s
                .notes
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .collect();
            if !notes.is_empty() {
                text.push_str("Speaker notes: ");
                text.push_str(&notes.join("\n\n"));
                text.push('\n');
            }
            Page {
                number: Some(i as u32 + 1),
                text,
            }
        })
        .collect()
}

/// The slides of a `.pptx`.
pub(super) fn pptx_slides(bytes: &[u8]) -> Result<Vec<Slide>> {
    let mut pkg = Package::open(bytes, "PowerPoint file")?;
    let mut slides = Vec::new();
    for part in slide_parts(&mut pkg)? {
        let Some(xml) = pkg.part(&part)? else {
            continue; // listed but missing: the other slides are still read
        };
        let mut slide = Slide::default();
        for shape in shapes(&xml)? {
            match shape.placeholder.as_deref() {
                Some("title" | "ctrTitle") => {
                    if !slide.title.is_empty() {
                        slide.title.push(' ');
                    }
                    slide.title.push_str(&shape.paragraphs.join(" "));
                }
                Some("sldNum" | "dt" | "ftr" | "hdr") => {}
                _ => slide.body.extend(shape.paragraphs),
            }
        }
        let (dir, file) = part.rsplit_once('/').unwrap_or(("", &part));
        let rels = format!("{dir}/_rels/{file}.rels");
        if let Some(notes) = relationships(&mut pkg, &rels)?
            .into_iter()
            .find(|r| r.kind.ends_with("/notesSlide"))
        {
            if let Some(xml) = pkg.part(&resolve(dir, &notes.target))? {
                for shape in shapes(&xml)? {
                    if shape.placeholder.as_deref() == Some("body") {
                        slide.notes.extend(shape.paragraphs);
                    }
                }
            }
        }
        slides.push(slide);
    }
    if slides.is_empty() {
        return Err(Error::unsupported("PowerPoint file has no slides"));
    }
    Ok(slides)
}

/// The slide parts in the deck's order: `p:sldIdLst` of `ppt/presentation.xml` through its
/// relationships; if those cannot be followed, the `ppt/slides/slideN.xml` parts by number.
fn slide_parts(pkg: &mut Package) -> Result<Vec<String>> {
    let rels = relationships(pkg, "ppt/_rels/presentation.xml.rels")?;
    let mut ids = Vec::new();
    if let Some(xml) = pkg.part("ppt/presentation.xml")? {
        let mut reader = Reader::from_reader(xml.as_slice());
        let mut buf = Vec::new();
        loop {
            match reader.read_event_into(&mut buf).map_err(bad)? {
                Event::Start(e) | Event::Empty(e) if e.local_name().into_inner() == "sldId" => {
                    for a in e.attributes().flatten() {
                        if a.key.local_name().into_inner() == "id" && a.key.prefix().is_some() {
                            ids.extend(attr_value(&a));
                        }
                    }
                }
                Event::Eof => break,
                _ => {}
            }
            buf.clear();
        }
    }
    let ordered: Vec<String> = ids
        .iter()
        .filter_map(|id| rels.iter().find(|r| &r.id == id))
        .map(|r| resolve("ppt", &r.target))
        .collect();
    if !ordered.is_empty() {
        return Ok(ordered);
    }
    let mut numbered: Vec<(u32, String)> = pkg
        .names()
        .into_iter()
        .filter_map(|n| {
            let num = n
                .strip_prefix("ppt/slides/slide")?
                .strip_suffix(".xml")?
                .parse()
                .ok()?;
            Some((num, n))
        })
        .collect();
    numbered.sort();
    Ok(numbered.into_iter().map(|(_, n)| n).collect())
}

struct Relationship {
    id: String,
    kind: String,
    target: String,
}

fn relationships(pkg: &mut Package, part: &str) -> Result<Vec<Relationship>> {
    let Some(xml) = pkg.part(part)? else {
        return Ok(Vec::new());
    };
    let mut reader = Reader::from_reader(xml.as_slice());
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(bad)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().into_inner() == "Relationship" => {
                let mut r = Relationship {
                    id: String::new(),
                    kind: String::new(),
                    target: String::new(),
                };
                for a in e.attributes().flatten() {
                    let v = attr_value(&a).unwrap_or_default();
                    match a.key.local_name().into_inner() {
                        "Id" => r.id = v,
                        "Type" => r.kind = v,
                        "Target" => r.target = v,
                        _ => {}
                    }
                }
                out.push(r);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// A shape's placeholder type (`title`, `body`, `sldNum`, …; `None` for a plain text box or
/// table) and its paragraphs (a table row is one `a | b` paragraph).
struct Shape {
    placeholder: Option<String>,
    paragraphs: Vec<String>,
}

/// The text-bearing shapes of a slide or notes part, in document order.
fn shapes(xml: &[u8]) -> Result<Vec<Shape>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out: Vec<Shape> = Vec::new();
    let mut current: Option<Shape> = None;
    let mut para = String::new();
    let mut in_text = false;
    let mut row: Option<Vec<String>> = None;
    loop {
        match reader.read_event_into(&mut buf).map_err(bad)? {
            Event::Start(e) => match e.local_name().into_inner() {
                "sp" | "graphicFrame" => {
                    current = Some(Shape {
                        placeholder: None,
                        paragraphs: Vec::new(),
                    })
                }
                "t" => in_text = true,
                "p" => para.clear(),
                "tr" => row = Some(Vec::new()),
                "tc" => {
                    if let Some(r) = row.as_mut() {
                        r.push(String::new())
                    }
                }
                "ph" => placeholder(&e, current.as_mut()),
                _ => {}
            },
            Event::Empty(e) => match e.local_name().into_inner() {
                "ph" => placeholder(&e, current.as_mut()),
                "br" => para.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => para.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => {
                if let Some(c) = xml_ref(&r) {
                    para.push(c);
                }
            }
            Event::End(e) => match e.local_name().into_inner() {
                "t" => in_text = false,
                "p" => {
                    let text = para.trim().to_string();
                    para.clear();
                    match (row.as_mut().and_then(|r| r.last_mut()), current.as_mut()) {
                        _ if text.is_empty() => {}
                        (Some(cell), _) => {
                            if !cell.is_empty() {
                                cell.push(' ');
                            }
                            cell.push_str(&text.replace('\n', " "));
                        }
                        (None, Some(shape)) => shape.paragraphs.push(text),
                        (None, None) => {}
                    }
                }
                "tr" => {
                    if let (Some(cells), Some(shape)) = (row.take(), current.as_mut()) {
                        if cells.iter().any(|c| !c.trim().is_empty()) {
                            shape.paragraphs.push(cells.join(" | "));
                        }
                    }
                }
                "sp" | "graphicFrame" => out.extend(current.take()),
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

fn placeholder(e: &quick_xml::events::BytesStart, shape: Option<&mut Shape>) {
    if let Some(shape) = shape {
        // A placeholder with no type is a body placeholder (ECMA-376 `ST_PlaceholderType`).
        let kind = e
            .attributes()
            .flatten()
            .find(|a| a.key.local_name().into_inner() == "type")
            .and_then(|a| attr_value(&a));
        shape.placeholder = Some(kind.unwrap_or_else(|| "body".into()));
    }
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::unsupported(format!("damaged PowerPoint file (XML: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_targets_resolve_against_their_folder() {
        assert_eq!(resolve("ppt", "slides/slide2.xml"), "ppt/slides/slide2.xml");
        assert_eq!(
            resolve("ppt/slides", "../notesSlides/notesSlide1.xml"),
            "ppt/notesSlides/notesSlide1.xml"
        );
        assert_eq!(resolve("ppt", "/ppt/slides/s.xml"), "ppt/slides/s.xml");
    }

    #[test]
    fn titles_bodies_tables_and_notes_make_one_page_per_slide() {
        let xml = br#"<p:sld xmlns:p="p" xmlns:a="a"><p:cSld><p:spTree>
            <p:sp><p:nvSpPr><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr>
              <p:txBody><a:p><a:r><a:t>Fuel &amp; oil</a:t></a:r></a:p></p:txBody></p:sp>
            <p:sp><p:nvSpPr><p:nvPr><p:ph type="sldNum"/></p:nvPr></p:nvSpPr>
              <p:txBody><a:p><a:r><a:t>7</a:t></a:r></a:p></p:txBody></p:sp>
            <p:graphicFrame><a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>May</a:t></a:r></a:p></a:txBody></a:tc>
              <a:tc><a:txBody><a:p><a:r><a:t>310</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl></p:graphicFrame>
            </p:spTree></p:cSld></p:sld>"#;
        let shapes = shapes(xml).unwrap();
        assert_eq!(shapes.len(), 3);
        assert_eq!(shapes[0].placeholder.as_deref(), Some("title"));
        assert_eq!(shapes[0].paragraphs, ["Fuel & oil"]);
        assert_eq!(shapes[2].paragraphs, ["May | 310"]);
        let pages = slide_pages(vec![
            Slide {
                title: "Fuel & oil".into(),
                body: vec!["May | 310".into()],
                notes: vec!["Ask about June.".into()],
            },
            Slide::default(),
        ]);
        assert_eq!(
            pages[0].text,
            "# Fuel & oil\n\nMay | 310\n\nSpeaker notes: Ask about June.\n"
        );
        assert_eq!(pages[1].number, Some(2));
    }
}
