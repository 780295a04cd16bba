"""A trained model on disk, as a user shares it: `bundle.json` + `weights.safetensors` (+ analysis).

Loading a bundle never unpickles: metadata is JSON, tensors are safetensors.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from timbrespace import __version__
from timbrespace.atomic import write_json_atomic
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.sampling import fit_gaussian
from timbrespace.models.base import ConfiguredModel, build_model, config_to_dict

BUNDLE_FORMAT_VERSION = 1


def weights_digest(bundle_path: str | os.PathLike[str]) -> str:
    """SHA-256 of the bundle's weights file: ties an analysis to the model it was made with."""
    digest = hashlib.sha256()
    with open(Path(bundle_path) / "weights.safetensors", "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundle_dir(path: str | os.PathLike[str]) -> Path:
    """The bundle folder of `path`: `path` itself when it holds `bundle.json`, else the
    `bundle/` of a run folder. Raises `TimbrespaceError` naming `path` when it is neither."""
    folder = Path(path)
    if (folder / "bundle.json").is_file():
        return folder
    if (folder / "bundle" / "bundle.json").is_file():
        return folder / "bundle"
    if (folder / "run.json").is_file():
        raise TimbrespaceError(
            f"{path}: this run has no bundle yet (training writes it when it ends; "
            "continue with `timbrespace train --resume`)"
        )
    raise TimbrespaceError(f"{path}: not a bundle or run folder (no bundle.json)")


@dataclass
class Bundle:
    """A loaded bundle: the model in eval mode plus its metadata."""

    path: Path
    model: ConfiguredModel
    meta: dict[str, Any]
    extra: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def family(self) -> str:
        return str(self.meta["family"])

    @property
    def sample_rate(self) -> int:
        return int(self.meta["sample_rate"])

    @property
    def training(self) -> dict[str, Any]:
        return dict(self.meta.get("training", {}))


def save_bundle(
    path: str | os.PathLike[str],
    model: ConfiguredModel,
    family: str,
    *,
    training: dict[str, Any] | None = None,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    latents: torch.Tensor | None = None,
) -> Path:
    """Write a bundle folder atomically (built beside the target, then renamed into place).

    extra_tensors: e.g. descriptor-head normalisation, stored in `extra.safetensors`.
    latents: the training latents `[clips, latent_dim, frames]`; a Gaussian fitted to their
    frames (`latent_mean`, `latent_cholesky`) is stored for drawing random sounds.
    """
    if latents is not None:
        frames = latents.transpose(1, 2).reshape(-1, latents.shape[1])
        mean, cholesky = fit_gaussian(frames)
        extra_tensors = {**(extra_tensors or {}), "latent_mean": mean, "latent_cholesky": cholesky}
    target = Path(path)
    building = target.with_name(f".{target.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    state = {
        name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()
    }
    save_file(state, str(building / "weights.safetensors"))
    if extra_tensors:
        save_file(
            {name: t.detach().cpu().contiguous() for name, t in extra_tensors.items()},
            str(building / "extra.safetensors"),
        )
    meta = {
        "format_version": BUNDLE_FORMAT_VERSION,
        "timbrespace_version": __version__,
        "family": family,
        "config": config_to_dict(model.config),
        "sample_rate": int(model.sample_rate),
        "channels": int(model.channels),
        "latent_dim": int(model.latent_dim),
        "hop_length": int(model.hop_length),
        "training": training or {},
    }
    write_json_atomic(building / "bundle.json", meta)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    os.replace(building, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def read_bundle_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check `bundle.json`; raises TimbrespaceError naming the file and the field."""
    meta_path = Path(path) / "bundle.json"
    if not meta_path.is_file():
        raise TimbrespaceError(f"{path}: not a bundle (no bundle.json)")
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except ValueError as error:
        raise TimbrespaceError(f"{meta_path}: invalid JSON ({error})") from error
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise TimbrespaceError(f"{meta_path}: missing or invalid field 'format_version'")
    if version > BUNDLE_FORMAT_VERSION:
        raise TimbrespaceError(
            f"{meta_path}: bundle format {version} was written by a newer timbrespace "
            f"(this one reads up to {BUNDLE_FORMAT_VERSION}); upgrade timbrespace"
        )
    for key in ("family", "config", "sample_rate"):
        if key not in meta:
            raise TimbrespaceError(f"{meta_path}: missing field {key!r}")
    return meta


def load_bundle(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Bundle:
    """Rebuild the model of a bundle (or a run folder's bundle, see `bundle_dir`) from JSON
    config + safetensors weights (no pickle)."""
    folder = bundle_dir(path)
    meta = read_bundle_meta(folder)
    model = build_model(meta["family"], meta["config"])
    weights = folder / "weights.safetensors"
    if not weights.is_file():
        raise TimbrespaceError(f"{folder}: bundle has no weights.safetensors")
    state = load_file(str(weights), device=str(device))
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise TimbrespaceError(f"{weights}: weights do not match the config ({error})") from error
    extra_path = folder / "extra.safetensors"
    extra = load_file(str(extra_path), device=str(device)) if extra_path.is_file() else {}
    model.to(device).eval()
    return Bundle(folder, model, meta, extra)
