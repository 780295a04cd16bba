// The "Notes" panel, shown only for a note model (`info.notes`, see studio/API.md "Notes"):
//   - a keyboard over the pitches the model renders (the trained range; the keys outside it
//     dimmed: they play, with a warning), clicked or played from the computer keys
//     (A W S E D F T G Y H U J K = C … C, Z / X octave), each note POSTed once per
//     (pitch, velocity, mix, latent) to /api/notes/play, cached, played while the key is held
//     and faded out at key-up;
//   - a style mixer: one slider per trained style (−1 … 2, a typed weight up to ±max_weight)
//     and a 2-D pad over two styles chosen in the drop-downs (x, y = their weights, 0 … 1.3);
//   - the latent the notes play: the current sound's (the state on display) or a random one
//     drawn from the prior with a seed.
// Warnings and errors are listed in the panel (and the status bar).

import { Throttle } from "./api.js";
import { $, S, on } from "./state.js";
import { report, setStatus } from "./status.js";
import { BLACK, KEYS, MIN_HOLD, computerKeys, noteCache, noteName, releaseVoice, showKeysHelp, startVoice, wakePlayer } from "./voices.js";

const SLIDER = [-1, 2]; // a style slider's range
const PAD = 1.3; // the pad's x and y run 0 … PAD
const PAD_STEP = 0.05; // an arrow key's move on the pad (Shift: 4×)

let info = null; // info.notes
let base = 60; // MIDI number of the computer keys' C
let weights = []; // a weight per style, in info.styles order
let lastPitch = null; // the last note played (replayed when the mix changes)
let audition = null; // the voice of a replayed note
const held = new Map(); // pitch → {released, voice}

// --- what a note plays -------------------------------------------------------------------------

const playable = (pitch) => pitch >= info.playable_range[0] && pitch <= info.playable_range[1];
const trained = (pitch) => pitch >= info.pitch_range[0] && pitch <= info.pitch_range[1];
const fixed = (value) => Number(value.toFixed(3)); // as the readouts show it (a stable cache key)

/** The request for `pitch` with the panel's velocity, mix and latent (see API.md). */
function noteBody(pitch) {
  const body = {
    pitch,
    velocity: Number($("notes-velocity").value),
    weights: Object.fromEntries(info.styles.map((name, i) => [name, fixed(weights[i])])),
    z: $("notes-z").value,
  };
  if (body.z === "random") {
    const seed = Number($("notes-seed").value);
    if (!(Number.isInteger(seed) && seed >= 0 && seed <= 2 ** 31 - 1)) {
      throw new Error("seed: give a whole number 0 … 2147483647");
    }
    body.seed = seed;
  } else if (S.current?.state) {
    body.state = S.current.state; // the sound on display (else the server's last state)
  }
  return body;
}

/** Wake the player and make the request for `pitch`; null (the error shown) if it cannot be made. */
function bodyToPlay(pitch) {
  try {
    wakePlayer();
    return noteBody(pitch);
  } catch (error) {
    fail(error);
    return null;
  }
}

/** The rendered note (cached per request) and whether it was cached. */
const renderedNote = noteCache("/api/notes/play");

/** Messages beside the panel: `lines` of `kind` ("warn" or "error"); none clears them. */
function showMessages(lines, kind = "warn") {
  $("notes-messages").replaceChildren(
    ...lines.map((line) => {
      const item = document.createElement("li");
      item.className = kind;
      item.textContent = line;
      return item;
    }),
  );
}

function fail(error) {
  showMessages([error instanceof Error ? error.message : String(error)], "error");
  report(error);
}

function mixLabel() {
  const parts = info.styles
    .map((name, i) => [name, weights[i]])
    .filter(([, weight]) => weight !== 0)
    .map(([name, weight]) => `${name} ${weight.toFixed(2)}`);
  return parts.join(" + ") || "no style";
}

/** Number of the newest note asked for: only its answer fills the readout and the messages, so a
 * slower answer to an earlier key cannot clear the warning of a later one. */
let newestAsked = 0;

function describe(pitch, body, rendered, started, cached, asked) {
  if (asked !== newestAsked) return;
  const latent = body.z === "random" ? `random latent (seed ${body.seed})` : "current latent";
  const ms = performance.now() - started;
  const render = rendered.renderMs === null ? "" : `, server ${rendered.renderMs.toFixed(0)} ms`;
  $("notes-played").textContent =
    `${noteName(pitch)} (${pitch}) · velocity ${body.velocity} · ${mixLabel()} · ${latent} · ` +
    `sounding after ${ms.toFixed(0)} ms` + (cached ? " (cached)" : ` (rendered${render})`);
  $("notes-played").classList.remove("muted");
  showMessages(rendered.warnings);
  if (rendered.warnings.length) setStatus(`notes: ${rendered.warnings.join(" · ")}`, "warn");
}

