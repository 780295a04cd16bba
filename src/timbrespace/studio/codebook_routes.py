"""The codebook panel's HTTP routes (contract: `API.md`, "Codebook"); the work is
`studio.codebook`'s. Only a codebook model (the vq family) answers them; another gets 400, one
whose codebook analysis is missing 409.

- `GET /api/codebook` — every code's place on the map, its measured descriptors (in their
  units), which codes the training data used, and the request limits.
- `POST /api/target` — JSON `{"curves": {"centroid": [[0, 500], [1, 3000]]}, "seconds": 4,
  "method": "dp", "smoothness": 1, "weights": {"centroid": 1}, "gla_iters": null}`.

`/api/target` answers JSON, not a bare WAV: its curves (one number per frame, up to 7501 frames
per curve) are far too big for headers. The WAV travels base64-encoded in `audio_wav_base64`;
`X-Warnings` (JSON list of notices) and `Server-Timing` are set as on the other sound routes.
Its body may be up to `TARGET_BODY_BYTES` (JSON only), above the studio's 64 KiB.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator

from timbrespace.codebook_play import MAX_TARGET_SECONDS
from timbrespace.limits import GLA_ITERS_MAX, GLA_ITERS_MIN
from timbrespace.studio.codebook import (
    CURVE_POINTS,
    DEFAULT_SMOOTHNESS,
    MAX_CURVES,
    MAX_VALUE,
    MAX_WEIGHT,
    SMOOTHNESS,
    TARGET_BODY_BYTES,
    CodebookPanel,
)
from timbrespace.studio.guards import BODY_TIMEOUT, Upload
from timbrespace.studio.responses import errors, header_json
from timbrespace.studio.service import Studio

CODEBOOK_PATH = "/api/codebook"
TARGET_PATH = "/api/target"
TARGET_UPLOADS = {
    TARGET_PATH: Upload(limit=TARGET_BODY_BYTES, timeout=BODY_TIMEOUT, types=("application/json",))
}
"""`/api/target` takes a larger JSON body than the other routes (for `guards.StudioGuard`)."""

Method = Literal["dp", "greedy"]
"""`codebook_play.METHODS` (a test keeps them equal)."""
DescriptorName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]
CurveValue = Annotated[float, Strict(), Field(ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False)]
Curve = Annotated[
    list[tuple[Fraction, CurveValue]],
    Field(min_length=CURVE_POINTS[0], max_length=CURVE_POINTS[1]),
]
Seconds = Annotated[float, Strict(), Field(gt=0.0, le=MAX_TARGET_SECONDS, allow_inf_nan=False)]
Smoothness = Annotated[
    float, Strict(), Field(ge=SMOOTHNESS[0], le=SMOOTHNESS[1], allow_inf_nan=False)
]
Weight = Annotated[float, Strict(), Field(ge=0.0, le=MAX_WEIGHT, allow_inf_nan=False)]
GlaIters = Annotated[int, Strict(), Field(ge=GLA_ITERS_MIN, le=GLA_ITERS_MAX)]

TARGET_HEADERS = {
    "X-Warnings": "JSON list of notices (targets clamped to what the codebook renders, a scaled peak)",
    "Server-Timing": "select;dur=<ms choosing the codes>, render;dur=<ms in all>",
}


class TargetRequest(BaseModel):
    """Target curves (descriptor → `[[t, value], ...]`, t increasing in 0…1, the fraction of
    `seconds`; values in the descriptor's unit) and how to follow them."""

    model_config = ConfigDict(extra="forbid")

    curves: Annotated[dict[DescriptorName, Curve], Field(min_length=1, max_length=MAX_CURVES)]
    seconds: Seconds = 4.0
    method: Method = "dp"
    smoothness: Smoothness = DEFAULT_SMOOTHNESS
    weights: Annotated[dict[DescriptorName, Weight], Field(max_length=MAX_CURVES)] = {}
    gla_iters: GlaIters | None = None

    @model_validator(mode="after")
    def _check_curves(self) -> TargetRequest:
        seen: dict[str, str] = {}
        for name, points in self.curves.items():
            folded = name.strip().casefold()
            if folded in seen:
                raise ValueError(f"curves: {seen[folded]!r} and {name!r} name one descriptor")
            seen[folded] = name
            for i in range(1, len(points)):
                if not points[i][0] > points[i - 1][0]:
                    raise ValueError(
                        f"curves.{name}: t must increase; point {i} has t {points[i][0]:g} "
                        f"after {points[i - 1][0]:g}"
                    )
        for name in self.weights:
            if name not in self.curves:
                raise ValueError(f"weights.{name}: no curve for it in curves")
        return self


def target_response(report: dict[str, Any], select_ms: float, render_ms: float) -> JSONResponse:
    """The JSON answer of `/api/target`, with its `X-Warnings` and `Server-Timing` headers."""
    headers = {
        "X-Warnings": header_json(report["notices"]),
        "Server-Timing": f"select;dur={select_ms:.1f}, render;dur={render_ms:.1f}",
        "Cache-Control": "no-store",
    }
    return JSONResponse(report, headers=headers)


def _ok(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": description}
    if headers:
        ok["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return ok


def add_codebook_routes(app: FastAPI, studio: Studio) -> None:
    """Register the codebook routes on `app` (before its catch-all `/api/…` route)."""
    panel = CodebookPanel(studio)

    @app.get(
        CODEBOOK_PATH,
        responses={200: _ok("the codebook: codes, map, descriptors, limits"), **errors(400, 409)},
    )
    def codebook() -> dict[str, Any]:
        """The codes of a codebook model: where each lies on the map and what it measures."""
        return panel.describe()

    @app.post(
        TARGET_PATH,
        responses={
            200: _ok("codes, curves, tracking and the WAV (base64)", TARGET_HEADERS),
            **errors(400, 403, 408, 409, 413, 415, 422),
            413: {**errors(413)[413], "description": f"A body over {TARGET_BODY_BYTES >> 10} KiB"},
        },
    )
    def target(request: TargetRequest) -> JSONResponse:
        """Codes following target descriptor curves, rendered: the sound and how well it
        follows (the measured curves, r and median error)."""
        result = panel.follow(
            request.curves,
            seconds=request.seconds,
            method=request.method,
            smoothness=request.smoothness,
            weights=request.weights,
            gla_iters=request.gla_iters,
        )
        return target_response(result.report, result.select_ms, result.render_ms)
