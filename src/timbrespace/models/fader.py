"""Conditional notes with style mixing: the WAE-Fader model (seed 003).

A note = a latent point `z` (what the labels do not say: articulation, brightness, the noise of
a bow) + its conditions: a style mix (a weight per trained style; one-hot = one instrument),
a MIDI pitch and a velocity. Encoder: the one-shot encoder, deterministic, its batch pulled to
a standard normal prior by an MMD with an inverse multiquadratic kernel (a Wasserstein
autoencoder). Decoder: the one-shot DDSP synth decoder fed `[z, style embedding, pitch,
velocity]` and FiLM-modulated by the conditions before its head, so that it cannot ignore them
(FaderNetworks #12). A classifier learns the style from `z`; the encoder is pushed to make its
answer uniform (the fader), with a weight ramped up over training, so that the style lives in
the condition only and a style mix changes the instrument, not a latent the decoder may ignore.

Why the DDSP synth and not the spectral decoder with Griffin-Lim: the pitch is the synth's
explicit input, so a note is in tune by construction (the base pitch is the label's, not a
learned estimate), and a 1 s note renders in a few ms, where Griffin-Lim's loop costs ~100 ms
(`benchmarks/decode_latency.py`, `benchmarks/griffinlim.py`).

Conditions of `decode` `[batch, styles + 2]`: the style weights (any sign and size: 0.5/0.5
blends, 1.3 extrapolates), the MIDI pitch (fractional allowed) and the velocity (1–127).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from timbrespace.models.base import (
    ConfigError,
    ConfiguredModel,
    InputKind,
    WaveformOutput,
    register_family,
)
from timbrespace.models.fader_spectrum import ConditionedSpectrum
from timbrespace.models.fader_terms import fader_ramp, fader_terms, mmd_imq
from timbrespace.models.layers import ACTIVATIONS
from timbrespace.models.oneshot import encoder_from
from timbrespace.models.oneshot_synth import synth_decoder_from

REFERENCE_PITCH = 60
"""MIDI pitch coded as 0 in the decoder's input (C4); one octave is 1."""
REFERENCE_VELOCITY = 64.0
DEFAULT_VELOCITY = 100.0
BEND_OCTAVES = 0.0
"""The synth plays the label's pitch, unbent. Its bend has no teacher here (no f0 loss: against
the tracker's curves an organ's bend followed the tracker's octave errors, up to 22 semitones
off; the spectral loss does not reach the oscillators' phase), so at ±3 semitones it drifted
with the features it shares a head with: a 20-minute model's piano notes bent up to +190 cents
as they decayed, and half of them measured more than 50 cents sharp (pyin)."""
HARMONIC_ROLLOFF = 2.0
"""The synth's harmonics start at amplitudes ∝ 1/k² (see `OneShotSynthDecoder`): with the pitch
given, equal amplitudes collapse to all-noise notes in the first steps."""


