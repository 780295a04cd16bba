// The play panel: keys (the current sound at a note), 16 pads with a step sequencer, kits and
// sample packs written to the export folder, and Web MIDI where the browser offers it. The
// panel's markup is built here, inside `<section id="play-panel">` of index.html; its parts are
// keys-panel.js, pads-panel.js, sequencer.js and pack-panel.js (see studio/API.md, "Keys, pads
// and packs"). `playKeyDown` is the page keydown handler's hook.

import { initKeys, keyLatencies, keysEnabled, keysKeyDown, pressKey, releaseKey } from "./keys-panel.js";
import { initPack } from "./pack-panel.js";
import { hitPad, initPads, padsKeyDown, padsMidi, pads } from "./pads-panel.js";
import { initSequencer, loopBody, scheduled, setRow, stepTimes } from "./sequencer.js";
import { dragOut } from "./drag-out.js";
import { $, S, on } from "./state.js";

const PANEL = `
<div class="panel-head">
  <h2 id="play-title">Play · pads · packs</h2>
  <div class="head-tools">
    <button id="midi-toggle" type="button" aria-pressed="false" title="Play from a MIDI keyboard (Web MIDI; the browser asks first)">MIDI</button>
    <label class="inline" title="What MIDI notes play: the keys (the current sound at the note), or the pads (C1 … D#2 = pads 1 … 16)">to
      <select id="midi-route"><option value="keys">keys</option><option value="pads">pads</option></select></label>
    <span id="midi-status" class="small muted" data-testid="midi-status"></span>
    <label class="inline" title="Sample rate of exported loops, kits and packs (resampled with soxr)">rate
      <select id="play-rate"><option value="44100">44.1 kHz</option><option value="48000">48 kHz</option></select></label>
    <label class="inline" title="Bit depth of exported files">bits
      <select id="play-bits"><option value="24">24</option><option value="16">16</option></select></label>
  </div>
</div>
<div class="play-grid">
  <div id="keys-part" class="play-part keys-part" hidden>
    <h3>Keys <span class="muted small">the current sound at a note · A W S E D F T G Y H U J K · Z / X octave</span></h3>
    <div id="keys-keyboard" class="keyboard" data-testid="keys-keyboard" role="group" aria-label="On-screen keyboard: a key plays the current sound at its note"></div>
    <div class="curve-tools">
      <button id="keys-down" type="button" title="Keyboard an octave down (Z)">◀ Z</button>
      <span id="keys-range" class="small" aria-live="polite"></span>
      <button id="keys-up" type="button" title="Keyboard an octave up (X)">X ▶</button>
      <label class="inline range-label" title="Velocity of the computer and on-screen keys, 1 … 127">velocity
        <input id="keys-velocity" type="range" min="1" max="127" step="1" value="100" aria-label="Key velocity">
        <output id="keys-velocity-readout" for="keys-velocity">100</output></label>
      <label class="inline" title="Computer keys play notes (the A key then plays C; source ↔ model stays on its button)"><input id="keys-keys" type="checkbox" checked> computer keys</label>
      <label class="inline" title="Fade a note out when its key is released (off: a one-shot rings out)"><input id="keys-gate" type="checkbox"> gate</label>
    </div>
    <p class="small muted keys-line">sound: <span id="keys-sound" class="keys-sound">—</span></p>
    <p id="keys-played" class="small muted" data-testid="keys-played">press a key: each note is rendered once (the pitch control moves the sound there), then cached</p>
    <p class="panel-msg" data-message="keys" hidden></p>
  </div>
  <div id="pads-part" class="play-part pads-part">
    <h3>Pads <span class="muted small">click or 1 … 8, ⇧1 … 8 · + puts a sound on a pad · drag a pad out as a WAV</span></h3>
    <div class="curve-tools">
      <label class="inline" title="What + puts on a pad">+ puts
        <select id="pads-source" data-testid="pads-source"><option value="current">current sound</option></select></label>
    </div>
    <div id="pads-grid" class="pads-grid" data-testid="pads-grid"></div>
    <p class="panel-msg" data-message="pads" hidden></p>
  </div>
  <div id="seq-part" class="play-part seq-part">
    <h3>Steps <span class="muted small">16 per pad · click a step, drag it up / down for velocity</span></h3>
    <div class="curve-tools">
      <button id="seq-play" type="button" class="primary" aria-pressed="false" data-testid="seq-play">▶ Play</button>
      <label class="inline" title="Tempo, beats per minute">BPM <input id="seq-bpm" type="number" min="20" max="300" step="1" value="120" class="num"></label>
      <label class="inline range-label" title="Swing: every second sixteenth played late (50 % straight, 66.7 % triplet, up to 75 %)">swing
        <input id="seq-swing" type="range" min="50" max="75" step="1" value="50" aria-label="Swing in percent">
        <output id="seq-swing-readout" for="seq-swing">50 %</output></label>
      <label class="inline" title="Loop the pattern (exported: a seamless loop whose tails wrap round); off: once, ringing out"><input id="seq-loop" type="checkbox" checked> loop</label>
      <label class="inline" title="Velocity of a step switched on, 1 … 127">vel <input id="seq-velocity" type="number" min="1" max="127" step="1" value="100" class="num"></label>
      <button id="seq-clear" type="button" title="Switch every step off">clear</button>
    </div>
    <div id="seq-grid" class="seq-grid" data-testid="seq-grid" role="group" aria-label="Step sequencer: a row of 16 steps per filled pad"></div>
    <p id="seq-empty" class="small muted">Put sounds on pads (+) to sequence them.</p>
    <div class="export-row">
      <label class="inline" title="Bars in the exported loop (the pattern repeated)">bars <input id="seq-bars" type="number" min="1" max="16" step="1" value="1" class="num"></label>
      <button id="loop-export" type="button" data-testid="loop-export" title="Render the pattern as a WAV loop (server-side, sample-exact)">Export loop</button>
      <a id="loop-download" class="button" data-testid="loop-download" hidden download></a>
      <span id="loop-summary" class="small muted"></span>
    </div>
    <div class="export-row">
      <label class="inline grow" title="Folder name under kits/ in the export folder">kit <input id="kit-name" type="text" value="my kit" autocomplete="off" spellcheck="false"></label>
      <label class="inline"><input id="kit-overwrite" type="checkbox"> overwrite</label>
      <button id="kit-write" type="button" data-testid="kit-write" title="Write every filled pad (and the loop) as WAVs into kits/NAME/">Write kit</button>
    </div>
    <p id="kit-summary" class="small muted" data-testid="kit-summary"></p>
    <ul id="kit-files" class="file-list small" data-testid="kit-files"></ul>
  </div>
  <div id="pack-part" class="play-part pack-part" hidden>
    <h3>Generate a pack <span class="muted small">variations of the current sound, with pack.csv</span></h3>
    <div class="curve-tools">
      <label class="inline">vary <select id="pack-mode" data-testid="pack-mode"><option value="around">around it</option><option value="controls">along controls</option></select></label>
      <span id="pack-count" class="small muted" data-testid="pack-count"></span>
    </div>
    <div id="pack-around" class="curve-tools">
      <label class="inline" title="Number of variations, 1 … 256">N <input id="pack-n" type="number" min="1" max="256" step="1" value="16" class="num" data-testid="pack-n"></label>
      <label class="inline" title="Distance from the sound, in standard deviations of the training latents per axis (0.5: a kick moves by about a semitone)">radius <input id="pack-radius" type="number" min="0.05" max="10" step="0.05" value="0.5" class="num"></label>
      <label class="inline" title="Seed of the random directions">seed <input id="pack-seed" type="number" min="0" step="1" value="0" class="num"></label>
    </div>
    <div id="pack-vary" hidden>
      <div class="curve-tools pack-axis" data-axis="0">
        <select class="axis-control" aria-label="First control to vary"></select>
        <input class="axis-from" type="text" aria-label="From (e.g. -3st, -20%, -1)" title="From: -3st, -20%, -6dB, -1 (added), 440Hz (absolute)" autocomplete="off" spellcheck="false">
        <span class="muted">→</span>
        <input class="axis-to" type="text" aria-label="To" autocomplete="off" spellcheck="false">
        <label class="inline">steps <input class="axis-steps num" type="number" min="2" max="256" step="1" value="4"></label>
      </div>
      <div class="curve-tools pack-axis" data-axis="1">
        <select class="axis-control" aria-label="Second control to vary (a grid)"></select>
        <input class="axis-from" type="text" aria-label="From" autocomplete="off" spellcheck="false">
        <span class="muted">→</span>
        <input class="axis-to" type="text" aria-label="To" autocomplete="off" spellcheck="false">
        <label class="inline">steps <input class="axis-steps num" type="number" min="2" max="256" step="1" value="4"></label>
      </div>
    </div>
    <div class="export-row">
      <label class="inline grow" title="Folder name under packs/ in the export folder (empty: the sound's name and what varies)">folder <input id="pack-name" type="text" autocomplete="off" spellcheck="false" placeholder="auto"></label>
      <label class="inline"><input id="pack-overwrite" type="checkbox"> overwrite</label>
      <button id="pack-generate" type="button" class="primary" data-testid="pack-generate">Generate</button>
    </div>
    <p id="pack-summary" class="small muted" data-testid="pack-summary"></p>
    <p class="panel-msg" data-message="pack" hidden></p>
    <ul id="pack-files" class="file-list small" data-testid="pack-files"></ul>
  </div>
</div>`;

