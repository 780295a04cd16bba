"""Latent paths over time: amount curves, alignment, interpolation, the 4-way plane, operators.

Every function here takes and returns torch latent paths `[batch, latent_dim, frames]` (one-shot
models have frames == 1) and keeps their dtype and device. Time is a fraction of the output
length: frame i of n sits at time i / (n − 1), so the first frame is time 0 and the last is 1; a
single frame (a one-shot) is at time 0.

    interpolate(a, b, 1.2)                      # extrapolate beyond B (Latent Timbre Synthesis)
    interpolate(a, b, parse_curve("0:0,0.5:1,1:1.3"))
    morph(a, b, mode="stretch")                 # A → B over the path (seed 001)
    plane((a, b, c, d), traj.x, traj.y)         # traj = parse_trajectory("path.csv")
    apply_ops(z, [parse_op("scale=1.5"), parse_op("reverse")])

Mixing uses `torch.lerp`, which returns each end exactly at amount 0 and 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from timbrespace.errors import TimbrespaceError

ALIGN_MODES = ("crop", "loop", "stretch")
CURVE_EXAMPLE = "e.g. 0:0,0.5:1,1:1.3"
TRAJECTORY_EXAMPLE = "one t,x,y line per point, e.g. 0,0,0 then 1,1,1"

# --- curves -------------------------------------------------------------------------------------


def frame_times(frames: int) -> torch.Tensor:
    """Time of each frame `[frames]` float64, from 0 (first frame) to 1 (last); [0] for one frame."""
    if frames < 1:
        raise ValueError(f"frames must be at least 1, got {frames}")
    return torch.linspace(0.0, 1.0, frames, dtype=torch.float64)


def _check_breakpoints(times: Sequence[float], label: str) -> None:
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
        _check_breakpoints(times, "curve")
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


def _number(text: str, what: str, label: str = "") -> float:
    prefix = f"{label}: " if label else ""
    try:
        value = float(text)
    except ValueError:
        raise TimbrespaceError(f"{prefix}{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise TimbrespaceError(f"{prefix}{what} {text.strip()!r} is not a finite number")
    return value


def parse_numbers(text: str, label: str, count: int | None = None) -> list[float]:
    """Comma-separated finite numbers, e.g. an `--amount` or `--xy` option (exactly `count` of
    them if given); errors start with `label`."""
    values = [_number(item, "value", label) for item in text.split(",")]
    if count is not None and len(values) != count:
        raise TimbrespaceError(f"{label}: expected {count} comma-separated numbers, got {text!r}")
    return values


def parse_curve(text: str) -> Curve:
    """Parse `TIME:AMOUNT,...`, e.g. `0:0,0.5:1,1:1.3`: times are fractions of the output length
    in [0, 1], strictly increasing. Everything is checked before a curve is returned."""
    label = f"curve {text!r}"
    if not text.strip():
        raise TimbrespaceError(f"{label}: empty; expected TIME:AMOUNT points, {CURVE_EXAMPLE}")
    times, values = [], []
    for index, point in enumerate(text.split(","), start=1):
        parts = point.split(":")
        if len(parts) != 2:
            raise TimbrespaceError(
                f"{label}: point {index} {point.strip()!r} is not TIME:AMOUNT, {CURVE_EXAMPLE}"
            )
        times.append(_number(parts[0], f"point {index} time", label))
        values.append(_number(parts[1], f"point {index} amount", label))
    _check_breakpoints(times, label)
    return Curve(tuple(times), tuple(values))


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


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except OSError:
        return False


def _trajectory_text(source: str | Path) -> tuple[str, str]:
    """(text, label) of a trajectory given as a file, or as inline text (a str holding a newline,
    or a comma or `;` and naming no file)."""
    if isinstance(source, str) and (
        "\n" in source or (("," in source or ";" in source) and not _is_file(source))
    ):
        return source, "trajectory"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), f"trajectory file {str(path)!r}"
    except FileNotFoundError:
        raise TimbrespaceError(f"trajectory file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TimbrespaceError(f"trajectory file {str(path)!r}: cannot read it ({error})") from None


def parse_trajectory(source: str | Path) -> Trajectory:
    """Parse a CSV of `t,x,y` lines (a file, or inline text with lines split by newlines or `;`).

    t: time as a fraction of the output length in [0, 1], strictly increasing; x, y: plane
    coordinates (0..1 spans the corners, beyond extrapolates). Blank lines, `#` comments and a
    `t,x,y` header are skipped. Sample it with `Trajectory.sample(frames)` (linear in between).
    """
    text, label = _trajectory_text(source)
    times, xs, ys = [], [], []
    for number, line in enumerate(re.split(r"\r?\n|;", text), start=1):
        line = line.split("#", 1)[0].strip()
        if not line or [f.strip().lower() for f in line.split(",")] == ["t", "x", "y"]:
            continue
        fields = line.split(",")
        where = f"{label} line {number}"
        if len(fields) != 3:
            raise TimbrespaceError(f"{where}: expected t,x,y, got {line!r}")
        times.append(_number(fields[0], "t", where))
        xs.append(_number(fields[1], "x", where))
        ys.append(_number(fields[2], "y", where))
    if not times:
        raise TimbrespaceError(f"{label}: no points; expected {TRAJECTORY_EXAMPLE}")
    _check_breakpoints(times, label)
    return Trajectory(Curve(tuple(times), tuple(xs)), Curve(tuple(times), tuple(ys)))


# --- alignment ----------------------------------------------------------------------------------


def _check_path(z: torch.Tensor, name: str = "z") -> torch.Tensor:
    if not isinstance(z, torch.Tensor) or z.ndim != 3 or not z.is_floating_point():
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name}: expected a float latent path [batch, dim, frames], got {shape}")
    return z


def _check_paths(paths: Sequence[torch.Tensor], names: Sequence[str]) -> None:
    for path, name in zip(paths, names, strict=True):
        _check_path(path, name)
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


def resample_frames(z: torch.Tensor, frames: int) -> torch.Tensor:
    """Linear resampling of `z [batch, dim, n]` to `[batch, dim, frames]` along time.

    The first and last frames are kept exactly (frame i comes from position i·(n − 1)/(frames − 1));
    a one-frame path is repeated; a one-frame output takes the first frame.
    """
    _check_path(z)
    if frames < 1:
        raise TimbrespaceError(f"cannot resample a path to {frames} frames")
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
    return torch.lerp(a, b, per_frame(amount, a.shape[-1], a))


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
    return torch.lerp(torch.lerp(a, b, x_t), torch.lerp(c, d, x_t), y_t)


# --- operators ----------------------------------------------------------------------------------


class PathOp(Protocol):
    """An operator on a latent path: `z [batch, dim, frames] → z′` (same dtype and device)."""

    def __call__(self, z: torch.Tensor) -> torch.Tensor: ...


def apply_ops(z: torch.Tensor, ops: Iterable[PathOp]) -> torch.Tensor:
    """Apply `ops` to `z [batch, dim, frames]` in order (the first in the list acts first)."""
    _check_path(z)
    for op in ops:
        z = op(z)
    return z


def _finite(value: float, field: str, *, low: float | None = None, positive: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise TimbrespaceError(f"{field} must be a finite number, got {value}")
    if positive and value <= 0:
        raise TimbrespaceError(f"{field} must be positive, got {value:g}")
    if low is not None and value < low:
        raise TimbrespaceError(f"{field} must be at least {low:g}, got {value:g}")
    return value


def _choice(value: str, field: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise TimbrespaceError(f"{field} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _item_noise(z: torch.Tensor, shape: Sequence[int], seed: int) -> torch.Tensor:
    """Standard normal noise `[batch, *shape]` drawn item by item from one seeded generator, so
    item 0 is the same whatever the batch size; drawn in float64 on the CPU, then cast to z's."""
    generator = torch.Generator().manual_seed(seed)
    draws = [torch.randn(*shape, generator=generator, dtype=torch.float64) for _ in range(len(z))]
    return torch.stack(draws).to(dtype=z.dtype, device=z.device)


