"""Frame-wise spectral VAE: every STFT frame its own latent point (Latent Timbre Synthesis,
Tatar et al. 2020), decoded to a magnitude spectrum and turned into sound with fast Griffin-Lim.

    audio [batch, channels, samples]
      → front-end features [batch, channels·features, frames]     (log |STFT|, log mel or log CQT)
      → encoder (1×1 convs: a per-frame MLP; `encoder_context` frames each side if > 0)
      → bottleneck per frame → z [batch, latent_dim, frames]       (frame i centred on sample i·hop)
      → decoder (per-frame MLP) → log(|STFT| + floor) [batch, channels, bins, frames]
      → Griffin-Lim (`gla_iters`, momentum) → audio [batch, channels, (frames − 1)·hop]

The decoder always predicts the linear STFT magnitude, whatever the encoder reads, so decoding
needs no filterbank inversion. Because each frame is decoded alone, a latent path can be edited,
interpolated, stretched or reversed frame by frame (`timbrespace.latent.paths`,
`timbrespace.latent.operators`) and decoded block by block
(`timbrespace.audio.griffinlim.GriffinLimStream`).

Trained on log-magnitude L1 plus spectral convergence (`timbrespace.losses.spectral.
FrameSpectrumLoss`); the waveform is only rebuilt for listening and evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from timbrespace.audio.griffinlim import griffin_lim
from timbrespace.audio.spectral import FRONT_ENDS, WINDOWS, SpectralConfig
from timbrespace.models.base import (
    ConfigError,
    ConfiguredModel,
    InputKind,
    LatentKind,
    SpectrumOutput,
    register_family,
)
from timbrespace.models.bottleneck import Bottleneck, BottleneckOutput, build_bottleneck
from timbrespace.models.layers import check_common_fields, make_activation


@dataclass
class SpectralModelConfig:
    """Hyper-parameters of the frame-wise spectral VAE; the defaults are the `small` preset.

    STFT: `n_fft`, `hop` (samples) and `window`; `front_end` is what the encoder reads ("log",
    "mel" with `n_mels` bands, or "cqt" with `bins_per_octave`). `encoder_widths` /
    `decoder_widths`: hidden widths of the per-frame MLPs. `beta`: weight of the per-frame KL
    (summed over latent channels, averaged over frames). `gla_iters` / `gla_momentum`: the
    default Griffin-Lim of `decode`. `clip_samples`: the training chunk length (any length
    can be encoded). `n_descriptors`: outputs of the linear head on the frame-averaged latent.
    """

    sample_rate: int = 22050
    channels: int = 1
    clip_samples: int = 22050
    latent_dim: int = 16
    n_fft: int = 1024
    hop: int = 256
    window: str = "hann"
    front_end: str = "log"
    n_mels: int = 128
    bins_per_octave: int = 24
    encoder_context: int = 0
    encoder_widths: tuple[int, ...] = (512, 256)
    decoder_widths: tuple[int, ...] = (256, 512, 1024)
    activation: str = "leaky_relu"
    bottleneck: str = "vae"
    beta: float = 1e-3
    log_floor: float = 1e-5
    gla_iters: int = 32
    gla_momentum: float = 0.99
    train_frames: int = 32
    """Frames per clip decoded in a training step, drawn at random (0: all). The model is
    frame-wise, so neighbouring frames add little; fewer frames give many more steps per minute."""
    n_descriptors: int = 0

    def __post_init__(self) -> None:
        if self.front_end not in FRONT_ENDS or self.front_end == "linear":
            raise ConfigError(f"front_end: unknown {self.front_end!r}; expected log, mel or cqt")
        if self.window not in WINDOWS:
            raise ConfigError(f"window: unknown {self.window!r}; expected {', '.join(WINDOWS)}")
        if self.n_fft < 16 or not 0 < self.hop <= self.n_fft:
            raise ConfigError(
                f"need n_fft >= 16 and 0 < hop <= n_fft, got {self.n_fft}, {self.hop}"
            )
        check_common_fields(self, ("latent_dim", "channels", "sample_rate"))
        if min(self.encoder_context, self.gla_iters, self.gla_momentum, self.train_frames) < 0:
            raise ConfigError(
                "encoder_context, gla_iters, gla_momentum and train_frames must be >= 0"
            )
        if not self.encoder_widths or not self.decoder_widths:
            raise ConfigError("encoder_widths and decoder_widths need at least one layer each")

    @property
    def spectral(self) -> SpectralConfig:
        """The encoder's front-end (the decoder always predicts `log(|STFT| + log_floor)`)."""
        return SpectralConfig(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            hop=self.hop,
            window=self.window,
            front_end=self.front_end,
            n_mels=self.n_mels,
            bins_per_octave=self.bins_per_octave,
            log_floor=self.log_floor,
        )

    @property
    def target(self) -> SpectralConfig:
        """The decoder's target: the log linear-frequency magnitude."""
        return SpectralConfig(
            sample_rate=self.sample_rate,
            n_fft=self.n_fft,
            hop=self.hop,
            window=self.window,
            front_end="log",
            log_floor=self.log_floor,
        )


