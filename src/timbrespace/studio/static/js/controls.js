// The control panel: one slider per control of /api/info, in the control's user unit, with a
// text box and a lock toggle. After a render the boxes show what the sound measures (the
// request while dragging), and a note under a set or warned slider reads "asked → measured"
// and the warnings naming it, and an error about it until a later move of it succeeds. Weak
// controls are greyed with their reason. The main controls (pitch, attack, release,
// brightness, loudness, and custom ones) show; PCA axes, packs and the other descriptors wait
// in a collapsed "Advanced" section, whose state the browser remembers.

import { formatNumber, packColor } from "./map.js";
import { formatReading, parseReading, warningsByControl } from "./readouts.js";

const MAIN = ["pitch", "attack", "release", "brightness", "loudness"];
const SVG = (shackle) =>
  `<svg viewBox="0 0 16 16" width="12" height="12" aria-hidden="true"><rect x="3" y="7" width="10" height="8" rx="1.5" fill="currentColor"/><path d="${shackle}" fill="none" stroke="currentColor" stroke-width="1.6"/></svg>`;
const LOCKED = SVG("M5 7V5a3 3 0 0 1 6 0v2");
const UNLOCKED = SVG("M5 7V5a3 3 0 0 1 5.9-.8");
const STEPS = 1000;
// the closed loop's line for a control it left outside its tolerance (`space_loop`)
const UNREACHED = /^asked .+, renders .+/;
const MISSED = "not reached";
const ADVANCED_KEY = "timbrespace.studio.advanced"; // localStorage: "1" open, "0" closed

function rememberedOpen() {
  try {
    const value = window.localStorage.getItem(ADVANCED_KEY);
    return value === null ? null : value === "1";
  } catch {
    return null; // storage refused (privacy settings): default
  }
}

function rememberOpen(open) {
  try {
    window.localStorage.setItem(ADVANCED_KEY, open ? "1" : "0");
  } catch {
    // not remembered, still works
  }
}