@dataclass(frozen=True)
class Scale:
    """Multiply by `factor` about zero (`z·factor`: the whole point moves away from or toward
    the origin, the prior's centre) or about the path's mean over frames per item and dimension
    (`m + factor·(z − m)`: the motion grows or shrinks, the average timbre stays; a one-frame path
    is unchanged)."""

    factor: float
    about: str = "zero"

    def __post_init__(self) -> None:
        object.__setattr__(self, "factor", _finite(self.factor, "scale factor"))
        _choice(self.about, "scale about", ("zero", "mean"))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        _check_path(z)
        if self.about == "zero":
            return z * self.factor
        mean = z.mean(dim=-1, keepdim=True)
        return mean + self.factor * (z - mean)


@dataclass(frozen=True)
class Bias:
    """Add `value`: one number to every dimension, or one per dimension (`latent_dim` numbers)."""

    value: float | tuple[float, ...]

    def __post_init__(self) -> None:
        if isinstance(self.value, int | float):
            object.__setattr__(self, "value", _finite(self.value, "bias"))
            return
        values = tuple(_finite(v, "bias") for v in self.value)
        if not values:
            raise TimbrespaceError("bias: expected a number or one number per dimension")
        object.__setattr__(self, "value", values)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        _check_path(z)
        if isinstance(self.value, float):
            return z + self.value
        if len(self.value) != z.shape[1]:
            raise TimbrespaceError(
                f"bias: {len(self.value)} values for a latent of {z.shape[1]} dimensions"
            )
        return z + torch.tensor(self.value, dtype=z.dtype, device=z.device)[:, None]


