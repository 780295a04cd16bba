// The latent map: a 2-D PCA scatter on a canvas. Hover names a sound, a click on a point loads
// it, a click or drag on empty space generates at that map position. A cross marks where the
// current sound lies (the server's projection of its latent), a fading trail the last places
// it was, and numbered rings the snapshots.

import { fitCanvas, viridis, viridisGradient } from "./dsp.js";

// the pack colours, in pack order: timbrespace.plots.PACK_PALETTE is the same list (`plot`)
export const PALETTE = [
  "#47c1bf", "#e0a14a", "#8f7ae5", "#ef6b73", "#7bc96f", "#5aa9e6", "#e57ac8", "#c9c36f",
  "#6fc9a8", "#e68a5a", "#a3a8b5", "#b38de0", "#5ae6d2", "#e6d25a", "#7f95ff", "#ff8f8f",
];
const HIT_RADIUS = 7; // CSS px
const TRAIL = 8; // places kept behind the marker
const MARKER = "#e0a14a";

/** The colour of pack number `i` (its index in /api/info's `packs`), as on the map. */
export function packColor(i) {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

export class LatentMap {
  /**
   * canvas, tooltip, legend, axes: elements; onPick(index) for a point, onGenerate([x, y],
   * phase) for empty space with phase "start" | "move" | "end".
   */
  constructor({ canvas, tooltip, legend, axes, onPick, onGenerate }) {
    Object.assign(this, { canvas, tooltip, legend, axes, onPick, onGenerate });
    this.data = null;
    this.marker = null; // [x, y] in map units
    this.trail = []; // earlier marker places, oldest first
    this.snapshots = []; // [{n, xy}]
    this.hover = -1;
    this.selected = -1;
    this.dragging = false;
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
    canvas.addEventListener("pointercancel", (e) => this.#up(e));
    canvas.addEventListener("pointerleave", () => this.#leave());
    canvas.addEventListener("keydown", (e) => this.#key(e));
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  setData(data) {
    this.data = data;
    const xs = data.x;
    const ys = data.y;
    const bounds = (v) => {
      let lo = Infinity;
      let hi = -Infinity;
      for (const a of v) {
        if (Number.isFinite(a)) {
          lo = Math.min(lo, a);
          hi = Math.max(hi, a);
        }
      }
      if (!Number.isFinite(lo)) return [-1, 1];
      const pad = (hi - lo || 1) * 0.08;
      return [lo - pad, hi + pad];
    };
    this.xRange = bounds(xs);
    this.yRange = bounds(ys);
    if (data.color_kind === "value") {
      const values = data.color.filter((v) => v !== null && Number.isFinite(v));
      this.valueRange = values.length
        ? [Math.min(...values), Math.max(...values)]
        : [0, 1];
    }
    this.#legend();
    const pct = (v) => (v === undefined || v === null ? "" : ` (${(v * 100).toFixed(0)}%)`);
    const explained = data.explained || [];
    this.axes.textContent = `x: PC1${pct(explained[0])} · y: PC2${pct(explained[1])}`;
    this.draw();
  }

  /** Map units → CSS px inside the canvas. */
  toPixel(x, y) {
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const [x0, x1] = this.xRange;
    const [y0, y1] = this.yRange;
    return [((x - x0) / (x1 - x0)) * w, (1 - (y - y0) / (y1 - y0)) * h];
  }

  toMap(px, py) {
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const [x0, x1] = this.xRange;
    const [y0, y1] = this.yRange;
    return [x0 + (px / w) * (x1 - x0), y0 + (1 - py / h) * (y1 - y0)];
  }

  /** CSS px of point `i` relative to the canvas (for tests and the keyboard). */
  pointPosition(i) {
    if (!this.data) return null;
    const [x, y] = this.toPixel(this.data.x[i], this.data.y[i]);
    return { x, y };
  }

  setMarker(xy, selected = -1) {
    this.marker = xy;
    this.selected = selected;
    this.draw();
  }

  /** Where the current sound lies now: the marker moves there, leaving its last place on
   * the trail. */
  setPosition(xy, selected = -1) {
    const last = this.trail.at(-1);
    const before = this.placed;
    if (before && xy && !(before[0] === xy[0] && before[1] === xy[1])) {
      if (!last || last[0] !== before[0] || last[1] !== before[1]) this.trail.push(before);
      if (this.trail.length > TRAIL) this.trail.splice(0, this.trail.length - TRAIL);
    }
    if (xy) this.placed = xy;
    this.setMarker(xy, selected);
  }

  /** Numbered rings where the snapshots lie: [{n, xy}]. */
  setSnapshots(snapshots) {
    this.snapshots = snapshots;
    this.draw();
  }

  colorOf(i) {
    const data = this.data;
    if (data.color_kind === "category") {
      const c = data.color[i];
      return c === null || c === undefined || c < 0 ? "#555b66" : packColor(c);
    }
    const v = data.color[i];
    if (v === null || !Number.isFinite(v)) return "#555b66";
    const [lo, hi] = this.valueRange;
    const [r, g, b] = viridis((v - lo) / (hi - lo || 1));
    return `rgb(${r | 0},${g | 0},${b | 0})`;
  }

  #legend() {
    const data = this.data;
    this.legend.replaceChildren();
    if (data.color_kind === "category") {
      data.categories.forEach((name, i) => {
        const item = document.createElement("span");
        const sw = document.createElement("span");
        sw.className = "sw";
        sw.style.background = packColor(i);
        item.append(sw, name);
        this.legend.append(item);
      });
    } else {
      const [lo, hi] = this.valueRange;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.style.background = viridisGradient;
      const unit = data.unit ? ` ${data.unit}` : "";
      this.legend.append(formatNumber(lo) + unit, bar, formatNumber(hi) + unit);
    }
  }

  draw() {
    const canvas = this.canvas;
    const [width, height] = fitCanvas(canvas);
    const ctx = canvas.getContext("2d");
    const ratio = width / Math.max(1, canvas.clientWidth);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0d11";
    ctx.fillRect(0, 0, width, height);
    if (!this.data) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    // axes through the data mean (0, 0)
    const [ox, oy] = this.toPixel(0, 0);
    ctx.strokeStyle = "#1d222b";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(ox, 0);
    ctx.lineTo(ox, canvas.clientHeight);
    ctx.moveTo(0, oy);
    ctx.lineTo(canvas.clientWidth, oy);
    ctx.stroke();
    const { x, y } = this.data;
    for (let i = 0; i < x.length; i++) {
      const [px, py] = this.toPixel(x[i], y[i]);
      ctx.fillStyle = this.colorOf(i);
      ctx.globalAlpha = 0.85;
      ctx.beginPath();
      ctx.arc(px, py, 3.2, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    const ring = (i, color, radius) => {
      const [px, py] = this.toPixel(x[i], y[i]);
      ctx.strokeStyle = color;
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(px, py, radius, 0, 2 * Math.PI);
      ctx.stroke();
    };
    if (this.hover >= 0) ring(this.hover, "#ffffff", 6);
    if (this.selected >= 0) ring(this.selected, MARKER, 7);
    this.#drawSnapshots(ctx);
    this.#drawTrail(ctx);
    if (this.marker) {
      const [px, py] = this.toPixel(this.marker[0], this.marker[1]);
      const [mx, my] = this.#inside(px, py);
      ctx.strokeStyle = "#0b0d11";
      ctx.lineWidth = 4;
      this.#cross(ctx, mx, my, 10);
      ctx.strokeStyle = MARKER;
      ctx.lineWidth = 2;
      this.#cross(ctx, mx, my, 10);
      if (mx !== px || my !== py) {
        // beyond the map's edge: a dashed ring on the edge, toward where it lies
        ctx.setLineDash([3, 3]);
        ctx.beginPath();
        ctx.arc(mx, my, 7, 0, 2 * Math.PI);
        ctx.stroke();
        ctx.setLineDash([]);
      }
    }
  }

  /** A pixel position pulled inside the canvas (what lies beyond the map shows on its edge). */
  #inside(px, py) {
    const m = 6;
    return [clamp(px, m, this.canvas.clientWidth - m), clamp(py, m, this.canvas.clientHeight - m)];
  }

  #cross(ctx, x, y, r) {
    ctx.beginPath();
    ctx.moveTo(x - r, y);
    ctx.lineTo(x + r, y);
    ctx.moveTo(x, y - r);
    ctx.lineTo(x, y + r);
    ctx.stroke();
  }

  #drawTrail(ctx) {
    const points = [...this.trail, ...(this.marker ? [this.marker] : [])].map(([x, y]) =>
      this.#inside(...this.toPixel(x, y)),
    );
    ctx.strokeStyle = MARKER;
    ctx.fillStyle = MARKER;
    ctx.lineWidth = 1.2;
    for (let i = 1; i < points.length; i++) {
      ctx.globalAlpha = 0.15 + (0.5 * i) / points.length;
      ctx.beginPath();
      ctx.moveTo(...points[i - 1]);
      ctx.lineTo(...points[i]);
      ctx.stroke();
    }
    this.trail.forEach(([x, y], i) => {
      const [px, py] = this.#inside(...this.toPixel(x, y));
      ctx.globalAlpha = 0.25 + (0.6 * (i + 1)) / (this.trail.length + 1);
      ctx.beginPath();
      ctx.arc(px, py, 2.6, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
  }

  #drawSnapshots(ctx) {
    ctx.font = "600 10px system-ui, sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const { n, xy } of this.snapshots) {
      const [px, py] = this.#inside(...this.toPixel(xy[0], xy[1]));
      ctx.fillStyle = "#0b0d11cc";
      ctx.strokeStyle = "#dde2ea";
      ctx.lineWidth = 1.2;
      ctx.beginPath();
      ctx.arc(px, py, 8, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = "#dde2ea";
      ctx.fillText(String(n), px, py + 0.5);
    }
  }

  #pointer(e) {
    const rect = this.canvas.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  /** Index of the point nearest to (px, py) within the hit radius, or −1. */
  hit(px, py) {
    if (!this.data) return -1;
    let best = -1;
    let bestDistance = HIT_RADIUS * HIT_RADIUS;
    const { x, y } = this.data;
    for (let i = 0; i < x.length; i++) {
      const [qx, qy] = this.toPixel(x[i], y[i]);
      const d = (qx - px) ** 2 + (qy - py) ** 2;
      if (d <= bestDistance) {
        bestDistance = d;
        best = i;
      }
    }
    return best;
  }

  #move(e) {
    if (!this.data) return;
    const [px, py] = this.#pointer(e);
    if (this.dragging) {
      const xy = this.toMap(clamp(px, 0, this.canvas.clientWidth), clamp(py, 0, this.canvas.clientHeight));
      this.setMarker(xy);
      this.onGenerate(xy, "move");
      return;
    }
    const hover = this.hit(px, py);
    if (hover !== this.hover) {
      this.hover = hover;
      this.draw();
    }
    this.canvas.classList.toggle("over-point", hover >= 0);
    if (hover >= 0) {
      this.tooltip.textContent = this.data.sounds[hover];
      this.tooltip.style.left = `${px}px`;
      this.tooltip.style.top = `${py}px`;
      this.tooltip.hidden = false;
    } else {
      this.tooltip.hidden = true;
    }
  }

  #down(e) {
    if (!this.data || e.button !== 0) return;
    const [px, py] = this.#pointer(e);
    const index = this.hit(px, py);
    if (index >= 0) {
      this.setMarker(null, index);
      this.onPick(index);
      return;
    }
    this.dragging = true;
    this.canvas.setPointerCapture(e.pointerId);
    const xy = this.toMap(px, py);
    this.setMarker(xy);
    this.onGenerate(xy, "start");
  }

  #up(e) {
    if (!this.dragging) return;
    this.dragging = false;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    if (this.marker) this.onGenerate(this.marker, "end");
  }

  #leave() {
    this.tooltip.hidden = true;
    if (this.hover >= 0) {
      this.hover = -1;
      this.draw();
    }
  }

  #key(e) {
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (!this.data || !(e.key in steps)) return;
    e.preventDefault();
    const [dx, dy] = steps[e.key];
    const fine = e.shiftKey ? 0.2 : 1;
    const start = this.marker
      ?? (this.selected >= 0 ? [this.data.x[this.selected], this.data.y[this.selected]] : [0, 0]);
    const xy = [
      start[0] + dx * fine * 0.03 * (this.xRange[1] - this.xRange[0]),
      start[1] + dy * fine * 0.03 * (this.yRange[1] - this.yRange[0]),
    ];
    this.setMarker(xy);
    this.onGenerate(xy, "key");
  }
}

function clamp(v, lo, hi) {
  return Math.min(hi, Math.max(lo, v));
}

export function formatNumber(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  const a = Math.abs(v);
  if (a >= 1e6) return v.toExponential(2);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  if (a >= 0.01) return v.toFixed(3);
  if (a < 1e-9) return "0";
  if (a >= 1e-6) return String(Number(v.toPrecision(2)));
  return v.toExponential(1);
}
