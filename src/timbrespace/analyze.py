"""`timbrespace analyze`: encode every cached sound and store the latent analysis in the bundle.

Writes beside the model, atomically:
- `analysis.safetensors`: `latents` float32 `[sounds, latent_dim]` (paths averaged over frames),
  `descriptors` float32 `[sounds, n_descriptors]` (cache units), `labels` int64 `[sounds]`,
  `pack_directions` float64 `[packs, latent_dim]` (pack mean − global mean) and the PCA
  (`pca.mean`, `pca.components`, `pca.explained_variance`, `pca.explained_variance_ratio`).
- `analysis.json`: the SHA-256 of the weights and the cache fingerprint it was made from,
  descriptor names and units, sound paths, packs and labels, one linear probe per descriptor with
  its held-out R², and the custom controls (their groups of sounds and resulting direction).

Probes are calibrated on decoded audio (`timbrespace.calibrate`, on by default): each probe's
`weights`/`bias` are then fitted on the descriptors the decoder renders, `r2_heldout` is against
them, and its `calibration` entry holds the held-out R² of a probe of the original sounds
(`r2_original`), the decoded R² (`r2_decoded`), what moves along it render (`gain`, `spearman`,
`fidelity`), the range the decoder was measured to render (`rendered_range`, on the probe's
scale) and `weak` (why it is unreliable, or null). `model_pitch` gets a `calibration` entry too.
Without calibration (`calibrate=False`) the probes are those of the original sounds, as in
format 2.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from timbrespace.atomic import atomic_path, write_json_atomic
from timbrespace.audio.descriptors import descriptor_scale, to_scale
from timbrespace.bundle import Bundle, load_bundle, weights_digest
from timbrespace.calibrate import CalibrationSettings, calibrate_probes
from timbrespace.codebook_analysis import analyze_codebook
from timbrespace.data.cache import SoundCache
from timbrespace.errors import TimbrespaceError
from timbrespace.inference import check_cache, encode_in_tune
from timbrespace.latent.analysis import (
    LinearProbe,
    class_directions,
    custom_direction,
    fit_pca,
    fit_probe,
    r2_score,
)
from timbrespace.latent.analysis_file import ANALYSIS_FORMAT_VERSION, CONTROL_ALIASES
from timbrespace.latent.calibration import Calibration
from timbrespace.latent.codebook import CodebookAnalysis
from timbrespace.latent.control import Control

MIN_PROBE_POINTS = 10


@dataclass(frozen=True)
class AnalysisReport:
    bundle: Path
    sounds: int
    explained_variance_ratio: list[float]
    probes: list[LinearProbe]
    packs: list[str]
    custom_controls: list[str]
    model_pitch: LinearProbe | None = None
    calibration: dict[str, Calibration] = field(default_factory=dict)
    """By probe name (`model_pitch` for the model's pitch readout); empty without calibration."""
    decoded: int = 0
    """Sounds decoded to calibrate (analysed sounds and moves)."""
    seconds: float = 0.0
    """Wall time of the whole analysis, s."""
    calibration_seconds: float = 0.0
    """Of which calibrating on decoded audio, s."""
    codebook: CodebookAnalysis | None = None
    """A codebook model's codes, measured on decoded audio (`timbrespace.codebook_analysis`)."""


def analysed_paths(bundle: Bundle, cache: SoundCache) -> torch.Tensor:
    """Every cached clip's latent `[sounds, latent_dim, frames]` (frames = 1 for a point latent),
    with its cached f0 and attack kept (`inference.encode_in_tune`), so a dataset sound starts
    in tune and with its own attack."""
    f0 = (
        torch.from_numpy(np.asarray(cache.descriptor("f0")))
        if "f0" in cache.descriptor_names
        else None
    )
    attack = (
        np.asarray(cache.descriptor("attack_time"))
        if "attack_time" in cache.descriptor_names
        else None
    )
    return encode_in_tune(bundle, cache.audio, f0_hz=f0, attack_s=attack)


def analysed_latents(bundle: Bundle, cache: SoundCache) -> torch.Tensor:
    """Every cached clip's latent point `[sounds, latent_dim]`: `analysed_paths` averaged over
    frames."""
    return analysed_paths(bundle, cache).mean(dim=-1)


@dataclass(frozen=True)
class CustomControlSpec:
    """A control from two groups of sounds: 0 at group A's mean latent, 1 at group B's.

    Each group is a list of glob patterns over the sounds' dataset paths (case-insensitive,
    e.g. `kicks/808/*`, `*soft*`) or `@FILE`, a text file listing paths or patterns, one per line.
    """

    name: str
    group_a: tuple[str, ...]
    group_b: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> CustomControlSpec:
        """`NAME=A1,A2:B1,B2` → spec; a clear error names what is malformed."""
        name, sep, groups = text.partition("=")
        parts = groups.split(":")
        if not sep or not name.strip() or len(parts) != 2:
            raise TimbrespaceError(
                f"--control {text!r}: expected NAME=GROUP_A:GROUP_B, e.g. "
                "punch=kicks/soft/*:kicks/hard/* (globs, comma-separated, or @list.txt)"
            )
        group_a, group_b = (
            tuple(p.strip() for p in part.split(",") if p.strip()) for part in parts
        )
        if not group_a or not group_b:
            raise TimbrespaceError(f"--control {text!r}: both groups need at least one pattern")
        return cls(name.strip(), group_a, group_b)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "group_a": list(self.group_a), "group_b": list(self.group_b)}


