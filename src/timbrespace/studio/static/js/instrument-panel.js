// The "Instrument" panel, shown only for a model played by pitch and loudness
// (`info.instrument`, see studio/API.md "Instrument"):
//   - a recording played by the instrument: a dropped or chosen file
//     (POST /api/instrument/transfer, the file as the body) or a dataset file
//     (POST /api/instrument/transfer/dataset), with octave, semitones, loudness and reverb;
//   - notes from the computer keys (A W S E D F T G Y H U J K = C … C, Z / X octave) and the
//     on-screen keys (POST /api/instrument/note): each note is rendered once per (pitch,
//     velocity, settings), cached, played with Web Audio and faded out at key-up.

import { Throttle, headerJSON, postForBlob } from "./api.js";
import { $, S, on } from "./state.js";
import { report, setStatus } from "./status.js";
import { MIN_HOLD, buildKeys, computerKeys, noteCache, noteName, releaseVoice, serverMs, showKeysHelp, startVoice, wakePlayer } from "./voices.js";

const NOTE_SECONDS = 2; // s held before the release: key-up fades it out earlier

let limits = null; // info.instrument
let base = 60; // MIDI number of the keyboard's first C
const held = new Map(); // pitch → {released, voice}
let source = null; // what the transfer plays: {file} or {path}
let resultUrl = null;

// --- settings ----------------------------------------------------------------------------------

/** The panel's shared settings; `loudness_db` null = auto (fitted / 0 dB for notes). */
function settings() {
  const semitones = Number($("inst-semitones").value || 0);
  const loudness = $("inst-loudness").value.trim();
  return {
    semitones,
    loudness_db: loudness === "" ? null : Number(loudness),
    reverb: Number($("inst-reverb").value),
  };
}

/** Refuse a typed value out of its range before sending (the server checks it as well). */
function checked(values) {
  const problems = [];
  if (!(Math.abs(values.semitones) <= limits.semitones)) {
    problems.push(`semitones: give a number within ±${limits.semitones}`);
  }
  if (values.loudness_db !== null && !(Math.abs(values.loudness_db) <= limits.loudness_db)) {
    problems.push(`loudness: give a gain within ±${limits.loudness_db} dB, or leave it empty (auto)`);
  }
  if (problems.length) throw new Error(problems.join("; "));
  return values;
}

// --- notes -------------------------------------------------------------------------------------

/** The rendered note (cached per pitch, velocity and settings) and whether it was cached. */
function renderedNote(pitch, velocity, values) {
  const body = {
    pitch,
    velocity,
    seconds: NOTE_SECONDS,
    semitones: values.semitones,
    loudness_db: values.loudness_db ?? 0,
    reverb: values.reverb,
  };
  return noteRenders(body);
}

const noteRenders = noteCache("/api/instrument/note");

