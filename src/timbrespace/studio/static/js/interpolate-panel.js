// The "A → B" panel: two end sounds and a curve editor — a flat amount (one-shot models) or
// breakpoints over time (path models) — rendered by /api/interpolate. Path models also get
// the align mode and the Griffin-Lim iteration count, whose range comes from /api/info.

import { Throttle } from "./api.js";
import { CurveEditor } from "./curve.js";
import { audioOptions, request } from "./history.js";
import { panelMessage } from "./messages.js";
import { fillSlot, pickCurrent } from "./slots.js";
import { $, S, newGesture, on } from "./state.js";

const curveThrottle = new Throttle((body, meta) => request("/api/interpolate", body, meta));
let curveGesture = 0; // the gesture of a curve drag in progress

function describeCurve(value) {
  if (typeof value === "number") {
    const zone = value < 0 ? " (extrapolating beyond A)" : value > 1 ? " (extrapolating beyond B)" : "";
    return `amount ${value.toFixed(2)}${zone}`;
  }
  return `curve ${value.map(([t, v]) => `${t.toFixed(2)}:${v.toFixed(2)}`).join(", ")}`;
}

/** Render A→B with the curve as it is, once both ends hold a sound. */
function requestInterpolate(gesture) {
  const value = curve.value();
  $("curve-readout").textContent = describeCurve(value);
  if (!S.slots.a || !S.slots.b) {
    panelMessage("curve", "A→B: set both A and B from the current sound first", "warn");
    return;
  }
  const body = { a: S.slots.a.ref, b: S.slots.b.ref, align: $("align").value, ...audioOptions() };
  if (typeof value === "number") body.amount = Math.round(value * 1000) / 1000;
  else {
    body.curve = value.map(([t, v]) => [Math.round(t * 1000) / 1000, Math.round(v * 1000) / 1000]);
    body.normalize = $("curve-normalize").checked;
  }
  curveThrottle.push(body, {
    label: `A→B ${describeCurve(value)}`,
    moved: [],
    reference: "nearest",
    gesture,
    area: "curve",
  });
}

for (const button of document.querySelectorAll("[data-set-slot]")) {
  button.addEventListener("click", () => {
    const picked = pickCurrent();
    if (!picked) return;
    S.slots[button.dataset.setSlot] = picked;
    fillSlot(button.parentElement, picked.label);
    if (S.slots.a && S.slots.b) requestInterpolate(newGesture());
  });
}

export const curve = new CurveEditor({
  canvas: $("curve"),
  yMin: -1,
  yMax: 2,
  zones: [
    [-1, 0, "extrapolate beyond A"],
    [1, 2, "extrapolate beyond B"],
  ],
  guides: [
    [0, "A"],
    [1, "B"],
  ],
  mode: "flat",
  level: 0.5,
  points: [
    [0, 0],
    [1, 1],
  ],
  onChange: (value, phase) => {
    if (phase === "start" || !curveGesture) curveGesture = newGesture();
    $("curve-readout").textContent = describeCurve(value);
    if (S.slots.a && S.slots.b) requestInterpolate(curveGesture);
    if (phase === "end") curveGesture = 0;
  },
});
$("curve-render").addEventListener("click", () => requestInterpolate(newGesture()));

on("info", (info) => {
  // the iteration range is the server's (timbrespace.limits); audioOptions checks it too
  const { min, max } = info.limits.gla_iters;
  const iters = $("gla-iters");
  iters.min = String(min);
  iters.max = String(max);
  if (info.path_model) {
    $("path-only").hidden = false;
    if (info.gla_iters) iters.value = String(info.gla_iters);
    curve.setMode("points");
    document.querySelector(".layout").classList.add("path-model"); // its morph row grows
  }
});
