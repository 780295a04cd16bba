"""Descriptor controls calibrated on what the decoder renders, measured at analyze time.

A probe fitted on the descriptors of the *original* sounds can promise a change the decoder never
renders. For every descriptor probe `calibrate_probes`:

1. decodes the analysed sounds (at most `max_points`, seeded) and measures every descriptor on
   the decoded audio with `compute_descriptors` and the training cache's descriptor settings,
   the code that fills the readouts;
2. fits ridge probes of the *decoded* descriptor for each penalty in `ridges`, moves `starts`
   seeded sounds along each to both ends of the decoded data's 5–95 % range, decodes and
   measures them, keeps the fit whose moves render the requested change best
   (`MoveStatistics.fidelity`) and sweeps it over `steps` targets of that range. A strong penalty keeps the direction in the latent's populated
   axes, where the decoder responds as the data vary; a weak one follows axes of little variance
   the decoder ignores (on a 4-minute demo bundle, brightness moves rendered 1 % of the request
   at ridge 1e-3 and 72 % at ridge 1);
3. moves the same starts to and `overshoot` past the decoded data's extremes: the rendered
   range is the 1–99 % quantile of everything measured (`latent.calibration.rendered_range`);
4. marks the control weak when its moves render too little or too erratically
   (`latent.calibration.weak_reason`).

The model's own pitch readout (decoders with an explicit pitch) stays the pitch control: it is
swept the same way and gets its R² against the decoded f0, reported only (YIN on decoded drums
is too unreliable to bound a pitch the synth sets exactly; `Analysis.controls` keeps its data
range). Stronger penalties make the probes more alike (on the demo bundle, |cos| of brightness
with attack and release rose from < 0.2 to ~0.65), so locking many of them costs a set control
more of its own move. A path model's sounds are their encoded latent paths
`[n, dim, frames]`; a move adds the same step to every frame. Decoding is seeded (a synth's noise
is random), so an analysis is reproducible.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from timbrespace.audio.descriptors import (
    compute_descriptors,
    descriptor_names,
    descriptor_scale,
    to_scale,
)
from timbrespace.bundle import Bundle
from timbrespace.inference import decode, descriptor_settings
from timbrespace.latent.analysis import LinearProbe, fit_probe, r2_score
from timbrespace.latent.calibration import (
    Calibration,
    MoveStatistics,
    move_deltas,
    move_statistics,
    rendered_range,
    weak_reason,
)

MIN_CALIBRATION_POINTS = 10
"""Decoded sounds with a defined descriptor a probe needs to be calibrated (else it keeps the
probe of the original sounds, uncalibrated)."""


@dataclass(frozen=True)
class CalibrationSettings:
    """How much to decode. max_points: analysed sounds decoded for the fit (seeded subset);
    starts × steps: moves per candidate fit; ridges: candidate penalties (relative to the mean
    latent variance, as in `fit_probe`); overshoot: how far past the data's extremes the range is
    probed, as a fraction of the data's span; batch_size: sounds per decode; seed: subsets,
    starts and the decoder's noise."""

    max_points: int = 600
    starts: int = 8
    steps: int = 4
    ridges: tuple[float, ...] = (0.3, 1.0)
    overshoot: float = 0.25
    batch_size: int = 64
    seed: int = 0


@dataclass
class Calibrated:
    """The probes controls use (decoder-calibrated where possible), their calibration by name
    (`model_pitch` for the model's pitch readout), and what it cost: sounds decoded and seconds."""

    probes: list[LinearProbe]
    calibration: dict[str, Calibration] = field(default_factory=dict)
    decoded: int = 0
    seconds: float = 0.0


class DecodedDescriptors:
    """Decode latent paths and measure descriptors on the audio, on each descriptor's scale."""

    def __init__(self, bundle: Bundle, *, batch_size: int = 32, seed: int = 0) -> None:
        self.model = bundle.model
        self.settings = descriptor_settings(bundle)
        self.batch_size = batch_size
        self.seed = seed
        self.decoded = 0

    def __call__(self, paths: torch.Tensor, names: Sequence[str]) -> np.ndarray:
        """`paths` `[n, dim, frames]` → `[n, len(names)]` float64 (NaN where undefined)."""
        values = np.full((len(paths), len(names)), np.nan)
        for start in range(0, len(paths), self.batch_size):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                audio = decode(self.model, paths[start : start + self.batch_size].float()).numpy()
            for offset, clip in enumerate(audio):
                try:
                    values[start + offset] = compute_descriptors(clip, self.settings, names).clip
                except ValueError:  # non-finite audio: leave NaN
                    continue
        self.decoded += len(paths)
        for column, name in enumerate(names):
            values[:, column] = to_scale(values[:, column], descriptor_scale(name))
        return values


