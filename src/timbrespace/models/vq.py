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

Pitch-shape (`pitch_shape`; the same idea for pitch): each frame's f0 is tracked (YIN, centred
on the frame) and travels as the last latent channel (octaves re A4); the encoder reads the
frame on a pitch-relative log-frequency axis (`timbrespace.models.pitch_warp`), where a note's
partials sit at the same place at every pitch, and the decoder adds a pitch-relative part, moved
to the frame's f0, to a fixed-frequency part. A code is then a note shape, not a note: the same
shape at another pitch needs no other code (measured: more of the codebook used by held-out
melodies, which play other notes than the training ones), and an f0 target is met by the
pitch channel rather than by search.

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
from torch import nn

from timbrespace.audio.pitch import PitchSettings, yin_frames
from timbrespace.models.base import ConfigError, register_family
from timbrespace.models.bottleneck import Bottleneck, BottleneckOutput
from timbrespace.models.pitch_warp import (
    axis_for,
    from_pitch_axis,
    hertz_of,
    octaves_of,
    to_pitch_axis,
)
from timbrespace.models.quantizer import VectorQuantizer
from timbrespace.models.spectral import (
    SPECTRAL_PRESETS,
    FrameMLP,
    SpectralAutoencoder,
    SpectralModelConfig,
    take_frames,
)


@dataclass
class VQModelConfig(SpectralModelConfig):
    """The spectral family's settings (`SpectralModelConfig`), with a codebook bottleneck.

    `codebook_size`: number of codes; `latent_dim`: size of a code vector (the model's latent
    has one channel more with `gain_shape`: the level); `beta`: weight of the commitment term
    (not a KL here); `ema_decay`, `dead_ratio`, `kmeans_iters`: see `VectorQuantizer`.
    `bottleneck` must stay "vq". `pitch_shape`: the pitch channel (see the module doc), tracked
    from `pitch_fmin` to `pitch_fmax` Hz, with the pitch-relative axis at `pitch_per_octave`
    points per octave from an octave under f0 to Nyquist."""

    latent_dim: int = 8
    bottleneck: str = "vq"
    beta: float = 0.25
    codebook_size: int = 512
    ema_decay: float = 0.99
    dead_ratio: float = 0.05
    kmeans_iters: int = 10
    train_frames: int = 64
    gain_shape: bool = True
    pitch_shape: bool = False  # on in every preset (VQ_PRESETS)
    pitch_fmin: float = 50.0
    pitch_fmax: float = 2000.0
    pitch_per_octave: int = 64

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
        if self.pitch_shape:
            if self.front_end != "log":
                raise ConfigError(
                    f'front_end: pitch_shape reads the log spectrum ("log"), got {self.front_end!r}'
                )
            if not 0 < self.pitch_fmin < self.pitch_fmax <= self.sample_rate / 4:
                raise ConfigError(
                    "need 0 < pitch_fmin < pitch_fmax <= sample_rate / 4, got "
                    f"{self.pitch_fmin}, {self.pitch_fmax} at {self.sample_rate} Hz"
                )
            if self.pitch_per_octave < 4:
                raise ConfigError(f"pitch_per_octave must be >= 4, got {self.pitch_per_octave}")


VQ_PRESETS: dict[str, dict] = {
    "tiny": {**SPECTRAL_PRESETS["tiny"], "latent_dim": 4, "codebook_size": 32, "pitch_shape": True},
    "small": {"pitch_shape": True, "codebook_size": 256},
    "full": {
        **SPECTRAL_PRESETS["full"],
        "latent_dim": 16,
        "codebook_size": 1024,
        "pitch_shape": True,
    },
}
"""Every preset has pitch-shape codes; the field's default (off) is what bundles from before
it were trained with."""


