"""Frame-wise spectral VQ-VAE: every STFT frame is one code of a learned codebook (the VQ half
of seed 001, Bitton et al. 2019, "Vector-Quantized Timbre Representation"), decoded to a
magnitude spectrum and turned into sound with fast Griffin-Lim.

    audio [batch, channels, samples]
      → front-end frames → per-frame encoder (as the spectral family)
      → nearest of `codebook_size` codes (`timbrespace.models.quantizer.VectorQuantizer`)
      → z [batch, latent_dim, frames] (each frame a code vector) → per-frame decoder
      → log(|STFT| + floor) → Griffin-Lim → audio

Gain-shape quantization (`gain_shape`, on in every preset; as in speech coding): the code holds
the frame's spectral *shape* only — the encoder reads frames with their mean log magnitude (the
frame's *level*) taken out — and the level travels beside it as the last latent channel, added
back to the decoded shape, so a code's loudness is set exactly by its level. The codebook then
spends no codes on the same spectrum at different loudness (measured: fewer codes unused on
held-out melodies), and a loudness target is met by construction rather than by search.

Because every frame is decoded alone, a code has one sound at a level: the codebook can be
measured code by code on decoded audio (`timbrespace.latent.codebook`) and any sequence of codes
chosen to follow target descriptor curves (`timbrespace.latent.code_selection`). The latent is
still a path of vectors, so the path operations of the spectral family (interpolation,
operators, transfer) work on it; vectors between codes decode too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from timbrespace.models.base import ConfigError, register_family
from timbrespace.models.bottleneck import Bottleneck, BottleneckOutput
from timbrespace.models.quantizer import VectorQuantizer
from timbrespace.models.spectral import (
    SPECTRAL_PRESETS,
    SpectralAutoencoder,
    SpectralModelConfig,
)


@dataclass
class VQModelConfig(SpectralModelConfig):
    """The spectral family's settings (`SpectralModelConfig`), with a codebook bottleneck.

    `codebook_size`: number of codes; `latent_dim`: size of a code vector (the model's latent
    has one channel more with `gain_shape`: the level); `beta`: weight of the commitment term
    (not a KL here); `ema_decay`, `dead_ratio`, `kmeans_iters`: see `VectorQuantizer`.
    `bottleneck` must stay "vq"."""

    latent_dim: int = 8
    bottleneck: str = "vq"
    beta: float = 0.25
    codebook_size: int = 512
    ema_decay: float = 0.99
    dead_ratio: float = 0.05
    kmeans_iters: int = 10
    train_frames: int = 64
    gain_shape: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bottleneck != "vq":
            raise ConfigError(
                f'bottleneck: the vq family quantizes ("vq"), got {self.bottleneck!r}; '
                "use --model spectral for an AE or VAE"
            )
        if self.codebook_size < 2:
            raise ConfigError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.dead_ratio < 0 or self.kmeans_iters < 0 or self.beta < 0:
            raise ConfigError("dead_ratio, kmeans_iters and beta must be >= 0")


VQ_PRESETS: dict[str, dict] = {
    "tiny": {**SPECTRAL_PRESETS["tiny"], "latent_dim": 4, "codebook_size": 32},
    "small": {},
    "full": {**SPECTRAL_PRESETS["full"], "latent_dim": 16, "codebook_size": 1024},
}


class VQAutoencoder(SpectralAutoencoder):
    """The frame-wise spectral VQ-VAE (`LatentModel`, `hop_length = hop`); `encode` returns
    code vectors (and with `gain_shape` each frame's level as the last channel), `codes` their
    indices."""

    label: ClassVar[str] = "vq"
    codebook: ClassVar[bool] = True

    def __init__(self, config: VQModelConfig | None = None) -> None:
        super().__init__(config if config is not None else VQModelConfig())

    @staticmethod
    def _build_bottleneck(cfg: SpectralModelConfig) -> Bottleneck:
        assert isinstance(cfg, VQModelConfig)
        return VectorQuantizer(
            cfg.latent_dim,
            codebook_size=cfg.codebook_size,
            beta=cfg.beta,
            ema_decay=cfg.ema_decay,
            dead_ratio=cfg.dead_ratio,
            kmeans_iters=cfg.kmeans_iters,
        )

    @property
    def gain_shape(self) -> bool:
        return bool(self._config.gain_shape)

    @property
    def latent_dim(self) -> int:
        return int(self._config.latent_dim) + int(self.gain_shape)

    @property
    def code_dim(self) -> int:
        """Channels of a code vector (the latent's first channels)."""
        return int(self._config.latent_dim)

    @property
    def quantizer(self) -> VectorQuantizer:
        assert isinstance(self.bottleneck, VectorQuantizer)
        return self.bottleneck

    @property
    def codebook_size(self) -> int:
        return int(self._config.codebook_size)

    def code_vectors(self) -> torch.Tensor:
        """The codebook `[codebook_size, code_dim]`."""
        return self.quantizer.codebook.detach().clone()

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest codes `[batch, frames]` (int64) of a latent path `[batch, latent_dim,
        frames]`."""
        return self.quantizer.indices(self._check_latent(z)[:, : self.code_dim])

    def levels(self, z: torch.Tensor) -> torch.Tensor | None:
        """Each frame's level `[batch, frames]` (mean natural-log magnitude), None without
        `gain_shape`."""
        return self._check_latent(z)[:, -1] if self.gain_shape else None

    def code_path(self, codes: torch.Tensor, levels: torch.Tensor | None = None) -> torch.Tensor:
        """Codes `[batch, frames]` (and with `gain_shape` their levels `[batch, frames]`, mean
        natural-log magnitude) → latent path `[batch, latent_dim, frames]`."""
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.dim() != 2:
            raise ValueError(f"expected codes [batch, frames], got shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must be in [0, {self.codebook_size - 1}]")
        z = self.quantizer.lookup(codes.to(self.quantizer.codebook.device))
        if not self.gain_shape:
            return z
        if levels is None or tuple(levels.shape) != tuple(codes.shape):
            raise ValueError("a gain-shape model needs a level per code: levels [batch, frames]")
        return torch.cat([z, levels.to(z)[:, None]], dim=1)

    def _encode(
        self,
        x: torch.Tensor,
        frames: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, BottleneckOutput]:
        if not self.gain_shape:
            return super()._encode(x, frames, features)
        audio = self.check_audio(x).float()
        if features is None:
            features = self.front_end.features(audio)
        target = features if self.front_end == self.target else self.target.features(audio)
        level = target.mean(dim=(1, 2))
        shape = features - features.mean(dim=(1, 2), keepdim=True)
        z, out = super()._encode(audio, frames, shape)
        if frames is not None:
            level = torch.gather(level, 1, frames)
        return torch.cat([z, level[:, None]], dim=1), out

    def decode_log_magnitude(self, z: torch.Tensor) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` → `log(|STFT| + floor)` `[batch, channels,
        bins, frames]`; with `gain_shape` the decoded shape's mean is set to the level."""
        z = self._check_latent(z)
        if not self.gain_shape:
            return self._log_magnitude(z)
        shape = self._log_magnitude(z[:, : self.code_dim])
        shape = shape - shape.mean(dim=(1, 2), keepdim=True)
        return shape + z[:, None, None, -1]


register_family("vq", VQModelConfig, VQAutoencoder, presets=VQ_PRESETS)
