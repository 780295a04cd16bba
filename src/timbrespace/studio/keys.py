"""The keys panel's note: the current sound played at a MIDI pitch, as plain Python (the HTTP
route is `play_routes`). The pitch control sets the note: `Studio.render` moves the sound's
latent to the key's frequency (`LatentSpace.move`, the closed loop where the model has one), so
the note is the model's own sound at that pitch, not a resampled copy.

Only a model whose latent is a space of sounds with a `pitch` control plays here; a ddsp
instrument and a note model have their own keyboards (`/api/instrument/note`,
`/api/notes/play`) and are refused with a message naming them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from timbrespace.studio.errors import StudioError, Unprocessable
from timbrespace.studio.service import Studio
from timbrespace.studio.states import State

PITCH_CONTROL = "pitch"
OWN_KEYBOARDS = {
    "f0_loudness": "a ddsp instrument plays notes from its instrument panel (/api/instrument/note)",
    "notes": "a note model plays notes from its notes panel (/api/notes/play)",
}


def midi_hz(pitch: float) -> float:
    """MIDI pitch (fractions are cents / 100) → Hz, A4 = 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69.0) / 12.0)


def cents(measured_hz: float, hz: float) -> float | None:
    """How far `measured_hz` is from `hz`, in cents (None when nothing was measured)."""
    if not (math.isfinite(measured_hz) and measured_hz > 0):
        return None
    return 1200.0 * math.log2(measured_hz / hz)


@dataclass(frozen=True)
class KeyNote:
    """A rendered key: the state, the pitch asked (MIDI and Hz), the pitch the render measures
    (Hz, None when it has none), the error in cents and the render's time, ms."""

    state: State
    pitch: float
    hz: float
    measured_hz: float | None
    cents: float | None
    render_ms: float

    def played(self) -> dict[str, float | None]:
        """The `X-Note` header: what was asked and what the render measures."""
        return {
            "pitch": self.pitch,
            "hz": round(self.hz, 3),
            "measured_hz": None if self.measured_hz is None else round(self.measured_hz, 3),
            "cents": None if self.cents is None else round(self.cents, 1),
        }


def check_keys(studio: Studio) -> None:
    """Refuse (400) a model the keys panel does not play, saying which panel does."""
    kind = studio.space.model.input_kind
    if kind in OWN_KEYBOARDS:
        raise StudioError(f"keys: {OWN_KEYBOARDS[kind]}")
    if PITCH_CONTROL not in studio.space.controls:
        raise StudioError(
            "keys: this model has no pitch control (its analysis found no pitch to follow); "
            "play its pads instead"
        )


def key_note(
    studio: Studio,
    state: str,
    pitch: float,
    *,
    lock: Sequence[str] = (),
    extrapolate: bool = False,
) -> KeyNote:
    """Render state `state` moved to MIDI `pitch`. A pitch whose frequency lies beyond the
    pitch control's physical limits is a 422 naming `pitch`."""
    check_keys(studio)
    hz = midi_hz(pitch)
    control = studio.space.control(PITCH_CONTROL)
    if control.limits is not None:
        low, high = control.limits  # user units (Hz)
        if not low <= hz <= high:
            raise Unprocessable(
                f"pitch: MIDI {pitch:g} ({hz:.1f} Hz) is beyond what the pitch control reaches "
                f"({low:.0f} … {high:.0f} Hz)"
            )
    started = time.perf_counter()
    rendered = studio.render(
        {"state": state}, {PITCH_CONTROL: hz}, lock=lock, extrapolate=extrapolate
    )
    render_ms = 1000.0 * (time.perf_counter() - started)
    measured = rendered.measured.get(PITCH_CONTROL, math.nan)
    error = cents(measured, hz)
    return KeyNote(
        rendered, float(pitch), hz, None if error is None else measured, error, render_ms
    )
