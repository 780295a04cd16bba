"""The latent side of live play, block by block: looped latent paths with a playhead, the 4-way
plane's weights, a smooth random walk, and the per-frame edits (scale, bias, curves, noise, named
controls) the realtime engine applies between encoding and decoding. Latents are `[1, latent_dim,
frames]` float32; per-frame values are `[..., frames]` arrays (one column per latent frame of the
block), so a parameter that glides changes frame by frame, not once per block.

The engine (a face) holds the parameter values and their smoothing; the math is here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from timbrespace import inference
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.paths import Curve
from timbrespace.space import LatentSpace

__all__ = ["FrameEdits", "LoopPlayhead", "RandomWalk", "latent_spread", "mix_frames"]
__all__ += [
    "at_pitch",
    "has_pitch",
    "Curve",
    "LoopedCurve",
    "ab_weights",
    "curve_offsets",
    "plane_weights",
]


def plane_weights(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear weights `[4, frames]` of the corners (0,0) (1,0) (0,1) (1,1) at per-frame
    positions `x`, `y` `[frames]`; outside the unit square they extrapolate (sum stays 1)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return np.stack([(1 - x) * (1 - y), x * (1 - y), (1 - x) * y, x * y])


def ab_weights(amount: np.ndarray) -> np.ndarray:
    """Weights `[4, frames]` of the A→B morph: corner A (0) to corner B (1) by `amount`."""
    amount = np.asarray(amount, dtype=np.float64)
    zeros = np.zeros_like(amount)
    return np.stack([1 - amount, amount, zeros, zeros])


def mix_frames(frames: list[torch.Tensor], weights: np.ndarray) -> torch.Tensor:
    """Per-frame weighted sum of sources' frames (each `[1, dim, k]`) by `weights` `[sources, k]`."""
    stacked = torch.stack(frames)  # [sources, 1, dim, k]
    w = torch.as_tensor(weights, dtype=stacked.dtype)[:, None, None, :]
    return (stacked * w).sum(dim=0)


class LoopPlayhead:
    """A latent path `[1, dim, frames]` played in a loop, `k` frames per block, forward or
    backward (`reverse`), from frame 0."""

    def __init__(self, path: torch.Tensor) -> None:
        if path.dim() != 3 or path.shape[0] != 1 or path.shape[-1] < 1:
            raise TimbrespaceError(
                f"a looped path must be [1, dim, frames], got {list(path.shape)}"
            )
        self.path = path.float()
        self.position = 0

    @property
    def frames(self) -> int:
        return int(self.path.shape[-1])

    def next(self, k: int, *, reverse: bool = False) -> torch.Tensor:
        """The next `k` frames `[1, dim, k]` (wrapping around the loop)."""
        step = -1 if reverse else 1
        indices = (self.position + step * np.arange(k)) % self.frames
        self.position = int((self.position + step * k) % self.frames)
        return self.path[..., torch.from_numpy(indices)]

    def phase(self) -> float:
        """Where the playhead is in the loop, 0…1."""
        return self.position / self.frames


@dataclass(frozen=True)
class LoopedCurve:
    """A drawn curve of latent offset (`Curve`, times as fractions 0…1 of `period` s) repeating
    every `period` s from `start` s."""

    curve: Curve
    start: float
    period: float


def curve_offsets(curves: Mapping[int, LoopedCurve], dim: int, seconds: np.ndarray) -> np.ndarray:
    """Per-dimension offsets `[dim, frames]` of looped curves (dimension → `LoopedCurve`) at
    times `seconds` `[frames]`."""
    out = np.zeros((dim, len(seconds)))
    for index, looped in curves.items():
        phase = np.mod((np.asarray(seconds) - looped.start) / looped.period, 1.0)
        out[index] = np.interp(phase, looped.curve.times, looped.curve.values)
    return out


