// timbrespace studio — the page: wires the views to the HTTP API (studio/API.md).
//
// Every sound the page shows is a *result*: a WAV from /api/render, /api/interpolate,
// /api/plane or /api/path with its state id and control values. Results go through one
// funnel (`request`), where the newest request always wins, and into a client history for
// undo/redo. Errors never escape: they end up in the status bar with the server's `detail`.

import { ApiError, Throttle, busy, getBytes, getJSON, postAudio, postJSON } from "./api.js";
import { ControlPanel } from "./controls.js";
import { CurveEditor } from "./curve.js";
import { drawSpectrogram, drawWaveform, mono } from "./dsp.js";
import { LatentMap, formatNumber } from "./map.js";
import { PackBrowser } from "./packs.js";
import { Player, decodeAudio } from "./player.js";

const $ = (id) => document.getElementById(id);
const HISTORY_LIMIT = 200;
const ORIGINALS_CACHE = 32;

const S = {
  info: null,
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
  slider: null, // {name, gesture} while a slider is being dragged
  corners: [null, null, null, null],
  slots: { a: null, b: null },
  originals: new Map(), // index → Promise<AudioBuffer>
  nearestTimer: 0,
  url: null,
  lastMoveBody: null,
  dryIndex: null, // the dataset sound whose original is the player's dry signal
  spectrogram: null, // {signal, sampleRate} waiting for the next animation frame
};

// --- status bar ------------------------------------------------------------------------------

function setStatus(text, kind = "") {
  const bar = $("status");
  bar.textContent = text;
  bar.className = `status ${kind}`.trim();
  bar.title = text;
}

function report(error) {
  if (error && error.name === "AbortError") return;
  const message = error instanceof ApiError ? error.message : String(error?.message ?? error);
  setStatus(message, "error");
}

window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  report(event.reason);
});

// --- player --------------------------------------------------------------------------------

const player = new Player({ onChange: () => updateTransport() });

function updateTransport() {
  const button = $("play");
  button.textContent = player.playing ? "■ Stop" : "▶ Play";
  button.setAttribute("aria-pressed", String(player.playing));
  if (player.playing) requestAnimationFrame(animatePlayhead);
}

function animatePlayhead() {
  const t = player.position();
  for (const id of ["playhead-wave", "playhead-spec"]) {
    const el = $(id);
    el.hidden = t === null;
    if (t !== null) el.style.left = `${(t * 100).toFixed(2)}%`;
  }
  if (player.playing) requestAnimationFrame(animatePlayhead);
  else for (const id of ["playhead-wave", "playhead-spec"]) $(id).hidden = true;
}

// the AudioContext may only start after a user gesture
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(
    type,
    () => {
      try {
        player.ensureContext();
      } catch (error) {
        report(error);
      }
    },
    { capture: true, once: true },
  );
}

/** The original of dataset sound `index`, decoded (cached; null when the server has none). */
function original(index) {
  if (!S.info.originals) return Promise.resolve(null);
  if (!S.originals.has(index)) {
    const promise = getBytes(`/api/sounds/${index}/original`).then((bytes) =>
      decodeAudio(bytes, 48000).catch(() => {
        throw new Error(`${S.sounds[index]}: this browser cannot decode the original`);
      }),
    );
    promise.catch(() => S.originals.delete(index));
    S.originals.set(index, promise);
    if (S.originals.size > ORIGINALS_CACHE) S.originals.delete(S.originals.keys().next().value);
  }
  return S.originals.get(index);
}

async function setReference(index) {
  if (index === null || index === undefined) {
    player.setDry(null);
    $("reference-label").textContent = "—";
    return;
  }
  $("reference-label").textContent = S.sounds[index] ?? `#${index}`;
  try {
    const buffer = await original(index);
    if (S.current && S.current.reference === index) {
      player.setDry(buffer);
      S.dryIndex = buffer ? index : null;
    }
  } catch (error) {
    report(error);
  }
}

// --- the request funnel and history ----------------------------------------------------------

function newGesture() {
  S.gesture += 1;
  return S.gesture;
}

function audioOptions() {
  const options = { gain_db: 0, normalize: $("normalize").checked };
  if (S.info.path_model) {
    const iters = Number($("gla-iters").value);
    options.gla_iters = Number.isInteger(iters) && iters >= 1 ? iters : null;
  }
  return options;
}