@dataclass
class FaderConfig:
    """WAE-Fader hyper-parameters. The presets (`FADER_PRESETS`) overlay these defaults; `small`
    adds the sub-octave synth and a lighter encoder. `sub_octave` is off by default because the
    bundles from before it were trained so.

    `styles`, `pitch_range` (MIDI, inclusive) and `velocity_range` are the training notes'
    labels, set from the cache when training starts. Encoder and synth fields as in
    `OneShotConfig`. `mmd_weight`: weight of the MMD to the prior; `fader_weight`: final weight
    of the fader's encoder term (0 = a plain style-conditioned WAE), reached linearly over
    `fader_ramp_steps`; `style_dim`: size of the style embedding. `sub_octave`: the synth's
    harmonics are multiples of half the label's f0, so a sound with a partial an octave under its
    note (a church organ's 16-foot stop: −5 dB re the 8-foot fundamental on TimGM6mb's organ) can
    be rendered; `n_harmonics` then counts these (96 reach the label's 48th harmonic).
    `sub_octave_quiet`: how much lower (softmax logits) the harmonics between the label's start,
    so a note starts at its label's pitch. From 6 (−52 dB) they hardly grew — a softmax entry's
    gradient scales with it: after 20 minutes the organ's quint and tierce stayed 5–74 dB under
    the real notes' and 8 % of its notes were heard as organ, against 64 % from 3 (−26 dB; style
    68.5 → 84.7 %, `benchmarks/fader_quality.py`). `tiny` keeps 6: its 200-step test models
    learn the styles before the sub-octave. `spectrum`: each style's body filter and harmonic
    pattern are explicit parameters of the synth (`models.fader_spectrum`). `stft_eps`: the
    reconstruction loss's power floor (`losses.spectral.MultiResolutionSTFTLoss`); GM notes
    peak near −12 dBFS, and at the default floor (1e-3: magnitudes under 0.032 read as equal)
    the loss is blind to the breath and bow noise 40–60 dB under a note that tells a flute from
    a cello to the benchmark's classifier. With both (`small`, 20 min, one run each): style
    70–76 % → 97.7 %."""

    sample_rate: int = 22050
    channels: int = 1
    clip_samples: int = 33075
    latent_dim: int = 8
    styles: tuple[str, ...] = ()
    pitch_range: tuple[int, int] = (36, 84)
    velocity_range: tuple[int, int] = (1, 127)
    style_dim: int = 16
    encoder_widths: tuple[int, ...] = (16, 32, 64, 96, 128, 128)
    encoder_strides: tuple[int, ...] = (4, 4, 4, 4, 4)
    encoder_res_blocks: tuple[int, ...] = (1, 1, 1, 1, 1)
    synth_widths: tuple[int, ...] = (192, 128, 96, 64)
    synth_strides: tuple[int, ...] = (4, 4, 4)
    synth_res_blocks: tuple[int, ...] = (1, 2, 2, 1)
    kernel_size: int = 7
    upsample_kernel_size: int = 3
    dilations: tuple[int, ...] = (1, 3, 9)
    activation: str = "leaky_relu"
    weight_norm: bool = True
    n_harmonics: int = 48
    noise_bands: int = 64
    control_hop: int = 0
    transient_ms: float = 20.0
    mmd_weight: float = 10.0
    fader_weight: float = 1.0
    fader_ramp_steps: int = 300
    classifier_width: int = 64
    n_descriptors: int = 0
    f0_range: tuple[float, float] = (20.0, 4000.0)
    sub_octave: bool = False  # on in every preset (FADER_PRESETS)
    sub_octave_quiet: float = 3.0
    spectrum: bool = False
    stft_eps: float = 1e-3

    @property
    def hop(self) -> int:
        """Samples per control frame: `control_hop`, or the power of two nearest to 3 ms."""
        if self.control_hop > 0:
            return self.control_hop
        return 2 ** round(math.log2(0.003 * self.sample_rate))

    def __post_init__(self) -> None:
        if self.channels not in (1, 2):
            raise ConfigError(f"FaderConfig.channels must be 1 or 2, got {self.channels}")
        for name in ("sample_rate", "clip_samples", "latent_dim", "style_dim", "classifier_width"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"FaderConfig.{name} must be >= 1, got {getattr(self, name)}")
        if len(set(self.styles)) != len(self.styles):
            raise ConfigError(f"FaderConfig.styles has a repeated name: {self.styles}")
        low, high = self.pitch_range
        if not 0 <= low <= high <= 127:
            raise ConfigError(
                f"FaderConfig.pitch_range must be 0 <= low <= high <= 127, got {self.pitch_range}"
            )
        low, high = self.velocity_range
        if not 1 <= low <= high <= 127:
            raise ConfigError(
                f"FaderConfig.velocity_range must be 1 <= low <= high <= 127, got {self.velocity_range}"
            )
        if (
            min(self.mmd_weight, self.fader_weight, self.fader_ramp_steps, self.sub_octave_quiet)
            < 0
            or self.stft_eps <= 0
        ):
            raise ConfigError(
                "FaderConfig: mmd_weight, fader_weight, fader_ramp_steps and sub_octave_quiet "
                "must be >= 0, stft_eps > 0"
            )
        if len(self.encoder_widths) != len(self.encoder_strides) + 1:
            raise ConfigError("FaderConfig: need len(encoder_widths) == len(encoder_strides) + 1")
        if len(self.synth_widths) != len(self.synth_strides) + 1:
            raise ConfigError("FaderConfig: need len(synth_widths) == len(synth_strides) + 1")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"FaderConfig.activation '{self.activation}' unknown; valid: {', '.join(ACTIVATIONS)}"
            )