@dataclass(frozen=True)
class AddNoise:
    """Add Gaussian noise of standard deviation `std`, independent per item, dimension and frame,
    reproducible for a `seed` (item 0 gets the same noise whatever the batch size)."""

    std: float
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "std", _finite(self.std, "noise std", low=0.0))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        _check_path(z)
        return z + self.std * _item_noise(z, z.shape[1:], self.seed)


@dataclass(frozen=True)
class Randomize:
    """Move toward a random latent point r ~ N(0, std²) (the prior of a VAE), one per item,
    constant over frames, seeded.

    blend: `z + amount·(r − z)` (0 keeps z, 1 gives r at every frame);
    replace: round(amount·latent_dim) dimensions, chosen at random per item, are set to r's values
    for the whole path; the other dimensions are untouched.
    """

    amount: float
    mode: str = "blend"
    seed: int = 0
    std: float = 1.0

    def __post_init__(self) -> None:
        amount = _finite(self.amount, "randomize amount", low=0.0)
        if amount > 1.0:
            raise TimbrespaceError(f"randomize amount must be at most 1, got {amount:g}")
        object.__setattr__(self, "amount", amount)
        object.__setattr__(self, "std", _finite(self.std, "randomize std", low=0.0))
        _choice(self.mode, "randomize mode", ("blend", "replace"))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        _check_path(z)
        batch, dim, _ = z.shape
        generator = torch.Generator().manual_seed(self.seed)
        points, masks = [], []
        for _ in range(batch):
            points.append(torch.randn(dim, generator=generator, dtype=torch.float64))
            chosen = torch.randperm(dim, generator=generator)[: round(self.amount * dim)]
            masks.append(torch.zeros(dim, dtype=torch.bool).index_fill(0, chosen, True))
        target = (self.std * torch.stack(points)).to(dtype=z.dtype, device=z.device)[..., None]
        if self.mode == "blend":
            return torch.lerp(z, target.expand_as(z), self.amount)
        mask = torch.stack(masks).to(z.device)[..., None]
        return torch.where(mask, target, z)


@dataclass(frozen=True)
class Reverse:
    """Play the path backwards in time."""

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        return _check_path(z).flip(-1)


