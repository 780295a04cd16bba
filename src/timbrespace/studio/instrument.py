"""The studio's instrument panel as plain Python (the HTTP routes are `studio.instrument_routes`):
for a model played by pitch and loudness (the ddsp family, `input_kind == "f0_loudness"`), a
recording played by the instrument — an uploaded file or a file of the dataset folder — and
single notes for the page's keyboard. Both go through `timbrespace.instrument` (the inference
layer) on `studio.space.bundle`, one render at a time under the studio's model lock.

    sound = transfer_upload(studio, data, "voice.wav", Performance())   # octave, gain fitted
    sound.wav, sound.played["octave"], sound.notices
    note = play_note(studio, 69.0, 100.0, seconds=2.0)                   # A4, 2 s + release

Another model is refused (400, naming why); a file that is not audio is a 400 naming the file by
the name the user gave it (never the server's temporary path).
"""

from __future__ import annotations

import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from timbrespace import runtime
from timbrespace.audio.io import audio_info
from timbrespace.errors import TimbrespaceError
from timbrespace.inference import MAX_INPUT_SECONDS
from timbrespace.instrument import (
    MAX_OCTAVES,
    Performance,
    feature_model,
    playable_range,
    render_note,
    transfer,
)
from timbrespace.studio.errors import NotFound, StudioError, Unprocessable
from timbrespace.studio.files import AUDIO_TYPES, inside_root
from timbrespace.studio.states import wav_bytes

if TYPE_CHECKING:
    from timbrespace.space import LatentSpace
    from timbrespace.studio.service import Studio

INSTRUMENT_KIND = "f0_loudness"
"""The `input_kind` of a model played by pitch and loudness."""
UPLOAD_BYTES = 16 << 20
"""Largest uploaded file (16 MiB: 95 s of 16-bit stereo 44.1 kHz WAV, minutes of MP3 or FLAC;
the first `MAX_INPUT_SECONDS` of a longer recording are played)."""
SEMITONES = 48.0
LOUDNESS_DB = 60.0
REVERB = (0.0, 4.0)
"""Ranges of a performance's settings (as `instrument.Performance` checks them)."""
NOTE_SECONDS = (0.05, 10.0)
DEFAULT_NOTE_SECONDS = 2.0
"""How long a note is held before its release (the page fades it out at key-up)."""
NAME_CHARS = 120
FLAGS = {
    "--octave": "octave",
    "--semitones": "semitones",
    "--loudness-db": "loudness_db",
    "--reverb": "reverb",
}
"""The library's option names → this API's field names, in its messages."""


@dataclass
class Sound:
    """A render of the instrument: 16-bit WAV bytes, what was played (a transfer's octave,
    gain, voiced fraction…; None for a note), notices for the user and the render's time."""

    wav: bytes
    played: dict[str, Any] | None = None
    notices: list[str] = field(default_factory=list)
    render_ms: float = 0.0


def is_instrument(space: LatentSpace) -> bool:
    return space.model.input_kind == INSTRUMENT_KIND


def instrument_info(space: LatentSpace) -> dict[str, Any] | None:
    """The instrument part of `/api/info`: None for a model not played by pitch and loudness,
    else the pitches it plays (MIDI), the trained pitch and loudness ranges (5th–95th
    percentiles, null before training) and the ranges of the panel's settings."""
    if not is_instrument(space):
        return None
    model = feature_model(space.bundle, "the instrument panel")
    trained = model.trained_range()
    return {
        "pitch_range": list(playable_range(model)),
        "trained_pitch": None if trained is None else [float(v) for v in trained[0]],
        "trained_loudness": None if trained is None else [float(v) for v in trained[1]],
        "octaves": MAX_OCTAVES,
        "semitones": SEMITONES,
        "loudness_db": LOUDNESS_DB,
        "reverb": list(REVERB),
        "note_seconds": list(NOTE_SECONDS),
        "upload_bytes": UPLOAD_BYTES,
        "input_seconds": MAX_INPUT_SECONDS,
    }


def require_instrument(studio: Studio, what: str) -> None:
    """StudioError (400) naming `what` unless the studio's model is an instrument."""
    try:
        feature_model(studio.space.bundle, what)
    except TimbrespaceError as error:
        raise StudioError(str(error)) from None


def display_name(name: str) -> str:
    """An uploaded file's name as the messages show it: its last part, printable, bounded."""
    last = PurePosixPath(name.replace("\\", "/")).name
    shown = "".join(c for c in last if unicodedata.category(c)[0] != "C").strip()
    return shown[:NAME_CHARS] or "upload"


