"""The studio's pads and step sequencer, as plain Python (the HTTP routes are `play_routes`).

A `PadBank` holds up to `PADS` rendered sounds (states kept apart from the render LRU, so a
pad outlives the states that scroll past it). A pattern gives every pad row `STEPS` steps of
one bar of sixteenth notes, each a MIDI velocity (0: silent); `render_loop` mixes the pads'
sounds at those steps into one loop, sample-exact, as the page's sequencer schedules them:

    step k of bar b starts at (b·STEPS + k)·s + (k odd) · (swing/100 − ½)·2s,  s = 60 / bpm / 4

so swing 50 % is straight and 66.7 % puts every second sixteenth on the triplet (MPC-style
swing). A hit sounds at velocity/127 of its amplitude. With `wrap` the loop is exactly `bars`
bars long and the tails ringing past its end are added at its start (it loops seamlessly);
without, it runs on until the last hit has rung out.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from timbrespace.audio.io import resample
from timbrespace.limits import PACK_BITS, PACK_RATES
from timbrespace.pack import SUBTYPES, safe_name, unique_names
from timbrespace.studio.errors import NotFound, StudioError
from timbrespace.studio.states import State

PADS = 16
STEPS = 16
"""Steps of one bar of a pad row: sixteenth notes."""
BPM = (20.0, 300.0)
SWING = (50.0, 75.0)
"""Swing in percent: 50 straight, 66.7 triplet."""
VELOCITY_MAX = 127
BARS = (1, 16)
LABEL_CHARS = 200
LOOP_RATE = 44100
"""Default rate of an exported loop and kit, Hz."""
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def limits() -> dict[str, object]:
    """The pads' limits as the page reads them (`GET /api/pads`)."""
    return {
        "pads": PADS,
        "steps": STEPS,
        "bpm": list(BPM),
        "swing": list(SWING),
        "velocity": [0, VELOCITY_MAX],
        "bars": list(BARS),
        "rates": list(PACK_RATES),
        "bits": list(PACK_BITS),
        "label_chars": LABEL_CHARS,
    }


@dataclass(frozen=True)
class Pad:
    """A sound on a pad: the rendered state, the label the page gave it and the sample rate
    of the state's audio (the model's), Hz."""

    state: State
    label: str
    rate: int


class PadBank:
    """`PADS` pads, each empty or holding a `Pad` (thread-safe)."""

    def __init__(self, size: int = PADS) -> None:
        self._pads: list[Pad | None] = [None] * size
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._pads)

    def _check(self, pad: int) -> None:
        if not 0 <= pad < len(self._pads):
            raise NotFound(f"pad: no pad {pad}; pads are 0 … {len(self._pads) - 1}")

    def set(self, pad: int, state: State | None, label: str = "", rate: int = 0) -> None:
        """Put `state` (audio at `rate` Hz) on `pad`; None empties it."""
        self._check(pad)
        with self._lock:
            self._pads[pad] = None if state is None else Pad(state, label, rate)

    def get(self, pad: int) -> Pad:
        """The sound on `pad`; NotFound if it is empty."""
        self._check(pad)
        with self._lock:
            held = self._pads[pad]
        if held is None:
            raise NotFound(f"pad {pad}: empty; assign a sound to it first")
        return held

    def filled(self) -> list[tuple[int, Pad]]:
        with self._lock:
            return [(i, pad) for i, pad in enumerate(self._pads) if pad is not None]

    def describe(self) -> list[dict[str, object]]:
        """Every pad as JSON: `{"pad", "state", "label", "seconds"}` (nulls when empty)."""
        with self._lock:
            pads = list(self._pads)
        out: list[dict[str, object]] = []
        for i, pad in enumerate(pads):
            if pad is None:
                out.append({"pad": i, "state": None, "label": None, "seconds": None})
            else:
                seconds = pad.state.audio.shape[-1] / pad.rate
                out.append(
                    {"pad": i, "state": pad.state.id, "label": pad.label, "seconds": seconds}
                )
        return out


# --- the loop -------------------------------------------------------------------------------------


def step_times(bpm: float, swing: float, bars: int = 1, steps: int = STEPS) -> np.ndarray:
    """The start of every step of `bars` bars in seconds, `[bars · steps]` (see the module)."""
    sixteenth = 60.0 / bpm / 4.0
    k = np.arange(bars * steps)
    late = (k % 2 == 1) * (swing / 100.0 - 0.5) * 2.0 * sixteenth
    return k * sixteenth + late


def loop_seconds(bpm: float, bars: int = 1, steps: int = STEPS) -> float:
    """The length of `bars` bars of `steps` sixteenths, s."""
    return bars * steps * 60.0 / bpm / 4.0


