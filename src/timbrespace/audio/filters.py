"""Feedback shaping for the realtime engine: an RBJ band-pass biquad, a gain and a soft limiter.

The engine's output goes through `FeedbackShaper` (band-pass of centre `frequency` Hz and quality
`q`, then `gain`, then `soft_limit`) and is mixed back into the model's input one block later.
Blocks are `[channels, samples]` float32; filter state is float64 and carried between blocks.
The band-pass peaks at 0 dB, so the loop gain never exceeds `gain` ≤ 1.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

FREQUENCY_RANGE_HZ: tuple[float, float | None] = (20.0, None)  # high end: `max_frequency(sr)`
Q_RANGE = (0.1, 30.0)
GAIN_RANGE = (0.0, 1.0)
MAX_FREQUENCY_RATIO = 0.45
SUB_BLOCK = 32
"""Samples between coefficient updates while a parameter glides."""


def _checked(name: str, value: float, low: float, high: float) -> float:
    """`value` as a float in `[low, high]`; else ValueError naming `name`."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(f"{name} must be a finite number in [{low:g}, {high:g}], got {value!r}")
    return number


def max_frequency(sample_rate: int) -> float:
    """Highest band-pass centre frequency (Hz) at `sample_rate` (Hz): 0.45 · sample_rate."""
    return MAX_FREQUENCY_RATIO * _checked("sample_rate", sample_rate, 1.0, math.inf)


