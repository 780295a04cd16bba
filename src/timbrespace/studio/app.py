"""The studio's HTTP face (FastAPI): the contract is `studio/API.md`; the work is `Studio`'s.

Every request body is a pydantic model whose numbers are finite and inside their range and whose
lists are bounded. `guards.StudioGuard` (pure ASGI, whatever FastAPI's version) answers first:
only loopback host names by default (a page on another site can't reach the studio by DNS
rebinding), no state-changing request from another origin (403) or with a body that is not
JSON (415), bodies over 64 KiB (413) or not sent within 10 s (408); only the instrument panel's
upload (`instrument_routes`) takes an audio file, of up to 16 MiB, and the codebook panel's
`/api/target` (`codebook_routes`) a JSON body of up to 512 KiB. Audio answers are 16-bit WAV
bytes with the state id, the control values (read from the latent, requested, measured on the
render) and warnings in `X-State`, `X-Values`, `X-Requested`, `X-Measured` and `X-Warnings`
headers; `/openapi.json` documents them as `audio/wav` and every error as `{"detail": str}`.

    app = create_app(Studio.open("runs/kit/bundle"))
    run("runs/kit/bundle", port=8765)          # uvicorn on 127.0.0.1, opens the browser
"""

from __future__ import annotations

import ipaddress
import os
import threading
import webbrowser
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    model_validator,
)

from timbrespace import runtime
from timbrespace.errors import TimbrespaceError
from timbrespace.limits import GLA_ITERS_MAX, GLA_ITERS_MIN
from timbrespace.studio.codebook_routes import TARGET_UPLOADS, add_codebook_routes
from timbrespace.studio.export import NAME_BYTES
from timbrespace.studio.guards import BODY_TIMEOUT, MAX_BODY, StudioGuard
from timbrespace.studio.instrument_routes import UPLOADS, add_instrument_routes
from timbrespace.studio.live import DEFAULT_ENGINE
from timbrespace.studio.note_routes import add_note_routes
from timbrespace.studio.play_routes import add_play_routes
from timbrespace.studio.responses import errors, file_doc, wav_doc, wav_response
from timbrespace.studio.service import Studio, StudioError
from timbrespace.studio.states import StateId

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
KEEP_ALIVE_TIMEOUT = 5  # s an idle connection stays open between requests
MAX_SETTINGS = 64
MAX_POINTS = 256
MAX_OPS = 32

Amount = Annotated[float, Strict(), Field(ge=-1.0, le=2.0, allow_inf_nan=False)]
Coordinate = Annotated[float, Strict(), Field(ge=-1000.0, le=1000.0, allow_inf_nan=False)]
Fraction = Annotated[float, Strict(), Field(ge=0.0, le=1.0, allow_inf_nan=False)]
ControlValue = Annotated[float, Strict(), Field(ge=-1e9, le=1e9, allow_inf_nan=False)]
ControlName = Annotated[str, StringConstraints(min_length=1, max_length=128)]
GainDb = Annotated[float, Strict(), Field(ge=-60.0, le=24.0, allow_inf_nan=False)]
GlaIters = Annotated[int, Strict(), Field(ge=GLA_ITERS_MIN, le=GLA_ITERS_MAX)]


class Body(BaseModel):
    """Request bodies refuse unknown keys (a misspelt field is an error, not a silent default).
    Numbers and booleans are strict (`false` is not 0, `"1"` is not 1), as the schema says."""

    model_config = ConfigDict(extra="forbid")


def _one_key(schema: dict[str, Any]) -> None:
    """JSON schema of a SoundRef as the validator checks it: one key, its value not null."""
    schema["minProperties"] = schema["maxProperties"] = 1
    for prop in schema.get("properties", {}).values():
        branches = [branch for branch in prop.pop("anyOf", []) if branch.get("type") != "null"]
        prop.update(branches[0] if branches else {})
        prop.pop("default", None)


def _not_both(first: str, second: str) -> dict[str, Any]:
    """JSON schema clause refusing `first` and `second` both given non-null."""
    given = {"not": {"type": "null"}}
    return {"not": {"required": [first, second], "properties": {first: given, second: given}}}