def calibrate_probes(
    bundle: Bundle,
    paths: torch.Tensor,
    original: Mapping[str, np.ndarray],
    original_probes: Mapping[str, LinearProbe],
    *,
    model_pitch: LinearProbe | None = None,
    readouts: Mapping[str, LinearProbe] | None = None,
    settings: CalibrationSettings | None = None,
) -> Calibrated:
    """Calibrate every probe of `original_probes` on decoded audio (see the module docstring).

    paths: the analysed sounds' latents `[n, dim, frames]`; original: each descriptor over them
    `[n]`, on its scale (NaN where undefined: such sounds are not used for that descriptor);
    readouts: descriptors the model sets by construction (`descriptor_readouts`), each a
    candidate next to the fitted probes, kept when its moves render the request best.
    Returns the calibrated probes in the order of `original_probes` (a probe that can't be
    calibrated is kept as it is, without a calibration entry).
    """
    settings = settings or CalibrationSettings()
    began = time.perf_counter()
    n = len(paths)
    rows = np.arange(n)
    if n > settings.max_points:
        rows = np.sort(np.random.default_rng(settings.seed).choice(n, settings.max_points, False))
    sub_paths = paths[torch.from_numpy(rows)].float()
    measure = DecodedDescriptors(bundle, batch_size=settings.batch_size, seed=settings.seed)
    known = set(descriptor_names())
    names = [name for name in original_probes if name in known]
    result = Calibrated(probes=list(original_probes.values()))
    if names:
        defined = np.stack([np.isfinite(np.asarray(original[name])[rows]) for name in names], 1)
        decoded = np.where(defined, measure(sub_paths, names), np.nan)
        mover = _Mover(measure, sub_paths, settings)
        for i, probe in enumerate(result.probes):
            if probe.name not in names:
                continue
            column = decoded[:, names.index(probe.name)]
            readout = (readouts or {}).get(probe.name)
            calibrated = _calibrate_probe(probe, column, mover, readout)
            if calibrated is not None:
                result.probes[i], result.calibration[probe.name] = calibrated
        if model_pitch is not None and "f0" in names:
            pitch = _calibrate_readout(model_pitch, decoded[:, names.index("f0")], mover)
            if pitch is not None:
                result.calibration["model_pitch"] = pitch
    result.decoded = measure.decoded
    result.seconds = time.perf_counter() - began
    return result


class _Mover:
    """Moves seeded starts along probes and measures one descriptor on what they render."""

    def __init__(
        self, measure: DecodedDescriptors, paths: torch.Tensor, settings: CalibrationSettings
    ) -> None:
        self.measure, self.paths, self.settings = measure, paths, settings
        self.points = paths.double().mean(dim=-1)
        self.rng = np.random.default_rng(settings.seed)

    def render(self, probe: LinearProbe, starts: np.ndarray, targets: torch.Tensor) -> np.ndarray:
        """The descriptor `probe.name` measured after setting the probe to `targets` (`[steps]`
        for every start, or `[starts, steps]`) from each start: `[starts, steps]` on its scale."""
        index = torch.from_numpy(starts)
        deltas = move_deltas(self.points[index], probe.weights, probe.bias, targets)
        steps = targets.shape[-1]
        moved = self.paths[index].repeat_interleave(steps, dim=0) + deltas.float()[:, :, None]
        return self.measure(moved, [probe.name])[:, 0].reshape(len(starts), steps)

    def sweep(
        self, candidates: Sequence[LinearProbe], column: np.ndarray
    ) -> tuple[int, MoveStatistics, np.ndarray]:
        """Choose among `candidates` (probes of one descriptor) by moves from seeded starts to
        the ends of the 5–95 % range of `column` (the descriptor on the decoded data), then
        sweep the chosen one over `steps` targets of that range and past the data's extremes.
        Returns (the chosen candidate's index, its in-range statistics, every value measured
        along it)."""
        settings = self.settings
        defined = np.flatnonzero(np.isfinite(column))
        starts = np.sort(self.rng.choice(defined, min(settings.starts, len(defined)), False))
        finite = column[defined]
        low, high = np.quantile(finite, [0.05, 0.95])
        inner = torch.linspace(float(low), float(high), settings.steps, dtype=torch.float64)
        ends = inner[[0, -1]]
        tried = [self.render(probe, starts, ends) for probe in candidates]
        scores = [move_statistics(_grid(ends, starts), m).score for m in tried]
        chosen = int(np.argmax(scores)) if len(tried) > 1 else 0
        probe = candidates[chosen]
        middle = self.render(probe, starts, inner[1:-1])
        measured = np.concatenate([tried[chosen][:, :1], middle, tried[chosen][:, 1:]], axis=1)
        span = float(finite.max() - finite.min())
        edges = (finite.max() + settings.overshoot * span, finite.min() - settings.overshoot * span)
        beyond = torch.tensor([[edges[i % 2]] for i in range(len(starts))], dtype=torch.float64)
        outside = self.render(probe, starts, beyond)
        stats = move_statistics(_grid(inner, starts), measured)
        return chosen, stats, np.concatenate([measured.ravel(), outside.ravel()])


