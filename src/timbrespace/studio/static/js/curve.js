// A canvas curve editor over time t ∈ [0, 1]: either one flat level dragged up and down, or
// breakpoints (click to add, drag to move, double-click to delete). Shaded zones mark ranges
// (for A→B: below 0 and above 1 extrapolate).

import { fitCanvas } from "./dsp.js";
import { formatNumber } from "./map.js";

const HIT = 8; // CSS px

export class CurveEditor {
  /**
   * canvas; yMin, yMax: the value range shown; zones: [[lo, hi, label]] shaded; guides:
   * [[value, label]] horizontal lines; mode "flat" | "points"; onChange(value, phase) where
   * value is the level (flat) or [[t, v], ...] (points) and phase "start" | "move" | "end".
   */
  constructor({ canvas, yMin, yMax, zones = [], guides = [], mode = "flat", level = 0.5, points, onChange }) {
    Object.assign(this, { canvas, yMin, yMax, zones, guides, onChange });
    this.level = level;
    this.points = points ?? [[0, yMin + (yMax - yMin) / 3], [1, yMin + (2 * (yMax - yMin)) / 3]];
    this.drag = -1; // index of the dragged point, or "level"
    this.setMode(mode);
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
    canvas.addEventListener("pointercancel", (e) => this.#up(e));
    canvas.addEventListener("dblclick", (e) => this.#dblclick(e));
    canvas.addEventListener("keydown", (e) => this.#key(e));
    new ResizeObserver(() => this.draw()).observe(canvas);
  }

  setMode(mode) {
    this.mode = mode;
    this.canvas.classList.toggle("points", mode === "points");
    this.draw();
  }

  value() {
    return this.mode === "flat" ? this.level : this.points.map(([t, v]) => [t, v]);
  }

  setLevel(level) {
    this.level = this.#clampY(level);
    this.draw();
  }

  setPoints(points) {
    this.points = points.map(([t, v]) => [t, v]);
    this.draw();
  }

  #clampY(v) {
    return Math.min(this.yMax, Math.max(this.yMin, v));
  }

  #x(t) {
    return 10 + t * (this.canvas.clientWidth - 20);
  }

  #y(v) {
    return 8 + (1 - (v - this.yMin) / (this.yMax - this.yMin)) * (this.canvas.clientHeight - 16);
  }

