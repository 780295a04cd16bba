"""Plain DSP of the demo pack (`timbrespace.data.demo_pack`): Butterworth sections, a
Karplus-Strong string, peak normalisation, mixing and the finish of every sound. numpy/scipy, float64, no randomness of its
own (generators are passed in)."""

from __future__ import annotations

import math

import numpy as np
import soxr
from scipy import signal

_PLUCK_NOISE = 0.25
_DC_BLOCK_HZ = 5.0


def unit_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.abs(x).max(initial=0.0))
    return x / peak if peak > 0 else x


def _butter2(kind: str, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """One second-order Butterworth section (RBJ biquad, Q = 1/√2) as an SOS row `[6]`."""
    w0 = 2.0 * math.pi * cutoff_hz / sample_rate
    cos_w0, alpha = math.cos(w0), math.sin(w0) / math.sqrt(2.0)
    if kind == "lowpass":
        b = [(1.0 - cos_w0) / 2.0, 1.0 - cos_w0, (1.0 - cos_w0) / 2.0]
    else:
        b = [(1.0 + cos_w0) / 2.0, -(1.0 + cos_w0), (1.0 + cos_w0) / 2.0]
    a0 = 1.0 + alpha
    return np.array([*b, a0, -2.0 * cos_w0, 1.0 - alpha]) / a0


def lowpass(x: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """12 dB/octave Butterworth lowpass at `cutoff_hz` Hz."""
    return signal.sosfilt(_butter2("lowpass", cutoff_hz, sample_rate)[None], x)


def bandpass(x: np.ndarray, low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    """12 dB/octave Butterworth highpass at `low_hz` then lowpass at `high_hz` (≤ 0.45 × rate)."""
    high_hz = min(high_hz, 0.45 * sample_rate)
    low_hz = min(low_hz, 0.5 * high_hz)
    sections = np.stack(
        [_butter2("highpass", low_hz, sample_rate), _butter2("lowpass", high_hz, sample_rate)]
    )
    return signal.sosfilt(sections, x)


def mix(tone: np.ndarray, noise: np.ndarray, noise_mix: float) -> np.ndarray:
    return (1.0 - noise_mix) * unit_peak(tone) + noise_mix * unit_peak(noise)


def karplus_strong(
    f0_hz: float,
    decay_s: float,
    damping: float,
    excitation_cutoff_hz: float,
    n: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Karplus-Strong plucked string (Karplus & Strong 1983), vectorised one period at a time.

    The loop starts from one period of `_pluck_shape`, low-passed at `excitation_cutoff_hz`.
    The loop is an integer delay W and a one-zero lowpass [1 - s, s] (s = 0.5 × damping, lowered
    where needed so the fundamental can ring for τ); the loop gain sets the fundamental's decay
    to exp(-t / decay_s). The loop runs at a rate where W + (filter delay) is exactly one period,
    then soxr resamples to `sample_rate`: exact pitch without a lossy fractional delay in the loop.
    Returns float64 `[n]`.
    """
    period = sample_rate / f0_hz
    q = math.exp(-1.0 / (decay_s * f0_hz))
    omega = 2.0 * math.pi / period
    s = min(0.5 * damping, _max_damping(q, omega))
    whole = max(2, math.floor(period - s))
    loop_period = whole + _phase_delay(s, 2.0 * math.pi / (whole + s))
    loop_omega = 2.0 * math.pi / loop_period
    gain = min(q / _one_zero_gain(s, loop_omega), 1.0)
    loop_n = math.ceil(n * loop_period / period) + 64
    excitation = lowpass(_pluck_shape(whole, rng), excitation_cutoff_hz, sample_rate)
    buffer = np.zeros(whole + 1 + loop_n)
    buffer[whole + 1 : 2 * whole + 1] = excitation - excitation.mean()
    for start in range(2 * whole + 1, buffer.size, whole):
        stop = min(start + whole, buffer.size)
        previous = buffer[start - whole : stop - whole]
        before = buffer[start - whole - 1 : stop - whole - 1]
        buffer[start:stop] = gain * ((1.0 - s) * previous + s * before)
    string = soxr.resample(buffer[whole + 1 :], loop_period, period, quality="HQ")
    return np.pad(string, (0, max(0, n - string.size)))[:n]


def _pluck_shape(length: int, rng: np.random.Generator) -> np.ndarray:
    """Initial string displacement `[length]`: a triangle plucked at 10–40 % of the string
    (harmonics ∝ sin(kπβ)/k², a clear fundamental) plus a little noise (string texture)."""
    position = rng.uniform(0.1, 0.4)
    x = (np.arange(length) + 0.5) / length
    triangle = np.minimum(x / position, (1.0 - x) / (1.0 - position))
    return triangle + _PLUCK_NOISE * rng.standard_normal(length)


def _one_zero_gain(s: float, omega: float) -> float:
    """|H(e^{jω})| of the loop filter H(z) = (1 - s) + s z^-1."""
    return math.sqrt(1.0 - 2.0 * s * (1.0 - s) * (1.0 - math.cos(omega)))


def _phase_delay(s: float, omega: float) -> float:
    """Phase delay in samples of (1 - s) + s z^-1 at ω (≈ s for low ω)."""
    return math.atan2(s * math.sin(omega), 1.0 - s + s * math.cos(omega)) / omega


def _max_damping(q: float, omega: float) -> float:
    """Largest s whose loss at ω still lets the per-period decay be q with loop gain ≤ 1."""
    budget = (1.0 - q * q) / (2.0 * (1.0 - math.cos(omega)))
    return 0.5 if budget >= 0.25 else 0.5 * (1.0 - math.sqrt(1.0 - 4.0 * budget))


def finish(audio: np.ndarray, gain_db: float, sample_rate: int) -> np.ndarray:
    """DC-block, fade out the tail, peak-normalise to `gain_db` dBFS; float32 `[samples]`."""
    pole = math.exp(-2.0 * math.pi * _DC_BLOCK_HZ / sample_rate)
    audio = signal.lfilter([1.0, -1.0], [1.0, -pole], audio)
    fade = min(max(round(0.1 * audio.size), round(0.005 * sample_rate)), round(0.05 * sample_rate))
    fade = min(fade, audio.size)
    audio[audio.size - fade :] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    return (unit_peak(audio) * 10.0 ** (gain_db / 20.0)).astype(np.float32)
