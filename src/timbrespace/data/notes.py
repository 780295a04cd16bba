"""A labelled note set: one General MIDI note per file, rendered with fluidsynth, for models
conditioned on pitch, velocity and instrument (NSynth-style, Engel et al. 2017).

    write_notes("data/notes", instruments=("flute", "cello"), pitches=(36, 84))
    → data/notes/flute/flute_p060_v040.wav …, data/notes/notes.csv

Every note starts at the beginning of its file (after fluidsynth's few ms of latency), is held
for `HOLD_FRACTION` of the file and released; the file is mono 16-bit, exactly `seconds` long,
its last `FADE_SECONDS` faded out (the release tail is cut there). `notes.csv` lists
`file,instrument,program,pitch,velocity` (file relative to the folder); `prepare` copies these
labels into the cache (`SoundCache.note_labels`). The folder of a note is its instrument, which
`prepare` also reads as the pack.

All the notes of one instrument are rendered by one fluidsynth run, `seconds + GAP_SECONDS`
apart, and cut at the known onsets: the gap is longer than any release of the GM soundfont, so a
file never holds the tail of the note before (checked on every render). Files already there
(same sample rate and length) are kept: the render is resumable.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from timbrespace.atomic import atomic_path, write_bytes_atomic
from timbrespace.data.melodies import (
    BEAT_SECONDS,
    INSTRUMENTS,
    TICKS_PER_BEAT,
    default_soundfont,
    midi_bytes,
    render_midi,
)
from timbrespace.errors import TimbrespaceError, os_error
from timbrespace.numbers import midi_number

NOTES_CSV = "notes.csv"
CSV_HEADER = ("file", "instrument", "program", "pitch", "velocity")
DEFAULT_INSTRUMENTS = ("piano", "reed_organ", "violin", "cello", "trumpet", "flute")
HOLD_FRACTION = 0.8
"""The note-off comes at this fraction of the file; the rest holds the start of the release."""
GAP_SECONDS = 1.0
"""Silence added between two notes of one render, s: longer than any release of the soundfont."""
FADE_SECONDS = 0.01
"""Linear fade at the end of each file, s (the release is cut there without a click)."""
LEAK_DB = -60.0
"""A render fails if, in the `LEAK_WINDOW_SECONDS` before an onset, the level is above this (dB
re the previous note's peak) and above `NOISE_FLOOR`: that note's release would reach into the
next file."""
LEAK_WINDOW_SECONDS = 0.05
NOISE_FLOOR = 10 ** (-70 / 20)
"""Level of fluidsynth's 16-bit dither between notes (measured at most -76 dBFS), linear."""
FLUIDSYNTH_RATES = (8000, 96000)
"""Sample rates fluidsynth renders, Hz (inclusive)."""
PITCH_FORMS = "MIDI numbers (36:84) or note names with C4 = 60 (C2:C6, C#4, Db4), 0…127"


@dataclass(frozen=True)
class Note:
    """One labelled note: GM instrument name and program (0-based), MIDI pitch, velocity 1…127."""

    instrument: str
    program: int
    pitch: int
    velocity: int

    @property
    def relpath(self) -> str:
        """Where `write_notes` puts it: `<instrument>/<instrument>_p<pitch>_v<velocity>.wav`."""
        name = f"{self.instrument}_p{self.pitch:03d}_v{self.velocity:03d}.wav"
        return f"{self.instrument}/{name}"


@dataclass(frozen=True)
class NotePlan:
    """The notes a `write_notes` call renders (in file order) and those it skips because the
    pitch is outside the instrument's playable range (`Instrument.low/high`)."""

    notes: tuple[Note, ...]
    skipped: tuple[Note, ...]


def parse_pitch_range(text: str) -> tuple[int, int]:
    """`LOW:HIGH` (inclusive) as MIDI pitches: `"36:84"`, `"C2:C6"` → `(36, 84)`; one pitch
    (`"A4"`) is the range of that pitch alone. Note names take a sharp or a flat and C4 = 60:
    `A4` = 69, `C#4` = `Db4` = 61, `C-1` = 0."""
    expected = f"expected LOW:HIGH as {PITCH_FORMS}"
    parts = text.split(":")
    if len(parts) > 2:
        raise TimbrespaceError(f"pitches {text!r}: {expected}")
    values = []
    for part in parts:
        number = midi_number(part)
        if number is None or number != int(number):
            raise TimbrespaceError(f"pitches {text!r}: {part.strip()!r} is not a pitch; {expected}")
        pitch = int(number)
        if not 0 <= pitch <= 127:
            raise TimbrespaceError(
                f"pitches {text!r}: {part.strip()} is MIDI {pitch}, outside 0…127"
            )
        values.append(pitch)
    low, high = values[0], values[-1]
    if low > high:
        raise TimbrespaceError(f"pitches {text!r}: the low pitch {low} is above the high {high}")
    return low, high


def parse_velocities(text: str) -> tuple[int, ...]:
    """Comma-separated MIDI velocities, e.g. `"40,80,120"`, each 1…127."""
    values = []
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            value = 0
        if not 1 <= value <= 127:
            raise TimbrespaceError(
                f"velocities {text!r}: {part.strip()!r} is not a MIDI velocity; expected "
                "comma-separated integers in 1…127 (40,80,120)"
            )
        values.append(value)
    return tuple(values)


def plan_notes(
    *,
    instruments: tuple[str, ...] = DEFAULT_INSTRUMENTS,
    pitches: tuple[int, int] = (36, 84),
    velocities: tuple[int, ...] = (40, 80, 120),
    clip_range: bool = True,
) -> NotePlan:
    """Every (instrument, pitch, velocity) of the request; with `clip_range`, a pitch outside
    an instrument's playable range is skipped for that instrument."""
    unknown = [name for name in instruments if name not in INSTRUMENTS]
    if unknown:
        raise TimbrespaceError(
            f"unknown instrument {unknown[0]!r}; known: {', '.join(sorted(INSTRUMENTS))}"
        )
    if not instruments or len(set(instruments)) != len(instruments):
        raise TimbrespaceError(f"instruments: expected distinct names, got {list(instruments)}")
    low, high = pitches
    if not 0 <= low <= high <= 127:
        raise TimbrespaceError(f"pitches: expected 0 ≤ low ≤ high ≤ 127, got {low}:{high}")
    bad = [v for v in velocities if not 1 <= v <= 127]
    if not velocities or bad or len(set(velocities)) != len(velocities):
        raise TimbrespaceError(
            f"velocities: expected distinct values in 1…127, got {list(velocities)}"
        )
    notes: list[Note] = []
    skipped: list[Note] = []
    for name in instruments:
        instrument = INSTRUMENTS[name]
        for pitch in range(low, high + 1):
            playable = instrument.low <= pitch <= instrument.high
            for velocity in velocities:
                note = Note(name, instrument.program, pitch, velocity)
                (notes if playable or not clip_range else skipped).append(note)
    if not notes:
        raise TimbrespaceError(
            f"pitches {low}:{high} are outside the playable range of every instrument asked "
            f"for ({', '.join(instruments)}); pass clip_range=False (--no-clip-range) to render "
            "them anyway"
        )
    return NotePlan(tuple(notes), tuple(skipped))


def write_notes(
    out: str | Path,
    *,
    instruments: tuple[str, ...] = DEFAULT_INSTRUMENTS,
    pitches: tuple[int, int] = (36, 84),
    velocities: tuple[int, ...] = (40, 80, 120),
    seconds: float = 1.5,
    sample_rate: int = 22050,
    soundfont: Path | None = None,
    clip_range: bool = True,
) -> list[Path]:
    """Render one note per file into `out/<instrument>/<instrument>_p<pitch>_v<velocity>.wav`
    (mono 16-bit, exactly `seconds` long at `sample_rate` Hz) and list them in `out/notes.csv`.

    `pitches` is a MIDI range (inclusive, see `parse_pitch_range`); with `clip_range` the pitches
    outside an instrument's playable range are skipped for it (`plan_notes(...).skipped`).
    Files already there with the same sample rate and length are kept. Returns the WAV paths of
    every listed note, kept or written, in `notes.csv` order."""
    if not 0.1 <= seconds <= 30:
        raise TimbrespaceError(f"seconds: {seconds} s is out of range (0.1 to 30 s)")
    if not FLUIDSYNTH_RATES[0] <= sample_rate <= FLUIDSYNTH_RATES[1]:
        low, high = FLUIDSYNTH_RATES
        raise TimbrespaceError(
            f"sample rate: fluidsynth renders {low}…{high} Hz, not {sample_rate} Hz"
        )
    plan = plan_notes(
        instruments=instruments, pitches=pitches, velocities=velocities, clip_range=clip_range
    )
    font = soundfont or default_soundfont()
    root = Path(out)
    done = set(rendered_notes(root, plan.notes, seconds=seconds, sample_rate=sample_rate))
    with tempfile.TemporaryDirectory() as scratch:
        for name in instruments:
            missing = [n for n in plan.notes if n.instrument == name and n not in done]
            if missing:
                _render_instrument(root, missing, seconds, sample_rate, font, Path(scratch))
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for note in plan.notes:
        writer.writerow([note.relpath, note.instrument, note.program, note.pitch, note.velocity])
    write_bytes_atomic(root / NOTES_CSV, table.getvalue().encode("utf-8"))
    return [root / note.relpath for note in plan.notes]


def note_onsets(count: int, seconds: float) -> list[float]:
    """Start times (s) of `count` notes of `seconds` rendered in one MIDI file: `seconds +
    GAP_SECONDS` apart, rounded up to whole MIDI ticks so the file plays them exactly there."""
    tick = BEAT_SECONDS / TICKS_PER_BEAT
    spacing = math.ceil((seconds + GAP_SECONDS) / tick - 1e-9)
    return [index * spacing * tick for index in range(count)]


def rendered_notes(
    out: str | Path, notes: tuple[Note, ...], *, seconds: float, sample_rate: int
) -> list[Note]:
    """The `notes` whose file in `out` a previous run finished with these settings (mono,
    `sample_rate`, `seconds` long): `write_notes` keeps them."""
    root = Path(out)
    n_samples = int(round(seconds * sample_rate))
    done = []
    for note in notes:
        try:
            info = sf.info(str(root / note.relpath))
        except (OSError, RuntimeError):
            continue
        if (info.samplerate, info.frames, info.channels) == (sample_rate, n_samples, 1):
            done.append(note)
    return done


def _render_instrument(
    root: Path,
    notes: list[Note],
    seconds: float,
    sample_rate: int,
    soundfont: Path,
    scratch: Path,
) -> None:
    """Render `notes` (one instrument) in one fluidsynth run and cut them into their files,
    reading the render note by note (it may be longer than memory allows)."""
    onsets = note_onsets(len(notes), seconds)
    events = [
        (note.pitch, onset, HOLD_FRACTION * seconds, note.velocity)
        for note, onset in zip(notes, onsets, strict=True)
    ]
    midi = scratch / f"{notes[0].instrument}.mid"
    midi.write_bytes(midi_bytes(notes[0].program, events))
    rendered = scratch / f"{notes[0].instrument}.wav"
    render_midi(midi, rendered, sample_rate, soundfont)
    n_samples = int(round(seconds * sample_rate))
    window = int(round(LEAK_WINDOW_SECONDS * sample_rate))
    fade = np.linspace(1.0, 0.0, min(n_samples, int(round(FADE_SECONDS * sample_rate))))
    previous_peak = 0.0
    with sf.SoundFile(str(rendered)) as wav:
        if wav.samplerate != sample_rate:
            raise TimbrespaceError(f"fluidsynth rendered {wav.samplerate} Hz, not {sample_rate}")
        for index, (note, onset) in enumerate(zip(notes, onsets, strict=True)):
            start = int(round(onset * sample_rate))
            lead = min(window, start)
            wav.seek(start - lead)
            block = wav.read(lead + n_samples, dtype="float32", always_2d=True).mean(axis=1)
            level = float(np.abs(block[:lead]).max(initial=0.0))
            if level > max(previous_peak * 10 ** (LEAK_DB / 20), NOISE_FLOOR):
                raise TimbrespaceError(
                    f"{note.relpath}: the release of {notes[index - 1].relpath} still sounds at "
                    f"its onset ({20 * math.log10(level):.0f} dBFS); the "
                    f"soundfont's release is longer than the {GAP_SECONDS} s gap between notes"
                )
            clip = np.zeros(n_samples, np.float32)
            clip[: len(block) - lead] = block[lead:]
            clip[n_samples - len(fade) :] *= fade.astype(np.float32)
            previous_peak = float(np.abs(clip).max(initial=0.0))
            with atomic_path(root / note.relpath) as tmp:
                sf.write(str(tmp), clip, sample_rate, subtype="PCM_16", format="WAV")


def parse_notes_csv(text: str, path: str | Path) -> dict[str, Note]:
    """The labels in the text of a `notes.csv` (header `file,instrument,program,pitch,velocity`)
    by file path relative to its folder. A malformed row raises `TimbrespaceError` naming `path`
    and the line."""
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(cell.strip() for cell in header) != CSV_HEADER:
        raise TimbrespaceError(
            f"{path}, line 1: expected the header {','.join(CSV_HEADER)}, got "
            f"{','.join(header or [])!r}"
        )
    labels: dict[str, Note] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        where = f"{path}, line {line}"
        if len(row) != len(CSV_HEADER):
            raise TimbrespaceError(f"{where}: expected {len(CSV_HEADER)} fields, got {len(row)}")
        file, instrument = row[0].strip(), row[1].strip()
        if not file or file.startswith("/") or "\\" in file or ".." in file.split("/"):
            raise TimbrespaceError(f"{where}: file {file!r} is not a path inside the folder")
        if not instrument:
            raise TimbrespaceError(f"{where}: empty instrument")
        program, pitch, velocity = (
            _int_field(row[column], CSV_HEADER[column], low, where)
            for column, low in ((2, 0), (3, 0), (4, 1))
        )
        if file in labels:
            raise TimbrespaceError(f"{where}: {file} is listed twice")
        labels[file] = Note(instrument, program, pitch, velocity)
    return labels


def _int_field(text: str, name: str, low: int, where: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise TimbrespaceError(f"{where}: {name} {text!r} is not an integer") from None
    if not low <= value <= 127:
        raise TimbrespaceError(f"{where}: {name} {value} is outside {low}…127")
    return value


@dataclass(frozen=True)
class NoteTable:
    """The note labels of a dataset's `notes.csv` (by source path) and the SHA-1 of its bytes."""

    labels: dict[str, Note]
    digest: str


def read_note_table(dataset: Path) -> NoteTable | None:
    """The labels of `dataset/notes.csv` (written by `timbrespace notes`), or None without one.
    A malformed row raises `TimbrespaceError` naming the file and line."""
    path = dataset / NOTES_CSV
    if not path.is_file():
        return None
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
    except OSError as error:
        raise TimbrespaceError(os_error(error, path, "cannot read")) from error
    except UnicodeDecodeError as error:
        raise TimbrespaceError(f"{path}: not UTF-8 text ({error.reason})") from error
    return NoteTable(parse_notes_csv(text, path), hashlib.sha1(data).hexdigest())
