// The "live" link of the transport: while on, the server sends every rendered latent to a
// running engine (`timbrespace serve`) over OSC (/api/live), so a slider move is heard there.

import { getJSON, postJSON } from "./api.js";
import { $, on } from "./state.js";
import { report } from "./status.js";

/** Show the link's state: "live → host:port" while on, and its last sending error. */
function show(status) {
  $("live").checked = status.on;
  if (document.activeElement !== $("live-engine")) $("live-engine").value = status.engine;
  const text = $("live-status");
  text.textContent = status.on ? `live → ${status.engine}` : "";
  if (status.last_error) text.textContent += `${status.on ? " · " : ""}${status.last_error}`;
  text.className = status.last_error ? "small error" : "small";
  text.title = status.last_error ?? "";
}

async function configure() {
  try {
    show(await postJSON("/api/live", { engine: $("live-engine").value.trim(), on: $("live").checked }));
  } catch (error) {
    $("live").checked = false;
    report(error);
    refresh();
  }
}

async function refresh() {
  try {
    show(await getJSON("/api/live"));
  } catch (error) {
    report(error);
  }
}

$("live").addEventListener("change", configure);
$("live-engine").addEventListener("change", () => {
  if ($("live").checked) configure();
});
$("live-engine").addEventListener("keydown", (e) => {
  if (e.key === "Enter") e.target.blur(); // commits the field ("change")
});

// each render was sent (or failed to be): show the newest count and error
on("show", () => {
  if ($("live").checked) refresh();
});
on("info", refresh);
