// The keys of the play panel: the current sound played at a note, for a model whose latent is a
// space of sounds with a pitch control (a one-shot, spectral, stream or vq model; a ddsp
// instrument and a note model keep their own panels' keyboards). The pitch control sets the
// note: POST /api/keys/note moves the sound there (the closed loop), and the page keeps every
// rendered note (voices.js's cache), so a key played again sounds at once. Computer keys
// A W S E D F T G Y H U J K play C … C, Z / X move the octave (voices.js); the on-screen keys
// and Web MIDI (where the browser offers it) play too. After the first note of a sound the
// other keys of the octave are rendered in the background, one at a time.

import { headerJSON } from "./api.js";
import { clearPanelMessage, errorText, panelMessage } from "./messages.js";
import { $, S, on } from "./state.js";
import {
  KEYS,
  buildKeys,
  computerKeys,
  noteCache,
  noteName,
  releaseVoice,
  showKeysHelp,
  startVoice,
  wakePlayer,
} from "./voices.js";

const OWN_PANEL = new Set(["f0_loudness", "notes"]); // played from their own keyboards
const LATENCIES = 64; // key → play-call times kept for the readout and tests

let pitchControl = null; // the info of the `pitch` control, or null: no keys here
let base = 60; // MIDI number of the keyboard's first C
let generation = 0; // bumps when the sound changes: background renders of an older one stop
const held = new Map(); // pitch → {released, voice}
const latencies = []; // {pitch, cached, ms, renderMs}
let lastNote = null; // {state, label} of the last note played (for the pads)
let keyEventTime = null; // timeStamp of the key event being handled (performance.now() base)

const rendered = noteCache("/api/keys/note");

/** Whether the keys play on this model (a pitch control, not a ddsp or note model). */
export function keysEnabled() {
  return Boolean(pitchControl);
}

/** The last note played: its state and a label, or null. */
export function lastKeyNote() {
  return lastNote;
}

/** Every latency measured: key event (or click) → the play call, ms. */
export function keyLatencies() {
  return latencies.slice();
}

const midiOf = (hz) => 69 + 12 * Math.log2(hz / 440);

function body(pitch) {
  return { state: S.current.state, pitch, lock: [...S.locks].filter((n) => n !== "pitch") };
}

/** Key `pitch` went down (velocity 1 … 127): play its note, rendering it the first time. */
export async function pressKey(pitch, velocity = Number($("keys-velocity").value)) {
  const t0 = keyEventTime ?? performance.now();
  keyEventTime = null;
  if (!pitchControl || held.has(pitch)) return;
  if (!S.current?.state) {
    panelMessage("keys", "keys: load or make a sound first");
    return;
  }
  try {
    wakePlayer();
  } catch (error) {
    panelMessage("keys", errorText(error));
    return;
  }
  const note = { released: false, voice: null };
  held.set(pitch, note);
  showKey(pitch, true);
  const request = body(pitch);
  const { promise, cached } = rendered(request);
  let result;
  try {
    result = await promise;
  } catch (error) {
    releaseKey(pitch);
    panelMessage("keys", errorText(error));
    return;
  }
  note.voice = startVoice(result.buffer);
  const ms = performance.now() - t0;
  note.voice.gain.gain.value = velocity / 127;
  if (note.released && $("keys-gate").checked) releaseVoice(note.voice, 0.08);
  latencies.push({ pitch, cached, ms, renderMs: result.renderMs });
  if (latencies.length > LATENCIES) latencies.shift();
  lastNote = { state: result.headers.get("X-State"), label: `${S.current.label} · ${noteName(pitch)}` };
  describe(pitch, velocity, result, ms, cached);
  if (!cached) prefetch(request.state);
}

/** Key `pitch` went up: with "gate" on, fade its note out; else it rings out (a one-shot). */
export function releaseKey(pitch) {
  const note = held.get(pitch);
  if (!note) return;
  held.delete(pitch);
  showKey(pitch, false);
  note.released = true;
  if (note.voice && $("keys-gate").checked) releaseVoice(note.voice);
}

function releaseAll() {
  for (const pitch of [...held.keys()]) releaseKey(pitch);
  computer.forget();
}

