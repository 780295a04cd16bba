"""Causal f0 and loudness tracking in torch: the features of the ddsp family, the same at
training and at play time, offline and block by block.

Frames are causal: frame k of a signal covers the `length` samples that end where hop k ends,
`[(k + 1)·hop − length, (k + 1)·hop)`, so it is known as soon as its hop has arrived and a
stream needs no lookahead; the estimate describes the recent past (`lag_samples`).

- `yin_frames`: YIN (de Cheveigné & Kawahara 2002) on such frames, written so the newest
  samples are the integration window: the period is read from the last `window` samples
  compared with the same samples `τ` earlier, so a new note is found after about one period
  plus the window, not after the whole frame.
- `loudness_frames`: A-weighted power of the newest `n_fft` samples (Hann), in dB re a
  full-scale sine (0 dB = a 1 kHz sine of amplitude 1), floored at −120 dB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from timbrespace.audio.descriptor_signal import YIN_FALLBACK_SLACK, loudness_weights

SILENCE_DB = -120.0


@dataclass(frozen=True)
class PitchSettings:
    """The tracker's range and frames at `sample_rate` (Hz); `hop` samples per frame.

    `fmin` / `fmax`: the f0 range searched (Hz); the YIN frame is `window + max_period + 2`
    samples with an integration window of `max_period` (one longest period). `threshold`: YIN's
    absolute threshold on the cumulative-mean-normalised difference. `loudness_fft`: samples
    of the loudness frame (default: the smallest power of two ≥ 10 ms)."""

    sample_rate: int
    hop: int
    fmin: float = 70.0
    fmax: float = 2000.0
    threshold: float = 0.15
    loudness_fft: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.fmin < self.fmax <= self.sample_rate / 4:
            raise ValueError(
                f"need 0 < fmin < fmax <= sample_rate / 4, got fmin={self.fmin}, "
                f"fmax={self.fmax} at {self.sample_rate} Hz"
            )
        if self.hop < 1:
            raise ValueError(f"hop must be >= 1, got {self.hop}")

    @property
    def min_period(self) -> int:
        return max(2, int(self.sample_rate / self.fmax))

    @property
    def max_period(self) -> int:
        return max(self.min_period + 1, math.ceil(self.sample_rate / self.fmin))

    @property
    def yin_length(self) -> int:
        """Samples of a YIN frame: the integration window plus every lag."""
        return 2 * self.max_period + 2

    @property
    def yin_fft(self) -> int:
        """FFT size of the YIN correlation (≥ `yin_length`: no circular wrap), a power of two:
        ONNX Runtime's DFT falls back to an O(n²) transform for other sizes."""
        return 1 << (self.yin_length - 1).bit_length()

    @property
    def loudness_length(self) -> int:
        if self.loudness_fft:
            return self.loudness_fft
        return 1 << math.ceil(math.log2(self.sample_rate * 0.01))

    @property
    def frame_length(self) -> int:
        """Samples a feature frame reads (the longer of the two frames, at least one hop)."""
        return max(self.yin_length, self.loudness_length, self.hop)

    @property
    def lag_samples(self) -> float:
        """How far the f0 estimate of a frame trails its newest sample: the centre of the
        samples YIN compares at the longest period (half the YIN frame)."""
        return self.yin_length / 2


def a_weighting_table(sample_rate: int, n_fft: int) -> torch.Tensor:
    """Per-bin weights turning a Hann rFFT power frame into A-weighted mean square `[bins]`
    (`descriptor_signal.loudness_weights`: a 1 kHz sine of amplitude 1 gives 0.5)."""
    return torch.from_numpy(np.array(loudness_weights(sample_rate, n_fft)))


def loudness_frames(frames: torch.Tensor, weights: torch.Tensor, n_fft: int) -> torch.Tensor:
    """A-weighted loudness (dB re a full-scale sine, ≥ −120) of the newest `n_fft` samples of
    each frame `[..., length]` → `[...]`; `weights` from `a_weighting_table`."""
    recent = frames[..., frames.shape[-1] - n_fft :]
    window = torch.hann_window(n_fft, periodic=True, dtype=frames.dtype, device=frames.device)
    power = torch.fft.rfft(recent * window, dim=-1).abs().square()
    mean_square = power @ weights.to(frames.dtype)
    floor = 0.5 * 10 ** (SILENCE_DB / 10)
    return 10 * torch.log10(mean_square.clamp_min(floor) / 0.5)


