"""`timbrespace analyze`: encode every cached sound and store the latent analysis in the bundle.

Writes beside the model, atomically:
- `analysis.safetensors`: `latents` float32 `[sounds, latent_dim]` (paths averaged over frames),
  `descriptors` float32 `[sounds, n_descriptors]` (cache units), `labels` int64 `[sounds]`,
  `pack_directions` float64 `[packs, latent_dim]` (pack mean − global mean) and the PCA
  (`pca.mean`, `pca.components`, `pca.explained_variance`, `pca.explained_variance_ratio`).
- `analysis.json`: the cache fingerprint it was made from, descriptor names and units, sound
  paths and labels, pack names, and one linear probe per descriptor with its held-out R².
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from timbrespace.atomic import atomic_path, write_json_atomic
from timbrespace.bundle import load_bundle
from timbrespace.data.cache import SoundCache
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import PCA, LinearProbe, class_directions, fit_pca, fit_probe
from timbrespace.latent.control import Control
from timbrespace.train.targets import SCALES, to_scale

ANALYSIS_FORMAT_VERSION = 1
MIN_PROBE_POINTS = 10


@dataclass(frozen=True)
class AnalysisReport:
    bundle: Path
    sounds: int
    explained_variance_ratio: list[float]
    probes: list[LinearProbe]
    packs: list[str]


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


def analyze_bundle(
    bundle_path: str | os.PathLike[str], cache_path: str | os.PathLike[str] | None = None
) -> AnalysisReport:
    """Encode the training cache (or `cache_path`) and write the analysis into the bundle."""
    bundle = load_bundle(bundle_path)
    cache_root = cache_path or bundle.training.get("cache", {}).get("path")
    if cache_root is None:
        raise TimbrespaceError(f"{bundle.path}: no cache recorded in the bundle; pass --data")
    cache = SoundCache(cache_root)
    _check_cache(bundle.meta, cache)
    points = encode_cache(bundle.model, cache)
    pca = fit_pca(points)
    probes = []
    for index, name in enumerate(cache.descriptor_names):
        scale = SCALES.get(name, "linear")
        values = to_scale(cache.descriptors[:, index], scale)
        if np.isfinite(values).sum() < MIN_PROBE_POINTS:
            continue
        unit = cache.descriptor_units[name]
        probes.append(fit_probe(points, values, name=name, unit=unit, scale=scale))
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
            "cache": {"path": str(cache.root.resolve()), "fingerprint": cache.fingerprint},
            "descriptors": [
                {"name": n, "unit": cache.descriptor_units[n]} for n in cache.descriptor_names
            ],
            "sounds": [cache.sources[i].path for i in cache.clip_source],
            "label_names": cache.label_names,
            "packs": packs,
            "probes": [_finite(probe.to_dict()) for probe in probes],
        },
    )
    ratios = [float(r) for r in pca.explained_variance_ratio]
    return AnalysisReport(bundle.path, len(cache), ratios, probes, packs)


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


def load_controls(bundle_path: str | os.PathLike[str], *, pca_axes: int = 8) -> dict[str, Control]:
    """Controls from a bundle's analysis: `pca1…`, every descriptor probe (with the aliases
    pitch, attack, release, brightness), and `pack:<name>` (0 = data mean, 1 = the pack's mean).
    Each has the range of its value over the analysed sounds."""
    folder = Path(bundle_path)
    tensors_path, meta_path = folder / "analysis.safetensors", folder / "analysis.json"
    if not tensors_path.is_file() or not meta_path.is_file():
        raise TimbrespaceError(f"{folder}: no analysis in the bundle; run `timbrespace analyze`")
    tensors = load_file(str(tensors_path))
    meta = json.loads(meta_path.read_text("utf-8"))
    latents = tensors["latents"].double()
    pca = PCA.from_tensors(tensors, "pca.")
    controls: list[Control] = [
        Control.from_pca(pca, i) for i in range(min(pca_axes, pca.components.shape[0]))
    ]
    probes = {entry["name"]: LinearProbe.from_dict(entry) for entry in meta["probes"]}
    controls += [Control.from_probe(probe) for probe in probes.values()]
    controls += [
        Control.from_probe(probes[target], name=alias)
        for alias, target in CONTROL_ALIASES.items()
        if target in probes
    ]
    mean = latents.mean(dim=0)
    for name, direction in zip(meta["packs"], tensors["pack_directions"], strict=True):
        if float(direction.norm()) > 0:
            controls.append(Control.from_direction(f"pack:{name}", direction, origin=mean))
    return {control.name: control.with_range(latents) for control in controls}
