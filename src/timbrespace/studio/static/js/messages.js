// Messages next to what they concern: each panel has a line (`[data-message=NAME]`) that shows
// its last error or notice until it is resolved — the panel's next success clears it. The
// status bar shows the message too (it keeps only the latest of all panels).

import { ApiError } from "./api.js";
import { setStatus } from "./status.js";

function line(name) {
  return document.querySelector(`[data-message="${name}"]`);
}

/** Show `text` in panel `name`'s message line and the status bar; kind "error" | "warn". */
export function panelMessage(name, text, kind = "error") {
  const element = line(name);
  if (element) {
    element.textContent = text;
    element.title = text;
    element.className = `panel-msg ${kind}`;
    element.hidden = false;
  }
  setStatus(text, kind);
}

/** Panel `name`'s message is resolved: hide it. */
export function clearPanelMessage(name) {
  const element = line(name);
  if (!element || element.hidden) return;
  element.hidden = true;
  element.textContent = "";
  element.title = "";
}

/** An error's one line (the server's `detail` for an ApiError); null for an aborted request. */
export function errorText(error) {
  if (error && error.name === "AbortError") return null;
  return error instanceof ApiError ? error.message : String(error?.message ?? error);
}