// --- playing -----------------------------------------------------------------------------------

/** Key `pitch` went down: fetch (or reuse) its note and play it while the key is held. */
async function press(pitch) {
  if (held.has(pitch)) return;
  if (!playable(pitch)) {
    const [low, high] = info.playable_range;
    showMessages([`${noteName(pitch)} (${pitch}): this model renders MIDI ${low}…${high} only`]);
    return;
  }
  const body = bodyToPlay(pitch);
  if (!body) return;
  const note = { released: false, voice: null };
  held.set(pitch, note);
  showKey(pitch, true);
  lastPitch = pitch;
  const started = performance.now();
  const asked = ++newestAsked;
  const { promise, cached } = renderedNote(body);
  let rendered;
  try {
    rendered = await promise;
  } catch (error) {
    release(pitch);
    fail(error);
    return;
  }
  note.voice = startVoice(rendered.buffer);
  if (note.released) releaseVoice(note.voice, MIN_HOLD);
  describe(pitch, body, rendered, started, cached, asked);
}

/** Key `pitch` went up: fade its note out. */
function release(pitch) {
  const note = held.get(pitch);
  if (!note) return;
  held.delete(pitch);
  showKey(pitch, false);
  note.released = true;
  if (note.voice) releaseVoice(note.voice);
}

function releaseAll() {
  for (const pitch of [...held.keys()]) release(pitch);
  computer.forget();
}

/** Play the last note again, whole, with the mix as it is now (the mix changed). */
const replayThrottle = new Throttle(async () => {
  if (lastPitch === null || !$("notes-replay").checked || held.size) return;
  const pitch = lastPitch;
  const body = bodyToPlay(pitch);
  if (!body) return;
  const started = performance.now();
  const asked = ++newestAsked;
  const { promise, cached } = renderedNote(body);
  try {
    const rendered = await promise;
    if (audition) releaseVoice(audition);
    audition = startVoice(rendered.buffer);
    describe(pitch, body, rendered, started, cached, asked);
  } catch (error) {
    fail(error);
  }
});

// --- the keyboard ------------------------------------------------------------------------------

function showKey(pitch, down) {
  const key = $("notes-keyboard").querySelector(`[data-pitch="${pitch}"]`);
  if (key) key.classList.toggle("down", down);
}

/** The keyboard's first and last pitch: whole octaves over the pitches the model renders. */
function span() {
  const [low, high] = info.playable_range;
  return [Math.max(0, 12 * Math.floor(low / 12)), Math.min(127, 12 * Math.ceil(high / 12))];
}

function keyTitle(pitch, letter) {
  const name = `${noteName(pitch)} (MIDI ${pitch})${letter ? ` — key ${letter.toUpperCase()}` : ""}`;
  if (!playable(pitch)) return `${name}: beyond what this model renders`;
  if (!trained(pitch)) return `${name}: outside the trained range (plays; the timbre is a guess)`;
  return name;
}

/** Build the keys of `span()`, the computer keys' octave (from `base`) lettered. */
function buildKeyboard() {
  const board = $("notes-keyboard");
  board.replaceChildren();
  const [first, last] = span();
  const pitches = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  const whites = pitches.filter((p) => !BLACK.has(p % 12)).length;
  board.style.minWidth = `${whites * 17}px`;
  let white = 0;
  for (const pitch of pitches) {
    const black = BLACK.has(pitch % 12);
    const offset = pitch - base;
    const letter = offset >= 0 && offset < KEYS.length ? KEYS[offset] : "";
    const key = document.createElement("button");
    key.type = "button";
    key.tabIndex = -1;
    key.dataset.pitch = String(pitch);
    key.className = `key ${black ? "black" : "white"}`;
    key.classList.toggle("outside", !trained(pitch));
    key.classList.toggle("mapped", Boolean(letter));
    if (black) {
      key.style.left = `${(100 * white) / whites}%`;
      key.style.width = `${60 / whites}%`;
    } else {
      white += 1;
    }
    key.disabled = !playable(pitch);
    key.title = keyTitle(pitch, letter);
    const label = pitch % 12 === 0 || letter ? noteName(pitch) : "";
    key.innerHTML = `<span class="letter">${letter}</span><span class="pitch">${black ? "" : label}</span>`;
    key.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      press(pitch);
    });
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) {
      key.addEventListener(type, () => release(pitch));
    }
    board.append(key);
  }
  $("notes-range").textContent = `${noteName(base)}–${noteName(base + 12)}`;
  $("notes-down").disabled = !canShift(-1);
  $("notes-up").disabled = !canShift(1);
  showOctave();
}

