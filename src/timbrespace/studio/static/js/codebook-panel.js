// The "Codebook" panel, shown only for a codebook model (`info.codebook`, see studio/API.md
// "Codebook"), whose every frame is one code:
//   - the map of codes (GET /api/codebook), coloured by a descriptor (a log scale for Hz and
//     rms), unused codes grey, sized by their use; hovering a code shows what it measures, a
//     click plays the code nearest its values, held 0.5 s;
//   - the curve editor: up to two target curves over time, each in its descriptor's unit over
//     the range the codebook renders (log axes for Hz), drawn with the mouse or filled from a
//     preset, with a weight each; length, method and smoothness. Render POSTs /api/target, plays
//     the sound through the page's player and draws the measured curve and the chosen codes'
//     values over the target, with r and the median error; the codes used are ringed on the
//     map, and the one sounding is marked while the render plays.
// Drawing is codebook-draw.js'.

import { busy, getJSON, postJSON } from "./api.js";
import {
  COLORS, PRESET_NAMES, codeAt, drawCodeMap, drawCurves, fromAxis, mapBounds, mapPixel,
  plotBox, presetValues, showLegend, usable, withUnit,
} from "./codebook-draw.js";
import { formatNumber } from "./map.js";
import { decodeAudio } from "./player.js";
import { player } from "./sound-panel.js";
import { $, on } from "./state.js";
import { report, setStatus } from "./status.js";
import { releaseVoice, startVoice, wakePlayer } from "./voices.js";

const GRID = 256; // points of a curve over the length
const HOLD = 0.5; // s a clicked code sounds
const DEFAULTS = ["centroid", ""]; // the curves' descriptors at first ("": none)
const EMPTY = "No render yet: draw a target curve (or choose a preset) and press Render. The " +
  "measured curve is then drawn over the target, with r and the median error.";

let book = null; // the answer of GET /api/codebook
let bounds = null; // the map's extent
const curves = [0, 1].map(() => ({ name: "", values: null, preset: "" }));
let active = 0; // the curve the mouse draws
let result = null; // the last /api/target answer, with its decoded `buffer`, `blob` and `stale`
let voice = null; // what sounds: {node, gain, started, what: "render" | "code"}
let hover = -1; // the code under the mouse
let played = -1; // the code a click played
let drawing = null; // {last: {index, axis} | null} while the mouse draws
let seq = 0; // the last render asked (an older answer is dropped)
let downloadUrl = null;

const desc = (name) => book?.descriptors.find((d) => d.name === name) ?? null;
const row = (i) => document.querySelector(`#cb-curves .cb-curve[data-curve="${i}"]`);
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const rounded = (v) => Number(v.toPrecision(6));

// --- drawing -----------------------------------------------------------------------------------

/** Seconds into the render playing now, else null. */
function renderTime() {
  if (!voice || voice.what !== "render" || !result) return null;
  return player.ctx.currentTime - voice.started;
}

function drawMap() {
  const t = renderTime();
  const frame = t === null ? -1 : Math.floor(t / result.hop_seconds);
  drawCodeMap($("cb-map"), {
    book,
    bounds,
    color: book ? desc($("cb-color").value) : null,
    rendered: result ? new Set(result.codes) : null,
    played,
    sounding: frame >= 0 && frame < (result?.codes.length ?? 0) ? result.codes[frame] : -1,
    hover,
  });
}

function drawEditor() {
  if (!book) return;
  const t = renderTime();
  drawCurves($("cb-editor"), {
    curves: curves.map((c) => ({ d: desc(c.name), values: c.values })),
    active,
    seconds: Number($("cb-seconds").value) > 0 ? Number($("cb-seconds").value) : 1,
    result,
    playhead: t === null ? null : t / (result.samples / result.sample_rate),
  });
}

function showTooltip(k) {
  const tip = $("cb-tooltip");
  tip.hidden = k < 0;
  if (k < 0) return;
  const line = (strong, text) => {
    const div = document.createElement("div");
    const b = document.createElement("b");
    b.textContent = strong;
    div.append(b, ` ${text}`);
    return div;
  };
  const used = book.used[k] ? `encodes ${book.usage[k]} training frames` : "unused in training";
  const values = book.descriptors.map((d) => line(d.name, d.values[k] === null ? "—" : withUnit(d, d.values[k])));
  tip.replaceChildren(line(`code ${k}`, used), ...values);
  const canvas = $("cb-map");
  const [px, py] = mapPixel(canvas, book, bounds, k);
  tip.style.left = `${px}px`;
  tip.style.top = `${py}px`;
  const x = px > canvas.clientWidth * 0.55 ? "calc(-100% - 12px)" : "12px";
  tip.style.transform = `translate(${x}, ${py > canvas.clientHeight / 2 ? "-100%" : "0"})`;
}

