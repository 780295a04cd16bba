"""MIDI files as the control curves of a DDSP instrument: f0 (Hz), loudness (dB) and voicing.

    score = read_midi("song.mid")
    times = frame_times(render_seconds(score), sample_rate=16000, hop=64)
    for voice in split_voices(score.notes):
        f0, loudness, voicing = voice_curves(voice, score.bends, times)

Loudness is an ADSR per legato phrase whose attack is linear in amplitude, so an onset is
heard within a few ms (a ramp linear in dB spends most of its time below hearing); decay,
legato moves and release are linear in dB, i.e. exponential in amplitude like natural decays.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from timbrespace.errors import TimbrespaceError, os_reason
from timbrespace.numbers import note_name

DRUM_CHANNEL = 9  # General MIDI channel 10
VIBRATO_FADE = 0.2  # s over which vibrato fades in after its delay


class MidiError(TimbrespaceError):
    """A MIDI file that cannot be read or played, in one line naming the file."""


@dataclass(frozen=True)
class Note:
    """One note: `start` and `end` in s, `pitch` a MIDI number, `velocity` 1..127."""

    start: float
    end: float
    pitch: int
    velocity: int
    channel: int


@dataclass(frozen=True)
class Bend:
    """A pitch-bend event: from `time` (s) on, notes of `channel` sound `semitones` away."""

    time: float
    channel: int
    semitones: float


@dataclass(frozen=True)
class Score:
    """The notes (by start) and bends (by time) of a file; `seconds` = end of the last note."""

    notes: tuple[Note, ...]
    bends: tuple[Bend, ...]
    seconds: float


@dataclass(frozen=True)
class Envelope:
    """ADSR in dB: `attack`, `decay` and `release` in s, `sustain_db` re the note's peak;
    the level starts from and returns to `floor_db`."""

    attack: float = 0.01
    decay: float = 0.15
    sustain_db: float = -6.0
    release: float = 0.15
    floor_db: float = -80.0


@dataclass(frozen=True)
class Vibrato:
    """Sine vibrato of `rate` Hz and ±`depth_cents`, fading in over 0.2 s from `delay` s after
    the first note-on of a phrase."""

    rate: float = 5.5
    depth_cents: float = 0.0
    delay: float = 0.2


def read_midi(path: str | Path, *, bend_range: float = 2.0) -> Score:
    """The notes and pitch bends of a standard MIDI file, all tracks and channels merged, times
    in s (tempo changes honoured); drums (channel 10) are dropped. A note-on of velocity 0 is a
    note-off; a note-on of a key already held ends the held note there (a re-strike); a note
    held at the end of the file ends at its last event. Bends use ±`bend_range` semitones
    (+8191 is exactly +`bend_range`, −8192 exactly −`bend_range`)."""
    import mido

    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise MidiError(f"{path}: cannot read ({os_reason(error, path)})") from None
    try:
        messages = list(mido.MidiFile(file=io.BytesIO(data)))
    except Exception as error:  # mido raises OSError, EOFError, ValueError, IndexError, …
        what = "not a MIDI file" if not data.startswith(b"MThd") else "corrupt MIDI file"
        reason = "truncated" if isinstance(error, EOFError) else " ".join(str(error).split())
        raise MidiError(f"{path}: {what} ({reason})") from None
    now, drums = 0.0, False
    held: dict[tuple[int, int], tuple[float, int]] = {}  # (channel, pitch) → (start, velocity)
    notes: list[Note] = []
    bends: list[Bend] = []
    for message in messages:
        now += message.time
        channel = getattr(message, "channel", None)
        if channel is None or channel == DRUM_CHANNEL:
            drums = drums or (channel is not None and message.type == "note_on")
            continue
        if message.type == "pitchwheel":
            scale = 8191 if message.pitch > 0 else 8192
            bends.append(Bend(now, channel, message.pitch / scale * bend_range))
        elif message.type in ("note_on", "note_off"):
            start, velocity = held.pop((channel, message.note), (now, 0))
            if now > start:
                notes.append(Note(start, now, message.note, velocity, channel))
            if message.type == "note_on" and message.velocity > 0:
                held[channel, message.note] = (now, message.velocity)
    notes += [Note(start, now, p, v, c) for (c, p), (start, v) in held.items() if now > start]
    if not notes:
        raise MidiError(f"{path}: no notes" + (" (only drums, channel 10)" if drums else ""))
    notes.sort(key=lambda n: (n.start, n.pitch, n.channel))
    return Score(tuple(notes), tuple(bends), max(n.end for n in notes))


def transpose(score: Score, semitones: int) -> Score:
    """`score` with every note moved by `semitones` (pitches may leave 0..127: see
    `check_pitch_range`); bends are relative and unchanged."""
    notes = tuple(replace(n, pitch=n.pitch + semitones) for n in score.notes)
    return replace(score, notes=notes)


def midi_name(pitch: float) -> str:
    """A MIDI number as a note name: 69 → `A4`, 61.5 → `C#4 +50c`."""
    return note_name(440.0 * 2.0 ** ((pitch - 69.0) / 12.0))


def check_pitch_range(score: Score, low: float, high: float, what: str) -> None:
    """Raise `MidiError` when a note pitch falls outside MIDI `low`..`high` (bends and vibrato
    not counted); `what` names the score in the message, e.g. `song.mid after --octave 2`."""
    pitches = [n.pitch for n in score.notes]
    extremes = sorted({min(pitches), max(pitches)}) if pitches else []
    outside = [p for p in extremes if not low <= p <= high]
    if outside:
        reach = " and ".join(f"{p} ({midi_name(p)})" for p in outside)
        raise MidiError(
            f"{what}: notes reach MIDI {reach}; the playable range is MIDI {low:g}–{high:g} "
            f"({midi_name(low)}–{midi_name(high)})"
        )


def split_voices(notes: Sequence[Note], *, legato: float = 0.05) -> list[tuple[Note, ...]]:
    """Monophonic voices covering `notes`, each sorted by start.

    Notes are taken by start (then pitch). A voice can take a note starting after its last
    note's start when its notes end at most `legato` s after the note starts: touching or
    slightly overlapping notes make a legato phrase (played without re-attack by
    `voice_curves`). The note goes to a voice it continues (whose notes end at or after its
    start; nearest pitch first), else to the voice that became free first, else to a new voice.
    So a monophonic line is one voice, and a polyphonic score gets as few voices as it has notes
    sounding together (greedy interval partitioning is optimal)."""
    voices: list[list[Note]] = []
    ends: list[float] = []
    for note in sorted(notes, key=lambda n: (n.start, n.pitch, n.channel)):
        free = []
        for i, voice in enumerate(voices):
            if ends[i] - legato <= note.start and voice[-1].start < note.start:
                continues = ends[i] >= note.start  # legato: nearest pitch; else freed first
                gap = abs(voice[-1].pitch - note.pitch) if continues else 0
                free.append((not continues, gap, ends[i], i))
        if free:
            best = min(free)[-1]
            voices[best].append(note)
            ends[best] = max(ends[best], note.end)
        else:
            voices.append([note])
            ends.append(note.end)
    return [tuple(voice) for voice in voices]


def peak_db(velocity: int, loudness_range: tuple[float, float]) -> float:
    """The peak level (dB) of a note: velocity 1..127 linearly onto `loudness_range`."""
    low, high = loudness_range
    return low + (high - low) * (min(max(velocity, 1), 127) - 1) / 126.0


def ramp(u: np.ndarray, seconds: float) -> np.ndarray:
    """0 → 1 linearly over `seconds` from u = 0, clipped (a step when `seconds` is 0)."""
    return np.clip(u / seconds, 0.0, 1.0) if seconds > 0 else (u >= 0).astype(np.float64)


class _Level(NamedTuple):
    """Loudness from `start` (s) to the next stretch: `attack` from `begin` dB to `peak`, then
    a decay to `target`; or `move` (over the decay) / `release` from `begin` to `target`."""

    start: float
    kind: str
    begin: float
    peak: float
    target: float

    def at(self, t: np.ndarray, env: Envelope) -> np.ndarray:
        u = t - self.start
        if self.kind != "attack":
            seconds = env.decay if self.kind == "move" else env.release
            return self.begin + (self.target - self.begin) * ramp(u, seconds)
        low, high = 10 ** (self.begin / 20), 10 ** (self.peak / 20)
        rising = 20 * np.log10(np.maximum(low + (high - low) * ramp(u, env.attack), 1e-12))
        falling = self.peak + (self.target - self.peak) * ramp(u - env.attack, env.decay)
        return np.where(u < env.attack, rising, falling)


_BendTable = dict[int, tuple[np.ndarray, np.ndarray]]  # channel → (times s, [0, semitones…])


class _Pitch(NamedTuple):
    """Pitch (MIDI semitones) from `start` (s) to the next stretch: `note` with its channel's
    bend plus `offset` gliding to 0; or, with no note, `offset` held."""

    start: float
    note: Note | None
    offset: float
    clock: float  # start of the phrase: the vibrato's time origin

    def at(self, t: np.ndarray, bends: _BendTable, glide: float) -> np.ndarray:
        if self.note is None:
            return np.full(t.shape, self.offset)
        times, values = bends.get(self.note.channel, (np.zeros(0), np.zeros(1)))
        bend = values[np.searchsorted(times, t, side="right")]
        return self.note.pitch + bend + self.offset * (1.0 - ramp(t - self.start, glide))


def _spans(t: np.ndarray, starts: Sequence[float]) -> list[slice]:
    edges = [int(e) for e in np.searchsorted(t, np.array(starts), side="left")] + [len(t)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def voice_curves(
    voice: Sequence[Note],
    bends: Sequence[Bend],
    times: np.ndarray,
    *,
    envelope: Envelope = Envelope(),
    vibrato: Vibrato = Vibrato(),
    loudness_range: tuple[float, float] = (-40.0, -6.0),
    glide: float = 0.03,
    slur: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f0 (Hz), loudness (dB) and voicing (0/1) of one monophonic voice at `times` (s,
    increasing), each `[len(times)]` float32. The peak level of a note maps its velocity 1..127
    linearly onto `loudness_range` (dB); f0 is `440·2^((pitch − 69 + bend)/12)`, the bend of
    the note's channel at that time, plus `vibrato` in cents.

    A note starting at most `slur` s after the previous one ends (so touching or overlapping)
    continues its phrase: no re-attack, the level moves from where it is to the new note's
    sustain over `decay`, f0 glides over `glide` s. A phrase rises from the current level (the
    floor, or what is left of a release) to the peak over `attack`, decays to peak +
    `sustain_db`, and after its last note-off falls to `floor_db` over `release`. Voicing is 1
    from note-on to the end of the release. f0 holds the first pitch before the first note and
    a phrase's last pitch after its release (no jumps in silence)."""
    t, env = np.asarray(times, dtype=np.float64), envelope
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be increasing")
    channels: dict[int, list[Bend]] = {}
    for bend in sorted(bends, key=lambda b: b.time):
        channels.setdefault(bend.channel, []).append(bend)
    table: _BendTable = {
        c: (np.array([b.time for b in bs]), np.array([0.0] + [b.semitones for b in bs]))
        for c, bs in channels.items()
    }
    level, voicing = np.full(t.shape, env.floor_db), np.zeros(t.shape)
    semis, cents = np.full(t.shape, 69.0), np.zeros(t.shape)
    levels: list[_Level] = []
    pitches: list[_Pitch] = []

    def level_at(when: float) -> float:
        return float(levels[-1].at(np.array([when]), env)[0]) if levels else env.floor_db

    def pitch_at(when: float, piece: _Pitch | None = None) -> float:
        piece = pitches[-1] if piece is None else piece
        return float(piece.at(np.array([when]), table, glide)[0])

    end = clock = -math.inf
    for note in sorted(voice, key=lambda n: n.start):
        legato = note.start <= end + slur + 1e-9
        if legato:  # the previous note's release and hold are replaced by this note
            del levels[-1]
        if pitches and (legato or pitches[-1].start > note.start):
            del pitches[-1]
        if legato:
            sustain = peak_db(note.velocity, loudness_range) + env.sustain_db
            levels.append(_Level(note.start, "move", level_at(note.start), 0.0, sustain))
            jump = pitch_at(note.start) - pitch_at(note.start, _Pitch(0.0, note, 0.0, 0.0))
        else:
            clock, jump, peak = note.start, 0.0, peak_db(note.velocity, loudness_range)
            begin = max(env.floor_db, level_at(note.start))
            levels.append(_Level(note.start, "attack", begin, peak, peak + env.sustain_db))
        if not pitches:  # before the first note f0 holds its pitch
            held = pitch_at(note.start, _Pitch(0.0, note, 0.0, 0.0))
            pitches.append(_Pitch(-math.inf, None, held, 0.0))
        pitches.append(_Pitch(note.start, note, jump, clock))
        end = max(end, note.end) if legato else note.end
        levels.append(_Level(end, "release", level_at(end), 0.0, env.floor_db))
        pitches.append(_Pitch(end + env.release, None, pitch_at(end + env.release), 0.0))
    for piece, span in zip(levels, _spans(t, [p.start for p in levels]), strict=True):
        level[span] = piece.at(t[span], env)
        sounding = piece.kind != "release" or t[span] - piece.start < env.release
        voicing[span] = np.where(sounding, 1.0, 0.0)
    for pitch, span in zip(pitches, _spans(t, [p.start for p in pitches]), strict=True):
        semis[span] = pitch.at(t[span], table, glide)
        if pitch.note is not None and vibrato.depth_cents:
            u = t[span] - pitch.clock
            fade = ramp(u - vibrato.delay, VIBRATO_FADE)
            cents[span] = vibrato.depth_cents * fade * np.sin(2 * np.pi * vibrato.rate * u)
    f0 = 440.0 * 2.0 ** ((semis - 69.0) / 12.0 + cents / 1200.0)
    return f0.astype(np.float32), level.astype(np.float32), voicing.astype(np.float32)


def render_seconds(score: Score, envelope: Envelope = Envelope(), *, tail: float = 0.1) -> float:
    """How long a render of `score` lasts (s): its last note-off, the release, and `tail`."""
    return score.seconds + envelope.release + tail


def frame_times(seconds: float, sample_rate: int, hop: int) -> np.ndarray:
    """The control-frame times (s) of a render covering `seconds`: frame k at
    `(k + 1)·hop / sample_rate` (a causal synth's frame reaches its value at the end of its
    hop), the last at or after `seconds`. `[frames]` float64."""
    if seconds <= 0 or sample_rate <= 0 or hop <= 0:
        raise ValueError(f"need seconds, sample_rate, hop > 0, got {seconds}, {sample_rate}, {hop}")
    frames = math.ceil(seconds * sample_rate / hop - 1e-9)
    return np.arange(1, frames + 1, dtype=np.float64) * hop / sample_rate
