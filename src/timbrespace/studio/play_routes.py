"""The play panel's HTTP routes (contract: `API.md`, "Keys, pads and packs"): the current sound
played from a keyboard, the pads and their step sequencer, kits and sample packs written to the
export folder. The work is `studio.keys`', `studio.pads`' and `studio.pack_export`'s.

- `POST /api/keys/note` — `{"state": id, "pitch": 60}`: the sound moved to a MIDI pitch → WAV
  with the state headers, `X-Note` and `Server-Timing`;
- `GET /api/pads`, `POST /api/pads/{pad}` (`{"state": id | null, "label": "kick"}`),
  `GET /api/pads/{pad}/wav` — the pads;
- `POST /api/pads/loop` — a pattern mixed into a loop → WAV (44.1 or 48 kHz) with `X-Loop`;
- `POST /api/pads/kit` — every filled pad (and the loop) written to `kits/NAME/`;
- `POST /api/pack` — N variations of a state written to `packs/NAME/` with `pack.csv`;
- `GET /api/exports/{path}` — a file of the export folder, as a download.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints

from timbrespace.limits import PACK_BITS, PACK_RATES, SOUNDS_MAX
from timbrespace.studio import pads as pad_rules
from timbrespace.studio.errors import StudioError
from timbrespace.studio.export_folder import SERVED, ExportFolder
from timbrespace.studio.keys import key_note
from timbrespace.studio.pack_export import PackOrder, export_pack
from timbrespace.studio.pads import PadBank, kit_names, loop_name, loop_of, pad_audio, wav_at
from timbrespace.studio.responses import errors, header_json, wav_doc, wav_response
from timbrespace.studio.service import Studio
from timbrespace.studio.states import StateId

MAX_LOCKS = 64
MAX_VARY = 4
RADIUS_MAX = 10.0
EXPORTS = "exports"
"""The export folder's name inside the bundle (the default root)."""


def _one_of(allowed: tuple[int, ...], what: str) -> AfterValidator:
    def check(value: int) -> int:
        if value not in allowed:
            raise ValueError(f"{what} must be one of {', '.join(str(v) for v in allowed)}")
        return value

    return AfterValidator(check)


