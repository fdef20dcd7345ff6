// Unit tests of the UI's pure logic: `node --test ui/tests`.
import test from "node:test";
import assert from "node:assert/strict";
import {
  docSize,
  unreadSummary,
  pageLabel,
  queryTerms,
  highlightSegments,
  snippet,
  citationSegments,
  formatBytes,
  formatDuration,
  baseName,
  dirName,
  normalizeError,
  newIngest,
  reduceIngest,
  describeIngest,
  groupByFolder,
  historyForAsk,
  findPassage,
  speedLine,
  describeFolderState,
  describeRebuild,
  describeTypes,
  describeDownload,
  mcpConfig,
} from "../js/logic.js";

test("query terms drop stop words, short words and repeats", () => {
  assert.deepEqual(queryTerms("How thick was the ICE in February, ice?"), ["thick", "ice", "february"]);
  assert.deepEqual(queryTerms(""), []);
});

test("highlighting marks words starting with a term, case-insensitively, and keeps the text", () => {
  const text = "Glaciers retreat; the glacier's ice. Nice icebergs.";
  const segs = highlightSegments(text, ["glacier", "ice"]);
  assert.equal(segs.map((s) => s.text).join(""), text);
  assert.deepEqual(
    segs.filter((s) => s.match).map((s) => s.text),
    ["Glaciers", "glacier", "ice", "icebergs"],
  );
  // "Nice" contains "ice" but does not start with it
  assert.ok(!segs.some((s) => s.match && s.text === "Nice"));
  // terms are literal text, not regular expressions
  assert.deepEqual(
    highlightSegments("a (b) c.d", ["(b", "."]).filter((s) => s.match).map((s) => s.text),
    ["(b"], // "." matches only a literal dot (here after a letter, so not at a word start)
  );
});

test("snippets centre on the first match and stay short", () => {
  const long = "filler ".repeat(100) + "the heron nests on the island " + "tail ".repeat(100);
  const s = snippet(long, ["heron"], 120);
  assert.ok(s.includes("heron"), s);
  assert.ok(s.length <= 130, `${s.length}`);
  assert.ok(s.startsWith("… ") && s.endsWith(" …"));
  assert.equal(snippet("short text", ["x"]), "short text");
});

test("citations are split out of answers, only when they point at a source", () => {
  assert.deepEqual(citationSegments("Ice was 40 cm [1] and snow [2, 3].", new Set([1, 2, 3])), [
    { text: "Ice was 40 cm " },
    { cite: 1 },
    { text: " and snow " },
    { cite: 2 },
    { cite: 3 },
    { text: "." },
  ]);
  assert.deepEqual(citationSegments("see [7]", new Set([1])), [{ text: "see [7]" }]);
  assert.deepEqual(citationSegments("", new Set()), []);
});

test("numbers are formatted for people", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KB");
  assert.equal(formatBytes(491_000_000), "491 MB");
  assert.equal(formatDuration(2.34), "2.3 s");
  assert.equal(formatDuration(125), "2 min 5 s");
  assert.equal(baseName("/a/b/notes.md"), "notes.md");
  assert.equal(dirName("/a/b/notes.md"), "/a/b");
});

test("errors from invoke always become {code, message}", () => {
  assert.deepEqual(normalizeError({ code: "bad_path", message: "x" }), { code: "bad_path", message: "x" });
  assert.deepEqual(normalizeError("boom"), { code: "internal", message: "boom" });
  assert.equal(normalizeError(new Error("e")).message, "e");
});

