"""Rendering sounds from a bundle: reconstructions and random draws from the data's distribution."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from timbrespace.audio.io import AudioLoadError, audio_info, load_audio
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


MAX_INPUT_SECONDS = 600.0
"""Path models encode whole files, at most this long (s)."""


def load_whole(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """The file at `path` at the bundle's rate and channel count: `[1, channels, samples]`
    (at most `MAX_INPUT_SECONDS`)."""
    try:
        audio = load_audio(
            path,
            bundle.sample_rate,
            channels=int(bundle.model.channels),
            max_seconds=MAX_INPUT_SECONDS,
        )
    except AudioLoadError as error:
        raise TimbrespaceError(str(error)) from error
    return torch.from_numpy(audio)[None]


def encode_sound(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """The latent path `[1, latent_dim, frames]` of the file at `path`: a path model encodes the
    whole file; a one-shot model its first clip, cut as in training (frames = 1)."""
    audio = (
        prepare_like_training(bundle, path)[:1] if is_one_shot(bundle) else load_whole(bundle, path)
    )
    with torch.inference_mode():
        return bundle.model.encode(audio).float()


LATENT_SUFFIX = ".safetensors"
"""Files with this suffix hold a saved latent path (`save_latent`) instead of audio."""


def is_latent_file(path: str | os.PathLike[str]) -> bool:
    return str(path).lower().endswith(LATENT_SUFFIX)


def save_latent(bundle: Bundle, z: torch.Tensor, path: str | os.PathLike[str]) -> None:
    """Write a latent path `[1, latent_dim, frames]` to a safetensors file, atomically, with the
    model's family, latent size, hop and weights digest, so it is only read back by that model."""
    from safetensors.torch import save_file

    from timbrespace.atomic import atomic_path
    from timbrespace.bundle import weights_digest

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
    from safetensors import safe_open

    from timbrespace.bundle import weights_digest

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


def encode_input(bundle: Bundle, path: str | os.PathLike[str]) -> torch.Tensor:
    """An input of the generate verbs: a saved latent path (`.safetensors`) or an audio file,
    encoded (see `encode_sound`) → `[1, latent_dim, frames]`."""
    return load_latent(bundle, path) if is_latent_file(path) else encode_sound(bundle, path)


def transfer(
    bundle: Bundle, path: str | os.PathLike[str], *, gla_iters: int | None = None
) -> np.ndarray:
    """Timbre transfer: the file at `path` (any sound, e.g. out of the training domain) encoded
    and decoded by the model, float32 `[channels, samples]`. A path model renders the whole file
    through its latent space; a one-shot model renders each training-length clip of it, end to
    end."""
    if is_one_shot(bundle):
        audio = reconstruct(bundle, prepare_like_training(bundle, path)).clamp(-1, 1).numpy()
        return np.concatenate(list(audio), axis=-1)
    with torch.inference_mode():
        z = bundle.model.encode(load_whole(bundle, path)).float()
    return decode(bundle, z, gla_iters=gla_iters)[0]


def peak_normalize(audio: np.ndarray, peak_db: float = -1.0) -> np.ndarray:
    """Scale `audio` so its peak is `peak_db` dBFS (silence stays silent)."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    return audio if peak <= 0 else (audio * (10 ** (peak_db / 20) / peak)).astype(np.float32)


def is_one_shot(bundle: Bundle) -> bool:
    """Whether the bundle's latent is one point per sound (frames = 1) rather than a path."""
    return bundle.family == "oneshot"
