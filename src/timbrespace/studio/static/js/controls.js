// The control panel: one slider per control of /api/info, in the control's user unit, with a
// numeric readout and a lock toggle.

import { formatNumber } from "./map.js";

/** A control's value for its number box: unitless controls (PCA axes, packs, custom) with two
 * decimals (never "-2.4e-8"); values with a unit as `formatNumber` writes them. */
export function formatValue(value, unit) {
  if (unit || !Number.isFinite(value)) return formatNumber(value);
  const text = value.toFixed(2);
  return text === "-0.00" ? "0.00" : text;
}

const MAIN = ["pitch", "attack", "release", "brightness", "loudness"];
const SVG = (shackle) =>
  `<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true"><rect x="3" y="7" width="10" height="8" rx="1.5" fill="currentColor"/><path d="${shackle}" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>`;
const LOCKED = SVG("M5 7V5a3 3 0 0 1 6 0v2");
const UNLOCKED = SVG("M5 7V5a3 3 0 0 1 5.9-.8");
const STEPS = 1000;

/** How a slider maps [0, STEPS] to a control value: linear, or logarithmic for Hz. */
class Scale {
  constructor(control) {
    this.log = control.unit === "Hz" && control.low > 0 && control.high / control.low > 2;
    this.low = control.low;
    this.high = control.high;
    this.widen = 0;
  }

  #domain() {
    const f = this.log ? Math.log : (v) => v;
    let lo = f(this.low);
    let hi = f(this.high);
    if (!(hi > lo)) {
      const pad = Math.abs(lo) * 0.1 || 1;
      lo -= pad;
      hi += pad;
    }
    const extra = (hi - lo) * this.widen;
    return [lo - extra, hi + extra];
  }

  toPos(value) {
    const [lo, hi] = this.#domain();
    const v = this.log ? Math.log(Math.max(value, 1e-9)) : value;
    return Math.round(Math.min(1, Math.max(0, (v - lo) / (hi - lo))) * STEPS);
  }

  toValue(pos) {
    const [lo, hi] = this.#domain();
    const v = lo + (pos / STEPS) * (hi - lo);
    return this.log ? Math.exp(v) : v;
  }
}

export class ControlPanel {
  /**
   * container: element; onMove(name, value, phase) with phase "input" (dragging) or "change"
   * (released / typed); onReset(name): the user double-clicked a name; onLock(name, locked).
   */
  constructor({ container, onMove, onReset, onLock }) {
    Object.assign(this, { container, onMove, onReset, onLock });
    this.rows = new Map();
    this.active = null; // the slider being dragged keeps its position while renders land
  }

