"""One-shot autoencoder: a whole clip <-> one latent point (Latent Play's model).

Encoder: input conv, then per stage residual dilated blocks and a strided conv; the last feature
map is flattened and a dense layer gives the bottleneck input; the latent is `[batch, latent_dim, 1]`.

Two decoders (`OneShotConfig.synth`):
- "ddsp" (default): the latent drives a DDSP synth (Engel et al. 2020) — a dense layer and
  sub-pixel upsampling stages reach a control rate of one frame per ~3 ms, where a 1×1 conv gives
  a pitch bend, harmonic amplitudes and noise band gains; harmonic oscillators plus filtered noise
  render the clip. The pitch is `w·z + b` octaves plus a bounded bend: explicit, continuous and
  linear in the latent, so a pitch slider transposes exactly. Trained with a pitch loss against
  the cache's f0 curves (see `timbrespace.train.task.f0_loss`). A `TransientHead` adds the first
  `transient_ms` (20 ms) as a linear function of the latent, for sample-exact onsets.
- "waveform": dense layer -> `[decoder_widths[0], frames0]`, then per stage residual dilated
  blocks and a sub-pixel upsampling conv (a conv producing `stride` phases per channel,
  interleaved in time); the last one emits the waveform through tanh. After short training its
  output keeps a comb at the harmonics of its frame rate (86 Hz at 22.05 kHz), which is why
  "ddsp" is the default.

Both decode one 1 s / 44.1 kHz sound of the `small` preset in ≤ 10 ms on 2 CPU threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from timbrespace.audio.synth import (
    control_frames,
    exp_sigmoid,
    filtered_noise,
    frames_to_blocks,
    harmonic_synth,
)
from timbrespace.models.base import (
    Bottleneck,
    ConfigError,
    ConfiguredModel,
    bottleneck_names,
    build_bottleneck,
    register_family,
)

ACTIVATIONS: tuple[str, ...] = ("leaky_relu", "elu", "gelu", "silu")
SYNTHS: tuple[str, ...] = ("ddsp", "waveform")
PITCH_BEND_OCTAVES = 2.0


@dataclass
class OneShotConfig:
    """One-shot autoencoder hyper-parameters; the defaults are the `small` (CPU) preset.

    Encoder: `encoder_widths[i]` channels at stage i (full rate at i = 0), downsampled by
    `encoder_strides[i]` to `encoder_widths[i + 1]`; so `len(encoder_widths) = stages + 1`.
    Decoder: `decoder_widths[i]` channels before upsampling by `decoder_strides[i]`; the last
    stage outputs `channels`; so `len(decoder_widths) = stages`. `*_res_blocks[i]` residual
    blocks run at stage i before its resampling conv; block j has dilation
    `dilations[j % len(dilations)]` and odd `kernel_size`. `upsample_kernel_size` and
    `output_kernel_size` (odd) are the sub-pixel conv kernels, the latter for the last stage.
    """

    sample_rate: int = 44100
    channels: int = 1
    clip_samples: int = 44100
    latent_dim: int = 24
    encoder_widths: tuple[int, ...] = (16, 32, 64, 96, 128, 128)
    encoder_strides: tuple[int, ...] = (4, 4, 4, 4, 4)
    encoder_res_blocks: tuple[int, ...] = (1, 1, 1, 1, 1)
    decoder_widths: tuple[int, ...] = (192, 128, 64, 32, 16)
    decoder_strides: tuple[int, ...] = (4, 4, 4, 4, 4)
    decoder_res_blocks: tuple[int, ...] = (1, 2, 1, 0, 0)
    kernel_size: int = 7
    upsample_kernel_size: int = 3
    output_kernel_size: int = 7
    dilations: tuple[int, ...] = (1, 3, 9)
    bottleneck: str = "ae"
    beta: float = 0.01
    n_descriptors: int = 0
    activation: str = "leaky_relu"
    weight_norm: bool = True
    synth: str = "ddsp"
    control_hop: int = 0
    n_harmonics: int = 48
    noise_bands: int = 64
    synth_widths: tuple[int, ...] = (192, 128, 96, 64)
    synth_strides: tuple[int, ...] = (4, 4, 4)
    synth_res_blocks: tuple[int, ...] = (1, 2, 2, 1)
    f0_range: tuple[float, float] = (20.0, 4000.0)
    transient_ms: float = 20.0

    @property
    def hop(self) -> int:
        """Samples per control frame of the ddsp decoder: `control_hop`, or when 0 the power of
        two nearest to 3 ms (128 at 44.1 kHz, 64 at 22.05 and 16 kHz)."""
        if self.control_hop > 0:
            return self.control_hop
        return 2 ** round(math.log2(0.003 * self.sample_rate))

    def __post_init__(self) -> None:
        if self.channels not in (1, 2):
            raise ConfigError(f"OneShotConfig.channels must be 1 or 2, got {self.channels}")
        for name in ("sample_rate", "clip_samples", "latent_dim", "kernel_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"OneShotConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.n_descriptors < 0:
            raise ConfigError(f"OneShotConfig.n_descriptors must be >= 0, got {self.n_descriptors}")
        n_enc = len(self.encoder_strides)
        if len(self.encoder_widths) != n_enc + 1 or len(self.encoder_res_blocks) != n_enc:
            raise ConfigError(
                "OneShotConfig: need len(encoder_widths) == len(encoder_strides) + 1 == "
                f"len(encoder_res_blocks) + 1, got {len(self.encoder_widths)}, {n_enc}, "
                f"{len(self.encoder_res_blocks)}"
            )
        n_dec = len(self.decoder_strides)
        if n_dec < 1 or len(self.decoder_widths) != n_dec or len(self.decoder_res_blocks) != n_dec:
            raise ConfigError(
                "OneShotConfig: need len(decoder_widths) == len(decoder_strides) == "
                f"len(decoder_res_blocks) >= 1, got {len(self.decoder_widths)}, {n_dec}, "
                f"{len(self.decoder_res_blocks)}"
            )
        if any(s < 1 for s in (*self.encoder_strides, *self.decoder_strides)):
            raise ConfigError("OneShotConfig: strides must be >= 1")
        if not self.dilations or min(self.dilations) < 1:
            raise ConfigError("OneShotConfig.dilations must be a non-empty tuple of ints >= 1")
        for name in ("kernel_size", "upsample_kernel_size", "output_kernel_size"):
            if getattr(self, name) % 2 != 1:
                raise ConfigError(f"OneShotConfig.{name} must be odd, got {getattr(self, name)}")
        if self.bottleneck not in bottleneck_names():
            raise ConfigError(
                f"OneShotConfig.bottleneck '{self.bottleneck}' unknown; "
                f"valid: {', '.join(bottleneck_names())}"
            )
        if self.synth not in SYNTHS:
            raise ConfigError(
                f"OneShotConfig.synth '{self.synth}' unknown; valid: {', '.join(SYNTHS)}"
            )
        if self.control_hop < 0 or self.n_harmonics < 1 or self.noise_bands < 2:
            raise ConfigError(
                "OneShotConfig: need control_hop >= 0, n_harmonics >= 1 and noise_bands >= 2"
            )
        n_synth = len(self.synth_strides)
        if len(self.synth_widths) != n_synth + 1 or len(self.synth_res_blocks) != n_synth + 1:
            raise ConfigError(
                "OneShotConfig: need len(synth_widths) == len(synth_res_blocks) == "
                f"len(synth_strides) + 1, got {len(self.synth_widths)}, "
                f"{len(self.synth_res_blocks)}, {n_synth}"
            )
        if not 0 <= self.transient_ms <= 1000 * self.clip_samples / self.sample_rate:
            raise ConfigError(
                "OneShotConfig.transient_ms must be between 0 and the clip length in ms, got "
                f"{self.transient_ms}"
            )
        low, high = self.f0_range
        if not 0 < low < high:
            raise ConfigError(
                f"OneShotConfig.f0_range must be 0 < low < high Hz, got {self.f0_range}"
            )
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"OneShotConfig.activation '{self.activation}' unknown; "
                f"valid: {', '.join(ACTIVATIONS)}"
            )


ONESHOT_PRESETS: dict[str, dict[str, object]] = {
    "tiny": {
        "sample_rate": 16000,
        "clip_samples": 8000,
        "latent_dim": 16,
        "encoder_widths": (8, 16, 32, 48, 64),
        "encoder_strides": (4, 4, 4, 4),
        "encoder_res_blocks": (0, 1, 1, 1),
        "decoder_widths": (64, 48, 32, 16),
        "decoder_strides": (4, 4, 4, 4),
        "decoder_res_blocks": (1, 1, 1, 0),
        "n_harmonics": 32,
        "noise_bands": 32,
        "synth_widths": (64, 48, 32),
        "synth_strides": (4, 4),
        "synth_res_blocks": (1, 1, 1),
    },
    "small": {},
    "full": {
        "latent_dim": 32,
        "encoder_widths": (32, 64, 128, 256, 384, 512),
        "encoder_res_blocks": (2, 2, 3, 3, 3),
        "decoder_widths": (512, 384, 256, 128, 64, 32),
        "decoder_strides": (4, 4, 4, 4, 2, 2),
        "decoder_res_blocks": (3, 3, 3, 3, 2, 0),
        "n_harmonics": 96,
        "noise_bands": 128,
        "synth_widths": (512, 384, 256, 192),
        "synth_res_blocks": (2, 3, 3, 2),
    },
}


@dataclass
class OneShotOutput:
    """`audio`: `[batch, channels, clip_samples]` in [-1, 1]; `z`: `[batch, latent_dim, 1]`;
    `regularization`: scalar bottleneck term (0 for "ae", β·KL for "vae");
    `descriptors_pred`: `[batch, n_descriptors]` from the linear head, or None;
    `f0`: the ddsp decoder's pitch `[batch, channels, frames]` in Hz (frame i at sample
    i·`hop`) and `base_pitch` `[batch, channels]` (octaves re 440 Hz, linear in z), or None
    for the waveform decoder."""

    audio: torch.Tensor
    z: torch.Tensor
    regularization: torch.Tensor
    descriptors_pred: torch.Tensor | None
    f0: torch.Tensor | None = None
    base_pitch: torch.Tensor | None = None
    hop: int = 0


def make_activation(name: str) -> nn.Module:
    """Activation module by name (one of `ACTIVATIONS`)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.2)
    if name == "elu":
        return nn.ELU()
    if name == "gelu":
        return nn.GELU()
    if name == "silu":
        return nn.SiLU()
    raise ConfigError(f"unknown activation '{name}'; valid: {', '.join(ACTIVATIONS)}")


