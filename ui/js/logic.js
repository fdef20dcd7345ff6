// Pure logic of the UI (no DOM, no Tauri): tested with `node --test ui/tests`.

const STOPWORDS = new Set(
  "a an and are as at be but by did do does for from had has have how i in is it its of on or that the their there this to was were what when where which who why will with you your".split(" "),
);

/** Words of a query worth highlighting: lower-cased, 2+ letters, no stop words. */
export function queryTerms(query) {
  const words = (query || "").toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  return [...new Set(words.filter((w) => w.length >= 2 && !STOPWORDS.has(w)))];
}

function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Split `text` into segments, marking words that start with one of `terms`
 * (so "glacier" marks "glaciers"). Returns [{text, match}], concatenating to `text`.
 */
export function highlightSegments(text, terms) {
  if (!text) return [];
  if (!terms || terms.length === 0) return [{ text, match: false }];
  const alternatives = [...terms].sort((a, b) => b.length - a.length).map(escapeRegex).join("|");
  const re = new RegExp(`(?<![\\p{L}\\p{N}])(?:${alternatives})[\\p{L}\\p{N}]*`, "giu");
  const out = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m.index > last) out.push({ text: text.slice(last, m.index), match: false });
    out.push({ text: m[0], match: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), match: false });
  return out;
}

