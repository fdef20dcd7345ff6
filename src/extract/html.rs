//! HTML → Markdown-like text, through a real HTML5 parser (html5ever, by way of `dom_query`).
//!
//! What a reader needs is kept: headings become `#` lines (so chunks get heading paths), lists
//! become `- ` / `1. ` lines, table rows become `cell | cell` lines, `<pre>` blocks stay verbatim
//! inside code fences, definition lists keep term and definition. What only a browser needs is
//! dropped: `<head>` (but the `<title>` heads the text when the page has no `<h1>`), scripts,
//! styles, forms' controls, and navigation (`<nav>`, `role="navigation"`, and the nav bars,
//! breadcrumbs and tables of contents of generated manuals such as DocBook's). Entities are
//! decoded by the parser: all of HTML5's named entities, numeric ones, and malformed ones the
//! way browsers do.
//!
//! The walk is iterative, so a page nested thousands of levels deep cannot overflow the stack;
//! and since the parser's work grows with the square of the nesting depth (20,000 nested
//! `<div>`s took 7 s), pages nested deeper than [`MAX_DEPTH`] are refused before parsing.

use dom_query::{Document, NodeRef};

use crate::error::{Error, Result};

/// Deepest element nesting read (browsers' parsers cap the tree at a few hundred levels; real
/// documentation nests a few dozen).
pub const MAX_DEPTH: usize = 1024;

/// Elements that never have an end tag, or whose end tag is optional (so a naive count of
/// open tags must not add them up).
const NOT_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "param", "keygen", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup",
    "thead", "tbody", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "html", "head", "body",
    "!doctype",
];

/// An upper estimate of how deep `html` nests: start tags minus end tags, leaving out void
/// elements, elements with optional end tags, self-closing tags, comments and the insides of
/// scripts and styles.
fn nesting_depth(html: &str) -> usize {
    let b = html.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut i = 0;
    while let Some(off) = b[i..].iter().position(|&c| c == b'<') {
        i += off + 1;
        if b[i..].starts_with(b"!--") {
            i = find(b, i, b"-->").unwrap_or(b.len());
            continue;
        }
        let closing = b.get(i) == Some(&b'/');
        let start = i + closing as usize;
        let end = start
            + b[start..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'!')
                .count();
        let name = html[start..end].to_ascii_lowercase();
        let Some(close) = b[end..].iter().position(|&c| c == b'>') else {
            break;
        };
        let self_closing = close > 0 && b[end + close - 1] == b'/';
        i = end + close + 1;
        if name.is_empty() || NOT_NESTING.contains(&name.as_str()) || self_closing {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else {
            depth += 1;
            max = max.max(depth);
            if name == "script" || name == "style" {
                let tag = format!("</{name}");
                i = find_ascii_case(b, i, tag.as_bytes()).unwrap_or(b.len());
            }
        }
    }
    max
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p + needle.len())
}

fn find_ascii_case(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay[from..]
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
        .map(|p| from + p)
}

/// Elements whose content is never text for a reader.
const SKIPPED: &[&str] = &[
    "head", "script", "style", "noscript", "template", "nav", "footer", "svg", "math", "iframe",
    "object", "embed", "canvas", "video", "audio", "select", "button", "input", "textarea", "map",
    "dialog",
];

/// Class or id words of navigation chrome in generated documentation (DocBook's `navheader` /
/// `navfooter` / `toc`, Sphinx's `sphinxsidebar`, `related` and `breadcrumbs`, common sites'
/// `sidebar`, `menu` …), matched as whole words of the attribute.
const CHROME: &[&str] = &[
    "navheader",
    "navfooter",
    "navbar",
    "navigation",
    "breadcrumb",
    "breadcrumbs",
    "sidebar",
    "sphinxsidebar",
    "related",
    "toc",
    "skip-link",
    "menu",
    "nav-panel",
    "section-toc",
];

/// Class words of blocks that hold navigation in some generators (Texinfo's `header`: "Next:
/// … Up: …") but a page's title in others: dropped only when they hold no heading.
const CHROME_WITHOUT_HEADING: &[&str] = &["header"];