/**
 * POST an audio request and show its result, unless a newer request's result is already
 * shown. meta: {label, start, moved, reference (index | "nearest" | null), ref (SoundRef of
 * the result for corners/slots, default {state}), gesture, autoplay}.
 */
async function request(endpoint, body, meta) {
  const seq = ++S.seq;
  busy(+1);
  try {
    const result = await postAudio(endpoint, body);
    if (seq <= S.applied) return;
    S.applied = seq;
    const buffer = await decodeAudio(await result.blob.arrayBuffer(), S.info.sample_rate);
    if (seq !== S.applied) return;
    const entry = {
      blob: result.blob,
      buffer,
      state: result.state,
      values: result.values,
      warnings: result.warnings,
      label: meta.label,
      start: meta.start ?? { state: result.state },
      startLabel: meta.startLabel ?? meta.label,
      moved: new Map(meta.moved ?? []),
      reference: meta.reference ?? "nearest",
      ref: meta.ref ?? { state: result.state },
      marker: meta.marker ?? null,
      gesture: meta.gesture ?? newGesture(),
      kind: meta.kind ?? "other",
      body: { endpoint, body },
    };
    remember(entry);
    show(entry);
    if ((meta.autoplay ?? true) && $("autoplay").checked && !(player.playing && player.loop)) {
      player.play();
    }
    const warnings = entry.warnings.length ? ` — ${entry.warnings.join("; ")}` : "";
    setStatus(`${entry.label}${warnings}`, entry.warnings.length ? "warn" : "");
  } catch (error) {
    report(error);
  } finally {
    busy(-1);
  }
}

function remember(entry) {
  // a new result drops the redo branch; results of one gesture share one history entry
  S.history.length = S.position + 1;
  const top = S.history[S.position];
  if (top && top.gesture === entry.gesture) S.history[S.position] = entry;
  else S.history.push(entry);
  if (S.history.length > HISTORY_LIMIT) S.history.splice(0, S.history.length - HISTORY_LIMIT);
  S.position = S.history.length - 1;
  updateHistoryButtons();
}

function updateHistoryButtons() {
  $("undo").disabled = S.position <= 0;
  $("redo").disabled = S.position >= S.history.length - 1;
}

function undo() {
  if (S.position <= 0) return;
  S.position -= 1;
  restore();
}

function redo() {
  if (S.position >= S.history.length - 1) return;
  S.position += 1;
  restore();
}

function restore() {
  S.lastMoveBody = null;
  S.applied = S.seq; // results still in flight must not overwrite the restored state
  const entry = S.history[S.position];
  show(entry, { restoring: true });
  updateHistoryButtons();
  setStatus(`${S.position + 1}/${S.history.length}: ${entry.label}`);
}

/** Draw the spectrogram on the next frame (after playback has started), only the latest. */
function scheduleSpectrogram(signal, sampleRate) {
  if (!S.spectrogram) {
    busy(+1);
    requestAnimationFrame(() => {
      const { signal: latest, sampleRate: rate } = S.spectrogram;
      S.spectrogram = null;
      try {
        drawSpectrogram($("spectrogram"), latest, rate);
      } finally {
        busy(-1);
      }
    });
  }
  S.spectrogram = { signal, sampleRate };
}

/**
 * Put a history entry on display: audio element, views, sliders, labels, export. A control
 * panel result keeps the user's newer slider moves (results lag behind a drag); any other
 * result, or an undo/redo, makes its start and moves the panel's.
 */
