// Web Audio playback: the rendered sound (wet) and the original dataset sound (dry), an
// equal-power dry/wet crossfade, A/B, output gain, and a loop that re-triggers every beat.

const LOOKAHEAD = 0.12; // s scheduled ahead of the clock
const TICK = 25; // ms between scheduler runs

export class Player {
  constructor({ onChange = () => {} } = {}) {
    this.ctx = null;
    this.wet = null; // AudioBuffer of the rendered sound
    this.dry = null; // AudioBuffer of the reference original
    this.mix = 1; // 0 = dry, 1 = wet
    this.ab = "B"; // "A" = the original alone, "B" = the crossfade
    this.gainDb = 0;
    this.loop = false;
    this.bpm = 120;
    this.playing = false;
    this.voices = new Set();
    this.timer = null;
    this.nextBeat = 0;
    this.lastStart = 0;
    this.lastDuration = 0;
    this.onChange = onChange;
  }

  /** Create the AudioContext on the first user gesture (browsers refuse it before). */
  ensureContext() {
    if (this.ctx) return this.ctx;
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) throw new Error("this browser has no Web Audio");
    this.ctx = new Context();
    this.master = this.ctx.createGain();
    this.wetGain = this.ctx.createGain();
    this.dryGain = this.ctx.createGain();
    this.wetGain.connect(this.master);
    this.dryGain.connect(this.master);
    this.master.connect(this.ctx.destination);
    this.#applyLevels();
    return this.ctx;
  }

  setBuffers(wet, dry) {
    this.wet = wet;
    this.dry = dry;
  }

  setDry(dry) {
    this.dry = dry;
  }

  setMix(mix) {
    this.mix = Math.min(1, Math.max(0, mix));
    this.#applyLevels();
  }

  setAB(ab) {
    this.ab = ab;
    this.#applyLevels();
  }

  setGainDb(db) {
    this.gainDb = db;
    this.#applyLevels();
  }

  setBpm(bpm) {
    if (Number.isFinite(bpm) && bpm >= 20 && bpm <= 300) this.bpm = bpm;
  }

  setLoop(loop) {
    this.loop = loop;
    if (this.playing) {
      this.stop();
      this.play();
    }
  }

  #applyLevels() {
    if (!this.ctx) return;
    const m = this.ab === "A" ? 0 : this.mix;
    const now = this.ctx.currentTime;
    this.wetGain.gain.setTargetAtTime(Math.sin((m * Math.PI) / 2), now, 0.01);
    this.dryGain.gain.setTargetAtTime(Math.cos((m * Math.PI) / 2), now, 0.01);
    this.master.gain.setTargetAtTime(10 ** (this.gainDb / 20), now, 0.01);
  }

  #resume() {
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
  }

  #voice(buffer, destination, when) {
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    const env = this.ctx.createGain();
    source.connect(env);
    env.connect(destination);
    const voice = { source, env };
    source.onended = () => {
      this.voices.delete(voice);
      env.disconnect();
      if (this.playing && !this.loop && this.voices.size === 0) {
        this.playing = false;
        this.onChange();
      }
    };
    this.voices.add(voice);
    source.start(when);
  }

  #trigger(when) {
    // cut the voices still sounding, with a short fade (no click)
    for (const { source, env } of this.voices) {
      env.gain.setTargetAtTime(0, when, 0.004);
      try {
        source.stop(when + 0.03);
      } catch {
        // already stopped
      }
    }
    if (this.wet) this.#voice(this.wet, this.wetGain, when);
    if (this.dry) this.#voice(this.dry, this.dryGain, when);
    this.lastStart = when;
    this.lastDuration = Math.max(this.wet ? this.wet.duration : 0, this.dry ? this.dry.duration : 0);
  }

  play() {
    if (!this.wet && !this.dry) return;
    this.ensureContext();
    this.#resume();
    this.playing = true;
    const start = this.ctx.currentTime + 0.02;
    if (this.loop) {
      this.nextBeat = start;
      const schedule = () => {
        while (this.nextBeat < this.ctx.currentTime + LOOKAHEAD) {
          this.#trigger(this.nextBeat);
          this.nextBeat += 60 / this.bpm;
        }
      };
      schedule();
      this.timer = setInterval(schedule, TICK);
    } else {
      this.#trigger(start);
    }
    this.onChange();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.playing = false;
    if (this.ctx) {
      const now = this.ctx.currentTime;
      for (const { source, env } of this.voices) {
        env.gain.setTargetAtTime(0, now, 0.004);
        try {
          source.stop(now + 0.03);
        } catch {
          // already stopped
        }
      }
    }
    this.onChange();
  }

  toggle() {
    if (this.playing) this.stop();
    else this.play();
  }

  /** Play one buffer once (a pack preview), through the output gain only. */
  preview(buffer) {
    this.ensureContext();
    this.#resume();
    this.stop();
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.master);
    source.start();
  }

  /** Playhead as a fraction of the sound, or null when silent. */
  position() {
    if (!this.playing || !this.ctx || !this.lastDuration) return null;
    const t = (this.ctx.currentTime - this.lastStart) / this.lastDuration;
    return t >= 0 && t <= 1 ? t : null;
  }
}