Rate = Annotated[int, Strict(), _one_of(PACK_RATES, "rate (Hz)")]
Bits = Annotated[int, Strict(), _one_of(PACK_BITS, "bits")]
Midi = Annotated[float, Strict(), Field(ge=0.0, le=127.0, allow_inf_nan=False)]
PadIndex = Annotated[int, Strict(), Field(ge=0, le=pad_rules.PADS - 1)]
Velocity = Annotated[int, Strict(), Field(ge=0, le=pad_rules.VELOCITY_MAX)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Label = Annotated[str, StringConstraints(max_length=pad_rules.LABEL_CHARS)]
FolderName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Body(BaseModel):
    """Request bodies refuse unknown keys; numbers and booleans are strict (as `studio.app`)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class KeyRequest(Body):
    state: StateId
    pitch: Midi
    lock: Annotated[list[Name], Field(max_length=MAX_LOCKS)] = []
    extrapolate: bool = False


class PadRequest(Body):
    state: StateId | None
    label: Label = ""


class PadRow(Body):
    pad: PadIndex
    steps: Annotated[list[Velocity], Field(min_length=pad_rules.STEPS, max_length=pad_rules.STEPS)]


class LoopRequest(Body):
    rows: Annotated[list[PadRow], Field(min_length=1, max_length=pad_rules.PADS)]
    bpm: Annotated[float, Field(ge=pad_rules.BPM[0], le=pad_rules.BPM[1], allow_inf_nan=False)]
    swing: Annotated[
        float, Field(ge=pad_rules.SWING[0], le=pad_rules.SWING[1], allow_inf_nan=False)
    ] = pad_rules.SWING[0]
    bars: Annotated[int, Field(ge=pad_rules.BARS[0], le=pad_rules.BARS[1])] = 1
    wrap: bool = True
    rate: Rate = pad_rules.LOOP_RATE
    bits: Bits = 16


class KitRequest(Body):
    name: FolderName
    rate: Rate = pad_rules.LOOP_RATE
    bits: Bits = 24
    overwrite: bool = False
    loop: LoopRequest | None = None


class PackBody(Body):
    state: StateId
    stem: Annotated[str, StringConstraints(min_length=1, max_length=120)] = "sound"
    vary: Annotated[
        list[Annotated[str, StringConstraints(min_length=3, max_length=200)]],
        Field(max_length=MAX_VARY),
    ] = []
    around: Annotated[float, Field(gt=0.0, le=RADIUS_MAX, allow_inf_nan=False)] | None = None
    n: Annotated[int, Field(ge=1, le=SOUNDS_MAX)] = 16
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    rate: Rate = 44100
    bits: Bits = 24
    name: FolderName | None = None
    overwrite: bool = False


KEY_HEADERS = {
    "X-State": "the rendered state's id",
    "X-Note": "JSON {pitch (MIDI), hz, measured_hz, cents}: asked and measured",
    "X-Values": "JSON {control: value read from the latent}",
    "X-Requested": "JSON {control: value asked}",
    "X-Measured": "JSON {control: value measured on the render}",
    "X-Warnings": "JSON list of warning lines",
    "Server-Timing": "render;dur=<ms>",
}
LOOP_HEADERS = {
    "X-Loop": "JSON {seconds, bpm, swing, bars, wrap, rate, bits, hits}",
    "X-Warnings": "JSON list of notices (a peak scaled to 0 dBFS)",
}
EXPORTED_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "a file of the export folder",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}} for media in SERVED.values()
        },
    },
    **errors(400, 403, 404),
}
POST_ERRORS = (400, 403, 404, 408, 413, 415, 422)
WRITE_ERRORS = (*POST_ERRORS, 409, 507)


def _loop(bank: PadBank, request: LoopRequest) -> tuple[Any, list[str], dict[str, Any]]:
    rows = [(row.pad, row.steps) for row in request.rows]
    audio, notices = loop_of(
        bank,
        rows,
        bpm=request.bpm,
        swing=request.swing,
        bars=request.bars,
        rate=request.rate,
        wrap=request.wrap,
    )
    described = {
        "seconds": round(audio.shape[-1] / request.rate, 6),
        "bpm": request.bpm,
        "swing": request.swing,
        "bars": request.bars,
        "wrap": request.wrap,
        "rate": request.rate,
        "bits": request.bits,
        "hits": request.bars * sum(1 for _, steps in rows for v in steps if v > 0),
    }
    return audio, notices, described


def add_play_routes(
    app: FastAPI, studio: Studio, exports: str | os.PathLike[str] | None = None
) -> None:
    """Register the keys, pads and pack routes on `app` (before its catch-all `/api/…` route).
    exports: the export folder (default: `exports/` in the bundle's folder)."""
    bank = PadBank()
    folder = ExportFolder(Path(exports) if exports else studio.space.bundle.path / EXPORTS)
    app.state.pads = bank
    app.state.exports = folder

    @app.post(
        "/api/keys/note",
        response_class=Response,
        responses=wav_doc(*POST_ERRORS, headers=KEY_HEADERS),
    )
    def key(request: KeyRequest) -> Response:
        """The sound of `state` at MIDI `pitch` (its pitch control moved there)."""
        note = key_note(
            studio, request.state, request.pitch, lock=request.lock, extrapolate=request.extrapolate
        )
        response = wav_response(note.state)
        response.headers["X-Note"] = header_json(note.played())
        response.headers["Server-Timing"] = f"render;dur={note.render_ms:.1f}"
        return response

    @app.get("/api/pads", responses=errors(400))
    def pads() -> dict[str, Any]:
        """Every pad (its state, label and length) and the pads' limits."""
        return {"pads": bank.describe(), "limits": pad_rules.limits()}

    @app.post(
        "/api/pads/loop",
        response_class=Response,
        responses=wav_doc(*POST_ERRORS, headers=LOOP_HEADERS),
    )
    def loop(request: LoopRequest) -> Response:
        """The pattern mixed into a loop (a download)."""
        audio, notices, described = _loop(bank, request)
        name = loop_name(request.bpm, request.swing, request.bars)
        headers = {
            "X-Loop": header_json(described),
            "X-Warnings": header_json(notices),
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        }
        data = wav_at(audio, request.rate, request.bits)
        return Response(data, media_type="audio/wav", headers=headers)

    @app.post("/api/pads/kit", responses=errors(*WRITE_ERRORS))
    def kit(request: KitRequest) -> dict[str, Any]:
        """Every filled pad as a WAV in `kits/NAME/` (and the loop, if given)."""
        filled = bank.filled()
        if not filled:
            raise StudioError("pads: every pad is empty; assign sounds to pads first")
        loop_audio = None
        if request.loop is not None:  # at the kit's rate, whatever the loop's says
            same = {"rate": request.rate, "bits": request.bits}
            loop_audio = _loop(bank, request.loop.model_copy(update=same))
        where = folder.folder("kits", request.name, overwrite=request.overwrite)
        files = []
        for (index, pad), name in zip(filled, kit_names(filled), strict=True):
            audio = pad_audio(pad, request.rate)
            written = folder.write(where, name, wav_at(audio, request.rate, request.bits))
            files.append({"pad": index, "label": pad.label, **written.as_dict()})
        loop_file = None
        notices: list[str] = []
        if loop_audio is not None and request.loop is not None:
            audio, notices, _ = loop_audio
            name = loop_name(request.loop.bpm, request.loop.swing, request.loop.bars)
            loop_file = folder.write(where, name, wav_at(audio, request.rate, request.bits))
        return {
            "folder": where,
            "files": files,
            "loop": None if loop_file is None else loop_file.as_dict(),
            "rate": request.rate,
            "bits": request.bits,
            "warnings": notices,
        }

    @app.post("/api/pads/{pad}", responses=errors(*POST_ERRORS))
    def assign(pad: int, request: PadRequest) -> dict[str, Any]:
        """Put a rendered state on `pad` (0 …), or empty it (`state` null)."""
        state = None if request.state is None else studio.state(request.state)
        bank.set(pad, state, request.label, studio.sample_rate)
        return bank.describe()[pad]

    @app.get("/api/pads/{pad}/wav", response_class=Response, responses=wav_doc(400, 404, 422))
    def pad_wav(pad: int) -> Response:
        """The sound on `pad` (the model's rate)."""
        return wav_response(bank.get(pad).state)

    @app.post("/api/pack", responses=errors(*WRITE_ERRORS))
    def pack(request: PackBody) -> dict[str, Any]:
        """N variations of a state (along controls or around it) in `packs/NAME/`."""
        order = PackOrder(
            state=request.state,
            stem=request.stem,
            vary=tuple(request.vary),
            around=request.around,
            n=request.n,
            seed=request.seed,
            rate=request.rate,
            bits=request.bits,
            name=request.name,
            overwrite=request.overwrite,
        )
        return export_pack(studio, folder, order)

    @app.get("/api/exports/{path:path}", response_class=Response, responses=EXPORTED_DOC)
    def exported(path: str) -> FileResponse:
        """A file (`.wav`, `.csv`) of the export folder, as a download."""
        file, media = folder.file(path)
        return FileResponse(file, media_type=media, filename=file.name)


__all__ = ["EXPORTS", "add_play_routes"]