class RandomWalk:
    """Smooth random motion `[dim, frames]`: a new Gaussian target (scaled per dimension by
    `spread`) every 1/rate s, joined by cosine interpolation, times `amount`. Seeded, so a file
    render is reproducible."""

    def __init__(self, spread: np.ndarray, *, seed: int = 0) -> None:
        self.spread = np.asarray(spread, dtype=np.float64)
        self._rng = np.random.default_rng(seed)
        self._from = np.zeros_like(self.spread)
        self._to = self._rng.standard_normal(self.spread.shape)
        self._phase = 0.0

    def next(
        self, frames: int, frame_rate: float, amount: np.ndarray, rate: np.ndarray
    ) -> np.ndarray:
        """The next `frames` values `[dim, frames]` at `frame_rate` (frames per s), with per-frame
        `amount` (× spread) and `rate` (Hz) `[frames]`."""
        out = np.empty((self.spread.shape[0], frames))
        if not np.any(amount):
            out[:] = 0.0
            return out
        for i in range(frames):
            self._phase += max(0.0, float(rate[i])) / frame_rate
            while self._phase >= 1.0:
                self._phase -= 1.0
                self._from, self._to = self._to, self._rng.standard_normal(self.spread.shape)
            mix = 0.5 - 0.5 * math.cos(math.pi * self._phase)
            out[:, i] = (self._from + mix * (self._to - self._from)) * float(amount[i])
        return out * self.spread[:, None]


def style_names(space: LatentSpace) -> tuple[str, ...]:
    """The styles a note model mixes (the fader family); () for other models."""
    if space.model.input_kind != "notes":
        return ()
    return tuple(space.model.config.styles)


def has_pitch(space: LatentSpace) -> bool:
    """Whether a point latent can be played at a pitch: an explicit pitch in the model (or in
    its conditions: a note model), or a `pitch` control in the analysis."""
    if space.model.pitch_readout() is not None or space.model.input_kind == "notes":
        return True
    try:
        return "pitch" in space.controls
    except TimbrespaceError:  # no analysis
        return False


def at_pitch(space: LatentSpace, z: torch.Tensor, pitch_hz: float) -> torch.Tensor:
    """A point `[1, dim, 1]` moved to `pitch_hz` (Hz): by the model's explicit pitch when it
    has one (exact for its harmonic part, one render: measured on the demo pack's plucks with
    pyin, median 5.6 cents off vs 10.6 for the closed-loop control move, 8 vs 22 ms), else by
    the `pitch` control (closed loop where the model offers it)."""
    tuned = inference.at_pitch(space.model, z, pitch_hz)
    if tuned is not None:
        return tuned
    return torch.as_tensor(space.move(z, {"pitch": pitch_hz}).z_new).float()


def latent_spread(space: LatentSpace) -> np.ndarray:
    """Standard deviation `[dim]` of the training latents per dimension (ones without the
    bundle's latent statistics): the unit of `random` amounts."""
    extra = space.bundle.extra
    if "latent_cholesky" not in extra:
        return np.ones(space.model.latent_dim)
    cholesky = extra["latent_cholesky"].double()
    return cholesky.square().sum(dim=1).sqrt().numpy()


@dataclass
class FrameEdits:
    """Edits of one block: `scale` and `bias` `[dim, k]` per frame (z·scale + bias), `offset`
    `[dim, k]` (curves and random motion, added after), then named controls (name → value in the
    control's unit for the block) set at every frame by the minimum-norm move of
    `LatentSpace.move` (open loop: a live block has no time to render and measure)."""

    scale: np.ndarray
    bias: np.ndarray
    offset: np.ndarray
    controls: dict[str, float] = field(default_factory=dict)

    @property
    def neutral(self) -> bool:
        """True when the edits leave every frame as it is."""
        return (
            not self.controls
            and not self.bias.any()
            and not self.offset.any()
            and bool(np.all(self.scale == 1.0))
        )

    def apply(self, space: LatentSpace, z: torch.Tensor) -> torch.Tensor:
        """Edited latent frames `[1, dim, k]` (float32)."""
        if self.neutral:
            return z
        shift = torch.from_numpy(self.bias + self.offset)[None]
        edited = z.double() * torch.from_numpy(self.scale)[None] + shift
        if self.controls:
            moved = space.move(edited, dict(self.controls), closed_loop=False)
            edited = torch.as_tensor(moved.z_new).double()
        return edited.float()