function show(entry, { restoring = false } = {}) {
  S.current = entry;
  if (JSON.stringify(entry.body.body) !== S.lastMoveBody) S.lastMoveBody = null;
  if (S.url) URL.revokeObjectURL(S.url);
  S.url = URL.createObjectURL(entry.blob);
  $("audio").src = S.url;
  $("audio").dataset.state = entry.state ?? "";

  const signal = mono(entry.buffer);
  drawWaveform($("waveform"), signal);
  scheduleSpectrogram(signal, entry.buffer.sampleRate);
  // keep the original playing along when the reference stays the same
  if (entry.reference !== S.dryIndex) {
    S.dryIndex = null;
    player.setDry(null);
  }
  player.setBuffers(entry.buffer, player.dry);

  const sameStart = JSON.stringify(entry.start) === JSON.stringify(S.start);
  if (restoring || entry.kind !== "controls" || !sameStart) {
    S.start = entry.start;
    S.startLabel = entry.startLabel;
    S.moved = new Map(entry.moved);
  }
  $("start-label").textContent = S.startLabel;
  $("sound-label").textContent = entry.label;
  panel.setMoved(new Set(S.moved.keys()));
  // sliders the user has moved past this result keep their position
  const ahead = [...S.moved].filter(([name, value]) => entry.moved.get(name) !== value);
  panel.setValues(entry.values, new Set(ahead.map(([name]) => name)));

  if ("index" in entry.start) packs.setCurrent(entry.start.index);
  if (entry.marker) latentMap.setMarker(entry.marker.xy, entry.marker.index ?? -1);

  const download = $("download");
  if (entry.state) {
    download.href = `/api/states/${entry.state}/wav`;
    download.setAttribute("download", `timbrespace_${entry.state}.wav`);
    download.classList.remove("disabled");
    download.setAttribute("aria-disabled", "false");
  }

  if (typeof entry.reference === "number") setReference(entry.reference);
  else setReference(null);
  scheduleNearest(entry);
}

/** After results settle, ask the server for the nearest dataset sounds of the current state. */
function scheduleNearest(entry) {
  clearTimeout(S.nearestTimer);
  $("nearest").replaceChildren();
  if (!entry.state) return;
  S.nearestTimer = setTimeout(async () => {
    try {
      const described = await getJSON(`/api/states/${entry.state}`);
      if (S.current !== entry) return;
      const list = $("nearest");
      list.replaceChildren();
      for (const n of described.nearest.slice(0, 3)) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = `${n.sound.split("/").pop()} (${formatNumber(n.distance)})`;
        button.title = `${n.sound} — load it`;
        button.addEventListener("click", () => loadSound(n.index, { preview: false }));
        list.append(button);
      }
      if (entry.reference === "nearest" && described.nearest.length) {
        entry.reference = described.nearest[0].index;
        setReference(entry.reference);
      }
    } catch (error) {
      report(error);
    }
  }, 250);
}

// --- loading and generating ------------------------------------------------------------------

function renderBody(start, moved) {
  return {
    start,
    set: Object.fromEntries(moved),
    lock: [...S.locks].filter((name) => !moved.has(name)),
    extrapolate: $("extrapolate").checked,
    ...audioOptions(),
  };
}

/** Load dataset sound `index` as the start point (optionally previewing its original). */
function loadSound(index, { preview = false } = {}) {
  const label = S.sounds[index] ?? `#${index}`;
  const start = { index };
  if (preview && S.info.originals) {
    original(index)
      .then((buffer) => buffer && player.preview(buffer))
      .catch(report);
  }
  latentMap.setMarker(null, index);
  packs.setCurrent(index);
  return request("/api/render", renderBody(start, new Map()), {
    label,
    start,
    startLabel: label,
    moved: [],
    reference: index,
    ref: start,
    marker: { xy: null, index },
    autoplay: !preview,
  });
}

const mapThrottle = new Throttle((xy, gesture) => {
  const start = { map: xy };
  const label = `map (${formatNumber(xy[0])}, ${formatNumber(xy[1])})`;
  return request("/api/render", renderBody(start, new Map()), {
    label,
    start,
    startLabel: label,
    moved: [],
    reference: "nearest",
    ref: start,
    marker: { xy },
    gesture,
  });
});

let mapGesture = 0;
function onMapGenerate(xy, phase) {
  if (phase === "start" || phase === "key" || !mapGesture) mapGesture = newGesture();
  mapThrottle.push([xy[0], xy[1]], mapGesture);
  if (phase === "end" || phase === "key") mapGesture = 0;
}

// --- control panel -------------------------------------------------------------------------

const controlThrottle = new Throttle((body, meta) => request("/api/render", body, meta));

function renderMoves(gesture) {
  const body = renderBody(S.start, S.moved);
  const key = JSON.stringify(body);
  if (key === S.lastMoveBody) return; // e.g. the `change` after the last `input`
  S.lastMoveBody = key;
  const names = [...S.moved.keys()];
  const label = names.length
    ? `${S.startLabel} · ${names.map((n) => `${n} ${formatNumber(S.moved.get(n))}`).join(", ")}`
    : S.startLabel;
  controlThrottle.push(body, {
    label,
    start: S.start,
    startLabel: S.startLabel,
    moved: [...S.moved],
    reference: S.current?.reference ?? "nearest",
    ref: undefined,
    marker: S.current?.marker ?? null,
    gesture,
    kind: "controls",
  });
}

