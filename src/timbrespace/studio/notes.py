"""The studio's note panel as plain Python (the HTTP route is `studio.note_routes`): for a note
model (the fader family, `input_kind == "notes"`), one note — a MIDI pitch, a velocity and a
style mix — played from the studio's current latent point or from one drawn from the prior. The
work is `timbrespace.note_play`'s (the inference layer), one render at a time under the studio's
model lock.

    sound = play_note(studio, 60.0, 100.0, {"cello": 0.5, "flute": 0.5})        # current point
    sound = play_note(studio, 64.0, 90.0, {"flute": 1.0}, z="random", seed=3)   # from the prior
    sound.wav, sound.notices, sound.played["state"]

Another model is refused (400, with the message every face gives); a style the model was not
trained on, a weight beyond ±`MAX_WEIGHT`, a pitch more than `PITCH_MARGIN` semitones outside
the trained range or a velocity outside 1…127 is a 422 naming it. A pitch outside the trained
range but within the margin plays, with a notice.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch

from timbrespace import runtime
from timbrespace.errors import TimbrespaceError
from timbrespace.note_play import (
    MAX_WEIGHT,
    PITCH_MARGIN,
    VELOCITY_RANGE,
    Note,
    check_notes,
    prior_latents,
    render_notes,
    styles_of,
)
from timbrespace.studio.errors import StudioError, Unprocessable
from timbrespace.studio.instrument import Sound, finished_wav

if TYPE_CHECKING:
    from timbrespace.space import LatentSpace
    from timbrespace.studio.service import Studio

NOTES_KIND = "notes"
"""The `input_kind` of a model played by style, pitch and velocity."""
MIDI_RANGE = (0.0, 127.0)
MAX_STYLES = 64
"""Most style weights a request names."""
SEED_MAX = 2**31 - 1
DEFAULT_VELOCITY = 100.0
LatentSource = Literal["current", "random"]


def is_note_model(space: LatentSpace) -> bool:
    return space.model.input_kind == NOTES_KIND


def notes_info(space: LatentSpace) -> dict[str, Any] | None:
    """The notes part of `/api/info`: None for a model not played by notes, else its styles, the
    trained pitch range (MIDI, inclusive) and velocities, the pitches it renders (the trained
    range ± `PITCH_MARGIN`, with a notice outside the trained one) and the largest weight."""
    if not is_note_model(space):
        return None
    model = space.model
    low, high = (int(v) for v in model.config.pitch_range)
    slow, shigh = (int(v) for v in model.config.velocity_range)
    return {
        "styles": list(styles_of(model, "the notes panel")),
        "pitch_range": [low, high],
        "velocity_range": [slow, shigh],
        "playable_range": [
            max(int(MIDI_RANGE[0]), low - PITCH_MARGIN),
            min(int(MIDI_RANGE[1]), high + PITCH_MARGIN),
        ],
        "velocities": list(VELOCITY_RANGE),
        "max_weight": MAX_WEIGHT,
    }


def style_weights(styles: tuple[str, ...], weights: Mapping[str, float]) -> tuple[float, ...]:
    """A weight per style in `styles` order (styles not named weigh 0); an unknown style or a
    weight that is not finite or beyond ±`MAX_WEIGHT` is a 422 naming it."""
    for name, weight in weights.items():
        if name not in styles:
            raise Unprocessable(
                f"weights: no style {name!r} in this model; its styles: {', '.join(styles)}"
            )
        if not (math.isfinite(weight) and abs(weight) <= MAX_WEIGHT):
            raise Unprocessable(f"weights.{name}: {weight!r} is not within ±{MAX_WEIGHT:g}")
    return tuple(float(weights.get(name, 0.0)) for name in styles)


def note_latent(
    studio: Studio, z: LatentSource, seed: int, state: str | None
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The latent a note plays `[1, latent_dim, 1]` and how it was chosen: `random`, drawn
    from the prior with `seed`; `current`, the state `state` (the sound the page shows), else
    the state rendered or used last, else the data mean (before any render)."""
    if z == "random":
        if state is not None:
            raise Unprocessable("state: give a state only with z 'current'")
        return prior_latents(studio.space.model, 1, seed), {"z": "random", "seed": seed}
    chosen = studio.state(state) if state is not None else studio.states.latest()
    if chosen is None:
        return studio.resolve({"map": [0.0, 0.0]}, "z"), {"z": "current", "state": None}
    return chosen.z, {"z": "current", "state": chosen.id}


def play_note(
    studio: Studio,
    pitch: float,
    velocity: float,
    weights: Mapping[str, float],
    *,
    z: LatentSource = "current",
    seed: int = 0,
    state: str | None = None,
) -> Sound:
    """One note: MIDI `pitch` (fractions are cents), `velocity` 1…127, a weight per style
    (`{"cello": 0.5, "flute": 0.5}`), played from the latent `z` chooses (see `note_latent`).
    `played` says what was played; `notices` hold `check_notes`' warnings (a pitch outside the
    trained range) and a scaled peak."""
    model = studio.space.model
    try:
        styles = styles_of(model, "/api/notes/play")
    except TimbrespaceError as error:
        raise StudioError(str(error)) from None
    note = Note(float(pitch), float(velocity), style_weights(styles, weights))
    try:
        notices = check_notes(model, [note])
    except TimbrespaceError as error:
        raise Unprocessable(str(error)) from None
    latent, source = note_latent(studio, z, seed, state)
    started = time.perf_counter()
    try:
        with studio.model_lock, runtime.threads("render"):
            audio = render_notes(model, latent, [note])[0]
    except TimbrespaceError as error:
        raise Unprocessable(f"note: {error}") from None
    render_ms = 1000 * (time.perf_counter() - started)
    label = f"note {note.pitch:g}"
    wav = finished_wav(audio.numpy(), label, studio.space.sample_rate, notices)
    played = {
        "pitch": note.pitch,
        "velocity": note.velocity,
        "weights": dict(zip(styles, note.weights, strict=True)),
        **source,
    }
    return Sound(wav=wav, played=played, notices=notices, render_ms=render_ms)
