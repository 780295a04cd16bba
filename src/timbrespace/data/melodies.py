"""Monophonic melodies rendered from a General MIDI soundfont with fluidsynth: real instrument
recordings for the continuous-audio models (spectral, ddsp) on a machine with no data set.

    write_melodies("data/melodies", instruments=("flute", "violin"), seconds=60)
    → data/melodies/flute/melody_000.wav …, data/melodies/melodies.csv

Each instrument gets melodies of `melody_seconds`: a seeded random walk on a major scale inside
the instrument's range, notes of ⅛ to ¾ s at 120 bpm with short rests and varied velocity.
Rendering uses the Debian packages `fluidsynth` and `timgm6mb-soundfont` (reverb and chorus off).
Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbrespace.atomic import atomic_path, write_bytes_atomic
from timbrespace.errors import TimbrespaceError

SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
)


@dataclass(frozen=True)
class Instrument:
    """A General MIDI program (0-based) and its playable MIDI pitch range (inclusive)."""

    program: int
    low: int
    high: int


INSTRUMENTS: dict[str, Instrument] = {
    "piano": Instrument(0, 48, 84),
    "vibraphone": Instrument(11, 53, 89),
    "organ": Instrument(19, 48, 84),
    "reed_organ": Instrument(20, 41, 89),
    "nylon_guitar": Instrument(24, 40, 76),
    "bass": Instrument(33, 28, 55),
    "violin": Instrument(40, 55, 91),
    "cello": Instrument(42, 36, 72),
    "trumpet": Instrument(56, 55, 82),
    "alto_sax": Instrument(65, 49, 80),
    "flute": Instrument(73, 60, 96),
    "square_lead": Instrument(80, 48, 84),
}
"""TimGM6mb's church, drawbar, percussive and rock organs (programs 16–19) sound a 16-foot stop:
pyin measures 24 to 36 of their 36 keys C3–B5 an octave under the key. The reed organ (20)
measures all 36 within 50 cents, so labelled note sets use it."""
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
BEAT_SECONDS = 0.5  # 120 bpm
TICKS_PER_BEAT = 480


def default_soundfont() -> Path:
    """The first General MIDI soundfont installed (Debian `timgm6mb-soundfont`)."""
    for path in SOUNDFONTS:
        if path.is_file():
            return path
    raise TimbrespaceError(
        "no General MIDI soundfont found; install the Debian package timgm6mb-soundfont"
    )


def melody_notes(
    instrument: Instrument, seconds: float, rng: np.random.Generator
) -> list[tuple[int, float, float, int]]:
    """A monophonic melody as `(midi_pitch, start_s, duration_s, velocity)`, filling `seconds`:
    a random walk of 0–3 scale steps on a random major key inside the instrument's range."""
    tonic = int(rng.integers(0, 12))
    pitches = [
        p for p in range(instrument.low, instrument.high + 1) if (p - tonic) % 12 in MAJOR_SCALE
    ]
    position = int(rng.integers(len(pitches) // 4, 3 * len(pitches) // 4 + 1))
    notes: list[tuple[int, float, float, int]] = []
    time = 0.0
    while True:
        duration = BEAT_SECONDS * float(rng.choice([0.25, 0.5, 0.5, 0.75, 1.0, 1.5]))
        if time + duration > seconds - 0.25:
            return notes
        position = int(np.clip(position + rng.integers(-3, 4), 0, len(pitches) - 1))
        notes.append((pitches[position], time, duration * 0.92, int(rng.integers(60, 118))))
        time += duration + (BEAT_SECONDS * 0.25 if rng.random() < 0.15 else 0.0)


def midi_bytes(program: int, notes: list[tuple[int, float, float, int]]) -> bytes:
    """A one-track standard MIDI file (120 bpm) playing `notes` with GM `program` on channel 0."""
    import mido

    track = mido.MidiTrack()
    track.append(mido.Message("program_change", program=program, channel=0, time=0))
    events = []
    for pitch, start, duration, velocity in notes:
        events.append((start, 1, pitch, velocity))
        events.append((start + duration, 0, pitch, 0))
    now = 0
    for seconds, is_on, pitch, velocity in sorted(events):
        tick = round(seconds / BEAT_SECONDS * TICKS_PER_BEAT)
        kind = "note_on" if is_on else "note_off"
        track.append(mido.Message(kind, note=pitch, velocity=velocity, channel=0, time=tick - now))
        now = tick
    song = mido.MidiFile(ticks_per_beat=TICKS_PER_BEAT)
    song.tracks.append(track)
    buffer = io.BytesIO()
    song.save(file=buffer)
    return buffer.getvalue()


def render_midi(midi: Path, out: Path, sample_rate: int, soundfont: Path) -> None:
    """Render a MIDI file to a 16-bit WAV with fluidsynth (no reverb or chorus), atomically."""
    binary = shutil.which("fluidsynth")
    if binary is None:
        raise TimbrespaceError("fluidsynth not found; install the Debian package fluidsynth")
    with atomic_path(out) as tmp:
        command = [binary, "-ni", "-q", "-R", "0", "-C", "0", "-g", "2.0"]
        command += ["-r", str(sample_rate), "-T", "wav", "-F", str(tmp), str(soundfont), str(midi)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or tmp.stat().st_size <= 44:
            raise TimbrespaceError(f"{midi}: fluidsynth failed: {done.stderr.strip()[:200]}")


def write_melodies(
    out: str | Path,
    *,
    instruments: tuple[str, ...] = ("flute", "violin", "cello", "trumpet", "alto_sax", "organ"),
    seconds: float = 60.0,
    melody_seconds: float = 10.0,
    sample_rate: int = 22050,
    seed: int = 0,
    soundfont: Path | None = None,
) -> list[Path]:
    """Render `seconds` of melodies per instrument into `out/<instrument>/melody_NNN.wav` and
    list them in `out/melodies.csv`; files already there are kept (the render is resumable).
    Returns the WAV paths."""
    unknown = [name for name in instruments if name not in INSTRUMENTS]
    if unknown:
        raise TimbrespaceError(
            f"unknown instrument {unknown[0]!r}; known: {', '.join(sorted(INSTRUMENTS))}"
        )
    if seconds <= 0 or melody_seconds <= 1:
        raise TimbrespaceError("seconds must be > 0 and melody_seconds > 1")
    font = soundfont or default_soundfont()
    root = Path(out)
    count = max(1, round(seconds / melody_seconds))
    rows, paths = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for offset, name in enumerate(instruments):
            instrument = INSTRUMENTS[name]
            for index in range(count):
                path = root / name / f"melody_{index:03d}.wav"
                rows.append([path.relative_to(root).as_posix(), name, instrument.program, seed])
                paths.append(path)
                if path.is_file():
                    continue
                rng = np.random.default_rng([seed, offset, index])
                midi = Path(scratch) / f"{name}_{index}.mid"
                midi.write_bytes(
                    midi_bytes(instrument.program, melody_notes(instrument, melody_seconds, rng))
                )
                render_midi(midi, path, sample_rate, font)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["file", "instrument", "program", "seed"])
    writer.writerows(rows)
    write_bytes_atomic(root / "melodies.csv", table.getvalue().encode("utf-8"))
    return paths