const section = $("play-panel");
section.setAttribute("aria-labelledby", "play-title");
section.innerHTML = PANEL;

// --- MIDI --------------------------------------------------------------------------------------

let midi = null; // MIDIAccess, once granted

function onMidiMessage(event) {
  const [status, note, velocity] = event.data;
  const kind = status & 0xf0;
  const on = kind === 0x90 && velocity > 0;
  const off = kind === 0x80 || (kind === 0x90 && velocity === 0);
  if (!on && !off) return;
  if ($("midi-route").value === "pads") {
    if (on) padsMidi(note, velocity);
  } else if (keysEnabled()) {
    if (on) pressKey(note, velocity);
    else releaseKey(note);
  }
}

function listenToInputs() {
  const names = [];
  for (const input of midi.inputs.values()) {
    input.onmidimessage = onMidiMessage;
    names.push(input.name);
  }
  $("midi-status").textContent = names.length ? names.join(", ") : "no MIDI input connected";
}

async function toggleMidi() {
  const button = $("midi-toggle");
  if (midi) {
    for (const input of midi.inputs.values()) input.onmidimessage = null;
    midi.onstatechange = null;
    midi = null;
    button.setAttribute("aria-pressed", "false");
    $("midi-status").textContent = "";
    return;
  }
  try {
    midi = await navigator.requestMIDIAccess();
  } catch {
    $("midi-status").textContent = "MIDI refused by the browser";
    return;
  }
  midi.onstatechange = listenToInputs;
  button.setAttribute("aria-pressed", "true");
  listenToInputs();
}

if (typeof navigator.requestMIDIAccess === "function") {
  $("midi-toggle").addEventListener("click", toggleMidi);
} else {
  $("midi-toggle").disabled = true;
  $("midi-toggle").title = "This browser offers no Web MIDI";
}

// --- keys and boot -----------------------------------------------------------------------------

/**
 * The play panel's keys, called by the page's keydown handler (outside text fields, without
 * Ctrl / Alt / Meta): the keys' computer keys, then the pads' 1 … 8. True when used.
 */
export function playKeyDown(e) {
  return keysKeyDown(e) || padsKeyDown(e);
}

// the current sound's download link drags out as its WAV too
const download = $("download");
if (download) {
  dragOut(download, () =>
    S.current?.state ? { name: `timbrespace_${S.current.state}.wav`, url: `/api/states/${S.current.state}/wav` } : null,
  );
}

on("info", (info) => {
  initKeys(info);
  initPack(info);
  initSequencer();
  initPads(loopBody);
});

// a hook for tests and for poking at the panel from the console
window.studioPlay = {
  keys: { press: pressKey, release: releaseKey, latencies: keyLatencies },
  pads: { list: pads, hit: hitPad },
  sequencer: { setRow, scheduled, stepTimes, loopBody },
};
