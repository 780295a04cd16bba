// Notes played from the keyboard panels (instrument-panel.js, notes-panel.js): the computer keys
// as in common DAWs, note names, and voices — a rendered note played through the page's player
// while its key is held, faded out at key-up.

import { player } from "./sound-panel.js";

export const KEYS = "awsedftgyhujk"; // C … C, one octave
export const BLACK = new Set([1, 3, 6, 8, 10]); // pitch classes of the black keys
const NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
export const FADE = 0.05; // s: a released note fades out over this
export const MIN_HOLD = 0.08; // s a note tapped shorter than its render still sounds

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

/** The server's render time from `Server-Timing: render;dur=<ms>` (null if absent). */
export function serverMs(headers) {
  const match = /dur=([\d.]+)/.exec(headers.get("Server-Timing") ?? "");
  return match ? Number(match[1]) : null;
}