/** Scroll the keyboard (if wider than the panel) to centre the computer keys' octave. */
function showOctave() {
  const board = $("notes-keyboard");
  const mapped = [...board.querySelectorAll(".key.white.mapped")];
  if (!mapped.length) return;
  const first = mapped[0];
  const last = mapped[mapped.length - 1];
  const middle = (first.offsetLeft + last.offsetLeft + last.offsetWidth) / 2;
  const wrap = board.parentElement;
  wrap.scrollLeft = Math.max(0, middle - wrap.clientWidth / 2);
}

/** Whether the computer keys' octave can move `by` octaves and still reach a playable key. */
function canShift(by) {
  const next = base + 12 * by;
  const [low, high] = info.playable_range;
  return next + 12 >= low && next <= high;
}

function shiftOctave(by) {
  if (!canShift(by)) return;
  releaseAll();
  base += 12 * by;
  buildKeyboard();
}

const computer = computerKeys({
  enabled: () => Boolean(info) && $("notes-keys").checked,
  base: () => base,
  shiftOctave,
  press,
  release,
  blur: () => {
    if (info) releaseAll();
  },
});

/**
 * The computer keys, called by the page's keydown handler (outside text fields, without
 * modifiers): true when the key was a note key (it then plays, not its other use).
 */
export function notesKeyDown(e) {
  return computer.keyDown(e);
}

// --- the style mixer ---------------------------------------------------------------------------

/** One row per style: its name, a slider (−1 … 2) and a typed weight (±max_weight). */
function buildSliders() {
  const rows = info.styles.map((name, i) => {
    const row = document.createElement("div");
    row.className = "style-row";
    const label = document.createElement("label");
    label.className = "name";
    label.htmlFor = `notes-style-${i}`;
    label.textContent = name;
    label.title = name;
    const slider = document.createElement("input");
    slider.type = "range";
    slider.id = `notes-style-${i}`;
    slider.min = String(SLIDER[0]);
    slider.max = String(SLIDER[1]);
    slider.step = "0.01";
    slider.dataset.style = String(i);
    slider.setAttribute("aria-label", `Weight of ${name}`);
    slider.addEventListener("input", () => setWeight(i, Number(slider.value)));
    slider.addEventListener("change", () => replayThrottle.push());
    const readout = document.createElement("input");
    readout.type = "number";
    readout.className = "num";
    readout.min = String(-info.max_weight);
    readout.max = String(info.max_weight);
    readout.step = "0.01";
    readout.dataset.readout = String(i);
    readout.setAttribute("aria-label", `Weight of ${name} (typed, ±${info.max_weight})`);
    readout.addEventListener("change", () => {
      const value = Number(readout.value);
      if (readout.value.trim() === "" || !(Math.abs(value) <= info.max_weight)) {
        fail(new Error(`${name}: give a weight within ±${info.max_weight}`));
        showWeights();
        return;
      }
      setWeight(i, value);
      replayThrottle.push();
    });
    readout.addEventListener("keydown", (e) => {
      if (e.key === "Enter") readout.blur(); // commits ("change") and gives the keys back
    });
    row.append(label, slider, readout);
    return row;
  });
  $("notes-styles").replaceChildren(...rows);
}

function setWeight(i, value) {
  weights[i] = value;
  showWeights();
}

/** Sliders, readouts and the pad's dot as `weights` are. */
function showWeights() {
  weights.forEach((weight, i) => {
    const slider = document.querySelector(`#notes-styles [data-style="${i}"]`);
    const readout = document.querySelector(`#notes-styles [data-readout="${i}"]`);
    if (slider && Number(slider.value) !== weight) slider.value = String(weight);
    if (readout && document.activeElement !== readout) readout.value = weight.toFixed(2);
  });
  placeDot();
}

function padStyles() {
  return [Number($("notes-pad-x").value), Number($("notes-pad-y").value)];
}

function placeDot() {
  if (info.styles.length < 2) return;
  const [sx, sy] = padStyles();
  const [x, y] = [weights[sx], weights[sy]];
  const clamp = (v) => Math.min(PAD, Math.max(0, v));
  const dot = $("notes-dot");
  dot.style.left = `${(100 * clamp(x)) / PAD}%`;
  dot.style.top = `${100 * (1 - clamp(y) / PAD)}%`;
  dot.classList.toggle("outside", clamp(x) !== x || clamp(y) !== y);
  const text = `${info.styles[sx]} ${x.toFixed(2)}, ${info.styles[sy]} ${y.toFixed(2)}`;
  const pad = $("notes-pad");
  pad.setAttribute("aria-valuetext", text);
  pad.setAttribute("aria-valuenow", x.toFixed(2));
  dot.title = text;
}

