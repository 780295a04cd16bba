"""Meaningful sliders: move a latent as little as possible so that chosen controls take new values.

A `Control` is a named linear functional on the latent, `value(z) = direction · z + offset`, on the
control's `scale` of a quantity measured in `unit` (a probe of f0 works in semitones re 440 Hz and
is set in Hz or st; a PCA axis is a plain score). Setting several controls at once while keeping
others "locked" is the constrained move of Latent Play (seed 000):

    minimise ‖z′ − z‖²  subject to  A z′ = b′   ⇒   z′ = z + Aᵀ(AAᵀ)⁻¹(b′ − A z)

solved per latent frame (the same A for every frame of a path `[batch, dim, frames]`) with a
pseudo-inverse of the row-normalised A, so nearly collinear controls give the least-squares
compromise plus a warning that names them, instead of an enormous jump.

    controls = {c.name: c for c in (Control.from_probe(f0_probe, name="pitch"), ...)}
    result = set_controls(z, ["pitch=+3st", "attack=5ms"], controls, lock=["release"])
    result.z_new, result.achieved, result.clamped, result.warnings
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

import numpy as np
import torch

from timbrespace.audio.descriptors import SCALES, from_scale, to_scale
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import PCA, Array, LinearProbe, as_float64, like
from timbrespace.latent.paths import check_finite
from timbrespace.latent.settings import Setting, parse_setting, setting_target, unknown_control
from timbrespace.numbers import format_quantity, format_reading

COLLINEAR_COS = 0.99
MAX_CONDITION = 1e8
# singular values of the row-normalised A below this fraction of the largest are dropped, i.e.
# directions where cond(AAᵀ) would exceed MAX_CONDITION are solved in the least-squares sense
RCOND = MAX_CONDITION**-0.5
REACHED_TOLERANCE = 1e-6


def _paths(z: Array) -> torch.Tensor:
    paths = as_float64(z)
    if paths.ndim != 3:
        raise ValueError(f"expected latent paths [batch, dim, frames], got shape {tuple(z.shape)}")
    return paths


@dataclass(frozen=True, eq=False)
class Control:
    """`value(z) = direction · z + offset` on `scale`, for a quantity in `unit` ("" = unitless).

    direction `[dim]` float64, non-zero. range: (min, max) reachable on the control's scale,
    or None when unknown (then targets are never clamped): the span the decoder was measured to
    render when `rendered` (see `timbrespace.calibrate`), else the span of the value over the
    data.
    """

    name: str
    direction: torch.Tensor
    offset: float = 0.0
    unit: str = ""
    scale: str = "linear"
    range: tuple[float, float] | None = None
    limits: tuple[float, float] | None = None
    """Physical range in `unit` (e.g. a centroid below Nyquist, a release within the clip):
    requests past it are clamped even when extrapolating. None: unbounded."""
    weak: str | None = None
    """Why this control is too unreliable to offer as a knob (e.g. its direction explains too
    little of what the decoder renders), or None for a usable control."""
    rendered: bool = False
    """True when `range` is what the decoder renders (measured on decoded audio at analyze
    time), False when it is the span of the data."""

    def __post_init__(self) -> None:
        direction = as_float64(self.direction).reshape(-1).clone()
        if not self.name.strip() or "=" in self.name:
            raise ValueError(f"invalid control name {self.name!r}")
        if not bool(torch.isfinite(direction).all()) or float(direction.norm()) == 0.0:
            raise ValueError(f"control {self.name!r}: direction must be finite and non-zero")
        if self.scale not in SCALES:
            raise ValueError(f"control {self.name!r}: scale must be one of {SCALES}")
        object.__setattr__(self, "direction", direction)
        object.__setattr__(self, "offset", float(self.offset))
        if self.range is not None:
            low, high = (float(v) for v in self.range)
            if not (math.isfinite(low) and math.isfinite(high) and low <= high):
                raise ValueError(f"control {self.name!r}: invalid range {self.range}")
            object.__setattr__(self, "range", (low, high))

    @property
    def dim(self) -> int:
        return int(self.direction.shape[0])

    @overload
    def value(self, z: torch.Tensor) -> torch.Tensor: ...
    @overload
    def value(self, z: np.ndarray) -> np.ndarray: ...
    def value(self, z: Array) -> Array:
        """Value on the control's scale: points `[n, dim]` → `[n]`, paths `[b, dim, f]` → `[b, f]`."""
        z64 = as_float64(z)
        if z64.ndim == 3:
            values = torch.einsum("bdf,d->bf", z64, self.direction)
        else:
            values = z64 @ self.direction
        return like(values + self.offset, z)

    def from_user(self, value: float) -> float:
        """A value in `unit` (Hz, s, …) → the control's scale; raises if the scale can't hold it."""
        scaled = float(to_scale(np.array([value]), self.scale)[0])
        if not math.isfinite(scaled):
            raise TimbrespaceError(f"{self.name}: {value:g}{self.unit} must be positive")
        return scaled

    def to_user(self, value: float) -> float:
        """A value on the control's scale → `unit`."""
        return float(from_scale(np.array([value], dtype=np.float64), self.scale)[0])

    def with_range(self, z: Array) -> Control:
        """A copy whose range is (min, max) of the value over data points `[n, dim]` or paths."""
        values = as_float64(self.value(as_float64(z)))
        values = values[torch.isfinite(values)]
        if values.numel() == 0:
            raise TimbrespaceError(f"control {self.name!r}: no finite value in the data")
        return replace(self, range=(float(values.min()), float(values.max())))

    def with_limits(self, low: float, high: float) -> Control:
        """A copy with the physical range `[low, high]` in `unit` (±inf: unbounded side); its
        `range` is intersected with it (both ends kept inside the physical range)."""
        if math.isinf(low) and math.isinf(high):
            return self
        limited = replace(self, limits=(float(low), float(high)))
        if self.range is None:
            return limited
        floor, ceiling = limited.scaled_limits()
        start, end = (min(max(v, floor), ceiling) for v in self.range)
        return replace(limited, range=(start, end))

    def scaled_limits(self) -> tuple[float, float]:
        """The physical range on the control's scale (a side the scale can't hold is unbounded:
        0 Hz on a semitone scale is −inf)."""
        if self.limits is None:
            return -math.inf, math.inf
        low, high = (
            float(v) for v in to_scale(np.array(self.limits, dtype=np.float64), self.scale)
        )
        return (low if math.isfinite(low) else -math.inf, high if math.isfinite(high) else math.inf)

    @classmethod
    def from_probe(cls, probe: LinearProbe, *, name: str | None = None) -> Control:
        """The probe's prediction as a control (e.g. f0 in semitones, set in Hz or st)."""
        return cls(name or probe.name, probe.weights, probe.bias, probe.unit, probe.scale)

    @classmethod
    def from_pca(
        cls, pca: PCA, index: int, *, name: str | None = None, whiten: bool = False
    ) -> Control:
        """The score on principal axis `index` (0-based; named pca1, pca2, …).

        whiten: in standard deviations of the data along the axis instead of latent units.
        """
        direction = pca.components[index]
        if whiten:
            direction = direction / pca.explained_variance[index].clamp_min(1e-24).sqrt()
        return cls(name or f"pca{index + 1}", direction, -float(direction @ pca.mean))

    @classmethod
    def from_direction(
        cls, name: str, direction: Array, *, origin: Array | None = None, unit: str = ""
    ) -> Control:
        """Progress along `direction` `[dim]`: 0 at `origin` (default 0), 1 at origin + direction.

        For a pack, direction = class mean − global mean and origin = global mean; for a custom
        control from groups A and B, direction = `custom_direction(A, B)` and origin = mean(A).
        """
        d = as_float64(direction).reshape(-1)
        a = d / d.square().sum()
        offset = 0.0 if origin is None else -float(a @ as_float64(origin).reshape(-1))
        return cls(name, a, offset, unit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "direction": [float(v) for v in self.direction],
            "offset": self.offset,
            "unit": self.unit,
            "scale": self.scale,
            "range": None if self.range is None else list(self.range),
            "weak": self.weak,
            "rendered": self.rendered,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Control:
        value_range = data.get("range")
        return cls(
            name=str(data["name"]),
            direction=as_float64(data["direction"]),
            offset=float(data.get("offset", 0.0)),
            unit=str(data.get("unit", "")),
            scale=str(data.get("scale", "linear")),
            range=None if value_range is None else (value_range[0], value_range[1]),
            weak=None if data.get("weak") is None else str(data["weak"]),
            rendered=bool(data.get("rendered", False)),
        )


def get_control(controls: Mapping[str, Control], name: str) -> Control:
    """`controls[name]`, or a TimbrespaceError listing the known names."""
    if name not in controls:
        raise unknown_control(name, controls)
    return controls[name]


@dataclass
class ControlResult:
    """Outcome of a constrained move.

    z_new `[batch, dim, frames]`, achieved and targets `[batch, n_controls, frames]`, all in the
    input's type and dtype; achieved and targets are on each control's scale:
    the values at z_new and the targets used after clamping. clamped: names of controls whose
    target was clamped to the data range; warnings: one line each, ready to print.
    """

    z_new: Array
    achieved: Array
    targets: Array
    clamped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _matrix(controls: Sequence[Control], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    for control in controls:
        if control.dim != dim:
            raise ValueError(f"control {control.name!r} has dim {control.dim}, latents have {dim}")
    directions = torch.stack([c.direction for c in controls])
    offsets = torch.tensor([c.offset for c in controls], dtype=torch.float64)
    return directions, offsets


def _broadcast_targets(targets: Any, batch: int, n: int, frames: int) -> torch.Tensor:
    values = as_float64(targets)
    if values.ndim == 1:
        values = values[None, :, None]
    elif values.ndim == 2:
        values = values[:, :, None]
    if values.ndim != 3 or values.shape[1] != n:
        raise ValueError(
            f"targets: expected [{n}], [batch, {n}] or [batch, {n}, frames], "
            f"got shape {tuple(as_float64(targets).shape)}"
        )
    try:
        return values.expand(batch, n, frames).clone()
    except RuntimeError as error:
        raise ValueError(f"targets of shape {tuple(values.shape)} don't fit the latents") from error


def _limit_to_ranges(
    targets: torch.Tensor, controls: Sequence[Control], *, clamp: bool, extrapolate: bool
) -> tuple[torch.Tensor, list[str], list[str]]:
    clamped: list[str] = []
    notes: list[str] = []
    if not clamp and not extrapolate:
        return targets, clamped, notes
    for i, control in enumerate(controls):
        _limit_to_physics(targets, i, control, clamped, notes)
        if control.range is None:
            continue
        low, high = control.range
        column = targets[:, i]
        outside = (column < low) | (column > high)
        if not bool(outside.any()):
            continue
        worst = float(column[outside][(column[outside] - (low + high) / 2).abs().argmax()])
        if not extrapolate:
            targets[:, i] = column.clamp(low, high)
            if control.name not in clamped:
                clamped.append(control.name)
        notes.append(_range_note(control, worst, extrapolate=extrapolate))
    return targets, clamped, notes


def _range_note(control: Control, worst: float, *, extrapolate: bool) -> str:
    """The notice for a target `worst` (on the control's scale) outside `control.range`, in the
    control's unit: clamped to the nearest edge, or kept when extrapolating."""
    assert control.range is not None
    low, high = control.range
    wanted = format_reading(control.to_user(worst), control.unit)
    edge = format_reading(control.to_user(high if worst > high else low), control.unit)
    if control.rendered:
        side = "max" if worst > high else "min"
        beyond = f"{control.name}: {wanted} is beyond what this model renders ({side} {edge})"
        if extrapolate:
            return f"{beyond}; extrapolating (the sound may not follow)"
        return f"{beyond}; set {edge} (ask to extrapolate to go beyond)"
    span = f"data range {_range_text(control, control.to_user(low), control.to_user(high))}"
    if extrapolate:
        return f"{control.name}: {wanted} is beyond the {span}; extrapolating"
    return (
        f"{control.name}: {wanted} is outside the {span}; clamped to {edge} "
        "(ask to extrapolate to go beyond)"
    )


def _limit_to_physics(
    targets: torch.Tensor, i: int, control: Control, clamped: list[str], notes: list[str]
) -> None:
    """Clamp column `i` of `targets` to the control's physical range, with a note in its unit."""
    low, high = control.scaled_limits()
    column = targets[:, i]
    outside = (column < low) | (column > high)
    if control.limits is None or not bool(outside.any()):
        return
    above = bool((column > high).any())
    worst = float(column.max()) if above else float(column.min())
    edge = high if above else low
    targets[:, i] = column.clamp(low, high)
    clamped.append(control.name)
    notes.append(
        f"{control.name}: {format_reading(control.to_user(worst), control.unit)} is impossible "
        f"here (physical range {_range_text(control, *control.limits)}); clamped to "
        f"{format_reading(control.to_user(edge), control.unit)}"
    )


def _range_text(control: Control, low: float, high: float) -> str:
    """`[low, high] unit` of values in the control's unit, as a person reads them (times under
    a second in ms, as `format_reading` shows them)."""
    if control.unit == "s" and max(abs(low), abs(high)) < 1.0:
        return f"[{format_quantity(1000.0 * low)}, {format_quantity(1000.0 * high)}] ms"
    unit = f" {control.unit}" if control.unit else ""
    return f"[{format_quantity(low)}, {format_quantity(high)}]{unit}"


def _conditioning_warnings(unit_rows: torch.Tensor, names: Sequence[str]) -> list[str]:
    """Warnings naming nearly collinear pairs and nearly dependent groups of controls."""
    gram = unit_rows @ unit_rows.T
    warnings = []
    flagged: set[str] = set()
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            cos = float(gram[i, j])
            if abs(cos) > COLLINEAR_COS:
                warnings.append(
                    f"controls {names[i]!r} and {names[j]!r} are nearly collinear "
                    f"(cos {cos:.4f}): solved by least squares, targets may not all be reached"
                )
                flagged.update((names[i], names[j]))
    eigenvalues, eigenvectors = torch.linalg.eigh(gram)
    weak = eigenvalues <= eigenvalues[-1] / MAX_CONDITION
    if bool(weak.any()):
        involved = eigenvectors[:, weak].abs().amax(dim=1)
        group = [name for name, w in zip(names, involved, strict=True) if w > 0.1 * involved.max()]
        if not set(group) <= flagged:
            condition = float(eigenvalues[-1] / eigenvalues[0].clamp_min(1e-300))
            warnings.append(
                f"controls {', '.join(map(repr, group))} are nearly linearly dependent "
                f"(cond(AAᵀ) {condition:.2g}): solved by least squares, targets may not all "
                "be reached"
            )
    return warnings


def _move(z: torch.Tensor, unit_rows: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
    """Minimum-norm δ `[b, dim, f]` with Â δ = residual `[b, m, f]` (least squares if singular)."""
    pseudo_inverse = torch.linalg.pinv(unit_rows, rtol=RCOND)
    return z + torch.einsum("dm,bmf->bdf", pseudo_inverse, residual)


def apply_controls(
    z: Array,
    controls: Sequence[Control],
    targets: Any,
    *,
    locked: Sequence[Control] = (),
    clamp: bool = True,
    extrapolate: bool = False,
) -> ControlResult:
    """Set `controls` to `targets` and keep `locked` controls at their current values, moving
    the latents `z [batch, dim, frames]` as little as possible (Euclidean, per frame).

    targets: on each control's scale, shaped `[n]`, `[batch, n]` or `[batch, n, frames]`.
    clamp: clamp targets to each control's data range (listed in `clamped`, with a warning);
    extrapolate: use targets beyond the range as given (a warning notes it); both False: ranges
    are ignored.
    """
    z64 = _paths(z)
    batch, dim, frames = z64.shape
    everything = [*controls, *locked]
    names = [c.name for c in everything]
    if len(set(names)) != len(names):
        raise TimbrespaceError(f"a control is set or locked twice: {', '.join(names)}")
    wanted = _broadcast_targets(targets, batch, len(controls), frames)
    if not bool(torch.isfinite(wanted).all()):
        raise TimbrespaceError("control targets must be finite numbers")
    if not everything:
        return ControlResult(like(z64.clone(), z), like(wanted, z), like(wanted, z))
    wanted, clamped, warnings = _limit_to_ranges(
        wanted, controls, clamp=clamp, extrapolate=extrapolate
    )
    rows, offsets = _matrix(everything, dim)
    current = torch.einsum("md,bdf->bmf", rows, z64) + offsets[:, None]
    goal = torch.cat([wanted, current[:, len(controls) :]], dim=1)
    norms = rows.norm(dim=1)
    unit_rows = rows / norms[:, None]
    z_solved = _move(z64, unit_rows, (goal - current) / norms[:, None])
    warnings += _conditioning_warnings(unit_rows, names)
    warnings += _unmet_warnings(z_solved, rows, offsets, goal, names)
    z_new = check_finite(like(z_solved, z), f"setting {', '.join(names[: len(controls)])}")
    achieved = torch.einsum("md,bdf->bmf", rows, as_float64(z_new)) + offsets[:, None]
    achieved = achieved[:, : len(controls)]
    return ControlResult(z_new, like(achieved, z), like(wanted, z), clamped, warnings)


def _unmet_warnings(
    z: torch.Tensor,
    rows: torch.Tensor,
    offsets: torch.Tensor,
    goal: torch.Tensor,
    names: Sequence[str],
) -> list[str]:
    values = torch.einsum("md,bdf->bmf", rows, z) + offsets[:, None]
    norms = rows.norm(dim=1)[:, None]
    error = ((values - goal).abs() / norms).amax(dim=(0, 2))
    tolerance = REACHED_TOLERANCE * (1.0 + float(z.abs().max()) + float((goal.abs() / norms).max()))
    missed = [
        f"{name} (wanted {float(goal[0, i, 0]):.4g}, got {float(values[0, i, 0]):.4g})"
        for i, name in enumerate(names)
        if error[i] > tolerance
    ]
    if not missed:
        return []
    return ["could not reach every target at once: " + "; ".join(missed)]


def set_controls(
    z: Array,
    settings: Sequence[str | Setting],
    controls: Mapping[str, Control],
    *,
    lock: Sequence[str] = (),
    clamp: bool = True,
    extrapolate: bool = False,
) -> ControlResult:
    """Apply user settings (`"pitch=+3st"` or `Setting`s) to latents `[batch, dim, frames]`.

    Relative settings move each item's (and frame's) current value; `lock` names controls to keep.
    Unknown names raise a TimbrespaceError listing `controls`.
    """
    z64 = _paths(z)
    parsed = [s if isinstance(s, Setting) else parse_setting(s, controls) for s in settings]
    chosen = [get_control(controls, s.name) for s in parsed]
    targets = [setting_target(s, c, c.value(z64)) for s, c in zip(parsed, chosen, strict=True)]
    stacked = torch.stack(targets, dim=1) if targets else torch.zeros(z64.shape[0], 0, 1)
    locked = [get_control(controls, name) for name in lock]
    return apply_controls(z, chosen, stacked, locked=locked, clamp=clamp, extrapolate=extrapolate)
