//! Rich Text Format (`.rtf`, recognised by its `{\rtf` start). A small reader of the format's
//! text: groups, control words, `\'hh` bytes in the document's code page (`\ansicpg`), `\uN`
//! Unicode with its `\ucN` fallbacks skipped; paragraphs, line breaks, tabs and table rows
//! (`a | b`). Paragraph styles named "Heading N" / "Title" in the stylesheet (or an
//! `\outlinelevel`) become `#` headings as in Word documents. Font and colour tables, pictures,
//! embedded objects, headers and footers, field instructions and every `{\*...}` destination
//! are left out.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// Deepest group nesting read (hostile files nest without end).
const MAX_DEPTH: usize = 512;

/// Destinations whose text is not the document's.
const SKIPPED: &[&str] = &[
    "fonttbl",
    "colortbl",
    "info",
    "pict",
    "object",
    "header",
    "headerl",
    "headerr",
    "headerf",
    "footer",
    "footerl",
    "footerr",
    "footerf",
    "themedata",
    "colorschememapping",
    "datastore",
    "latentstyles",
    "listtable",
    "listoverridetable",
    "rsidtbl",
    "generator",
    "xmlnstbl",
    "mmathPr",
    "fldinst",
    "revtbl",
    "pgdsctbl",
    "filetbl",
    "bkmkstart",
    "bkmkend",
    "pntext",
    "pntxta",
    "pntxtb",
    "listtext",
    "nonshppict",
    "shpinst",
    "userprops",
    "docvar",
    "xe",
    "tc",
    "template",
    "wgrffmtfilter",
    "operator",
    "author",
    "title",
    "subject",
    "company",
];

pub(super) fn is_rtf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"{\\rtf")
}

#[derive(Clone, Copy, PartialEq)]
enum Dest {
    Text,
    Skip,
    Stylesheet,
    Style,
}

#[derive(Clone, Copy)]
struct Group {
    dest: Dest,
    uc: usize,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }
}

