"""Latent path math: amount curves, alignment, interpolation and the 4-way plane.

Every function here takes and returns torch latent paths `[batch, latent_dim, frames]` (one-shot
models have frames == 1) and keeps their dtype and device. Time is a fraction of the output
length: frame i of n sits at time i / (n − 1), so the first frame is time 0 and the last is 1; a
single frame (a one-shot) is at time 0.

    interpolate(a, b, 1.2)                      # extrapolate beyond B (Latent Timbre Synthesis)
    interpolate(a, b, Curve((0, 0.5, 1), (0, 1, 1.3)))
    morph(a, b, mode="stretch")                 # A → B over the path (seed 001)
    plane((a, b, c, d), traj.x, traj.y)         # traj: a Trajectory

Mixing uses `torch.lerp`, which returns each end exactly at amount 0 and 1. The path operators
(scale, reverse, smooth, …) live in `latent.operators`; the text syntax of curves, trajectories
and operators (`parse_curve("0:0,0.5:1,1:1.3")`, `parse_trajectory("path.csv")`) in
`latent.syntax`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from timbrespace.errors import NonFiniteError, TimbrespaceError
from timbrespace.limits import ALIGN_MODES, check_count

T = TypeVar("T")

CURVE_EXAMPLE = "e.g. 0:0,0.5:1,1:1.3"
"""The curve syntax of `latent.syntax.parse_curve`, quoted by the errors of empty curves."""

# --- curves -------------------------------------------------------------------------------------


def frame_times(frames: int) -> torch.Tensor:
    """Time of each frame `[frames]` float64, from 0 (first frame) to 1 (last); [0] for one frame."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    return torch.linspace(0.0, 1.0, frames, dtype=torch.float64)


def check_breakpoints(times: Sequence[float], label: str) -> None:
    """Check breakpoint times: at least one, finite, in [0, 1] (fractions of the output length)
    and strictly increasing; a `TimbrespaceError` starting with `label` otherwise."""
    if not times:
        raise TimbrespaceError(f"{label}: empty; expected TIME:AMOUNT points, {CURVE_EXAMPLE}")
    for t in times:
        if not math.isfinite(t):
            raise TimbrespaceError(f"{label}: time {t} is not a finite number")
        if t < 0.0:
            raise TimbrespaceError(
                f"{label}: time {t:g} is before the start (times are fractions of the output "
                "length, from 0 to 1)"
            )
        if t > 1.0:
            raise TimbrespaceError(
                f"{label}: time {t:g} is beyond the end (times are fractions of the output "
                "length, from 0 to 1)"
            )
    for before, after in zip(times, times[1:], strict=False):
        if after == before:
            raise TimbrespaceError(f"{label}: time {after:g} is given twice")
        if after < before:
            raise TimbrespaceError(
                f"{label}: times must increase, but {after:g} comes after {before:g}"
            )


