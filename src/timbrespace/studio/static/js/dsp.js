// Signal views: a small radix-2 FFT, an STFT, and canvas drawing for waveform and spectrogram.

const TWIDDLES = new Map(); // n → [cos, sin] of −2πk/n, k < n/2

function twiddles(n) {
  if (!TWIDDLES.has(n)) {
    const cos = new Float64Array(n / 2);
    const sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      cos[k] = Math.cos((-2 * Math.PI * k) / n);
      sin[k] = Math.sin((-2 * Math.PI * k) / n);
    }
    TWIDDLES.set(n, [cos, sin]);
  }
  return TWIDDLES.get(n);
}

/** In-place iterative radix-2 FFT of (re, im), length a power of two. */
export function fft(re, im) {
  const n = re.length;
  if (n & (n - 1)) throw new Error(`fft: length ${n} is not a power of two`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      const r = re[i];
      re[i] = re[j];
      re[j] = r;
      const m = im[i];
      im[i] = im[j];
      im[j] = m;
    }
  }
  const [cos, sin] = twiddles(n);
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1;
    const stride = n / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cos[k * stride];
        const wi = sin[k * stride];
        const a = start + k;
        const b = a + half;
        const tr = wr * re[b] - wi * im[b];
        const ti = wr * im[b] + wi * re[b];
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}

/**
 * Magnitude STFT in dB of a mono signal: Hann window, centred frames (zero padded).
 * → {frames: Float32Array[] (each nFft/2+1 bins), nFft, hop}.
 */
export function stft(signal, nFft = 512, hop = 128) {
  const window = new Float32Array(nFft);
  for (let i = 0; i < nFft; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / nFft);
  const count = Math.max(1, Math.floor(signal.length / hop) + 1);
  const bins = nFft / 2 + 1;
  const frames = [];
  const re = new Float32Array(nFft);
  const im = new Float32Array(nFft);
  for (let f = 0; f < count; f++) {
    const offset = f * hop - nFft / 2;
    for (let i = 0; i < nFft; i++) {
      const idx = offset + i;
      re[i] = idx >= 0 && idx < signal.length ? signal[idx] * window[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    const mag = new Float32Array(bins);
    for (let k = 0; k < bins; k++) {
      mag[k] = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-10);
    }
    frames.push(mag);
  }
  return { frames, nFft, hop };
}

/** Mix an AudioBuffer down to one Float32Array. */
export function mono(buffer) {
  if (buffer.numberOfChannels === 1) return buffer.getChannelData(0);
  const out = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i++) out[i] += data[i] / buffer.numberOfChannels;
  }
  return out;
}

/** Size a canvas's backing store to its CSS box × devicePixelRatio; → [width, height]. */
export function fitCanvas(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  return [width, height];
}

