"""How a sound file becomes clips: the prepare settings (`PrepareConfig`) and the cutting of
decoded audio into one-shot clips (onset-trimmed, padded or cropped) or overlapping chunks.

`prepare` cuts every dataset file with these functions, and `inference` cuts a user's file the
same way, so a model always meets its input as it met its training data.
Audio is float32 `[channels, samples]`; clips are `[clips, channels, samples]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from timbrespace.audio.descriptors import DescriptorSettings
from timbrespace.audio.io import AudioLoadError, limit_peak, load_audio, resample
from timbrespace.config import config_from_dict
from timbrespace.errors import TimbrespaceError

MODES = ("oneshot", "continuous")


@dataclass(frozen=True)
class PrepareConfig:
    """How sounds become clips. Times in seconds, levels in dB, rates in Hz."""

    mode: str = "oneshot"
    sample_rate: int = 44100
    channels: int = 1
    length: float = 1.0
    """Clip length (one-shot mode) or chunk length (continuous mode), s."""
    hop: float | None = None
    """Continuous mode: distance between chunk starts, s (default: half the length)."""
    trim_db: float = -40.0
    """One-shot mode: leading samples quieter than this, relative to the peak, are trimmed."""
    silence_db: float = -60.0
    """A file or chunk whose peak is below this (dBFS) is silent."""
    fade_out: float = 0.01
    """Fade applied at the end of a cropped one-shot, s."""
    max_seconds: float = 1200.0
    """Decode at most this much of each file, s (one-shot mode reads at most 30 s)."""
    frame_length: int = 2048
    hop_length: int = 512

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise TimbrespaceError(f"mode: expected one of {', '.join(MODES)}, got {self.mode!r}")
        if self.channels not in (1, 2):
            raise TimbrespaceError(f"channels: expected 1 or 2, got {self.channels}")
        if not 1000 <= self.sample_rate <= 384000:
            raise TimbrespaceError(f"sample_rate: {self.sample_rate} Hz is out of range")
        if not 0.01 <= self.length <= 60:
            raise TimbrespaceError(f"length: {self.length} s is out of range (0.01 to 60 s)")
        if self.hop is not None and not 0 < self.hop <= self.length * 4:
            raise TimbrespaceError(f"hop: {self.hop} s is out of range")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PrepareConfig:
        """From a plain dict (e.g. a cache's or bundle's saved settings): missing keys keep their
        defaults; an unknown key raises `ConfigError` naming the closest valid key."""
        return config_from_dict(cls, data)

    @property
    def clip_samples(self) -> int:
        return int(round(self.length * self.sample_rate))

    @property
    def hop_samples(self) -> int:
        hop = self.hop if self.hop is not None else self.length / 2
        return max(1, int(round(hop * self.sample_rate)))

    @property
    def descriptor_settings(self) -> DescriptorSettings:
        return DescriptorSettings(
            sample_rate=self.sample_rate,
            frame_length=self.frame_length,
            hop_length=self.hop_length,
        )

    @property
    def read_seconds(self) -> float:
        return min(self.max_seconds, 30.0) if self.mode == "oneshot" else self.max_seconds


def trim_leading_silence(audio: np.ndarray, threshold_db: float, keep: int) -> np.ndarray:
    """Drop samples before the first one within `threshold_db` of the peak, keeping `keep` before it.

    audio: [channels, samples].
    """
    envelope = np.abs(audio).max(axis=0)
    peak = float(envelope.max(initial=0.0))
    if peak <= 0:
        return audio
    above = np.flatnonzero(envelope >= peak * 10 ** (threshold_db / 20))
    start = max(0, int(above[0]) - keep)
    return audio[:, start:]


def fit_length(audio: np.ndarray, n_samples: int, fade_samples: int) -> np.ndarray:
    """Crop (with a linear fade-out of `fade_samples`) or zero-pad `[channels, samples]` audio."""
    if audio.shape[1] >= n_samples:
        clip = audio[:, :n_samples].copy()
        if audio.shape[1] > n_samples and fade_samples > 0:
            fade = min(fade_samples, n_samples)
            clip[:, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        return clip
    return np.pad(audio, ((0, 0), (0, n_samples - audio.shape[1])))


def oneshot_clip(
    audio: np.ndarray, source_rate: int, config: PrepareConfig
) -> tuple[np.ndarray, float]:
    """One clip `[channels, clip_samples]` at `config.sample_rate` from `[channels, samples]` audio
    at `source_rate`, and its onset offset in s.

    Leading silence is trimmed (1 ms kept before the onset) at the source rate, and only the part
    that is kept is resampled; a crop ends with a `fade_out` fade, a short sound is zero-padded.
    """
    trimmed = trim_leading_silence(audio, config.trim_db, keep=int(0.001 * source_rate))
    offset = (audio.shape[1] - trimmed.shape[1]) / source_rate
    margin = int(0.05 * source_rate)
    needed = int(np.ceil(config.length * source_rate)) + margin
    resampled = limit_peak(resample(trimmed[:, :needed], source_rate, config.sample_rate))
    n = config.clip_samples
    if trimmed.shape[1] > needed - margin:
        resampled = resampled[:, :n].copy()
        fade = min(int(config.fade_out * config.sample_rate), n)
        resampled[:, n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return fit_length(resampled, n, 0), offset


def cut_clips(audio: np.ndarray, config: PrepareConfig) -> tuple[np.ndarray, np.ndarray]:
    """Cut decoded audio into clips. Returns (clips [n, channels, samples], offsets [n] in s).

    One-shot: one clip, leading silence trimmed, padded or cropped to the clip length.
    Continuous: overlapping chunks every `hop`; the last partial chunk is padded if at least half
    full; silent chunks are dropped.
    """
    n = config.clip_samples
    sr = config.sample_rate
    if config.mode == "oneshot":
        clip, offset = oneshot_clip(audio, sr, config)
        return clip[None], np.array([offset], dtype=np.float64)
    hop = config.hop_samples
    total = audio.shape[1]
    starts = list(range(0, max(total - n, 0) + 1, hop))
    tail_start = starts[-1] + hop
    if total > n and tail_start < total and total - tail_start >= n // 2:
        starts.append(tail_start)
    silence = 10 ** (config.silence_db / 20)
    clips, offsets = [], []
    for start in starts:
        chunk = fit_length(audio[:, start : start + n], n, 0)
        if np.abs(chunk).max(initial=0.0) >= silence:
            clips.append(chunk)
            offsets.append(start / sr)
    if not clips:
        return np.zeros((0, audio.shape[0], n), np.float32), np.zeros(0)
    return np.stack(clips).astype(np.float32), np.array(offsets)


def load_clips(
    path: Path, source_rate: int, config: PrepareConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Decode `path` and cut it into clips (see `cut_clips`); raises AudioLoadError if silent.

    One-shot mode finds the onset at the file's own rate and resamples only the clip it keeps.
    """
    silence = 10 ** (config.silence_db / 20)
    if config.mode == "oneshot":
        raw = load_audio(path, None, channels=config.channels, max_seconds=config.read_seconds)
        if float(np.abs(raw).max(initial=0.0)) < silence:
            raise AudioLoadError(path, f"silent (peak below {config.silence_db:g} dBFS)")
        clip, offset = oneshot_clip(raw, source_rate, config)
        return clip[None], np.array([offset], dtype=np.float64)
    audio = load_audio(
        path, config.sample_rate, channels=config.channels, max_seconds=config.read_seconds
    )
    if float(np.abs(audio).max(initial=0.0)) < silence:
        raise AudioLoadError(path, f"silent (peak below {config.silence_db:g} dBFS)")
    return cut_clips(audio, config)