/** Key `pitch` went down: fetch (or reuse) its note and play it while the key is held. */
async function press(pitch) {
  if (held.has(pitch) || !inRange(pitch)) return;
  let values;
  try {
    wakePlayer();
    values = checked(settings());
  } catch (error) {
    report(error);
    return;
  }
  const note = { released: false, voice: null };
  held.set(pitch, note);
  showKey(pitch, true);
  const velocity = Number($("inst-velocity").value);
  const started = performance.now();
  const { promise, cached } = renderedNote(pitch, velocity, values);
  let rendered;
  try {
    rendered = await promise;
  } catch (error) {
    release(pitch);
    report(error);
    return;
  }
  note.voice = startVoice(rendered.buffer);
  if (note.released) releaseVoice(note.voice, MIN_HOLD);
  const ms = performance.now() - started;
  const render = rendered.renderMs === null ? "" : `, server render ${rendered.renderMs.toFixed(0)} ms`;
  $("inst-latency").textContent =
    `${noteName(pitch)} (${pitch}) · velocity ${velocity} · sounding after ${ms.toFixed(0)} ms` +
    (cached ? " (cached)" : ` (rendered${render})`);
  $("inst-latency").classList.remove("muted");
  if (rendered.warnings.length) setStatus(rendered.warnings.join(" · "), "warn");
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

function inRange(pitch) {
  const [low, high] = limits.pitch_range;
  return pitch >= low && pitch <= high;
}

// --- the keyboard ------------------------------------------------------------------------------

function showKey(pitch, down) {
  const key = $("inst-keyboard").querySelector(`[data-pitch="${pitch}"]`);
  if (key) key.classList.toggle("down", down);
}

/** Build the 13 on-screen keys of the octave starting at `base`. */
function buildKeyboard() {
  buildKeys($("inst-keyboard"), base, {
    describe: (key, pitch, letter) => {
      key.disabled = !inRange(pitch);
      key.title = `${noteName(pitch)} (MIDI ${pitch}) — key ${letter.toUpperCase()}`;
    },
    press: (pitch) => press(pitch),
    release,
  });
  $("inst-range").textContent = `${noteName(base)}–${noteName(base + 12)}`;
  const [low, high] = limits.pitch_range;
  $("inst-down").disabled = base < low;
  $("inst-up").disabled = base + 12 > high;
}

function shiftOctave(by) {
  const [low, high] = limits.pitch_range;
  const next = base + 12 * by;
  if (next + 12 < low || next > high) return;
  releaseAll();
  base = next;
  buildKeyboard();
}

const computer = computerKeys({
  enabled: () => Boolean(limits) && $("inst-keys").checked,
  base: () => base,
  shiftOctave,
  press,
  release,
  blur: releaseAll,
});

/**
 * The computer keys, called by the page's keydown handler (outside text fields, without
 * modifiers): true when the key was an instrument key (it then plays, not its other use).
 */
export function instrumentKeyDown(e) {
  return computer.keyDown(e);
}

// --- transfer ----------------------------------------------------------------------------------

function transferBody(values) {
  const octave = $("inst-octave").value;
  return { ...values, octave: octave === "auto" ? null : Number(octave) };
}

async function transfer() {
  if (!source) return;
  let body;
  try {
    body = transferBody(checked(settings()));
  } catch (error) {
    report(error);
    return;
  }
  let answer;
  if (source.file) {
    const params = new URLSearchParams({ name: source.file.name });
    for (const [name, value] of Object.entries(body)) {
      if (value !== null) params.set(name, String(value));
    }
    const type = source.file.type.startsWith("audio/") ? source.file.type : "application/octet-stream";
    answer = await postForBlob(`/api/instrument/transfer?${params}`, source.file, type);
  } else {
    answer = await postForBlob("/api/instrument/transfer/dataset", { path: source.path, ...body });
  }
  showResult(answer);
}

const transferThrottle = new Throttle(async () => {
  try {
    await transfer();
  } catch (error) {
    report(error);
  }
});

const signed = (value, digits = 0) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(digits)}`;

function showResult({ blob, headers }) {
  const played = headerJSON(headers, "X-Played", {});
  const notices = headerJSON(headers, "X-Warnings", []);
  const ms = serverMs(headers);
  if (resultUrl) URL.revokeObjectURL(resultUrl);
  resultUrl = URL.createObjectURL(blob);
  const audio = $("inst-audio");
  audio.src = resultUrl;
  const download = $("inst-download");
  download.href = resultUrl;
  const stem = (played.name ?? "recording").split("/").pop().replace(/\.[^.]*$/, "");
  download.setAttribute("download", `${stem}_as_${S.info.bundle || "instrument"}.wav`);
  download.classList.remove("disabled");
  download.setAttribute("aria-disabled", "false");
  const octaves = Math.abs(played.octave) === 1 ? "octave" : "octaves";
  const parts = [
    `${played.name} played: ${signed(played.octave)} ${octaves}${played.octave_fitted ? " (auto)" : ""}`,
    `${signed(played.semitones, 1)} st`,
    `loudness ${signed(played.loudness_db, 1)} dB${played.loudness_fitted ? " (auto)" : ""}`,
    `reverb ${Number(played.reverb).toFixed(2)}`,
    `${Math.round(100 * played.voiced)}% voiced`,
    `${Number(played.seconds).toFixed(1)} s`,
  ];
  if (ms !== null) parts.push(`rendered in ${ms.toFixed(0)} ms`);
  $("inst-played").textContent = parts.join(" · ");
  $("inst-played").classList.remove("muted");
  const list = $("inst-notices");
  list.replaceChildren(
    ...notices.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }),
  );
  setStatus(`${played.name}: played by the instrument${notices.length ? ` · ${notices[0]}` : ""}`, notices.length ? "warn" : "");
  if ($("autoplay").checked) audio.play().catch(() => {});
}

function useFile(file) {
  if (!file) return;
  if (file.size > limits.upload_bytes) {
    const mib = (bytes) => (bytes / 2 ** 20).toFixed(1);
    setStatus(`${file.name}: ${mib(file.size)} MiB; the studio takes files up to ${mib(limits.upload_bytes)} MiB`, "error");
    return;
  }
  source = { file };
  $("inst-path").value = "";
  transferThrottle.push();
}

function usePath() {
  const path = $("inst-path").value.trim();
  if (!path) return;
  source = { path };
  transferThrottle.push();
}

// a file dropped anywhere on the panel plays; one dropped elsewhere is ignored (the browser
// would otherwise leave the studio to show it)
const dragsFiles = (e) => Boolean(limits) && [...(e.dataTransfer?.types ?? [])].includes("Files");
const panel = $("instrument-panel");
panel.addEventListener("dragover", (e) => {
  if (!dragsFiles(e)) return;
  e.preventDefault();
  $("inst-drop").classList.add("over");
});
panel.addEventListener("dragleave", (e) => {
  if (!panel.contains(e.relatedTarget)) $("inst-drop").classList.remove("over");
});
panel.addEventListener("drop", (e) => {
  if (!dragsFiles(e)) return;
  e.preventDefault();
  e.stopPropagation();
  $("inst-drop").classList.remove("over");
  useFile(e.dataTransfer.files[0]);
});
document.addEventListener("dragover", (e) => {
  if (dragsFiles(e)) e.preventDefault();
});
document.addEventListener("drop", (e) => {
  if (!dragsFiles(e)) return;
  e.preventDefault();
  setStatus("drop audio files on the Instrument panel to play them", "warn");
});
$("inst-file").addEventListener("change", (e) => {
  useFile(e.target.files[0]);
  e.target.value = ""; // choosing the same file again renders again
});
$("inst-path").addEventListener("keydown", (e) => {
  if (e.key === "Enter") usePath();
});
$("inst-path").addEventListener("focus", fillPaths, { once: true });
$("inst-render").addEventListener("click", () => {
  const path = $("inst-path").value.trim();
  if (path && source?.path !== path) usePath();
  else if (source) transferThrottle.push();
  else setStatus("instrument: drop an audio file or give a dataset file first", "warn");
});
for (const id of ["inst-octave", "inst-semitones", "inst-loudness", "inst-reverb"]) {
  $(id).addEventListener("change", () => {
    if (id === "inst-octave") $(id).blur(); // give the computer keys back to the keyboard
    if (source) transferThrottle.push();
  });
}
for (const id of ["inst-semitones", "inst-loudness"]) {
  $(id).addEventListener("keydown", (e) => {
    if (e.key === "Enter") e.target.blur(); // commits the field ("change")
  });
}
$("inst-reverb").addEventListener("input", () => {
  $("inst-reverb-readout").textContent = Number($("inst-reverb").value).toFixed(2);
});
$("inst-velocity").addEventListener("input", () => {
  $("inst-velocity-readout").textContent = $("inst-velocity").value;
});
$("inst-down").addEventListener("click", () => shiftOctave(-1));
$("inst-up").addEventListener("click", () => shiftOctave(1));
$("inst-keys").addEventListener("change", showHelp);

/** The dataset's files as suggestions for the path field. */
function fillPaths() {
  const list = $("inst-paths");
  list.replaceChildren(
    ...[...new Set(S.sounds)].map((path) => {
      const option = document.createElement("option");
      option.value = path;
      return option;
    }),
  );
}

function showHelp() {
  showKeysHelp(Boolean(limits) && $("inst-keys").checked);
}

// --- boot --------------------------------------------------------------------------------------

on("info", (info) => {
  limits = info.instrument;
  $("instrument-panel").hidden = !limits;
  document.querySelector(".layout").classList.toggle("with-instrument", Boolean(limits));
  if (!limits) return;
  const octave = $("inst-octave");
  for (let k = -limits.octaves; k <= limits.octaves; k++) {
    octave.add(new Option(k > 0 ? `+${k}` : String(k), String(k)));
  }
  $("inst-semitones").min = String(-limits.semitones);
  $("inst-semitones").max = String(limits.semitones);
  $("inst-loudness").min = String(-limits.loudness_db);
  $("inst-loudness").max = String(limits.loudness_db);
  $("inst-reverb").min = String(limits.reverb[0]);
  $("inst-reverb").max = String(limits.reverb[1]);
  $("inst-path-row").hidden = !info.originals;
  const [low, high] = limits.trained_pitch ?? limits.pitch_range;
  base = 12 * Math.floor((low + high) / 2 / 12);
  buildKeyboard();
  showHelp();
});
