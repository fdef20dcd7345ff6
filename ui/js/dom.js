// Tiny DOM helpers. Text always goes in as text nodes (never HTML), so document content cannot
// inject markup.

/** h("div", {class: "x", onclick: f}, "text", child) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Text with some segments wrapped in <mark>: segments = [{text, match}]. */
export function marked(segments) {
  const frag = document.createDocumentFragment();
  for (const s of segments) frag.append(s.match ? h("mark", {}, s.text) : document.createTextNode(s.text));
  return frag;
}

export const $ = (sel) => document.querySelector(sel);

/** Replace an element's children. */
export function replace(el, ...children) {
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}