def _expand_patterns(patterns: Sequence[str]) -> list[str]:
    expanded: list[str] = []
    for pattern in patterns:
        if pattern.startswith("@"):
            listing = Path(pattern[1:])
            try:
                lines = listing.read_text("utf-8").splitlines()
            except OSError as error:
                raise TimbrespaceError(
                    f"{listing}: cannot read the sound list ({error})"
                ) from error
            expanded += [
                line.strip() for line in lines if line.strip() and not line.startswith("#")
            ]
        else:
            expanded.append(pattern)
    return expanded


def match_sounds(patterns: Sequence[str], sounds: Sequence[str]) -> list[int]:
    """Indices of `sounds` (dataset paths) matched by any glob in `patterns` (case-insensitive)."""
    globs = [pattern.lower() for pattern in _expand_patterns(patterns)]
    return [
        index
        for index, sound in enumerate(sounds)
        if any(fnmatch.fnmatchcase(sound.lower(), glob) for glob in globs)
    ]


def custom_control(spec: CustomControlSpec, points: torch.Tensor, sounds: Sequence[str]) -> Control:
    """The control of `spec` over latent points `[sounds, dim]` named by their dataset paths."""
    groups = []
    for label, patterns in (("A", spec.group_a), ("B", spec.group_b)):
        indices = match_sounds(patterns, sounds)
        if not indices:
            raise TimbrespaceError(
                f"control {spec.name!r}: group {label} ({', '.join(patterns)}) matches no sound; "
                f"sounds look like {', '.join(sounds[:3])}"
            )
        groups.append(points[indices])
    if torch.equal(groups[0].mean(dim=0), groups[1].mean(dim=0)):
        raise TimbrespaceError(f"control {spec.name!r}: groups A and B have the same mean latent")
    direction = custom_direction(groups[0], groups[1])
    return Control.from_direction(spec.name, direction, origin=groups[0].mean(dim=0))


