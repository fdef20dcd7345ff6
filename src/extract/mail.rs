//! E-mail: a message (`.eml`) or a mailbox (`.mbox`, messages split at their `From ` lines),
//! parsed by `mail-parser` (MIME, transfer encodings, RFC 2047 headers, legacy charsets). Each
//! message is one page ("message 3" in citations of a mailbox) that starts with
//! `# Subject (Sender, date)`, so every chunk of the message carries who wrote it and when,
//! then From/To/Date lines and the body (the plain-text part, else the HTML part as text).
//! Attachments of types Hearth reads (documents, not images) are read like files and follow
//! under `## Attachment: NAME` on the message's page; one that cannot be read is named with why.

use std::borrow::Cow;
use std::path::Path;

use mail_parser::{Address, MessageParser, MimeHeaders};

use super::{extract_with, html_to_text, is_candidate, is_image, ExtractOptions, Page};
use crate::error::{Error, Result};

/// Most messages read from one mailbox.
const MAX_MESSAGES: usize = 50_000;
/// Attachments inside attached messages are read down to this depth.
const MAX_DEPTH: usize = 2;

/// Whether bytes look like an e-mail message or mailbox: a `From ` line (mbox) or, within the
/// first lines, the headers every message has.
pub(super) fn looks_like_mail(bytes: &[u8]) -> bool {
    if bytes.starts_with(b"From ") {
        return true;
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).to_ascii_lowercase();
    let header_block = head
        .split("\n\n")
        .next()
        .unwrap_or("")
        .split("\r\n\r\n")
        .next()
        .unwrap_or("");
    let has = |name: &str| header_block.lines().any(|l| l.starts_with(name));
    // A header block (no blank line before these) naming a sender and at least one of the
    // headers a mail program writes.
    has("from:")
        && (has("date:") || has("message-id:") || has("received:") || has("mime-version:"))
        && (has("subject:") || has("to:"))
}

/// The pages of a message (one, unnumbered) or a mailbox (starts with a `From ` line; one
/// numbered page per message).
pub(super) fn mail_pages(bytes: &[u8], opts: &ExtractOptions) -> Result<Vec<Page>> {
    let mut pages = Vec::new();
    if bytes.starts_with(b"From ") {
        for (i, raw) in mail_parser::mailbox::mbox::MessageIterator::new(bytes).enumerate() {
            if i >= MAX_MESSAGES {
                break;
            }
            let raw = raw.map_err(|e| Error::unsupported(format!("damaged mailbox ({e})")))?;
            let text = message_text(raw.contents(), opts, 0)
                .unwrap_or_else(|e| format!("(message {} could not be read: {e})", i + 1));
            pages.push(Page {
                number: Some(i as u32 + 1),
                text,
            });
        }
        if pages.is_empty() {
            return Err(Error::unsupported("mailbox holds no messages"));
        }
    } else {
        pages.push(Page {
            number: None,
            text: message_text(bytes, opts, 0)?,
        });
    }
    Ok(pages)
}