@dataclass(frozen=True)
class TimeStretch:
    """Resample to round(frames·factor) frames (at least 1) by linear interpolation, first and
    last frames kept: factor 2 is twice as long. A one-frame (one-shot) path has no time axis and
    is returned unchanged."""

    factor: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "factor", _finite(self.factor, "stretch factor", positive=True))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        frames = _check_path(z).shape[-1]
        if frames == 1:
            return z.clone()
        return resample_frames(z, max(1, round(frames * self.factor)))


@dataclass(frozen=True)
class Smooth:
    """Low-pass each dimension over time, keeping the number of frames (edges repeat the end
    frames, so a constant path stays constant).

    box: moving average over `width` frames (centred; an even width reaches one frame further
    ahead); gauss: Gaussian window whose full width at half maximum is `width` frames, cut at
    ±3σ. width 1 leaves the path unchanged.
    """

    width: int
    kind: str = "box"

    def __post_init__(self) -> None:
        width = _finite(self.width, "smooth width", low=1.0)
        if width != int(width):
            raise TimbrespaceError(f"smooth width must be a whole number of frames, got {width:g}")
        object.__setattr__(self, "width", int(width))
        _choice(self.kind, "smooth kind", ("box", "gauss"))

    def kernel(self) -> torch.Tensor:
        """The smoothing window `[taps]` float64, summing to 1."""
        if self.kind == "box":
            return torch.full((self.width,), 1.0 / self.width, dtype=torch.float64)
        sigma = self.width / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        radius = math.ceil(3.0 * sigma)
        taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
        window = torch.exp(-0.5 * (taps / sigma) ** 2)
        return window / window.sum()

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        batch, dim, frames = _check_path(z).shape
        if self.width == 1 or frames == 1:
            return z.clone()
        kernel = self.kernel().to(dtype=z.dtype, device=z.device)
        taps = kernel.shape[0]
        rows = F.pad(z.reshape(batch * dim, 1, frames), ((taps - 1) // 2, taps // 2), "replicate")
        return F.conv1d(rows, kernel[None, None]).reshape(batch, dim, frames)


@dataclass(frozen=True)
class DimensionCurve:
    """Edit latent dimension `dim` (0-based) over time with a breakpoint `curve` (times are
    fractions of the path's length): by default the dimension is set to the curve's values
    (`curve:3=0:0,1:2`); with add=True the curve is added to it (`curve:3+=0:0,1:2`)."""

    dim: int
    curve: Curve
    add: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 0:
            raise TimbrespaceError(f"curve dimension must be a whole number ≥ 0, got {self.dim!r}")

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        batch, dim, frames = _check_path(z).shape
        if self.dim >= dim:
            raise TimbrespaceError(
                f"curve:{self.dim}: dimension {self.dim} is out of range; the latent has {dim} "
                f"dimensions (0 to {dim - 1})"
            )
        values = self.curve.sample(frames, dtype=z.dtype, device=z.device)
        edited = z.clone()
        edited[:, self.dim] = edited[:, self.dim] + values if self.add else values
        return edited


# --- parsing operators --------------------------------------------------------------------------

OP_EXAMPLES = (
    "e.g. reverse, scale=1.5, scale:mean=1.5, bias=0.2, noise=0.1, randomize=0.5, "
    "randomize:replace=0.5, stretch=2, smooth=5, smooth:gauss=5, curve:3=0:0,1:2, curve:3+=0:0,1:2"
)
OP_PATTERN = re.compile(
    r"^(?P<name>[A-Za-z_]+)(?::(?P<option>[^=+]*))?(?:(?P<op>\+?=)(?P<value>.*))?$", re.DOTALL
)


def _op_number(value: str | None, what: str, example: str) -> float:
    if value is None or not value.strip():
        raise TimbrespaceError(f"needs a {what}, e.g. {example}")
    return _number(value, what)


def _build_scale(option: str | None, value: str | None, seed: int) -> PathOp:
    factor = _op_number(value, "scale factor", "scale=1.5")
    return Scale(factor, "zero" if option is None else option)


def _build_bias(option: str | None, value: str | None, seed: int) -> PathOp:
    if value is None or not value.strip():
        raise TimbrespaceError("needs a bias, e.g. bias=0.2 or bias=0.1,0,-0.3 (one per dimension)")
    numbers = [_number(v, "bias") for v in value.split(",")]
    return Bias(numbers[0] if len(numbers) == 1 else tuple(numbers))


def _build_noise(option: str | None, value: str | None, seed: int) -> PathOp:
    return AddNoise(_op_number(value, "noise std", "noise=0.1"), seed)


def _build_randomize(option: str | None, value: str | None, seed: int) -> PathOp:
    amount = _op_number(value, "randomize amount", "randomize=0.5")
    return Randomize(amount, "blend" if option is None else option, seed)


def _build_stretch(option: str | None, value: str | None, seed: int) -> PathOp:
    return TimeStretch(_op_number(value, "stretch factor", "stretch=2"))


def _build_smooth(option: str | None, value: str | None, seed: int) -> PathOp:
    width = _op_number(value, "smooth width", "smooth=5")
    if width != int(width):
        raise TimbrespaceError(f"smooth width must be a whole number of frames, got {width:g}")
    return Smooth(int(width), "box" if option is None else option)


def _build_reverse(option: str | None, value: str | None, seed: int) -> PathOp:
    if value is not None:
        raise TimbrespaceError("reverse takes no value")
    return Reverse()


def _build_curve(option: str | None, value: str | None, seed: int) -> PathOp:
    if option is None:
        raise TimbrespaceError("curve needs a dimension, e.g. curve:3=0:0,1:2 (0-based)")
    if not option.strip().isdigit():
        raise TimbrespaceError(f"curve dimension {option!r} is not a whole number ≥ 0")
    if value is None:
        raise TimbrespaceError("needs a curve, e.g. curve:3=0:0,1:2")
    return DimensionCurve(int(option), parse_curve(value))


OP_BUILDERS: dict[str, Callable[[str | None, str | None, int], PathOp]] = {
    "bias": _build_bias,
    "curve": _build_curve,
    "noise": _build_noise,
    "randomize": _build_randomize,
    "reverse": _build_reverse,
    "scale": _build_scale,
    "smooth": _build_smooth,
    "stretch": _build_stretch,
}


def parse_op(text: str, *, seed: int = 0) -> PathOp:
    """Parse an operator `NAME[:OPTION][=VALUE]`: reverse, scale=F (about zero) or scale:mean=F,
    bias=B or bias=B0,B1,… (one per dimension), noise=STD, randomize=A (blend) or
    randomize:replace=A, stretch=F, smooth=W (box) or smooth:gauss=W, curve:DIM=T:V,… (sets
    dimension DIM) or curve:DIM+=T:V,… (adds to it). seed: for noise and randomize."""
    label = f"operator {text!r}"
    match = OP_PATTERN.match(text.strip())
    if match is None:
        raise TimbrespaceError(f"{label}: expected NAME[:OPTION][=VALUE], {OP_EXAMPLES}")
    name, option, op, value = match["name"].lower(), match["option"], match["op"], match["value"]
    if name not in OP_BUILDERS:
        raise TimbrespaceError(
            f"{label}: unknown operator {name!r}; known operators: {', '.join(OP_BUILDERS)}"
        )
    if op == "+=" and name != "curve":
        raise TimbrespaceError(f"{label}: only curve takes +=, {OP_EXAMPLES}")
    if option is not None and name in ("bias", "noise", "stretch", "reverse"):
        raise TimbrespaceError(f"{label}: {name} takes no :option, {OP_EXAMPLES}")
    try:
        built = OP_BUILDERS[name](option, value, seed)
    except TimbrespaceError as error:
        raise TimbrespaceError(f"{label}: {error}") from None
    if op == "+=" and isinstance(built, DimensionCurve):
        return DimensionCurve(built.dim, built.curve, add=True)
    return built