def analyze_bundle(
    bundle_path: str | os.PathLike[str],
    cache_path: str | os.PathLike[str] | None = None,
    *,
    custom: Sequence[CustomControlSpec] = (),
    calibrate: bool = True,
    calibration: CalibrationSettings | None = None,
) -> AnalysisReport:
    """Encode the training cache (or `cache_path`) and write the analysis into the bundle.

    custom: controls defined by two groups of sounds; those of an earlier analysis of the same
    bundle are recomputed too, unless one of `custom` has the same name. calibrate: fit the
    descriptor probes on decoded audio and measure what moves along them render
    (`timbrespace.calibrate`, with `calibration` settings); False keeps the probes of the
    original sounds and the data ranges.
    """
    began = time.perf_counter()
    bundle = load_bundle(bundle_path)
    cache_root = cache_path or bundle.training.get("cache", {}).get("path")
    if cache_root is None:
        raise TimbrespaceError(f"{bundle.path}: no cache recorded in the bundle; pass --data")
    cache = SoundCache(cache_root)
    check_cache(bundle, cache, fingerprint=bundle.training.get("cache", {}).get("fingerprint"))
    sounds = [cache.sources[i].path for i in cache.clip_source]
    specs = {spec.name: spec for spec in (*_previous_custom_specs(bundle.path), *custom)}
    paths = analysed_paths(bundle, cache)
    points = paths.mean(dim=-1)
    reserved = set(cache.descriptor_names) | set(CONTROL_ALIASES)
    for name in specs:
        if name in reserved or name.startswith(("pca", "pack:")):
            raise TimbrespaceError(
                f"custom control {name!r}: that name is taken by a built-in control"
            )
    customs = [custom_control(spec, points.double(), sounds) for spec in specs.values()]
    pca = fit_pca(points)
    scaled, original_probes = {}, {}
    for index, name in enumerate(cache.descriptor_names):
        scale = descriptor_scale(name)
        values = to_scale(cache.descriptors[:, index], scale)
        if np.isfinite(values).sum() < MIN_PROBE_POINTS:
            continue
        unit = cache.descriptor_units[name]
        scaled[name] = values
        original_probes[name] = fit_probe(points, values, name=name, unit=unit, scale=scale)
    model_pitch = _model_pitch(bundle.model, points, cache)
    readouts = _model_readouts(bundle.model, original_probes)
    calibrated = (
        calibrate_probes(
            bundle,
            paths,
            scaled,
            original_probes,
            model_pitch=model_pitch,
            readouts=readouts,
            settings=calibration,
        )
        if calibrate
        else None
    )
    uncalibrated = {**original_probes, **readouts}
    probes = list(uncalibrated.values()) if calibrated is None else calibrated.probes
    calibrations = {} if calibrated is None else calibrated.calibration
    clip_packs = [cache.sources[i].pack for i in cache.clip_source]
    directions = class_directions(points, clip_packs)
    packs = sorted(directions)
    tensors = {
        "latents": points.contiguous(),
        "descriptors": torch.from_numpy(np.ascontiguousarray(cache.descriptors)),
        "labels": torch.from_numpy(cache.clip_labels.copy()),
        "pack_directions": torch.stack([torch.as_tensor(directions[p]) for p in packs]).double(),
        **{key: value.contiguous() for key, value in pca.to_tensors("pca.").items()},
    }
    with atomic_path(bundle.path / "analysis.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json_atomic(
        bundle.path / "analysis.json",
        {
            "format_version": ANALYSIS_FORMAT_VERSION,
            "model": {"weights_sha256": weights_digest(bundle.path)},
            "cache": {"path": str(cache.root.resolve()), "fingerprint": cache.fingerprint},
            "descriptors": [
                {"name": n, "unit": cache.descriptor_units[n]} for n in cache.descriptor_names
            ],
            "sounds": sounds,
            "sound_packs": clip_packs,
            "label_names": cache.label_names,
            "packs": packs,
            "probes": [_probe_entry(probe, calibrations.get(probe.name)) for probe in probes],
            "model_pitch": (
                None
                if model_pitch is None
                else _probe_entry(model_pitch, calibrations.get("model_pitch"))
            ),
            "custom_controls": [
                {**spec.to_dict(), "control": control.to_dict()}
                for spec, control in zip(specs.values(), customs, strict=True)
            ],
            "calibration": None
            if calibrated is None
            else {
                "decoded": calibrated.decoded,
                "settings": asdict(calibration or CalibrationSettings()),
            },
        },
    )
    codebook = analyze_codebook(bundle, paths) if bundle.model.codebook else None
    ratios = [float(r) for r in pca.explained_variance_ratio]
    return AnalysisReport(
        bundle.path,
        len(cache),
        ratios,
        probes,
        packs,
        list(specs),
        model_pitch,
        calibrations,
        decoded=0 if calibrated is None else calibrated.decoded,
        seconds=time.perf_counter() - began,
        calibration_seconds=0.0 if calibrated is None else calibrated.seconds,
        codebook=codebook,
    )


def _probe_entry(probe: LinearProbe, calibration: Calibration | None) -> dict[str, Any]:
    """A probe's JSON entry, with its `calibration` when it has one."""
    entry = _finite(probe.to_dict())
    if calibration is not None:
        entry["calibration"] = calibration.to_dict()
    return entry


def _model_pitch(
    model: torch.nn.Module, points: torch.Tensor, cache: SoundCache
) -> LinearProbe | None:
    """The model's own pitch readout (decoders with an explicit pitch), as a probe in semitones
    re 440 Hz, with its R² against the measured f0 of the pitched sounds."""
    readout = getattr(model, "pitch_readout", lambda: None)()
    if readout is None:
        return None
    weights, bias = readout
    r2 = math.nan
    if "f0" in cache.descriptor_names:
        measured = torch.from_numpy(to_scale(cache.descriptor("f0"), "semitones"))
        finite = torch.isfinite(measured)
        if int(finite.sum()) >= MIN_PROBE_POINTS:
            r2 = r2_score(measured[finite], points.double()[finite] @ weights + bias)
    return LinearProbe(weights, bias, r2, r2, len(cache), "model_pitch", "Hz", "semitones")


def _model_readouts(
    model: torch.nn.Module, probes: dict[str, LinearProbe]
) -> dict[str, LinearProbe]:
    """The descriptors the model sets by construction (`descriptor_readouts`), as probes in the
    unit and scale of the fitted probes of the same descriptors."""
    readouts: dict[str, tuple[torch.Tensor, float]] = getattr(model, "descriptor_readouts", dict)()
    return {
        name: LinearProbe(weights, bias, math.nan, math.nan, 0, name, probes[name].unit,
                          probes[name].scale)
        for name, (weights, bias) in readouts.items()
        if name in probes
    }  # fmt: skip


def _previous_custom_specs(bundle_path: Path) -> list[CustomControlSpec]:
    meta_path = bundle_path / "analysis.json"
    if not meta_path.is_file():
        return []
    try:
        entries = json.loads(meta_path.read_text("utf-8")).get("custom_controls", [])
        return [
            CustomControlSpec(e["name"], tuple(e["group_a"]), tuple(e["group_b"])) for e in entries
        ]
    except (ValueError, KeyError, TypeError):
        return []


def _finite(data: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN: undefined R² values become null."""
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()
    }
