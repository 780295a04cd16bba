"""A bundle's latent analysis as the latent tools read it: `Analysis` (latents, descriptors,
PCA, probes, pack directions, custom controls) and the controls it defines.

The files (`analysis.safetensors`, `analysis.json`) are written by `timbrespace.analyze`; their
layout is described there and versioned by `ANALYSIS_FORMAT_VERSION`. Format 3 adds each probe's
`calibration` on decoded audio (see `timbrespace.calibrate`): a calibrated descriptor control is
clamped to the range the decoder renders and carries its `weak` reason. Format 2 (no calibration)
still loads: its controls keep the data ranges.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import PCA, LinearProbe
from timbrespace.latent.calibration import Calibration
from timbrespace.latent.control import Control
from timbrespace.limits import read_json

ANALYSIS_FORMAT_VERSION = 3
READABLE_FORMAT_VERSIONS = (2, 3)
"""Formats this version loads (2: probes of the original sounds, no calibration)."""

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
    `[packs, latent_dim]` (pack mean − global mean, in the order of `packs`); calibration: by
    probe name (`model_pitch` for the model's pitch readout), what the decoder renders (empty
    for an uncalibrated analysis).
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
    calibration: dict[str, Calibration] = field(default_factory=dict)

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
        (0 = data mean, 1 = the pack's mean) and the custom ones. A calibrated descriptor control
        has the range the decoder was measured to render (`rendered`) and its `weak` reason; the
        others (and the model's own pitch) have the range of their value over the analysed
        sounds."""
        controls: list[Control] = [
            Control.from_pca(self.pca, i) for i in range(min(pca_axes, self.pca.n_components))
        ]
        probes = [(probe.name, probe, probe.name) for probe in self.probes.values()]
        probes += [
            (alias, self.probes[target], target)
            for alias, target in CONTROL_ALIASES.items()
            if target in self.probes and not (alias == "pitch" and self.model_pitch is not None)
        ]
        for name, probe, key in probes:
            control = Control.from_probe(probe, name=name)
            controls.append(self._calibrated(control, self.calibration.get(key)))
        if self.model_pitch is not None:
            # the synth's own pitch: exact by construction, bounded by the data and physics;
            # its calibration (R² against the decoded f0) is reported, not used to clamp
            controls.append(Control.from_probe(self.model_pitch, name="pitch"))
        mean = self.latents.mean(dim=0)
        for name, direction in zip(self.packs, self.pack_directions, strict=True):
            if float(direction.norm()) > 0:
                controls.append(Control.from_direction(f"pack:{name}", direction, origin=mean))
        controls += self.custom
        return {
            control.name: control if control.rendered else control.with_range(self.latents)
            for control in controls
        }

    @staticmethod
    def _calibrated(control: Control, calibration: Calibration | None) -> Control:
        """`control` with the rendered range and weak reason of its calibration, if any."""
        if calibration is None or calibration.rendered_range is None:
            return control
        return replace(
            control, range=calibration.rendered_range, rendered=True, weak=calibration.weak
        )


def control_descriptor(name: str) -> str:
    """The descriptor a control named `name` sets (`pitch` → `f0`), or `name` itself."""
    return CONTROL_ALIASES.get(name, name)


