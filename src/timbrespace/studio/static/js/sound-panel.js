// The "Current sound" panel: the player and its transport, the waveform and spectrogram, the
// <audio> element, and the source — the dataset original, heard instead of the model's render
// by the "source ↔ model" switch (or under it, by the mix).

import { busy, getBytes } from "./api.js";
import { drawSpectrogram, drawWaveform, mono } from "./dsp.js";
import { Player, decodeAudio } from "./player.js";
import { clearPanelMessage, panelMessage } from "./messages.js";
import { $, S, on } from "./state.js";
import { report } from "./status.js";

const ORIGINALS_CACHE = 32;

const originals = new Map(); // index → Promise<AudioBuffer>
let url = null; // object URL of the audio on display
let dryIndex = null; // the dataset sound whose original is the player's dry signal
let spectrogram = null; // {signal, sampleRate} waiting for the next animation frame

export const player = new Player({ onChange: () => updateTransport() });

// --- transport -------------------------------------------------------------------------------

function updateTransport() {
  const button = $("play");
  button.textContent = player.playing ? "■ Stop" : "▶ Play";
  button.setAttribute("aria-pressed", String(player.playing));
  if (player.playing) requestAnimationFrame(animatePlayhead);
}

function animatePlayhead() {
  const t = player.position();
  for (const id of ["playhead-wave", "playhead-spec"]) {
    const el = $(id);
    el.hidden = t === null;
    if (t !== null) el.style.left = `${(t * 100).toFixed(2)}%`;
  }
  if (player.playing) requestAnimationFrame(animatePlayhead);
  else for (const id of ["playhead-wave", "playhead-spec"]) $(id).hidden = true;
}

// the AudioContext may only start after a user gesture
for (const type of ["pointerdown", "keydown"]) {
  document.addEventListener(
    type,
    () => {
      try {
        player.ensureContext();
      } catch (error) {
        report(error);
      }
    },
    { capture: true, once: true },
  );
}

/** Switch what the player plays: the source (the dataset original, the player's "A") or the
 * model's render ("B"). The button reads "source ↔ model", the side heard in bold. */
export function toggleAB() {
  const ab = player.ab === "A" ? "B" : "A";
  player.setAB(ab);
  $("ab").setAttribute("aria-pressed", String(ab === "A"));
  if (ab === "A" && !player.dry) panelMessage("sound", "source: this sound has no original to hear", "warn");
  else clearPanelMessage("sound");
}

/** Turn looping on or off (the L key). */
export function toggleLoop() {
  $("loop").checked = !$("loop").checked;
  player.setLoop($("loop").checked);
}

$("play").addEventListener("click", () => player.toggle());
$("loop").addEventListener("change", () => player.setLoop($("loop").checked));
$("bpm").addEventListener("change", () => {
  const bpm = Number($("bpm").value);
  if (!(bpm >= 20 && bpm <= 300)) {
    panelMessage("sound", "BPM: give a tempo between 20 and 300");
    $("bpm").value = String(player.bpm);
    return;
  }
  clearPanelMessage("sound");
  player.setBpm(bpm);
});
$("drywet").addEventListener("input", () => player.setMix(Number($("drywet").value)));
$("gain").addEventListener("input", () => {
  const db = Number($("gain").value);
  player.setGainDb(db);
  $("gain-readout").textContent = `${db >= 0 ? "+" : ""}${db.toFixed(1)} dB`;
});
$("ab").addEventListener("click", toggleAB);

// --- the reference (original) ----------------------------------------------------------------

/** The original of dataset sound `index`, decoded (cached; null when the server has none). */
export function original(index) {
  if (!S.info.originals) return Promise.resolve(null);
  if (!originals.has(index)) {
    const promise = getBytes(`/api/sounds/${index}/original`).then((bytes) =>
      decodeAudio(bytes, 48000).catch(() => {
        throw new Error(`${S.sounds[index]}: this browser cannot decode the original`);
      }),
    );
    promise.catch(() => originals.delete(index));
    originals.set(index, promise);
    if (originals.size > ORIGINALS_CACHE) originals.delete(originals.keys().next().value);
  }
  return originals.get(index);
}

/** Make dataset sound `index` (or nothing) the reference: its original becomes the dry signal. */
export async function setReference(index) {
  if (index === null || index === undefined) {
    player.setDry(null);
    $("reference-label").textContent = "—";
    return;
  }
  $("reference-label").textContent = S.sounds[index] ?? `#${index}`;
  try {
    const buffer = await original(index);
    if (S.current && S.current.reference === index) {
      player.setDry(buffer);
      dryIndex = buffer ? index : null;
      if (buffer && player.ab === "A") clearPanelMessage("sound"); // the source is there now
    }
  } catch (error) {
    report(error);
  }
}

// --- views -----------------------------------------------------------------------------------

/** Draw the spectrogram on the next frame (after playback has started), only the latest. */
function scheduleSpectrogram(signal, sampleRate) {
  if (!spectrogram) {
    busy(+1);
    requestAnimationFrame(() => {
      const { signal: latest, sampleRate: rate } = spectrogram;
      spectrogram = null;
      try {
        drawSpectrogram($("spectrogram"), latest, rate);
      } finally {
        busy(-1);
      }
    });
  }
  spectrogram = { signal, sampleRate };
}

function drawViews(buffer) {
  const signal = mono(buffer);
  drawWaveform($("waveform"), signal);
  scheduleSpectrogram(signal, buffer.sampleRate);
}

on("show", (entry) => {
  if (url) URL.revokeObjectURL(url);
  url = URL.createObjectURL(entry.blob);
  $("audio").src = url;
  $("audio").dataset.state = entry.state ?? "";
  drawViews(entry.buffer);
  // keep the original playing along when the reference stays the same
  if (entry.reference !== dryIndex) {
    dryIndex = null;
    player.setDry(null);
  }
  player.setBuffers(entry.buffer, player.dry);
  $("sound-label").textContent = entry.label;
  setReference(typeof entry.reference === "number" ? entry.reference : null);
});

// redraw the sound views when their size changes
new ResizeObserver(() => {
  if (S.current) drawViews(S.current.buffer);
}).observe($("waveform"));

drawWaveform($("waveform"), null);
drawSpectrogram($("spectrogram"), null, 1);
