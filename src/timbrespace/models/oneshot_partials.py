"""Partials beside the harmonic series of the one-shot ddsp decoder (`OneShotConfig.partials`):
what one harmonic series cannot render — the strings of a chord, a bell's modal partials.

- "none": nothing (bundles from before these existed, and the choice for monophonic packs).
- "voices": `n_voices` extra harmonic series (`voice_harmonics` harmonics each) at ratios of
  the base pitch, each with its own level and harmonic distribution over time: the other strings
  of a chord.
- "bank": `n_partials` sinusoids at free ratios of the base pitch, with one level and a
  distribution over the partials over time: a bell, a cymbal's metallic ring.

Every frequency is `ratio × base pitch`, where the base pitch is the decoder's pitch linear in the
latent (`w·z + b` octaves) and the ratios are read from the latent with its component along `w`
removed: moving the latent along `w` (the pitch control) transposes the partials with the
harmonic series and leaves their intervals exactly as they were, and `pitch_readout` stays the
base pitch. Ratios are learned through the partials' phase (`timbrespace.audio.partials`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from timbrespace.audio.partials import partial_bank
from timbrespace.audio.synth import exp_sigmoid
from timbrespace.models.base import ConfigError

PARTIALS: tuple[str, ...] = ("none", "voices", "bank")
PARTIAL_FIELDS = ("partials", "n_partials", "n_voices", "voice_harmonics")
"""`OneShotConfig` fields passed on to `OneShotSynthDecoder` as keyword arguments."""
BANK_OCTAVES = (-1.0, 8.0)
"""Range of a bank partial's ratio to the base pitch, in octaves (0.5 … 256): wide, because on
a chord or a bell the pitch tracker (hence the base pitch) often finds a common subharmonic 2–4
octaves below the lowest partial."""
VOICE_OCTAVES = (-1.0, 5.0)
"""Range of a voice's ratio to the base pitch, in octaves (0.5 … 32), for the same reason."""
VOICE_START_SEMITONES = (4.0, 7.0, 12.0, 16.0, 19.0, 24.0)
"""Where voices start before training: a major chord's notes above the base pitch."""
START_LEVEL = -1.0
"""Bias of the partials' level before `exp_sigmoid` at initialisation (≈ 0.1, as the harmonic
part's): quieter starts (−2.5 ≈ 0.005) left the partials nearly silent after 90 steps."""


@dataclass
class PartialControls:
    """ratios `[batch, channels, partials]` (to the base pitch) and amplitudes
    `[batch, channels, partials, frames]` (linear, frame i at sample i·hop)."""

    ratios: torch.Tensor
    amplitudes: torch.Tensor