function padFromPointer(e) {
  const rect = $("notes-pad").getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width)) * PAD;
  const y = Math.min(1, Math.max(0, 1 - (e.clientY - rect.top) / rect.height)) * PAD;
  const [sx, sy] = padStyles();
  weights[sx] = fixed(x);
  weights[sy] = fixed(y);
  showWeights();
}

let dragging = false;
const pad = $("notes-pad");
pad.addEventListener("pointerdown", (e) => {
  if (e.button !== 0 || !info) return;
  dragging = true;
  pad.setPointerCapture(e.pointerId);
  pad.focus();
  padFromPointer(e);
});
pad.addEventListener("pointermove", (e) => {
  if (dragging) padFromPointer(e);
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!dragging) return;
    dragging = false;
    replayThrottle.push();
  });
}
pad.addEventListener("keydown", (e) => {
  const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowDown: [0, -1], ArrowUp: [0, 1] };
  const move = moves[e.key];
  if (!move || !info) return;
  e.preventDefault();
  const step = PAD_STEP * (e.shiftKey ? 4 : 1);
  const [sx, sy] = padStyles();
  weights[sx] = fixed(Math.min(PAD, Math.max(0, weights[sx] + move[0] * step)));
  weights[sy] = fixed(Math.min(PAD, Math.max(0, weights[sy] + move[1] * step)));
  showWeights();
  replayThrottle.push();
});

/** The two drop-downs never name one style twice: choosing the other's style swaps them. */
function choosePadStyle(changed, other, previous) {
  if ($(changed).value === $(other).value) $(other).value = previous;
  $("notes-pad-x").dataset.previous = $("notes-pad-x").value;
  $("notes-pad-y").dataset.previous = $("notes-pad-y").value;
  placeDot();
}
$("notes-pad-x").addEventListener("change", (e) =>
  choosePadStyle("notes-pad-x", "notes-pad-y", e.target.dataset.previous),
);
$("notes-pad-y").addEventListener("change", (e) =>
  choosePadStyle("notes-pad-y", "notes-pad-x", e.target.dataset.previous),
);

function buildPad() {
  const many = info.styles.length >= 2;
  $("notes-pad-part").hidden = !many;
  if (!many) return;
  for (const [id, chosen] of [["notes-pad-x", 0], ["notes-pad-y", 1]]) {
    const select = $(id);
    select.replaceChildren(...info.styles.map((name, i) => new Option(name, String(i))));
    select.value = String(chosen);
    select.dataset.previous = String(chosen);
  }
}

// --- the rest of the panel ---------------------------------------------------------------------

function showLatent() {
  const random = $("notes-z").value === "random";
  $("notes-seed-row").hidden = !random;
  $("notes-reseed").hidden = !random;
  $("notes-latent").textContent = random ? "" : (S.current?.label ?? "the data mean");
}

$("notes-z").addEventListener("change", () => {
  $("notes-z").blur(); // give the computer keys back to the keyboard
  showLatent();
  replayThrottle.push();
});
$("notes-seed").addEventListener("change", () => replayThrottle.push());
$("notes-seed").addEventListener("keydown", (e) => {
  if (e.key === "Enter") e.target.blur();
});
$("notes-reseed").addEventListener("click", () => {
  $("notes-seed").value = String(Math.floor(Math.random() * 2 ** 31));
  replayThrottle.push();
});
$("notes-velocity").addEventListener("input", () => {
  $("notes-velocity-readout").textContent = $("notes-velocity").value;
});
$("notes-down").addEventListener("click", () => shiftOctave(-1));
$("notes-up").addEventListener("click", () => shiftOctave(1));
$("notes-keys").addEventListener("change", showHelp);

function showHelp() {
  showKeysHelp(Boolean(info) && $("notes-keys").checked);
}

// --- boot --------------------------------------------------------------------------------------

on("info", (model) => {
  info = model.notes;
  $("notes-panel").hidden = !info;
  document.querySelector(".layout").classList.toggle("with-notes", Boolean(info));
  if (!info) return;
  const [vlow, vhigh] = info.velocities;
  const velocity = $("notes-velocity");
  velocity.min = String(vlow);
  velocity.max = String(vhigh);
  velocity.title = `Note velocity, ${vlow} … ${vhigh} (trained on ${info.velocity_range.join(" … ")})`;
  weights = info.styles.map((_, i) => (i === 0 ? 1 : 0));
  const [low, high] = info.pitch_range;
  base = 12 * Math.floor((low + high) / 2 / 12);
  $("notes-trained").textContent =
    `trained ${noteName(low)}–${noteName(high)} · plays ${info.playable_range.map(noteName).join("–")}`;
  buildKeyboard();
  buildSliders();
  buildPad();
  showWeights();
  showLatent();
  showHelp();
});

on("show", () => {
  if (info) showLatent();
});
