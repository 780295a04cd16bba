// Drawing for the codebook panel (codebook-panel.js): descriptor axes in their units (log for
// log-scaled descriptors: Hz, rms), the curve presets, the map of codes and the curve editor.
// Pure views: every function draws what it is given and keeps no state.

import { fitCanvas, viridis, viridisGradient } from "./dsp.js";
import { formatNumber } from "./map.js";

export const COLORS = ["#47c1bf", "#e0a14a"]; // curve 1, curve 2 (as their swatches)
const MEASURED = ["#c9fffd", "#ffe2b8"]; // the measured curves, lighter than their targets
const PAD = { left: 58, right: 58, top: 16, bottom: 22 }; // editor plot margins, CSS px
const MAP_MARGIN = 14; // CSS px around the codes
const BACKGROUND = "#0b0d11";

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// --- axes ---------------------------------------------------------------------------------------

/** Whether descriptor `d` has a range (some code measures it). */
export const usable = (d) => d.range[0] !== null && d.range[1] !== null;
/** Whether `d`'s axis is logarithmic (Hz, rms: log and semitone scales, positive values). */
export const isLog = (d) => (d.scale === "log" || d.scale === "semitones") && d.range[0] > 0;
/** `1234 Hz`; a ratio without its unit. */
export const withUnit = (d, v) => `${formatNumber(v)}${d.unit && d.unit !== "ratio" ? ` ${d.unit}` : ""}`;

/** The axis of `d`: the range the codebook renders, widened when it is a single value. */
export function span(d) {
  const [lo, hi] = d.range;
  if (hi > lo) return [lo, hi];
  return isLog(d) ? [lo / 1.25, hi * 1.25] : [lo - 1, hi + 1];
}

/** A value in `d`'s unit → its position on the axis (0 … 1 over `span`). */
export function toAxis(d, v) {
  const [lo, hi] = span(d);
  return isLog(d) ? Math.log(v / lo) / Math.log(hi / lo) : (v - lo) / (hi - lo);
}

/** A position on `d`'s axis (0 … 1) → the value in its unit. */
export function fromAxis(d, u) {
  const [lo, hi] = span(d);
  return isLog(d) ? lo * (hi / lo) ** u : lo + u * (hi - lo);
}

/** A tick's label: whole numbers without decimals (`-20`, `1 s`), else `formatNumber`'s. */
function tickLabel(v) {
  const whole = Math.abs(v - Math.round(v)) < 1e-9 * Math.max(1, Math.abs(v));
  return whole ? String(Math.round(v)) : formatNumber(v);
}

/** About `count` round values between lo and hi. */
function roundTicks(lo, hi, count) {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const m = raw / power;
  const step = (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * power;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(v);
  return out;
}

/** Tick values of `d`'s axis: 1-2-5 per decade on a log axis (1 only when many), else round. */
function ticks(d) {
  const [lo, hi] = span(d);
  if (isLog(d)) {
    const out = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) if (m * 10 ** e >= lo && m * 10 ** e <= hi) out.push(m * 10 ** e);
    }
    if (out.length > 7) return out.filter((v) => v.toExponential().startsWith("1"));
    if (out.length >= 2) return out;
  }
  return roundTicks(lo, hi, 4);
}

// --- presets ------------------------------------------------------------------------------------

const ramp = (d, t) => fromAxis(d, 0) + t * (fromAxis(d, 1) - fromAxis(d, 0)); // linear in the unit
/** Geometric from the axis' low end to its high end (on a log axis: a straight line). */
function logRamp(d, t) {
  const [lo, hi] = [fromAxis(d, 0), fromAxis(d, 1)];
  return isLog(d) || lo <= 0 ? fromAxis(d, t) : lo * (hi / lo) ** t;
}
const PRESETS = {
  const: (d) => fromAxis(d, 0.5),
  ramp: (d, t) => ramp(d, t),
  "log ramp": logRamp,
  "exp ramp": (d, t) => ramp(d, (Math.exp(3 * t) - 1) / (Math.exp(3) - 1)),
  sine: (d, t) => fromAxis(d, 0.5 + 0.4 * Math.sin(4 * Math.PI * t)), // two cycles
  steps: (d, t) => fromAxis(d, 0.15 + (0.7 * Math.min(3, Math.floor(4 * t))) / 3), // four levels
};
export const PRESET_NAMES = Object.keys(PRESETS);

/** `n` values of preset `name` over `d`'s axis (the codebook's range, in `d`'s unit). */
export function presetValues(name, d, n) {
  return Float64Array.from({ length: n }, (_, j) => PRESETS[name](d, j / (n - 1)));
}

// --- the map of codes ---------------------------------------------------------------------------

