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
