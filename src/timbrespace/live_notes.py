"""Notes played live on an instrument model (played from f0 and loudness): note-on / note-off
events in, f0 / loudness / voicing frames out, one block at a time.

Monophonic with last-note priority, as DDSP-VST plays: a note pressed while another sounds
glides to it without a new attack (legato); releasing it returns to the newest key still held;
releasing the last key starts the release. Loudness is an ADSR: the attack rises linearly in
amplitude from `floor_db` to the velocity's peak, decay and release move linearly in dB.
Velocities 1…127 map linearly onto `loudness_range` (dB), the model's trained range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from timbrespace.audio.midi import Envelope
from timbrespace.numbers import midi_to_hz
from timbrespace.space import LatentSpace


@dataclass
class _Phrase:
    level_db: float
    peak_db: float
    stage: str  # "attack", "decay", "sustain", "release", "off"
    elapsed: float = 0.0
    start_db: float = -80.0


class LiveNotes:
    """Live note state → control frames. `frame_rate`: control frames per second."""

    def __init__(
        self,
        frame_rate: float,
        *,
        loudness_range: tuple[float, float] = (-40.0, -10.0),
        envelope: Envelope | None = None,
        glide: float = 0.03,
        initial_pitch: float = 60.0,
    ) -> None:
        self.frame_rate = float(frame_rate)
        self.loudness_range = loudness_range
        self.envelope = envelope or Envelope()
        self.glide = glide
        self.held: list[tuple[float, float]] = []  # (pitch, velocity), newest last
        self.pitch = initial_pitch  # MIDI, gliding towards `target`
        self.target = initial_pitch
        self.phrase = _Phrase(self.envelope.floor_db, self.envelope.floor_db, "off")

    def peak_db(self, velocity: float) -> float:
        quiet, loud = self.loudness_range
        return quiet + (loud - quiet) * (min(max(velocity, 1.0), 127.0) - 1.0) / 126.0

    def note_on(self, pitch: float, velocity: float) -> None:
        """Press a key (MIDI pitch, velocity 1…127; velocity 0 is a note-off)."""
        if velocity <= 0:
            self.note_off(pitch)
            return
        legato = bool(self.held) and self.phrase.stage != "release"
        self.held = [(p, v) for p, v in self.held if p != pitch] + [(pitch, velocity)]
        self.target = pitch
        if not legato:
            if self.phrase.stage in ("off",):
                self.pitch = pitch
            self.phrase = _Phrase(
                self.phrase.level_db, self.peak_db(velocity), "attack", 0.0, self.phrase.level_db
            )
        else:
            self.phrase.peak_db = self.peak_db(velocity)

    def note_off(self, pitch: float) -> None:
        """Release a key; the newest key still held sounds again (legato)."""
        self.held = [(p, v) for p, v in self.held if p != pitch]
        if self.held:
            self.target = self.held[-1][0]
        elif self.phrase.stage not in ("off", "release"):
            self.phrase = _Phrase(
                self.phrase.level_db, self.phrase.peak_db, "release", 0.0, self.phrase.level_db
            )

    def all_off(self) -> None:
        for pitch, _ in list(self.held):
            self.note_off(pitch)

    @property
    def sounding(self) -> bool:
        return self.phrase.stage != "off"

    def next(self, frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next `frames` control frames: f0 (Hz), loudness (dB), voicing (0/1), float32."""
        f0 = np.empty(frames, dtype=np.float32)
        loudness = np.empty(frames, dtype=np.float32)
        voicing = np.empty(frames, dtype=np.float32)
        step = 1.0 / self.frame_rate
        glide = 1.0 - math.exp(-step / max(self.glide / 3, 1e-6))  # ~95 % of the way in `glide`
        for index in range(frames):
            self.pitch += (self.target - self.pitch) * glide
            self._advance(step)
            f0[index] = midi_to_hz(self.pitch)
            loudness[index] = self.phrase.level_db
            voicing[index] = 0.0 if self.phrase.stage == "off" else 1.0
        return f0, loudness, voicing

    def _advance(self, step: float) -> None:
        env, phrase = self.envelope, self.phrase
        phrase.elapsed += step
        sustain = phrase.peak_db + env.sustain_db
        if phrase.stage == "attack":
            if phrase.elapsed >= env.attack:
                phrase.stage, phrase.elapsed, phrase.level_db = "decay", 0.0, phrase.peak_db
            else:
                start = 10 ** (phrase.start_db / 20)
                peak = 10 ** (phrase.peak_db / 20)
                amplitude = start + (peak - start) * phrase.elapsed / env.attack
                phrase.level_db = 20 * math.log10(max(amplitude, 1e-6))
        elif phrase.stage == "decay":
            if phrase.elapsed >= env.decay:
                phrase.stage, phrase.level_db = "sustain", sustain
            else:
                phrase.level_db = phrase.peak_db + env.sustain_db * phrase.elapsed / env.decay
        elif phrase.stage == "sustain":
            phrase.level_db += (sustain - phrase.level_db) * min(1.0, step / max(env.decay, step))
        elif phrase.stage == "release":
            if phrase.elapsed >= env.release:
                phrase.stage, phrase.level_db = "off", env.floor_db
            else:
                fraction = phrase.elapsed / env.release
                phrase.level_db = phrase.start_db + (env.floor_db - phrase.start_db) * fraction


def live_notes(space: LatentSpace, frame_rate: float) -> LiveNotes | None:
    """Live notes for an instrument model (played from f0 and loudness), velocities mapped onto
    its trained loudness range; None for another model."""
    if space.model.input_kind != "f0_loudness":
        return None
    from timbrespace.instrument import feature_model

    trained = feature_model(space.bundle, "notes").trained_range()
    if trained is None:
        return LiveNotes(frame_rate)
    (low, high), loudness = trained
    return LiveNotes(frame_rate, loudness_range=loudness, initial_pitch=(low + high) / 2)


def notes_latent(
    space: LatentSpace, f0: np.ndarray, loudness: np.ndarray, voicing: np.ndarray
) -> torch.Tensor:
    """Control frames `[frames]` (Hz, dB, 0/1) → the instrument's latent `[1, dim, frames]`."""
    from timbrespace.instrument import feature_model

    curves = (
        torch.from_numpy(np.asarray(c, dtype=np.float32))[None] for c in (f0, loudness, voicing)
    )
    return feature_model(space.bundle, "notes").features_latent(*curves)
