"""Do the knobs do what they say? Sweep a control from many starting sounds, measure the
rendered audio, and compare with a random latent direction of the same length.

For control C measured by descriptor D (pitch → f0, attack → attack_time, …):
- fidelity: per start, Spearman ρ between the requested targets and D measured on the rendered
  sounds; the median over starts is the headline number (1 = the knob is perfectly monotone);
- accuracy: the fraction of in-range steps whose measured value is within the closed loop's
  tolerance of the request (15 cents for pitch, 5 % otherwise; `space_loop.tolerance`);
- side effects: per start, how much each *other* descriptor moves along the sweep, as the
  standard deviation of its measured values (on its perceptual scale: semitones, log s, …) over
  the steps, divided by its standard deviation over the dataset; averaged over the other
  descriptors. The same is measured for a seeded random unit direction moved by the same signed
  distances, and `side_effect_ratio` = control / random (< 1: the knob is more specific than
  chance). The closed loop's corrections lengthen a move (a gain put back along its readout), and
  a random direction moved that far moves everything more, so `side_effect_ratio_open_loop`
  moves it by the open-loop move's distances instead: the length the control's own direction
  needs. A knob passes when both are below 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import SupportsFloat

import numpy as np
import torch
from scipy.stats import spearmanr

from timbrespace.audio.descriptors import descriptor_scale, to_scale
from timbrespace.latent.control import Control
from timbrespace.space import LatentSpace
from timbrespace.space_loop import tolerance
from timbrespace.space_readout import readout_search

MAIN_CONTROLS = ("pitch", "attack", "release", "brightness")
WATCHED_DESCRIPTORS = ("f0", "attack_time", "release_time", "centroid", "loudness")
MIN_VALID_STEPS = 4


@dataclass
class FidelityReport:
    """Sweeps of one control: `rho` and `side_effect` / `random_side_effect` per start."""

    control: str
    descriptor: str
    starts: list[str]
    rho: list[float]
    side_effect: list[float]
    random_side_effect: list[float]
    open_random_side_effect: list[float]
    target_range: tuple[float, float]
    unit: str
    within_tolerance: list[bool] = field(default_factory=list)
    within_reach: list[bool] = field(default_factory=list)
    span_covered: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        rho = np.array(self.rho, dtype=np.float64)
        side = np.nanmean(self.side_effect) if self.side_effect else math.nan
        random_side = np.nanmean(self.random_side_effect) if self.random_side_effect else math.nan
        open_side = _mean(self.open_random_side_effect)
        return {
            "descriptor": self.descriptor,
            "starts": len(self.starts),
            "valid_starts": int(np.isfinite(rho).sum()),
            "median_spearman": _round(np.nanmedian(rho) if np.isfinite(rho).any() else math.nan),
            "min_spearman": _round(np.nanmin(rho) if np.isfinite(rho).any() else math.nan),
            "target_range": [_round(v) for v in self.target_range],
            "unit": self.unit,
            "other_descriptor_spread": _round(side),
            "random_direction_spread": _round(random_side),
            "side_effect_ratio": _round(side / random_side if random_side > 0 else math.nan),
            "random_direction_spread_open_loop": _round(open_side),
            "side_effect_ratio_open_loop": _round(side / open_side if open_side > 0 else math.nan),
            "within_tolerance": _round(
                np.mean(self.within_tolerance) if self.within_tolerance else math.nan
            ),
            "steps_judged": len(self.within_tolerance),
            "within_tolerance_in_reach": _round(
                np.mean(reached) if (reached := self._reached()) else math.nan
            ),
            "steps_beyond_their_sound": int(len(self.within_reach) - sum(self.within_reach)),
            "median_span_covered": _round(_median(self.span_covered)),
            "min_span_covered": _round(
                np.nanmin(self.span_covered) if _any(self.span_covered) else math.nan
            ),
        }

    def _reached(self) -> list[bool]:
        """`within_tolerance` of the steps whose request lies within what their start sound
        renders (`within_reach`)."""
        return [
            hit
            for hit, inside in zip(self.within_tolerance, self.within_reach, strict=True)
            if inside
        ]


def _any(values: Sequence[float]) -> bool:
    return bool(np.isfinite(np.asarray(values, dtype=np.float64)).any())


def _mean(values: Sequence[float]) -> float:
    return float(np.nanmean(values)) if _any(values) else math.nan


def _median(values: Sequence[float]) -> float:
    return float(np.nanmedian(values)) if _any(values) else math.nan


def covered_span(targets: np.ndarray, measured: np.ndarray) -> float:
    """How much of a sweep's requested span `targets` `[steps]` its measurements `[steps]` (both
    on the control's scale; NaN: unmeasured) cover: (highest − lowest measured) / (highest −
    lowest requested); NaN for a sweep of one value or with fewer than two measurements."""
    found = measured[np.isfinite(measured)]
    asked = float(np.ptp(targets)) if targets.size else 0.0
    if found.size < 2 or not asked > 0:
        return math.nan
    return float(np.ptp(found)) / asked


def _round(value: SupportsFloat, digits: int = 4) -> float | None:
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


def scaled(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Descriptor values on their perceptual scale (semitones for f0, log for times…)."""
    return to_scale(np.asarray(values, dtype=np.float64), descriptor_scale(name))


