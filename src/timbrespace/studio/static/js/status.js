// The status bar: the last result's label and warnings, or an error's one-line detail.
// Errors never escape the page: unhandled rejections end up here too.

import { ApiError } from "./api.js";
import { $ } from "./state.js";

/** Show `text` in the status bar; kind is "", "warn" or "error". */
export function setStatus(text, kind = "") {
  const bar = $("status");
  bar.textContent = text;
  bar.className = `status ${kind}`.trim();
  bar.title = text;
}

/** Show an error (the server's `detail` for an ApiError); aborted requests stay silent. */
export function report(error) {
  if (error && error.name === "AbortError") return;
  const message = error instanceof ApiError ? error.message : String(error?.message ?? error);
  setStatus(message, "error");
}

window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  report(event.reason);
});