/// Elements that separate paragraphs.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "main",
    "header",
    "aside",
    "blockquote",
    "figure",
    "figcaption",
    "address",
    "dl",
    "center",
    "form",
    "fieldset",
    "details",
    "summary",
    "body",
    "caption",
    "hr",
];

/// Convert an HTML document to Markdown-like text (see the module docs). Refuses a page nested
/// deeper than [`MAX_DEPTH`].
pub fn html_to_text(html: &str) -> Result<String> {
    let depth = nesting_depth(html);
    if depth > MAX_DEPTH {
        return Err(Error::unsupported(format!(
            "HTML nested about {depth} elements deep (the limit is {MAX_DEPTH}); not read"
        )));
    }
    let doc = Document::from(html);
    let mut w = Writer::default();
    let root = doc.root();
    // The title heads the text when the page has no <h1> of its own (so every section's
    // heading path names the page: "VACUUM > Parameters"); a first heading that repeats it is
    // not said twice.
    let title = collapse(&doc.select("title").text());
    if !title.is_empty() && doc.select("body h1").length() == 0 {
        w.out.push_str("# ");
        w.out.push_str(&title);
        w.out.push_str("\n\n");
        w.repeats_title = Some(title);
    }
    walk(root, &mut w);
    Ok(w.finish())
}

enum Step<'a> {
    Enter(NodeRef<'a>),
    Leave(NodeRef<'a>),
}

fn walk(root: NodeRef<'_>, w: &mut Writer) {
    let mut stack = vec![Step::Enter(root)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Enter(node) => {
                if node.is_text() {
                    w.text(&node.text());
                    continue;
                }
                if !(node.is_element() || node.is_document() || node.is_fragment()) {
                    continue; // comments, doctype, processing instructions
                }
                let name = node
                    .node_name()
                    .map(|n| n.to_ascii_lowercase())
                    .unwrap_or_default();
                if is_skipped(&node, &name) {
                    continue;
                }
                if name == "pre" {
                    w.pre(&node.text());
                    continue;
                }
                w.enter(&name);
                stack.push(Step::Leave(node));
                let children: Vec<NodeRef<'_>> = node.children_it(true).collect();
                stack.extend(children.into_iter().map(Step::Enter));
            }
            Step::Leave(node) => {
                let name = node
                    .node_name()
                    .map(|n| n.to_ascii_lowercase())
                    .unwrap_or_default();
                w.leave(&name);
            }
        }
    }
}

fn is_skipped(node: &NodeRef<'_>, name: &str) -> bool {
    if SKIPPED.contains(&name) {
        return true;
    }
    if !node.is_element() {
        return false;
    }
    if node
        .attr("role")
        .is_some_and(|r| r.eq_ignore_ascii_case("navigation"))
        || node.has_attr("hidden")
        || node
            .attr("aria-hidden")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return true;
    }
    let words = |attr: &str, list: &[&str]| {
        node.attr(attr).is_some_and(|v| {
            v.split(|c: char| c.is_ascii_whitespace())
                .any(|word| list.iter().any(|c| word.eq_ignore_ascii_case(c)))
        })
    };
    if words("class", CHROME) || words("id", CHROME) {
        return true;
    }
    words("class", CHROME_WITHOUT_HEADING)
        && !node.descendants_it().any(|d| {
            d.node_name().is_some_and(|n| {
                matches!(
                    &*n.to_ascii_lowercase(),
                    "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
                )
            })
        })
}

/// Collapse runs of whitespace to one space and trim.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Writer {
    /// Finished text.
    out: String,
    /// Inline text of the line being built (whitespace collapsed when it is written).
    line: String,
    /// Marker put before the current line (list bullet, indent), used once.
    marker: String,
    /// Open lists: ordered?, items so far.
    lists: Vec<(bool, usize)>,
    /// Open table rows: cells so far.
    rows: Vec<usize>,
    /// Open headings: level.
    heading: Option<usize>,
    /// The title written as the page's top heading, until the first heading (dropped if it is
    /// the same text).
    repeats_title: Option<String>,
}

impl Writer {
    fn text(&mut self, text: &str) {
        self.line.push_str(text);
    }