/**
 * Decode audio bytes without an AudioContext (no autoplay warning before a gesture). Falls
 * back to a small AIFF/AIFF-C PCM reader: browsers do not decode AIFF, and sample packs (even
 * files named .wav) hold some.
 */
export async function decodeAudio(arrayBuffer, sampleRate) {
  const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
  const ctx = new Offline(1, 1, sampleRate);
  try {
    return await ctx.decodeAudioData(arrayBuffer.slice(0));
  } catch (error) {
    const aiff = readAiff(arrayBuffer);
    if (aiff) return aiff;
    throw error;
  }
}

/** An AudioBuffer from AIFF / AIFF-C (NONE, sowt) PCM bytes, or null if they are not that. */
export function readAiff(arrayBuffer) {
  const view = new DataView(arrayBuffer);
  const tag = (offset) =>
    String.fromCharCode(...new Uint8Array(arrayBuffer, offset, Math.min(4, view.byteLength - offset)));
  if (view.byteLength < 12 || tag(0) !== "FORM" || !["AIFF", "AIFC"].includes(tag(8))) {
    return null;
  }
  let channels = 0;
  let frames = 0;
  let bits = 0;
  let rate = 0;
  let little = false;
  let data = -1;
  for (let offset = 12; offset + 8 <= view.byteLength; ) {
    const id = tag(offset);
    const size = view.getUint32(offset + 4);
    const body = offset + 8;
    if (id === "COMM") {
      channels = view.getInt16(body);
      frames = view.getUint32(body + 2);
      bits = view.getInt16(body + 6);
      rate = extended(view, body + 8);
      if (tag(8) === "AIFC" && size >= 22) {
        const compression = tag(body + 18);
        if (compression === "sowt") little = true;
        else if (compression !== "NONE") return null;
      }
    } else if (id === "SSND") {
      data = body + 8 + view.getUint32(body);
    }
    offset = body + size + (size % 2);
  }
  const width = Math.ceil(bits / 8);
  if (!channels || !frames || data < 0 || !(width >= 1 && width <= 4) || !(rate >= 3000)) {
    return null;
  }
  frames = Math.min(frames, Math.floor((view.byteLength - data) / (width * channels)));
  const buffer = new AudioBuffer({ length: Math.max(1, frames), numberOfChannels: channels, sampleRate: rate });
  const scale = 2 ** (8 * width - 1);
  for (let c = 0; c < channels; c++) {
    const out = buffer.getChannelData(c);
    for (let i = 0; i < frames; i++) {
      const at = data + (i * channels + c) * width;
      let v = 0;
      for (let k = 0; k < width; k++) {
        const byte = view.getUint8(at + (little ? width - 1 - k : k));
        v = v * 256 + byte;
      }
      if (v >= scale) v -= 2 * scale;
      out[i] = v / scale;
    }
  }
  return buffer;
}

/** An IEEE 754 80-bit extended float (AIFF's sample rate). */
function extended(view, offset) {
  const exponent = view.getUint16(offset);
  const high = view.getUint32(offset + 2);
  const low = view.getUint32(offset + 6);
  const sign = exponent & 0x8000 ? -1 : 1;
  const e = (exponent & 0x7fff) - 16383;
  return sign * (high * 2 ** (e - 31) + low * 2 ** (e - 63));
}