/** How a slider maps [0, STEPS] to a control value: linear, or logarithmic for Hz. */
class Scale {
  constructor(control) {
    this.log = control.unit === "Hz" && control.low > 0 && control.high / control.low > 2;
    this.low = control.low;
    this.high = control.high;
    this.widen = 0;
    // extrapolation widens the track, never past physics (a centroid below Nyquist…)
    const [floor, ceiling] = control.limits ?? [null, null];
    this.floor = Number.isFinite(floor) && (!this.log || floor > 0) ? floor : null;
    this.ceiling = Number.isFinite(ceiling) ? ceiling : null;
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
    lo -= extra;
    hi += extra;
    const bottom = this.floor === null ? lo : Math.max(lo, Math.min(f(this.floor), f(this.low)));
    const top = this.ceiling === null ? hi : Math.min(hi, Math.max(f(this.ceiling), f(this.high)));
    return top > bottom ? [bottom, top] : [lo, hi];
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
   * (released / typed); onReset(name): the user double-clicked a name; onLock(name, locked);
   * onError(message, name): a typed value was not understood (also shown under its slider).
   */
  constructor({ container, onMove, onReset, onLock, onError = () => {} }) {
    Object.assign(this, { container, onMove, onReset, onLock, onError });
    this.rows = new Map();
    this.active = null; // the slider being dragged keeps its position while renders land
  }

  /** Build a row per control; packs: the pack names, in order (their colours). */
  build(controls, packs = []) {
    this.container.replaceChildren();
    this.rows.clear();
    this.packs = packs;
    const main = MAIN.map((n) => controls.find((c) => c.name === n)).filter(Boolean);
    const shown = [
      ["main", main],
      ["custom", controls.filter((c) => c.kind === "custom")],
    ];
    const advanced = [
      ["PCA axes", controls.filter((c) => c.kind === "pca")],
      ["packs", controls.filter((c) => c.kind === "pack")],
      ["descriptors", controls.filter((c) => c.kind === "descriptor" && !MAIN.includes(c.name))],
    ];
    const group = (title, list) => {
      const element = document.createElement("div");
      const h = document.createElement("h3");
      h.textContent = title;
      element.append(h);
      element.className = "control-group";
      element.dataset.group = title;
      for (const control of list) element.append(this.#row(control));
      return element;
    };
    let visible = 0;
    for (const [title, list] of shown) {
      if (!list.length) continue;
      visible += list.length;
      this.container.append(group(title, list));
    }
    const hidden = advanced.filter(([, list]) => list.length);
    if (!hidden.length) return;
    const details = document.createElement("details");
    details.className = "advanced";
    details.dataset.testid = "advanced";
    const summary = document.createElement("summary");
    const count = document.createElement("span");
    count.className = "count";
    count.textContent = hidden.map(([title, list]) => `${list.length} ${title}`).join(" · ");
    summary.append("Advanced", count);
    summary.title = "PCA axes, pack weights and every other descriptor";
    details.append(summary, ...hidden.map(([title, list]) => group(title, list)));
    // collapsed unless the user opened it last time (or nothing else shows)
    details.open = rememberedOpen() ?? visible === 0;
    details.addEventListener("toggle", () => rememberOpen(details.open));
    this.container.append(details);
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
    const pack = control.kind === "pack" ? this.packs.indexOf(control.name.replace(/^pack:/, "")) : -1;
    if (pack >= 0) {
      const swatch = document.createElement("span");
      swatch.className = "sw";
      swatch.style.background = packColor(pack);
      label.prepend(swatch);
    }
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
    number.type = "text";
    number.inputMode = "decimal";
    number.autocomplete = "off";
    number.spellcheck = false;
    number.dataset.readout = control.name;
    number.setAttribute("aria-label", `${control.name} value${unit}`);
    number.title = "measured on the current sound; type a value to set it";
    readout.append(number);

    const note = document.createElement("div");
    note.className = "note";
    note.dataset.note = control.name;
    note.setAttribute("aria-live", "polite");

    const lock = document.createElement("button");
    lock.type = "button";
    lock.className = "lock";
    lock.dataset.lock = control.name;
    lock.setAttribute("aria-pressed", "false");
    lock.title = `Lock ${control.name}: keep its value while other controls move`;
    lock.innerHTML = UNLOCKED;

    const entry = { control, scale, row, slider, number, note, lock, value: null, shown: null };
    entry.error = null; // {text, typed}: shown under the slider until resolved
    entry.warnings = [];
    entry.asked = [];
    entry.editing = false;
    if (control.weak) {
      row.classList.add("weak");
      label.title = `weak control: ${control.weak} — ${label.title}`;
    }
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
      number.value = formatReading(value, control);
      number.classList.add("asking");
      this.onMove(control.name, value, "input");
    });
    slider.addEventListener("change", () => {
      this.active = null;
      const value = scale.toValue(Number(slider.value));
      entry.value = value;
      this.onMove(control.name, value, "change");
    });
    // while the user types, results landing leave the box alone
    number.addEventListener("input", () => {
      entry.editing = true;
    });
    number.addEventListener("blur", () => {
      entry.editing = false;
    });
    number.addEventListener("change", () => {
      entry.editing = false;
      let value;
      try {
        value = parseReading(number.value, control, entry.shown ?? entry.value, entry.text ?? "");
      } catch (error) {
        number.value = entry.text ?? formatReading(entry.value, control);
        this.setError(control.name, error.message, { typed: true });
        this.onError(error.message, control.name);
        return;
      }
      if (entry.error?.typed) this.clearError(control.name);
      entry.value = value;
      slider.value = String(scale.toPos(value));
      number.value = formatReading(value, control);
      number.classList.add("asking");
      this.onMove(control.name, value, "change");
    });
    label.addEventListener("dblclick", () => this.onReset(control.name));
    lock.addEventListener("click", () => {
      const locked = lock.getAttribute("aria-pressed") !== "true";
      this.setLocked(control.name, locked);
      this.onLock(control.name, locked);
    });

    row.append(label, slider, readout, lock, note);
    if (control.weak) this.#note(entry, [], []);
    return row;
  }

