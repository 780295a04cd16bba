// timbrespace studio — the page's entry point: loads the panels, wires the keyboard, and boots
// from /api/info (see studio/API.md).
//
// Each panel is one module that wires its own DOM and listens to the shared state
// (state.js); every sound goes through the request funnel and history (history.js), and
// errors end up in the status bar (status.js) with the server's `detail`.

import { getJSON } from "./api.js";
import { latentMap, loadViews } from "./browse-panel.js";
import { codebookView } from "./codebook-panel.js";
import { renderBody } from "./control-panel.js";
import "./export-panel.js";
import { redo, request, undo } from "./history.js";
import { instrumentKeyDown } from "./instrument-panel.js";
import { curve } from "./interpolate-panel.js";
import "./live-panel.js";
import "./nearest-panel.js";
import { notesKeyDown } from "./notes-panel.js";
import { playKeyDown } from "./play-panel.js";
import "./path-panel.js";
import "./plane-panel.js";
import { recallSlot, snapshot, store } from "./snapshots.js";
import { player, toggleAB, toggleLoop } from "./sound-panel.js";
import { $, S, setInfo } from "./state.js";
import { report, setStatus } from "./status.js";

// --- keyboard and help -------------------------------------------------------------------------

function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
    return true;
  }
  return target.tagName === "INPUT" && !["range", "checkbox", "radio", "button"].includes(target.type);
}

document.addEventListener("keydown", (e) => {
  const typing = isTyping(e.target);
  const key = e.key.toLowerCase();
  if ((e.ctrlKey || e.metaKey) && (key === "z" || key === "y")) {
    if (typing) return; // the field's own undo
    e.preventDefault();
    if (key === "y" || e.shiftKey) redo();
    else undo();
    return;
  }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  if (instrumentKeyDown(e) || notesKeyDown(e) || playKeyDown(e)) return; // notes and pads
  const tag = e.target instanceof HTMLElement ? e.target.tagName : "";
  if (e.key === " ") {
    // Space on a button or checkbox activates it; everywhere else it plays / stops
    if (tag === "BUTTON" || tag === "SUMMARY" || tag === "A" || e.target.type === "checkbox") return;
    e.preventDefault();
    player.toggle();
  } else if (key === "a" && !e.repeat) {
    toggleAB();
  } else if (key === "l" && !e.repeat) {
    toggleLoop();
  } else if (e.key === "?") {
    toggleHelp();
  }
});

function toggleHelp() {
  const help = $("help");
  help.hidden = !help.hidden;
  $("help-toggle").setAttribute("aria-expanded", String(!help.hidden));
}
$("help-toggle").addEventListener("click", toggleHelp);

// --- boot --------------------------------------------------------------------------------------

function describeModel(info) {
  const parts = [
    info.bundle,
    info.family,
    `${info.sample_rate} Hz`,
    `${info.sounds} sounds`,
    `${info.packs.length} packs`,
    `latent ${info.latent_dim}${info.path_model ? " × time" : ""}`,
    info.instrument ? "instrument: played by pitch and loudness" : "",
    info.notes ? `notes: ${info.notes.styles.join(" / ")}` : "",
    info.codebook ? "codebook: follows descriptor curves" : "",
  ];
  return parts.filter(Boolean).join(" · ");
}

/** Read the model, build the panels and views, and render the data mean as the start. */
async function init() {
  try {
    const info = await getJSON("/api/info");
    $("model-info").textContent = describeModel(info);
    setInfo(info);
    await loadViews();
    if (!info.originals) {
      setStatus("no dataset folder: originals, A/B and save-to-pack are unavailable", "warn");
    }
    // start at the data mean, so the sliders show where the space begins
    const start = { map: [0, 0] };
    await request("/api/render", renderBody(start, new Map()), {
      label: "data mean",
      start,
      startLabel: "data mean",
      moved: [],
      reference: "nearest",
      ref: start,
      marker: { xy: [0, 0] },
      autoplay: false,
    });
    document.body.dataset.ready = "1";
  } catch (error) {
    report(error);
    document.body.dataset.ready = "error";
  }
}

// a small hook for tests and for poking at the page from the console
window.studio = {
  state: S,
  player,
  mapPoint: (i) => latentMap.pointPosition(i),
  mapPixelOf: (x, y) => {
    const [px, py] = latentMap.toPixel(x, y);
    return { x: px, y: py };
  },
  mapHit: (x, y) => latentMap.hit(x, y),
  curveHandle: (i) => curve.handlePosition(i),
  codebook: codebookView,
  undo,
  redo,
  // where you are: the marker (CSS px in the map canvas and map units), the trail, snapshots
  mapMarker: () => {
    const xy = latentMap.marker;
    if (!xy) return null;
    const [x, y] = latentMap.toPixel(xy[0], xy[1]);
    return { x, y, map: [...xy], trail: latentMap.trail.map((p) => [...p]) };
  },
  snapshots: { store, recall: recallSlot, get: snapshot },
};

init();
