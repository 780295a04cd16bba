"""Playing an instrument model (played from f0 and loudness, the ddsp family): timbre transfer
of any monophonic recording with octave and loudness fitted to what the model learned, and
MIDI files rendered through note curves. Part of the inference layer: the faces reach these
through `LatentSpace`.

Fitting follows DDSP-VST: the octave that brings the input's median voiced pitch nearest the
middle of the trained pitch range, and the gain that puts the input's loud end (95th
percentile of voiced loudness) on the trained loud end. Manual values override either.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from timbrespace import inference
from timbrespace.audio.midi import (
    Envelope,
    MidiError,
    Vibrato,
    check_pitch_range,
    frame_times,
    read_midi,
    render_seconds,
    split_voices,
    transpose,
    voice_curves,
)
from timbrespace.bundle import Bundle
from timbrespace.errors import TimbrespaceError
from timbrespace.models.base import FeatureModel, require_features
from timbrespace.numbers import hz_to_midi

MAX_OCTAVES = 4
"""The largest transposition, in octaves, either way."""
VOICED = 0.8
"""Voicing from which a frame counts as voiced when fitting (the model's own threshold)."""
FEW_VOICED = 0.2
"""Below this fraction of voiced frames an input is reported as mostly unvoiced."""
MIDI_VOICES = 16
"""Most notes sounding at once in a MIDI render."""


@dataclass(frozen=True)
class Performance:
    """How to play an input: `octave` (None: fitted), `semitones` added, `loudness_db` gain
    (None: fitted), `reverb` wet level (None: as trained, 0 = dry)."""

    octave: int | None = None
    semitones: float = 0.0
    loudness_db: float | None = None
    reverb: float | None = None

    def __post_init__(self) -> None:
        if self.octave is not None and abs(self.octave) > MAX_OCTAVES:
            raise TimbrespaceError(
                f"--octave {self.octave}: transpose by at most {MAX_OCTAVES} octaves either way"
            )
        for name, value, bound in (
            ("--semitones", self.semitones, 48.0),
            ("--loudness-db", self.loudness_db, 60.0),
        ):
            if value is not None and not (math.isfinite(value) and abs(value) <= bound):
                raise TimbrespaceError(f"{name} {value}: expected a number within ±{bound:g}")
        if self.reverb is not None and not (math.isfinite(self.reverb) and 0 <= self.reverb <= 4):
            raise TimbrespaceError(f"--reverb {self.reverb}: expected a wet level within 0..4")


@dataclass
class Played:
    """What a render did: the octave and gain used (fitted or given), the fraction of voiced
    input frames, and notices for the user."""

    octave: int
    semitones: float
    loudness_db: float
    voiced: float = 1.0
    voices: int = 1
    notices: list[str] = field(default_factory=list)


def feature_model(bundle: Bundle, what: str) -> FeatureModel:
    """The bundle's model as an instrument, or a one-line `CapabilityError` naming `what`."""
    require_features(bundle.model, what)
    return cast(FeatureModel, bundle.model)


def playable_range(model: FeatureModel) -> tuple[float, float]:
    """The MIDI pitches the model's tracker covers (its f0 range)."""
    low, high = model.tracker_range
    return hz_to_midi(low), hz_to_midi(high)


def velocity_range(model: FeatureModel) -> tuple[float, float]:
    """Loudness (dB) that velocities 1…127 map onto: the trained 5th–95th percentiles."""
    trained = model.trained_range()
    return (-40.0, -10.0) if trained is None else trained[1]


def _reverb(performance: Performance, batch: int) -> torch.Tensor | None:
    if performance.reverb is None:
        return None
    return torch.full((batch,), float(performance.reverb))


def fit(model: FeatureModel, z: torch.Tensor, performance: Performance, name: str) -> Played:
    """The transposition and gain that play the features of `z` `[1, dim, frames]` in the
    model's trained range (see the module doc), with `performance`'s manual values first."""
    pitch, loudness, voicing = (curve[0] for curve in model.feature_curves(z))
    voiced = voicing >= VOICED
    fraction = float(voiced.float().mean()) if voicing.numel() else 0.0
    played = Played(octave=0, semitones=performance.semitones, loudness_db=0.0, voiced=fraction)
    trained = model.trained_range()
    if fraction < FEW_VOICED:
        played.notices.append(
            f"{name}: only {100 * fraction:.0f}% of frames are voiced (silent, noisy or "
            "polyphonic input): the rest renders unvoiced"
        )
    if performance.octave is not None:
        played.octave = performance.octave
    elif trained is not None and bool(voiced.any()):
        middle = sum(trained[0]) / 2
        octave = round((middle - float(pitch[voiced].median())) / 12)
        played.octave = max(-MAX_OCTAVES, min(MAX_OCTAVES, octave))
    if performance.loudness_db is not None:
        played.loudness_db = performance.loudness_db
    elif trained is not None and bool(voiced.any()):
        loud_end = float(torch.quantile(loudness[voiced].float(), 0.95))
        played.loudness_db = max(-60.0, min(60.0, trained[1][1] - loud_end))
    return played


def transfer(
    bundle: Bundle, path: str | os.PathLike[str], performance: Performance
) -> tuple[np.ndarray, Played]:
    """The monophonic recording at `path` played by the instrument: float32 `[1, samples]`
    at the bundle's rate, and what was done (`Played`)."""
    model = feature_model(bundle, "transfer")
    z = inference.encode_batches(bundle.model, inference.load_recording(bundle, path))
    played = fit(model, z, performance, os.fspath(path))
    semitones = 12 * played.octave + played.semitones
    shifted_pitch = model.feature_curves(z)[0] + semitones
    if bool((shifted_pitch > hz_to_midi(bundle.sample_rate / 2)).any()):
        raise TimbrespaceError(
            f"--octave {played.octave}: the input's pitch goes above Nyquist at "
            f"{bundle.sample_rate} Hz; transpose it down"
        )
    z = model.shift_features(z, semitones, played.loudness_db)
    audio = inference.render(bundle.model, z, cond=_reverb(performance, 1))
    return audio[0].numpy(), played


def render_midi(
    bundle: Bundle,
    path: str | os.PathLike[str],
    performance: Performance,
    *,
    envelope: Envelope | None = None,
    vibrato: Vibrato | None = None,
) -> tuple[np.ndarray, Played]:
    """The MIDI file at `path` played by the instrument: one voice for a monophonic line
    (legato where notes touch), one per overlapping note otherwise, mixed; velocities map onto
    the trained loudness range. Returns float32 `[1, samples]` and what was done."""
    model = feature_model(bundle, "midi")
    envelope, vibrato = envelope or Envelope(), vibrato or Vibrato()
    score = read_midi(os.fspath(path))
    octave = performance.octave or 0
    name = os.fspath(path)
    if octave or performance.semitones:
        score = transpose(score, 12 * octave + round(performance.semitones))
    low, high = playable_range(model)
    check_pitch_range(score, low, high, name if not octave else f"{name} after --octave {octave}")
    loudness = velocity_range(model)
    gain = performance.loudness_db or 0.0
    times = frame_times(
        render_seconds(score, envelope), bundle.sample_rate, bundle.model.hop_length
    )
    voices = split_voices(score.notes)
    if len(voices) > MIDI_VOICES:
        raise MidiError(f"{name}: {len(voices)} notes at once; at most {MIDI_VOICES} play together")
    curves = [
        voice_curves(
            voice, score.bends, times, envelope=envelope, vibrato=vibrato, loudness_range=loudness
        )
        for voice in voices
    ]
    f0, level, voicing = (torch.from_numpy(np.stack(parts)) for parts in zip(*curves, strict=True))
    z = model.features_latent(f0, level + gain, voicing)
    rendered = inference.render(bundle.model, z, cond=_reverb(performance, len(voices)))
    mix = rendered.sum(dim=0)
    played = Played(octave=octave, semitones=performance.semitones, loudness_db=gain)
    played.voices = len(voices)
    peak = float(mix.abs().max())
    if peak > 1.0:
        mix = mix / peak
        played.notices.append(f"{name}: {len(voices)} voices peaked at {peak:.2f}; scaled to 1")
    return mix.numpy(), played


def render_note(
    bundle: Bundle,
    pitch: float,
    velocity: float = 100.0,
    *,
    seconds: float = 1.0,
    performance: Performance | None = None,
    envelope: Envelope | None = None,
    vibrato: Vibrato | None = None,
) -> np.ndarray:
    """One note played by the instrument: MIDI `pitch` (fractions are cents), `velocity`
    1…127, held `seconds` then released (the release tail is included). Float32
    `[1, samples]`; a pitch outside the tracker's range is a one-line `TimbrespaceError`."""
    from timbrespace.audio.midi import Note, Score

    model = feature_model(bundle, "note")
    performance = performance or Performance()
    envelope, vibrato = envelope or Envelope(), vibrato or Vibrato()
    if not (0 < seconds <= 30 and 1 <= velocity <= 127 and math.isfinite(pitch)):
        raise TimbrespaceError(
            f"note: expected 0 < seconds <= 30 and velocity 1..127, got {seconds:g} s, "
            f"velocity {velocity:g}"
        )
    low, high = playable_range(model)
    if not low <= pitch <= high:
        raise TimbrespaceError(f"note: pitch {pitch:g} is outside MIDI {low:.0f}–{high:.0f}")
    whole = int(round(pitch))
    note = Note(start=0.0, end=float(seconds), pitch=whole, velocity=int(velocity), channel=0)
    score = Score(notes=(note,), bends=(), seconds=float(seconds))
    loudness = velocity_range(model)
    times = frame_times(
        render_seconds(score, envelope), bundle.sample_rate, bundle.model.hop_length
    )
    f0, level, voicing = voice_curves(
        [note], (), times, envelope=envelope, vibrato=vibrato, loudness_range=loudness
    )
    f0 = f0 * 2.0 ** ((pitch - whole + performance.semitones) / 12.0)
    z = model.features_latent(
        torch.from_numpy(f0)[None],
        torch.from_numpy(level + (performance.loudness_db or 0.0))[None],
        torch.from_numpy(voicing)[None],
    )
    return inference.render(bundle.model, z, cond=_reverb(performance, 1))[0].numpy()
