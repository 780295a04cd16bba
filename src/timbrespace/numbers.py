"""Numbers as users type them in options and text syntaxes (`--amount 0,0.5,1.2`, curve
points): parsed, checked finite, and refused with a one-line error naming what they are.

Torch-free, so the CLI parses its options without loading the models.
"""

from __future__ import annotations

import math
import re

from timbrespace.errors import TimbrespaceError


def parse_number(text: str, what: str, label: str = "") -> float:
    """A finite float from `text`; errors read `LABEL: WHAT 'text' is not a (finite) number`."""
    prefix = f"{label}: " if label else ""
    try:
        value = float(text)
    except ValueError:
        raise TimbrespaceError(f"{prefix}{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise TimbrespaceError(f"{prefix}{what} {text.strip()!r} is not a finite number")
    return value


def parse_numbers(text: str, label: str, count: int | None = None) -> list[float]:
    """Comma-separated finite numbers, e.g. an `--amount` or `--xy` option (exactly `count` of
    them if given); errors start with `label`."""
    values = [parse_number(item, "value", label) for item in text.split(",")]
    if count is not None and len(values) != count:
        raise TimbrespaceError(f"{label}: expected {count} comma-separated numbers, got {text!r}")
    return values


def format_quantity(value: float, unit: str = "") -> str:
    """A value as a person reads it: 4 significant digits, whole numbers from 1000 up to 10⁷
    (`16600 Hz`, not `1.66e+04`), the unit after a space (`format_quantity(0.005, "s")` →
    `0.005 s`)."""
    text = f"{value:.0f}" if 1000 <= abs(value) < 1e7 else f"{value:.4g}"
    return f"{text} {unit}" if unit else text


NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


_LETTERS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_NOTE = re.compile(r"([a-g])([#b]?)(-?\d+)", re.IGNORECASE)


def midi_number(text: str) -> float | None:
    """The MIDI pitch a note name (`C4` = 60, `C#4` = `Db4` = 61, `C-1` = 0) or a number (`60`,
    `60.5`: fractions are cents/100) stands for, unbounded; None if `text` is no pitch."""
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        match = _NOTE.fullmatch(value)
        if match is None:
            return None
        letter, accidental, octave = match.groups()
        shift = {"#": 1, "b": -1, "": 0}[accidental.lower()]
        return float(12 * (int(octave) + 1) + _LETTERS[letter.lower()] + shift)
    return number if math.isfinite(number) else None


def parse_pitch(text: str, label: str = "pitch") -> float:
    """A MIDI pitch in 0…127 from a note name or a number (see `midi_number`); errors start
    with `label`."""
    value = midi_number(text)
    if value is None:
        raise TimbrespaceError(
            f"{label}: {text.strip()!r} is not a pitch; give a note name (C4, F#3, Bb2; C4 = 60) "
            "or a MIDI number"
        )
    if not 0 <= value <= 127:
        raise TimbrespaceError(f"{label}: {text.strip()!r} is MIDI {value:g}, outside 0…127")
    return value


def midi_to_hz(pitch: float) -> float:
    """MIDI pitch (60 = C4, fractions are cents/100) → Hz (A4 = 440 Hz)."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def hz_to_midi(hz: float) -> float:
    """Hz → MIDI pitch (A4 = 440 Hz = 69), fractional."""
    return 69.0 + 12.0 * math.log2(hz / 440.0)


def note_name(hz: float, near: float | None = None) -> str:
    """The nearest equal-tempered note (A4 = 440 Hz) and the offset from it in cents:
    `note_name(440)` → `A4`, `note_name(333.3)` → `E4 +19c`, a quarter tone from the note above
    (`C#5 -50c`, never `C5 +50c`); `—` when not a positive frequency. `near` (Hz): a pitch this
    one is read against (a request); within a semitone of its note, the offset is taken from
    that note (`note_name(359.2, near=359.5)` → `F#4 -51c`, not `F4 +49c`)."""
    if not math.isfinite(hz) or hz <= 0:
        return "—"
    midi = 69 + 12 * math.log2(hz / 440.0)
    nearest = _nearest_note(midi)
    if near is not None and math.isfinite(near) and near > 0:
        ref = _nearest_note(69 + 12 * math.log2(near / 440.0))
        nearest = ref if abs(midi - ref) < 1.0 else nearest
    cents = round(100 * (midi - nearest))
    name = f"{NOTE_NAMES[nearest % 12]}{nearest // 12 - 1}"
    return name if cents == 0 else f"{name} {cents:+d}c"


def _nearest_note(midi: float) -> int:
    """The MIDI note a pitch `midi` is named from: the nearest, the one above at a quarter tone
    however it rounds."""
    nearest = round(midi)
    return nearest + 1 if round(100 * (midi - nearest)) == 50 else nearest


def format_pitch(hz: float, near: float | None = None) -> str:
    """A frequency as a musician reads it: `333.3 Hz (E4 +19c)` (`near`: see `note_name`)."""
    return f"{format_quantity(hz, 'Hz')} ({note_name(hz, near)})"


def format_reading(
    value: float, unit: str = "", *, pitch: bool = False, near: float | None = None
) -> str:
    """A measured or requested value in the unit a musician reads: a pitch with its note name
    (`329.6 Hz (E4)`; `near`: the request it is read against, see `note_name`), times under a
    second in ms (`4.8 ms`), else `format_quantity`."""
    if pitch:
        return format_pitch(value, near)
    if unit == "s" and math.isfinite(value) and abs(value) < 1.0:
        return format_quantity(1000.0 * value, "ms")
    return format_quantity(value, unit)