test("ingest events drive counts, rate and the final report", () => {
  let s = newIngest(0);
  s = reduceIngest(s, { phase: "scanned", found: 10, to_index: 4, bytes: 1000 }, 100);
  assert.equal(describeIngest(s).fraction, 0);
  s = reduceIngest(s, { phase: "progress", files_done: 2, files_total: 4, chunks_done: 20, bytes_done: 500, current: "/d/a.pdf" }, 2000);
  s = reduceIngest(s, { phase: "failed", path: "/d/bad.pdf", error: "encrypted", code: "encrypted_pdf" }, 2100);
  const mid = describeIngest(s);
  assert.equal(mid.fraction, 0.5);
  assert.match(mid.line, /2 \/ 4 files · 20 chunks · 1\.0 files\/s/);
  assert.equal(s.current, "/d/a.pdf");
  assert.equal(s.failed[0].code, "encrypted_pdf");
  s = reduceIngest(s, { phase: "finished", indexed: 3, skipped: 6, removed: 0, failed: [{}], chunks: 31, cancelled: false }, 4000);
  const end = describeIngest(s);
  assert.equal(end.fraction, 0.5);
  assert.match(end.line, /^Done: 3 indexed, 6 unchanged, 1 failed · 31 chunks in 4\.0 s$/);
});

test("library entries group by folder", () => {
  const g = groupByFolder([{ path: "/b/x.md" }, { path: "/a/y.md" }, { path: "/b/z.md" }]);
  assert.deepEqual(g.map((x) => [x.folder, x.entries.length]), [["/a", 1], ["/b", 2]]);
});

test("follow-up history keeps answered pairs only", () => {
  const msgs = [
    { role: "user", question: "q1" },
    { role: "assistant", text: "a1", done: true },
    { role: "user", question: "q2" },
    { role: "assistant", text: "partial", done: true, cancelled: true },
    { role: "user", question: "q3" },
    { role: "assistant", text: "a3", done: true },
  ];
  assert.deepEqual(historyForAsk(msgs), [
    { role: "user", content: "q1" },
    { role: "assistant", content: "a1" },
    { role: "user", content: "q3" },
    { role: "assistant", content: "a3" },
  ]);
  assert.equal(historyForAsk(msgs, 2).length, 2);
});

test("a cited passage is found in its page even when whitespace differs", () => {
  const page = "Intro.\n\nThe ice  was\n40 cm thick. End.";
  assert.deepEqual(findPassage(page, "The ice was 40 cm thick."), [8, 33]);
  assert.equal(findPassage(page, "not there"), null);
  // evidence: sentences with a gap between them, joined by " … "
  const text = "One. Two is here. Three. Four is there. Five.";
  assert.deepEqual(findPassage(text, "Two is here. … Four is there."), [5, 39]);
  assert.deepEqual(findPassage(text, "Two is here. … Missing."), [5, 17]);
});

test("a model's measured speed reads as one line, and nothing when not measured", () => {
  const m = { speed: { prefill_tok_s: 86.6, decode_tok_s: 28.84 }, first_token_s: 4.65 };
  assert.equal(speedLine(m), "first token ~4.7 s · prefill 87 tok/s · decode 28.8 tok/s");
  assert.equal(speedLine({ speed: { prefill_tok_s: 10, decode_tok_s: 2 } }), "prefill 10 tok/s · decode 2.0 tok/s");
  assert.equal(speedLine({ speed: null }), "");
  assert.equal(speedLine({}), "");
  assert.equal(speedLine({ speed: { prefill_tok_s: "x", decode_tok_s: 1 } }), "");
});

test("watched folder states read as a label and an explanation", () => {
  assert.deepEqual(describeFolderState({ path: "/n", state: "watching", polling: false }), { label: "watching", detail: "" });
  assert.match(describeFolderState({ path: "/n", state: "watching", polling: true }).detail, /scan/);
  assert.equal(describeFolderState({ path: "/n", state: "catching_up" }).label, "catching up");
  assert.match(describeFolderState({ path: "/n", state: "missing" }).detail, /kept/);
  assert.equal(describeFolderState({ path: "/n", state: "error", message: "cannot watch this folder: limit" }).detail, "cannot watch this folder: limit");
  assert.equal(describeFolderState({ path: "/n", state: "paused" }).label, "paused");
});