  /** Show `text` under control `name` (typed: the box's own error, cleared by a value it
   * understands; else a request's, cleared by `clearErrors`). */
  setError(name, text, { typed = false } = {}) {
    const entry = this.rows.get(name);
    if (!entry) return;
    entry.error = { text, typed };
    this.#note(entry, entry.warnings, entry.asked);
  }

  clearError(name) {
    const entry = this.rows.get(name);
    if (!entry || !entry.error) return;
    entry.error = null;
    this.#note(entry, entry.warnings, entry.asked);
  }

  /** A move rendered: every request error is resolved (typed ones wait for their box). */
  clearErrors() {
    for (const [name, entry] of this.rows) if (entry.error && !entry.error.typed) this.clearError(name);
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

  /**
   * Show a result (no events fire: setting .value programmatically is silent).
   * result: {values (read from the latent), measured (on the render; null where undefined),
   * requested (the controls the move set, after limits), warnings}; moved: the controls the
   * user set (their thumbs stay at the request); skip: controls moved past this result (left
   * as they are).
   */
  showResult(result, { moved = new Set(), skip = new Set() } = {}) {
    const values = result.values || {};
    const measured = result.measured || {};
    const requested = result.requested || {};
    const notes = warningsByControl(result.warnings, [...this.rows.keys()]);
    for (const [name, entry] of this.rows) {
      if (skip.has(name)) continue;
      const measurable = Object.hasOwn(measured, name);
      const shown = measurable ? measured[name] : values[name];
      const asked = Object.hasOwn(requested, name) ? requested[name] : null;
      const thumb = moved.has(name) && Number.isFinite(asked) ? asked : shown;
      entry.warnings = notes.get(name) ?? [];
      entry.asked = moved.has(name) && measurable ? [asked, shown] : [];
      this.#note(entry, entry.warnings, entry.asked);
      entry.shown = Number.isFinite(shown) ? shown : null;
      if (Number.isFinite(thumb)) entry.value = thumb;
      if (this.active === name) continue;
      if (Number.isFinite(thumb)) entry.slider.value = String(entry.scale.toPos(thumb));
      if (!entry.editing) {
        entry.text = formatReading(shown, entry.control);
        entry.number.value = entry.text;
        entry.number.classList.remove("asking");
        entry.number.title = measurable
          ? Number.isFinite(shown)
            ? "measured on the current sound; type a value to set it"
            : "not measurable in this sound (e.g. no clear pitch); type a value to set it"
          : "read from the latent point; type a value to set it";
      }
    }
  }

  /** The line under a slider: "asked X → measured Y" (marked when the loop could not get
   * there, whose warning it then replaces), the other warnings naming it, its weakness. */
  #note(entry, warnings, [asked, got] = []) {
    const { control, note, row } = entry;
    note.replaceChildren();
    const parts = [];
    const line = (className, text) => {
      const span = document.createElement("span");
      span.className = className;
      span.textContent = text;
      parts.push(span);
    };
    let rest = warnings;
    if (asked !== undefined && asked !== null) {
      const missed = warnings.filter((w) => UNREACHED.test(w));
      rest = warnings.filter((w) => !UNREACHED.test(w));
      const text = `asked ${formatReading(asked, control)} → ${formatReading(got, control)}`;
      line(missed.length ? "asked missed" : "asked", missed.length ? `${text} · ${MISSED}` : text);
    }
    for (const warning of rest) line("warning", warning);
    if (entry.error) line("error", entry.error.text);
    if (control.weak) line("weak-reason", `weak: ${control.weak}`);
    note.append(...parts);
    note.title = parts.map((p) => p.textContent).join("\n");
    row.classList.toggle("warned", warnings.length > 0);
    row.classList.toggle("errored", Boolean(entry.error));
    row.classList.toggle("noted", parts.length > 0);
  }
}