SPECTRAL_PRESETS: dict[str, dict] = {
    "tiny": {
        "latent_dim": 8,
        "n_fft": 512,
        "hop": 128,
        "encoder_widths": (128,),
        "decoder_widths": (128, 256),
        "gla_iters": 16,
        "train_frames": 0,
    },
    "small": {},
    "full": {
        "latent_dim": 32,
        "n_fft": 2048,
        "hop": 512,
        "encoder_context": 2,
        "encoder_widths": (1024, 512),
        "decoder_widths": (512, 1024, 2048),
    },
}


@dataclass(kw_only=True)
class SpectralOutput(SpectrumOutput):
    """A training forward pass: `log_magnitude` (decoded) and `target_log_magnitude`
    `[batch, channels, bins, frames]` as `log(|STFT| + floor)`; `z` `[batch, latent_dim,
    frames]`; `regularization`: scalar; `descriptors_pred` `[batch, n_descriptors]` or None.
    The loss is on spectra: the waveform needs Griffin-Lim."""


class FrameMLP(nn.Module):
    """A per-frame MLP over `[batch, channels, frames]`: frames become rows of linear layers
    (much faster than 1×1 convolutions on the CPU), plus a linear map of the input, so the
    network starts as a linear (PCA-like) model and learns the non-linear part on top. With
    `context > 0` each frame's input is its features stacked with those of `context` frames
    on each side (zero beyond the ends)."""

    def __init__(
        self,
        widths: tuple[int, ...],
        in_channels: int,
        out_channels: int,
        activation: str,
        context: int = 0,
    ) -> None:
        super().__init__()
        self.context = context
        layers: list[nn.Module] = []
        channels = in_channels * (2 * context + 1)
        for width in widths:
            layers += [nn.Linear(channels, width), make_activation(activation)]
            channels = width
        self.output = nn.Linear(channels, out_channels)
        self.hidden = nn.Sequential(*layers)
        self.linear = nn.Linear(in_channels * (2 * context + 1), out_channels, bias=False)

    def rows(self, x: torch.Tensor) -> torch.Tensor:
        """`[batch, channels, frames]` → input rows `[batch, frames, channels·(2·context + 1)]`."""
        if self.context:
            padded = nn.functional.pad(x, (self.context, self.context))
            x = padded.unfold(-1, 2 * self.context + 1, 1).permute(0, 2, 3, 1).flatten(2)
            return x
        return x.transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`[batch, in_channels, frames]` → `[batch, out_channels, frames]`."""
        rows = self.rows(x)
        return (self.output(self.hidden(rows)) + self.linear(rows)).transpose(1, 2)


class _MagnitudeDecoder(nn.Module):
    def __init__(self, model: SpectralAutoencoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.decode_magnitude(z)


class SpectralAutoencoder(ConfiguredModel):
    """The frame-wise spectral VAE; follows `timbrespace.models.base.LatentModel` with
    `hop_length = hop` (one latent frame per STFT frame)."""

    label: ClassVar[str] = "spectral"
    latent_kind: ClassVar[LatentKind] = "path"
    input_kind: ClassVar[InputKind] = "continuous"

    def __init__(self, config: SpectralModelConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else SpectralModelConfig()
        self._config = cfg
        self.front_end = cfg.spectral
        self.target = cfg.target
        bins = self.target.linear_bins
        features = cfg.channels * self.front_end.n_features
        self.bottleneck: Bottleneck = self._build_bottleneck(cfg)
        self.input_norm = nn.BatchNorm1d(features, affine=False)
        self.encoder = FrameMLP(
            cfg.encoder_widths,
            features,
            self.bottleneck.input_dim,
            cfg.activation,
            cfg.encoder_context,
        )
        self.target_norm = nn.BatchNorm1d(cfg.channels * bins, affine=False, momentum=None)
        self.decoder = FrameMLP(
            cfg.decoder_widths, cfg.latent_dim, cfg.channels * bins, cfg.activation
        )
        with torch.no_grad():
            self.decoder.output.weight.mul_(0.1)
            self._target_stats()[0].fill_(math.log(cfg.log_floor) / 2)
        self.descriptor_head: nn.Linear | None = (
            nn.Linear(self.latent_dim, cfg.n_descriptors) if cfg.n_descriptors > 0 else None
        )

    @staticmethod
    def _build_bottleneck(cfg: SpectralModelConfig) -> Bottleneck:
        bottleneck_kwargs = {"beta": cfg.beta} if cfg.bottleneck == "vae" else {}
        return build_bottleneck(cfg.bottleneck, cfg.latent_dim, **bottleneck_kwargs)

    def _target_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`target_norm`'s running (mean, var) `[channels * bins]` (it tracks running stats)."""
        mean, var = self.target_norm.running_mean, self.target_norm.running_var
        assert mean is not None and var is not None
        return mean, var

    @property
    def hop_length(self) -> int:
        return self._config.hop

    @property
    def default_gla_iters(self) -> int | None:
        return int(self._config.gla_iters)

    def gla_work(self, frames: int, gla_iters: int) -> float:
        """STFT bins × frames × iterations of decoding `frames` frames (about 10 ns each on
        one CPU thread, measured for the tiny, small and full presets)."""
        return float(self.target.linear_bins) * int(frames) * int(gla_iters)

    def _check_latent(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 3 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"expected latent [batch, {self.latent_dim}, frames], got shape {tuple(z.shape)}"
            )
        return z

    def _encode(
        self,
        x: torch.Tensor,
        frames: torch.Tensor | None = None,
        features: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, BottleneckOutput]:
        """(z `[batch, latent_dim, frames]`, the bottleneck's output) of audio `[batch, channels,
        samples]` (or of its front-end `features` `[batch, channels, n_features, frames]` when
        already computed); `frames` `[batch, k]` keeps only those frame indices of each item."""
        if features is None:
            features = self.front_end.features(self.check_audio(x).float())
        batch, _, _, count = features.shape
        features = self.input_norm(features.reshape(batch, -1, count))
        if frames is not None and self._config.encoder_context == 0:
            features = take_frames(features, frames)
        h = self.encoder(features)
        if frames is not None and self._config.encoder_context > 0:
            h = take_frames(h, frames)
        count = h.shape[-1]
        per_frame = h.transpose(1, 2).reshape(batch * count, -1, 1)
        out = self.bottleneck(per_frame)
        z = out.z.reshape(batch, count, self.bottleneck.latent_dim).transpose(1, 2)
        return z, out

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` → latent path `[batch, latent_dim, 1 + samples //
        hop]` (VAE: the mean in eval mode)."""
        return self._encode(x)[0]

    def decode_log_magnitude(self, z: torch.Tensor) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` → `log(|STFT| + floor)` `[batch, channels,
        n_fft // 2 + 1, frames]`."""
        return self._log_magnitude(self._check_latent(z))

    def _log_magnitude(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder: `[batch, decoder inputs, frames]` → `[batch, channels, bins, frames]`."""
        standardised = self.decoder(z)
        mean, var = self._target_stats()
        scale = (var + self.target_norm.eps).sqrt()
        out = standardised * scale[:, None] + mean[:, None]
        return out.reshape(z.shape[0], self.channels, -1, z.shape[2])

    def decode_magnitude(self, z: torch.Tensor) -> torch.Tensor:
        """Latent path → linear STFT magnitude `[batch, channels, bins, frames]` (≥ 0)."""
        log_mag = self.decode_log_magnitude(z)
        return (torch.exp(log_mag) - self._config.log_floor).clamp(min=0.0)

    def export_decoder(self) -> nn.Module:
        """Latent path → linear magnitudes `[batch, channels, bins, frames]`; the host runs
        Griffin-Lim (`n_fft`, `hop` of the config)."""
        return _MagnitudeDecoder(self).eval()

    def decode(
        self,
        z: torch.Tensor,
        cond: torch.Tensor | None = None,
        *,
        gla_iters: int | None = None,
        seed: int = 0,
        initial_phase: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Latent path `[batch, latent_dim, frames]` → audio `[batch, channels, (frames − 1)·hop]`
        by fast Griffin-Lim (`gla_iters`, default `config.gla_iters`; random start phases seeded
        by `seed`, or `initial_phase` radians `[batch, channels, bins, frames]`). Not bounded:
        clamp when writing."""
        if cond is not None:
            raise ValueError("the spectral model takes no conditioning; pass cond=None")
        cfg = self._config
        return griffin_lim(
            self.decode_magnitude(z),
            n_fft=cfg.n_fft,
            hop=cfg.hop,
            iterations=cfg.gla_iters if gla_iters is None else int(gla_iters),
            momentum=cfg.gla_momentum,
            initial_phase=initial_phase,
            seed=seed,
            window=cfg.window,
        )

    def predict_descriptors(self, z: torch.Tensor) -> torch.Tensor | None:
        """Linear head on the frame-averaged latent: `[batch, latent_dim, frames]` →
        `[batch, n_descriptors]`, or None without a head."""
        if self.descriptor_head is None:
            return None
        return self.descriptor_head(z.mean(dim=2))

    def forward(self, x: torch.Tensor) -> SpectralOutput:
        """Training pass on audio `[batch, channels, samples]` (in training mode on
        `train_frames` random frames of each clip); see `SpectralOutput`."""
        audio = self.check_audio(x).float()
        target = self.target.features(audio)
        features = target if self.front_end == self.target else None
        if self.training:  # tracks the per-bin mean and variance the decoder output is scaled by
            self.target_norm(target.reshape(target.shape[0], -1, target.shape[-1]).detach())
        frames = None
        count, keep = target.shape[-1], self._config.train_frames
        if self.training and 0 < keep < count:
            frames = torch.rand(audio.shape[0], count, device=audio.device).argsort(dim=1)[:, :keep]
            target = take_frames(target, frames)
        z, bottleneck = self._encode(audio, frames, features)
        return SpectralOutput(
            log_magnitude=self.decode_log_magnitude(z),
            target_log_magnitude=target,
            z=z,
            regularization=bottleneck.regularization,
            descriptors_pred=self.predict_descriptors(z),
            logs=bottleneck.logs,
        )


def take_frames(x: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """`x[b, ..., frames[b]]`: x `[batch, ..., count]`, frames `[batch, k]` → `[batch, ..., k]`."""
    index = frames.reshape(frames.shape[0], *([1] * (x.dim() - 2)), frames.shape[1])
    return torch.gather(x, -1, index.expand(*x.shape[:-1], frames.shape[1]))


register_family("spectral", SpectralModelConfig, SpectralAutoencoder, presets=SPECTRAL_PRESETS)