FADER_PRESETS: dict[str, dict[str, object]] = {
    "tiny": {
        "sample_rate": 16000,
        "clip_samples": 16000,
        "latent_dim": 4,
        "style_dim": 8,
        "encoder_widths": (8, 16, 32, 48, 64),
        "encoder_strides": (4, 4, 4, 4),
        "encoder_res_blocks": (0, 1, 1, 1),
        "synth_widths": (64, 48, 32),
        "synth_strides": (4, 4),
        "synth_res_blocks": (1, 1, 1),
        "n_harmonics": 64,
        "noise_bands": 32,
        "classifier_width": 32,
        "fader_ramp_steps": 50,
        "sub_octave": True,
        "sub_octave_quiet": 6.0,
    },
    "small": {
        "sub_octave": True,
        "n_harmonics": 96,
        "spectrum": True,
        "stft_eps": 1e-6,
        # the encoder at the one-shot's widths cost 3/4 of a training step (its five stages
        # cost alike, ∝ width² × rate); these cut it 3.6× (0.95 → 0.26 s, batch 16, 1 thread),
        # and a GM note's latent holds little beyond its labels
        "encoder_widths": (8, 16, 32, 64, 96, 128),
        "encoder_res_blocks": (0, 1, 1, 1, 1),
    },
    "full": {
        "latent_dim": 16,
        "style_dim": 32,
        "encoder_widths": (32, 64, 128, 256, 384, 512),
        "encoder_res_blocks": (2, 2, 3, 3, 3),
        "synth_widths": (512, 384, 256, 192),
        "synth_res_blocks": (2, 3, 3, 2),
        "n_harmonics": 192,
        "noise_bands": 128,
        "sub_octave": True,
        "spectrum": True,
        "stft_eps": 1e-6,
        "classifier_width": 256,
        "fader_ramp_steps": 5000,
    },
}


def sub_octave_logits(n_harmonics: int, rolloff: float, quiet: float) -> torch.Tensor:
    """Starting logits `[n_harmonics]` of harmonics k = 1… at k · f0 / 2: the label's harmonic
    k / 2 (k even) at −rolloff · ln(k / 2), as without `sub_octave`; the odd ones `quiet` below
    the label harmonic under them (k = 1: as the fundamental)."""
    k = torch.arange(1, n_harmonics + 1, dtype=torch.float32)
    logits = -rolloff * torch.log(torch.clamp(torch.floor(k / 2), min=1.0))
    return torch.where(k % 2 == 1, logits - quiet, logits)


def label_conditions(notes: torch.Tensor, styles: int) -> torch.Tensor:
    """Note labels `[batch, 3]` (style index, MIDI pitch, velocity) → conditions `[batch,
    styles + 2]` (one-hot style weights, pitch, velocity)."""
    weights = nn.functional.one_hot(notes[:, 0].long(), styles).to(notes.dtype)
    return torch.cat([weights, notes[:, 1:3]], dim=1)


class Film(nn.Module):
    """Feature-wise modulation `features · (1 + γ) + β` `[batch, width, frames]` by the
    conditions, the last `conditions` entries of the decoder's input vector `[batch, inputs]`."""

    def __init__(self, conditions: int, width: int) -> None:
        super().__init__()
        self.conditions = conditions
        self.linear = nn.Linear(conditions, 2 * width)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        scale, shift = self.linear(inputs[:, -self.conditions :]).chunk(2, dim=1)
        return features * (1.0 + scale[..., None]) + shift[..., None]


