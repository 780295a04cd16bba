// The step sequencer of the play panel: one row of 16 sixteenth-note steps per filled pad, each
// step off or on at a velocity (1 … 127: click a step to switch it, drag it up or down, or
// ArrowUp / ArrowDown on it, to change its velocity), played at a tempo with swing (50 %
// straight … 75 %; 66.7 % is the triplet) once or looped. Playback runs on the Web Audio clock:
// a timer only wakes the scheduler, which queues every step due in the next LOOKAHEAD seconds
// at its exact time on the audio clock (the timer's jitter never reaches the audio). Step k
// starts at k·s + (k odd)·(swing/100 − ½)·2s, s = 60 / bpm / 4, as the server's loop export
// (`studio/pads.py`) places it: "Export loop" renders the pattern there, sample-exact, as a WAV.

import { headerJSON, postForBlob } from "./api.js";
import { clearPanelMessage, errorText, panelMessage } from "./messages.js";
import { PADS, hitPad, onPadsChange, padLimits, pads } from "./pads-panel.js";
import { player } from "./sound-panel.js";
import { $ } from "./state.js";
import { wakePlayer } from "./voices.js";

export const STEPS = 16;
const LOOKAHEAD = 0.12; // s of steps queued ahead of the audio clock
const TICK = 25; // ms between scheduler wake-ups
const LEAD = 0.05; // s from "play" to the first step
const LOG = 512; // scheduled hits kept for the tests
const DEFAULT_VELOCITY = 100;

const pattern = Array.from({ length: PADS }, () => new Array(STEPS).fill(0)); // velocities
let run = null; // the running pattern: {origin, barStart, step, times, barLength, bar, timer}
const queued = []; // {source, when} of hits not yet sounded (cut at stop)
const log = []; // {pad, step, bar, time (s after the first step), velocity}
let loopUrl = null;

/** Step start times of one bar (s), for `bpm` and `swing` (%), as the server places them. */
export function stepTimes(bpm, swing) {
  const sixteenth = 60 / bpm / 4;
  return Array.from({ length: STEPS }, (_, k) => k * sixteenth + (k % 2) * (swing / 100 - 0.5) * 2 * sixteenth);
}

function settings() {
  const limits = padLimits();
  const [low, high] = limits?.bpm ?? [20, 300];
  const [slow, shigh] = limits?.swing ?? [50, 75];
  const bpm = Number($("seq-bpm").value);
  const swing = Number($("seq-swing").value);
  return {
    bpm: Number.isFinite(bpm) ? Math.min(high, Math.max(low, bpm)) : 120,
    swing: Number.isFinite(swing) ? Math.min(shigh, Math.max(slow, swing)) : 50,
    loop: $("seq-loop").checked,
  };
}

// --- playing -----------------------------------------------------------------------------------

function schedule() {
  const ctx = player.ctx;
  const horizon = ctx.currentTime + LOOKAHEAD;
  for (;;) {
    if (run.step === 0) {
      const { bpm, swing } = settings(); // tempo and swing change at a bar line
      run.times = stepTimes(bpm, swing);
      run.barLength = (STEPS * 60) / bpm / 4;
    }
    const when = run.barStart + run.times[run.step];
    if (when >= horizon) return;
    playStep(run.step, when);
    run.step += 1;
    if (run.step === STEPS) {
      run.step = 0;
      run.bar += 1;
      run.barStart += run.barLength;
      if (!settings().loop) {
        stop(false);
        return;
      }
    }
  }
}

function playStep(step, when) {
  const ctx = player.ctx;
  for (let pad = 0; pad < PADS; pad++) {
    const velocity = pattern[pad][step];
    if (!velocity || !pads[pad]) continue;
    const source = ctx.createBufferSource();
    source.buffer = pads[pad].buffer;
    const gain = ctx.createGain();
    gain.gain.value = velocity / 127;
    source.connect(gain);
    gain.connect(player.master);
    source.onended = () => gain.disconnect();
    source.start(when);
    queued.push({ source, when });
    log.push({ pad, step, bar: run.bar, time: when - run.origin, velocity });
    if (log.length > LOG) log.shift();
  }
  while (queued.length && queued[0].when < ctx.currentTime - 1) queued.shift();
  run.marks.push({ step, when });
}

