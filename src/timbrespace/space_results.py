"""What `LatentSpace` operations return (small dataclasses with shapes and units) or raise."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from timbrespace.errors import TimbrespaceError


class ClipsUnavailable(TimbrespaceError):
    """A dataset sound of a path model is encoded from its clip in the analysed cache, and that
    cache is gone or changed (encode the original file instead)."""


@dataclass(frozen=True)
class Neighbour:
    """A dataset sound near a latent point: its index in the analysis, path, pack and distance."""

    index: int
    sound: str
    pack: str
    distance: float


@dataclass
class Edit:
    """A mixed or edited latent `z` `[1, dim, frames]` and what the user should know about it
    (e.g. that an amount extrapolates)."""

    z: torch.Tensor
    warnings: list[str] = field(default_factory=list)


@dataclass
class SweepResult:
    """One control swept over `steps` targets from one starting point.

    targets `[steps]` on the control's scale; requested: the same in the control's unit;
    z `[steps, dim, frames]`; audio `[steps, channels, samples]`; measured: the control's
    descriptor on each rendered sound, in `unit` (NaN where undefined or when the control has
    no descriptor, e.g. a PCA axis); distance: ‖z_step − z_start‖ per step; limited: per step,
    whether its request was clamped to a range or the rendered sound stayed outside the closed
    loop's tolerance (a contact sheet marks those steps).
    """

    name: str
    descriptor: str | None
    unit: str
    targets: torch.Tensor
    requested: list[float]
    z: torch.Tensor
    audio: np.ndarray
    measured: list[float]
    distance: list[float]
    warnings: list[str] = field(default_factory=list)
    limited: list[bool] = field(default_factory=list)