@dataclass(kw_only=True)
class FaderOutput(WaveformOutput):
    """A training pass: `audio` `[batch, channels, clip_samples]`, `z` `[batch, latent_dim, 1]`,
    `regularization` = MMD + the fader's terms (weighted), `logs` their parts."""


class FaderNoteModel(ConfiguredModel):
    """Notes from a latent point and conditions (style mix, pitch, velocity); follows
    `timbrespace.models.base.LatentModel` with conditions "style", "pitch", "velocity"."""

    label: ClassVar[str] = "note (fader)"
    input_kind: ClassVar[InputKind] = "notes"
    conditions: ClassVar[tuple[str, ...]] = ("style", "pitch", "velocity")
    export_refusal: ClassVar[str] = (
        "draws its synth's noise from a seeded generator, which the exporters cannot record"
    )

    def __init__(self, config: FaderConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else FaderConfig()
        self._config = cfg
        n_styles = max(1, len(cfg.styles))
        self.encoder = encoder_from(cfg, cfg.latent_dim)
        self.style_embedding = nn.Linear(n_styles, cfg.style_dim, bias=False)
        conditions = cfg.style_dim + 2
        self.decoder = synth_decoder_from(
            cfg,
            cfg.latent_dim + conditions,
            harmonic_rolloff=HARMONIC_ROLLOFF,
            bend_octaves=BEND_OCTAVES,
        )
        self.decoder.film = Film(conditions, cfg.synth_widths[-1])
        if cfg.spectrum:
            self.decoder.spectrum = ConditionedSpectrum(
                conditions, cfg.n_harmonics, cfg.noise_bands, cfg.sample_rate
            )
        self._pin_pitch_to_the_label()
        if cfg.sub_octave:
            head = self.decoder.head.bias
            assert head is not None
            with torch.no_grad():
                per_channel = head.view(cfg.channels, -1)
                per_channel[:, 2 : 2 + cfg.n_harmonics] = sub_octave_logits(
                    cfg.n_harmonics, HARMONIC_ROLLOFF, cfg.sub_octave_quiet
                )
        self.classifier = nn.Sequential(
            nn.Linear(cfg.latent_dim, cfg.classifier_width),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.classifier_width, cfg.classifier_width),
            nn.LeakyReLU(0.2),
            nn.Linear(cfg.classifier_width, n_styles),
        )
        self.descriptor_head: nn.Linear | None = (
            nn.Linear(cfg.latent_dim, cfg.n_descriptors) if cfg.n_descriptors > 0 else None
        )

    def _pin_pitch_to_the_label(self) -> None:
        """The synth's base pitch (octaves re 440 Hz) = the pitch input exactly (an octave lower
        with `sub_octave`), not learned: a note is as in tune as its label; the synth's bend
        keeps only the movement over time."""
        layer = self.decoder.pitch
        octave_under = 1.0 if self._config.sub_octave else 0.0
        with torch.no_grad():
            layer.weight.zero_()
            layer.weight[:, -2] = 1.0  # the pitch code, (midi − 60) / 12
            layer.bias.fill_((REFERENCE_PITCH - 69) / 12 - octave_under)
        layer.requires_grad_(False)

    @property
    def hop_length(self) -> int:
        return self._config.clip_samples

    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(self._config.styles)

    def default_conditions(self, batch: int) -> torch.Tensor:
        """What a latent alone plays `[batch, styles + 2]`: the first style, the middle of the
        trained pitch range, velocity 100 (the latent tools, map and analysis decode so)."""
        low, high = self._config.pitch_range
        weights = [1.0] + [0.0] * (max(1, len(self.styles)) - 1)
        row = torch.tensor([*weights, float(round((low + high) / 2)), DEFAULT_VELOCITY])
        return row.expand(batch, -1).clone()

    def _decoder_inputs(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """`[z, style embedding, pitch code, velocity code]` `[batch, latent_dim + style_dim + 2]`
        from `z` `[batch, latent_dim]` and conditions `[batch, styles + 2]`."""
        n_styles = max(1, len(self.styles))
        if cond.dim() != 2 or cond.shape[1] != n_styles + 2:
            raise ValueError(
                f"expected conditions [batch, {n_styles + 2}] (a weight per style "
                f"{', '.join(self.styles)}, MIDI pitch, velocity), got {tuple(cond.shape)}"
            )
        style = self.style_embedding(cond[:, :n_styles].to(z.dtype))
        pitch = (cond[:, n_styles : n_styles + 1].to(z.dtype) - REFERENCE_PITCH) / 12.0
        velocity = (cond[:, n_styles + 1 :].to(z.dtype) - REFERENCE_VELOCITY) / REFERENCE_VELOCITY
        return torch.cat([z, style, pitch, velocity], dim=1)

    def _check_audio(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check_audio(x)
        n = self._config.clip_samples
        return x[..., :n] if x.shape[-1] > n else nn.functional.pad(x, (0, n - x.shape[-1]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` → `z` `[batch, latent_dim, 1]` (the conditions are
        not encoded: they are the note's labels)."""
        return self.encoder(self._check_audio(x))

    def decode(
        self, z: torch.Tensor, cond: torch.Tensor | None = None, *, gla_iters: int | None = None
    ) -> torch.Tensor:
        """`z` `[batch, latent_dim, 1]` and conditions `[batch, styles + 2]` (None: the
        `default_conditions`) → audio `[batch, channels, clip_samples]` (not bounded: clamp
        when writing)."""
        if cond is None:
            cond = self.default_conditions(z.shape[0]).to(z.device)
        if z.dim() != 3 or z.shape[1] != self.latent_dim or z.shape[2] != 1:
            raise ValueError(f"expected latent [batch, {self.latent_dim}, 1], got {tuple(z.shape)}")
        return self.decoder(self._decoder_inputs(z[..., 0], cond))

    def predict_descriptors(self, z: torch.Tensor) -> torch.Tensor | None:
        """Linear descriptor head: `z` `[batch, latent_dim, 1]` → `[batch, n_descriptors]`."""
        return None if self.descriptor_head is None else self.descriptor_head(z[..., 0])

    def forward(self, x: torch.Tensor, notes: torch.Tensor, step: int = 0) -> FaderOutput:
        """Reconstruct notes `x` `[batch, channels, samples]` with their labels `notes`
        `[batch, 3]` (style index, MIDI pitch, velocity) at training `step` (for the ramp)."""
        cfg = self._config
        z = self.encoder(self._check_audio(x))[..., 0]
        cond = label_conditions(notes, max(1, len(self.styles)))
        inputs = self._decoder_inputs(z, cond)
        audio, controls = self.decoder.synthesise(inputs)
        prior = torch.randn_like(z)
        mmd = mmd_imq(z, prior) if z.shape[0] > 1 else z.sum() * 0.0
        classifier_loss, encoder_loss, accuracy = fader_terms(
            self.classifier, z, notes[:, 0].long()
        )
        weight = fader_ramp(step, cfg.fader_weight, cfg.fader_ramp_steps)
        regularization = cfg.mmd_weight * mmd + classifier_loss + weight * encoder_loss
        return FaderOutput(
            audio=audio,
            z=z[..., None],
            regularization=regularization,
            descriptors_pred=self.predict_descriptors(z[..., None]),
            f0=None,  # the label is the pitch: no tracker curve to follow
            logs={
                "mmd": mmd.detach(),
                "style_classifier": classifier_loss.detach(),
                "style_accuracy": accuracy,
                "fader": encoder_loss.detach(),
                "fader_weight": torch.tensor(weight),
            },
        )


register_family("fader", FaderConfig, FaderNoteModel, presets=FADER_PRESETS)