function onControlMove(name, value, phase) {
  // one drag, or key presses on one slider less than a second apart, make one history entry
  const now = performance.now();
  if (!S.slider || S.slider.name !== name || now - S.slider.time > 1000) {
    S.slider = { name, gesture: newGesture(), time: now };
  }
  S.slider.time = now;
  const gesture = S.slider.gesture;
  S.moved.set(name, value);
  panel.setMoved(new Set(S.moved.keys()));
  renderMoves(gesture);
}

const panel = new ControlPanel({
  container: $("controls"),
  onMove: onControlMove,
  onReset: (name) => {
    if (!S.moved.delete(name)) return;
    panel.setMoved(new Set(S.moved.keys()));
    renderMoves(newGesture());
  },
  onLock: (name, locked) => {
    if (locked) S.locks.add(name);
    else S.locks.delete(name);
    setStatus(locked ? `${name} locked: it keeps its value while others move` : `${name} unlocked`);
  },
});

$("reset-controls").addEventListener("click", () => {
  S.moved.clear();
  panel.setMoved(new Set());
  renderMoves(newGesture());
});
$("extrapolate").addEventListener("change", () => {
  panel.setWiden($("extrapolate").checked ? 0.5 : 0);
});

// --- views ---------------------------------------------------------------------------------

const packs = new PackBrowser({
  container: $("packs"),
  filter: $("pack-filter"),
  onPick: (index) => loadSound(index, { preview: true }),
});

const latentMap = new LatentMap({
  canvas: $("map"),
  tooltip: $("map-tooltip"),
  legend: $("map-legend"),
  axes: $("map-axes"),
  onPick: (index) => loadSound(index),
  onGenerate: onMapGenerate,
});

$("map-color").addEventListener("change", async () => {
  try {
    const color = $("map-color").value;
    latentMap.setData(await getJSON(`/api/map?color=${encodeURIComponent(color)}`));
  } catch (error) {
    report(error);
  }
});

// --- current sound: transport ----------------------------------------------------------------

$("play").addEventListener("click", () => player.toggle());
$("loop").addEventListener("change", () => player.setLoop($("loop").checked));
$("bpm").addEventListener("change", () => {
  const bpm = Number($("bpm").value);
  if (!(bpm >= 20 && bpm <= 300)) {
    setStatus("bpm: give a tempo between 20 and 300", "error");
    $("bpm").value = String(player.bpm);
    return;
  }
  player.setBpm(bpm);
});
$("drywet").addEventListener("input", () => player.setMix(Number($("drywet").value)));
$("gain").addEventListener("input", () => {
  const db = Number($("gain").value);
  player.setGainDb(db);
  $("gain-readout").textContent = `${db >= 0 ? "+" : ""}${db.toFixed(1)} dB`;
});

function toggleAB() {
  const ab = player.ab === "A" ? "B" : "A";
  player.setAB(ab);
  const button = $("ab");
  button.setAttribute("aria-pressed", String(ab === "A"));
  button.textContent = ab === "A" ? "A · original" : "B · rendered";
  if (ab === "A" && !player.dry) setStatus("no original to compare with for this sound", "warn");
}
$("ab").addEventListener("click", toggleAB);

// --- interpolation plane ---------------------------------------------------------------------

const plane = { xy: [0.5, 0.5], gesture: 0, dragging: false };

function currentRefAndLabel() {
  if (!S.current) {
    setStatus("load a sound first (packs or map)", "error");
    return null;
  }
  return { ref: S.current.ref, label: S.current.label };
}

function fillSlot(element, label) {
  const span = element.querySelector(".slot-label");
  span.textContent = label.split("/").pop();
  span.title = label;
  span.classList.add("filled");
}

for (const button of document.querySelectorAll("[data-set-corner]")) {
  button.addEventListener("click", () => {
    const picked = currentRefAndLabel();
    if (!picked) return;
    const i = Number(button.dataset.setCorner);
    S.corners[i] = picked;
    fillSlot(button.parentElement, picked.label);
    if (S.corners.every(Boolean)) requestPlane(newGesture());
  });
}

const planeThrottle = new Throttle((body, meta) => request("/api/plane", body, meta));

