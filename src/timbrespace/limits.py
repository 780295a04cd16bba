"""Limits shared by every face (CLI, HTTP schema, the studio page, later the engine), defined once.

Torch-free, so `timbrespace --help` stays instant.
"""

from __future__ import annotations

GLA_ITERS_MIN = 1
GLA_ITERS_MAX = 512
"""Griffin-Lim iterations a request may ask of a spectral model (inclusive)."""

ALIGN_MODES: tuple[str, ...] = ("crop", "loop", "stretch")
"""How two latent paths of unequal length are made to match (`latent.paths.align`)."""


def limits() -> dict[str, dict[str, int]]:
    """The numeric limits as JSON for a client (the studio page reads them from `/api/info`)."""
    return {"gla_iters": {"min": GLA_ITERS_MIN, "max": GLA_ITERS_MAX}}
