"""Latent paths saved to and read from files: safetensors with the model's family, latent size,
hop and weights digest, so a path is only read back by the model that made it."""

from __future__ import annotations

import os

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from timbrespace.atomic import atomic_path
from timbrespace.bundle import Bundle, weights_digest
from timbrespace.errors import TimbrespaceError

LATENT_SUFFIX = ".safetensors"
"""Files with this suffix hold a saved latent path (`save_latent`) instead of audio."""


def save_latent(bundle: Bundle, z: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Write a latent path `[1, latent_dim, frames]` to a safetensors file, atomically, with the
    model's family, latent size, hop and weights digest, so it is only read back by that model."""
    metadata = {
        "family": bundle.family,
        "latent_dim": str(int(bundle.model.latent_dim)),
        "hop_length": str(int(bundle.model.hop_length)),
        "sample_rate": str(bundle.sample_rate),
        "weights_sha256": weights_digest(bundle.path),
    }
    with atomic_path(path) as tmp:
        save_file({"z": z.detach().float().cpu().contiguous()}, str(tmp), metadata=metadata)


def load_latent(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """A latent path saved by `save_latent` → `[1, latent_dim, frames]`; refuses one made by
    another family, latent size or set of weights, naming the file."""
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            z = handle.get_tensor("z")
    except FileNotFoundError:
        raise TimbrespaceError(f"{path}: file not found") from None
    except Exception as error:  # safetensors raises its own error types for bad headers
        raise TimbrespaceError(f"{path}: not a latent file ({error})") from error
    family = metadata.get("family")
    if family != bundle.family:
        raise TimbrespaceError(
            f"{path}: encoded by a {family!r} model, but {bundle.path} is a {bundle.family!r} "
            "model; latents of different families do not mix (encode the audio with this bundle)"
        )
    if z.dim() != 3 or z.shape[:2] != (1, int(bundle.model.latent_dim)):
        raise TimbrespaceError(
            f"{path}: latent of shape {list(z.shape)}, this model takes "
            f"[1, {int(bundle.model.latent_dim)}, frames]"
        )
    if metadata.get("weights_sha256") != weights_digest(bundle.path):
        raise TimbrespaceError(
            f"{path}: encoded by other weights than {bundle.path}'s; their latent spaces differ "
            "(encode the audio with this bundle)"
        )
    return z.float()