def yin_frames(frames: torch.Tensor, settings: PitchSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """YIN on causal frames `[..., length]` (length ≥ `settings.yin_length`; the newest
    `yin_length` samples are read) → `(f0 [...] Hz, confidence [...] = 1 − min cmnd in 0..1)`.

    The newest `max_period` samples (the integration window) are compared with the same
    samples τ earlier. The period is the first trough of the cumulative-mean-normalised
    difference below the threshold in `[min_period, max_period]`, else the first within
    `YIN_FALLBACK_SLACK` of its global minimum, refined by parabolic interpolation. f0 is never NaN: a frame of silence or noise has a low
    confidence."""
    length, lags, window = settings.yin_length, settings.max_period + 2, settings.max_period
    shape = frames.shape[:-1]
    # float64: f0 (which a synth phase accumulates) does not depend on the runtime
    y = frames[..., frames.shape[-1] - length :].reshape(-1, length).double()
    crossed = window_products(y, window, settings.yin_fft)
    taus = torch.arange(lags, device=y.device)
    correlation = crossed[:, length - window - taus]
    square_sums = torch.nn.functional.pad(torch.cumsum(y.square(), dim=-1), (1, 0))
    ends = length - taus  # the window delayed by τ covers [ends − window, ends)
    energy = square_sums[:, ends] - square_sums[:, ends - window]
    period, confidence = _yin_trough(energy, correlation, settings)
    before, at, after = _differences_at(y, energy, window, period).unbind(-1)
    curvature = before - 2 * at + after
    shift = torch.where(
        curvature > 0, 0.5 * (before - after) / curvature.clamp_min(1e-30), torch.zeros_like(at)
    )
    f0 = settings.sample_rate / (period.to(y.dtype) + shift.clamp(-1.0, 1.0))
    return f0.reshape(shape).to(frames.dtype), confidence.reshape(shape).to(frames.dtype)


def window_products(y: torch.Tensor, window: int, n_fft: int) -> torch.Tensor:
    """`c[:, s] = Σ_j recent[j]·y[j + s]` for `s` in `0 … length − window` of float64 frames
    `y` `[frames, length]`, `recent` their newest `window` samples (the lag-τ product of the
    window is `c[length − window − τ]`). By FFT (size `n_fft`); in an ONNX export by a
    grouped float32 convolution, since ONNX Runtime's DFT took half a 2048-sample ddsp block
    (frames of float32 audio: the products are exact, the sums within ~4e-7 of the largest)."""
    length = y.shape[-1]
    recent = y[:, length - window :]
    if torch.onnx.is_in_onnx_export():
        single = y.float()
        kernels = single[:, None, length - window :]
        return torch.nn.functional.conv1d(single[None], kernels, groups=y.shape[0])[0].double()
    crossed = torch.fft.irfft(
        torch.fft.rfft(recent, n=n_fft, dim=-1).conj() * torch.fft.rfft(y, n=n_fft, dim=-1),
        n=n_fft,
        dim=-1,
    )
    return crossed[:, : length - window + 1]


def _yin_trough(
    energy: torch.Tensor, correlation: torch.Tensor, settings: PitchSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """YIN's steps 2–4 from the window energies and products `[frames, lags]`: the period
    (integer lag `[frames]`) and the confidence `[frames]`."""
    count, lags = correlation.shape
    difference = (energy[:, :1] + energy - 2 * correlation).clamp_min(0.0)
    difference[:, 0] = 0.0
    running = torch.cumsum(difference, dim=-1)
    tau = torch.arange(lags, device=difference.device, dtype=difference.dtype)
    cmnd = torch.where(running > 0, difference * tau / running.clamp_min(1e-30), 1.0)
    cmnd[:, 0] = 1.0

    low, high = settings.min_period, settings.max_period
    search = cmnd[:, low : high + 1]
    trough = (search < cmnd[:, low - 1 : high]) & (search <= cmnd[:, low + 1 : high + 2])
    best = torch.argmin(search, dim=-1)
    rows = torch.arange(count, device=difference.device)
    under = (trough & (search < settings.threshold)).any(dim=-1, keepdim=True)
    fallback = search[rows, best][:, None] + YIN_FALLBACK_SLACK  # as `descriptor_signal.yin`
    candidates = trough & (search < torch.where(under, settings.threshold, fallback))
    first = torch.argmax(candidates.to(torch.uint8), dim=-1)
    period = low + torch.where(candidates[rows, first], first, best)
    return period, (1.0 - search[rows, best]).clamp(0.0, 1.0)


def _differences_at(
    y: torch.Tensor, energy: torch.Tensor, window: int, period: torch.Tensor
) -> torch.Tensor:
    """YIN's difference at lags `period − 1, period, period + 1` `[frames, 3]`, summed
    directly in float64: the parabola (and so f0, which a synth's phase accumulates) is then
    the same whichever way the trough was found."""
    length = y.shape[-1]
    taus = period[:, None] + torch.arange(-1, 2, device=y.device)
    # the window delayed by period + 1, period, period − 1 starts at `first` + 0, 1, 2
    first = length - window - period[:, None] - 1
    span = y.gather(-1, first + torch.arange(window + 2, device=y.device))
    recent = y[:, length - window :]
    products = torch.stack(
        [(span[:, 2 - k : 2 - k + window] * recent).sum(dim=-1) for k in range(3)], dim=-1
    )
    return (energy[:, :1] + energy.gather(-1, taus) - 2 * products).clamp_min(0.0)


def causal_frames(
    audio: torch.Tensor, past: torch.Tensor, length: int, hop: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames of `length` samples ending at each hop of `audio` `[batch, samples]` (samples a
    multiple of `hop`), reading the `length − hop` samples before it from `past`
    `[batch, length − hop]`: returns `[batch, samples // hop, length]` and the new past."""
    full = torch.cat([past, audio], dim=-1)
    return full.unfold(-1, length, hop), full[:, full.shape[-1] - (length - hop) :]


def hold_voiced(
    f0: torch.Tensor, voiced: torch.Tensor, last: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """f0 `[batch, frames]` with every unvoiced frame holding the last voiced value (from
    `last` `[batch]` before the block, NaN = none yet: the frame keeps its own estimate);
    returns the held curve and the new `last`."""
    frames = f0.shape[-1]
    index = torch.arange(frames, device=f0.device).expand_as(f0)
    marked = torch.where(voiced, index, torch.full_like(index, -1))
    # the running maximum, as a masked max over earlier frames (ONNX has no cummax)
    earlier = torch.ones(frames, frames, dtype=torch.bool, device=f0.device).tril()
    latest = torch.where(earlier, marked[:, None, :], -1).amax(dim=-1)
    held = torch.gather(f0, -1, latest.clamp_min(0))
    before = torch.where(torch.isnan(last)[:, None], f0, last[:, None].expand_as(f0))
    held = torch.where(latest >= 0, held, before)
    return held, torch.where(latest[:, -1] >= 0, held[:, -1], last)
