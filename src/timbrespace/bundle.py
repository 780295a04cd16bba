"""A trained model on disk, as a user shares it: `bundle.json` + `weights.safetensors` (+ analysis).

Loading a bundle never unpickles: metadata is JSON, tensors are safetensors.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from timbrespace import __version__
from timbrespace.atomic import write_json_atomic
from timbrespace.bundle_checks import (
    check_config_dict,
    check_extra,
    check_meta,
    check_model_fields,
    check_weights,
    meta_model,
)
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.sampling import fit_gaussian
from timbrespace.limits import read_json
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
    def latent_dim(self) -> int:
        return int(self.model.latent_dim)

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
    """Read and check `bundle.json` (an object of a known format, its fields of the right types,
    a valid training summary); raises TimbrespaceError naming the file and the field."""
    meta_path = Path(path) / "bundle.json"
    if not meta_path.is_file():
        raise TimbrespaceError(f"{path}: not a bundle (no bundle.json)")
    return check_meta(read_json(meta_path), meta_path, BUNDLE_FORMAT_VERSION)


def load_bundle(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> Bundle:
    """Rebuild the model of a bundle (or a run folder's bundle, see `bundle_dir`) from JSON
    config + safetensors weights (no pickle).

    Before anything is allocated, the config is checked (types, `timbrespace.limits`) and the
    model is built on the `meta` device to compare its tensor shapes with the safetensors
    headers; a tampered, truncated or mismatched bundle is refused with one line naming the
    file (`TimbrespaceError`)."""
    folder = bundle_dir(path)
    meta = read_bundle_meta(folder)
    meta_path = folder / "bundle.json"
    config = check_config_dict(meta["family"], meta["config"], meta_path)
    shapes = meta_model(meta["family"], config)
    check_model_fields(meta, shapes, meta_path)
    weights = folder / "weights.safetensors"
    if not weights.is_file():
        raise TimbrespaceError(f"{folder}: bundle has no weights.safetensors")
    check_weights(shapes, weights)
    extra_path = folder / "extra.safetensors"
    if extra_path.is_file():
        check_extra(extra_path, int(shapes.latent_dim))
    model = build_model(meta["family"], config)
    state = _load_tensors(weights, device)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        reason = str(error).splitlines()[0]
        raise TimbrespaceError(f"{weights}: weights do not match the config ({reason})") from None
    extra = _load_tensors(extra_path, device) if extra_path.is_file() else {}
    model.to(device).eval()
    return Bundle(folder, model, meta, extra)


def _load_tensors(path: Path, device: str | torch.device) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file; a one-line error naming it if it cannot be read."""
    try:
        return load_file(str(path), device=str(device))
    except Exception as error:  # safetensors raises its own error types for bad files
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise TimbrespaceError(f"{path}: cannot read the tensors ({reason})") from None