/// One message as text.
fn message_text(raw: &[u8], opts: &ExtractOptions, depth: usize) -> Result<String> {
    let msg = MessageParser::default()
        .parse(raw)
        .filter(|m| m.from().is_some() || m.subject().is_some() || m.date().is_some())
        .ok_or_else(|| {
            Error::unsupported("not a readable e-mail message (no From, Subject or Date header)")
        })?;
    let subject = msg.subject().unwrap_or("(no subject)").trim().to_string();
    let from = msg.from().map(people).unwrap_or_default();
    let to = msg.to().map(people).unwrap_or_default();
    let date = msg.date().map(|d| {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            d.year, d.month, d.day, d.hour, d.minute
        )
    });
    let sender = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.name().or(a.address()))
        .unwrap_or("");
    let byline: Vec<&str> = [sender, date.as_deref().map_or("", |d| &d[..10])]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    let mut out = if byline.is_empty() {
        format!("# {}\n\n", one_line(&subject))
    } else {
        format!("# {} ({})\n\n", one_line(&subject), byline.join(", "))
    };
    for (name, value) in [
        ("From", from),
        ("To", to),
        ("Date", date.unwrap_or_default()),
    ] {
        if !value.is_empty() {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    out.push('\n');
    // The plain-text part when there is one; else the HTML part through Hearth's converter.
    let plain = msg.text_part(0).is_some_and(|p| !p.is_text_html());
    let body: Cow<str> = match (plain, msg.body_html(0)) {
        (false, Some(h)) => Cow::Owned(html_to_text(&h).unwrap_or_else(|_| h.into_owned())),
        _ => msg.body_text(0).unwrap_or_default(),
    };
    out.push_str(&super::not_heading(body.trim()));
    out.push_str("\n\n");
    for part in msg.attachments() {
        let name = part.attachment_name().unwrap_or("attachment").to_string();
        if let Some(inner) = part.message() {
            if depth < MAX_DEPTH {
                // A forwarded message: its text, headings one level down.
                if let Ok(text) = message_text(inner.raw_message(), opts, depth + 1) {
                    // Its "# Subject (Sender, date)" becomes "## Attached message: Subject …";
                    // its own attachments' headings follow it at the same level.
                    let (title, rest) = text.split_once('\n').unwrap_or((&text, ""));
                    let title = title.trim_start_matches('#').trim();
                    out.push_str(&format!("## Attached message: {title}\n"));
                    out.push_str(rest.trim_start_matches('\n'));
                    out.push_str("\n\n");
                }
            }
            continue;
        }
        let path = Path::new(&name);
        if !is_candidate(path) || is_image(path) {
            continue; // photos, archives, executables: not documents
        }
        out.push_str(&format!("## Attachment: {}\n\n", one_line(&name)));
        match extract_with(path, part.contents(), opts) {
            Ok(doc) => {
                for p in doc.pages {
                    // The attachment's own headings would end the attachment's section: keep
                    // them as plain lines.
                    for line in p.text.lines() {
                        out.push_str(line.trim_start_matches('#').trim_start());
                        out.push('\n');
                    }
                    out.push('\n');
                }
            }
            Err(Error::Cancelled) => return Err(Error::Cancelled),
            Err(e) => out.push_str(&format!("(This attachment could not be read: {e}.)\n\n")),
        }
    }
    Ok(out)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "Name <address>, …" of an address header.
fn people(a: &Address) -> String {
    a.iter()
        .map(|p| match (p.name(), p.address()) {
            (Some(n), Some(addr)) => format!("{n} <{addr}>"),
            (Some(n), None) => n.to_string(),
            (None, Some(addr)) => addr.to_string(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_is_known_by_its_headers_not_by_a_from_word() {
        assert!(looks_like_mail(
            b"From a@b Thu Jan  1 00:00:00 2024\nSubject: x\n\nhi"
        ));
        assert!(looks_like_mail(
            b"Received: by x\r\nFrom: Ann <a@b.c>\r\nTo: b@c.d\r\nDate: Mon, 4 Mar 2024 10:00:00 +0000\r\n\r\nbody"
        ));
        assert!(!looks_like_mail(
            b"From: the field notes\nwe walked north.\n"
        ));
        assert!(!looks_like_mail(
            b"# Notes\n\nFrom: me\nTo: you\nDate: now\n"
        ));
    }

    #[test]
    fn a_message_gives_subject_sender_date_body_and_readable_attachments() {
        let raw = concat!(
            "From: Ines Alvarado <ines@varnen.example>\r\n",
            "To: Tomas Berg <tomas@varnen.example>\r\n",
            "Subject: =?UTF-8?Q?Ice_core_=E2=80=94_results?=\r\n",
            "Date: Mon, 4 Mar 2024 09:30:00 +0100\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n",
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
            "The core from the north buoy was 64 cm.\r\n",
            "--b1\r\nContent-Type: text/csv; name=\"fuel.csv\"\r\n",
            "Content-Disposition: attachment; filename=\"fuel.csv\"\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\n",
            "TW9udGgsTGl0cmVzCk1hcmNoLDEyMDQK\r\n",
            "--b1\r\nContent-Type: image/jpeg; name=\"buoy.jpg\"\r\n",
            "Content-Disposition: attachment; filename=\"buoy.jpg\"\r\n\r\n",
            "xxxx\r\n--b1--\r\n"
        );
        let pages = mail_pages(raw.as_bytes(), &ExtractOptions::default()).unwrap();
        assert_eq!(pages.len(), 1);
        let text = &pages[0].text;
        assert!(
            text.starts_with("# Ice core — results (Ines Alvarado, 2024-03-04)\n"),
            "{text}"
        );
        assert!(
            text.contains("To: Tomas Berg <tomas@varnen.example>"),
            "{text}"
        );
        assert!(text.contains("north buoy was 64 cm"), "{text}");
        assert!(text.contains("## Attachment: fuel.csv"), "{text}");
        assert!(text.contains("Month: March · Litres: 1204"), "{text}");
        assert!(!text.contains("buoy.jpg"), "{text}");
    }
}
