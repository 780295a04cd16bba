// Notes played from the keyboard panels (instrument-panel.js, notes-panel.js): the computer keys
// as in common DAWs, note names, and voices — a rendered note played through the page's player
// while its key is held, faded out at key-up.

import { headerJSON, postForBlob } from "./api.js";
import { decodeAudio } from "./player.js";
import { player } from "./sound-panel.js";
import { $, S } from "./state.js";

export const KEYS = "awsedftgyhujk"; // C … C, one octave
export const BLACK = new Set([1, 3, 6, 8, 10]); // pitch classes of the black keys
const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
export const FADE = 0.05; // s: a released note fades out over this
export const MIN_HOLD = 0.08; // s a note tapped shorter than its render still sounds
const NOTE_CACHE = 96; // rendered notes kept per panel

/** `60` → `C4`. */
export const noteName = (pitch) => `${NAMES[((pitch % 12) + 12) % 12]}${Math.floor(pitch / 12) - 1}`;

/** Create (or resume) the player's audio context: call it in the gesture that plays. */
export function wakePlayer() {
  player.ensureContext();
  if (player.ctx.state === "suspended") player.ctx.resume().catch(() => {});
}

/** Play `buffer` now through the player's master gain: a voice to release. */
export function startVoice(buffer) {
  const ctx = player.ctx;
  const node = ctx.createBufferSource();
  node.buffer = buffer;
  const gain = ctx.createGain();
  node.connect(gain);
  gain.connect(player.master);
  node.onended = () => gain.disconnect();
  node.start();
  return { node, gain, started: ctx.currentTime };
}

/** Fade a voice out over FADE s, after it has sounded at least `hold` s. */
export function releaseVoice(voice, hold = 0) {
  const ctx = player.ctx;
  const at = Math.max(ctx.currentTime, voice.started + hold);
  const level = voice.gain.gain;
  level.cancelScheduledValues(at);
  level.setValueAtTime(at > ctx.currentTime ? 1 : level.value, at);
  level.linearRampToValueAtTime(0, at + FADE);
  try {
    voice.node.stop(at + FADE + 0.01);
  } catch {
    // already stopped
  }
}

/** Fill `board` with the 13 on-screen keys of the octave from MIDI `base`: `describe(key,
 * pitch, letter)` sets a key's title and state, `press(pitch, event)` runs on pointerdown and
 * `release(pitch)` when the pointer lifts or leaves. */
export function buildKeys(board, base, { describe, press, release }) {
  board.replaceChildren();
  const whites = [...KEYS].filter((_, i) => !BLACK.has(i % 12)).length;
  let white = 0;
  [...KEYS].forEach((letter, i) => {
    const pitch = base + i;
    const key = document.createElement("button");
    key.type = "button";
    key.tabIndex = -1;
    key.dataset.pitch = String(pitch);
    key.className = `key ${BLACK.has(i % 12) ? "black" : "white"}`;
    if (BLACK.has(i % 12)) key.style.left = `${(100 * white) / whites}%`;
    else white += 1;
    describe(key, pitch, letter);
    key.innerHTML = `<span class="letter">${letter}</span><span class="pitch">${noteName(pitch)}</span>`;
    key.addEventListener("pointerdown", (e) => {
      e.preventDefault();
      press(pitch, e);
    });
    for (const type of ["pointerup", "pointerleave", "pointercancel"]) {
      key.addEventListener(type, () => release(pitch));
    }
    board.append(key);
  });
}

/**
 * A panel's computer keys: KEYS play `base()` … `base() + 12` while `enabled()`, Z / X shift
 * the octave (`shiftOctave(-1 | 1)`). Installs, once, a keyup handler that releases the pitch a
 * key started and a window blur handler (`blur`, the panel's release-all). Returns `keyDown(e)`
 * for the page's keydown handler (outside text fields, without modifiers): true when the key
 * was the panel's (it then plays, not its other use); and `forget()`, for the panel's
 * release-all: the keys held no longer hold a note.
 */
export function computerKeys({ enabled, base, shiftOctave, press, release, blur }) {
  const down = new Map(); // computer key → the pitch it started
  document.addEventListener("keyup", (e) => {
    const key = e.key.toLowerCase();
    if (!down.has(key)) return;
    release(down.get(key));
    down.delete(key);
  });
  window.addEventListener("blur", blur);
  return {
    keyDown(e) {
      if (!enabled()) return false;
      const key = e.key.toLowerCase();
      if (key === "z" || key === "x") {
        if (!e.repeat) shiftOctave(key === "z" ? -1 : 1);
        return true;
      }
      const index = key.length === 1 ? KEYS.indexOf(key) : -1;
      if (index < 0) return false;
      e.preventDefault();
      if (!e.repeat && !down.has(key)) {
        const pitch = base() + index;
        down.set(key, pitch);
        press(pitch);
      }
      return true;
    },
    forget: () => down.clear(),
  };
}

/**
 * Notes rendered by POSTing their request to `url`, the last NOTE_CACHE kept: returns
 * `rendered(body)` → `{promise, cached}`, the promise of `{buffer, renderMs, warnings, headers}`.
 */
export function noteCache(url) {
  const notes = new Map(); // request JSON → Promise<{buffer, renderMs, warnings, headers}>
  return (body) => {
    const key = JSON.stringify(body);
    const known = notes.get(key);
    if (known) {
      notes.delete(key); // most recently used last
      notes.set(key, known);
      return { promise: known, cached: true };
    }
    const promise = postForBlob(url, body).then(async ({ blob, headers }) => ({
      buffer: await decodeAudio(await blob.arrayBuffer(), S.info.sample_rate),
      renderMs: serverMs(headers),
      warnings: headerJSON(headers, "X-Warnings", []),
      headers,
    }));
    promise.catch(() => notes.delete(key));
    notes.set(key, promise);
    while (notes.size > NOTE_CACHE) notes.delete(notes.keys().next().value);
    return { promise, cached: false };
  };
}

/** Show the computer keys' help (and that the A key then plays C) while `keys` are on. */
export function showKeysHelp(keys) {
  for (const element of document.querySelectorAll(".instrument-help")) element.hidden = !keys;
  $("help-ab").textContent = keys
    ? "source ↔ model (its button; the A key plays C while computer keys are on)"
    : "source ↔ model: hear the dataset sound or the model's render";
}

/** The server's render time from `Server-Timing: render;dur=<ms>` (null if absent). */
export function serverMs(headers) {
  const match = /dur=([\d.]+)/.exec(headers.get("Server-Timing") ?? "");
  return match ? Number(match[1]) : null;
}