/** Start the pattern from its first step. */
export function play() {
  if (run) return;
  wakePlayer();
  const ctx = player.ctx;
  const origin = ctx.currentTime + LEAD;
  log.length = 0;
  run = { origin, barStart: origin, step: 0, bar: 0, times: [], barLength: 0, marks: [], timer: 0 };
  schedule();
  if (run) run.timer = setInterval(schedule, TICK);
  showTransport();
  requestAnimationFrame(drawPlayhead);
}

/** Stop; with `cut`, also silence the hits queued but not yet sounding. */
export function stop(cut = true) {
  if (!run) return;
  clearInterval(run.timer);
  const ctx = player.ctx;
  if (cut) {
    for (const { source, when } of queued) {
      if (when > ctx.currentTime) {
        try {
          source.stop();
        } catch {
          // already stopped
        }
      }
    }
  }
  queued.length = 0;
  run = null;
  showTransport();
}

function showTransport() {
  const button = $("seq-play");
  button.textContent = run ? "■ Stop" : "▶ Play";
  button.setAttribute("aria-pressed", String(Boolean(run)));
}

function drawPlayhead() {
  let current = -1;
  if (run && player.ctx) {
    const now = player.ctx.currentTime;
    while (run.marks.length > 1 && run.marks[1].when <= now) run.marks.shift();
    if (run.marks.length && run.marks[0].when <= now) current = run.marks[0].step;
  }
  for (const cell of $("seq-grid").querySelectorAll(".step")) {
    cell.classList.toggle("now", Number(cell.dataset.step) === current);
  }
  if (run) requestAnimationFrame(drawPlayhead);
}

// --- the grid ----------------------------------------------------------------------------------

function showStep(cell, velocity) {
  cell.setAttribute("aria-pressed", String(velocity > 0));
  cell.style.setProperty("--v", String(velocity / 127));
  cell.title = `step ${Number(cell.dataset.step) + 1}: ${velocity ? `velocity ${velocity}` : "off"} — click to switch, drag up / down for velocity`;
}

function setStep(pad, step, velocity, cell) {
  pattern[pad][step] = Math.max(0, Math.min(127, Math.round(velocity)));
  showStep(cell, pattern[pad][step]);
}

function stepCell(pad, step) {
  const cell = document.createElement("button");
  cell.type = "button";
  cell.className = "step";
  cell.dataset.step = String(step);
  cell.setAttribute("aria-label", `Pad ${pad + 1}, step ${step + 1}`);
  showStep(cell, pattern[pad][step]);
  let drag = null; // {y, velocity, moved, was}
  cell.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    cell.setPointerCapture(e.pointerId);
    const was = pattern[pad][step];
    drag = { y: e.clientY, velocity: was || Number($("seq-velocity").value) || DEFAULT_VELOCITY, moved: false, was };
    if (!was) setStep(pad, step, drag.velocity, cell);
  });
  cell.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const dy = drag.y - e.clientY;
    if (!drag.moved && Math.abs(dy) < 4) return;
    drag.moved = true;
    setStep(pad, step, Math.max(1, drag.velocity + dy), cell);
  });
  cell.addEventListener("pointerup", () => {
    if (drag && drag.was && !drag.moved) setStep(pad, step, 0, cell);
    drag = null;
  });
  cell.addEventListener("pointercancel", () => {
    drag = null;
  });
  cell.addEventListener("click", (e) => {
    if (e.detail === 0) setStep(pad, step, pattern[pad][step] ? 0 : Number($("seq-velocity").value), cell); // keyboard
  });
  cell.addEventListener("keydown", (e) => {
    const by = { ArrowUp: 8, ArrowDown: -8 }[e.key];
    if (!by) return;
    e.preventDefault();
    e.stopPropagation();
    if (pattern[pad][step]) setStep(pad, step, Math.max(1, pattern[pad][step] + by), cell);
  });
  return cell;
}