class VQAutoencoder(SpectralAutoencoder):
    """The frame-wise spectral VQ-VAE (`LatentModel`, `hop_length = hop`); `encode` returns
    code vectors, then with `gain_shape` each frame's level and with `pitch_shape` its pitch
    (octaves re A4) as the last channels; `codes` their indices."""

    label: ClassVar[str] = "vq"
    codebook: ClassVar[bool] = True
    pitch_axis: torch.Tensor
    """With `pitch_shape`: u = log2(f / f0) of each point of the pitch-relative spectrum."""

    def __init__(self, config: VQModelConfig | None = None) -> None:
        cfg = config if config is not None else VQModelConfig()
        super().__init__(cfg)
        if cfg.pitch_shape:
            self.register_buffer(
                "pitch_axis",
                axis_for(cfg.sample_rate, cfg.pitch_fmin, cfg.pitch_per_octave).float(),
                persistent=False,
            )
            points = cfg.channels * int(self.pitch_axis.numel())
            self.input_norm = nn.BatchNorm1d(points, affine=False)
            self.encoder = FrameMLP(
                cfg.encoder_widths, points, self.bottleneck.input_dim, cfg.activation,
                cfg.encoder_context,
            )  # fmt: skip
            bins = cfg.channels * self.target.linear_bins
            self.decoder = FrameMLP(
                cfg.decoder_widths, cfg.latent_dim, bins + points, cfg.activation
            )
            with torch.no_grad():
                self.decoder.output.weight.mul_(0.1)
            self.tracker = PitchSettings(
                sample_rate=cfg.sample_rate, hop=cfg.hop, fmin=cfg.pitch_fmin, fmax=cfg.pitch_fmax
            )

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
    def pitch_shape(self) -> bool:
        return bool(self._config.pitch_shape)

    @property
    def latent_dim(self) -> int:
        return int(self._config.latent_dim) + int(self.gain_shape) + int(self.pitch_shape)

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
        return self._check_latent(z)[:, self.code_dim] if self.gain_shape else None

    def pitches(self, z: torch.Tensor) -> torch.Tensor | None:
        """Each frame's pitch `[batch, frames]` (octaves re A4), None without `pitch_shape`."""
        return self._check_latent(z)[:, -1] if self.pitch_shape else None

    def code_path(
        self,
        codes: torch.Tensor,
        levels: torch.Tensor | None = None,
        pitches: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Codes `[batch, frames]` (with `gain_shape` their levels `[batch, frames]`, mean
        natural-log magnitude; with `pitch_shape` their pitches `[batch, frames]`, octaves re
        A4) → latent path `[batch, latent_dim, frames]`."""
        codes = torch.as_tensor(codes, dtype=torch.long)
        if codes.dim() != 2:
            raise ValueError(f"expected codes [batch, frames], got shape {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must be in [0, {self.codebook_size - 1}]")
        z = self.quantizer.lookup(codes.to(self.quantizer.codebook.device))
        parts = [z]
        for needed, given, what in (
            (self.gain_shape, levels, "gain-shape model needs a level"),
            (self.pitch_shape, pitches, "pitch-shape model needs a pitch"),
        ):
            if not needed:
                continue
            if given is None or tuple(given.shape) != tuple(codes.shape):
                raise ValueError(f"a {what} per code: [batch, frames]")
            parts.append(given.to(z)[:, None])
        return torch.cat(parts, dim=1)

    def frame_pitch(self, audio: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """f0 `[batch, k]` (Hz, in the tracker's range) of audio `[batch, channels, samples]`
        (channels averaged) at STFT frames `frames` `[batch, k]` (indices), by YIN on windows
        centred on each frame."""
        length, hop = self.tracker.yin_length, self.hop_length
        mono = audio.detach().mean(dim=1)
        right = max(0, int(frames.max()) * hop + length - length // 2 - mono.shape[-1])
        padded = nn.functional.pad(mono, (length // 2, right))
        starts = frames * hop
        windows = torch.gather(
            padded[:, None, :].expand(-1, frames.shape[1], -1),
            2,
            starts[..., None] + torch.arange(length, device=audio.device),
        )
        with torch.no_grad():
            f0, _ = yin_frames(windows, self.tracker)
        return f0.clamp(self.tracker.fmin, self.tracker.fmax)

    def pitch_features(self, shape: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        """Log-magnitude shape `[batch, channels, bins, frames]` → on the pitch axis `[batch,
        channels, points, frames]` at f0 `[batch, frames]` Hz."""
        batch, channels, bins, count = shape.shape
        cfg = self._config
        flat = shape.reshape(batch * channels, bins, count)
        warped = to_pitch_axis(
            flat, f0.repeat_interleave(channels, 0), self.pitch_axis, cfg.sample_rate, cfg.n_fft
        )
        return warped.reshape(batch, channels, -1, count)

    def _encode(
        self,
        x: torch.Tensor,
        frames: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, BottleneckOutput]:
        if not self.gain_shape and not self.pitch_shape:
            return super()._encode(x, frames, features)
        audio = self.check_audio(x).float()
        if features is None:
            features = self.front_end.features(audio)
        target = features if self.front_end == self.target else self.target.features(audio)
        if self.pitch_shape and frames is not None and self._config.encoder_context == 0:
            # the pitch is tracked and the spectrum warped on the decoded frames only
            features, target = (take_frames(t, frames) for t in (features, target))
            positions, frames = frames, None
        else:
            positions = torch.arange(features.shape[-1], device=features.device)[None]
        extra = []
        shape = features
        if self.gain_shape:
            level = target.mean(dim=(1, 2))
            shape = features - features.mean(dim=(1, 2), keepdim=True)
            extra.append(level)
        if self.pitch_shape:
            f0 = self.frame_pitch(audio, positions.expand(features.shape[0], -1))
            shape = self.pitch_features(shape, f0)
            extra.append(octaves_of(f0))
        z, out = super()._encode(audio, frames, shape)
        if frames is not None:
            extra = [torch.gather(value, 1, frames) for value in extra]
        return torch.cat([z, *(value[:, None].to(z) for value in extra)], dim=1), out

    def decode_log_magnitude(self, z: torch.Tensor) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` → `log(|STFT| + floor)` `[batch, channels,
        bins, frames]`; with `gain_shape` the decoded shape's mean is set to the level, with
        `pitch_shape` the pitch-relative part is moved to the pitch channel's f0."""
        z = self._check_latent(z)
        if not self.gain_shape and not self.pitch_shape:
            return self._log_magnitude(z)
        code = z[:, : self.code_dim]
        if self.pitch_shape:
            shape = self._pitch_shape_decode(code, hertz_of(z[:, -1]))
        else:
            shape = self._log_magnitude(code)
        if not self.gain_shape:
            return shape
        shape = shape - shape.mean(dim=(1, 2), keepdim=True)
        return shape + z[:, None, None, self.code_dim]

    def _pitch_shape_decode(self, code: torch.Tensor, f0: torch.Tensor) -> torch.Tensor:
        """Codes `[batch, code_dim, frames]` at f0 `[batch, frames]` Hz → log magnitude `[batch,
        channels, bins, frames]`: the fixed-frequency part (scaled as the spectral decoder's)
        plus the pitch-relative part moved to f0."""
        cfg = self._config
        batch, count, channels = code.shape[0], code.shape[2], self.channels
        out = self.decoder(code)
        bins = channels * self.target.linear_bins
        mean, var = self._target_stats()
        fixed = out[:, :bins] * (var + self.target_norm.eps).sqrt()[:, None] + mean[:, None]
        grid = out[:, bins:].reshape(batch * channels, -1, count)
        moved = from_pitch_axis(
            grid, f0.repeat_interleave(channels, 0), self.pitch_axis, cfg.sample_rate, cfg.n_fft
        )
        return (fixed.reshape(batch * channels, -1, count) + moved).reshape(
            batch, channels, -1, count
        )


register_family("vq", VQModelConfig, VQAutoencoder, presets=VQ_PRESETS)