def _renamed(text: str, path: Path, label: str) -> str:
    """A library message for the user: the file named `label`, options named as fields."""
    text = text.replace(str(path), label)
    for flag, name in FLAGS.items():
        text = text.replace(flag, name)
    return text


def finished_wav(audio: np.ndarray, label: str, sample_rate: int, notices: list[str]) -> bytes:
    """Float32 `[1, samples]` → WAV bytes; a peak over full scale is scaled to 1 (noticed), a
    non-finite render refused (422)."""
    audio = np.asarray(audio, dtype=np.float32)
    if audio.size == 0 or not np.isfinite(audio).all():
        raise Unprocessable(f"{label}: the rendered audio is empty or not finite")
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        audio = audio / peak
        notices.append(f"{label}: peaked at {peak:.2f}; scaled to 1")
    return wav_bytes(audio, int(sample_rate))


# --- transfer ---------------------------------------------------------------------------------


def transfer_upload(studio: Studio, data: bytes, name: str, performance: Performance) -> Sound:
    """An uploaded audio file (its bytes; `name`: the user's file name, for messages and its
    format's suffix) played by the instrument. The bytes go to a temporary file, deleted after."""
    require_instrument(studio, "transfer")
    label = display_name(name)
    if not data:
        raise StudioError("body: no audio; send the audio file's bytes")
    if len(data) > UPLOAD_BYTES:
        raise StudioError(f"{label}: {len(data)} bytes; at most {UPLOAD_BYTES} are taken")
    suffix = Path(label).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="timbrespace-upload-") as folder:
        path = Path(folder) / f"upload{suffix if suffix in AUDIO_TYPES else ''}"
        path.write_bytes(data)
        return _transfer(studio, path, label, performance)


def transfer_dataset(studio: Studio, relative: str, performance: Performance) -> Sound:
    """The file at `relative` inside the dataset folder played by the instrument (paths
    leaving the folder are refused with 403, as everywhere in the studio)."""
    require_instrument(studio, "transfer")
    root = studio.require_root("playing a dataset file through the instrument")
    path = inside_root(root, relative)
    if not path.is_file():
        raise NotFound(f"path: {relative!r} is not a file in the dataset folder")
    return _transfer(studio, path, relative, performance)


def _transfer(studio: Studio, path: Path, label: str, performance: Performance) -> Sound:
    notices: list[str] = []
    try:
        seconds = audio_info(path).duration
    except TimbrespaceError as error:
        raise StudioError(_renamed(str(error), path, label)) from None
    if seconds > MAX_INPUT_SECONDS:
        notices.append(f"{label} lasts {seconds:.0f} s; played its first {MAX_INPUT_SECONDS:g} s")
    bundle = studio.space.bundle
    started = time.perf_counter()
    try:
        with studio.model_lock, runtime.threads("render"):
            audio, played = transfer(bundle, path, performance)
    except TimbrespaceError as error:
        raise StudioError(_renamed(str(error), path, label)) from None
    render_ms = 1000 * (time.perf_counter() - started)
    notices += [_renamed(notice, path, label) for notice in played.notices]
    wav = finished_wav(audio, label, bundle.sample_rate, notices)
    return Sound(
        wav=wav,
        played={
            "name": label,
            "octave": int(played.octave),
            "octave_fitted": performance.octave is None,
            "semitones": float(played.semitones),
            "loudness_db": float(played.loudness_db),
            "loudness_fitted": performance.loudness_db is None,
            "reverb": 1.0 if performance.reverb is None else float(performance.reverb),
            "voiced": float(played.voiced),
            "seconds": audio.shape[-1] / bundle.sample_rate,
        },
        notices=notices,
        render_ms=render_ms,
    )


# --- notes --------------------------------------------------------------------------------------


def play_note(
    studio: Studio,
    pitch: float,
    velocity: float = 100.0,
    *,
    seconds: float = DEFAULT_NOTE_SECONDS,
    performance: Performance | None = None,
) -> Sound:
    """One note: MIDI `pitch` (fractions are cents), `velocity` 1…127, held `seconds` then
    released (the tail included); a pitch the model does not play is a 400 naming it."""
    require_instrument(studio, "note")
    bundle = studio.space.bundle
    started = time.perf_counter()
    try:
        with studio.model_lock, runtime.threads("render"):
            audio = render_note(
                bundle, pitch, velocity, seconds=seconds, performance=performance or Performance()
            )
    except TimbrespaceError as error:
        raise StudioError(str(error)) from None
    render_ms = 1000 * (time.perf_counter() - started)
    notices: list[str] = []
    wav = finished_wav(audio, f"note {pitch:g}", bundle.sample_rate, notices)
    return Sound(wav=wav, notices=notices, render_ms=render_ms)