/// The text of an RTF document.
pub(super) fn rtf_text(bytes: &[u8]) -> Result<String> {
    let mut r = Reader { bytes, at: 0 };
    let mut stack: Vec<Group> = Vec::new();
    let mut group = Group {
        dest: Dest::Text,
        uc: 1,
    };
    let mut encoding = encoding_rs::WINDOWS_1252;
    let mut pending: Vec<u8> = Vec::new(); // \'hh bytes not yet decoded
    let mut skip_chars = 0usize; // fallback characters after \uN
    let mut para = String::new();
    let mut out = String::new();
    let mut styles: HashMap<i32, String> = HashMap::new();
    let mut style_number = 0i32;
    let mut style_name = String::new();
    let mut para_style = 0i32;
    let mut outline: Option<usize> = None;
    let mut row: Vec<String> = Vec::new();
    let mut in_table = false;
    let mut first_in_group = false;

    macro_rules! flush_bytes {
        () => {
            if !pending.is_empty() {
                let (text, _, _) = encoding.decode(&pending);
                match group.dest {
                    Dest::Text => para.push_str(&text),
                    Dest::Style => style_name.push_str(&text),
                    _ => {}
                }
                pending.clear();
            }
        };
    }
    let push_char =
        |c: char, group: Group, para: &mut String, style_name: &mut String| match group.dest {
            Dest::Text => para.push(c),
            Dest::Style => style_name.push(c),
            _ => {}
        };

    while let Some(b) = r.next() {
        if b != b'\\' || r.peek() != Some(b'\'') {
            flush_bytes!();
        }
        match b {
            b'{' => {
                if stack.len() >= MAX_DEPTH {
                    return Err(Error::unsupported(
                        "damaged RTF file (groups nested too deep)",
                    ));
                }
                stack.push(group);
                if group.dest == Dest::Stylesheet {
                    group.dest = Dest::Style;
                    style_number = 0;
                    style_name.clear();
                }
                first_in_group = true;
                continue;
            }
            b'}' => {
                if group.dest == Dest::Style {
                    let name = style_name.trim().trim_end_matches(';').trim().to_string();
                    styles.insert(style_number, name);
                }
                group = stack.pop().unwrap_or(group);
                first_in_group = false;
                continue;
            }
            b'\\' => {
                let Some(c) = r.next() else { break };
                if c.is_ascii_alphabetic() {
                    let mut word = String::new();
                    word.push(c as char);
                    while let Some(c) = r.peek().filter(u8::is_ascii_alphabetic) {
                        word.push(c as char);
                        r.at += 1;
                        if word.len() > 32 {
                            break;
                        }
                    }
                    let mut param: Option<i64> = None;
                    let negative = r.peek() == Some(b'-');
                    if negative {
                        r.at += 1;
                    }
                    let mut digits = 0;
                    while let Some(d) = r.peek().filter(u8::is_ascii_digit) {
                        param = Some(param.unwrap_or(0).saturating_mul(10) + i64::from(d - b'0'));
                        r.at += 1;
                        digits += 1;
                        if digits > 10 {
                            break;
                        }
                    }
                    let param = param.map(|p| if negative { -p } else { p });
                    if r.peek() == Some(b' ') {
                        r.at += 1;
                    }
                    let first = std::mem::replace(&mut first_in_group, false);
                    if first && SKIPPED.contains(&word.as_str()) {
                        group.dest = Dest::Skip;
                        continue;
                    }
                    if first && word == "stylesheet" {
                        group.dest = Dest::Stylesheet;
                        continue;
                    }
                    if group.dest == Dest::Skip {
                        continue;
                    }
                    let p = param.unwrap_or(0);
                    match word.as_str() {
                        "ansicpg" => encoding = code_page(p),
                        "uc" => group.uc = p.clamp(0, 8) as usize,
                        "u" => {
                            let code = if p < 0 { p + 65_536 } else { p } as u32;
                            if let Some(ch) = char::from_u32(code) {
                                push_char(ch, group, &mut para, &mut style_name);
                            }
                            skip_chars = group.uc;
                        }
                        "s" if group.dest == Dest::Style => style_number = p as i32,
                        "s" => para_style = p as i32,
                        "outlinelevel" if group.dest == Dest::Text => {
                            outline = Some(p.clamp(0, 8) as usize)
                        }
                        "pard" => {
                            para_style = 0;
                            outline = None;
                            in_table = false;
                        }
                        "intbl" => in_table = true,
                        "par" | "sect" | "page" if group.dest == Dest::Text => {
                            if in_table {
                                para.push(' ');
                            } else {
                                let level = heading_level(&styles, para_style, outline);
                                emit(&mut out, &mut para, level);
                            }
                        }
                        "line" => push_char('\n', group, &mut para, &mut style_name),
                        "tab" => push_char('\t', group, &mut para, &mut style_name),
                        "cell" if group.dest == Dest::Text => {
                            row.push(std::mem::take(&mut para).trim().to_string());
                        }
                        "row" if group.dest == Dest::Text => {
                            while row.last().is_some_and(String::is_empty) {
                                row.pop();
                            }
                            if !row.is_empty() {
                                out.push_str(&row.join(" | "));
                                out.push('\n');
                            }
                            row.clear();
                            para.clear();
                        }
                        "emdash" => push_char('—', group, &mut para, &mut style_name),
                        "endash" => push_char('–', group, &mut para, &mut style_name),
                        "bullet" => push_char('•', group, &mut para, &mut style_name),
                        "lquote" => push_char('‘', group, &mut para, &mut style_name),
                        "rquote" => push_char('’', group, &mut para, &mut style_name),
                        "ldblquote" => push_char('“', group, &mut para, &mut style_name),
                        "rdblquote" => push_char('”', group, &mut para, &mut style_name),
                        _ => {}
                    }
                    continue;
                }
                first_in_group = false;
                match c {
                    b'*' => group.dest = Dest::Skip,
                    b'\'' => {
                        let hex = [r.next().unwrap_or(b'0'), r.next().unwrap_or(b'0')];
                        let byte = std::str::from_utf8(&hex)
                            .ok()
                            .and_then(|h| u8::from_str_radix(h, 16).ok());
                        if skip_chars > 0 {
                            skip_chars -= 1;
                        } else if let Some(byte) = byte {
                            if matches!(group.dest, Dest::Text | Dest::Style) {
                                pending.push(byte);
                            }
                        }
                    }
                    b'~' => push_char('\u{a0}', group, &mut para, &mut style_name),
                    b'_' => push_char('-', group, &mut para, &mut style_name),
                    b'-' => {}
                    b'\n' | b'\r' => {
                        if group.dest == Dest::Text && !in_table {
                            let level = heading_level(&styles, para_style, outline);
                            emit(&mut out, &mut para, level);
                        }
                    }
                    c => push_char(c as char, group, &mut para, &mut style_name),
                }
            }
            b'\r' | b'\n' => {}
            _ => {
                first_in_group = false;
                if skip_chars > 0 {
                    skip_chars -= 1;
                    continue;
                }
                if b < 0x80 {
                    push_char(b as char, group, &mut para, &mut style_name);
                } else if matches!(group.dest, Dest::Text | Dest::Style) {
                    pending.push(b);
                }
            }
        }
    }
    flush_bytes!();
    let level = heading_level(&styles, para_style, outline);
    emit(&mut out, &mut para, level);
    Ok(out)
}