// --- the curves --------------------------------------------------------------------------------

/** The grid index and axis position (0 … 1) under the pointer. */
function editorPoint(e) {
  const canvas = $("cb-editor");
  const rect = canvas.getBoundingClientRect();
  const box = plotBox(canvas);
  const u = clamp((e.clientX - rect.left - box.x0) / (box.x1 - box.x0), 0, 1);
  const axis = clamp((box.y1 - (e.clientY - rect.top)) / (box.y1 - box.y0), 0, 1);
  return { index: Math.round(u * (GRID - 1)), axis };
}

/** Draw the active curve from the last pointer position to this one. */
function drawAt(e) {
  const curve = curves[active];
  const d = desc(curve.name);
  const here = editorPoint(e);
  const last = drawing.last ?? here;
  curve.values ??= new Float64Array(GRID).fill(NaN);
  const steps = Math.abs(here.index - last.index);
  for (let j = 0; j <= steps; j++) {
    const f = steps ? j / steps : 1;
    const index = Math.round(last.index + f * (here.index - last.index));
    curve.values[index] = fromAxis(d, last.axis + f * (here.axis - last.axis));
  }
  drawing.last = here;
  edited(active, "");
}

/** Curve `i` changed (drawn, preset, descriptor): the last render no longer matches it. */
function edited(i, preset) {
  curves[i].preset = preset;
  row(i).querySelector(".cb-preset").value = preset;
  if (result) result.stale = true;
  updateControls();
  drawEditor();
}

function applyPreset(i, preset) {
  const d = desc(curves[i].name);
  if (d && PRESET_NAMES.includes(preset)) curves[i].values = presetValues(preset, d, GRID);
  edited(i, d ? preset : "");
}

function updateControls() {
  curves.forEach((curve, i) => row(i).classList.toggle("off", !curve.name));
  $("cb-render").disabled = !book || !curves.some((c) => c.name && c.values);
}

// --- rendering and playing ---------------------------------------------------------------------

/** The /api/target request of the panel (see API.md "Codebook"); throws naming what is wrong. */
function targetBody() {
  const { min_seconds: least, max_seconds: most, limits } = book;
  const seconds = Number($("cb-seconds").value);
  if (!(seconds >= least && seconds <= most)) throw new Error(`length: give ${least} … ${most} s`);
  const smoothness = Number($("cb-smoothness").value);
  const [low, high] = limits.smoothness;
  if (!(smoothness >= low && smoothness <= high)) throw new Error(`smoothness: give ${low} … ${high}`);
  const body = { curves: {}, seconds, method: $("cb-method").value, smoothness, weights: {} };
  curves.forEach((curve, i) => {
    if (!curve.name || !curve.values) return;
    if (curve.name in body.curves) throw new Error(`both curves are ${curve.name}: choose another descriptor`);
    const points = [];
    curve.values.forEach((v, j) => Number.isFinite(v) && points.push([rounded(j / (GRID - 1)), rounded(v)]));
    if (points.length < 2) return;
    const weight = Number(row(i).querySelector(".cb-weight").value);
    if (!(weight >= 0 && weight <= limits.weight[1])) {
      throw new Error(`weight of ${curve.name}: give 0 … ${limits.weight[1]}`);
    }
    body.curves[curve.name] = points;
    body.weights[curve.name] = weight;
  });
  if (!Object.keys(body.curves).length) throw new Error("draw a target curve first, or choose a preset");
  return body;
}

/** POST `body` to /api/target → its answer, with the WAV decoded (`buffer`) and as a `blob`. */
async function target(body) {
  const answer = await postJSON("/api/target", body);
  const bytes = Uint8Array.from(atob(answer.audio_wav_base64), (c) => c.charCodeAt(0));
  delete answer.audio_wav_base64;
  answer.blob = new Blob([bytes], { type: "audio/wav" });
  answer.buffer = await decodeAudio(bytes.buffer, answer.sample_rate);
  return answer;
}

/** Play `buffer` through the page's player (its gain applies); `what`: "render" | "code". */
function play(buffer, what) {
  stop();
  wakePlayer();
  const started = startVoice(buffer);
  const ended = started.node.onended;
  voice = { ...started, what };
  started.node.onended = () => {
    ended?.();
    if (voice?.node === started.node) stop();
  };
  $("cb-play").textContent = "■ Stop";
  requestAnimationFrame(animate);
}

function stop() {
  if (voice) releaseVoice(voice);
  voice = null;
  $("cb-play").textContent = "▶ Play";
  drawEditor();
  drawMap();
}

