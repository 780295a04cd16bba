// The app state the panels share, and its change notifications.
//
// `S` holds what more than one panel reads or writes; a panel keeps its private bits in its
// own module. Panels listen with `on(event, fn)`:
//   "info" (info)               — /api/info has arrived (once, at boot)
//   "show" (entry, {restoring}) — a history entry is now the one on display

/** The element with id `id`. */
export const $ = (id) => document.getElementById(id);

export const S = {
  info: null, // the answer of /api/info
  sounds: [], // dataset paths, by index
  start: { map: [0, 0] }, // where the control panel moves from
  startLabel: "data mean",
  moved: new Map(), // control → value set by the user since the start was loaded
  locks: new Set(),
  current: null, // the history entry on display
  history: [],
  position: -1,
  seq: 0, // last request issued
  applied: 0, // last request whose result was applied
  gesture: 0,
  corners: [null, null, null, null], // plane corners: {ref, label}
  slots: { a: null, b: null }, // A→B ends: {ref, label}
  lastMoveBody: null, // JSON of the last control panel request (skips repeats)
};

const listeners = new Map(); // event → [fn]

/** Call `fn(...args)` whenever `event` is emitted. */
export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, []);
  listeners.get(event).push(fn);
}

function emit(event, ...args) {
  for (const fn of listeners.get(event) ?? []) fn(...args);
}

/** A new gesture id: the results of one gesture share one history entry. */
export function newGesture() {
  S.gesture += 1;
  return S.gesture;
}

/** Store the model description and tell the panels to build themselves from it. */
export function setInfo(info) {
  S.info = info;
  emit("info", info);
}

/**
 * Put a history entry on display. A control panel result keeps the user's newer slider moves
 * (results lag behind a drag); any other result, or an undo/redo, makes its start and moves
 * the panel's. Then every panel shows it ("show").
 */
export function display(entry, { restoring = false } = {}) {
  S.current = entry;
  if (JSON.stringify(entry.body.body) !== S.lastMoveBody) S.lastMoveBody = null;
  const sameStart = JSON.stringify(entry.start) === JSON.stringify(S.start);
  if (restoring || entry.kind !== "controls" || !sameStart) {
    S.start = entry.start;
    S.startLabel = entry.startLabel;
    S.moved = new Map(entry.moved);
  }
  emit("show", entry, { restoring });
}