fn emit(out: &mut String, para: &mut String, heading: Option<usize>) {
    let text = para.trim();
    if !text.is_empty() {
        match heading {
            Some(level) => out.push_str(&format!(
                "{} {}\n\n",
                "#".repeat(level),
                text.replace('\n', " ")
            )),
            None => {
                out.push_str(&super::not_heading(text));
                out.push_str("\n\n");
            }
        }
    }
    para.clear();
}

/// `Title` → 1, "Heading N" → N + 1 (as in Word documents), else an `\outlinelevelN` → N + 2.
fn heading_level(
    styles: &HashMap<i32, String>,
    style: i32,
    outline: Option<usize>,
) -> Option<usize> {
    styles
        .get(&style)
        .and_then(|name| super::office::heading_level(name))
        .or(outline.map(|o| (o + 2).min(6)))
}

/// The encoding of a Windows code page number (`\ansicpg`); Windows-1252 when unknown.
fn code_page(cp: i64) -> &'static encoding_rs::Encoding {
    let label = match cp {
        932 => "shift_jis".to_string(),
        936 => "gbk".into(),
        949 => "euc-kr".into(),
        950 => "big5".into(),
        10000 => "macintosh".into(),
        874 => "windows-874".into(),
        1250..=1258 => format!("windows-{cp}"),
        _ => "windows-1252".into(),
    };
    encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::WINDOWS_1252)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_headings_tables_and_encodings() {
        let rtf = br#"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Times;}}{\stylesheet{\s0 Normal;}{\s1\outlinelevel0 heading 1;}}
{\*\generator Writer}{\info{\title Hidden}}
\pard\s1 Tools\par
\pard\s0 Saws \'e0 la caf\'e9\line sharp \u8212\'3f tools.\par
{\pict\pngblip 89504e47}
\trowd\pard\intbl Saw\cell 2\cell\row
\pard Last\par}"#;
        assert_eq!(
            rtf_text(rtf).unwrap(),
            "## Tools\n\nSaws à la café\nsharp — tools.\n\nSaw | 2\nLast\n\n"
        );
    }

    #[test]
    fn hostile_nesting_is_refused() {
        let mut deep = b"{\\rtf1 ".to_vec();
        deep.extend(std::iter::repeat_n(b'{', 10_000));
        let err = rtf_text(&deep).unwrap_err();
        assert!(err.to_string().contains("nested too deep"), "{err}");
        // Unbalanced closing braces and a truncated escape end quietly.
        assert_eq!(rtf_text(b"{\\rtf1 a}}} b\\").unwrap(), "a b\n\n");
    }
}