function buildGrid() {
  const rows = [];
  for (let pad = 0; pad < PADS; pad++) {
    if (!pads[pad]) continue;
    const row = document.createElement("div");
    row.className = "seq-row";
    row.dataset.pad = String(pad);
    const name = document.createElement("button");
    name.type = "button";
    name.className = "seq-name";
    name.textContent = `${pad + 1} ${pads[pad].label}`;
    name.title = `Pad ${pad + 1}: ${pads[pad].label} — click to hear it`;
    name.addEventListener("pointerdown", () => hitPad(pad));
    const steps = document.createElement("div");
    steps.className = "seq-steps";
    for (let step = 0; step < STEPS; step++) steps.append(stepCell(pad, step));
    row.append(name, steps);
    rows.push(row);
  }
  const grid = $("seq-grid");
  grid.replaceChildren(...rows);
  grid.classList.toggle("empty", !rows.length);
  $("seq-empty").hidden = rows.length > 0;
}

// --- the loop ----------------------------------------------------------------------------------

/** The /api/pads/loop body of the pattern (filled pads with a step on), or null. */
export function loopBody() {
  const rows = [];
  for (let pad = 0; pad < PADS; pad++) {
    if (pads[pad] && pattern[pad].some((v) => v > 0)) rows.push({ pad, steps: [...pattern[pad]] });
  }
  if (!rows.length) return null;
  const { bpm, swing, loop } = settings();
  const [fewest, most] = padLimits()?.bars ?? [1, 16];
  const bars = Math.max(fewest, Math.min(most, Math.round(Number($("seq-bars").value) || 1)));
  return { rows, bpm, swing, bars, wrap: loop, rate: Number($("play-rate").value), bits: Number($("play-bits").value) };
}

async function exportLoop() {
  const body = loopBody();
  if (!body) {
    panelMessage("pads", "loop: switch on some steps of a filled pad first", "warn");
    return;
  }
  try {
    const { blob, headers } = await postForBlob("/api/pads/loop", body);
    const name = /filename="([^"]+)"/.exec(headers.get("Content-Disposition") ?? "")?.[1] ?? "loop.wav";
    if (loopUrl) URL.revokeObjectURL(loopUrl);
    loopUrl = URL.createObjectURL(blob);
    const link = $("loop-download");
    link.href = loopUrl;
    link.download = name;
    link.textContent = `⤓ ${name}`;
    link.hidden = false;
    const info = headerJSON(headers, "X-Loop", {});
    $("loop-summary").textContent = `${info.seconds?.toFixed(2)} s · ${info.hits} hits · ${info.rate} Hz`;
    const warnings = headerJSON(headers, "X-Warnings", []);
    if (warnings.length) panelMessage("pads", warnings.join(" · "), "warn");
    else clearPanelMessage("pads");
  } catch (error) {
    panelMessage("pads", `loop: ${errorText(error)}`);
  }
}

/** The hits scheduled since the last start: {pad, step, bar, time (s after step 1), velocity}. */
export function scheduled() {
  return log.slice();
}

/** Set pad `pad`'s row (tests, and the console): 16 velocities. */
export function setRow(pad, steps) {
  steps.forEach((v, step) => {
    pattern[pad][step] = Math.max(0, Math.min(127, Math.round(v)));
  });
  buildGrid();
}

export function initSequencer() {
  $("seq-play").addEventListener("click", () => (run ? stop() : play()));
  $("seq-swing").addEventListener("input", () => {
    $("seq-swing-readout").textContent = `${Number($("seq-swing").value).toFixed(0)} %`;
  });
  $("seq-clear").addEventListener("click", () => {
    for (const row of pattern) row.fill(0);
    buildGrid();
  });
  $("loop-export").addEventListener("click", exportLoop);
  $("seq-bpm").addEventListener("change", () => {
    const { bpm } = settings();
    $("seq-bpm").value = String(bpm);
    player.setBpm(bpm);
    const main = $("bpm");
    if (main) main.value = String(bpm);
  });
  const main = $("bpm");
  if (main) {
    $("seq-bpm").value = main.value;
    main.addEventListener("change", () => {
      $("seq-bpm").value = main.value;
    });
  }
  onPadsChange(() => {
    applyLimits();
    buildGrid();
  });
  buildGrid();
}

/** The inputs' ranges from the server's limits (GET /api/pads), once they have arrived. */
function applyLimits() {
  const limits = padLimits();
  if (!limits) return;
  const ranges = { "seq-bpm": limits.bpm, "seq-swing": limits.swing, "seq-bars": limits.bars };
  ranges["seq-velocity"] = [1, limits.velocity[1]];
  for (const [id, [low, high]] of Object.entries(ranges)) {
    $(id).min = String(low);
    $(id).max = String(high);
  }
}