def spearman(
    requested: Sequence[float] | np.ndarray, measured: Sequence[float] | np.ndarray
) -> float:
    """Spearman ρ over the finite pairs; NaN with fewer than MIN_VALID_STEPS or no variation."""
    x, y = np.asarray(requested, dtype=np.float64), np.asarray(measured, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < MIN_VALID_STEPS or np.ptp(x[keep]) == 0 or np.ptp(y[keep]) == 0:
        return math.nan
    return float(spearmanr(x[keep], y[keep]).statistic)


def spread(
    space: LatentSpace, audio: np.ndarray, names: Sequence[str], scale_std: dict[str, float]
) -> float:
    """Mean over `names` of std-over-steps / dataset std of each descriptor of `audio`
    `[steps, channels, samples]` (descriptors undefined on some steps use the defined ones)."""
    measured = np.stack([space.measure(item, list(names)).clip for item in audio])
    spreads = []
    for column, name in enumerate(names):
        values = scaled(name, measured[:, column])
        values = values[np.isfinite(values)]
        if values.size >= 2 and scale_std[name] > 0:
            spreads.append(float(values.std()) / scale_std[name])
    return float(np.mean(spreads)) if spreads else math.nan


def dataset_spread(space: LatentSpace, names: Sequence[str]) -> dict[str, float]:
    """Std over the analysed sounds of each descriptor on its scale."""
    result = {}
    for name in names:
        values = scaled(name, space.analysis.descriptor(name))
        values = values[np.isfinite(values)]
        result[name] = float(values.std()) if values.size >= 2 else 0.0
    return result


def sweep_range(
    space: LatentSpace, name: str, quantile: float = 0.05, sounds: Sequence[int] | None = None
) -> tuple[float, float]:
    """The control's data range on its scale: the (q, 1 − q) quantiles of its value over the
    analysed sounds (or the `sounds` indices)."""
    latents = space.analysis.latents
    selected = latents if sounds is None else latents[list(sounds)]
    values = space.controls[name].value(selected).numpy()
    return float(np.quantile(values, quantile)), float(np.quantile(values, 1.0 - quantile))


def choose_starts(
    space: LatentSpace,
    n: int,
    *,
    seed: int = 0,
    pitched_only: bool = False,
    pool: Sequence[int] | None = None,
) -> list[int]:
    """`n` seeded random dataset sounds (from `pool` indices if given); `pitched_only` keeps
    those with a defined f0 whose f0 confidence is at least 0.5 (a hat has no pitch to move)."""
    candidates = np.arange(len(space.analysis.sounds)) if pool is None else np.asarray(pool)
    if pitched_only:
        f0 = space.analysis.descriptor("f0")
        confident = space.analysis.descriptor("f0_confidence")
        candidates = candidates[np.isfinite(f0[candidates]) & (confident[candidates] >= 0.5)]
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(candidates, size=min(n, candidates.size), replace=False).tolist())


