// The "Controls" panel wiring: slider moves render from the start point (/api/render), with
// locks, per-slider reset, reset-all and extrapolation. The sliders are `ControlPanel`; a
// refused move shows its reason under the slider moved, until a later move renders.

import { Throttle } from "./api.js";
import { ControlPanel } from "./controls.js";
import { audioOptions, request } from "./history.js";
import { formatReading } from "./readouts.js";
import { $, S, newGesture, on } from "./state.js";
import { setStatus } from "./status.js";

let slider = null; // {name, gesture, time} of the slider being moved

/** The /api/render body that moves `start` by `moved` (control → value), with the locks. */
export function renderBody(start, moved) {
  return {
    start,
    set: Object.fromEntries(moved),
    lock: [...S.locks].filter((name) => !moved.has(name)),
    extrapolate: $("extrapolate").checked,
    ...audioOptions(),
  };
}

const controlThrottle = new Throttle((body, meta) => request("/api/render", body, meta));

function renderMoves(gesture, name = null) {
  const body = renderBody(S.start, S.moved);
  const key = JSON.stringify(body);
  if (key === S.lastMoveBody) return; // e.g. the `change` after the last `input`
  S.lastMoveBody = key;
  const names = [...S.moved.keys()];
  // the sound is named by what its render measures (a request beyond it is not the sound)
  const describe = (n, measured) => {
    const control = panel.rows.get(n)?.control;
    const value = Number.isFinite(measured?.[n]) ? measured[n] : S.moved.get(n);
    return `${n} ${control ? formatReading(value, control) : value}`;
  };
  const labelOf = (measured) =>
    names.length ? `${S.startLabel} · ${names.map((n) => describe(n, measured)).join(", ")}` : S.startLabel;
  controlThrottle.push(body, {
    label: labelOf(null),
    labelOf: (result) => labelOf(result.measured),
    start: S.start,
    startLabel: S.startLabel,
    moved: [...S.moved],
    reference: S.current?.reference ?? "nearest",
    ref: undefined,
    marker: S.current?.marker ?? null,
    gesture,
    kind: "controls",
    onError: (text) => {
      // under its own slider the message needs no "set.pitch:" in front
      if (name) panel.setError(name, text.startsWith(`set.${name}: `) ? text.slice(name.length + 6) : text);
    },
    onSuccess: () => panel.clearErrors(),
  });
}

function onControlMove(name, value) {
  // one drag, or key presses on one slider less than a second apart, make one history entry
  const now = performance.now();
  if (!slider || slider.name !== name || now - slider.time > 1000) {
    slider = { name, gesture: newGesture(), time: now };
  }
  slider.time = now;
  S.moved.set(name, value);
  panel.setMoved(new Set(S.moved.keys()));
  renderMoves(slider.gesture, name);
}

const panel = new ControlPanel({
  container: $("controls"),
  onMove: onControlMove,
  onReset: (name) => {
    if (!S.moved.delete(name)) return;
    panel.setMoved(new Set(S.moved.keys()));
    renderMoves(newGesture(), name);
  },
  onLock: (name, locked) => {
    if (locked) S.locks.add(name);
    else S.locks.delete(name);
    setStatus(locked ? `${name} locked: it keeps its value while others move` : `${name} unlocked`);
  },
  onError: (message) => setStatus(message, "error"),
});

$("reset-controls").addEventListener("click", () => {
  S.moved.clear();
  panel.setMoved(new Set());
  renderMoves(newGesture());
});
$("extrapolate").addEventListener("change", () => {
  panel.setWiden($("extrapolate").checked ? 0.5 : 0);
});

function fallbackRanges(controls) {
  // a control without a known range gets one around zero (its slider still moves)
  return controls.map((c) => ({
    ...c,
    low: Number.isFinite(c.low) ? c.low : -1,
    high: Number.isFinite(c.high) ? c.high : 1,
  }));
}

on("info", (info) => panel.build(fallbackRanges(info.controls), info.packs ?? []));

on("show", (entry) => {
  $("start-label").textContent = S.startLabel;
  panel.setMoved(new Set(S.moved.keys()));
  // sliders the user has moved past this result keep their position
  const ahead = [...S.moved].filter(([name, value]) => entry.moved.get(name) !== value);
  panel.showResult(entry, {
    moved: new Set(entry.moved.keys()),
    skip: new Set(ahead.map(([name]) => name)),
  });
});
