"""Descriptor-driven synthesis with a codebook model: target curves → one code per frame → sound.

Targets are curves per latent frame in the descriptors' units (Hz, dB, ...), NaN where a frame
has no target. Each is clamped to what the codebook renders (`check_targets`, with a notice in
the descriptor's unit), compared on its perceptual scale in units of the codebook's tolerance
(`timbrespace.latent.codebook`), and the codes are chosen by dynamic programming over target
error plus a transition cost, `smoothness` × (`learned` × −log P(code | previous code) from the
training sequences + `continuity` × the spectral distance of the two codes: the flux of the
change, measured on their decoded spectra) (`method="dp"`), or frame by frame by nearest
descriptors (`method="greedy"`, seed 001's way). The default mix was chosen by measurement
(`benchmarks/vq_targets.py`): the learned term alone held codes too long on f0 targets and
did not make changes smoother; the spectral term lowers the flux of each change.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from timbrespace.audio.descriptors import (
    DescriptorSettings,
    compute_descriptors,
    descriptor_scale,
    get_descriptor,
    to_scale,
)
from timbrespace.bundle import Bundle, weights_digest
from timbrespace.errors import TimbrespaceError
from timbrespace.inference import load_recording, render
from timbrespace.latent.code_selection import (
    clamp_targets,
    select_dp,
    select_greedy,
    target_costs,
)
from timbrespace.latent.codebook import (
    DB_PER_LEVEL,
    CodebookAnalysis,
    load_codebook,
    measure_settings,
)
from timbrespace.latent.target_curves import (
    CurveSpec,
    curve_values,
    match_descriptor,
    parse_curve,
    read_curve_csv,
    unknown_descriptor,
)
from timbrespace.models.base import ConfiguredModel
from timbrespace.models.quantizer import as_codebook_model

METHODS = ("dp", "greedy")
EXCLUDED_COST = 1e9
"""Target cost of a code left out of a selection (unused in training, or inaudible)."""
LEARNED_WEIGHT = 0.1
"""Weight of −log P(code | previous) in the transition cost at smoothness 1."""
CONTINUITY_WEIGHT = 5.0
"""Weight of the spectral distance of consecutive codes at smoothness 1."""
MAX_SMOOTHNESS = 100.0
DEFAULT_CANDIDATES = 64
MAX_TARGET_SECONDS = 60.0


@dataclass(frozen=True)
class Selection:
    """Codes chosen for target curves: `codes` `[frames]`; `targets` the curves used (clamped,
    in units, NaN = no target); `predicted` the chosen codes' measured values on those
    descriptors; `notices`: what was clamped or left out; `seconds`: time to select; `levels`
    `[frames]` of a gain-shape model (each code's own, moved to meet a loudness target);
    `pitches` `[frames]` of a pitch-shape model (octaves re A4: each code's own, or the f0
    target where there is one)."""

    codes: np.ndarray
    targets: dict[str, np.ndarray]
    predicted: dict[str, np.ndarray]
    method: str
    notices: list[str] = field(default_factory=list)
    seconds: float = 0.0
    levels: np.ndarray | None = None
    pitches: np.ndarray | None = None


def bundle_codebook(bundle: Bundle, what: str = "descriptor targets") -> CodebookAnalysis:
    """The codebook analysis of `bundle` (refused for a family without a codebook; missing or
    stale → `CodebookMissing`, saying to run analyze)."""
    as_codebook_model(bundle.model, what)
    return load_codebook(bundle.path, weights_digest(bundle.path))


def target_frames(model: ConfiguredModel, seconds: float) -> int:
    """Latent frames of `seconds` of sound (refused beyond `MAX_TARGET_SECONDS`)."""
    if not 0 < seconds <= MAX_TARGET_SECONDS:
        raise TimbrespaceError(
            f"--seconds: {seconds:g} s; give a length in (0, {MAX_TARGET_SECONDS:g}] s"
        )
    return model.latent_frames(round(seconds * model.sample_rate))


def formula_targets(texts: Sequence[str], codebook: CodebookAnalysis, frames: int) -> dict:
    """`--curve` texts (`centroid=sine:800:4000:2`, see `timbrespace.latent.target_curves`) →
    curves `[frames]` by descriptor name."""
    specs: list[CurveSpec] = [parse_curve(text, codebook.names) for text in texts]
    names = [spec.descriptor for spec in specs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TimbrespaceError(f"--curve: more than one curve for {', '.join(twice)}")
    return {spec.descriptor: curve_values(spec, frames) for spec in specs}


def csv_targets(
    path: str | os.PathLike[str], codebook: CodebookAnalysis, frames: int, seconds: float
) -> dict[str, np.ndarray]:
    """Curves of a CSV file (`time,<descriptor>,...`), one value per frame."""
    return read_curve_csv(path, codebook.names, frames, seconds)


def curves_of(
    model: ConfiguredModel, audio: np.ndarray, names: Sequence[str], frames: int | None = None
) -> dict[str, np.ndarray]:
    """Descriptor curves of `audio` `[samples]` (at the model's rate) measured as codes are
    (`measure_settings`), one value per model hop; resampled in time to `frames` if given."""
    settings: DescriptorSettings = measure_settings(int(model.sample_rate), int(model.hop_length))
    curves = compute_descriptors(np.asarray(audio, np.float32), settings, list(names))
    out = {}
    for name in names:
        curve = curves.curve(name).astype(np.float64)
        if frames is not None and curve.size != frames:
            curve = _resample(curve, frames)
        out[name] = curve
    return out


def like_targets(
    bundle: Bundle, path: str | os.PathLike[str], names: Sequence[str], frames: int | None
) -> dict[str, np.ndarray]:
    """The descriptor curves of another sound (`--like`), stretched to `frames` if given."""
    audio = load_recording(bundle, path)[0].mean(dim=0).numpy()
    return curves_of(bundle.model, audio, names, frames)


def _resample(curve: np.ndarray, frames: int) -> np.ndarray:
    """A curve `[n]` stretched to `[frames]` by linear interpolation over its finite values."""
    source = np.linspace(0.0, 1.0, curve.size)
    target = np.linspace(0.0, 1.0, frames)
    finite = np.isfinite(curve)
    if finite.sum() < 2:
        return np.full(frames, float(curve[finite][0]) if finite.any() else np.nan)
    values = np.interp(target, source[finite], curve[finite])
    nearest = np.clip(np.rint(target * (curve.size - 1)).astype(int), 0, curve.size - 1)
    values[~finite[nearest]] = np.nan  # keep gaps (e.g. unvoiced f0) where the source had them
    return values


def _format(value: float, unit: str) -> str:
    digits = 0 if unit == "Hz" or abs(value) >= 100 else 1
    return f"{value:.{digits}f} {unit}"


def check_targets(
    codebook: CodebookAnalysis, targets: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Targets clamped to the range the codes a selection may choose render
    (`CodebookAnalysis.selectable`), and a notice for each clamped one giving that range in the
    descriptor's unit. Unknown names are refused, listing the known."""
    clamped, notices = {}, []
    known_names = []
    for name in targets:
        known = match_descriptor(name, codebook.names)
        if known is None:
            raise TimbrespaceError(unknown_descriptor(name, codebook.names))
        known_names.append(known)
    choosable = codebook.selectable("loudness" in known_names)
    for known, values in zip(known_names, targets.values(), strict=True):
        low, high = codebook.value_range(known, choosable)
        unit = codebook.units[known]
        if math.isnan(low):
            raise TimbrespaceError(f"{known}: no code of this model has a measured {known}")
        values = np.asarray(values, np.float64)
        inside, count = clamp_targets(values, low, high)
        if count:
            finite = values[np.isfinite(values)]
            asked = f"{_format(float(finite.min()), unit)} to {_format(float(finite.max()), unit)}"
            notices.append(
                f"{known}: the target spans {asked}, the codebook renders "
                f"{_format(low, unit)} to {_format(high, unit)}; {count} of {values.size} "
                "frames clamped to that range"
            )
        clamped[known] = inside
    return clamped, notices


def select_codes(
    codebook: CodebookAnalysis,
    targets: Mapping[str, np.ndarray],
    *,
    weights: Mapping[str, float] | None = None,
    method: str = "dp",
    smoothness: float = 1.0,
    learned: float = LEARNED_WEIGHT,
    continuity: float = CONTINUITY_WEIGHT,
    candidates: int = DEFAULT_CANDIDATES,
) -> Selection:
    """One code per frame following `targets` (curves `[frames]` in units, all the same
    length); `weights` by descriptor (default 1). See the module doc."""
    began = time.perf_counter()
    if method not in METHODS:
        raise TimbrespaceError(f"--method: {method!r}; expected {' or '.join(METHODS)}")
    if not targets:
        raise TimbrespaceError("no target curve: give --curve, --csv or --like")
    clamped, notices = check_targets(codebook, targets)
    lengths = {values.size for values in clamped.values()}
    if len(lengths) != 1:
        raise TimbrespaceError(f"target curves of different lengths: {sorted(lengths)}")
    names = list(clamped)
    given = dict(weights or {})
    weights = {}
    for name, value in given.items():
        known = match_descriptor(name, names)
        if known is None:
            raise TimbrespaceError(f"--weight {name}: no target curve for it")
        weights[known] = value
    weight = np.array([float(weights.get(n, 1.0)) for n in names])
    if (weight < 0).any() or not np.isfinite(weight).all():
        raise TimbrespaceError("--weight: weights must be finite and >= 0")
    by_level = codebook.gain_shape and "loudness" in names  # met exactly by the level
    searched = [n for n in names if not (by_level and n == "loudness")]
    frames = next(iter(lengths))
    costs = np.zeros((frames, codebook.size))
    if searched:
        chosen = [names.index(n) for n in searched]
        codes_values = np.stack([codebook.scaled(n) for n in searched], axis=1)
        target_values = np.stack(
            [to_scale(clamped[n], descriptor_scale(n)) for n in searched], axis=1
        )
        spread = np.array([codebook.tolerance(n) for n in searched])
        costs = target_costs(codes_values, target_values, weight[chosen], spread)
    costs[:, ~codebook.selectable("loudness" in names)] += EXCLUDED_COST
    if method == "greedy":
        codes = select_greedy(costs)
    else:
        if not 0 <= smoothness <= MAX_SMOOTHNESS or min(learned, continuity) < 0:
            raise TimbrespaceError(
                f"--smoothness: {smoothness:g}; give a value in [0, {MAX_SMOOTHNESS:g}]"
            )
        transitions = learned * codebook.learned_costs
        transitions = transitions + continuity * codebook.spectral_distance
        codes = select_dp(costs, transitions, smoothness, candidates)
    predicted = {n: codebook.column(n)[codes] for n in names}
    levels = None
    if codebook.gain_shape:
        levels = codebook.levels[codes].copy()
        if by_level:
            loudness = clamped["loudness"]
            shift = (loudness - codebook.column("loudness")[codes]) / DB_PER_LEVEL
            levels = np.where(np.isfinite(shift), levels + shift, levels)
            predicted["loudness"] = np.where(np.isfinite(loudness), loudness, predicted["loudness"])
    pitches = None
    if codebook.pitch_shape and codebook.pitches is not None:
        pitches = codebook.pitches[codes].copy()
        if "f0" in names:  # the codes are searched by f0 for their register, set to it exactly
            f0 = clamped["f0"]
            pitches = np.where(np.isfinite(f0), np.log2(np.where(f0 > 0, f0, 1.0) / 440.0), pitches)
            predicted["f0"] = np.where(np.isfinite(f0), f0, predicted["f0"])
    return Selection(
        codes=codes,
        targets=clamped,
        predicted=predicted,
        method=method,
        notices=notices,
        seconds=time.perf_counter() - began,
        levels=levels,
        pitches=pitches,
    )


def render_codes(
    model: ConfiguredModel,
    codes: np.ndarray,
    levels: np.ndarray | None = None,
    pitches: np.ndarray | None = None,
    *,
    gla_iters: int | None = None,
) -> torch.Tensor:
    """A code sequence `[frames]` (with a gain-shape model's levels `[frames]`, a pitch-shape
    model's pitches `[frames]` in octaves re A4) → audio `[channels, samples]` through the
    model's decoder."""

    def row(values: np.ndarray | None) -> torch.Tensor | None:
        return None if values is None else torch.from_numpy(np.asarray(values, np.float32)[None])

    z = as_codebook_model(model, "rendering codes").code_path(
        torch.as_tensor(np.asarray(codes)[None], dtype=torch.long), row(levels), row(pitches)
    )
    return render(model, z, gla_iters=gla_iters)[0]


@dataclass(frozen=True)
class TargetRender:
    """A selection rendered: `audio` `[channels, samples]`; `measured` the output's own curves
    on the target descriptors (`curves_of`, one per frame); `tracking` per descriptor: Pearson
    r with the target and the median absolute error (cents for f0, % for frequencies, dB)."""

    selection: Selection
    audio: torch.Tensor
    measured: dict[str, np.ndarray]
    tracking: dict[str, dict[str, float]]


def tracking_error(name: str, target: np.ndarray, measured: np.ndarray) -> dict[str, float]:
    """`r` (Pearson, NaN if either curve is flat) and `median_error` of `measured` against
    `target` over frames where both are finite, in cents (f0), % (Hz descriptors) or the unit."""
    both = np.isfinite(target) & np.isfinite(measured)
    if both.sum() < 2:
        return {"r": math.nan, "median_error": math.nan, "frames": int(both.sum())}
    t, m = target[both], measured[both]
    if name == "f0":
        error = np.abs(1200 * np.log2(np.maximum(m, 1e-6) / np.maximum(t, 1e-6)))
    elif descriptor_scale(name) == "log":
        error = 100 * np.abs(m - t) / np.maximum(np.abs(t), 1e-9)
    else:
        error = np.abs(m - t)
    flat = float(np.std(t)) < 1e-9 or float(np.std(m)) < 1e-9
    r = math.nan if flat else float(np.corrcoef(t, m)[0, 1])
    return {"r": r, "median_error": float(np.median(error)), "frames": int(both.sum())}


def error_unit(name: str) -> str:
    """The unit `tracking_error` reports `name`'s error in."""
    if name == "f0":
        return "cents"
    return "%" if descriptor_scale(name) == "log" else get_descriptor(name).unit


def follow_targets(
    bundle: Bundle,
    targets: Mapping[str, np.ndarray],
    *,
    weights: Mapping[str, float] | None = None,
    method: str = "dp",
    smoothness: float = 1.0,
    learned: float = LEARNED_WEIGHT,
    continuity: float = CONTINUITY_WEIGHT,
    gla_iters: int | None = None,
    codebook: CodebookAnalysis | None = None,
) -> TargetRender:
    """Select codes for `targets` (see `select_codes`), render them and measure the result."""
    codebook = codebook if codebook is not None else bundle_codebook(bundle)
    selection = select_codes(
        codebook,
        targets,
        weights=weights,
        method=method,
        smoothness=smoothness,
        learned=learned,
        continuity=continuity,
    )
    audio = render_codes(
        bundle.model, selection.codes, selection.levels, selection.pitches, gla_iters=gla_iters
    )
    frames = selection.codes.size
    measured = curves_of(bundle.model, audio.mean(dim=0).numpy(), list(selection.targets))
    measured = {name: _fit(curve, frames) for name, curve in measured.items()}
    tracking = {
        name: tracking_error(name, selection.targets[name], measured[name])
        for name in selection.targets
    }
    return TargetRender(selection, audio, measured, tracking)


def _fit(curve: np.ndarray, frames: int) -> np.ndarray:
    """A measured curve cut or NaN-padded to `frames` (frame i at sample i·hop in both)."""
    if curve.size >= frames:
        return curve[:frames]
    return np.concatenate([curve, np.full(frames - curve.size, np.nan)])