/** The map's extent `[[x0, x1], [y0, y1]]` over every code, padded. */
export function mapBounds(book) {
  const padded = (values) => {
    const [lo, hi] = [Math.min(...values), Math.max(...values)];
    const pad = (hi - lo || 1) * 0.06;
    return [lo - pad, hi + pad];
  };
  return [padded(book.map.map((p) => p[0] ?? 0)), padded(book.map.map((p) => p[1] ?? 0))];
}

/** CSS px (inside `canvas`) of code `k`. */
export function mapPixel(canvas, book, bounds, k) {
  const [[x0, x1], [y0, y1]] = bounds;
  const [x, y] = book.map[k].map((v) => v ?? 0);
  const width = canvas.clientWidth - 2 * MAP_MARGIN;
  const height = canvas.clientHeight - 2 * MAP_MARGIN;
  return [MAP_MARGIN + ((x - x0) / (x1 - x0)) * width, MAP_MARGIN + (1 - (y - y0) / (y1 - y0)) * height];
}

/** A code's dot: bigger the more training frames it encodes; unused codes small. */
export function codeRadius(book, k) {
  const most = Math.max(1, ...book.usage);
  return book.used[k] ? 3 + 4 * Math.sqrt(book.usage[k] / most) : 2.5;
}

/** The code whose dot is nearest CSS px (x, y) of the canvas, within 10 px; else -1. */
export function codeAt(canvas, book, bounds, x, y) {
  let best = -1;
  let nearest = 10;
  for (let k = 0; k < book.codes; k++) {
    const [px, py] = mapPixel(canvas, book, bounds, k);
    const distance = Math.hypot(px - x, py - y);
    if (distance < nearest) [best, nearest] = [k, distance];
  }
  return best;
}

function codeColor(d, k) {
  const v = d.values[k];
  if (v === null || !usable(d) || (isLog(d) && v <= 0)) return "#555b66";
  const [r, g, b] = viridis(clamp(toAxis(d, v), 0, 1));
  return `rgb(${r | 0},${g | 0},${b | 0})`;
}

/**
 * The codes on `canvas`: view = {book, bounds, color (descriptor), rendered (Set of the codes
 * of the last render, or null), played, sounding, hover (code or -1)}.
 */
export function drawCodeMap(canvas, view) {
  const [width, height] = fitCanvas(canvas);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, width, height);
  const { book, bounds, color, rendered } = view;
  if (!book) return;
  const ratio = width / Math.max(1, canvas.clientWidth);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const ring = (k, stroke, extra, lineWidth) => {
    const [px, py] = mapPixel(canvas, book, bounds, k);
    ctx.strokeStyle = stroke;
    ctx.lineWidth = lineWidth;
    ctx.beginPath();
    ctx.arc(px, py, codeRadius(book, k) + extra, 0, 2 * Math.PI);
    ctx.stroke();
  };
  for (let k = 0; k < book.codes; k++) {
    const [px, py] = mapPixel(canvas, book, bounds, k);
    ctx.globalAlpha = rendered && !rendered.has(k) ? 0.4 : 0.95;
    ctx.fillStyle = book.used[k] && color ? codeColor(color, k) : "#3a3f49";
    ctx.beginPath();
    ctx.arc(px, py, codeRadius(book, k), 0, 2 * Math.PI);
    ctx.fill();
  }
  ctx.globalAlpha = 1;
  if (rendered) for (const k of rendered) ring(k, "#dde2ea", 2.5, 1.2);
  if (view.played >= 0) ring(view.played, COLORS[1], 4, 2);
  if (view.sounding >= 0) ring(view.sounding, COLORS[1], 5, 2.5);
  if (view.hover >= 0) ring(view.hover, COLORS[0], 4, 2);
}

/** The colour scale of `d` into `legend`: low [gradient] high, in its unit. */
export function showLegend(legend, d) {
  legend.replaceChildren();
  if (!d || !usable(d)) return;
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.style.background = viridisGradient;
  const [lo, hi] = span(d);
  legend.append(withUnit(d, lo), bar, withUnit(d, hi), isLog(d) ? " (log)" : "", " · grey: unused in training");
}

// --- the curve editor ---------------------------------------------------------------------------

/** The plot area of the editor, CSS px: {x0, x1, y0, y1}. */
export function plotBox(canvas) {
  return { x0: PAD.left, x1: canvas.clientWidth - PAD.right, y0: PAD.top, y1: canvas.clientHeight - PAD.bottom };
}

