"""The studio's errors, each carrying the HTTP status `studio.app` answers with."""

from __future__ import annotations

from timbrespace.errors import TimbrespaceError


class StudioError(TimbrespaceError):
    """A request the studio refuses; `status` is its HTTP status code."""

    status = 400


class NotFound(StudioError):
    status = 404


class Forbidden(StudioError):
    status = 403


class Conflict(StudioError):
    status = 409


class Unprocessable(StudioError):
    """Values inside their ranges whose result the studio can't serve (e.g. non-finite audio)."""

    status = 422


class InsufficientStorage(StudioError):
    status = 507


class WriteFailed(StudioError):
    """The file system refused a write for a reason the request can't fix (e.g. EIO)."""

    status = 500