test("the end of a rebuild says what happened, and what was left out", () => {
  const done = { switched: true, unchanged: false, cancelled: false, embedder: "minilm-cls", documents: 12, left_out: [] };
  assert.equal(describeRebuild(done), "Rebuilt: 12 documents, now searched with minilm-cls.");
  assert.match(describeRebuild({ ...done, left_out: ["/n/a.md"] }), /1 document was left out .*: a\.md\.$/);
  assert.match(describeRebuild({ ...done, left_out: ["/a", "/b", "/c", "/d"] }), /4 documents were left out .*: a, b, c, …\.$/);
  assert.match(describeRebuild({ ...done, switched: false, cancelled: true }), /^Stopped: .*as it was built/);
  assert.match(describeRebuild({ ...done, switched: false, unchanged: true }), /nothing to rebuild/);
});

test("files of types Hearth does not read are counted in the ingest summary", () => {
  assert.equal(describeTypes({ jpg: 10, docx: 2, "": 1 }), ".jpg 10, .docx 2, no extension 1");
  assert.equal(describeTypes({ a: 1, b: 1, c: 1, d: 1, e: 1 }), ".a 1, .b 1, .c 1, .d 1, …");
  let s = newIngest(0);
  const report = { indexed: 3, skipped: 0, removed: 0, failed: [], chunks: 9, cancelled: false, unsupported: { count: 12, by_type: { jpg: 10, docx: 2 }, paths: [] } };
  s = reduceIngest(s, { phase: "finished", ...report }, 1000);
  assert.match(describeIngest(s).line, /3 indexed, 0 unchanged, 0 failed, 12 not of a type Hearth reads \(\.jpg 10, \.docx 2\)/);
});

test("slides are called slides in citations, other pages pages", () => {
  assert.equal(pageLabel(3, 9, "/d/talk.PPTX"), "slide 3 of 9");
  assert.equal(pageLabel(2, null, "/d/deck.odp"), "slide 2");
  assert.equal(pageLabel(2, null, "/d/manual.pdf"), "page 2");
  assert.equal(pageLabel(12, 40, "/mail/lists.mbox"), "message 12 of 40");
  assert.equal(pageLabel(null, 4, "/d/x.pdf"), "");
});

test("documents are sized in their own units, unread files summarised", () => {
  assert.equal(docSize("slides", 4), "4 slides");
  assert.equal(docSize("mail", 1), "1 message");
  assert.equal(docSize("pdf", 12), "12 pages");
  assert.equal(docSize("spreadsheet", null), "spreadsheet");
  assert.equal(unreadSummary({ count: 3, paths: ["a", "b", "c"] }), "Show the 3 files of types Hearth does not read");
  assert.equal(unreadSummary({ count: 1500, paths: new Array(1000).fill("x") }), "Show the first 1000 of 1500 files of types Hearth does not read");
});

test("model downloads show bytes, speed and time left", () => {
  const d = describeDownload({ phase: "downloading", done: 100e6, total: 500e6, bytes_per_s: 10e6 });
  assert.equal(d.fraction, 0.2);
  assert.equal(d.line, "100 MB of 500 MB · 10 MB/s · about 40 s left");
  const done = describeDownload({ phase: "downloading", done: 500e6, total: 500e6, bytes_per_s: 10e6 });
  assert.equal(done.line, "500 MB of 500 MB · 10 MB/s");
  // resumed bytes only, no speed yet
  assert.equal(describeDownload({ phase: "downloading", done: 5e6, total: 50e6, bytes_per_s: 0 }).line, "5.0 MB of 50 MB");
  assert.equal(describeDownload({ phase: "installed", file: "model.gguf" }), null);
});

test("MCP clients get the stdio command and, with the API on, the HTTP endpoint and read-only token", () => {
  const off = JSON.parse(mcpConfig("/home/me/lib", { running: false }));
  assert.deepEqual(off, { mcpServers: { hearth: { command: "hearth", args: ["--data-dir", "/home/me/lib", "mcp"] } } });
  const on = JSON.parse(mcpConfig("/d", { running: true, address: "http://127.0.0.1:8741", token: "full", read_token: "ro" }));
  assert.equal(on.mcpServers["hearth-http"].url, "http://127.0.0.1:8741/mcp");
  assert.equal(on.mcpServers["hearth-http"].headers.Authorization, "Bearer ro");
});
