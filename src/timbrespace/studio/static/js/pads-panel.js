// The pads of the play panel: 16 pads, each holding a rendered sound — the current one (a map
// click, an edit, a mix…), a snapshot, or the last note of the keys — kept by the server
// (POST /api/pads/{pad}) so the kit and the loop are made from exactly these sounds. A click or
// a key plays a pad: 1 … 8 the first row, Shift+1 … 8 the second; MIDI notes C1 … D#2 (36 …
// 51) play pads 1 … 16 when MIDI is routed to the pads. A pad's sound can be dragged out of
// the page as a WAV file (Chromium). "Write kit" writes every filled pad (and the loop) to the
// export folder (POST /api/pads/kit).

import { getBytes, getJSON, postJSON } from "./api.js";
import { dragOut, fileList } from "./drag-out.js";
import { lastKeyNote } from "./keys-panel.js";
import { clearPanelMessage, errorText, panelMessage } from "./messages.js";
import { decodeAudio } from "./player.js";
import { shortName } from "./slots.js";
import { player } from "./sound-panel.js";
import { $, S, on } from "./state.js";
import { wakePlayer } from "./voices.js";

export const PADS = 16;
const ROW = 8; // pads per row, and per row of computer keys
const MIDI_FIRST = 36; // C1: pad 1 (the GM drum map's kick)

export const pads = Array.from({ length: PADS }, () => null); // {state, label, buffer} per pad
const listeners = [];
let limits = null; // GET /api/pads's limits

/** Call `fn()` whenever a pad is filled or emptied. */
export function onPadsChange(fn) {
  listeners.push(fn);
}

function changed() {
  for (const fn of listeners) fn();
}

/** The pads' limits of the server (steps, bpm, swing, rates…), once loaded. */
export function padLimits() {
  return limits;
}

// --- playing -----------------------------------------------------------------------------------

/** Play pad `i` now at `velocity` (1 … 127): returns the voice, or null for an empty pad. */
export function hitPad(i, velocity = 127) {
  const pad = pads[i];
  flash(i);
  if (!pad) return null;
  wakePlayer();
  const ctx = player.ctx;
  const source = ctx.createBufferSource();
  source.buffer = pad.buffer;
  const gain = ctx.createGain();
  gain.gain.value = velocity / 127;
  source.connect(gain);
  gain.connect(player.master);
  source.onended = () => gain.disconnect();
  source.start();
  return source;
}

function flash(i) {
  const element = document.querySelector(`.pad[data-pad="${i}"]`);
  if (!element) return;
  element.classList.remove("hit");
  void element.offsetWidth; // restart the animation
  element.classList.add("hit");
}

/** Pad keys, called by the page's keydown handler: 1 … 8 (Shift: 9 … 16). True when used. */
export function padsKeyDown(e) {
  const match = /^Digit([1-8])$/.exec(e.code);
  if (!match || !limits) return false;
  e.preventDefault();
  if (!e.repeat) hitPad(Number(match[1]) - 1 + (e.shiftKey ? ROW : 0));
  return true;
}

/** A MIDI note on the pads: C1 (36) … D#2 (51) play pads 1 … 16. True when it was a pad. */
export function padsMidi(note, velocity) {
  const i = note - MIDI_FIRST;
  if (i < 0 || i >= PADS) return false;
  hitPad(i, velocity);
  return true;
}

// --- assigning ---------------------------------------------------------------------------------

/** The sound the + buttons put on a pad: {state, label, buffer} or null, by the source menu. */
function chosenSound() {
  const source = $("pads-source").value;
  if (source === "current") {
    const entry = S.current;
    return entry?.state ? { state: entry.state, label: entry.label, buffer: entry.buffer } : null;
  }
  if (source === "note") return lastKeyNote();
  const entry = window.studio?.snapshots?.get(Number(source));
  return entry?.state ? { state: entry.state, label: entry.label, buffer: entry.buffer } : null;
}

/** Put `sound` ({state, label, buffer?}) on pad `i` (0-based); null empties it. */
export async function assignPad(i, sound) {
  try {
    const label = sound ? shortName(sound.label).slice(0, limits?.label_chars ?? 200) : "";
    await postJSON(`/api/pads/${i}`, { state: sound?.state ?? null, label });
    let buffer = sound?.buffer ?? null;
    if (sound && !buffer) buffer = await padBuffer(i);
    pads[i] = sound ? { state: sound.state, label, buffer } : null;
    clearPanelMessage("pads");
  } catch (error) {
    panelMessage("pads", `pad ${i + 1}: ${errorText(error)}`);
  }
  showPad(i);
  changed();
}

async function padBuffer(i) {
  return decodeAudio(await getBytes(`/api/pads/${i}/wav`), S.info.sample_rate);
}