/** `values` `[n]` (in `d`'s unit over the length, null/NaN gaps) as a line; `steps`: a staircase. */
function plotLine(ctx, box, d, values, { color, width, alpha = 1, dash = [], steps = false }) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.globalAlpha = alpha;
  ctx.setLineDash(dash);
  ctx.beginPath();
  let lastY = null; // null: the pen is up (a gap)
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v) || (isLog(d) && v <= 0)) {
      lastY = null;
      continue;
    }
    const x = box.x0 + (i / Math.max(1, n - 1)) * (box.x1 - box.x0);
    const y = box.y1 - clamp(toAxis(d, v), -0.05, 1.05) * (box.y1 - box.y0);
    if (lastY === null) ctx.moveTo(x, y);
    else {
      if (steps) ctx.lineTo(x, lastY);
      ctx.lineTo(x, y);
    }
    lastY = y;
  }
  ctx.stroke();
  ctx.setLineDash([]);
  ctx.globalAlpha = 1;
}

/** `d`'s ticks on the left (with grid lines) or right side, and its name and unit on top. */
function drawAxis(ctx, box, d, side, color) {
  const left = side === "left";
  const x = left ? box.x0 - 5 : box.x1 + 5;
  ctx.textAlign = left ? "right" : "left";
  ctx.textBaseline = "middle";
  for (const v of ticks(d)) {
    const y = box.y1 - toAxis(d, v) * (box.y1 - box.y0);
    if (left) {
      ctx.fillStyle = "#1d222b";
      ctx.fillRect(box.x0, Math.round(y), box.x1 - box.x0, 1);
    }
    ctx.fillStyle = color;
    ctx.fillText(tickLabel(v), x, y);
  }
  ctx.textAlign = left ? "left" : "right";
  ctx.textBaseline = "top";
  const label = `${d.name}${d.unit && d.unit !== "ratio" ? ` (${d.unit})` : ""}`;
  ctx.fillText(label, left ? 4 : box.x1 + PAD.right - 4, 2);
}

function drawTimeAxis(ctx, box, seconds) {
  ctx.fillStyle = "#8a93a3";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const s of roundTicks(0, seconds, 5)) {
    const x = box.x0 + (s / seconds) * (box.x1 - box.x0);
    ctx.fillRect(Math.round(x), box.y1, 1, 4);
    ctx.fillText(`${tickLabel(s)} s`, x, box.y1 + 6);
  }
}

/**
 * The editor: view = {curves: [{d, values}] (d null: no curve), active (the curve drawn on:
 * its axis left, on top), seconds, result ({measured, predicted} by name, stale) or null,
 * playhead (0 … 1) or null}. Targets are wide and soft, the measured curves thin and bright,
 * the chosen codes' own values a dotted staircase.
 */
export function drawCurves(canvas, view) {
  const [width, height] = fitCanvas(canvas);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = BACKGROUND;
  ctx.fillRect(0, 0, width, height);
  const ratio = width / Math.max(1, canvas.clientWidth);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.font = "11px system-ui, sans-serif";
  const box = plotBox(canvas);
  const { curves, active, result } = view;
  drawTimeAxis(ctx, box, view.seconds);
  const order = [1 - active, active];
  for (const i of order) {
    if (curves[i].d) drawAxis(ctx, box, curves[i].d, i === active ? "left" : "right", COLORS[i]);
  }
  ctx.strokeStyle = "#2a2f3a";
  ctx.lineWidth = 1;
  ctx.strokeRect(box.x0 + 0.5, box.y0 + 0.5, box.x1 - box.x0, box.y1 - box.y0);
  for (const i of order) {
    const { d, values } = curves[i];
    if (!d) continue;
    if (values) plotLine(ctx, box, d, values, { color: COLORS[i], width: 5, alpha: i === active ? 0.5 : 0.3 });
    if (result && result.measured[d.name]) {
      const alpha = result.stale ? 0.35 : 1;
      plotLine(ctx, box, d, result.predicted[d.name], { color: COLORS[i], width: 1, alpha, dash: [2, 3], steps: true });
      plotLine(ctx, box, d, result.measured[d.name], { color: MEASURED[i], width: 1.5, alpha });
    }
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillStyle = "#5d6572";
  const middle = [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2];
  if (!curves.some((c) => c.values)) {
    ctx.fillText("draw a target curve here with the mouse, or choose a preset", ...middle);
  } else if (result) {
    ctx.textBaseline = "top";
    const key = result.stale
      ? "bright and dotted: the render before the last edit"
      : "soft: target · bright: measured · dotted: the codes' values";
    ctx.fillText(key, middle[0], 2);
  }
  if (view.playhead !== null && view.playhead >= 0 && view.playhead <= 1) {
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(box.x0 + view.playhead * (box.x1 - box.x0), box.y0, 1, box.y1 - box.y0);
  }
}