def _grid(targets: torch.Tensor, starts: np.ndarray) -> np.ndarray:
    """`targets` `[steps]` repeated for every start: `[starts, steps]`."""
    return targets.numpy()[None, :].repeat(len(starts), axis=0)


def _calibratable(column: np.ndarray) -> bool:
    finite = column[np.isfinite(column)]
    return finite.size >= MIN_CALIBRATION_POINTS and float(np.ptp(finite)) > 0


def _calibrate_probe(
    original: LinearProbe, column: np.ndarray, mover: _Mover, readout: LinearProbe | None = None
) -> tuple[LinearProbe, Calibration] | None:
    """Fit candidate probes of the decoded `column` `[sounds]` (and take the model's own
    `readout` of it as one more, its offset fitted to the column: the gain's readout is the
    level above its content's, which sits where training left it), keep the one whose moves
    render the request best, and read its calibration from them (ridge None: the readout)."""
    if not _calibratable(column):
        return None
    candidates = [
        fit_probe(
            mover.points,
            column,
            ridge=ridge,
            name=original.name,
            unit=original.unit,
            scale=original.scale,
        )
        for ridge in mover.settings.ridges
    ]
    ridges: list[float | None] = list(mover.settings.ridges)
    if readout is not None:  # its direction, its offset from the decoded sounds
        defined = np.flatnonzero(np.isfinite(column))
        along = (mover.points[torch.from_numpy(defined)] @ readout.weights).double()
        measured = torch.from_numpy(column[defined]).double()
        bias = float((measured - along).mean())
        r2 = r2_score(measured, along + bias)
        candidates.append(replace(readout, bias=bias, r2_train=r2, r2_heldout=r2))
        ridges.append(None)
    before = mover.measure.decoded
    chosen, stats, rendered = mover.sweep(candidates, column)
    probe = candidates[chosen]
    calibration = Calibration(
        r2_original=original.r2_heldout,
        r2_decoded=probe.r2_heldout,
        ridge=ridges[chosen],
        gain=stats.gain,
        spearman=stats.spearman,
        fidelity=stats.fidelity,
        moves=mover.measure.decoded - before,
        rendered_range=rendered_range(np.concatenate([column[np.isfinite(column)], rendered])),
        weak=weak_reason(stats.gain, stats.spearman, probe.r2_heldout, ridges[chosen] is None),
    )
    return probe, calibration


def _calibrate_readout(
    readout: LinearProbe, column: np.ndarray, mover: _Mover
) -> Calibration | None:
    """A model's own readout (its pitch): R² against the decoded f0 `column`, a sweep, range."""
    if not _calibratable(column):
        return None
    as_f0 = LinearProbe(
        readout.weights, readout.bias, math.nan, math.nan, 0, "f0", readout.unit, readout.scale
    )
    before = mover.measure.decoded
    _, stats, rendered = mover.sweep([as_f0], column)
    defined = np.flatnonzero(np.isfinite(column))
    predicted = mover.points[torch.from_numpy(defined)] @ readout.weights + readout.bias
    r2 = r2_score(torch.from_numpy(column[defined]), predicted)
    return Calibration(
        r2_original=readout.r2_heldout,
        r2_decoded=r2,
        ridge=None,
        gain=stats.gain,
        spearman=stats.spearman,
        fidelity=stats.fidelity,
        moves=mover.measure.decoded - before,
        rendered_range=rendered_range(np.concatenate([column[defined], rendered])),
        weak=weak_reason(stats.gain, stats.spearman, r2),
    )
