"""Audio descriptors: one registry, name → per-frame curve and per-clip scalar, units documented.

Every clip is analysed once by a `SignalAnalysis` (center-padded frames, STFT magnitude, frame
RMS, A-weighted frame power, YIN, a fine amplitude envelope); each descriptor only reads from it.
All curves share one frame grid: frame `i` is centred on sample `i * hop_length` and a clip of
`n` samples has `frame_count(n, settings) == 1 + n // hop_length` frames.

Clip scalars of frame-wise descriptors are means weighted by the frame's A-weighted power (the
linear quantity behind `loudness`), so silent frames do not count. Pitch is a vectorised YIN run
at 16 kHz whatever the clip rate (enough for f0 ≤ 2 kHz, and the same answer for 16 and 44.1 kHz
datasets). Envelope descriptors (`attack_time`, `release_time`, `decay_constant`) read a ~1 ms
analytic-signal envelope and are measured once per clip; their curve repeats the clip value on
every frame. NaN marks an undefined value (f0 of noise, decay of a flat tone).

    values = compute_descriptors(audio, DescriptorSettings(sample_rate=44100))
    values.value("f0"), values.curve("loudness")

Custom descriptors join the registry by name: `register_descriptor(Descriptor("peak", "ratio",
"...", curve=..., clip=...))`; both callables receive the clip's `SignalAnalysis`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
import scipy.fft
import soxr

SILENCE_DB = -120.0
ATTACK_LOW, ATTACK_HIGH = 0.1, 0.9
DECAY_START_DB, DECAY_END_DB = -3.0, -40.0
RELEASE_DB = -40.0
ROLLOFF_FRACTION = 0.85
FLATNESS_AMIN = 1e-10
SINE_POWER = 0.5
ABSOLUTE_SILENCE_RMS = 1e-5
PITCH_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class DescriptorSettings:
    """Analysis settings; lengths in samples, frequencies in Hz, levels in dB, times in s.

    `yin_threshold` is the YIN absolute threshold on the cumulative-mean-normalised difference
    (the first trough below it gives the period). A frame is voiced when its confidence
    (1 − min cmnd) is at least `voicing_threshold` and its RMS is within `silence_db` of the
    clip's loudest frame. The fine envelope has one value per `envelope_resolution` seconds;
    release and decay read it smoothed over `envelope_smoothing` seconds.
    """

    sample_rate: int
    frame_length: int = 2048
    hop_length: int = 512
    fmin: float = 30.0
    fmax: float = 2000.0
    yin_threshold: float = 0.1
    voicing_threshold: float = 0.8
    silence_db: float = -40.0
    envelope_resolution: float = 0.001
    envelope_smoothing: float = 0.01

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.frame_length < 2 or self.hop_length < 1:
            raise ValueError(
                f"need frame_length >= 2 and hop_length >= 1, got {self.frame_length}, "
                f"{self.hop_length}"
            )
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 < fmin < fmax <= sample_rate / 2, got fmin={self.fmin}, "
                f"fmax={self.fmax}, sample_rate={self.sample_rate}"
            )
        if self.envelope_resolution <= 0 or self.envelope_smoothing < 0:
            raise ValueError("envelope_resolution must be > 0 and envelope_smoothing >= 0")

    @property
    def pitch_sample_rate(self) -> int:
        """Rate (Hz) YIN runs at: `PITCH_SAMPLE_RATE`, the clip rate if lower, ≥ 4 × `fmax`."""
        return min(self.sample_rate, max(PITCH_SAMPLE_RATE, math.ceil(4 * self.fmax)))

    @property
    def min_period(self) -> int:
        """Shortest YIN lag searched (samples at `pitch_sample_rate`), from `fmax`; ≥ 2."""
        return max(2, int(self.pitch_sample_rate / self.fmax))

    @property
    def max_period(self) -> int:
        """Longest YIN lag searched (samples at `pitch_sample_rate`), from `fmin`."""
        return max(self.min_period + 1, math.ceil(self.pitch_sample_rate / self.fmin))

    @property
    def yin_frame_length(self) -> int:
        """YIN frame (samples at `pitch_sample_rate`): a window ≥ `max_period` plus every lag."""
        return scipy.fft.next_fast_len(2 * (self.max_period + 2), real=True)


def frame_count(n_samples: int, settings: DescriptorSettings) -> int:
    """Frames in every curve of a clip of `n_samples` (center-padded framing)."""
    return 1 + n_samples // settings.hop_length


def frame_signal(audio: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Zero-padded frames centred on `i * hop_length`: `[frame_count, frame_length]` view."""
    n_frames = 1 + audio.size // hop_length
    left = frame_length // 2
    right = (n_frames - 1) * hop_length + frame_length - left - audio.size
    padded = np.pad(audio, (left, max(right, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, frame_length)
    return windows[::hop_length][:n_frames]


def framed_sums(values: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Sum of `values` [samples] over each center-padded frame: float64 `[frames]`."""
    n_frames = 1 + values.size // hop_length
    starts = np.arange(n_frames) * hop_length - frame_length // 2
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
    ends = np.clip(starts + frame_length, 0, values.size)
    return cumulative[ends] - cumulative[np.clip(starts, 0, values.size)]


@lru_cache(maxsize=16)
def hann_window(length: int) -> np.ndarray:
    """Periodic Hann window (librosa's STFT window): float32 `[length]`."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(length) / length)).astype(np.float32)
    window.flags.writeable = False
    return window


def a_weighting(frequencies: np.ndarray) -> np.ndarray:
    """IEC 61672 A-weighting as a power gain (1 at 1 kHz) for `frequencies` (Hz)."""
    f2 = np.square(np.asarray(frequencies, dtype=np.float64))
    amplitude = (12194.0**2 * f2**2) / (
        (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    return np.square(amplitude * 10 ** (2.0 / 20))


@lru_cache(maxsize=16)
def loudness_weights(sample_rate: int, frame_length: int) -> np.ndarray:
    """Per-bin weights turning a Hann STFT power frame into A-weighted mean square `[bins]`.

    Parseval for a one-sided spectrum (interior bins count twice) divided by the window energy,
    so `weights @ power` of a unit-amplitude 1 kHz sine is 0.5.
    """
    frequencies = np.fft.rfftfreq(frame_length, 1 / sample_rate)
    sides = np.full(frequencies.size, 2.0)
    sides[0] = 1.0
    if frame_length % 2 == 0:
        sides[-1] = 1.0
    window_energy = float(np.sum(np.square(hann_window(frame_length), dtype=np.float64)))
    weights = (a_weighting(frequencies) * sides / (frame_length * window_energy)).astype(np.float32)
    weights.flags.writeable = False
    return weights


def power_to_db(power: np.ndarray, reference: float = SINE_POWER) -> np.ndarray:
    """`10 log10(power / reference)`, floored at `SILENCE_DB`: float32, same shape."""
    floor = reference * 10 ** (SILENCE_DB / 10)
    return (10 * np.log10(np.maximum(power, floor) / reference)).astype(np.float32)


def weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    """Mean of `values` [frames] weighted by `weights` [frames], skipping NaN; NaN if no weight."""
    keep = np.isfinite(values) & (weights > 0)
    total = float(weights[keep].sum())
    if total <= 0:
        return float("nan")
    return float(np.dot(values[keep].astype(np.float64), weights[keep]) / total)


class PitchTrack(NamedTuple):
    """YIN output per frame: `f0` (Hz, never NaN) and `confidence` (1 − min cmnd, 0..1)."""

    f0: np.ndarray
    confidence: np.ndarray


def yin(
    audio: np.ndarray,
    sample_rate: int,
    centers: np.ndarray,
    frame_length: int,
    min_period: int,
    max_period: int,
    threshold: float,
) -> PitchTrack:
    """Vectorised YIN (de Cheveigné & Kawahara 2002) at the samples `centers` `[frames]`.

    Each frame compares a window of `frame_length - max_period - 2` samples centred on its centre
    (moved inside the clip at its edges, so no frame reads padding unless the clip is shorter
    than `frame_length`) with the same window delayed by every lag up to `max_period + 1`; the
    products come from one FFT
    cross-correlation per frame, the energies from one cumulative sum of the signal. The period is
    the first trough of the cumulative-mean-normalised difference (cmnd) below `threshold` in
    `[min_period, max_period]`, else its global minimum, refined by parabolic interpolation.
    Returns f0 (Hz) and confidence `1 − min cmnd` for each of the `[frames]` centres.
    """
    n_lags = max_period + 2
    window = frame_length - n_lags
    if window < 1 or min_period < 2:
        raise ValueError(f"YIN frame of {frame_length} samples cannot hold lag {max_period}")
    n_frames = centers.size
    padded = np.pad(audio, (0, max(frame_length - audio.size, 0)))
    starts = np.clip(centers - window // 2, 0, padded.size - frame_length)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[starts]
    spectrum = scipy.fft.rfft(frames, axis=1)
    head = scipy.fft.rfft(frames[:, :window], n=frame_length, axis=1)
    np.conjugate(head, out=head)
    head *= spectrum
    correlation = scipy.fft.irfft(head, n=frame_length, axis=1)[:, :n_lags]

    cumulative = np.concatenate([[0.0], np.cumsum(np.square(padded, dtype=np.float64))])
    lagged = np.lib.stride_tricks.sliding_window_view(cumulative, n_lags)
    energy = (lagged[starts + window] - lagged[starts]).astype(np.float32)
    difference = energy[:, :1] + energy - 2 * correlation
    np.maximum(difference, 0.0, out=difference)
    difference[:, 0] = 0.0
    running = np.cumsum(difference, axis=1)
    running[:, 0] = 1.0
    cmnd = difference * np.arange(n_lags, dtype=np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmnd /= running
    cmnd[~(running > 0)] = 1.0
    cmnd[:, 0] = 1.0

    search = cmnd[:, min_period : max_period + 1]
    trough = (search < cmnd[:, min_period - 1 : max_period]) & (
        search <= cmnd[:, min_period + 1 : max_period + 2]
    )
    candidates = trough & (search < threshold)
    first = np.argmax(candidates, axis=1)
    best = np.argmin(search, axis=1)
    rows = np.arange(n_frames)
    period = min_period + np.where(candidates[rows, first], first, best)

    before, at, after = (difference[rows, period + k] for k in (-1, 0, 1))
    curvature = before - 2 * at + after
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(curvature > 0, 0.5 * (before - after) / curvature, 0.0)
    refined = period + np.clip(shift, -1.0, 1.0)
    confidence = np.clip(1.0 - search[rows, best], 0.0, 1.0)
    return PitchTrack(
        f0=(sample_rate / refined).astype(np.float32), confidence=confidence.astype(np.float32)
    )


def spectral_centroid(magnitude: np.ndarray, frequencies: np.ndarray) -> np.ndarray:
    """Magnitude-weighted mean frequency (Hz) of `magnitude` `[bins, frames]`; 0 when silent."""
    total = magnitude.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    return (frequencies @ magnitude / safe).astype(np.float32)


def spectral_bandwidth(
    magnitude: np.ndarray, frequencies: np.ndarray, centroid: np.ndarray
) -> np.ndarray:
    """Magnitude-weighted standard deviation of frequency (Hz) around `centroid` `[frames]`."""
    total = magnitude.sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    second = np.square(frequencies) @ magnitude / safe
    variance = np.maximum(second - np.square(centroid.astype(np.float64)), 0.0)
    return np.sqrt(variance).astype(np.float32)


def spectral_rolloff(
    magnitude: np.ndarray, frequencies: np.ndarray, fraction: float = ROLLOFF_FRACTION
) -> np.ndarray:
    """Lowest frequency (Hz) below which `fraction` of each frame's magnitude lies `[frames]`."""
    cumulative = np.cumsum(magnitude, axis=0)
    reached = cumulative >= fraction * cumulative[-1]
    return frequencies[np.argmax(reached, axis=0)].astype(np.float32)


def spectral_flatness(power: np.ndarray, amin: float = FLATNESS_AMIN) -> np.ndarray:
    """Geometric over arithmetic mean of the power spectrum `[bins, frames]` (0..1) `[frames]`."""
    floored = np.maximum(power, amin)
    geometric = np.exp(np.log(floored).mean(axis=0))
    return (geometric / floored.mean(axis=0)).astype(np.float32)


def zero_crossing_rate(
    audio: np.ndarray, sample_rate: int, frame_length: int, hop_length: int
) -> np.ndarray:
    """Sign changes per second in each center-padded frame `[frames]` (a sine of f Hz → 2f)."""
    negative = audio < 0
    crossings = np.zeros(audio.size, np.float64)
    crossings[1:] = negative[1:] != negative[:-1]
    counts = framed_sums(crossings, frame_length, hop_length)
    return (counts * sample_rate / frame_length).astype(np.float32)


def amplitude_envelope(audio: np.ndarray, block: int) -> np.ndarray:
    """Fine amplitude envelope: the analytic-signal magnitude averaged over `block` samples.

    Bounded by the running peak of |audio| so the Hilbert transform's pre-echo cannot start a
    sound before its onset. Returns float32 `[audio.size // block]`, the value of block `k`
    belonging to time `(k + 0.5) * block / sample_rate`.
    """
    n_fft = scipy.fft.next_fast_len(audio.size + audio.size // 2 + 1, real=True)
    spectrum = scipy.fft.rfft(audio, n=n_fft)
    spectrum[0] = 0
    if n_fft % 2 == 0:
        spectrum[-1] = 0
    quadrature = scipy.fft.irfft(spectrum * np.complex64(-1j), n=n_fft)[: audio.size]
    magnitude = np.sqrt(np.square(audio) + np.square(quadrature))
    n_blocks = audio.size // block
    means = magnitude[: n_blocks * block].reshape(n_blocks, block).mean(axis=1)
    running_peak = np.maximum.accumulate(np.abs(audio[: n_blocks * block]))[block - 1 :: block]
    return np.minimum(means, running_peak).astype(np.float32)


def smooth(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average over `width` points, normalised at the edges: float32, same shape."""
    width = min(width, values.size - (1 - values.size % 2))
    if width <= 1:
        return values
    kernel = np.ones(width)
    counts = np.convolve(np.ones(values.size), kernel, mode="same")
    return (np.convolve(values, kernel, mode="same") / counts).astype(np.float32)


def crossing_time(values: np.ndarray, times: np.ndarray, level: float) -> float:
    """First time (s) `values` reaches `level`, linearly interpolated; `times[0]` if at once."""
    index = int(np.argmax(values >= level))
    if index == 0:
        return float(times[0])
    low, high = float(values[index - 1]), float(values[index])
    fraction = (level - low) / (high - low) if high > low else 1.0
    return float(times[index - 1] + fraction * (times[index] - times[index - 1]))


def attack_time(envelope: np.ndarray, times: np.ndarray, peak: float) -> float:
    """Time (s) between the first crossings of 10 % and 90 % of `peak` by `envelope`.

    `peak` should come from a smoothed envelope: the fine envelope of noise has spikes well above
    its level, and 90 % of a spike is reached late or never.
    """
    if peak <= 0:
        return float("nan")
    high = crossing_time(envelope, times, ATTACK_HIGH * peak)
    return high - crossing_time(envelope, times, ATTACK_LOW * peak)


def release_time(envelope: np.ndarray, times: np.ndarray, duration: float) -> float:
    """Time (s) from the envelope peak until it stays below `RELEASE_DB` re. the peak.

    Clipped to `duration - t_peak` when the envelope is still above that level at the end.
    """
    peak_index = int(np.argmax(envelope))
    peak = float(envelope[peak_index])
    if peak <= 0:
        return float("nan")
    level = peak * 10 ** (RELEASE_DB / 20)
    above = np.flatnonzero(envelope[peak_index:] >= level) + peak_index
    last = int(above[-1])
    if last == envelope.size - 1:
        return duration - float(times[peak_index])
    high, low = float(envelope[last]), float(envelope[last + 1])
    fraction = (high - level) / (high - low) if high > low else 0.0
    end = times[last] + fraction * (times[last + 1] - times[last])
    return float(end - times[peak_index])


def decay_constant(envelope: np.ndarray, times: np.ndarray) -> float:
    """Time constant τ (s) of `e^(−t/τ)` fitted to the dB envelope after its peak.

    Least squares over the stretch from the first point 3 dB below the peak to the first point
    40 dB below it (or the clip end). NaN with fewer than 3 points or a non-falling fit.
    """
    peak_index = int(np.argmax(envelope))
    peak = float(envelope[peak_index])
    if peak <= 0:
        return float("nan")
    tail = envelope[peak_index:].astype(np.float64) / peak
    level_db = 20 * np.log10(np.maximum(tail, 1e-12))
    start = int(np.argmax(level_db <= DECAY_START_DB))
    below_end = level_db <= DECAY_END_DB
    end = int(np.argmax(below_end)) if below_end.any() else tail.size
    if level_db[start] > DECAY_START_DB or end - start < 3:
        return float("nan")
    t = times[peak_index + start : peak_index + end]
    t = t - t.mean()
    slope = float(np.dot(t, level_db[start:end]) / np.dot(t, t))
    if slope >= 0:
        return float("nan")
    return float(-20 * math.log10(math.e) / slope)


def to_mono(audio: np.ndarray) -> np.ndarray:
    """`[samples]` or `[channels, samples]` → finite float32 mono `[samples]` (channel mean)."""
    audio = np.asarray(audio)
    if audio.ndim not in (1, 2):
        raise ValueError(f"audio must be [samples] or [channels, samples], got {audio.shape}")
    if audio.size == 0:
        raise ValueError("audio is empty")
    if audio.ndim == 2:
        audio = audio.mean(axis=0, dtype=np.float32)
    if not np.isfinite(audio).all():
        raise ValueError("audio contains NaN or infinite samples")
    return np.ascontiguousarray(audio, dtype=np.float32)


class SignalAnalysis:
    """Everything descriptors share for one clip, each part computed on first use.

    `audio` is `[samples]` or `[channels, samples]`; analysis runs on the channel mean.
    Arrays follow librosa's layout: spectra are `[bins, frames]`, curves `[frames]`.
    """

    def __init__(self, audio: np.ndarray, settings: DescriptorSettings) -> None:
        self.audio = to_mono(audio)
        self.settings = settings
        self._curves: dict[str, np.ndarray] = {}

    @property
    def n_samples(self) -> int:
        return self.audio.size

    @property
    def duration(self) -> float:
        """Clip length (s)."""
        return self.audio.size / self.settings.sample_rate

    @property
    def n_frames(self) -> int:
        return frame_count(self.audio.size, self.settings)

    @cached_property
    def frames(self) -> np.ndarray:
        """Center-padded frames `[frames, frame_length]` (a view)."""
        return frame_signal(self.audio, self.settings.frame_length, self.settings.hop_length)

    @cached_property
    def magnitude(self) -> np.ndarray:
        """Hann-windowed STFT magnitude `[bins, frames]` float32 (librosa.stft scale)."""
        windowed = self.frames * hann_window(self.settings.frame_length)
        return np.abs(scipy.fft.rfft(windowed, axis=1)).T

    @cached_property
    def power(self) -> np.ndarray:
        """Squared STFT magnitude `[bins, frames]`."""
        return np.square(self.magnitude)

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each STFT bin `[bins]`."""
        return np.fft.rfftfreq(self.settings.frame_length, 1 / self.settings.sample_rate)

    @cached_property
    def frame_rms(self) -> np.ndarray:
        """Root mean square of each unwindowed frame `[frames]` float32 (librosa.feature.rms)."""
        sums = framed_sums(
            np.square(self.audio), self.settings.frame_length, self.settings.hop_length
        )
        return np.sqrt(np.maximum(sums, 0.0) / self.settings.frame_length).astype(np.float32)

    @cached_property
    def weighted_power(self) -> np.ndarray:
        """A-weighted mean square of each frame `[frames]` (a unit-amplitude 1 kHz sine → 0.5).

        Also the weight of every frame in the clip summaries.
        """
        weights = loudness_weights(self.settings.sample_rate, self.settings.frame_length)
        return (weights @ self.power).astype(np.float64)

    @cached_property
    def loudness(self) -> np.ndarray:
        """A-weighted frame power in dB re. a full-scale sine, floored at −120 dB `[frames]`."""
        return power_to_db(self.weighted_power)

    @cached_property
    def voiced_gate(self) -> np.ndarray:
        """True for frames loud enough to carry a pitch `[frames]` bool."""
        rms = self.frame_rms
        level = max(float(rms.max()) * 10 ** (self.settings.silence_db / 20), ABSOLUTE_SILENCE_RMS)
        return rms >= level

    @cached_property
    def pitch(self) -> PitchTrack:
        """YIN f0 (Hz) and confidence per frame; confidence is 0 on gated (silent) frames."""
        settings = self.settings
        rate = settings.pitch_sample_rate
        audio = self.audio
        if rate != settings.sample_rate:
            audio = soxr.resample(audio, settings.sample_rate, rate)
        centers = np.arange(self.n_frames) * settings.hop_length * rate // settings.sample_rate
        track = yin(
            audio,
            rate,
            centers,
            settings.yin_frame_length,
            settings.min_period,
            settings.max_period,
            settings.yin_threshold,
        )
        return PitchTrack(track.f0, np.where(self.voiced_gate, track.confidence, 0.0))

    @cached_property
    def voiced(self) -> np.ndarray:
        """Frames with a trusted f0 `[frames]` bool."""
        return self.pitch.confidence >= self.settings.voicing_threshold

    @property
    def envelope_block(self) -> int:
        """Samples per fine-envelope value."""
        block = round(self.settings.envelope_resolution * self.settings.sample_rate)
        return int(min(max(block, 1), self.n_samples))

    @cached_property
    def envelope(self) -> np.ndarray:
        """Fine amplitude envelope (linear, ~1 ms per value) `[blocks]` float32."""
        return amplitude_envelope(self.audio, self.envelope_block)

    @cached_property
    def envelope_times(self) -> np.ndarray:
        """Time (s) of each fine-envelope value `[blocks]`."""
        block = self.envelope_block
        return (np.arange(self.envelope.size) + 0.5) * block / self.settings.sample_rate

    @cached_property
    def smooth_envelope(self) -> np.ndarray:
        """`envelope` averaged over `envelope_smoothing` seconds `[blocks]` float32."""
        width = round(self.settings.envelope_smoothing / self.settings.envelope_resolution)
        return smooth(self.envelope, int(width) | 1)

    def curve(self, name: str) -> np.ndarray:
        """The registered descriptor's curve `[frames]` float32, computed once per analysis."""
        if name not in self._curves:
            curve = np.asarray(get_descriptor(name).curve(self), dtype=np.float32)
            if curve.shape != (self.n_frames,):
                raise ValueError(
                    f"descriptor {name!r} returned a curve of shape {curve.shape}, "
                    f"expected ({self.n_frames},)"
                )
            self._curves[name] = curve
        return self._curves[name]

    def weighted_clip(self, name: str) -> float:
        """Mean of the curve `name` over frames weighted by A-weighted frame power."""
        return weighted_mean(self.curve(name), self.weighted_power)

    def constant(self, value: float) -> np.ndarray:
        """`value` repeated on every frame `[frames]` float32."""
        return np.full(self.n_frames, value, np.float32)


@dataclass(frozen=True)
class Descriptor:
    """A named descriptor: `curve(analysis)` → float32 `[frames]`, `clip(analysis)` → float."""

    name: str
    unit: str
    description: str
    curve: Callable[[SignalAnalysis], np.ndarray]
    clip: Callable[[SignalAnalysis], float]


DESCRIPTORS: dict[str, Descriptor] = {}


def register_descriptor(descriptor: Descriptor) -> Descriptor:
    """Add `descriptor` to `DESCRIPTORS` under its name; raises ValueError if it is taken."""
    if descriptor.name in DESCRIPTORS:
        raise ValueError(f"descriptor {descriptor.name!r} is already registered")
    DESCRIPTORS[descriptor.name] = descriptor
    return descriptor


def unregister_descriptor(name: str) -> Descriptor:
    """Remove and return the descriptor `name` (KeyError listing the known names if absent)."""
    get_descriptor(name)
    return DESCRIPTORS.pop(name)


def descriptor_names() -> list[str]:
    """Registered names in registration order (built-ins first)."""
    return list(DESCRIPTORS)


def get_descriptor(name: str) -> Descriptor:
    """The descriptor `name`; KeyError listing the known names if unknown."""
    try:
        return DESCRIPTORS[name]
    except KeyError:
        raise KeyError(
            f"unknown descriptor {name!r}; known: {', '.join(descriptor_names())}"
        ) from None


@dataclass(frozen=True)
class DescriptorValues:
    """Descriptors of one clip: `clip` float32 `[D]`, `curves` float32 `[D, frames]`."""

    names: list[str]
    clip: np.ndarray
    curves: np.ndarray

    def value(self, name: str) -> float:
        """The clip scalar of `name`."""
        return float(self.clip[self.names.index(name)])

    def curve(self, name: str) -> np.ndarray:
        """The curve of `name` `[frames]`."""
        return self.curves[self.names.index(name)]


def compute_descriptors(
    audio: np.ndarray, settings: DescriptorSettings, names: Sequence[str] | None = None
) -> DescriptorValues:
    """Compute `names` (default: all registered) on `audio` `[samples]` or `[channels, samples]`.

    Multi-channel audio is analysed as its channel mean. Raises KeyError for unknown names and
    ValueError for empty or non-finite audio.
    """
    selected = descriptor_names() if names is None else list(names)
    descriptors = [get_descriptor(name) for name in selected]
    analysis = SignalAnalysis(audio, settings)
    curves = np.empty((len(selected), analysis.n_frames), np.float32)
    clip = np.empty(len(selected), np.float32)
    for i, descriptor in enumerate(descriptors):
        curves[i] = analysis.curve(descriptor.name)
        clip[i] = descriptor.clip(analysis)
    return DescriptorValues(names=selected, clip=clip, curves=curves)


def _f0_curve(analysis: SignalAnalysis) -> np.ndarray:
    return np.where(analysis.voiced, analysis.pitch.f0, np.nan)


def _f0_clip(analysis: SignalAnalysis) -> float:
    voiced = analysis.pitch.f0[analysis.voiced]
    return float(np.median(voiced)) if voiced.size else float("nan")


def _loudness_clip(analysis: SignalAnalysis) -> float:
    power = analysis.weighted_power
    total = float(power.sum())
    mean_power = float(np.dot(power, power) / total) if total > 0 else 0.0
    return float(power_to_db(np.array(mean_power)))


def _register_frame_descriptor(
    name: str, unit: str, description: str, curve: Callable[[SignalAnalysis], np.ndarray]
) -> None:
    register_descriptor(
        Descriptor(name, unit, description, curve, lambda analysis: analysis.weighted_clip(name))
    )


def _register_envelope_descriptor(
    name: str, description: str, measure: Callable[[SignalAnalysis], float]
) -> None:
    register_descriptor(
        Descriptor(
            name,
            "s",
            description,
            curve=lambda analysis: analysis.constant(measure(analysis)),
            clip=lambda analysis: float(analysis.curve(name)[0]),
        )
    )


register_descriptor(
    Descriptor(
        "f0",
        "Hz",
        "Fundamental frequency by YIN; NaN on unvoiced or silent frames. Clip: median f0 of "
        "voiced frames, NaN if none.",
        curve=_f0_curve,
        clip=_f0_clip,
    )
)
_register_frame_descriptor(
    "f0_confidence",
    "ratio",
    "YIN voicing confidence 1 − min(cmnd), 0..1; 0 on silent frames.",
    lambda analysis: analysis.pitch.confidence,
)
register_descriptor(
    Descriptor(
        "loudness",
        "dB",
        "A-weighted frame power in dB re. a full-scale sine (a 1 kHz sine of amplitude 1 → 0 dB), "
        "floored at −120 dB. Clip: the power-weighted mean frame power, in dB.",
        curve=lambda analysis: analysis.loudness,
        clip=_loudness_clip,
    )
)
_register_frame_descriptor(
    "rms",
    "ratio",
    "Root mean square amplitude of each frame (linear, full scale = 1).",
    lambda analysis: analysis.frame_rms,
)
_register_frame_descriptor(
    "centroid",
    "Hz",
    "Spectral centroid: magnitude-weighted mean frequency.",
    lambda analysis: spectral_centroid(analysis.magnitude, analysis.frequencies),
)
_register_frame_descriptor(
    "bandwidth",
    "Hz",
    "Spectral bandwidth: magnitude-weighted deviation around the centroid.",
    lambda analysis: spectral_bandwidth(
        analysis.magnitude, analysis.frequencies, analysis.curve("centroid")
    ),
)
_register_frame_descriptor(
    "rolloff",
    "Hz",
    "Frequency below which 85 % of the spectral magnitude lies.",
    lambda analysis: spectral_rolloff(analysis.magnitude, analysis.frequencies),
)
_register_frame_descriptor(
    "flatness",
    "ratio",
    "Spectral flatness: geometric / arithmetic mean of the power spectrum.",
    lambda analysis: spectral_flatness(analysis.power),
)
_register_frame_descriptor(
    "zcr",
    "1/s",
    "Zero-crossing rate in crossings per second (a sine of f Hz → 2f).",
    lambda analysis: zero_crossing_rate(
        analysis.audio,
        analysis.settings.sample_rate,
        analysis.settings.frame_length,
        analysis.settings.hop_length,
    ),
)
_register_envelope_descriptor(
    "attack_time",
    "Time from 10 % to 90 % of the envelope peak, on the fine (~1 ms) envelope, the peak taken "
    "from the 10 ms-smoothed one; constant curve.",
    lambda analysis: attack_time(
        analysis.envelope, analysis.envelope_times, float(analysis.smooth_envelope.max())
    ),
)
_register_envelope_descriptor(
    "release_time",
    "Time from the envelope peak until it stays 40 dB below it, clipped to the clip end; "
    "constant curve.",
    lambda analysis: release_time(
        analysis.smooth_envelope, analysis.envelope_times, analysis.duration
    ),
)
_register_envelope_descriptor(
    "decay_constant",
    "Time constant τ of e^(−t/τ) fitted to the envelope between −3 and −40 dB after the peak; "
    "NaN without a decay; constant curve.",
    lambda analysis: decay_constant(analysis.smooth_envelope, analysis.envelope_times),
)