def _init_layer(layer: nn.Module, gain: float = 1.0) -> nn.Module:
    """Kaiming-normal weights scaled by `gain`, zero bias (before any weight norm)."""
    if isinstance(layer, nn.Conv1d | nn.Linear):
        nn.init.kaiming_normal_(layer.weight, a=0.2, nonlinearity="leaky_relu")
        with torch.no_grad():
            layer.weight.mul_(gain)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    return layer


def _norm(layer: nn.Module, use_weight_norm: bool) -> nn.Module:
    return _weight_norm(layer) if use_weight_norm else layer


class ResidualUnit(nn.Module):
    """`x + conv1x1(act(conv_k,dilated(act(x))))` on `[batch, width, frames]` (length kept)."""

    def __init__(
        self,
        width: int = 64,
        kernel_size: int = 7,
        dilation: int = 1,
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        padding = dilation * (kernel_size - 1) // 2
        self.act1 = make_activation(activation)
        self.conv1 = _norm(
            _init_layer(nn.Conv1d(width, width, kernel_size, dilation=dilation, padding=padding)),
            use_weight_norm,
        )
        self.act2 = make_activation(activation)
        self.conv2 = _norm(_init_layer(nn.Conv1d(width, width, 1), gain=0.1), use_weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.act1(x))
        y = self.conv2(self.act2(y))
        return x + y


def _residual_stack(
    width: int,
    n_blocks: int,
    kernel_size: int,
    dilations: tuple[int, ...],
    activation: str,
    use_weight_norm: bool,
) -> list[nn.Module]:
    return [
        ResidualUnit(
            width=width,
            kernel_size=kernel_size,
            dilation=dilations[i % len(dilations)],
            activation=activation,
            use_weight_norm=use_weight_norm,
        )
        for i in range(n_blocks)
    ]


class Downsample(nn.Module):
    """Strided conv `[batch, c_in, frames * stride] -> [batch, c_out, frames]`."""

    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 64,
        stride: int = 4,
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        kernel = 2 * stride if stride > 1 else 3
        padding = math.ceil(stride / 2) if stride > 1 else 1
        self.conv = _norm(
            _init_layer(
                nn.Conv1d(in_channels, out_channels, kernel, stride=stride, padding=padding)
            ),
            use_weight_norm,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SubPixelUpsample(nn.Module):
    """Sub-pixel conv `[batch, c_in, frames] -> [batch, c_out, frames * stride]`.

    One conv (odd `kernel_size`, same padding) gives `c_out * stride` channels, interleaved in
    time. Initialised so all `stride` phases share weights (ICNR, Aitken et al. 2017): at init it
    equals nearest-neighbour upsampling after a conv, free of checkerboard artefacts. `gain`
    scales the Kaiming init; 0.5 keeps a fresh decoder's output around −40 dBFS, far from tanh
    saturation (which slowed the first training steps).
    """

    def __init__(
        self,
        in_channels: int = 64,
        out_channels: int = 32,
        stride: int = 4,
        kernel_size: int = 3,
        gain: float = 0.5,
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ConfigError(f"upsample kernel size must be odd, got {kernel_size}")
        self.stride = stride
        self.out_channels = out_channels
        conv = nn.Conv1d(in_channels, out_channels * stride, kernel_size, padding=kernel_size // 2)
        base = _init_layer(nn.Conv1d(in_channels, out_channels, kernel_size), gain=gain)
        with torch.no_grad():
            conv.weight.copy_(base.weight.repeat_interleave(stride, dim=0))
            conv.bias.zero_()
        self.conv = _norm(conv, use_weight_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.stride == 1:
            return y
        batch, _, frames = y.shape
        y = y.view(batch, self.out_channels, self.stride, frames).transpose(2, 3)
        return y.reshape(batch, self.out_channels, frames * self.stride)


class OneShotEncoder(nn.Module):
    """Audio `[batch, channels, samples]` -> bottleneck input `[batch, out_features, 1]`.

    Input is zero-padded to `frames * prod(strides)` samples, where `frames` is fixed at build
    time (`ceil(clip_samples / prod(strides))`), because the final dense layer sees all frames.
    """

    def __init__(
        self,
        channels: int = 1,
        clip_samples: int = 44100,
        widths: tuple[int, ...] = (16, 32, 64, 96, 128, 128),
        strides: tuple[int, ...] = (4, 4, 4, 4, 4),
        res_blocks: tuple[int, ...] = (1, 1, 1, 1, 1),
        kernel_size: int = 7,
        dilations: tuple[int, ...] = (1, 3, 9),
        out_features: int = 24,
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        self.frames = math.ceil(clip_samples / math.prod(strides))
        self.padded_samples = self.frames * math.prod(strides)
        layers: list[nn.Module] = [
            _norm(
                _init_layer(nn.Conv1d(channels, widths[0], kernel_size, padding=kernel_size // 2)),
                use_weight_norm,
            )
        ]
        for i, stride in enumerate(strides):
            layers += _residual_stack(
                widths[i], res_blocks[i], kernel_size, dilations, activation, use_weight_norm
            )
            layers += [
                make_activation(activation),
                Downsample(widths[i], widths[i + 1], stride, use_weight_norm),
            ]
        layers.append(make_activation(activation))
        self.net = nn.Sequential(*layers)
        self.dense = _init_layer(nn.Linear(widths[-1] * self.frames, out_features), gain=0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(x, (0, self.padded_samples - x.shape[-1]))
        h = self.net(x)
        return self.dense(h.flatten(1)).unsqueeze(-1)


class OneShotDecoder(nn.Module):
    """Latent `[batch, latent_dim]` -> audio `[batch, channels, clip_samples]` in (-1, 1)."""

    def __init__(
        self,
        channels: int = 1,
        clip_samples: int = 44100,
        latent_dim: int = 24,
        widths: tuple[int, ...] = (192, 128, 64, 32, 16),
        strides: tuple[int, ...] = (4, 4, 4, 4, 4),
        res_blocks: tuple[int, ...] = (1, 2, 1, 0, 0),
        kernel_size: int = 7,
        upsample_kernel_size: int = 3,
        output_kernel_size: int = 7,
        dilations: tuple[int, ...] = (1, 3, 9),
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
    ) -> None:
        super().__init__()
        self.clip_samples = clip_samples
        self.width0 = widths[0]
        self.frames = math.ceil(clip_samples / math.prod(strides))
        self.dense = _init_layer(nn.Linear(latent_dim, widths[0] * self.frames))
        layers: list[nn.Module] = []
        n_stages = len(strides)
        for i, stride in enumerate(strides):
            last = i == n_stages - 1
            layers += _residual_stack(
                widths[i], res_blocks[i], kernel_size, dilations, activation, use_weight_norm
            )
            layers += [
                make_activation(activation),
                SubPixelUpsample(
                    widths[i],
                    channels if last else widths[i + 1],
                    stride,
                    output_kernel_size if last else upsample_kernel_size,
                    use_weight_norm=use_weight_norm,
                ),
            ]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.dense(z).view(z.shape[0], self.width0, self.frames)
        return torch.tanh(self.net(h)[..., : self.clip_samples])


@dataclass
class SynthControls:
    """Frame-rate controls of the ddsp decoder, per audio channel: f0 `[batch, channels, frames]`
    (Hz), harmonics `[batch, channels, n_harmonics, frames]` and noise
    `[batch, channels, noise_bands, frames]` (linear amplitudes)."""

    f0: torch.Tensor
    harmonics: torch.Tensor
    noise: torch.Tensor
    base_pitch: torch.Tensor
    """`[batch, channels]` in octaves re 440 Hz: the part of the pitch linear in the latent."""


class OneShotSynthDecoder(nn.Module):
    """Latent `[batch, latent_dim]` -> DDSP controls -> audio `[batch, channels, clip_samples]`.

    A dense layer gives `[synth_widths[0], frames0]`; per stage, residual dilated blocks and a
    sub-pixel upsampling conv reach the control rate (one frame per `hop` samples); a last
    residual stack and a 1×1 conv give, per channel, a pitch bend, a harmonic level and
    distribution (softmax) and noise band gains (`exp_sigmoid`, as in DDSP). The pitch is
    `440 · 2^(w·z + b + 2·tanh(bend))` Hz, clamped to `f0_range`: a base pitch *linear in the
    latent* plus a bend of at most ±2 octaves over time (a kick's sweep), so moving the latent
    along `w` transposes the sound by exactly that many octaves. Audio = harmonic oscillators +
    filtered noise (`timbrespace.audio.synth`): pitch is an explicit output, so it moves
    continuously instead of snapping to the harmonics of the decoder's frame rate.
    Noise is seeded per call in eval mode, so a latent always decodes to the same sound.
    """

    def __init__(
        self,
        channels: int = 1,
        sample_rate: int = 44100,
        clip_samples: int = 44100,
        latent_dim: int = 24,
        hop: int = 128,
        n_harmonics: int = 48,
        noise_bands: int = 64,
        widths: tuple[int, ...] = (256, 192, 128, 96),
        strides: tuple[int, ...] = (4, 4, 4),
        res_blocks: tuple[int, ...] = (1, 2, 2, 1),
        kernel_size: int = 7,
        upsample_kernel_size: int = 3,
        dilations: tuple[int, ...] = (1, 3, 9),
        activation: str = "leaky_relu",
        use_weight_norm: bool = True,
        f0_range: tuple[float, float] = (20.0, 4000.0),
        transient_samples: int = 0,
        noise_seed: int = 0,
    ) -> None:
        super().__init__()
        self.transient = TransientHead(latent_dim, channels, transient_samples)
        self.channels, self.sample_rate, self.clip_samples = channels, sample_rate, clip_samples
        self.hop, self.n_harmonics, self.noise_bands = hop, n_harmonics, noise_bands
        self.octave_range = (math.log2(f0_range[0] / 440.0), math.log2(f0_range[1] / 440.0))
        self.pitch = nn.Linear(latent_dim, channels)
        with torch.no_grad():
            self.pitch.weight.mul_(0.1)
            self.pitch.bias.fill_(math.log2(200.0 / 440.0))
        self.noise_seed = noise_seed
        self.frames = control_frames(clip_samples, hop)
        self.frames0 = math.ceil(self.frames / math.prod(strides))
        self.width0 = widths[0]
        self.dense = _init_layer(nn.Linear(latent_dim, widths[0] * self.frames0))
        layers: list[nn.Module] = []
        for i, stride in enumerate(strides):
            layers += _residual_stack(
                widths[i], res_blocks[i], kernel_size, dilations, activation, use_weight_norm
            )
            layers += [
                make_activation(activation),
                SubPixelUpsample(
                    widths[i],
                    widths[i + 1],
                    stride,
                    upsample_kernel_size,
                    gain=1.0,
                    use_weight_norm=use_weight_norm,
                ),
            ]
        layers += _residual_stack(
            widths[-1], res_blocks[-1], kernel_size, dilations, activation, use_weight_norm
        )
        layers.append(make_activation(activation))
        self.net = nn.Sequential(*layers)
        per_channel = 2 + n_harmonics + noise_bands
        self.head = nn.Conv1d(widths[-1], channels * per_channel, 1)
        with torch.no_grad():
            self.head.weight.mul_(0.1)
            bias = self.head.bias.view(channels, per_channel)
            bias.zero_()
            bias[:, 1] = -1.0  # harmonic level starts quiet
            bias[:, 2 + n_harmonics :] = -5.0  # noise starts quieter still (DDSP's init)

    def controls(self, z: torch.Tensor) -> SynthControls:
        """Frame-rate controls for latents `[batch, latent_dim]`."""
        h = self.dense(z).view(z.shape[0], self.width0, self.frames0)
        raw = self.head(self.net(h))[..., : self.frames]
        raw = raw.view(z.shape[0], self.channels, -1, self.frames)
        base = self.pitch(z)
        octaves = base[..., None] + PITCH_BEND_OCTAVES * torch.tanh(raw[:, :, 0])
        f0 = 440.0 * torch.exp2(octaves.clamp(*self.octave_range))
        level = exp_sigmoid(raw[:, :, 1:2])
        distribution = torch.softmax(raw[:, :, 2 : 2 + self.n_harmonics], dim=2)
        noise = exp_sigmoid(raw[:, :, 2 + self.n_harmonics :])
        return SynthControls(f0, level * distribution, noise, base)

    def render(self, controls: SynthControls) -> torch.Tensor:
        """Audio `[batch, channels, clip_samples]` from `controls`."""
        batch, channels, frames = controls.f0.shape
        generator = None
        if not self.training:
            generator = torch.Generator(device=controls.f0.device).manual_seed(self.noise_seed)
        harmonic = harmonic_synth(
            controls.f0.reshape(batch * channels, frames),
            controls.harmonics.reshape(batch * channels, self.n_harmonics, frames),
            sample_rate=self.sample_rate,
            samples=self.clip_samples,
            hop=self.hop,
        )
        gains = controls.noise.reshape(batch * channels, self.noise_bands, frames)
        # the filter's STFT window (4 hops) would smear a drum's attack: filter with the
        # spectral shape only and apply the level per sample, at the control rate's resolution
        level = gains.mean(dim=1)
        shaped = filtered_noise(
            gains / level[:, None],
            samples=self.clip_samples,
            hop=self.hop,
            generator=generator,
        )
        envelope = frames_to_blocks(level, self.hop).reshape(batch * channels, -1)
        noise = shaped * envelope[:, : self.clip_samples]
        return (harmonic + noise).view(batch, channels, self.clip_samples)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.transient.add_to(self.render(self.controls(z)), z)


class TransientHead(nn.Module):
    """The first `samples` samples of a sound as a linear function of the latent, faded out
    by a half cosine: the sample-exact onset (a click, a stick, a pick) that a synth driven at
    a ~3 ms control rate smears. `samples = 0` adds nothing."""

    def __init__(self, latent_dim: int, channels: int, samples: int) -> None:
        super().__init__()
        self.channels, self.samples = channels, samples
        if samples > 0:
            self.linear = nn.Linear(latent_dim, channels * samples)
            with torch.no_grad():
                self.linear.weight.mul_(0.01)
                self.linear.bias.zero_()
            fade = 0.5 * (1 + torch.cos(torch.linspace(0, math.pi, samples)))
            self.register_buffer("fade", fade, persistent=False)

    def add_to(self, audio: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """`audio [batch, channels, samples]` plus the transient of `z [batch, latent_dim]`."""
        if self.samples == 0:
            return audio
        onset = self.linear(z).view(z.shape[0], self.channels, self.samples) * self.fade
        return torch.cat([audio[..., : self.samples] + onset, audio[..., self.samples :]], dim=-1)


class OneShotAutoencoder(ConfiguredModel):
    """Waveform autoencoder for one-shot clips; follows `timbrespace.models.base.LatentModel`.

    `encode(x: [batch, channels, samples]) -> z: [batch, latent_dim, 1]` (inputs are zero-padded
    or truncated to `clip_samples`); `decode(z) -> [batch, channels, clip_samples]` in (-1, 1).
    With `n_descriptors > 0`, a linear head `latent -> descriptors` is trained jointly (the trainer
    adds its loss) so clip descriptors stay linearly readable from the latent.
    """

    def __init__(self, config: OneShotConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else OneShotConfig()
        self._config = cfg
        bottleneck_kwargs = {"beta": cfg.beta} if cfg.bottleneck == "vae" else {}
        self.bottleneck: Bottleneck = build_bottleneck(
            cfg.bottleneck, cfg.latent_dim, **bottleneck_kwargs
        )
        self.encoder = OneShotEncoder(
            channels=cfg.channels,
            clip_samples=cfg.clip_samples,
            widths=cfg.encoder_widths,
            strides=cfg.encoder_strides,
            res_blocks=cfg.encoder_res_blocks,
            kernel_size=cfg.kernel_size,
            dilations=cfg.dilations,
            out_features=self.bottleneck.input_dim,
            activation=cfg.activation,
            use_weight_norm=cfg.weight_norm,
        )
        self.decoder: OneShotDecoder | OneShotSynthDecoder
        if cfg.synth == "ddsp":
            self.decoder = OneShotSynthDecoder(
                channels=cfg.channels,
                sample_rate=cfg.sample_rate,
                clip_samples=cfg.clip_samples,
                latent_dim=cfg.latent_dim,
                hop=cfg.hop,
                n_harmonics=cfg.n_harmonics,
                noise_bands=cfg.noise_bands,
                widths=cfg.synth_widths,
                strides=cfg.synth_strides,
                res_blocks=cfg.synth_res_blocks,
                kernel_size=cfg.kernel_size,
                upsample_kernel_size=cfg.upsample_kernel_size,
                dilations=cfg.dilations,
                activation=cfg.activation,
                use_weight_norm=cfg.weight_norm,
                f0_range=cfg.f0_range,
                transient_samples=round(cfg.transient_ms * cfg.sample_rate / 1000),
            )
        else:
            self.decoder = OneShotDecoder(
                channels=cfg.channels,
                clip_samples=cfg.clip_samples,
                latent_dim=cfg.latent_dim,
                widths=cfg.decoder_widths,
                strides=cfg.decoder_strides,
                res_blocks=cfg.decoder_res_blocks,
                kernel_size=cfg.kernel_size,
                upsample_kernel_size=cfg.upsample_kernel_size,
                output_kernel_size=cfg.output_kernel_size,
                dilations=cfg.dilations,
                activation=cfg.activation,
                use_weight_norm=cfg.weight_norm,
            )
        self.descriptor_head: nn.Linear | None = (
            nn.Linear(cfg.latent_dim, cfg.n_descriptors) if cfg.n_descriptors > 0 else None
        )

    @property
    def hop_length(self) -> int:
        return self._config.clip_samples

    def _check_audio(self, x: torch.Tensor) -> torch.Tensor:
        """`[batch, channels, samples]` zero-padded or truncated to `clip_samples`."""
        x = self.check_audio(x)
        n = self._config.clip_samples
        if x.shape[-1] > n:
            return x[..., :n]
        return nn.functional.pad(x, (0, n - x.shape[-1]))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._check_audio(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` -> `z: [batch, latent_dim, 1]` (VAE: mean in eval)."""
        return self.bottleneck(self._features(x)).z

    def decode(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """`z: [batch, latent_dim, 1]` -> audio `[batch, channels, clip_samples]` (the waveform
        decoder stays in (-1, 1); the ddsp synth is not bounded, so clamp when writing)."""
        if cond is not None:
            raise ValueError("the one-shot model takes no conditioning; pass cond=None")
        if z.dim() != 3 or z.shape[1] != self.latent_dim or z.shape[2] != 1:
            raise ValueError(
                f"expected latent [batch, {self.latent_dim}, 1], got shape {tuple(z.shape)}"
            )
        return self.decoder(z[..., 0])

    def pitch_readout(self) -> tuple[torch.Tensor, float] | None:
        """The ddsp decoder's base pitch as a linear function of the latent, in semitones re
        440 Hz (mean over channels): `(weights [latent_dim], bias)`; None for other decoders."""
        if not isinstance(self.decoder, OneShotSynthDecoder):
            return None
        layer = self.decoder.pitch
        weights = 12.0 * layer.weight.detach().double().mean(dim=0)
        return weights.cpu(), 12.0 * float(layer.bias.detach().double().mean())

    def predict_descriptors(self, z: torch.Tensor) -> torch.Tensor | None:
        """Linear descriptor head: `z: [batch, latent_dim, 1]` -> `[batch, n_descriptors]`."""
        if self.descriptor_head is None:
            return None
        return self.descriptor_head(z[..., 0])

    def remove_weight_norm(self) -> OneShotAutoencoder:
        """Fold weight norm into plain weights for inference (decoding gets ~15 % faster).

        Call after loading weights; the state dict then has plain `weight` keys instead of
        `parametrizations.weight.original0/1`, so save from an unfolded model. Returns self.
        """
        for module in self.modules():
            if parametrize.is_parametrized(module, "weight"):
                parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self

    def forward(self, x: torch.Tensor) -> OneShotOutput:
        """Reconstruct `x: [batch, channels, samples]`; see `OneShotOutput`."""
        bottleneck = self.bottleneck(self._features(x))
        f0, base_pitch, hop = None, None, 0
        if isinstance(self.decoder, OneShotSynthDecoder):
            controls = self.decoder.controls(bottleneck.z[..., 0])
            audio = self.decoder.transient.add_to(
                self.decoder.render(controls), bottleneck.z[..., 0]
            )
            f0, base_pitch, hop = controls.f0, controls.base_pitch, self.decoder.hop
        else:
            audio = self.decoder(bottleneck.z[..., 0])
        return OneShotOutput(
            audio=audio,
            z=bottleneck.z,
            regularization=bottleneck.regularization,
            descriptors_pred=self.predict_descriptors(bottleneck.z),
            f0=f0,
            base_pitch=base_pitch,
            hop=hop,
        )


register_family(
    "oneshot",
    OneShotConfig,
    OneShotAutoencoder,
    presets=ONESHOT_PRESETS,
    legacy={"synth": "waveform", "transient_ms": 0.0},  # bundles from before these decoders
)
