// Control values as a musician reads and types them: pitch in Hz with its note name and cents
// ("329 Hz (E4 −3c)"), times in ms below a second, else s, dB, and unitless controls (PCA
// axes, packs, custom) with two decimals. The inverse, `parseReading`, takes what people type:
// "440", "440 Hz", "C#3", "+3st", "-50c", "12 ms", "0.3 s", "-12 dB", "+20%".

import { formatNumber } from "./map.js";

const NOTES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const MINUS = "\u2212"; // typographic minus, as printed

/** Whether a control is a pitch: measured as f0, in Hz. */
export function isPitch(control) {
  return control.unit === "Hz" && (control.descriptor === "f0" || control.name === "pitch");
}

/** The nearest equal-tempered note (A4 = 440 Hz) and the cents from it: "E4 −3c", "A4". */
export function noteName(hz) {
  if (!Number.isFinite(hz) || hz <= 0) return "—";
  const midi = 69 + 12 * Math.log2(hz / 440);
  const nearest = Math.round(midi);
  const cents = Math.round(100 * (midi - nearest));
  const name = `${NOTES[((nearest % 12) + 12) % 12]}${Math.floor(nearest / 12) - 1}`;
  if (cents === 0) return name;
  return `${name} ${cents > 0 ? "+" : MINUS}${Math.abs(cents)}c`;
}

function signed(text) {
  return text.startsWith("-") ? MINUS + text.slice(1) : text;
}

function hertz(value) {
  const a = Math.abs(value);
  return signed(a >= 100 ? value.toFixed(0) : a >= 10 ? value.toFixed(1) : value.toFixed(2));
}

function seconds(value) {
  const a = Math.abs(value);
  if (a >= 1) return `${signed(value.toFixed(2))} s`;
  const ms = value * 1000;
  const m = Math.abs(ms);
  return `${signed(m >= 100 ? ms.toFixed(0) : m >= 1 ? ms.toFixed(1) : ms.toFixed(2))} ms`;
}

/** Unitless values with two decimals, never "-2.4e-8" nor "-0.00". */
export function formatValue(value, unit = "") {
  if (unit || !Number.isFinite(value)) return formatNumber(value);
  const text = value.toFixed(2);
  return text === "-0.00" ? "0.00" : text;
}

/** A control's value (in its unit) as text for its box and notes; "—" when undefined. */
export function formatReading(value, control) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const unit = control.unit || "";
  if (isPitch(control)) return `${hertz(value)} Hz (${noteName(value)})`;
  if (unit === "Hz") return `${hertz(value)} Hz`;
  if (unit === "s") return seconds(value);
  if (unit === "dB") return `${signed(value.toFixed(1))} dB`;
  if (!unit) return signed(formatValue(value));
  return `${signed(formatNumber(value))} ${unit}`;
}

const NOTE = /^([a-g])\s*(#|♯|b|♭)?\s*(-?\d)\s*(?:([+-]\d+(?:\.\d*)?)\s*c)?\s*$/i;
const NUMBER = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z%/0-9]*)\s*(?:\(.*\))?\s*$/i;
const UNITS = { hz: ["Hz", 1], khz: ["Hz", 1000], s: ["s", 1], ms: ["s", 0.001], db: ["dB", 1] };

/**
 * What a person typed into a control's box → the value to set, in the control's unit.
 * current: the value the box showed (for relative entries "+3st", "-50c", "+20%"); shown: the
 * text it showed (a bare number takes the unit shown: "15" in a box showing "12 ms" is 15 ms).
 * Throws an Error naming the control when the text is not a value of it.
 */
export function parseReading(text, control, current, shown = "") {
  const t = String(text).replaceAll(MINUS, "-").trim();
  const fail = (why) => new Error(`${control.name}: ${JSON.stringify(String(text))} ${why}`);
  const pitch = isPitch(control);
  const note = pitch ? NOTE.exec(t) : null;
  if (note) {
    const [, letter, accidental = "", octave, cents = "0"] = note;
    let semis = NOTES.indexOf(letter.toUpperCase());
    if (accidental === "#" || accidental === "♯") semis += 1;
    if (accidental === "b" || accidental === "♭") semis -= 1;
    const midi = 12 * (Number(octave) + 1) + semis + Number(cents) / 100;
    return 440 * 2 ** ((midi - 69) / 12);
  }
  const match = NUMBER.exec(t);
  if (!match) return failWith(fail, control);
  const number = Number(match[1]);
  const unitText = match[2].toLowerCase();
  const relative = /^[+-]/.test(match[1]);
  if (!Number.isFinite(number)) return failWith(fail, control);
  if (unitText === "st" || unitText === "c" || (pitch && relative && unitText === "")) {
    if (!pitch) throw fail("— semitones and cents move a pitch only");
    if (!(current > 0)) throw fail("— no pitch to move from; give Hz or a note (A4)");
    return current * 2 ** ((unitText === "c" ? number / 100 : number) / 12);
  }
  if (unitText === "%") {
    if (!Number.isFinite(current)) throw fail("— no value to move from");
    return current * (1 + number / 100);
  }
  if (unitText === "") {
    if (control.unit === "s" && /\bms$/.test(shown.trim())) return number * 0.001;
    return number;
  }
  const known = UNITS[unitText];
  if (!known || known[0] !== control.unit) {
    throw fail(`— give a value in ${control.unit || "plain numbers"}${hint(control)}`);
  }
  return number * known[1];
}

function hint(control) {
  if (isPitch(control)) return " (e.g. 440 Hz, A4, +3st, -50c)";
  if (control.unit === "s") return " (e.g. 12 ms, 0.3 s)";
  if (control.unit === "Hz") return " (e.g. 2000 Hz, 2 kHz)";
  if (control.unit === "dB") return " (e.g. -12 dB)";
  return "";
}

function failWith(fail, control) {
  throw fail(`is not a value${hint(control)}`);
}

/**
 * The controls a warning concerns and its text for them: a line starting with "name:" belongs
 * to that control (the text after it), a line quoting 'name' (e.g. two collinear controls) to
 * each it quotes (the whole line). known: Set of control names. → [names, text]
 */
export function controlsNamedIn(line, known) {
  const head = /^([^:]+?):\s/.exec(line);
  if (head && known.has(head[1])) return [[head[1]], line.slice(head[0].length)];
  const quoted = [...line.matchAll(/'([^']+)'/g)].map((m) => m[1]).filter((n) => known.has(n));
  return [[...new Set(quoted)], line];
}

/** Warnings sorted by the controls they concern (`controlsNamedIn`): Map(name → [text]). */
export function warningsByControl(warnings, names) {
  const known = new Set(names);
  const result = new Map();
  for (const line of warnings || []) {
    const [named, text] = controlsNamedIn(line, known);
    for (const name of named) {
      if (!result.has(name)) result.set(name, []);
      if (!result.get(name).includes(text)) result.get(name).push(text);
    }
  }
  return result;
}
