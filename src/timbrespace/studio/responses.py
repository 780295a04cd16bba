"""The studio's answers as HTTP: WAV responses with their headers, and the OpenAPI description
of every answer (WAV as `audio/wav`, errors as `{"detail": "<one line>"}` JSON), so the
document at `/openapi.json` matches what the server sends."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi.responses import Response

from timbrespace.studio.files import AUDIO_TYPES
from timbrespace.studio.states import State

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
ERROR_TEXT = {
    400: "Bad request: a value the studio can't use (unknown control, refused host…)",
    403: "Forbidden: a cross-origin request, or a path outside the dataset folder",
    404: "Unknown sound, state or file",
    405: "Method not allowed",
    408: "The request body was not received in time",
    409: "Conflict: the file exists (set overwrite) or the folder is a file",
    413: "Request body over 64 KiB",
    415: "A request body that is not application/json",
    422: "A field out of its range or of the wrong type (the detail names it)",
    507: "The dataset folder's disk is full",
}
HEADER_TEXT = {
    "X-State": "the rendered state's id",
    "X-Values": "JSON {control: value read from the latent}",
    "X-Requested": "JSON {control: value asked}",
    "X-Measured": "JSON {control: value measured on the render}",
    "X-Warnings": "JSON list of warning lines",
    "X-Map": "JSON [x, y]: where the rendered latent lies on the 2-D PCA map",
}
BINARY = {"schema": {"type": "string", "format": "binary"}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error codes, each a JSON `{"detail": str}`."""
    return {
        code: {
            "description": ERROR_TEXT[code],
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for code in codes
    }


def wav_doc(
    *codes: int, state_headers: bool = True, headers: dict[str, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for an endpoint answering a WAV: with the state headers, or with
    `headers` (name → description) instead."""
    ok: dict[str, Any] = {"description": "16-bit PCM WAV", "content": {"audio/wav": BINARY}}
    described = HEADER_TEXT if state_headers and headers is None else headers or {}
    if described:
        ok["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in described.items()
        }
    return {200: ok, **errors(*codes)}


def file_doc(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for an original sound file (content type by suffix)."""
    types = {*AUDIO_TYPES.values(), "application/octet-stream"}
    ok = {"description": "the original file", "content": {t: BINARY for t in sorted(types)}}
    return {200: ok, **errors(*codes)}


def header_json(data: object) -> str:
    """JSON for an HTTP header: ASCII only (non-ASCII escaped), NaN as null."""
    if isinstance(data, dict):
        data = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in data.items()
        }
    return json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


def wav_response(state: State, *, download: bool = False) -> Response:
    """A state's WAV with its id, values, requested and measured values, warnings and map
    position in headers."""
    headers = {
        "X-State": state.id,
        "X-Values": header_json(state.values),
        "X-Requested": header_json(state.requested),
        "X-Measured": header_json(state.measured),
        "X-Warnings": header_json(state.warnings),
        "X-Map": header_json(list(state.map)),
        "Cache-Control": "no-store",
    }
    if download:
        headers["Content-Disposition"] = f'attachment; filename="timbrespace_{state.id}.wav"'
    return Response(state.wav, media_type="audio/wav", headers=headers)