  #t(px) {
    return Math.min(1, Math.max(0, (px - 10) / Math.max(1, this.canvas.clientWidth - 20)));
  }

  #v(py) {
    const v = this.yMin + (1 - (py - 8) / Math.max(1, this.canvas.clientHeight - 16)) * (this.yMax - this.yMin);
    return this.#clampY(v);
  }

  /** CSS px of the flat level's handle or of point `i` (for tests and hit tests). */
  handlePosition(i = 0) {
    if (this.mode === "flat") return { x: this.canvas.clientWidth / 2, y: this.#y(this.level) };
    const [t, v] = this.points[i];
    return { x: this.#x(t), y: this.#y(v) };
  }

  draw() {
    const canvas = this.canvas;
    const [width, height] = fitCanvas(canvas);
    const ratio = width / Math.max(1, canvas.clientWidth);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#0b0d11";
    ctx.fillRect(0, 0, width, height);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    const w = canvas.clientWidth;
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (const [lo, hi, label] of this.zones) {
      const top = this.#y(Math.min(hi, this.yMax));
      const bottom = this.#y(Math.max(lo, this.yMin));
      ctx.fillStyle = "rgba(224, 161, 74, 0.10)";
      ctx.fillRect(0, top, w, bottom - top);
      ctx.fillStyle = "rgba(224, 161, 74, 0.55)";
      ctx.textAlign = "right";
      ctx.fillText(label, w - 8, (top + bottom) / 2);
    }
    for (const [value, label] of this.guides) {
      const y = this.#y(value);
      ctx.strokeStyle = "#2a2f3a";
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(w, y);
      ctx.stroke();
      ctx.fillStyle = "#8a93a3";
      ctx.textAlign = "left";
      ctx.fillText(label, 4, y - 7);
    }
    ctx.strokeStyle = "#47c1bf";
    ctx.fillStyle = "#47c1bf";
    ctx.lineWidth = 2;
    ctx.beginPath();
    if (this.mode === "flat") {
      const y = this.#y(this.level);
      ctx.moveTo(this.#x(0), y);
      ctx.lineTo(this.#x(1), y);
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(w / 2, y, 6, 0, 2 * Math.PI);
      ctx.fill();
      ctx.fillStyle = "#dde2ea";
      ctx.textAlign = "left";
      ctx.fillText(formatNumber(this.level), w / 2 + 10, y - 10);
    } else {
      this.points.forEach(([t, v], i) => {
        const px = this.#x(t);
        const py = this.#y(v);
        if (i === 0) {
          ctx.moveTo(this.#x(0), py);
          ctx.lineTo(px, py);
        } else ctx.lineTo(px, py);
      });
      const last = this.points[this.points.length - 1];
      ctx.lineTo(this.#x(1), this.#y(last[1]));
      ctx.stroke();
      for (const [t, v] of this.points) {
        ctx.beginPath();
        ctx.arc(this.#x(t), this.#y(v), 5, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }

  #pointer(e) {
    const rect = this.canvas.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }

  #hit(px, py) {
    let best = -1;
    let bestDistance = HIT * HIT;
    this.points.forEach(([t, v], i) => {
      const d = (this.#x(t) - px) ** 2 + (this.#y(v) - py) ** 2;
      if (d <= bestDistance) {
        best = i;
        bestDistance = d;
      }
    });
    return best;
  }

  #down(e) {
    if (e.button !== 0) return;
    const [px, py] = this.#pointer(e);
    this.canvas.setPointerCapture(e.pointerId);
    if (this.mode === "flat") {
      this.drag = "level";
      this.level = this.#v(py);
    } else {
      let index = this.#hit(px, py);
      if (index < 0) {
        const t = this.#t(px);
        index = this.points.findIndex(([pt]) => pt > t);
        if (index < 0) index = this.points.length;
        if (this.points.some(([pt]) => Math.abs(pt - t) < 1e-3)) return;
        this.points.splice(index, 0, [t, this.#v(py)]);
      }
      this.drag = index;
    }
    this.draw();
    this.onChange(this.value(), "start");
  }

  #move(e) {
    if (this.drag === -1) return;
    const [px, py] = this.#pointer(e);
    if (this.drag === "level") {
      this.level = this.#v(py);
    } else {
      const i = this.drag;
      const lo = i > 0 ? this.points[i - 1][0] + 1e-3 : 0;
      const hi = i < this.points.length - 1 ? this.points[i + 1][0] - 1e-3 : 1;
      this.points[i] = [Math.min(hi, Math.max(lo, this.#t(px))), this.#v(py)];
    }
    this.draw();
    this.onChange(this.value(), "move");
  }

  #up(e) {
    if (this.drag === -1) return;
    this.drag = -1;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    this.onChange(this.value(), "end");
  }

  #dblclick(e) {
    if (this.mode !== "points" || this.points.length <= 1) return;
    const [px, py] = this.#pointer(e);
    const index = this.#hit(px, py);
    if (index < 0) return;
    this.points.splice(index, 1);
    this.draw();
    this.onChange(this.value(), "end");
  }

  #key(e) {
    if (this.mode !== "flat" || !["ArrowUp", "ArrowDown"].includes(e.key)) return;
    e.preventDefault();
    const step = (e.shiftKey ? 0.01 : 0.05) * (e.key === "ArrowUp" ? 1 : -1);
    this.level = this.#clampY(Math.round((this.level + step) * 100) / 100);
    this.draw();
    this.onChange(this.value(), "end");
  }
}