@dataclass(frozen=True)
class Curve:
    """A breakpoint curve: `values[i]` at `times[i]` (fractions of the output length in [0, 1],
    strictly increasing), linear in between and constant before the first and after the last."""

    times: tuple[float, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        times = tuple(float(t) for t in self.times)
        values = tuple(float(v) for v in self.values)
        if len(times) != len(values):
            raise TimbrespaceError(f"curve: {len(times)} times but {len(values)} values")
        check_breakpoints(times, "curve")
        if not all(math.isfinite(v) for v in values):
            raise TimbrespaceError("curve: every value must be a finite number")
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)

    def sample(
        self,
        frames: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """The curve at each frame's time (see `frame_times`) → `[frames]`."""
        sampled = np.interp(frame_times(frames).numpy(), self.times, self.values)
        return torch.from_numpy(sampled).to(dtype=dtype, device=device)


Amount = float | torch.Tensor | Sequence[float] | Curve
"""A mixing amount over time: one number, `[frames]` values (one per frame) or a `Curve`."""


@dataclass(frozen=True)
class Trajectory:
    """A path over the 4-way plane: x(t) and y(t) as curves with the same breakpoint times."""

    x: Curve
    y: Curve

    def sample(
        self,
        frames: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x and y at each frame's time, each `[frames]`."""
        return (
            self.x.sample(frames, dtype=dtype, device=device),
            self.y.sample(frames, dtype=dtype, device=device),
        )


# --- alignment ----------------------------------------------------------------------------------


def check_path(z: torch.Tensor, name: str = "z") -> torch.Tensor:
    """`z` itself if it is a float latent path `[batch, dim, frames]`; a ValueError naming
    `name` otherwise."""
    if not isinstance(z, torch.Tensor) or z.ndim != 3 or not z.is_floating_point():
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name}: expected a float latent path [batch, dim, frames], got {shape}")
    return z


def _check_paths(paths: Sequence[torch.Tensor], names: Sequence[str]) -> None:
    for path, name in zip(paths, names, strict=True):
        check_path(path, name)
    first, name0 = paths[0], names[0]
    for path, name in zip(paths[1:], names[1:], strict=True):
        if path.shape[1] != first.shape[1]:
            raise TimbrespaceError(
                f"{name0} and {name} have different latent sizes ({first.shape[1]} and "
                f"{path.shape[1]}): they come from different models"
            )
        if path.dtype != first.dtype or path.device != first.device:
            raise ValueError(
                f"{name0} and {name} differ in dtype or device ({first.dtype} on {first.device}, "
                f"{path.dtype} on {path.device})"
            )
    batches = {p.shape[0] for p in paths} - {1}
    if len(batches) > 1:
        sizes = ", ".join(f"{n} {p.shape[0]}" for p, n in zip(paths, names, strict=True))
        raise TimbrespaceError(f"batch sizes don't match ({sizes}): use equal sizes or 1")


def check_finite(z: T, cause: str) -> T:
    """`z` if every value is finite in float32 (what the model decodes), else a
    `NonFiniteError` naming `cause`, the option or operator that sent the latent that far
    (e.g. `scale=1e308`, `--set pca1=1e300` with extrapolation)."""
    z_tensor = torch.as_tensor(z)
    if z_tensor.dtype == torch.float32:  # one reduction: a float64 sum of float32 values is
        finite = math.isfinite(float(z_tensor.sum(dtype=torch.float64)))  # finite iff they are
    else:
        finite = bool(torch.isfinite(z_tensor.float()).all())
    if not finite:
        raise NonFiniteError(
            f"{cause}: the latent becomes infinite or NaN (beyond float range); ask a smaller value"
        )
    return z


def resample_frames(z: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear resampling of `z [batch, dim, n]` to `[batch, dim, frames]` along time.

    The first and last frames are kept exactly (frame i comes from position i·(n − 1)/(frames − 1));
    a one-frame path is repeated; a one-frame output takes the first frame.
    """
    check_path(z)
    if frames < 1:
        raise TimbrespaceError(f"cannot resample a path to {frames} frames")
    check_count("path_frames", frames, "resampled path")
    n = z.shape[-1]
    positions = torch.linspace(0.0, n - 1.0, frames, dtype=torch.float64)
    low = positions.floor().long().clamp(max=max(n - 2, 0))
    high = (low + 1).clamp(max=n - 1)
    fraction = (positions - low).to(dtype=z.dtype, device=z.device)
    low, high = low.to(z.device), high.to(z.device)
    return torch.lerp(z.index_select(-1, low), z.index_select(-1, high), fraction)


def _align_all(paths: Sequence[torch.Tensor], mode: str) -> list[torch.Tensor]:
    if mode not in ALIGN_MODES:
        raise TimbrespaceError(f"unknown alignment {mode!r}; known: {', '.join(ALIGN_MODES)}")
    lengths = [p.shape[-1] for p in paths]
    target = min(lengths) if mode == "crop" else max(lengths)
    aligned = []
    for path, n in zip(paths, lengths, strict=True):
        if n == target:
            aligned.append(path)
        elif mode == "crop":
            aligned.append(path[..., :target])
        elif mode == "loop":
            aligned.append(path.index_select(-1, torch.arange(target, device=path.device) % n))
        else:
            aligned.append(resample_frames(path, target))
    return aligned


def align(a: torch.Tensor, b: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Give paths `[batch, dim, frames_a]` and `[batch, dim, frames_b]` the same length.

    crop: both keep their first min(frames_a, frames_b) frames;
    loop: the shorter repeats from its start until it has the longer's frames (frame i = i mod n);
    stretch: the shorter is linearly resampled to the longer's frames, first and last frames kept
    (`resample_frames`). Paths already of equal length are returned as they are.
    """
    _check_paths([a, b], ["a", "b"])
    a_new, b_new = _align_all([a, b], mode)
    return a_new, b_new


def _same_length(
    paths: Sequence[torch.Tensor], names: Sequence[str], mode: str | None
) -> list[torch.Tensor]:
    _check_paths(paths, names)
    lengths = [p.shape[-1] for p in paths]
    if mode is None:
        if len(set(lengths)) > 1:
            counts = ", ".join(f"{n} {f}" for n, f in zip(names, lengths, strict=True))
            raise TimbrespaceError(
                f"paths have different lengths in frames ({counts}): choose an alignment, "
                f"one of {', '.join(ALIGN_MODES)}"
            )
        return list(paths)
    return _align_all(paths, mode)


# --- interpolation ------------------------------------------------------------------------------


def per_frame(
    value: Amount, frames: int, reference: torch.Tensor, name: str = "amount"
) -> torch.Tensor:
    """A scalar, `[frames]` values or a Curve → a 0-d or `[frames]` tensor in `reference`'s
    dtype and device, checked to be finite."""
    if isinstance(value, Curve):
        return value.sample(frames, dtype=reference.dtype, device=reference.device)
    try:
        tensor = torch.as_tensor(value, dtype=reference.dtype, device=reference.device)
    except (TypeError, ValueError, RuntimeError):
        raise TimbrespaceError(
            f"{name}: expected a number, a curve or {frames} values, got {type(value).__name__}"
        ) from None
    if tensor.ndim > 1 or (tensor.ndim == 1 and tensor.shape[0] not in (1, frames)):
        raise TimbrespaceError(
            f"{name}: expected a number, a curve or {frames} values (one per frame), got shape "
            f"{tuple(tensor.shape)}"
        )
    if not bool(torch.isfinite(tensor).all()):
        raise TimbrespaceError(f"{name}: every value must be a finite number")
    return tensor


def interpolate(
    a: torch.Tensor, b: torch.Tensor, amount: Amount, *, mode: str | None = None
) -> torch.Tensor:
    """`a + amount·(b − a)` per frame: 0 gives a exactly, 1 gives b exactly, beyond 1 extrapolates
    past B on the line from A (and below 0 past A), as Latent Timbre Synthesis (seed 002) does.

    a, b: `[batch, dim, frames]` (a batch of 1 broadcasts); amount: a number, `[frames]` values
    or a Curve over the output length; mode: an alignment (`align`) for paths of different
    lengths, which are otherwise an error.
    """
    a, b = _same_length([a, b], ["a", "b"], mode)
    return check_finite(torch.lerp(a, b, per_frame(amount, a.shape[-1], a)), "amount")


def morph(a: torch.Tensor, b: torch.Tensor, *, mode: str | None = None) -> torch.Tensor:
    """The time-linear morph of seed 001: the amount ramps from 0 at the first frame (A) to 1 at
    the last (B). A one-frame path gives A."""
    return interpolate(a, b, Curve((0.0, 1.0), (0.0, 1.0)), mode=mode)


def plane(
    corners: Sequence[torch.Tensor], x: Amount, y: Amount, *, mode: str | None = None
) -> torch.Tensor:
    """Bilinear mix of four paths `[batch, dim, frames]` laid out on a unit square:

        y=1  c ── d
             │    │
        y=0  a ── b
            x=0  x=1

    i.e. (1−x)(1−y)·a + x(1−y)·b + (1−x)y·c + xy·d, computed as nested `torch.lerp` so each
    corner (and each edge) comes out exactly. x, y: numbers, `[frames]` values or Curves (a
    trajectory: `Trajectory.x`, `Trajectory.y`); outside [0, 1] extrapolates. mode: as in
    `interpolate`.
    """
    if len(corners) != 4:
        raise TimbrespaceError(f"the plane needs 4 corner paths (a, b, c, d), got {len(corners)}")
    a, b, c, d = _same_length(corners, ["a", "b", "c", "d"], mode)
    frames = a.shape[-1]
    x_t, y_t = per_frame(x, frames, a, "x"), per_frame(y, frames, a, "y")
    mixed = torch.lerp(torch.lerp(a, b, x_t), torch.lerp(c, d, x_t), y_t)
    return check_finite(mixed, "position x, y")