  build(controls) {
    this.container.replaceChildren();
    this.rows.clear();
    const main = MAIN.map((n) => controls.find((c) => c.name === n)).filter(Boolean);
    const groups = [
      ["main", main, true],
      ["PCA axes", controls.filter((c) => c.kind === "pca"), true],
      ["packs", controls.filter((c) => c.kind === "pack"), true],
      ["custom", controls.filter((c) => c.kind === "custom"), true],
      [
        "descriptors",
        controls.filter((c) => c.kind === "descriptor" && !MAIN.includes(c.name)),
        false,
      ],
    ];
    for (const [title, list, open] of groups) {
      if (!list.length) continue;
      let group;
      if (open) {
        group = document.createElement("div");
        const h = document.createElement("h3");
        h.textContent = title;
        group.append(h);
      } else {
        group = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = `${title} (${list.length})`;
        group.append(summary);
      }
      group.className = "control-group";
      group.dataset.group = title;
      for (const control of list) group.append(this.#row(control));
      this.container.append(group);
    }
  }

  #row(control) {
    const scale = new Scale(control);
    const row = document.createElement("div");
    row.className = "control";
    row.dataset.name = control.name;
    const id = `control-${control.name.replace(/[^a-zA-Z0-9_-]/g, "_")}`;

    const label = document.createElement("label");
    label.className = "name";
    label.htmlFor = id;
    label.textContent = control.kind === "pack" ? control.name.replace(/^pack:/, "") : control.name;
    const unit = control.unit ? ` ${control.unit}` : "";
    label.title = `${control.name} (${control.kind}): ${formatNumber(control.low)} … ${formatNumber(control.high)}${unit} over the data — double-click to release`;

    const slider = document.createElement("input");
    slider.type = "range";
    slider.id = id;
    slider.min = "0";
    slider.max = String(STEPS);
    slider.step = "1";
    slider.value = String(STEPS / 2);
    slider.dataset.control = control.name;
    slider.dataset.testid = `control-${control.name}`;
    slider.setAttribute("aria-label", `${control.name}${unit}`);

    const readout = document.createElement("span");
    readout.className = "readout";
    const number = document.createElement("input");
    number.type = "number";
    number.step = "any";
    number.dataset.readout = control.name;
    number.setAttribute("aria-label", `${control.name} value${unit}`);
    const unitEl = document.createElement("span");
    unitEl.className = "unit";
    unitEl.textContent = control.unit || "";
    readout.append(number, unitEl);

    const lock = document.createElement("button");
    lock.type = "button";
    lock.className = "lock";
    lock.dataset.lock = control.name;
    lock.setAttribute("aria-pressed", "false");
    lock.title = `Lock ${control.name}: keep its value while other controls move`;
    lock.innerHTML = UNLOCKED;

    const entry = { control, scale, row, slider, number, lock, value: null };
    this.rows.set(control.name, entry);

    slider.addEventListener("pointerdown", () => {
      this.active = control.name;
    });
    const release = () => {
      if (this.active === control.name) this.active = null;
    };
    slider.addEventListener("pointerup", release);
    slider.addEventListener("blur", release);
    slider.addEventListener("input", () => {
      const value = scale.toValue(Number(slider.value));
      entry.value = value;
      number.value = formatValue(value, control.unit);
      this.onMove(control.name, value, "input");
    });
    slider.addEventListener("change", () => {
      this.active = null;
      const value = scale.toValue(Number(slider.value));
      entry.value = value;
      this.onMove(control.name, value, "change");
    });
    number.addEventListener("change", () => {
      const value = Number(number.value);
      if (number.value === "" || !Number.isFinite(value)) {
        number.value = formatValue(entry.value, control.unit);
        return;
      }
      entry.value = value;
      slider.value = String(scale.toPos(value));
      this.onMove(control.name, value, "change");
    });
    label.addEventListener("dblclick", () => this.onReset(control.name));
    lock.addEventListener("click", () => {
      const locked = lock.getAttribute("aria-pressed") !== "true";
      this.setLocked(control.name, locked);
      this.onLock(control.name, locked);
    });

    row.append(label, slider, readout, lock);
    return row;
  }

  setLocked(name, locked) {
    const entry = this.rows.get(name);
    if (!entry) return;
    entry.lock.setAttribute("aria-pressed", String(locked));
    entry.lock.innerHTML = locked ? LOCKED : UNLOCKED;
    entry.row.classList.toggle("locked", locked);
    entry.slider.disabled = locked;
    entry.number.disabled = locked;
  }

  setMoved(names) {
    for (const [name, entry] of this.rows) entry.row.classList.toggle("moved", names.has(name));
  }

  /** Widen every slider's range by `fraction` of it on each side (extrapolation). */
  setWiden(fraction) {
    for (const entry of this.rows.values()) {
      entry.scale.widen = fraction;
      if (entry.value !== null) entry.slider.value = String(entry.scale.toPos(entry.value));
    }
  }

  /** Show values after a render (no events fire: setting .value programmatically is silent). */
  setValues(values, skip = new Set()) {
    for (const [name, value] of Object.entries(values || {})) {
      const entry = this.rows.get(name);
      if (!entry || skip.has(name) || typeof value !== "number" || !Number.isFinite(value)) {
        continue;
      }
      entry.value = value;
      if (this.active === name) continue;
      entry.slider.value = String(entry.scale.toPos(value));
      if (document.activeElement !== entry.number) {
        entry.number.value = formatValue(value, entry.control.unit);
      }
    }
  }
}
