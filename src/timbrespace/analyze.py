"""`timbrespace analyze`: encode every cached sound and store the latent analysis in the bundle.

Writes beside the model, atomically:
- `analysis.safetensors`: `latents` float32 `[sounds, latent_dim]` (paths averaged over frames),
  `descriptors` float32 `[sounds, n_descriptors]` (cache units), `labels` int64 `[sounds]`,
  `pack_directions` float64 `[packs, latent_dim]` (pack mean − global mean) and the PCA
  (`pca.mean`, `pca.components`, `pca.explained_variance`, `pca.explained_variance_ratio`).
- `analysis.json`: the SHA-256 of the weights and the cache fingerprint it was made from,
  descriptor names and units, sound paths, packs and labels, one linear probe per descriptor with
  its held-out R², and the custom controls (their groups of sounds and resulting direction).
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from timbrespace.atomic import atomic_path, write_json_atomic
from timbrespace.bundle import load_bundle, weights_digest
from timbrespace.data.cache import SoundCache
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import (
    PCA,
    LinearProbe,
    class_directions,
    custom_direction,
    fit_pca,
    fit_probe,
    r2_score,
)
from timbrespace.latent.control import Control
from timbrespace.train.targets import SCALES, to_scale

ANALYSIS_FORMAT_VERSION = 2
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


def encode_cache(model: torch.nn.Module, cache: SoundCache, batch_size: int = 32) -> torch.Tensor:
    """Latent points `[sounds, latent_dim]` of every clip (paths averaged over frames)."""
    parts = []
    with torch.inference_mode():
        for start in range(0, len(cache), batch_size):
            audio = torch.from_numpy(np.array(cache.audio[start : start + batch_size]))
            parts.append(model.encode(audio).float().mean(dim=-1))
    return torch.cat(parts)


def _check_cache(bundle_meta: dict[str, Any], cache: SoundCache) -> None:
    trained_on = bundle_meta.get("training", {}).get("cache", {})
    if int(bundle_meta["sample_rate"]) != cache.sample_rate:
        raise TimbrespaceError(
            f"{cache.root}: cache is at {cache.sample_rate} Hz but the model at "
            f"{bundle_meta['sample_rate']} Hz"
        )
    expected = trained_on.get("fingerprint")
    if expected is not None and expected != cache.fingerprint:
        raise TimbrespaceError(
            f"{cache.root}: this cache (fingerprint {cache.fingerprint}) is not the one the model "
            f"was trained on ({expected}); re-run prepare on the same data or pass that cache"
        )


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
) -> AnalysisReport:
    """Encode the training cache (or `cache_path`) and write the analysis into the bundle.

    custom: controls defined by two groups of sounds; those of an earlier analysis of the same
    bundle are recomputed too, unless one of `custom` has the same name.
    """
    bundle = load_bundle(bundle_path)
    cache_root = cache_path or bundle.training.get("cache", {}).get("path")
    if cache_root is None:
        raise TimbrespaceError(f"{bundle.path}: no cache recorded in the bundle; pass --data")
    cache = SoundCache(cache_root)
    _check_cache(bundle.meta, cache)
    sounds = [cache.sources[i].path for i in cache.clip_source]
    specs = {spec.name: spec for spec in (*_previous_custom_specs(bundle.path), *custom)}
    points = encode_cache(bundle.model, cache)
    reserved = set(cache.descriptor_names) | set(CONTROL_ALIASES)
    for name in specs:
        if name in reserved or name.startswith(("pca", "pack:")):
            raise TimbrespaceError(
                f"custom control {name!r}: that name is taken by a built-in control"
            )
    customs = [custom_control(spec, points.double(), sounds) for spec in specs.values()]
    pca = fit_pca(points)
    probes = []
    for index, name in enumerate(cache.descriptor_names):
        scale = SCALES.get(name, "linear")
        values = to_scale(cache.descriptors[:, index], scale)
        if np.isfinite(values).sum() < MIN_PROBE_POINTS:
            continue
        unit = cache.descriptor_units[name]
        probes.append(fit_probe(points, values, name=name, unit=unit, scale=scale))
    model_pitch = _model_pitch(bundle.model, points, cache)
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
            "probes": [_finite(probe.to_dict()) for probe in probes],
            "model_pitch": None if model_pitch is None else _finite(model_pitch.to_dict()),
            "custom_controls": [
                {**spec.to_dict(), "control": control.to_dict()}
                for spec, control in zip(specs.values(), customs, strict=True)
            ],
        },
    )
    ratios = [float(r) for r in pca.explained_variance_ratio]
    return AnalysisReport(bundle.path, len(cache), ratios, probes, packs, list(specs), model_pitch)


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


CONTROL_ALIASES = {
    "pitch": "f0",
    "attack": "attack_time",
    "release": "release_time",
    "brightness": "centroid",
}


@dataclass(frozen=True, eq=False)
class Analysis:
    """A bundle's analysis as loaded from `analysis.safetensors` / `analysis.json`.

    latents `[sounds, latent_dim]` float64; descriptors `[sounds, n_descriptors]` in cache units
    (Hz, s, dB…); sounds: dataset paths; sound_packs: each sound's pack; pack_directions
    `[packs, latent_dim]` (pack mean − global mean, in the order of `packs`).
    """

    path: Path
    latents: torch.Tensor
    descriptors: np.ndarray
    descriptor_names: list[str]
    descriptor_units: dict[str, str]
    sounds: list[str]
    sound_packs: list[str]
    labels: np.ndarray
    label_names: list[str]
    packs: list[str]
    pca: PCA
    probes: dict[str, LinearProbe]
    pack_directions: torch.Tensor
    custom: list[Control]
    cache: dict[str, Any]
    model_pitch: LinearProbe | None = None

    def descriptor(self, name: str) -> np.ndarray:
        """One descriptor over all sounds `[sounds]`, in its unit."""
        if name not in self.descriptor_names:
            raise TimbrespaceError(
                f"unknown descriptor {name!r}; known: {', '.join(self.descriptor_names)}"
            )
        return self.descriptors[:, self.descriptor_names.index(name)]

    def controls(self, *, pca_axes: int = 8) -> dict[str, Control]:
        """Controls: `pca1…`, every descriptor probe (with the aliases pitch, attack, release,
        brightness; `pitch` is the model's own pitch readout when it has one), `pack:<name>`
        (0 = data mean, 1 = the pack's mean) and the custom ones. Each has the range of its
        value over the analysed sounds."""
        controls: list[Control] = [
            Control.from_pca(self.pca, i) for i in range(min(pca_axes, self.pca.n_components))
        ]
        controls += [Control.from_probe(probe) for probe in self.probes.values()]
        controls += [
            Control.from_probe(self.probes[target], name=alias)
            for alias, target in CONTROL_ALIASES.items()
            if target in self.probes and not (alias == "pitch" and self.model_pitch is not None)
        ]
        if self.model_pitch is not None:
            controls.append(Control.from_probe(self.model_pitch, name="pitch"))
        mean = self.latents.mean(dim=0)
        for name, direction in zip(self.packs, self.pack_directions, strict=True):
            if float(direction.norm()) > 0:
                controls.append(Control.from_direction(f"pack:{name}", direction, origin=mean))
        controls += self.custom
        return {control.name: control.with_range(self.latents) for control in controls}


def control_descriptor(name: str) -> str:
    """The descriptor a control named `name` sets (`pitch` → `f0`), or `name` itself."""
    return CONTROL_ALIASES.get(name, name)


def load_analysis(bundle_path: str | os.PathLike[str]) -> Analysis:
    """Load a bundle's analysis; refuses one made with other weights or an older format."""
    folder = Path(bundle_path)
    tensors_path, meta_path = folder / "analysis.safetensors", folder / "analysis.json"
    if not tensors_path.is_file() or not meta_path.is_file():
        raise TimbrespaceError(f"{folder}: no analysis in the bundle; run `timbrespace analyze`")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except ValueError as error:
        raise TimbrespaceError(f"{meta_path}: invalid JSON ({error})") from error
    version = meta.get("format_version")
    if version != ANALYSIS_FORMAT_VERSION:
        raise TimbrespaceError(
            f"{meta_path}: analysis format {version}, this timbrespace reads "
            f"{ANALYSIS_FORMAT_VERSION}; re-run `timbrespace analyze {folder}`"
        )
    if meta.get("model", {}).get("weights_sha256") != weights_digest(folder):
        raise TimbrespaceError(
            f"{meta_path}: the analysis was made with other weights than this bundle's "
            f"(the model was retrained or replaced); re-run `timbrespace analyze {folder}`"
        )
    tensors = load_file(str(tensors_path))
    descriptors = meta["descriptors"]
    return Analysis(
        path=folder,
        latents=tensors["latents"].double(),
        descriptors=tensors["descriptors"].numpy(),
        descriptor_names=[d["name"] for d in descriptors],
        descriptor_units={d["name"]: d["unit"] for d in descriptors},
        sounds=list(meta["sounds"]),
        sound_packs=list(meta["sound_packs"]),
        labels=tensors["labels"].numpy(),
        label_names=list(meta["label_names"]),
        packs=list(meta["packs"]),
        pca=PCA.from_tensors(tensors, "pca."),
        probes={e["name"]: LinearProbe.from_dict(_nan_for_null(e)) for e in meta["probes"]},
        pack_directions=tensors["pack_directions"].double(),
        custom=[Control.from_dict(entry["control"]) for entry in meta.get("custom_controls", [])],
        cache=dict(meta["cache"]),
        model_pitch=(
            None
            if meta.get("model_pitch") is None
            else LinearProbe.from_dict(_nan_for_null(meta["model_pitch"]))
        ),
    )


def _nan_for_null(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (math.nan if v is None else v) for k, v in data.items()}


def load_controls(bundle_path: str | os.PathLike[str], *, pca_axes: int = 8) -> dict[str, Control]:
    """The controls of a bundle's analysis (see `Analysis.controls`)."""
    return load_analysis(bundle_path).controls(pca_axes=pca_axes)
