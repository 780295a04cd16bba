"""The text of control requests: settings `NAME=VALUE[UNIT]` (`pitch=+3st`, `attack=5ms`) and
sweeps `NAME=START:STOP:STEPS`, parsed and turned into targets on a control's scale.

Units: "", st, %, Hz (kHz), s (ms), dB. Semitones and percent are relative (they scale the
quantity); `NAME+=V` / `NAME-=V` add in the control's unit; a plain value is absolute.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch

from timbrespace.audio.descriptors import from_scale, to_scale
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import Array, as_float64
from timbrespace.limits import LIMITS

if TYPE_CHECKING:
    from timbrespace.latent.control import Control

UNITS = {
    "": ("", 1.0),
    "st": ("st", 1.0),
    "%": ("%", 1.0),
    "hz": ("Hz", 1.0),
    "khz": ("Hz", 1000.0),
    "s": ("s", 1.0),
    "ms": ("s", 1e-3),
    "db": ("dB", 1.0),
    "c": ("st", 0.01),
    "cent": ("st", 0.01),
    "cents": ("st", 0.01),
}
RATIO_UNITS = ("st", "%")
SETTING_PATTERN = re.compile(
    r"^\s*(?P<name>[^=]+?)\s*(?P<op>[+-]?=)\s*"
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<unit>[^\s\d.+-]*)\s*$"
)
NOTE_PATTERN = re.compile(
    r"^\s*(?P<name>[^=+-]+?)\s*=\s*(?P<letter>[A-Ga-g])(?P<accidental>[#b♯♭]?)(?P<octave>-?\d+)\s*$"
)
NOTE_CLASSES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
SETTING_EXAMPLES = (
    "e.g. pitch=+3st, pitch=-50c, pitch=440Hz, pitch=C#3, attack=5ms, loudness=-12dB, pca1=1.5, "
    "decay=+20%"
)


def note_hz(letter: str, accidental: str = "", octave: int = 4) -> float:
    """Equal-tempered frequency (Hz) of a note name, A4 = 440 Hz: `note_hz("C", "#", 3)` ≈ 138.59."""
    step = NOTE_CLASSES[letter.lower()] + {"": 0, "#": 1, "♯": 1, "b": -1, "♭": -1}[accidental]
    midi = 12 * (octave + 1) + step
    return 440.0 * 2.0 ** ((midi - 69) / 12)


@dataclass(frozen=True)
class Setting:
    """A parsed user request `NAME=VALUE[UNIT]`.

    unit is one of "", "st", "%", "Hz", "s", "dB" (kHz and ms are converted). relative: the value
    moves the current one (semitones and percent always do; `NAME+=V` / `NAME-=V` in any unit).
    """

    name: str
    value: float
    relative: bool
    unit: str
    bounds: tuple[float, float] | None = None
    """Where a relative target is clamped (the control's scale): the closed loop takes a
    relative setting from the *measured* start, which the open-loop move's limits never saw."""


def unknown_control(name: str, known: Iterable[str]) -> TimbrespaceError:
    """The error for a control name that doesn't exist, listing the known ones."""
    names = ", ".join(sorted(known)) or "none"
    return TimbrespaceError(f"unknown control {name!r}; known controls: {names}")


def parse_setting(text: str, known: Iterable[str] | None = None) -> Setting:
    """Parse `pitch=+3st`, `pitch=-50c` (cents), `pitch=440Hz`, `pitch=C#3` (a note name, A4 =
    440 Hz), `attack=5ms`, `loudness=-12dB`, `pca1=1.5`, `x=+20%`.

    `known`: if given, the control names allowed (an unknown one raises, listing them).
    """
    note = NOTE_PATTERN.match(text)
    if note is not None:
        name = note["name"]
        if known is not None and name not in set(known):
            raise unknown_control(name, known)
        hz = note_hz(note["letter"], note["accidental"], int(note["octave"]))
        return Setting(name, hz, False, "Hz")
    match = SETTING_PATTERN.match(text)
    if match is None:
        raise TimbrespaceError(f"{text!r}: expected NAME=VALUE[UNIT], {SETTING_EXAMPLES}")
    name, op = match["name"], match["op"]
    if known is not None and name not in set(known):
        raise unknown_control(name, known)
    unit_key = match["unit"].lower()
    if unit_key not in UNITS:
        raise TimbrespaceError(
            f"{text!r}: unknown unit {match['unit']!r} (known: st, c, %, Hz, kHz, s, ms, dB)"
        )
    unit, factor = UNITS[unit_key]
    value = float(match["number"]) * factor * (-1.0 if op == "-=" else 1.0)
    return Setting(name, value, op != "=" or unit in RATIO_UNITS, unit)


def _semitone_shift(setting: Setting) -> float:
    if setting.unit == "st":
        return setting.value
    ratio = 1.0 + setting.value / 100.0
    if ratio <= 0:
        raise TimbrespaceError(f"{setting.name}: {setting.value:+g}% would make it non-positive")
    return 12.0 * math.log2(ratio)


def setting_target(setting: Setting, control: Control, current: Array) -> torch.Tensor:
    """The target on the control's scale for `setting`, given the current values (any shape).

    st and % scale the quantity in `unit` (st: by 2^(n/12), only for Hz controls); `+=` adds in
    `unit`; an absolute value is in `unit` (no unit given = the control's unit).
    """
    current64 = as_float64(current)
    unit = control.unit or "no unit"
    if setting.unit == "st" and control.unit != "Hz":
        raise TimbrespaceError(f"{setting.name}: semitones need a control in Hz (it has {unit})")
    if setting.unit not in ("", control.unit, *RATIO_UNITS):
        raise TimbrespaceError(f"{setting.name}: set in {unit}, not {setting.unit}")
    if not setting.relative:
        return torch.full_like(current64, control.from_user(setting.value))
    target = _relative_target(setting, control, current64)
    return target if setting.bounds is None else target.clamp(*setting.bounds)


def _relative_target(setting: Setting, control: Control, current: torch.Tensor) -> torch.Tensor:
    if setting.unit in RATIO_UNITS:
        shift = _semitone_shift(setting)
        if control.scale == "semitones":
            return current + shift
        if control.scale == "log":
            return current + shift * math.log(2.0) / 12.0
        return current * 2.0 ** (shift / 12.0)
    user = as_float64(from_scale(current, control.scale)) + setting.value
    target = torch.from_numpy(to_scale(user.numpy(), control.scale))
    if not bool(torch.isfinite(target).all()):
        raise TimbrespaceError(
            f"{setting.name}: moving by {setting.value:+g}{setting.unit} makes it non-positive"
        )
    return target


def parse_settings(
    settings: Sequence[str | Setting] | Mapping[str, float], known: Iterable[str] | None = None
) -> list[Setting]:
    """Settings from `NAME=VALUE` texts or `Setting`s, or `{name: value in its unit}`."""
    if isinstance(settings, Mapping):
        return [Setting(name, float(v), False, "") for name, v in settings.items()]
    return [s if isinstance(s, Setting) else parse_setting(s, known) for s in settings]


def bounded(setting: Setting, control: Control, extrapolate: bool) -> Setting:
    """`setting` with the bounds of `control` when it is relative: its physical range, within
    its data range unless `extrapolate` (as the open-loop move clamps)."""
    if not setting.relative:
        return setting
    low, high = control.scaled_limits()
    if control.range is not None and not extrapolate:
        low, high = max(low, control.range[0]), min(high, control.range[1])
    return replace(setting, bounds=(low, high))


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep `NAME=START:STOP:STEPS`: `steps` evenly spaced targets on the control's
    scale (so Hz sweep in equal semitone steps) from `start` to `stop`, each a `Setting`."""

    name: str
    start: Setting
    stop: Setting
    steps: int


SWEEP_EXAMPLES = "e.g. pitch=-12st:+12st:9, attack=1ms:50ms:5, pca1=-2:2:5, loudness+=-6dB:+6dB:3"


def parse_sweep(text: str, known: Iterable[str] | None = None) -> Sweep:
    """Parse `pitch=-12st:+12st:9` (relative), `attack=1ms:50ms:5` (absolute) or
    `loudness+=-6dB:+6dB:3` (`+=`: both ends relative to the current value)."""
    name, op, rest = text.partition("+=") if "+=" in text else text.partition("=")
    parts = rest.split(":")
    if not op or len(parts) != 3:
        raise TimbrespaceError(
            f"--sweep {text!r}: expected NAME=START:STOP:STEPS, {SWEEP_EXAMPLES}"
        )
    try:
        steps = int(parts[2])
    except ValueError:
        raise TimbrespaceError(f"--sweep {text!r}: STEPS must be a whole number") from None
    low, high = (int(v) for v in (LIMITS["sweep_steps"].low, LIMITS["sweep_steps"].high))
    if not low <= steps <= high:
        raise TimbrespaceError(f"--sweep {text!r}: STEPS must be between {low} and {high}")
    start, stop = (parse_setting(f"{name}{op}{value}", known) for value in parts[:2])
    return Sweep(start.name, start, stop, steps)


def sweep_targets(sweep: Sweep, control: Control, current: Array) -> torch.Tensor:
    """Targets `[batch, steps, frames]` on the control's scale for current values `[batch, frames]`."""
    current64 = as_float64(current)
    first = setting_target(sweep.start, control, current64)
    last = setting_target(sweep.stop, control, current64)
    fraction = torch.linspace(0.0, 1.0, sweep.steps, dtype=torch.float64)[None, :, None]
    return first[:, None] + (last - first)[:, None] * fraction