function animate() {
  if (!voice) return;
  drawEditor();
  drawMap();
  requestAnimationFrame(animate);
}

/** Show `error` in the panel (`where`) and the status bar. */
function fail(error, where = "cb-results") {
  const line = document.createElement("span");
  line.className = "cb-line error";
  line.textContent = error instanceof Error ? error.message : String(error);
  $(where).classList.remove("empty", "muted");
  $(where).replaceChildren(line);
  report(error);
}

async function render() {
  let body;
  try {
    wakePlayer();
    body = targetBody();
  } catch (error) {
    fail(error);
    return;
  }
  const mine = ++seq;
  busy(+1);
  $("cb-render").textContent = "Rendering…";
  try {
    const answer = await target(body);
    if (mine !== seq) return;
    result = { ...answer, stale: false };
    showResult();
    if ($("autoplay").checked) play(result.buffer, "render");
  } catch (error) {
    if (mine === seq) fail(error);
  } finally {
    busy(-1);
    if (mine === seq) $("cb-render").textContent = "Render";
  }
}

function showResult() {
  const lines = Object.entries(result.tracking).map(([name, t]) => {
    const line = document.createElement("span");
    line.className = "cb-line";
    const swatch = document.createElement("span");
    swatch.className = "cb-swatch";
    swatch.style.background = COLORS[Math.max(0, curves.findIndex((c) => c.name === name))];
    const r = t.r === null ? "— (a flat curve)" : t.r.toFixed(3);
    const error = t.median_error === null ? "—" : `${formatNumber(t.median_error)} ${t.unit}`;
    line.append(swatch, `${name}: measured vs target r ${r} · median error ${error}`);
    return line;
  });
  $("cb-results").classList.remove("empty");
  $("cb-results").replaceChildren(...lines);
  const notices = result.notices.map((text) => Object.assign(document.createElement("li"), { textContent: text }));
  $("cb-notices").replaceChildren(...notices);
  $("cb-summary").textContent =
    `${result.method} · ${Number(result.seconds.toPrecision(4))} s, ${result.frames} frames · ` +
    `${result.distinct_codes} codes, ${result.changes} changes · chosen in ` +
    `${formatNumber(result.select_ms)} ms, ${formatNumber(result.render_ms)} ms in all`;
  $("cb-codes-info").textContent = `ringed: the ${result.distinct_codes} of ${book.codes} codes the last render used`;
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(result.blob);
  const download = $("cb-download");
  download.href = downloadUrl;
  download.classList.remove("disabled");
  download.setAttribute("aria-disabled", "false");
  $("cb-play").disabled = false;
  const warned = result.notices.length > 0;
  const notice = warned ? ` · ${result.notices[0]}` : "";
  setStatus(`codebook: rendered ${result.frames} frames${notice}`, warned ? "warn" : "");
  drawEditor();
  drawMap();
}

/** Play the code nearest code `k`'s own values (the colour's descriptor first), held HOLD s. */
async function playCode(k) {
  wakePlayer();
  const names = new Set([$("cb-color").value, "loudness", "centroid", "f0", ...book.descriptors.map((d) => d.name)]);
  const measured = [...names].map(desc).filter((d) => d && usable(d) && d.values[k] !== null);
  const chosen = measured.slice(0, book.limits.curves);
  if (!chosen.length) return;
  const constant = Object.fromEntries(chosen.map((d) => [d.name, [[0, d.values[k]], [1, d.values[k]]]]));
  busy(+1);
  try {
    const answer = await target({ curves: constant, seconds: HOLD, method: "greedy", smoothness: 0 });
    const counts = new Map();
    for (const code of answer.codes) counts.set(code, (counts.get(code) ?? 0) + 1);
    played = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
    const by = chosen.map((d) => d.name).join(", ");
    const unused = book.used[k] ? "" : " (unused in training)";
    $("cb-codes-info").textContent = played === k
      ? `code ${k}: held ${HOLD} s`
      : `code ${k}${unused}: played code ${played}, the nearest by ${by}`;
    play(answer.buffer, "code");
  } catch (error) {
    fail(error, "cb-codes-info");
  } finally {
    busy(-1);
  }
}

/** For tests and the console: where code `k` is drawn (CSS px in #cb-map), the last render. */
export const codebookView = {
  codePosition(k) {
    const [x, y] = mapPixel($("cb-map"), book, bounds, k);
    return { x, y };
  },
  result: () => result && { codes: result.codes, tracking: result.tracking, stale: result.stale },
};

// --- wiring ------------------------------------------------------------------------------------

const option = (value, text = value) => Object.assign(document.createElement("option"), { value, textContent: text });