function describe(pitch, velocity, result, ms, cached) {
  const note = headerJSON(result.headers, "X-Note", {});
  const measured =
    note.measured_hz == null
      ? "no pitch measured"
      : `measures ${note.measured_hz.toFixed(1)} Hz (${note.cents >= 0 ? "+" : "−"}${Math.abs(note.cents).toFixed(0)} cents)`;
  const server = result.renderMs === null ? "" : `, server ${result.renderMs.toFixed(0)} ms`;
  const line = $("keys-played");
  line.textContent =
    `${noteName(pitch)} (${pitch}) · velocity ${velocity} · ${measured} · key → play ${ms.toFixed(1)} ms` +
    (cached ? " (cached)" : ` (rendered${server})`);
  line.classList.remove("muted");
  if (result.warnings.length) panelMessage("keys", `keys: ${result.warnings.join(" · ")}`, "warn");
  else clearPanelMessage("keys");
}

/** Render the other keys of the octave in the background (one at a time) for `state`. */
async function prefetch(state) {
  const mine = generation;
  for (let i = 0; i < KEYS.length; i++) {
    if (mine !== generation || S.current?.state !== state) return;
    const request = { ...body(base + i), state };
    const { promise, cached } = rendered(request);
    if (cached) continue;
    try {
      await promise;
    } catch {
      return; // the key press shows the error, if the user plays that key
    }
  }
}

// --- the keyboard ------------------------------------------------------------------------------

function showKey(pitch, down) {
  const key = $("keys-keyboard").querySelector(`[data-pitch="${pitch}"]`);
  if (key) key.classList.toggle("down", down);
}

/** The MIDI range the pitch control covers over the data (keys outside are dimmed). */
function dataRange() {
  return [midiOf(pitchControl.low), midiOf(pitchControl.high)];
}

function buildKeyboard() {
  const [low, high] = dataRange();
  buildKeys($("keys-keyboard"), base, {
    describe: (key, pitch, letter) => {
      const outside = pitch < low - 0.5 || pitch > high + 0.5;
      key.classList.toggle("outside", outside);
      key.title = `${noteName(pitch)} (MIDI ${pitch}) — key ${letter.toUpperCase()}` +
        (outside ? ": beyond the pitches of the data (clamped to them)" : "");
    },
    press: (pitch, e) => {
      keyEventTime = e.timeStamp;
      pressKey(pitch);
    },
    release: releaseKey,
  });
  $("keys-range").textContent = `${noteName(base)}–${noteName(base + 12)}`;
  $("keys-down").disabled = base - 12 < 0;
  $("keys-up").disabled = base + 12 > 115;
}

function shiftOctave(by) {
  const next = base + 12 * by;
  if (next < 0 || next > 115) return;
  releaseAll();
  base = next;
  buildKeyboard();
}

const computer = computerKeys({
  enabled: () => Boolean(pitchControl) && $("keys-keys").checked,
  base: () => base,
  shiftOctave,
  press: (pitch) => pressKey(pitch),
  release: releaseKey,
  blur: () => {
    if (pitchControl) releaseAll();
  },
});

/**
 * The computer keys, called by the page's keydown handler (outside text fields, without
 * modifiers): true when the key was a note key (it then plays, not its other use).
 */
export function keysKeyDown(e) {
  keyEventTime = e.timeStamp;
  const mine = computer.keyDown(e);
  if (!mine) keyEventTime = null;
  return mine;
}

function showHelp() {
  showKeysHelp(Boolean(pitchControl) && $("keys-keys").checked);
}

/** Build the keys for `info` (hidden, with the reason, where they do not play). */
export function initKeys(info) {
  const control = info.controls.find((c) => c.name === "pitch");
  const usable = !OWN_PANEL.has(info.input_kind) && control && control.low > 0 && control.high > 0;
  pitchControl = usable ? control : null;
  $("keys-part").hidden = !pitchControl;
  if (!pitchControl) return;
  const [low, high] = dataRange();
  base = Math.max(0, Math.min(108, 12 * Math.floor((low + high) / 2 / 12)));
  buildKeyboard();
  showHelp();
  $("keys-down").addEventListener("click", () => shiftOctave(-1));
  $("keys-up").addEventListener("click", () => shiftOctave(1));
  $("keys-keys").addEventListener("change", showHelp);
  $("keys-velocity").addEventListener("input", () => {
    $("keys-velocity-readout").textContent = $("keys-velocity").value;
  });
}

on("show", (entry) => {
  if (!pitchControl) return;
  generation += 1;
  if (entry.state) $("keys-sound").textContent = entry.label;
});
