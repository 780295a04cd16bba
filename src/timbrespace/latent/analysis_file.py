"""A bundle's latent analysis as the latent tools read it: `Analysis` (latents, descriptors,
PCA, probes, pack directions, custom controls) and the controls it defines.

The files (`analysis.safetensors`, `analysis.json`) are written by `timbrespace.analyze`; their
layout is described there and versioned by `ANALYSIS_FORMAT_VERSION`.
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
from safetensors.torch import load_file

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import PCA, LinearProbe
from timbrespace.latent.control import Control

ANALYSIS_FORMAT_VERSION = 2

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


def load_analysis(bundle_path: str | os.PathLike[str], weights_sha256: str) -> Analysis:
    """Load the analysis in a bundle folder; refuses one of an older format or made with other
    weights than those whose SHA-256 is `weights_sha256` (`bundle.weights_digest`)."""
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
    if meta.get("model", {}).get("weights_sha256") != weights_sha256:
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
