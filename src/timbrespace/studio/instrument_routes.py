"""The instrument panel's HTTP routes (contract: `API.md`, "Instrument"); the work is
`studio.instrument`'s. Only a model played by pitch and loudness answers them; another gets 400.

- `POST /api/instrument/transfer?octave=&semitones=&loudness_db=&reverb=&name=` — the body is
  the audio file itself (`application/octet-stream` or `audio/*`, at most `UPLOAD_BYTES`: the
  one route with its own body limit and time, see `guards.Upload`);
- `POST /api/instrument/transfer/dataset` — JSON `{"path": "Pack/a.wav", "octave": null, …}`,
  a file inside the dataset folder;
- `POST /api/instrument/note` — JSON `{"pitch": 69, "velocity": 100, "seconds": 2, …}`.

Each answers a 16-bit WAV with `X-Played` (a transfer: JSON of what was played),
`X-Warnings` (JSON list of notices) and `Server-Timing: render;dur=<ms>`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, FastAPI, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints

from timbrespace.instrument import MAX_OCTAVES, Performance
from timbrespace.studio.guards import Upload
from timbrespace.studio.instrument import (
    DEFAULT_NOTE_SECONDS,
    LOUDNESS_DB,
    NOTE_SECONDS,
    REVERB,
    SEMITONES,
    UPLOAD_BYTES,
    Sound,
    play_note,
    transfer_dataset,
    transfer_upload,
)
from timbrespace.studio.responses import errors, header_json, wav_doc
from timbrespace.studio.service import Studio

TRANSFER_PATH = "/api/instrument/transfer"
UPLOADS = {TRANSFER_PATH: Upload(limit=UPLOAD_BYTES)}
"""The routes whose body is a file, for `guards.StudioGuard`."""

Octave = Annotated[int, Strict(), Field(ge=-MAX_OCTAVES, le=MAX_OCTAVES)]
Semitones = Annotated[float, Strict(), Field(ge=-SEMITONES, le=SEMITONES, allow_inf_nan=False)]
LoudnessDb = Annotated[float, Strict(), Field(ge=-LOUDNESS_DB, le=LOUDNESS_DB, allow_inf_nan=False)]
Reverb = Annotated[float, Strict(), Field(ge=REVERB[0], le=REVERB[1], allow_inf_nan=False)]
Pitch = Annotated[float, Strict(), Field(ge=0.0, le=127.0, allow_inf_nan=False)]
Velocity = Annotated[float, Strict(), Field(ge=1.0, le=127.0, allow_inf_nan=False)]
NoteSeconds = Annotated[
    float, Strict(), Field(ge=NOTE_SECONDS[0], le=NOTE_SECONDS[1], allow_inf_nan=False)
]

SOUND_HEADERS = {
    "X-Played": "JSON: what was played (octave, semitones, loudness_db, reverb, voiced, …)",
    "X-Warnings": "JSON list of notices (few voiced frames, a cut input, a scaled peak)",
    "Server-Timing": "render;dur=<ms the model took>",
}
UPLOAD_DOC = {
    **wav_doc(400, 403, 408, 413, 415, 422, headers=SOUND_HEADERS),
    413: {**errors(413)[413], "description": f"An upload over {UPLOAD_BYTES >> 20} MiB"},
    415: {
        **errors(415)[415],
        "description": "A body that is not application/octet-stream or audio/*",
    },
}


class InstrumentBody(BaseModel):
    """As `app.Body`: unknown keys refused, numbers strict."""

    model_config = ConfigDict(extra="forbid")


class PerformanceBody(InstrumentBody):
    """How to play a recording; null octave / loudness_db: fitted to the trained range."""

    octave: Octave | None = None
    semitones: Semitones = 0.0
    loudness_db: LoudnessDb | None = None
    reverb: Reverb = 1.0

    def performance(self) -> Performance:
        return Performance(
            octave=self.octave,
            semitones=self.semitones,
            loudness_db=self.loudness_db,
            reverb=self.reverb,
        )


class DatasetTransferRequest(PerformanceBody):
    path: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class NoteRequest(InstrumentBody):
    pitch: Pitch
    velocity: Velocity = 100.0
    seconds: NoteSeconds = DEFAULT_NOTE_SECONDS
    semitones: Semitones = 0.0
    loudness_db: LoudnessDb = 0.0
    reverb: Reverb = 1.0

    def performance(self) -> Performance:
        return Performance(
            semitones=self.semitones, loudness_db=self.loudness_db, reverb=self.reverb
        )


def sound_response(sound: Sound) -> Response:
    """A render of the instrument as `audio/wav` with its `X-Played`, `X-Warnings` and
    `Server-Timing` headers."""
    headers = {
        "X-Warnings": header_json(sound.notices),
        "Server-Timing": f"render;dur={sound.render_ms:.1f}",
        "Cache-Control": "no-store",
    }
    if sound.played is not None:
        headers["X-Played"] = header_json(sound.played)
    return Response(sound.wav, media_type="audio/wav", headers=headers)


def add_instrument_routes(app: FastAPI, studio: Studio) -> None:
    """Register the instrument routes on `app` (before its catch-all `/api/…` route)."""

    @app.post(TRANSFER_PATH, response_class=Response, responses=UPLOAD_DOC)
    def transfer(
        audio: Annotated[bytes, Body(media_type="application/octet-stream")] = b"",
        name: Annotated[str, Query(max_length=255)] = "upload",
        octave: Annotated[int | None, Query(ge=-MAX_OCTAVES, le=MAX_OCTAVES)] = None,
        semitones: Annotated[float, Query(ge=-SEMITONES, le=SEMITONES, allow_inf_nan=False)] = 0.0,
        loudness_db: Annotated[
            float | None, Query(ge=-LOUDNESS_DB, le=LOUDNESS_DB, allow_inf_nan=False)
        ] = None,
        reverb: Annotated[float, Query(ge=REVERB[0], le=REVERB[1], allow_inf_nan=False)] = 1.0,
    ) -> Response:
        """Play the uploaded audio file (the body) through the instrument; octave and
        loudness_db absent: fitted to what the model learned."""
        performance = PerformanceBody(
            octave=octave, semitones=semitones, loudness_db=loudness_db, reverb=reverb
        ).performance()
        return sound_response(transfer_upload(studio, audio, name, performance))

    @app.post(
        f"{TRANSFER_PATH}/dataset",
        response_class=Response,
        responses=wav_doc(400, 403, 404, 408, 413, 415, 422, headers=SOUND_HEADERS),
    )
    def transfer_from_dataset(request: DatasetTransferRequest) -> Response:
        """Play a file of the dataset folder (`path` relative to it) through the instrument."""
        return sound_response(transfer_dataset(studio, request.path, request.performance()))

    @app.post(
        "/api/instrument/note",
        response_class=Response,
        responses=wav_doc(400, 403, 408, 413, 415, 422, headers=SOUND_HEADERS),
    )
    def note(request: NoteRequest) -> Response:
        """One note held `seconds`, then released (its tail included)."""
        sound = play_note(
            studio,
            request.pitch,
            request.velocity,
            seconds=request.seconds,
            performance=request.performance(),
        )
        return sound_response(sound)
