"""Rendering sounds from a bundle: reconstructions and random draws from the data's distribution."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from timbrespace.audio.io import AudioLoadError, audio_info
from timbrespace.bundle import Bundle
from timbrespace.data.prepare import PrepareConfig, load_clips
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.sampling import sample_gaussian


def prepare_like_training(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """Load `path` and cut it exactly as the training cache was cut: `[clips, channels, samples]`."""
    settings = bundle.training.get("prepare_config")
    if settings is None:
        raise TimbrespaceError(f"{bundle.path}: bundle has no prepare settings to cut input with")
    config = PrepareConfig(**settings)
    try:
        clips, _ = load_clips(Path(path), audio_info(path).sample_rate, config)
    except AudioLoadError as error:
        raise TimbrespaceError(str(error)) from error
    return torch.from_numpy(clips)


def reconstruct(bundle: Bundle, audio: torch.Tensor) -> torch.Tensor:
    """Encode and decode `[batch, channels, samples]` clips."""
    with torch.inference_mode():
        return bundle.model.decode(bundle.model.encode(audio)).float()


def random_latents(
    bundle: Bundle, n: int, *, seed: int = 0, temperature: float = 1.0
) -> torch.Tensor:
    """`n` latents `[n, latent_dim, 1]` drawn from a Gaussian fitted to the training latents."""
    if "latent_mean" not in bundle.extra:
        raise TimbrespaceError(
            f"{bundle.path}: bundle has no latent statistics (extra.safetensors)"
        )
    return sample_gaussian(
        bundle.extra["latent_mean"],
        bundle.extra["latent_cholesky"],
        n,
        seed=seed,
        temperature=temperature,
    )


def decode(bundle: Bundle, z: torch.Tensor, *, gla_iters: int | None = None) -> np.ndarray:
    """Decode latents `[batch, latent_dim, frames]` to float32 audio `[batch, channels, samples]`.

    gla_iters: Griffin-Lim iterations of a spectral model (None: the model's default; ignored
    by families that render the waveform directly)."""
    options = {} if gla_iters is None or is_one_shot(bundle) else {"gla_iters": gla_iters}
    with torch.inference_mode():
        return bundle.model.decode(z, **options).float().clamp(-1, 1).cpu().numpy()


def encode_sound(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """The latent path `[1, latent_dim, frames]` of the file at `path`, cut as in training (a
    one-shot model encodes its first clip: frames = 1)."""
    clips = prepare_like_training(bundle, path)
    with torch.inference_mode():
        return bundle.model.encode(clips[:1]).float()


def is_one_shot(bundle: Bundle) -> bool:
    """Whether the bundle's latent is one point per sound (frames = 1) rather than a path."""
    return bundle.family == "oneshot"