class OneShotPartials(nn.Module):
    """Latent `[batch, latent_dim]` and the decoder's frame-rate features `[batch, width, frames]`
    → `PartialControls` → audio `[batch · channels, samples]` to add to the harmonic part.

    Ratios: a linear layer on the latent (detached) with the pitch direction projected out,
    bounded by a sigmoid to `BANK_OCTAVES` / `VOICE_OCTAVES`, starting spread log-uniformly over
    0–7 octaves (a voice at `VOICE_START_SEMITONES`). Amplitudes: a 1×1 conv on the features gives, per
    frame, a level (`exp_sigmoid`, starting at `exp_sigmoid(START_LEVEL)`) and a softmax distribution — over the bank's
    partials, or per voice over its harmonics — as for the harmonic part.
    """

    harmonics: torch.Tensor

    def __init__(
        self,
        kind: str = "none",
        *,
        latent_dim: int = 24,
        width: int = 64,
        channels: int = 1,
        sample_rate: int = 44100,
        clip_samples: int = 44100,
        hop: int = 128,
        n_partials: int = 32,
        n_voices: int = 3,
        voice_harmonics: int = 16,
        octave_range: tuple[float, float] = (-4.5, 3.2),
    ) -> None:
        super().__init__()
        if kind not in PARTIALS:
            raise ValueError(f"partials {kind!r} unknown; valid: {', '.join(PARTIALS)}")
        self.kind, self.channels = kind, channels
        self.sample_rate, self.clip_samples, self.hop = sample_rate, clip_samples, hop
        self.octave_range = octave_range
        if kind == "none":
            return
        if kind == "bank":
            self.sources, self.per_source, self.octaves = n_partials, 1, BANK_OCTAVES
            start = torch.linspace(0.0, 7.0, n_partials)
            per_frame = 1 + n_partials
        else:
            self.sources, self.per_source, self.octaves = n_voices, voice_harmonics, VOICE_OCTAVES
            start = torch.tensor(
                [
                    VOICE_START_SEMITONES[i % len(VOICE_START_SEMITONES)] / 12
                    for i in range(n_voices)
                ]
            )
            per_frame = n_voices * (1 + voice_harmonics)
        self.ratio = nn.Linear(latent_dim, channels * self.sources)
        self.amplitude = nn.Conv1d(width, channels * per_frame, 1)
        low, high = self.octaves
        position = ((start - low) / (high - low)).clamp(0.02, 0.98)
        with torch.no_grad():
            self.ratio.weight.mul_(0.1)
            self.ratio.bias.copy_(torch.logit(position).repeat(channels))
            self.amplitude.weight.mul_(0.1)
            assert self.amplitude.bias is not None
            bias = self.amplitude.bias.view(channels, -1)
            bias.zero_()
            levels = slice(0, 1) if kind == "bank" else slice(0, n_voices)
            bias[:, levels] = START_LEVEL
        harmonics = torch.arange(1, self.per_source + 1, dtype=torch.float32)
        self.register_buffer("harmonics", harmonics, persistent=False)

    def controls(
        self, z: torch.Tensor, features: torch.Tensor, pitch_weight: torch.Tensor
    ) -> PartialControls | None:
        """Controls from latents `[batch, latent_dim]`, features `[batch, width, frames]` and the
        decoder's pitch weights `[channels, latent_dim]` (the direction projected out of z)."""
        if self.kind == "none":
            return None
        batch, frames = z.shape[0], features.shape[-1]
        direction = pitch_weight.detach().mean(dim=0)
        direction = direction / direction.norm().clamp_min(1e-12)
        # detached: the phase gradient of a ratio (∝ frequency × time) would swamp the
        # encoder's other gradients; the ratios are learned by this layer alone
        z = z.detach()
        across = z - (z @ direction)[:, None] * direction
        low, high = self.octaves
        octaves = low + (high - low) * torch.sigmoid(self.ratio(across))
        source_ratios = torch.exp2(octaves).view(batch, self.channels, self.sources)
        raw = self.amplitude(features).view(batch, self.channels, -1, frames)
        if self.kind == "bank":
            level = exp_sigmoid(raw[:, :, :1])
            amplitudes = level * torch.softmax(raw[:, :, 1:], dim=2)
            return PartialControls(source_ratios, amplitudes)
        voices, harmonics = self.sources, self.per_source
        level = exp_sigmoid(raw[:, :, :voices])[:, :, :, None]
        shape = raw[:, :, voices:].view(batch, self.channels, voices, harmonics, frames)
        amplitudes = (level * torch.softmax(shape, dim=3)).flatten(2, 3)
        ratios = (source_ratios[..., None] * self.harmonics).flatten(2, 3)
        return PartialControls(ratios, amplitudes)

    def render(
        self, controls: PartialControls | None, base_pitch: torch.Tensor
    ) -> torch.Tensor | float:
        """Audio `[batch · channels, clip_samples]` of `controls` at `base_pitch` `[batch,
        channels]` (octaves re 440 Hz, clamped to the decoder's range); 0.0 for "none"."""
        if controls is None:
            return 0.0
        batch, channels, partials, frames = controls.amplitudes.shape
        base_hz = 440.0 * torch.exp2(base_pitch.clamp(*self.octave_range))
        return partial_bank(
            controls.ratios.reshape(batch * channels, partials),
            controls.amplitudes.reshape(batch * channels, partials, frames),
            base_hz.reshape(batch * channels),
            sample_rate=self.sample_rate,
            samples=self.clip_samples,
            hop=self.hop,
        )


def check_partials(kind: str, n_partials: int, n_voices: int, voice_harmonics: int) -> None:
    """Raise `ConfigError` naming the `OneShotConfig` field that is out of range."""
    if kind not in PARTIALS:
        raise ConfigError(f"OneShotConfig.partials '{kind}' unknown; valid: {', '.join(PARTIALS)}")
    counts = {"n_partials": n_partials, "n_voices": n_voices, "voice_harmonics": voice_harmonics}
    for name, value in counts.items():
        if value < 1:
            raise ConfigError(f"OneShotConfig.{name} must be >= 1, got {value}")
