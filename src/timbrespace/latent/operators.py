"""Composable latent path operators: scale, bias, noise, randomize, reverse, stretch, smooth
and breakpoint curves on one dimension.

An operator is a callable `z [batch, latent_dim, frames] → z′` that keeps dtype, device, batch
and latent size (only `TimeStretch` changes the number of frames); `apply_ops` chains them:

    apply_ops(z, [Scale(1.5, "mean"), Smooth(5, "gauss"), Reverse()])
    apply_ops(z, [parse_op("scale=1.5"), parse_op("reverse")])   # the text syntax: latent.syntax

Random operators (`AddNoise`, `Randomize`) are seeded and draw item by item, so item 0 gets the
same result whatever the batch size.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.paths import Curve, check_finite, check_path, resample_frames
from timbrespace.limits import check, check_count


class PathOp(Protocol):
    """An operator on a latent path: `z [batch, dim, frames] → z′` (same dtype and device)."""

    def __call__(self, z: torch.Tensor) -> torch.Tensor: ...


def apply_ops(z: torch.Tensor, ops: Iterable[PathOp]) -> torch.Tensor:
    """Apply `ops` to `z [batch, dim, frames]` in order (the first in the list acts first)."""
    check_path(z)
    for index, op in enumerate(ops):
        z = check_finite(op(z), f"ops[{index}] {describe(op)}")
    return z


def describe(op: PathOp) -> str:
    """An operator as its text syntax says it, as far as errors need (`scale=1e+308`)."""
    names = {Scale: "scale", Bias: "bias", AddNoise: "noise", Randomize: "randomize"}
    names |= {TimeStretch: "stretch", Smooth: "smooth", Reverse: "reverse"}
    name = names.get(type(op))
    if name is None:
        return type(op).__name__
    values = [
        getattr(op, f) for f in ("factor", "value", "std", "amount", "width") if hasattr(op, f)
    ]
    if not values:
        return name
    value = values[0]
    shown = ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else f"{value:g}"
    return f"{name}={shown}"


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
        factor = check("scale", _finite(self.factor, "scale factor"), "scale factor")
        object.__setattr__(self, "factor", factor)
        _choice(self.about, "scale about", ("zero", "mean"))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        check_path(z)
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
            object.__setattr__(self, "value", check("bias", _finite(self.value, "bias")))
            return
        values = tuple(check("bias", _finite(v, "bias")) for v in self.value)
        if not values:
            raise TimbrespaceError("bias: expected a number or one number per dimension")
        object.__setattr__(self, "value", values)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        check_path(z)
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
        std = check("noise", _finite(self.std, "noise std", low=0.0), "noise std")
        object.__setattr__(self, "std", std)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        check_path(z)
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
        std = _finite(self.std, "randomize std", low=0.0)
        object.__setattr__(self, "std", check("randomize_std", std, "randomize std"))
        _choice(self.mode, "randomize mode", ("blend", "replace"))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        check_path(z)
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
        return check_path(z).flip(-1)


@dataclass(frozen=True)
class TimeStretch:
    """Resample to round(frames·factor) frames (at least 1) by linear interpolation, first and
    last frames kept: factor 2 is twice as long. A one-frame (one-shot) path has no time axis and
    is returned unchanged."""

    factor: float

    def __post_init__(self) -> None:
        factor = _finite(self.factor, "stretch factor", positive=True)
        object.__setattr__(self, "factor", check("stretch", factor, "stretch factor"))

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        frames = check_path(z).shape[-1]
        if frames == 1:
            return z.clone()
        out = max(1, round(frames * self.factor))
        check_count("path_frames", out, f"stretch={self.factor:g} of {frames} frames")
        return resample_frames(z, out)


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
        width = check("smooth", _finite(self.width, "smooth width", low=1.0), "smooth width")
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
        batch, dim, frames = check_path(z).shape
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
        batch, dim, frames = check_path(z).shape
        if self.dim >= dim:
            raise TimbrespaceError(
                f"curve:{self.dim}: dimension {self.dim} is out of range; the latent has {dim} "
                f"dimensions (0 to {dim - 1})"
            )
        values = self.curve.sample(frames, dtype=z.dtype, device=z.device)
        edited = z.clone()
        edited[:, self.dim] = edited[:, self.dim] + values if self.add else values
        return edited
