// The only place the UI talks to the shell: Tauri's invoke and IPC channels.
import { normalizeError } from "./logic.js";

const core = () => {
  const t = window.__TAURI__;
  if (!t || !t.core) throw { code: "internal", message: "not running inside the Hearth app" };
  return t.core;
};

/** Call a shell command; failures are thrown as {code, message}. */
export async function call(cmd, args = {}) {
  try {
    return await core().invoke(cmd, args);
  } catch (e) {
    throw normalizeError(e);
  }
}

/** A channel whose messages go to `onMessage` (progress, streamed tokens). */
export function channel(onMessage) {
  const c = new (core().Channel)();
  c.onmessage = onMessage;
  return c;
}

/** A fresh id for a cancellable job. */
export function jobId() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
}

/** The system's open dialog (files or a folder); resolves to a list of paths (maybe empty). */
export async function pickPaths({ directory = false, multiple = true, filters } = {}) {
  const options = { directory, multiple };
  if (filters) options.filters = filters;
  const r = await call("plugin:dialog|open", { options });
  if (!r) return [];
  return Array.isArray(r) ? r : [r];
}

/** Listen to a Tauri event (drag-and-drop); returns an unlisten promise. */
export function listen(event, handler) {
  const t = window.__TAURI__;
  if (!t || !t.event) return Promise.resolve(() => {});
  return t.event.listen(event, handler);
}