class SoundRef(Body):
    """Exactly one of: a dataset sound, an earlier render, a point of the 2-D PCA map."""

    model_config = ConfigDict(json_schema_extra=_one_key)  # merged with Body's

    index: Annotated[int, Strict(), Field(ge=0, le=10**9)] | None = None
    state: StateId | None = None
    map: tuple[Coordinate, Coordinate] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SoundRef:
        if len(self.model_fields_set & {"index", "state", "map"}) != 1 or None in (
            getattr(self, key) for key in self.model_fields_set
        ):
            raise ValueError("give exactly one of index, state, map")
        return self

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.model_fields_set}


class AudioOptions(Body):
    gain_db: GainDb = 0.0
    normalize: StrictBool = False
    gla_iters: GlaIters | None = None

    def audio(self) -> dict[str, Any]:
        """The keyword arguments every `Studio` render takes: gain_db, normalize, gla_iters."""
        return {"gain_db": self.gain_db, "normalize": self.normalize, "gla_iters": self.gla_iters}


class RenderRequest(AudioOptions):
    start: SoundRef
    set: Annotated[dict[ControlName, ControlValue], Field(max_length=MAX_SETTINGS)] = {}
    lock: Annotated[list[ControlName], Field(max_length=MAX_SETTINGS)] = []
    extrapolate: StrictBool = False


class InterpolateRequest(AudioOptions):
    model_config = ConfigDict(json_schema_extra=_not_both("amount", "curve"))

    a: SoundRef
    b: SoundRef
    amount: Amount | None = None
    curve: (
        Annotated[list[tuple[Fraction, Amount]], Field(min_length=1, max_length=MAX_POINTS)] | None
    ) = None
    align: Literal["crop", "loop", "stretch"] = "stretch"

    @model_validator(mode="after")
    def _amount_or_curve(self) -> InterpolateRequest:
        if self.amount is not None and self.curve is not None:
            raise ValueError("give amount or curve, not both")
        return self


class PlaneRequest(AudioOptions):
    model_config = ConfigDict(json_schema_extra=_not_both("xy", "trajectory"))

    corners: Annotated[list[SoundRef], Field(min_length=4, max_length=4)]
    xy: tuple[Amount, Amount] | None = None
    trajectory: (
        Annotated[list[tuple[Fraction, Amount, Amount]], Field(min_length=1, max_length=MAX_POINTS)]
        | None
    ) = None
    align: Literal["crop", "loop", "stretch"] = "stretch"

    @model_validator(mode="after")
    def _xy_or_trajectory(self) -> PlaneRequest:
        if self.xy is not None and self.trajectory is not None:
            raise ValueError("give xy or trajectory, not both")
        return self


class PathRequest(AudioOptions):
    start: SoundRef
    ops: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=2000)]],
        Field(max_length=MAX_OPS),
    ]
    seed: Annotated[int, Strict(), Field(ge=0, le=2**31 - 1)] = 0


class ExportRequest(Body):
    state: StateId
    folder: Annotated[str, StringConstraints(max_length=512)] = ""
    name: Annotated[str, StringConstraints(min_length=5, max_length=NAME_BYTES)]
    overwrite: StrictBool = False


class LiveRequest(Body):
    """Turn the live link on or off; `engine` is `host:port` (an IP address or localhost)."""

    engine: Annotated[str, StringConstraints(min_length=1, max_length=64)] = DEFAULT_ENGINE
    on: StrictBool


class LiveStatus(BaseModel):
    on: bool
    engine: str
    sent: int
    last_error: str | None


# --- helpers ------------------------------------------------------------------------------------