function emptyMessage(ctx, width, height, text) {
  ctx.fillStyle = "#5d6572";
  ctx.font = `${Math.round(12 * (window.devicePixelRatio || 1))}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, width / 2, height / 2);
}

/** Min/max waveform per pixel column; `dry` (optional) drawn faintly behind. */
export function drawWaveform(canvas, signal, dry = null) {
  const [width, height] = fitCanvas(canvas);
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#0b0d11";
  ctx.fillRect(0, 0, width, height);
  ctx.strokeStyle = "#232833";
  ctx.beginPath();
  ctx.moveTo(0, height / 2);
  ctx.lineTo(width, height / 2);
  ctx.stroke();
  if (!signal || signal.length === 0) {
    emptyMessage(ctx, width, height, "no sound yet: pick one in the packs or on the map");
    return;
  }
  const length = Math.max(signal.length, dry ? dry.length : 0);
  const column = (data, color) => {
    ctx.fillStyle = color;
    for (let x = 0; x < width; x++) {
      const from = Math.floor((x / width) * length);
      const to = Math.min(data.length, Math.max(from + 1, Math.floor(((x + 1) / width) * length)));
      if (from >= data.length) break;
      let lo = 1;
      let hi = -1;
      for (let i = from; i < to; i++) {
        const v = data[i];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const y0 = ((1 - Math.min(1, hi)) / 2) * height;
      const y1 = ((1 - Math.max(-1, lo)) / 2) * height;
      ctx.fillRect(x, y0, 1, Math.max(1, y1 - y0));
    }
  };
  if (dry) column(dry, "#3a3f4b");
  column(signal, "#47c1bf");
}

// a compact "magma-like" colormap: stops of [position, r, g, b]
const MAGMA = [
  [0.0, 5, 5, 16],
  [0.25, 60, 15, 110],
  [0.5, 150, 40, 120],
  [0.75, 240, 100, 70],
  [1.0, 252, 240, 170],
];
const VIRIDIS = [
  [0.0, 68, 1, 84],
  [0.25, 59, 82, 139],
  [0.5, 33, 145, 140],
  [0.75, 94, 201, 98],
  [1.0, 253, 231, 37],
];

function lookup(stops, t) {
  const v = Math.min(1, Math.max(0, t));
  for (let i = 1; i < stops.length; i++) {
    if (v <= stops[i][0]) {
      const [p0, r0, g0, b0] = stops[i - 1];
      const [p1, r1, g1, b1] = stops[i];
      const u = (v - p0) / (p1 - p0);
      return [r0 + u * (r1 - r0), g0 + u * (g1 - g0), b0 + u * (b1 - b0)];
    }
  }
  return stops[stops.length - 1].slice(1);
}

export const magma = (t) => lookup(MAGMA, t);
export const viridis = (t) => lookup(VIRIDIS, t);
export const viridisGradient = `linear-gradient(90deg, ${VIRIDIS.map(
  ([p, r, g, b]) => `rgb(${r},${g},${b}) ${p * 100}%`,
).join(", ")})`;

const MAGMA_LUT = (() => {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) lut.set(magma(i / 255), i * 3);
  return lut;
})();

/** Spectrogram on a log-frequency axis (30 Hz … Nyquist), 80 dB of range below the peak. */
export function drawSpectrogram(canvas, signal, sampleRate) {
  const [width, height] = fitCanvas(canvas);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#0b0d11";
  ctx.fillRect(0, 0, width, height);
  if (!signal || signal.length === 0) {
    emptyMessage(ctx, width, height, "spectrogram");
    return;
  }
  const nFft = sampleRate > 32000 ? 1024 : 512;
  const hop = Math.max(32, Math.floor(signal.length / Math.min(width, 256)));
  const { frames } = stft(signal, nFft, Math.min(hop, nFft / 2));
  let peak = -Infinity;
  for (const frame of frames) for (const v of frame) if (v > peak) peak = v;
  const floor = peak - 80;
  const span = peak - floor || 1;
  const bins = nFft / 2 + 1;
  const nyquist = sampleRate / 2;
  const fMin = 30;
  // an image of frames × rows, scaled onto the canvas
  const cols = frames.length;
  const rows = Math.min(height, 192);
  const rowBin = new Float32Array(rows); // the (fractional) bin of each row, top = Nyquist
  for (let y = 0; y < rows; y++) {
    const frac = 1 - y / Math.max(1, rows - 1);
    rowBin[y] = Math.min(bins - 1, ((fMin * (nyquist / fMin) ** frac) / nyquist) * (bins - 1));
  }
  const image = new ImageData(cols, rows);
  const pixels = image.data;
  for (let x = 0; x < cols; x++) {
    const frame = frames[x];
    for (let y = 0; y < rows; y++) {
      const b = rowBin[y];
      const k = Math.floor(b);
      const u = b - k;
      const v = k + 1 < bins ? frame[k] * (1 - u) + frame[k + 1] * u : frame[k];
      const level = Math.max(0, Math.min(255, Math.round(((v - floor) / span) * 255))) * 3;
      const o = (y * cols + x) * 4;
      pixels[o] = MAGMA_LUT[level];
      pixels[o + 1] = MAGMA_LUT[level + 1];
      pixels[o + 2] = MAGMA_LUT[level + 2];
      pixels[o + 3] = 255;
    }
  }
  const offscreen = new OffscreenCanvas(cols, rows);
  offscreen.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(offscreen, 0, 0, width, height);
  // frequency ticks
  const ratio = window.devicePixelRatio || 1;
  ctx.font = `${Math.round(10 * ratio)}px system-ui, sans-serif`;
  ctx.fillStyle = "#ffffffaa";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  for (const f of [100, 1000, 10000]) {
    if (f >= nyquist) continue;
    const y = (1 - Math.log(f / fMin) / Math.log(nyquist / fMin)) * (height - 1);
    ctx.fillText(f >= 1000 ? `${f / 1000}k` : `${f}`, 4 * ratio, y);
  }
}
