"""`SignalAnalysis`: everything the descriptors share for one clip, each part computed once.

A descriptor's `curve` and `clip` callables receive the clip's `SignalAnalysis` and read from it
(STFT magnitude, frame RMS, A-weighted frame power, YIN pitch, fine envelope), so one clip is
framed, transformed and pitch-tracked once whatever the descriptors asked for.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import scipy.fft
import soxr

from timbrespace.audio.descriptor_registry import get_descriptor
from timbrespace.audio.descriptor_signal import (
    DescriptorSettings,
    PitchTrack,
    amplitude_envelope,
    frame_count,
    frame_signal,
    framed_sums,
    hann_window,
    loudness_weights,
    power_to_db,
    smooth,
    to_mono,
    weighted_mean,
    yin,
)

ABSOLUTE_SILENCE_RMS = 1e-5


class SignalAnalysis:
    """Everything descriptors share for one clip, each part computed on first use.

    `audio` is `[samples]` or `[channels, samples]`; analysis runs on the channel mean.
    Arrays follow librosa's layout: spectra are `[bins, frames]`, curves `[frames]`.
    """

    def __init__(self, audio: np.ndarray, settings: DescriptorSettings) -> None:
        self.audio = to_mono(audio)
        self.settings = settings
        self._curves: dict[str, np.ndarray] = {}

    @property
    def n_samples(self) -> int:
        return self.audio.size

    @property
    def duration(self) -> float:
        """Clip length (s)."""
        return self.audio.size / self.settings.sample_rate

    @property
    def n_frames(self) -> int:
        return frame_count(self.audio.size, self.settings)

    @cached_property
    def frames(self) -> np.ndarray:
        """Center-padded frames `[frames, frame_length]` (a view)."""
        return frame_signal(self.audio, self.settings.frame_length, self.settings.hop_length)

    @cached_property
    def magnitude(self) -> np.ndarray:
        """Hann-windowed STFT magnitude `[bins, frames]` float32 (librosa.stft scale)."""
        windowed = self.frames * hann_window(self.settings.frame_length)
        return np.abs(scipy.fft.rfft(windowed, axis=1)).T

    @cached_property
    def power(self) -> np.ndarray:
        """Squared STFT magnitude `[bins, frames]`."""
        return np.square(self.magnitude)

    @cached_property
    def frequencies(self) -> np.ndarray:
        """Centre frequency (Hz) of each STFT bin `[bins]`."""
        return np.fft.rfftfreq(self.settings.frame_length, 1 / self.settings.sample_rate)

    @cached_property
    def frame_rms(self) -> np.ndarray:
        """Root mean square of each unwindowed frame `[frames]` float32 (librosa.feature.rms)."""
        sums = framed_sums(
            np.square(self.audio), self.settings.frame_length, self.settings.hop_length
        )
        return np.sqrt(np.maximum(sums, 0.0) / self.settings.frame_length).astype(np.float32)

    @cached_property
    def weighted_power(self) -> np.ndarray:
        """A-weighted mean square of each frame `[frames]` (a unit-amplitude 1 kHz sine → 0.5).

        Also the weight of every frame in the clip summaries.
        """
        weights = loudness_weights(self.settings.sample_rate, self.settings.frame_length)
        return (weights @ self.power).astype(np.float64)

    @cached_property
    def loudness(self) -> np.ndarray:
        """A-weighted frame power in dB re. a full-scale sine, floored at −120 dB `[frames]`."""
        return power_to_db(self.weighted_power)

    @cached_property
    def voiced_gate(self) -> np.ndarray:
        """True for frames loud enough to carry a pitch `[frames]` bool."""
        rms = self.frame_rms
        level = max(float(rms.max()) * 10 ** (self.settings.silence_db / 20), ABSOLUTE_SILENCE_RMS)
        return rms >= level

    @cached_property
    def pitch(self) -> PitchTrack:
        """YIN f0 (Hz) and confidence per frame; confidence is 0 on gated (silent) frames."""
        settings = self.settings
        rate = settings.pitch_sample_rate
        audio = self.audio
        if rate != settings.sample_rate:
            audio = soxr.resample(audio, settings.sample_rate, rate)
        centers = np.arange(self.n_frames) * settings.hop_length * rate // settings.sample_rate
        track = yin(
            audio,
            rate,
            centers,
            settings.yin_frame_length,
            settings.min_period,
            settings.max_period,
            settings.yin_threshold,
        )
        return PitchTrack(track.f0, np.where(self.voiced_gate, track.confidence, 0.0))

    @cached_property
    def voiced(self) -> np.ndarray:
        """Frames with a trusted f0 `[frames]` bool."""
        return self.pitch.confidence >= self.settings.voicing_threshold

    @property
    def envelope_block(self) -> int:
        """Samples per fine-envelope value."""
        block = round(self.settings.envelope_resolution * self.settings.sample_rate)
        return int(min(max(block, 1), self.n_samples))

    @cached_property
    def envelope(self) -> np.ndarray:
        """Fine amplitude envelope (linear, ~1 ms per value) `[blocks]` float32."""
        return amplitude_envelope(self.audio, self.envelope_block)

    @cached_property
    def envelope_times(self) -> np.ndarray:
        """Time (s) of each fine-envelope value `[blocks]`."""
        block = self.envelope_block
        return (np.arange(self.envelope.size) + 0.5) * block / self.settings.sample_rate

    @cached_property
    def smooth_envelope(self) -> np.ndarray:
        """`envelope` averaged over `envelope_smoothing` seconds `[blocks]` float32."""
        width = round(self.settings.envelope_smoothing / self.settings.envelope_resolution)
        return smooth(self.envelope, int(width) | 1)

    def curve(self, name: str) -> np.ndarray:
        """The registered descriptor's curve `[frames]` float32, computed once per analysis."""
        if name not in self._curves:
            curve = np.asarray(get_descriptor(name).curve(self), dtype=np.float32)
            if curve.shape != (self.n_frames,):
                raise ValueError(
                    f"descriptor {name!r} returned a curve of shape {curve.shape}, "
                    f"expected ({self.n_frames},)"
                )
            self._curves[name] = curve
        return self._curves[name]

    def weighted_clip(self, name: str) -> float:
        """Mean of the curve `name` over frames weighted by A-weighted frame power."""
        return weighted_mean(self.curve(name), self.weighted_power)

    def constant(self, value: float) -> np.ndarray:
        """`value` repeated on every frame `[frames]` float32."""
        return np.full(self.n_frames, value, np.float32)
