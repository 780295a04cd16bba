"""The note panel's HTTP route (contract: `API.md`, "Notes"); the work is `studio.notes`'. Only a
note model (the fader family) answers it; another gets 400.

- `POST /api/notes/play` — JSON `{"pitch": 60, "velocity": 100, "weights": {"cello": 0.5,
  "flute": 0.5}, "z": "current", "seed": 0, "state": null}`.

It answers a 16-bit WAV with `X-Played` (JSON: pitch, velocity, a weight per style, and the
latent played: `z` and its `state` or `seed`), `X-Warnings` (JSON list of notices) and
`Server-Timing: render;dur=<ms>`, as the instrument routes do.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI
from fastapi.responses import Response
from pydantic import Field, Strict, StringConstraints, model_validator

from timbrespace.note_play import MAX_WEIGHT
from timbrespace.studio.instrument_routes import (
    InstrumentBody,
    Pitch,
    Velocity,
    sound_response,
)
from timbrespace.studio.notes import (
    DEFAULT_VELOCITY,
    MAX_STYLES,
    SEED_MAX,
    LatentSource,
    play_note,
)
from timbrespace.studio.responses import wav_doc
from timbrespace.studio.service import Studio
from timbrespace.studio.states import StateId

NOTE_PLAY_PATH = "/api/notes/play"

StyleName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Weight = Annotated[float, Strict(), Field(ge=-MAX_WEIGHT, le=MAX_WEIGHT, allow_inf_nan=False)]
Seed = Annotated[int, Strict(), Field(ge=0, le=SEED_MAX)]

NOTE_HEADERS = {
    "X-Played": "JSON: pitch, velocity, weights {style: weight}, z, and state (current) or seed",
    "X-Warnings": "JSON list of notices (a pitch outside the trained range, a scaled peak)",
    "Server-Timing": "render;dur=<ms the model took>",
}


class NotePlayRequest(InstrumentBody):
    """One note: `weights` names trained styles (the others weigh 0); `z` `current` plays
    `state` (default: the studio's last state), `random` draws from the prior with `seed`."""

    pitch: Pitch
    velocity: Velocity = DEFAULT_VELOCITY
    weights: Annotated[dict[StyleName, Weight], Field(max_length=MAX_STYLES)]
    z: LatentSource = "current"
    seed: Seed = 0
    state: StateId | None = None

    @model_validator(mode="after")
    def _state_with_current(self) -> NotePlayRequest:
        if self.state is not None and self.z != "current":
            raise ValueError("give state only with z 'current'")
        return self


def add_note_routes(app: FastAPI, studio: Studio) -> None:
    """Register the note route on `app` (before its catch-all `/api/…` route)."""

    @app.post(
        NOTE_PLAY_PATH,
        response_class=Response,
        responses=wav_doc(400, 403, 404, 408, 413, 415, 422, headers=NOTE_HEADERS),
    )
    def play(request: NotePlayRequest) -> Response:
        """One note of a note model: a pitch and velocity in a style mix, from the current
        latent point or one drawn from the prior."""
        sound = play_note(
            studio,
            request.pitch,
            request.velocity,
            request.weights,
            z=request.z,
            seed=request.seed,
            state=request.state,
        )
        return sound_response(sound)