    /// Write the line being built (if it has any text) and start a new one.
    fn end_line(&mut self) {
        let text = collapse(&self.line);
        self.line.clear();
        let marker = std::mem::take(&mut self.marker);
        if text.is_empty() {
            return;
        }
        if let Some(level) = self.heading {
            if self.repeats_title.take().is_some_and(|t| t == text) {
                return;
            }
            self.end_paragraph();
            self.out.push_str(&"#".repeat(level));
            self.out.push(' ');
            self.out.push_str(&text);
            self.out.push_str("\n\n");
            return;
        }
        self.out.push_str(&marker);
        if marker.is_empty() {
            self.out.push_str(&super::not_heading(&text));
        } else {
            self.out.push_str(&text);
        }
        self.out.push('\n');
    }

    /// End the line, then leave a blank line before whatever comes next.
    fn end_paragraph(&mut self) {
        if self.heading.is_none() {
            self.end_line();
        }
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            if !self.out.ends_with('\n') {
                self.out.push('\n');
            }
            self.out.push('\n');
        }
    }

    fn indent(&self) -> String {
        "  ".repeat(self.lists.len().saturating_sub(1))
    }

    fn enter(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.end_paragraph();
                self.heading = Some((name.as_bytes()[1] - b'0') as usize);
            }
            "ul" | "ol" | "menu" => {
                if self.lists.is_empty() {
                    self.end_paragraph();
                } else {
                    self.end_line();
                }
                self.lists.push((name == "ol", 0));
            }
            "li" => {
                self.end_line();
                let indent = self.indent();
                self.marker = match self.lists.last_mut() {
                    Some((true, n)) => {
                        *n += 1;
                        format!("{indent}{n}. ")
                    }
                    _ => format!("{indent}- "),
                };
            }
            "dt" | "br" => self.end_line(),
            "dd" => {
                self.end_line();
                self.marker = "  ".into();
            }
            "table" => self.end_paragraph(),
            "tr" => {
                self.end_line();
                self.rows.push(0);
            }
            "td" | "th" => {
                if let Some(cells) = self.rows.last_mut() {
                    if *cells > 0 && !self.line.trim().is_empty() {
                        self.line.push_str(" | ");
                    }
                    *cells += 1;
                }
            }
            _ if BLOCKS.contains(&name) => self.end_paragraph(),
            _ => {}
        }
    }

    fn leave(&mut self, name: &str) {
        match name {
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.end_line();
                self.heading = None;
            }
            "ul" | "ol" | "menu" => {
                self.end_line();
                self.lists.pop();
                if self.lists.is_empty() {
                    self.end_paragraph();
                }
            }
            "li" | "dt" | "dd" => self.end_line(),
            "tr" => {
                self.end_line();
                self.rows.pop();
            }
            "table" => self.end_paragraph(),
            _ if BLOCKS.contains(&name) => self.end_paragraph(),
            _ => {}
        }
    }

    /// A preformatted block, verbatim inside a code fence.
    fn pre(&mut self, text: &str) {
        self.end_paragraph();
        let body = text.trim_matches('\n').trim_end();
        if body.trim().is_empty() {
            return;
        }
        // A fence longer than any run of backticks inside the block.
        let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
        let fence = "`".repeat(longest.max(2) + 1);
        self.out.push_str(&fence);
        self.out.push('\n');
        for line in body.lines() {
            self.out.push_str(line.trim_end());
            self.out.push('\n');
        }
        self.out.push_str(&fence);
        self.out.push_str("\n\n");
    }

    fn finish(mut self) -> String {
        self.heading = None;
        self.end_paragraph();
        self.out.trim_end().to_string() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_scripts_and_keeps_headings_lists_and_entities() {
        let html = "<!DOCTYPE html><html><head><title>T</title><style>p{}</style></head><body>\
            <script>var secret = 1;</script><h1>Cacio e pepe</h1><p>Pecorino &amp; pepper, pur&eacute;e</p>\
            <h2>Steps</h2><ul><li>Toast</li><li>Mix</li></ul></body></html>";
        let text = html_to_text(html).unwrap();
        assert!(!text.contains("secret"));
        assert!(!text.contains("p{}"));
        assert!(!text.starts_with("# T\n"), "{text}");
        assert!(text.contains("# Cacio e pepe\n"), "{text}");
        assert!(text.contains("\n## Steps\n"), "{text}");
        assert!(text.contains("Pecorino & pepper, purée"), "{text}");
        assert!(text.contains("- Toast\n- Mix\n"), "{text}");
    }

    #[test]
    fn every_named_entity_and_multibyte_text_next_to_ampersands() {
        // The old hand-written decoder sliced 12 bytes into '‘' here and panicked.
        let html = "<p>&‘quoted’ text&hellip; &lsaquo;x&rsaquo; &Omega;&thetasym; &frac34; \
                    &zzzz; AT&T &#x1F600; &#8212;</p>";
        let text = html_to_text(html).unwrap();
        assert_eq!(
            text, "&‘quoted’ text… ‹x› Ωϑ ¾ &zzzz; AT&T 😀 —\n",
            "{text}"
        );
    }

    #[test]
    fn tables_code_and_definitions_keep_their_shape() {
        let html = "<h2>Options</h2><table><tr><td><img src=tip.png></td><td>Tip</td></tr>\
            <tr><th>Name</th><th>Default</th></tr>\
            <tr><td>work_mem</td><td>4MB</td></tr></table>\
            <pre>SELECT  *\n  FROM t;\n\n-- done</pre>\
            <dl><dt>-v</dt><dd>verbose output</dd></dl><ol><li>one<ul><li>inner</li></ul></li><li>two</li></ol>";
        let text = html_to_text(html).unwrap();
        assert!(
            text.contains("\nTip\nName | Default\nwork_mem | 4MB\n"),
            "{text}"
        );
        assert!(
            text.contains("```\nSELECT  *\n  FROM t;\n\n-- done\n```\n"),
            "{text}"
        );
        assert!(text.contains("-v\n  verbose output\n"), "{text}");
        assert!(text.contains("1. one\n  - inner\n2. two\n"), "{text}");
    }

    #[test]
    fn navigation_chrome_is_dropped_and_title_heads_pages_without_h1() {
        let html = "<html><head><title>Chapter  5.\nNetwork setup</title></head><body>\
            <div class=\"navheader\"><table><tr><td>Prev</td><td>Next</td></tr></table></div>\
            <nav><a href=\"/\">Home</a></nav><div class=\"toc\"><ul><li>5.1 Basics</li></ul></div>\
            <div role=\"navigation\">Skip</div><h2>The basics</h2><p>Real text.</p>\
            <div class=\"navfooter\">Up</div><footer>© site</footer>\
            <div class=\"header\"><p>Next: Broadcasting, Up: Vectorization</p></div></body></html>";
        let text = html_to_text(html).unwrap();
        assert_eq!(
            text, "# Chapter 5. Network setup\n\n## The basics\n\nReal text.\n",
            "{text}"
        );
        // a title the page's first heading repeats is not said twice
        let text = html_to_text(
            "<title>VACUUM</title><div class=header><h2>VACUUM</h2></div><p>Body.</p>",
        )
        .unwrap();
        assert_eq!(text, "# VACUUM\n\nBody.\n", "{text}");
    }

    #[test]
    fn deep_nesting_is_read_to_the_limit_and_refused_past_it() {
        let deep = |n: usize| "<div>".repeat(n) + "deep text" + &"</div>".repeat(10);
        assert!(html_to_text(&deep(MAX_DEPTH - 10))
            .unwrap()
            .contains("deep text"));
        let err = html_to_text(&deep(200_000)).unwrap_err();
        assert!(err.to_string().contains("nested"), "{err}");
        // optional end tags, void elements and scripts do not count as nesting
        let flat = "<p>x".repeat(5_000)
            + &"<br><img src=a><li>y".repeat(5_000)
            + "<script>"
            + &"<div>".repeat(5_000)
            + "</script><div/>";
        assert!(nesting_depth(&flat) < 10, "{}", nesting_depth(&flat));
        assert!(html_to_text(&flat).is_ok());
    }

    #[test]
    fn broken_markup_is_read_as_browsers_read_it() {
        let broken = "<p>unclosed <b>bold <i>both</p> after</b> &amp <table><td>cell<tr>x";
        let text = html_to_text(broken).unwrap();
        assert!(text.contains("unclosed bold both"), "{text}");
        assert!(text.contains("cell"), "{text}");
    }
}