function build() {
  const names = book.descriptors.filter(usable).map((d) => d.name);
  $("cb-method").replaceChildren(...book.methods.map((m) => option(m)));
  $("cb-color").replaceChildren(...names.map((n) => option(n)));
  $("cb-color").value = names.includes("centroid") ? "centroid" : names[0] ?? "";
  const smoothness = $("cb-smoothness");
  [smoothness.min, smoothness.max] = book.limits.smoothness.map(String);
  smoothness.value = String(book.limits.default_smoothness);
  [$("cb-seconds").min, $("cb-seconds").max] = [book.min_seconds, book.max_seconds].map(String);
  for (const i of [0, 1]) {
    const r = row(i);
    const choices = i === 0 ? names : ["", ...names];
    r.querySelector(".cb-desc").replaceChildren(...choices.map((n) => option(n, n || "— none —")));
    r.querySelector(".cb-preset").replaceChildren(option("", "— drawn —"), ...PRESET_NAMES.map((p) => option(p)));
    r.querySelector(".cb-weight").max = String(book.limits.weight[1]);
    curves[i].name = names.includes(DEFAULTS[i]) ? DEFAULTS[i] : choices[0];
    r.querySelector(".cb-desc").value = curves[i].name;
  }
  bounds = mapBounds(book);
  const used = book.used.filter(Boolean).length;
  $("cb-codes-info").textContent =
    `${book.codes} codes, ${used} used in training · one code per ${formatNumber(1000 * book.hop_seconds)} ms frame`;
  $("cb-results").classList.add("empty");
  $("cb-results").textContent = EMPTY;
  showLegend($("cb-legend"), desc($("cb-color").value));
  updateControls();
  drawMap();
  drawEditor();
}

for (const i of [0, 1]) {
  const r = row(i);
  r.querySelector(".cb-desc").addEventListener("change", (e) => {
    curves[i].name = e.target.value;
    if (curves[i].preset) return applyPreset(i, curves[i].preset);
    curves[i].values = null; // a drawn curve in another unit means nothing
    edited(i, "");
  });
  r.querySelector(".cb-preset").addEventListener("change", (e) => applyPreset(i, e.target.value));
  r.querySelector(".cb-clear").addEventListener("click", () => {
    curves[i].values = null;
    edited(i, "");
  });
  r.querySelector("input[type=radio]").addEventListener("change", () => {
    active = i;
    drawEditor();
  });
}

const editor = $("cb-editor");
editor.addEventListener("pointerdown", (e) => {
  if (!book) return;
  if (!curves[active].name) {
    setStatus(`choose a descriptor for curve ${active + 1} before drawing it`, "warn");
    return;
  }
  editor.setPointerCapture(e.pointerId);
  drawing = { last: null };
  drawAt(e);
});
editor.addEventListener("pointermove", (e) => drawing && drawAt(e));
for (const type of ["pointerup", "pointercancel"]) editor.addEventListener(type, () => (drawing = null));

const map = $("cb-map");
const codeUnder = (e) => {
  const rect = map.getBoundingClientRect();
  return book ? codeAt(map, book, bounds, e.clientX - rect.left, e.clientY - rect.top) : -1;
};
map.addEventListener("pointermove", (e) => {
  const k = codeUnder(e);
  if (k === hover) return;
  hover = k;
  showTooltip(k);
  drawMap();
});
map.addEventListener("pointerleave", () => {
  hover = -1;
  showTooltip(-1);
  drawMap();
});
map.addEventListener("click", (e) => {
  const k = codeUnder(e);
  if (k >= 0) playCode(k);
});

$("cb-color").addEventListener("change", () => {
  showLegend($("cb-legend"), desc($("cb-color").value));
  drawMap();
});
$("cb-seconds").addEventListener("input", drawEditor);
$("cb-render").addEventListener("click", render);
$("cb-play").addEventListener("click", () => (voice ? stop() : result && play(result.buffer, "render")));
new ResizeObserver(drawMap).observe(map);
new ResizeObserver(drawEditor).observe(editor);

on("info", async (info) => {
  const shown = Boolean(info.codebook);
  $("codebook-panel").hidden = !shown;
  document.querySelector(".layout").classList.toggle("with-codebook", shown);
  if (!shown) return;
  try {
    book = await getJSON("/api/codebook");
    build();
    $("codebook-panel").dataset.ready = "1";
  } catch (error) {
    $("cb-message").hidden = false; // the codebook can't be read: only why, and what to do
    $("codebook-panel").classList.add("unavailable");
    fail(error, "cb-message");
    $("codebook-panel").dataset.ready = "error";
  }
});