// --- the pads' DOM -----------------------------------------------------------------------------

function keyHint(i) {
  return i < ROW ? String(i + 1) : `⇧${i - ROW + 1}`;
}

function buildPads() {
  const grid = $("pads-grid");
  grid.replaceChildren();
  for (let i = 0; i < PADS; i++) {
    const pad = document.createElement("div");
    pad.className = "pad";
    pad.dataset.pad = String(i);
    pad.innerHTML =
      `<button type="button" class="pad-hit" data-testid="pad-${i + 1}">` +
      `<span class="pad-key">${keyHint(i)}</span><span class="pad-label">empty</span></button>` +
      `<button type="button" class="pad-set" title="Put the chosen sound on pad ${i + 1}" aria-label="Assign pad ${i + 1}">+</button>` +
      `<button type="button" class="pad-clear" title="Empty pad ${i + 1}" aria-label="Empty pad ${i + 1}">×</button>`;
    const hit = pad.querySelector(".pad-hit");
    hit.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      hitPad(i);
    });
    hit.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        e.stopPropagation();
        hitPad(i);
      }
    });
    dragOut(hit, () => (pads[i] ? { name: `pad${i + 1}_${fileStem(pads[i].label)}.wav`, url: `/api/pads/${i}/wav` } : null));
    pad.querySelector(".pad-set").addEventListener("click", () => {
      const sound = chosenSound();
      if (!sound) {
        panelMessage("pads", "pads: nothing to assign yet (load or make a sound, store a snapshot or play a key)", "warn");
        return;
      }
      assignPad(i, sound);
    });
    pad.querySelector(".pad-clear").addEventListener("click", () => assignPad(i, null));
    grid.append(pad);
  }
}

const fileStem = (label) => label.replace(/[^A-Za-z0-9+=._-]+/g, "_").slice(0, 60) || "sound";

function showPad(i) {
  const element = document.querySelector(`.pad[data-pad="${i}"]`);
  const pad = pads[i];
  element.classList.toggle("filled", Boolean(pad));
  const label = element.querySelector(".pad-label");
  label.textContent = pad ? pad.label : "empty";
  const hit = element.querySelector(".pad-hit");
  hit.title = pad
    ? `Pad ${i + 1}: ${pad.label} — click or key ${keyHint(i)} to play; drag it out as a WAV`
    : `Pad ${i + 1}: empty — + puts the chosen sound here`;
  hit.draggable = Boolean(pad);
}

/** The source menu: the current sound, the last key note, and every stored snapshot. */
function updateSources() {
  const select = $("pads-source");
  const chosen = select.value;
  const options = [new Option("current sound", "current")];
  if (lastKeyNote()) options.push(new Option("last key note", "note"));
  for (let i = 0; i < 16; i++) {
    const entry = window.studio?.snapshots?.get(i);
    if (entry) options.push(new Option(`snapshot ${i + 1}`, String(i)));
  }
  select.replaceChildren(...options);
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "current";
}

// --- the kit -----------------------------------------------------------------------------------

async function writeKit(loop) {
  const name = $("kit-name").value.trim() || "kit";
  try {
    const made = await postJSON("/api/pads/kit", {
      name,
      rate: Number($("play-rate").value),
      bits: Number($("play-bits").value),
      overwrite: $("kit-overwrite").checked,
      loop,
    });
    const files = [...made.files, ...(made.loop ? [made.loop] : [])];
    fileList($("kit-files"), files);
    $("kit-summary").textContent = `${made.folder}: ${files.length} files at ${made.rate} Hz, ${made.bits}-bit`;
    clearPanelMessage("pads");
    if (made.warnings.length) panelMessage("pads", made.warnings.join(" · "), "warn");
    return made;
  } catch (error) {
    panelMessage("pads", `kit: ${errorText(error)}`);
    return null;
  }
}

/** Build the pads; `loopBody()` gives the loop to write with the kit (or null). */
export async function initPads(loopBody) {
  buildPads();
  $("pads-source").addEventListener("focus", updateSources);
  $("pads-source").addEventListener("pointerdown", updateSources);
  $("pads-part").addEventListener("pointerenter", updateSources);
  $("kit-write").addEventListener("click", () => writeKit(loopBody()));
  try {
    const answer = await getJSON("/api/pads");
    limits = answer.limits;
    await Promise.all(
      answer.pads
        .filter((pad) => pad.state)
        .map(async (pad) => {
          pads[pad.pad] = { state: pad.state, label: pad.label, buffer: await padBuffer(pad.pad) };
        }),
    );
  } catch (error) {
    panelMessage("pads", `pads: ${errorText(error)}`);
  }
  for (let i = 0; i < PADS; i++) showPad(i);
  updateSources();
  changed();
}

on("show", () => updateSources());

export { writeKit };