function requestPlane(gesture) {
  if (!S.corners.every(Boolean)) {
    const missing = S.corners.filter((c) => !c).length;
    setStatus(`plane: assign the current sound to all four corners (${missing} empty)`, "error");
    return;
  }
  const [x, y] = plane.xy;
  planeThrottle.push(
    { corners: S.corners.map((c) => c.ref), xy: [x, y], ...audioOptions() },
    { label: `plane (${x.toFixed(2)}, ${y.toFixed(2)})`, moved: [], reference: "nearest", gesture },
  );
}

function placePuck() {
  const [x, y] = plane.xy;
  const puck = $("puck");
  puck.style.left = `${x * 100}%`;
  puck.style.top = `${(1 - y) * 100}%`;
  puck.setAttribute("aria-valuenow", x.toFixed(2));
  puck.setAttribute("aria-valuetext", `x ${x.toFixed(2)}, y ${y.toFixed(2)}`);
}

function planeFromPointer(e) {
  const rect = $("plane").getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
  const y = Math.min(1, Math.max(0, 1 - (e.clientY - rect.top) / rect.height));
  plane.xy = [x, y];
  placePuck();
}

$("plane").addEventListener("pointerdown", (e) => {
  if (e.button !== 0) return;
  plane.dragging = true;
  plane.gesture = newGesture();
  $("plane").setPointerCapture(e.pointerId);
  planeFromPointer(e);
  $("puck").focus({ preventScroll: true });
  requestPlane(plane.gesture);
});
$("plane").addEventListener("pointermove", (e) => {
  if (!plane.dragging) return;
  planeFromPointer(e);
  requestPlane(plane.gesture);
});
for (const type of ["pointerup", "pointercancel"]) {
  $("plane").addEventListener(type, (e) => {
    if (!plane.dragging) return;
    plane.dragging = false;
    if ($("plane").hasPointerCapture(e.pointerId)) $("plane").releasePointerCapture(e.pointerId);
  });
}
$("puck").addEventListener("keydown", (e) => {
  const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
  if (!(e.key in steps)) return;
  e.preventDefault();
  const step = e.shiftKey ? 0.01 : 0.05;
  const [dx, dy] = steps[e.key];
  const clamp = (v) => Math.min(1, Math.max(0, Math.round(v * 100) / 100));
  plane.xy = [clamp(plane.xy[0] + dx * step), clamp(plane.xy[1] + dy * step)];
  placePuck();
  requestPlane(newGesture());
});

// --- A→B curve -------------------------------------------------------------------------------

for (const button of document.querySelectorAll("[data-set-slot]")) {
  button.addEventListener("click", () => {
    const picked = currentRefAndLabel();
    if (!picked) return;
    S.slots[button.dataset.setSlot] = picked;
    fillSlot(button.parentElement, picked.label);
    if (S.slots.a && S.slots.b) requestInterpolate(newGesture());
  });
}

const curveThrottle = new Throttle((body, meta) => request("/api/interpolate", body, meta));
let curveGesture = 0;

function describeCurve(value) {
  if (typeof value === "number") {
    const zone = value < 0 ? " (extrapolating beyond A)" : value > 1 ? " (extrapolating beyond B)" : "";
    return `amount ${value.toFixed(2)}${zone}`;
  }
  return `curve ${value.map(([t, v]) => `${t.toFixed(2)}:${v.toFixed(2)}`).join(", ")}`;
}

function requestInterpolate(gesture) {
  const value = curve.value();
  $("curve-readout").textContent = describeCurve(value);
  if (!S.slots.a || !S.slots.b) {
    setStatus("A→B: set both A and B from the current sound first", "error");
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
  });
}

