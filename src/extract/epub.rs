//! E-books (`.epub`, recognised by the archive's `mimetype`): the chapters in reading order
//! (the package's spine, found through `META-INF/container.xml`), each XHTML chapter converted
//! like an HTML page. A chapter that does not start with a heading gets its table-of-contents
//! label (NCX or the EPUB 3 navigation document) as one, so its chunks carry the chapter name.
//! A book whose chapters are encrypted (DRM) is refused with that reason.

use std::collections::HashMap;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::html::html_to_text;
use super::office::{attr_value, part_path as join, xml_ref, Package};
use crate::error::{Error, Result};

/// The text of an `.epub`.
pub(super) fn epub_text(bytes: &[u8]) -> Result<String> {
    let mut pkg = Package::open(bytes, "e-book")?;
    if let Some(xml) = pkg.part("META-INF/encryption.xml")? {
        // Font obfuscation is listed here too; only encrypted chapters make a book unreadable.
        let refs = elements(&xml, "CipherReference")?;
        if refs.iter().any(|a| {
            a.get("URI").is_some_and(|u| {
                let u = u.to_ascii_lowercase();
                u.ends_with(".xhtml") || u.ends_with(".html") || u.ends_with(".htm")
            })
        }) {
            return Err(Error::unsupported(
                "a DRM-protected e-book: its chapters are encrypted",
            ));
        }
    }
    let container = pkg
        .part("META-INF/container.xml")?
        .ok_or_else(|| Error::unsupported("damaged e-book (no META-INF/container.xml)"))?;
    let opf_path = elements(&container, "rootfile")?
        .into_iter()
        .find_map(|a| a.get("full-path").cloned())
        .ok_or_else(|| Error::unsupported("damaged e-book (container names no package)"))?;
    let opf = pkg
        .part(&opf_path)?
        .ok_or_else(|| Error::unsupported(format!("damaged e-book (no {opf_path})")))?;
    let base = opf_path.rsplit_once('/').map_or("", |(d, _)| d);

    // manifest id → (path, media type, properties); spine: ids in reading order
    let mut manifest: HashMap<String, (String, String, String)> = HashMap::new();
    for a in elements(&opf, "item")? {
        if let (Some(id), Some(href)) = (a.get("id"), a.get("href")) {
            manifest.insert(
                id.clone(),
                (
                    join(base, href),
                    a.get("media-type").cloned().unwrap_or_default(),
                    a.get("properties").cloned().unwrap_or_default(),
                ),
            );
        }
    }
    let spine: Vec<String> = elements(&opf, "itemref")?
        .into_iter()
        .filter_map(|a| a.get("idref").cloned())
        .collect();

    let mut labels: HashMap<String, String> = HashMap::new();
    let nav = manifest
        .values()
        .find(|(_, media, props)| {
            media == "application/x-dtbncx+xml" || props.split(' ').any(|p| p == "nav")
        })
        .map(|(p, _, _)| p.clone());
    if let Some(nav) = nav {
        if let Some(xml) = pkg.part(&nav)? {
            let dir = nav.rsplit_once('/').map_or("", |(d, _)| d);
            for (href, label) in toc_labels(&xml)? {
                let file = href.split('#').next().unwrap_or_default();
                labels.entry(join(dir, file)).or_insert(label);
            }
        }
    }

    let mut out = String::new();
    for id in &spine {
        let Some((path, media, _)) = manifest.get(id) else {
            continue;
        };
        if !media.contains("html") {
            continue;
        }
        let Some(page) = pkg.part(path)? else {
            continue; // a chapter missing from the archive: the others are still read
        };
        let text = html_to_text(&String::from_utf8_lossy(&page))?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        if !text.starts_with('#') {
            if let Some(label) = labels.get(path) {
                out.push_str(&format!("# {}\n\n", label.trim()));
            }
        }
        out.push_str(text);
        out.push_str("\n\n");
    }
    Ok(out)
}

/// The attributes (by local name) of every element with this local name.
fn elements(xml: &[u8], local: &str) -> Result<Vec<HashMap<String, String>>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).map_err(bad)? {
            Event::Start(e) | Event::Empty(e) if e.local_name().into_inner() == local => {
                out.push(
                    e.attributes()
                        .flatten()
                        .filter_map(|a| {
                            Some((a.key.local_name().into_inner().to_string(), attr_value(&a)?))
                        })
                        .collect(),
                );
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// (href, label) pairs of a table of contents: NCX `navPoint`s (`navLabel/text` then
/// `content@src`) or an EPUB 3 navigation document's links (`a@href` and its text).
fn toc_labels(xml: &[u8]) -> Result<Vec<(String, String)>> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut label = String::new();
    let mut in_label = false;
    let mut link: Option<String> = None;
    loop {
        match reader.read_event_into(&mut buf).map_err(bad)? {
            Event::Start(e) => match e.local_name().into_inner() {
                "navLabel" => {
                    label.clear();
                    in_label = true;
                }
                "a" => {
                    label.clear();
                    link = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().into_inner() == "href")
                        .and_then(|a| attr_value(&a));
                }
                _ => {}
            },
            Event::Empty(e) if e.local_name().into_inner() == "content" => {
                if let Some(src) = e
                    .attributes()
                    .flatten()
                    .find(|a| a.key.local_name().into_inner() == "src")
                    .and_then(|a| attr_value(&a))
                {
                    out.push((src, label.trim().to_string()));
                }
            }
            Event::Text(t) if in_label || link.is_some() => label.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_label || link.is_some() => label.extend(xml_ref(&r)),
            Event::End(e) => match e.local_name().into_inner() {
                "navLabel" => in_label = false,
                "a" => {
                    if let Some(href) = link.take() {
                        out.push((href, label.trim().to_string()));
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    out.retain(|(_, l)| !l.is_empty());
    Ok(out)
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::unsupported(format!("damaged e-book (XML: {e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toc_labels_come_from_ncx_and_nav_documents() {
        let ncx = br#"<ncx><navMap><navPoint><navLabel><text>Ice &amp; snow</text></navLabel><content src="ch1.xhtml#top"/></navPoint></navMap></ncx>"#;
        assert_eq!(
            toc_labels(ncx).unwrap(),
            [("ch1.xhtml#top".to_string(), "Ice & snow".to_string())]
        );
        let nav = br#"<html><body><nav><ol><li><a href="s/two.xhtml">Two</a></li></ol></nav></body></html>"#;
        assert_eq!(
            toc_labels(nav).unwrap(),
            [("s/two.xhtml".to_string(), "Two".to_string())]
        );
        assert_eq!(join("OEBPS", "../Text/a%20b.xhtml"), "Text/a b.xhtml");
    }
}