def bandpass_coefficients(
    frequency: float, q: float, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """RBJ audio-EQ-cookbook band-pass, constant 0 dB peak gain: `(b [3], a [3])` float64, a[0] = 1.

    0 dB at `frequency` (Hz); −3.01 dB where tan(π f_e / sr) = tan(π f / sr)·(√(1 + 1/4Q²) ± 1/2Q),
    i.e. at f·(√(1 + 1/4Q²) ± 1/2Q) for f ≪ sr. Raises ValueError naming the field when a value
    is non-finite or out of range (`FREQUENCY_RANGE_HZ` up to `max_frequency`, `Q_RANGE`).
    """
    top = max_frequency(sample_rate)
    frequency = _checked("frequency", frequency, FREQUENCY_RANGE_HZ[0], top)
    return _bandpass(frequency, _checked("q", q, *Q_RANGE), sample_rate)


def _bandpass(frequency: float, q: float, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """`bandpass_coefficients` without the checks (for values already validated)."""
    w0 = 2.0 * math.pi * frequency / sample_rate
    alpha = math.sin(w0) / (2.0 * q)
    a0 = 1.0 + alpha
    b = np.array([alpha, 0.0, -alpha]) / a0
    a = np.array([a0, -2.0 * math.cos(w0), 1.0 - alpha]) / a0
    return b, a


def soft_limit(x: np.ndarray, ceiling: float = 1.0, knee: float = 0.5) -> np.ndarray:
    """Identity for |x| ≤ knee·ceiling, above it `k + (c − k)·tanh((|x| − k)/(c − k))` (k =
    knee·ceiling, c = ceiling): C1 at the knee, monotonic, |y| < ceiling for every input.

    Any shape, returns float32; NaN → 0, ±inf → just below ±ceiling.
    """
    ceiling = _checked("ceiling", ceiling, 1e-30, 1e30)
    knee = _checked("knee", knee, 0.0, 1.0 - 1e-6)
    k = knee * ceiling
    span = ceiling - k
    limit = k + 40.0 * span  # tanh(40) == 1.0 in float64: larger inputs all saturate
    v = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=limit, neginf=-limit)
    magnitude = np.minimum(np.abs(v), limit)
    shaped = np.where(magnitude > k, k + span * np.tanh((magnitude - k) / span), magnitude)
    below = np.nextafter(np.float32(ceiling), np.float32(0.0))  # largest float32 < ceiling
    return (np.sign(v) * np.minimum(shaped, below)).astype(np.float32)


def _block(x: np.ndarray, channels: int) -> np.ndarray:
    """`x` as an array `[channels, samples]`; else ValueError."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] != channels:
        raise ValueError(f"block must be [{channels}, samples], got shape {x.shape}")
    return x


class Biquad:
    """Direct-form-II-transposed biquad over blocks `[channels, samples]` (float32 in and out,
    float64 state carried between blocks); coefficients may change between blocks.

    Starts as the identity (b = a = [1, 0, 0]). A block that would make the state non-finite
    (e.g. NaN input) resets the state and comes out as zeros.
    """

    def __init__(self, channels: int) -> None:
        if int(channels) < 1:
            raise ValueError(f"channels must be at least 1, got {channels!r}")
        self.channels = int(channels)
        self._b = np.array([1.0, 0.0, 0.0])
        self._a = np.array([1.0, 0.0, 0.0])
        self._state = np.zeros((self.channels, 2))

    def set_coefficients(self, b: np.ndarray, a: np.ndarray) -> None:
        """Numerator `b [3]` and denominator `a [3]` (normalised so a[0] = 1); state is kept."""
        b = np.asarray(b, dtype=np.float64).reshape(-1)
        a = np.asarray(a, dtype=np.float64).reshape(-1)
        if b.shape != (3,) or a.shape != (3,) or a[0] == 0 or not np.isfinite([*b, *a]).all():
            raise ValueError("biquad coefficients must be finite b [3] and a [3] with a[0] != 0")
        self._b, self._a = b / a[0], a / a[0]

    def process(self, x: np.ndarray) -> np.ndarray:
        """Filter one block `[channels, samples]` → float32 of the same shape."""
        x = _block(x, self.channels)
        y, state = lfilter(self._b, self._a, x.astype(np.float64), axis=-1, zi=self._state)
        if not (np.isfinite(state).all() and np.isfinite(y).all()):
            self.reset()
            return np.zeros(x.shape, dtype=np.float32)
        state[np.abs(state) < 1e-30] = 0.0  # decaying silence never reaches slow denormals
        self._state = state
        return y.astype(np.float32)

    def reset(self) -> None:
        """Zero the state (the coefficients stay)."""
        self._state = np.zeros((self.channels, 2))


class FeedbackShaper:
    """Band-pass (`frequency` Hz, `q`) → `gain` → `soft_limit`, block by block, any channels.

    A parameter change glides over `glide_seconds` (s) so jumps do not click: frequency and q
    geometrically, gain linearly (ramped per sample), with coefficients recomputed every
    `SUB_BLOCK` samples. Output `[channels, samples]` float32 with |y| < 1.
    """

    def __init__(
        self,
        sample_rate: int,
        channels: int,
        *,
        frequency: float = 1000.0,
        q: float = 2.0,
        gain: float = 0.5,
        glide_seconds: float = 0.03,
    ) -> None:
        self.sample_rate = int(_checked("sample_rate", sample_rate, 1.0, math.inf))
        glide = _checked("glide_seconds", glide_seconds, 0.0, 60.0)
        self._glide_samples = round(glide * self.sample_rate)
        self._filter = Biquad(channels)
        self._target = self._validated(frequency, q, gain)
        self._current = self._target
        self._remaining = 0
        self._filter.set_coefficients(*_bandpass(*self._target[:2], self.sample_rate))

    def _validated(self, frequency: float, q: float, gain: float) -> tuple[float, float, float]:
        top = max_frequency(self.sample_rate)
        return (
            _checked("frequency", frequency, FREQUENCY_RANGE_HZ[0], top),
            _checked("q", q, *Q_RANGE),
            _checked("gain", gain, *GAIN_RANGE),
        )

    def set(
        self, *, frequency: float | None = None, q: float | None = None, gain: float | None = None
    ) -> None:
        """New targets (Hz, quality, linear gain) reached after `glide_seconds`; values left
        as None keep theirs. Raises ValueError naming the field (nothing changes then)."""
        old = self._target
        self._target = self._validated(
            old[0] if frequency is None else frequency,
            old[1] if q is None else q,
            old[2] if gain is None else gain,
        )
        self._remaining = self._glide_samples
        if self._remaining == 0:
            self._move(0)

    def _move(self, samples: int) -> None:
        """Advance the glide by `samples` (≤ remaining), updating coefficients if needed."""
        before = self._current
        if samples >= self._remaining:
            self._current, self._remaining = self._target, 0
        else:
            step = samples / self._remaining
            (f, q, g), (tf, tq, tg) = self._current, self._target
            self._current = (f * (tf / f) ** step, q * (tq / q) ** step, g + (tg - g) * step)
            self._remaining -= samples
        if self._current[:2] != before[:2]:  # a glide between valid values stays valid
            self._filter.set_coefficients(*_bandpass(*self._current[:2], self.sample_rate))

    def process(self, block: np.ndarray) -> np.ndarray:
        """Shape one block `[channels, samples]` → float32 of the same shape, |y| < 1."""
        x = _block(block, self._filter.channels)
        out = np.empty(x.shape, dtype=np.float32)
        start, total = 0, x.shape[1]
        while start < total:
            left = total - start
            n = min(SUB_BLOCK, self._remaining, left) if self._remaining else left
            g0 = self._current[2]
            self._move(n)
            g1 = self._current[2]
            gains = g1 if g1 == g0 else g0 + (g1 - g0) * np.arange(1, n + 1) / n
            out[:, start : start + n] = self._filter.process(x[:, start : start + n]) * gains
            start += n
        return soft_limit(out)

    def reset(self) -> None:
        """Zero the filter state and jump to the target parameters."""
        self._filter.reset()
        self._remaining = 0
        self._move(0)