/** A window of about `max` characters of `text` around the first matching term, cut at spaces. */
export function snippet(text, terms, max = 240) {
  const flat = (text || "").replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const lower = flat.toLowerCase();
  let at = -1;
  for (const t of terms || []) {
    const i = lower.indexOf(t);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  let start = Math.max(0, (at < 0 ? 0 : at) - Math.floor(max / 3));
  if (start > 0) {
    const space = flat.indexOf(" ", start);
    if (space >= 0 && space < start + 20) start = space + 1;
  }
  let end = Math.min(flat.length, start + max);
  if (end < flat.length) {
    const space = flat.lastIndexOf(" ", end);
    if (space > start) end = space;
  }
  return (start > 0 ? "… " : "") + flat.slice(start, end) + (end < flat.length ? " …" : "");
}

/**
 * Split an answer into text and citation markers: "A [1] and [2, 3]." →
 * [{text:"A "}, {cite:1}, {text:" and "}, {cite:2}, {cite:3}, {text:"."}].
 * Only numbers in `valid` (when given) become citations; others stay text.
 */
export function citationSegments(answer, valid) {
  const out = [];
  const re = /\[(\d+(?:\s*,\s*\d+)*)\]/g;
  let last = 0;
  for (const m of (answer || "").matchAll(re)) {
    const nums = m[1].split(",").map((s) => parseInt(s.trim(), 10));
    if (valid && !nums.every((n) => valid.has(n))) continue;
    if (m.index > last) out.push({ text: answer.slice(last, m.index) });
    for (const n of nums) out.push({ cite: n });
    last = m.index + m[0].length;
  }
  if (last < (answer || "").length) out.push({ text: answer.slice(last) });
  return out;
}

/** 1536 → "1.5 KB". */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i += 1;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

/**
 * A language model's measured speed on this machine, for the models view:
 * "first token ~4.6 s · prefill 87 tok/s · decode 28.8 tok/s", or "" when not measured.
 */
export function speedLine(entry) {
  const s = entry && entry.speed;
  if (!s || !Number.isFinite(s.prefill_tok_s) || !Number.isFinite(s.decode_tok_s)) return "";
  const first = Number.isFinite(entry.first_token_s) ? `first token ~${entry.first_token_s.toFixed(1)} s · ` : "";
  return `${first}prefill ${Math.round(s.prefill_tok_s)} tok/s · decode ${s.decode_tok_s.toFixed(1)} tok/s`;
}

/**
 * A model download's progress event (`{phase, done, total, bytes_per_s}` from `fetch_model`) as
 * `{fraction, line}`: "12 MB of 491 MB · 8.1 MB/s · about 59 s left"; null for other phases.
 */
export function describeDownload(ev) {
  if (!ev || ev.phase !== "downloading") return null;
  const total = Math.max(ev.total || 0, ev.done || 0);
  const fraction = total > 0 ? ev.done / total : 0;
  const parts = [`${formatBytes(ev.done)} of ${formatBytes(total)}`];
  if (ev.bytes_per_s > 0) {
    parts.push(`${formatBytes(ev.bytes_per_s)}/s`);
    if (ev.done < total) parts.push(`about ${formatDuration((total - ev.done) / ev.bytes_per_s)} left`);
  }
  return { fraction, line: parts.join(" · ") };
}

/**
 * What an MCP client needs to reach this library, as the JSON to paste into its configuration:
 * the stdio server (`hearth mcp`, with the data folder) and, when the HTTP API runs, its `/mcp`
 * endpoint with the read-only token (every MCP tool only reads).
 */
export function mcpConfig(dataDir, api) {
  const hearth = { command: "hearth", args: ["--data-dir", dataDir, "mcp"] };
  const servers = { hearth };
  if (api && api.running && api.address) {
    servers["hearth-http"] = {
      url: `${api.address}/mcp`,
      headers: { Authorization: `Bearer ${api.read_token || api.token}` },
    };
  }
  return JSON.stringify({ mcpServers: servers }, null, 2);
}

/** Seconds → "42 s", "3 min 5 s". */
export function formatDuration(s) {
  if (!Number.isFinite(s) || s < 0) return "–";
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** The last path component (handles / and \). */
export function baseName(path) {
  const parts = (path || "").split(/[\\/]/).filter(Boolean);
  return parts.length ? parts[parts.length - 1] : path || "";
}

/** Everything before the last path component. */
export function dirName(path) {
  const i = Math.max((path || "").lastIndexOf("/"), (path || "").lastIndexOf("\\"));
  return i > 0 ? path.slice(0, i) : "/";
}

/** "page 3" / "slide 3 of 9" (slide decks) / "message 2" (mailboxes), by extension / "" */
export function pageLabel(page, pages, path) {
  if (!page) return "";
  const unit = /\.(pptx|odp)$/i.test(path || "")
    ? "slide"
    : /\.(mbox|mbx)$/i.test(path || "")
      ? "message"
      : "page";
  return pages ? `${unit} ${page} of ${pages}` : `${unit} ${page}`;
}

/** Any thrown value from invoke → {code, message}. */
export function normalizeError(e) {
  if (e && typeof e === "object" && typeof e.code === "string" && typeof e.message === "string") {
    return { code: e.code, message: e.message };
  }
  if (typeof e === "string") return { code: "internal", message: e };
  return { code: "internal", message: (e && e.message) || String(e) };
}

/** A fresh ingest progress state. */
export function newIngest(now) {
  return {
    startedAt: now,
    found: 0,
    toIndex: 0,
    bytes: 0,
    filesDone: 0,
    filesTotal: 0,
    chunksDone: 0,
    bytesDone: 0,
    current: "",
    failed: [],
    indexing: false,
    finished: false,
    report: null,
  };
}

/** Apply one engine ingest event (tagged by `phase`) at time `now` (ms). */
export function reduceIngest(state, ev, now) {
  const s = { ...state };
  switch (ev.phase) {
    case "scanned":
      s.found = ev.found;
      s.toIndex = ev.to_index;
      s.filesTotal = ev.to_index;
      s.bytes = ev.bytes;
      break;
    case "progress":
      s.filesDone = ev.files_done;
      s.filesTotal = ev.files_total;
      s.chunksDone = ev.chunks_done;
      s.bytesDone = ev.bytes_done;
      if (ev.current) s.current = ev.current;
      break;
    case "failed":
      s.failed = [...s.failed, { path: ev.path, error: ev.error, code: ev.code }];
      break;
    case "indexing":
      s.indexing = true;
      break;
    case "finished":
      s.finished = true;
      s.report = ev;
      break;
    default:
      break;
  }
  s.elapsed = Math.max(0, (now - s.startedAt) / 1000);
  return s;
}

/** Fraction done (0..1) and a one-line description of an ingest state. */
export function describeIngest(s) {
  const fraction = s.filesTotal > 0 ? Math.min(1, s.filesDone / s.filesTotal) : s.finished ? 1 : 0;
  const rate = s.elapsed > 0.5 ? s.filesDone / s.elapsed : 0;
  const chunkRate = s.elapsed > 0.5 ? s.chunksDone / s.elapsed : 0;
  let line;
  if (s.finished && s.report) {
    const r = s.report;
    const parts = [`${r.indexed} indexed`, `${r.skipped} unchanged`];
    if (r.removed) parts.push(`${r.removed} removed`);
    parts.push(`${r.failed.length} failed`);
    const u = r.unsupported && r.unsupported.count;
    if (u) parts.push(`${u} not of a type Hearth reads (${describeTypes(r.unsupported.by_type)})`);
    line = `${r.cancelled ? "Stopped" : "Done"}: ${parts.join(", ")} · ${r.chunks} chunks in ${formatDuration(s.elapsed)}`;
  } else if (s.filesTotal === 0 && !s.indexing) {
    line = s.found ? `Found ${s.found} files; checking for changes…` : "Looking for files…";
  } else if (s.indexing) {
    line = `Updating the search index… (${s.filesDone} files, ${s.chunksDone} chunks)`;
  } else {
    line =
      `${s.filesDone} / ${s.filesTotal} files · ${s.chunksDone} chunks` +
      (rate > 0 ? ` · ${rate.toFixed(1)} files/s, ${chunkRate.toFixed(0)} chunks/s` : "");
    if (rate > 0 && s.filesTotal > s.filesDone) {
      line += ` · about ${formatDuration((s.filesTotal - s.filesDone) / rate)} left`;
    }
  }
  return { fraction, line };
}

/** A document's size in its own units: "12 pages", "4 slides", "1 message", or its kind. */
export function docSize(kind, pages) {
  if (!pages) return kind || "";
  const unit = kind === "slides" ? "slide" : kind === "mail" ? "message" : "page";
  return `${pages} ${unit}${pages === 1 ? "" : "s"}`;
}

/** The heading of the list of files not read: "Show the 3 files not read" (or the first N). */
export function unreadSummary(u) {
  const listed = (u.paths || []).length;
  const files = `${u.count} file${u.count === 1 ? "" : "s"}`;
  return listed < u.count
    ? `Show the first ${listed} of ${files} of types Hearth does not read`
    : `Show the ${files} of types Hearth does not read`;
}

/** Library entries grouped by folder: [{folder, entries}], folders sorted. */
export function groupByFolder(entries) {
  const groups = new Map();
  for (const e of entries) {
    const d = dirName(e.path);
    if (!groups.has(d)) groups.set(d, []);
    groups.get(d).push(e);
  }
  return [...groups.keys()].sort().map((folder) => ({ folder, entries: groups.get(folder) }));
}

/** Conversation turns to send with a follow-up: answered turns only, newest `max` messages. */
export function historyForAsk(messages, max = 6) {
  const turns = [];
  for (const m of messages) {
    if (m.role === "user" && m.question) turns.push({ role: "user", content: m.question });
    if (m.role === "assistant" && m.done && !m.error && !m.cancelled) {
      turns.push({ role: "assistant", content: m.text });
    }
  }
  // keep pairs aligned: drop a user turn whose answer is missing
  const aligned = [];
  for (let i = 0; i < turns.length; i++) {
    if (turns[i].role === "user" && turns[i + 1] && turns[i + 1].role === "assistant") {
      aligned.push(turns[i], turns[i + 1]);
      i += 1;
    }
  }
  return aligned.slice(-max);
}

/** Locate a passage inside a page's text (whitespace-insensitive). A passage of several
 *  pieces joined by " … " (evidence sentences with gaps between them) spans from its first
 *  piece to its last. Returns [start, end) or null. */
export function findPassage(pageText, passage) {
  if (!pageText || !passage) return null;
  const direct = pageText.indexOf(passage);
  if (direct >= 0) return [direct, direct + passage.length];
  const pieces = passage.split(/\s*…\s*/).filter((p) => p.trim());
  let span = null;
  let from = 0;
  for (const piece of pieces) {
    const found = findPiece(pageText, piece, from);
    if (!found) break;
    span = span ? [span[0], found[1]] : found;
    from = found[1];
  }
  return span;
}

function findPiece(pageText, piece, from) {
  const words = piece.trim().split(/\s+/).map(escapeRegex);
  if (words.length === 0) return null;
  const re = new RegExp(words.join("\\s+"), "g");
  re.lastIndex = from;
  const m = re.exec(pageText);
  return m ? [m.index, m.index + m[0].length] : null;
}

/**
 * A watched folder's state as the library view shows it: a short label for its badge and, when
 * there is more to say, a detail line. `f` is `{path, state, polling?, message?}`.
 */
export function describeFolderState(f) {
  switch (f.state) {
    case "watching":
      return { label: "watching", detail: f.polling ? "checked by a scan every few seconds" : "" };
    case "catching_up":
      return { label: "catching up", detail: "indexing what changed while Hearth was closed" };
    case "paused":
      return { label: "paused", detail: "changes are caught up with when you resume" };
    case "missing":
      return { label: "missing", detail: "the folder is not there; its documents are kept until it is back" };
    case "error":
      return { label: "error", detail: f.message || "cannot watch this folder" };
    default:
      return { label: String(f.state || "unknown"), detail: "" };
  }
}

/** The line shown when a rebuild of the index (new embedding model or chunk sizes) ends. */
export function describeRebuild(r) {
  if (r.unchanged) return "The index already matches the settings; nothing to rebuild.";
  if (r.cancelled || !r.switched) {
    return "Stopped: searches keep using the index as it was built. Rebuild again to go on where it stopped.";
  }
  let line = `Rebuilt: ${r.documents} documents, now searched with ${r.embedder}.`;
  const n = r.left_out.length;
  if (n) line += ` ${n} document${n === 1 ? " was" : "s were"} left out (the file is gone or could not be read): ${r.left_out.slice(0, 3).map(baseName).join(", ")}${n > 3 ? ", …" : ""}.`;
  return line;
}

/** ".jpg 10, .docx 2": the most common file types of a by-type count, at most 4. */
export function describeTypes(byType) {
  const types = Object.entries(byType || {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = types.slice(0, 4).map(([t, n]) => `${t ? "." + t : "no extension"} ${n}`);
  return shown.join(", ") + (types.length > 4 ? ", …" : "");
}
