"""The studio's request guards: one pure ASGI middleware, independent of FastAPI's version.

`StudioGuard` answers, before the app sees a request:

- 400 to a Host header that is not one of `allowed_hosts` (DNS rebinding: a page on another
  site that re-points its own name at 127.0.0.1 still sends its own name as Host). IPv6 literals
  are compared without their brackets (`[::1]:8765` is host `::1`).
- 403 to a state-changing request (any method but GET, HEAD, OPTIONS) from another origin: an
  `Origin` header whose host and port differ from the Host header (or `Origin: null`), or, when
  there is no Origin, such a `Referer`; or `Sec-Fetch-Site: cross-site|same-site`. A browser
  page on another site can send a "simple" POST to the studio without a CORS preflight; this
  refuses it. Requests with neither header (curl, scripts, the test client) pass.
- 415 to a state-changing request whose body is not declared `application/json` (a browser
  sends `text/plain`, form types or no type without a preflight, never JSON).
- 413 to a body over `limit` bytes (by Content-Length, or counted while reading).
- 408 (and the connection closed) when a body is not complete within `body_timeout` seconds
  of the request: a half-sent body never holds a connection and a worker forever.

An `Upload` route (a POST whose body is a file, e.g. an audio file to play through an
instrument) has its own size limit and time, and takes only its own media types instead of
JSON: `application/octet-stream` or `audio/*`, which a page on another site cannot send without
a CORS preflight either. Every other route keeps `limit`, `body_timeout` and JSON.

The body (at most its limit) is read here and handed to the app in one message.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 64 * 1024
BODY_TIMEOUT = 10.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
JSON_TYPE = "application/json"
UPLOAD_TIMEOUT = 60.0
"""Seconds an upload has to arrive whole (16 MiB in 60 s is 2.2 Mbit/s)."""


@dataclass(frozen=True)
class Upload:
    """A POST route whose body is a file: at most `limit` bytes within `timeout` s, with a
    Content-Type among `types` (an entry ending in `/` takes that whole family: `audio/`)."""

    limit: int
    timeout: float = UPLOAD_TIMEOUT
    types: tuple[str, ...] = ("application/octet-stream", "audio/")

    def accepts(self, media: str) -> bool:
        return any(media.startswith(t) if t.endswith("/") else media == t for t in self.types)


def split_host(value: str, scheme: str = "http") -> tuple[str, int] | None:
    """A Host header (`127.0.0.1:8765`, `[::1]:8765`, `localhost`) → (lower-case host without
    IPv6 brackets, port; the scheme's default port when absent), or None if it is malformed."""
    try:
        parts = urlsplit(f"{scheme}://{value}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.path or parts.query or parts.fragment or parts.username is not None:
        return None
    return host.lower(), port if port is not None else DEFAULT_PORTS.get(scheme, 80)


def origin_of(url: str) -> tuple[str, int] | None:
    """The (host, port) of an `Origin` or `Referer` URL over http(s), or None (`null`, other
    schemes, malformed)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return host.lower(), port if port is not None else DEFAULT_PORTS[parts.scheme]


def media_type(content_type: str | None) -> str:
    """`application/json; charset=utf-8` → `application/json` ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


class Refusal(Exception):
    """A request the guard answers itself: status and one-line detail."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


async def refuse(send: Send, status: int, detail: str) -> None:
    """A JSON `{"detail": ...}` answer that closes the connection (the body may be unread)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class StudioGuard:
    """ASGI middleware enforcing the host, origin, content-type, size and time rules above.

    allowed_hosts: Host names answered (None: any, for a studio deliberately exposed on a
    network; the origin check then compares against whatever Host the request names);
    uploads: path → `Upload` for the POST routes that take a file instead of JSON."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed_hosts: Sequence[str] | None = ("127.0.0.1", "localhost", "::1"),
        limit: int = MAX_BODY,
        body_timeout: float = BODY_TIMEOUT,
        uploads: Mapping[str, Upload] | None = None,
    ) -> None:
        self.app, self.limit, self.body_timeout = app, limit, body_timeout
        self.uploads = dict(uploads or {})
        self.allowed_hosts = (
            None if allowed_hosts is None else {h.strip("[]").lower() for h in allowed_hosts}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            headers = self._headers(scope)
            own = self._check_host(headers, scope.get("scheme", "http"))
            method = scope["method"].upper()
            unsafe = method not in SAFE_METHODS
            if unsafe:
                self._check_origin(headers, own)
            upload = self.uploads.get(scope.get("path", "")) if method == "POST" else None
            limit = self.limit if upload is None else upload.limit
            timeout = self.body_timeout if upload is None else upload.timeout
            declared = self._declared_length(headers, limit)
            media = media_type(headers.get("content-type"))
            accepted = media == JSON_TYPE if upload is None else upload.accepts(media)
            if unsafe and declared and not accepted:
                raise self._unsupported(headers, upload)
            body = await self._read_body(receive, limit, timeout)
            if unsafe and body and not accepted:
                raise self._unsupported(headers, upload)
        except Refusal as refusal:
            await refuse(send, refusal.status, refusal.detail)
            return
        except _Disconnected:
            return
        await self.app(scope, _replay(body, receive), send)

    # the checks

    @staticmethod
    def _headers(scope: Scope) -> dict[str, str]:
        """Header names (lower case) → value; a repeated Host, Origin or Content-Type is
        refused (which one counts would depend on the server)."""
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name in headers and name in ("host", "origin", "referer", "content-type"):
                raise Refusal(400, f"the {name} header is given twice")
            headers.setdefault(name, value)
        return headers

    def _check_host(self, headers: dict[str, str], scheme: str) -> tuple[str, int] | None:
        """The request's own (host, port) from its Host header; 400 if not an allowed host."""
        value = headers.get("host")
        own = None if value is None else split_host(value, scheme)
        if self.allowed_hosts is None:
            return own
        if own is None or own[0] not in self.allowed_hosts:
            names = ", ".join(sorted(self.allowed_hosts))
            raise Refusal(400, f"host {value!r} is not served (this studio answers {names})")
        return own

    @staticmethod
    def _check_origin(headers: dict[str, str], own: tuple[str, int] | None) -> None:
        site = headers.get("sec-fetch-site", "").lower()
        if site in ("cross-site", "same-site"):
            raise Refusal(403, f"cross-origin request refused (Sec-Fetch-Site: {site})")
        for name in ("origin", "referer"):
            value = headers.get(name)
            if value is None:
                continue
            if own is None or origin_of(value) != own:
                this = "unknown" if own is None else _netloc(own)
                raise Refusal(
                    403,
                    f"cross-origin request refused: {name.title()} {value[:200]!r} is not "
                    f"this studio ({this})",
                )
            return  # Origin decides when present; Referer only stands in for it

    @staticmethod
    def _declared_length(headers: dict[str, str], limit: int) -> bool:
        """Whether the headers announce a body; 413 over `limit`, 400 if malformed."""
        length = headers.get("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError:
                raise Refusal(400, f"Content-Length {length[:40]!r} is not a number") from None
            if size > limit:
                raise Refusal(413, f"request body over {limit} bytes")
            return size > 0
        return "transfer-encoding" in headers

    @staticmethod
    def _unsupported(headers: dict[str, str], upload: Upload | None = None) -> Refusal:
        given = headers.get("content-type")
        what = "no Content-Type" if given is None else f"Content-Type {given[:100]!r}"
        wanted = JSON_TYPE
        if upload is not None:
            wanted = " or ".join(t + "*" if t.endswith("/") else t for t in upload.types)
            wanted = f"the file's bytes as {wanted}"
        return Refusal(415, f"request body with {what} refused; send {wanted}")

    async def _read_body(self, receive: Receive, limit: int, timeout: float) -> bytes:
        """The whole body within `timeout` s and `limit` bytes (408 / 413 otherwise)."""
        chunks: list[bytes] = []
        size = 0
        with anyio.move_on_after(timeout):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise Refusal(413, f"request body over {limit} bytes")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
        raise Refusal(408, f"request body not received within {timeout:g} s")


class _Disconnected(Exception):
    """The client left before its body was complete: nothing to answer."""


def _netloc(own: tuple[str, int]) -> str:
    host, port = own
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the buffered body once, then defers to the server's (for
    `http.disconnect`)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