def render_loop(
    sounds: Sequence[np.ndarray],
    rows: Sequence[Sequence[int]],
    *,
    bpm: float,
    swing: float = 50.0,
    bars: int = 1,
    rate: int = LOOP_RATE,
    wrap: bool = True,
) -> np.ndarray:
    """Mix `sounds` (each `[channels, samples]` float at `rate`) at the steps of `rows` (one
    row of `STEPS` velocities 0 … 127 per sound) over `bars` bars → `[channels, samples]`
    float32 (mono sounds spread on every channel of a stereo one). Not scaled: the caller
    decides what to do with a peak over 1."""
    if len(sounds) != len(rows):
        raise ValueError(f"{len(sounds)} sounds for {len(rows)} rows")
    channels = max((s.shape[0] for s in sounds), default=1)
    times = step_times(bpm, swing, bars, STEPS)
    starts = np.round(times * rate).astype(np.int64)
    length = round(loop_seconds(bpm, bars) * rate)
    ends = [
        int(starts[b * STEPS + k]) + sound.shape[-1]
        for sound, row in zip(sounds, rows, strict=True)
        for b in range(bars)
        for k, velocity in enumerate(row)
        if velocity > 0
    ]
    total = max([length, *ends])
    out = np.zeros((channels, total), dtype=np.float64)
    for sound, row in zip(sounds, rows, strict=True):
        for b in range(bars):
            for k, velocity in enumerate(row):
                if velocity <= 0:
                    continue
                start = int(starts[b * STEPS + k])
                out[:, start : start + sound.shape[-1]] += (velocity / VELOCITY_MAX) * sound
    if not wrap:
        return out.astype(np.float32)
    looped = out[:, :length].copy()
    for first in range(length, total, length):  # tails past the end come round to the start
        tail = out[:, first : first + length]
        looped[:, : tail.shape[-1]] += tail
    return looped.astype(np.float32)


def fit_peak(audio: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """`audio` scaled to a peak of 1 if it goes over, with a notice naming `what`."""
    peak = float(np.max(np.abs(audio), initial=0.0))
    if peak <= 1.0:
        return audio, []
    notice = f"{what}: peaks at {20 * math.log10(peak):+.1f} dBFS; scaled to 0 dBFS"
    return (audio / peak).astype(np.float32), [notice]


def wav_at(audio: np.ndarray, rate: int, bits: int) -> bytes:
    """Float audio `[channels, samples]` → WAV bytes of `bits` (16 or 24) at `rate`."""
    buffer = io.BytesIO()
    data = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0).T
    sf.write(buffer, data, rate, format="WAV", subtype=SUBTYPES[bits])
    return buffer.getvalue()


def pad_audio(pad: Pad, rate: int) -> np.ndarray:
    """A pad's sound `[channels, samples]` resampled (soxr) to `rate`."""
    return resample(np.asarray(pad.state.audio, dtype=np.float32), pad.rate, rate)


def loop_of(
    bank: PadBank,
    rows: Sequence[tuple[int, Sequence[int]]],
    *,
    bpm: float,
    swing: float,
    bars: int,
    rate: int,
    wrap: bool,
) -> tuple[np.ndarray, list[str]]:
    """The loop of `rows` (`(pad, velocities)`, each pad once) from the bank's sounds, its peak
    fitted: (audio, notices). A row on an empty pad is a 404; a pattern with no hit a 400."""
    pads = [pad for pad, _ in rows]
    twice = sorted({p for p in pads if pads.count(p) > 1})
    if twice:
        raise StudioError(f"rows: pad {twice[0]} has two rows; give each pad one row")
    playing = [(pad, steps) for pad, steps in rows if any(v > 0 for v in steps)]
    if not playing:
        raise StudioError("rows: no step is on; switch on at least one step")
    sounds = [pad_audio(bank.get(pad), rate) for pad, _ in playing]
    audio = render_loop(
        sounds,
        [steps for _, steps in playing],
        bpm=bpm,
        swing=swing,
        bars=bars,
        rate=rate,
        wrap=wrap,
    )
    return fit_peak(audio, "loop")


def loop_name(bpm: float, swing: float, bars: int) -> str:
    """The file name of a loop: `loop_120bpm_1bar.wav`, `loop_96bpm_swing62_2bars.wav`."""
    parts = [f"loop_{bpm:g}bpm"]
    if swing != SWING[0]:
        parts.append(f"swing{swing:g}")
    parts.append(f"{bars}bar" + ("s" if bars > 1 else ""))
    return safe_name("_".join(parts)) + ".wav"


# --- the kit --------------------------------------------------------------------------------------


def note_name(hz: float) -> str | None:
    """The nearest note of `hz` (`A3`), or None when it is not a pitch."""
    if not math.isfinite(hz) or hz <= 0:
        return None
    midi = round(69 + 12 * math.log2(hz / 440.0))
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def kit_names(pads: Sequence[tuple[int, Pad]]) -> list[str]:
    """A descriptive file name per pad: its number, its label, and the note it measures when it
    has a pitch and the label does not say it: `03_pluck_0004_pitch=220Hz_A3.wav`."""
    stems = []
    for index, pad in pads:
        label = re.sub(r"\.(wav|flac|aiff?|ogg|mp3)\b", "", pad.label, flags=re.IGNORECASE)
        label = re.sub(r"[^\s/]*/", "", label)  # folders of a dataset path
        label = re.sub(r"\s*[·,;]\s*|\s+", "_", label.strip())
        stem = f"{index + 1:02d}_{safe_name(label or 'sound')}"
        note = note_name(pad.state.measured.get("pitch", math.nan))
        if note and note not in stem:
            stem += f"_{note}"
        stems.append(stem)
    return [f"{stem}.wav" for stem in unique_names(stems)]