const curve = new CurveEditor({
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

// --- per-dimension path editor (path models) -------------------------------------------------

const pathCurve = new CurveEditor({
  canvas: $("path-curve"),
  yMin: -3,
  yMax: 3,
  guides: [[0, "0"]],
  mode: "points",
  points: [
    [0, 0],
    [1, 0],
  ],
  onChange: () => {},
});

$("path-apply").addEventListener("click", () => {
  if (!S.current) {
    setStatus("load a sound first (packs or map)", "error");
    return;
  }
  const dim = Number($("path-dim").value);
  const op = $("path-mode").value === "add" ? "+=" : "=";
  const points = pathCurve
    .value()
    .map(([t, v]) => `${t.toFixed(3)}:${v.toFixed(3)}`)
    .join(",");
  const extra = $("path-ops")
    .value.split(/[;\s]+|,(?=\s*[a-z])/i)
    .map((s) => s.trim())
    .filter(Boolean);
  const ops = [...extra, `curve:${dim}${op}${points}`];
  request(
    "/api/path",
    { start: S.current.ref, ops, seed: 0, ...audioOptions() },
    { label: `path ${ops.join(" ")}`, moved: [], reference: "nearest" },
  );
});

// --- export --------------------------------------------------------------------------------

$("download").addEventListener("click", (e) => {
  if (!S.current?.state) e.preventDefault();
});

$("save-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!S.current?.state) {
    setStatus("export: nothing rendered yet", "error");
    return;
  }
  let name = $("save-name").value.trim();
  if (name && !name.toLowerCase().endsWith(".wav")) name += ".wav";
  try {
    const saved = await postJSON("/api/export", {
      state: S.current.state,
      folder: $("save-folder").value.trim().replace(/^\/+|\/+$/g, ""),
      name,
      overwrite: $("save-overwrite").checked,
    });
    setStatus(`saved ${saved.path}`);
  } catch (error) {
    report(error);
  }
});

// --- keyboard ------------------------------------------------------------------------------

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
  const tag = e.target instanceof HTMLElement ? e.target.tagName : "";
  if (e.key === " ") {
    // Space on a button or checkbox activates it; everywhere else it plays / stops
    if (tag === "BUTTON" || tag === "SUMMARY" || tag === "A" || e.target.type === "checkbox") return;
    e.preventDefault();
    player.toggle();
  } else if (key === "a" && !e.repeat) {
    toggleAB();
  } else if (key === "l" && !e.repeat) {
    $("loop").checked = !$("loop").checked;
    player.setLoop($("loop").checked);
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
$("undo").addEventListener("click", undo);
$("redo").addEventListener("click", redo);

// redraw the sound views when their size changes
new ResizeObserver(() => {
  if (!S.current) return;
  const signal = mono(S.current.buffer);
  drawWaveform($("waveform"), signal);
  scheduleSpectrogram(signal, S.current.buffer.sampleRate);
}).observe($("waveform"));

// --- start ---------------------------------------------------------------------------------

function describeModel(info) {
  const parts = [
    info.bundle,
    info.family,
    `${info.sample_rate} Hz`,
    `${info.sounds} sounds`,
    `${info.packs.length} packs`,
    `latent ${info.latent_dim}${info.path_model ? " × time" : ""}`,
  ];
  return parts.filter(Boolean).join(" · ");
}

function fallbackRanges(controls) {
  // a control without a known range gets one around zero (its slider still moves)
  return controls.map((c) => ({
    ...c,
    low: Number.isFinite(c.low) ? c.low : -1,
    high: Number.isFinite(c.high) ? c.high : 1,
  }));
}

async function init() {
  drawWaveform($("waveform"), null);
  drawSpectrogram($("spectrogram"), null, 1);
  placePuck();
  try {
    const info = await getJSON("/api/info");
    S.info = info;
    $("model-info").textContent = describeModel(info);
    panel.build(fallbackRanges(info.controls));

    const select = $("map-color");
    select.replaceChildren(new Option("pack", "pack"));
    for (const d of info.descriptors) {
      select.append(new Option(d.unit ? `${d.name} (${d.unit})` : d.name, d.name));
    }

    if (info.path_model) {
      $("path-only").hidden = false;
      $("path-editor").hidden = false;
      if (info.gla_iters) $("gla-iters").value = String(info.gla_iters);
      curve.setMode("points");
      const dims = $("path-dim");
      for (let i = 0; i < info.latent_dim; i++) dims.append(new Option(String(i), String(i)));
    }

    const [tree, map] = await Promise.all([getJSON("/api/packs"), getJSON("/api/map?color=pack")]);
    S.sounds = map.sounds;
    packs.build(tree);
    latentMap.setData(map);
    if (!info.originals) {
      setStatus("no dataset folder: originals, A/B and save-to-pack are unavailable", "warn");
    }
    // start at the data mean, so the sliders show where the space begins
    await request("/api/render", renderBody({ map: [0, 0] }, new Map()), {
      label: "data mean",
      start: { map: [0, 0] },
      startLabel: "data mean",
      moved: [],
      reference: "nearest",
      ref: { map: [0, 0] },
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
  undo,
  redo,
};

init();