def load_analysis(
    bundle_path: str | os.PathLike[str], weights_sha256: str, latent_dim: int | None = None
) -> Analysis:
    """Load the analysis in a bundle folder; refuses one of an older format, made with other
    weights than those whose SHA-256 is `weights_sha256` (`bundle.weights_digest`), with
    missing or malformed entries, or whose tables disagree in size (as many latents,
    descriptor rows, packs and labels as sounds; every direction `latent_dim` long): a one-line
    `TimbrespaceError` naming the file."""
    folder = Path(bundle_path)
    tensors_path, meta_path = folder / "analysis.safetensors", folder / "analysis.json"
    if not tensors_path.is_file() or not meta_path.is_file():
        raise TimbrespaceError(f"{folder}: no analysis in the bundle; run `timbrespace analyze`")
    meta = read_json(meta_path)
    if not isinstance(meta, dict):
        raise TimbrespaceError(f"{meta_path}: expected a JSON object, got {type(meta).__name__}")
    version = meta.get("format_version")
    if version not in READABLE_FORMAT_VERSIONS or isinstance(version, bool):
        raise TimbrespaceError(
            f"{meta_path}: analysis format {version}, this timbrespace reads "
            f"{', '.join(map(str, READABLE_FORMAT_VERSIONS))}; re-run `timbrespace analyze {folder}`"
        )
    model = meta.get("model")
    if not isinstance(model, dict) or model.get("weights_sha256") != weights_sha256:
        raise TimbrespaceError(
            f"{meta_path}: the analysis was made with other weights than this bundle's "
            f"(the model was retrained or replaced); re-run `timbrespace analyze {folder}`"
        )
    try:
        tensors = load_file(str(tensors_path))
    except Exception as error:  # safetensors raises its own error types for bad files
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise TimbrespaceError(f"{tensors_path}: not a valid safetensors file ({reason})") from None
    rerun = f"re-run `timbrespace analyze {folder}`"
    try:
        analysis = _analysis(folder, meta, tensors)
    except KeyError as error:
        raise TimbrespaceError(
            f"{folder}: analysis is missing {error.args[0]!r}; {rerun}"
        ) from None
    except (TimbrespaceError, TypeError, ValueError, AttributeError, IndexError) as error:
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise TimbrespaceError(f"{meta_path}: malformed analysis ({reason}); {rerun}") from None
    problem = _size_problem(analysis, latent_dim)
    if problem:
        raise TimbrespaceError(f"{meta_path}: {problem}; {rerun}")
    return analysis


def _analysis(folder: Path, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> Analysis:
    """The `Analysis` of a parsed `analysis.json` and its tensors (KeyError when one is missing)."""
    descriptors = meta["descriptors"]
    calibration = {
        entry["name"]: Calibration.from_dict(entry["calibration"])
        for entry in meta["probes"]
        if entry.get("calibration") is not None
    }
    pitch_entry = meta.get("model_pitch") or {}
    if pitch_entry.get("calibration") is not None:
        calibration["model_pitch"] = Calibration.from_dict(pitch_entry["calibration"])
    return Analysis(
        path=folder,
        latents=tensors["latents"].double(),
        descriptors=tensors["descriptors"].numpy(),
        descriptor_names=[str(d["name"]) for d in descriptors],
        descriptor_units={str(d["name"]): str(d["unit"]) for d in descriptors},
        sounds=[str(sound) for sound in meta["sounds"]],
        sound_packs=[str(pack) for pack in meta["sound_packs"]],
        labels=tensors["labels"].numpy(),
        label_names=[str(name) for name in meta["label_names"]],
        packs=[str(pack) for pack in meta["packs"]],
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
        calibration=calibration,
    )


def _size_problem(analysis: Analysis, latent_dim: int | None) -> str:
    """What disagrees in size in `analysis` (empty when nothing): one latent, descriptor row,
    pack and label per sound; every direction as long as the latent (`latent_dim` if given)."""
    sounds = len(analysis.sounds)
    latents = analysis.latents
    if latents.dim() != 2:
        return f"latents have shape {list(latents.shape)}, expected [sounds, latent_dim]"
    dim = int(latents.shape[1]) if latent_dim is None else int(latent_dim)
    counts = {
        "latents": (tuple(latents.shape), (sounds, dim)),
        "descriptors": (
            tuple(analysis.descriptors.shape),
            (sounds, len(analysis.descriptor_names)),
        ),
        "sound_packs": ((len(analysis.sound_packs),), (sounds,)),
        "labels": (tuple(analysis.labels.shape[:1]), (sounds,)),
        "pack_directions": (tuple(analysis.pack_directions.shape), (len(analysis.packs), dim)),
        "pca.mean": (tuple(analysis.pca.mean.shape), (dim,)),
        "pca.components": (tuple(analysis.pca.components.shape[1:]), (dim,)),
    }
    for name, probe in analysis.probes.items():
        counts[f"probe {name}"] = (tuple(probe.weights.shape), (dim,))
    if analysis.model_pitch is not None:
        counts["model_pitch"] = (tuple(analysis.model_pitch.weights.shape), (dim,))
    for control in analysis.custom:
        counts[f"custom control {control.name}"] = (tuple(control.direction.shape), (dim,))
    for name, (found, wanted) in counts.items():
        if found != wanted:
            return f"{name} has shape {list(found)}, expected {list(wanted)} ({sounds} sounds)"
    return ""


def _nan_for_null(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (math.nan if v is None else v) for k, v in data.items()}