def _field_name(location: Sequence[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def _validation_detail(error: RequestValidationError) -> str:
    """One line naming each field: `gain_db: Input should be less than or equal to 24`."""
    lines = []
    for item in error.errors()[:5]:
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        lines.append(f"{_field_name(item.get('loc', ()))}: {message}")
    return "; ".join(lines)


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods of the documented API routes whose path matches `path` (empty: none)."""
    routes = [route for route in app.routes if isinstance(route, APIRoute)]
    return sorted(
        {
            method
            for route in routes
            if route.include_in_schema and route.path_regex.match(path)
            for method in route.methods or ()
        }
    )


# --- the app ------------------------------------------------------------------------------------


def static_dir() -> Path:
    """The page's files: `timbrespace/studio/static/`."""
    return Path(str(resources.files("timbrespace.studio"))) / "static"


POST_ERRORS = (400, 403, 404, 408, 413, 415, 422)


def create_app(
    studio: Studio,
    *,
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS,
    body_timeout: float = BODY_TIMEOUT,
    exports: str | os.PathLike[str] | None = None,
) -> FastAPI:
    """The FastAPI app over `studio`. allowed_hosts: Host header names answered (None: any,
    for a studio deliberately exposed on a network); body_timeout: seconds a request has to
    send its whole body (408 after); exports: where kits and packs are written (default: the
    bundle's `exports/` folder)."""
    app = FastAPI(title="timbrespace studio", version="1", docs_url="/docs", redoc_url=None)
    app.state.studio = studio

    @app.exception_handler(StudioError)
    async def studio_error(_: Request, error: StudioError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=error.status)

    @app.exception_handler(TimbrespaceError)
    async def library_error(_: Request, error: TimbrespaceError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(error)}, status_code=422)

    @app.get("/api/info", responses=errors(400))
    def info() -> dict[str, Any]:
        return studio.info()

    @app.get("/api/packs", responses=errors(400))
    def packs() -> dict[str, Any]:
        return studio.pack_tree()

    @app.get("/api/map", responses=errors(400, 422))
    def latent_map(
        color: Annotated[str, StringConstraints(max_length=128)] = "pack",
    ) -> dict[str, Any]:
        return studio.map(color)

    @app.get(
        "/api/sounds/{index}/original",
        response_class=Response,
        responses=file_doc(400, 403, 404, 422),
    )
    def original(index: int) -> FileResponse:
        path, media_type = studio.original_path(index)
        return FileResponse(
            path, media_type=media_type, filename=path.name, content_disposition_type="inline"
        )

    wav = wav_doc(*POST_ERRORS)

    @app.post("/api/render", response_class=Response, responses=wav)
    def render(request: RenderRequest) -> Response:
        state = studio.render(
            request.start.as_dict(),
            request.set,
            lock=request.lock,
            extrapolate=request.extrapolate,
            **request.audio(),
        )
        return wav_response(state)

    @app.post("/api/interpolate", response_class=Response, responses=wav)
    def interpolate(request: InterpolateRequest) -> Response:
        state = studio.interpolate(
            request.a.as_dict(),
            request.b.as_dict(),
            amount=request.amount,
            curve=request.curve,
            align=request.align,
            **request.audio(),
        )
        return wav_response(state)

    @app.post("/api/plane", response_class=Response, responses=wav)
    def plane(request: PlaneRequest) -> Response:
        state = studio.plane(
            [corner.as_dict() for corner in request.corners],
            xy=request.xy,
            trajectory=request.trajectory,
            align=request.align,
            **request.audio(),
        )
        return wav_response(state)

    @app.post("/api/path", response_class=Response, responses=wav)
    def path(request: PathRequest) -> Response:
        state = studio.path(
            request.start.as_dict(),
            request.ops,
            seed=request.seed,
            **request.audio(),
        )
        return wav_response(state)

    @app.get("/api/states/{state_id}", responses=errors(400, 404, 422))
    def state(state_id: StateId) -> dict[str, Any]:
        return studio.describe(studio.state(state_id))

    @app.get(
        "/api/states/{state_id}/wav",
        response_class=Response,
        responses=wav_doc(400, 404, 422),
    )
    def state_wav(state_id: StateId) -> Response:
        return wav_response(studio.state(state_id), download=True)

    @app.post("/api/export", responses=errors(*POST_ERRORS, 409, 507))
    def export(request: ExportRequest) -> dict[str, str]:
        written = studio.export(
            request.state, request.folder, request.name, overwrite=request.overwrite
        )
        return {"path": written}

    @app.get("/api/live", responses=errors(400))
    def live_status() -> LiveStatus:
        return LiveStatus(**studio.live.status())

    @app.post("/api/live", responses=errors(400, 403, 408, 413, 415, 422))
    def live(request: LiveRequest) -> LiveStatus:
        engine = request.engine if "engine" in request.model_fields_set else None
        return LiveStatus(**studio.live.configure(engine, on=request.on))

    add_instrument_routes(app, studio)
    add_note_routes(app, studio)
    add_codebook_routes(app, studio)
    add_play_routes(app, studio, exports)

    @app.api_route(
        "/api/{rest:path}",
        methods=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
        include_in_schema=False,
    )
    def unknown(request: Request, rest: str) -> JSONResponse:
        allowed = _allowed_methods(app, request.scope["path"])
        if allowed:
            return JSONResponse(
                {"detail": f"/api/{rest}: {request.method} not allowed; use {', '.join(allowed)}"},
                status_code=405,
                headers={"Allow": ", ".join(allowed)},
            )
        return JSONResponse({"detail": f"/api/{rest}: no such endpoint"}, status_code=404)

    static = static_dir()
    if (static / "index.html").is_file():
        app.mount("/", StaticFiles(directory=static, html=True), name="static")
    else:

        @app.get("/", response_class=HTMLResponse)
        def placeholder() -> str:
            return "<!doctype html><title>timbrespace studio</title><p>The page is not built; the API is at <a href='/docs'>/docs</a>.</p>"

    app.add_middleware(
        StudioGuard,
        allowed_hosts=allowed_hosts,
        limit=MAX_BODY,
        body_timeout=body_timeout,
        uploads={**UPLOADS, **TARGET_UPLOADS},
    )
    return app


def check_port(host: str, port: int) -> None:
    """Raise a TimbrespaceError naming the port if `host:port` can't be bound (e.g. in use)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise TimbrespaceError(f"--host {host!r}: cannot resolve it ({error})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise TimbrespaceError(
                f"cannot listen on {host}:{port} ({error.strerror}); choose another --port"
            ) from None


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def studio_url(host: str, port: int) -> str:
    """The URL a browser opens for a studio listening on `host:port`: the wildcard addresses
    become 127.0.0.1, IPv6 addresses get their brackets (`http://[::1]:8765/`)."""
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run(
    bundle: str | os.PathLike[str],
    data: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    *,
    dataset: str | os.PathLike[str] | None = None,
    threads: int | None = None,
    exports: str | os.PathLike[str] | None = None,
) -> None:
    """Serve the studio for `bundle` with uvicorn until interrupted.

    data: the cache whose dataset folder holds the originals (default: the training cache);
    dataset: that folder directly; host: 127.0.0.1 unless you mean to expose it on a network;
    threads: pins torch's intra-op threads per decode (default: `runtime`'s policy, 1 thread per
    render, set in each request thread; requests run on a pool of threads,
    OpenMP gives each calling thread its own team of workers, and those teams spin against each
    other; on 2 cores a 44.1 kHz one-shot render took 12 ms with 1 thread and 26 ms with 2);
    exports: where kits and packs are written (default: the bundle's `exports/` folder)."""
    import uvicorn

    host = host.strip("[]")
    check_port(host, port)
    if threads:
        os.environ[runtime.ENV_THREADS] = str(threads)
    studio = Studio.open(bundle, data=data, dataset=dataset)
    studio.warm_up()
    loopback = is_loopback(host)
    app = create_app(studio, allowed_hosts=LOOPBACK_HOSTS if loopback else None, exports=exports)
    url = studio_url(host, port)
    print(f"studio: {url}  (bundle {studio.space.bundle.path}; Ctrl-C stops)", flush=True)
    if studio.dataset_root is None:
        print("notice: no dataset folder: originals and export are off (use --dataset)", flush=True)
    if not loopback:
        print(f"warning: listening on {host}: anyone on the network can use the studio", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    uvicorn.run(
        app, host=host, port=port, log_level="warning", timeout_keep_alive=KEEP_ALIVE_TIMEOUT
    )