def sound_reach(space: LatentSpace, control: Control, z: torch.Tensor) -> np.ndarray:
    """The lowest and highest value (the control's scale) the sound of latent `z` `[1, dim, 1]`
    renders along a control set by a render stage's search (`space_readout`); NaN for a
    control the closed loop sets by secant steps (its reach is not measured)."""
    search = readout_search(space, [control])
    if search is None:
        return np.full(2, math.nan)
    return to_scale(search.reach(z.double())[0], control.scale)


def measure_control(
    space: LatentSpace,
    name: str,
    starts: Sequence[int],
    *,
    steps: int = 9,
    lock: Sequence[str] = (),
    seed: int = 0,
    range_from: Sequence[int] | None = None,
) -> FidelityReport:
    """Sweep control `name` over its data range (over the `range_from` sounds if given) from
    each start, keeping `lock`ed controls in place; see the module docstring."""
    descriptor = space.descriptor_of(name)
    if descriptor is None:
        raise ValueError(f"control {name!r} has no descriptor to measure it by")
    low, high = sweep_range(space, name, sounds=range_from)
    targets = torch.linspace(low, high, steps, dtype=torch.float64)
    others = [
        d for d in WATCHED_DESCRIPTORS if d != descriptor and d in space.analysis.descriptor_names
    ]
    scale_std = dataset_spread(space, others)
    rng = np.random.default_rng(seed)
    rho, side, hits, inside, spans = [], [], [], [], []
    random_side: list[float] = []
    open_side: list[float] = []
    control = space.controls[name]
    for start in starts:
        z = space.sound_latent(start)
        result = space.sweep_targets(z, name, targets, lock=lock, extrapolate=True)
        rho.append(spearman(result.targets.numpy(), scaled(descriptor, result.measured)))
        low_in, high_in = control.range or (-math.inf, math.inf)
        got = scaled(descriptor, result.measured)
        spans.append(covered_span(result.targets.numpy(), got))
        reach = sound_reach(space, control, z)
        for wanted, value in zip(result.targets.tolist(), got, strict=True):
            if np.isfinite(value) and low_in <= wanted <= high_in:
                hits.append(bool(abs(value - wanted) <= tolerance(control, wanted)))
                inside.append(bool(not np.isfinite(reach).all() or reach[0] <= wanted <= reach[1]))
        side.append(spread(space, result.audio, others, scale_std))
        current = float(space.controls[name].value(z.double())[0, 0])
        direction = torch.from_numpy(rng.standard_normal(z.shape[1]))
        direction = (direction / direction.norm()).float().reshape(1, -1, 1)
        opened = space.sweep_targets(
            z, name, targets, lock=lock, extrapolate=True, closed_loop=False
        )
        for distance, found in ((result.distance, random_side), (opened.distance, open_side)):
            signed = np.sign(result.targets.numpy() - current) * np.array(distance)
            random_z = z + torch.from_numpy(signed).float().reshape(-1, 1, 1) * direction
            found.append(spread(space, space.render(random_z), others, scale_std))
    return FidelityReport(
        control=name,
        descriptor=descriptor,
        starts=[space.analysis.sounds[i] for i in starts],
        rho=rho,
        side_effect=side,
        random_side_effect=random_side,
        open_random_side_effect=open_side,
        target_range=(space.controls[name].to_user(low), space.controls[name].to_user(high)),
        unit=space.controls[name].unit,
        within_tolerance=hits,
        within_reach=inside,
        span_covered=spans,
    )
