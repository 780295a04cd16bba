"""The engine's parameters and their smoothing: a value that jumps glides linearly to its new
target over `GLIDE_SECONDS`, read per sample (gains) or per latent frame (latent edits), so a
jump never clicks."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["GLIDE_SECONDS", "Glide", "Params"]

GLIDE_SECONDS = 0.03
"""Time a parameter takes to reach a new value (s)."""


class Glide:
    """A scalar or vector value `[n]` gliding linearly to its target in `seconds`."""

    def __init__(self, value: float | np.ndarray, seconds: float = GLIDE_SECONDS) -> None:
        self.current = np.array(value, dtype=np.float64)
        self.target = self.current.copy()
        self.seconds = seconds
        self._step = np.zeros_like(self.current)
        self._moving = False

    def set(self, value: float | np.ndarray, index: int | None = None) -> None:
        """New target (for one element when `index` is given)."""
        if index is None:
            self.target = np.broadcast_to(
                np.asarray(value, dtype=np.float64), self.current.shape
            ).copy()
        else:
            self.target[index] = value
        self._step = np.abs(self.target - self.current)
        self._moving = bool(np.any(self.current != self.target))

    def jump(self, value: float | np.ndarray) -> None:
        """Set the value at once (no glide): for the start of a render."""
        self.set(value)
        self.current = self.target.copy()
        self._moving = False

    @property
    def moving(self) -> bool:
        return self._moving

    def advance(self, count: int, period: float) -> np.ndarray:
        """The next `count` values, one every `period` s: `[count]` for a scalar, `[n, count]`
        for a vector; each value moves toward its target by at most its jump × period/seconds."""
        if not self.moving:
            values = np.repeat(self.current[..., None], count, axis=-1)
            return values if self.current.ndim else values.reshape(count)
        if self.seconds <= 0:
            self.current = self.target.copy()
            self._moving = False
            return self.advance(count, period)
        rate = self._step * (period / self.seconds)
        steps = np.arange(1, count + 1, dtype=np.float64)
        delta = (self.target - self.current)[..., None]
        limit = np.asarray(rate)[..., None] * steps
        values = self.current[..., None] + np.clip(delta, -limit, limit)
        self.current = values[..., -1].copy()
        if np.allclose(self.current, self.target, rtol=0, atol=1e-12):
            self.current = self.target.copy()
            self._moving = False
        return values if self.current.ndim else values.reshape(count)


@dataclass
class Params:
    """Every continuous parameter of the engine, each a `Glide`; defaults are neutral (the
    model's own sound). `dim` latent dimensions."""

    dim: int
    gain_db: Glide = field(default_factory=lambda: Glide(0.0))
    wet: Glide = field(default_factory=lambda: Glide(1.0))
    plane_x: Glide = field(default_factory=lambda: Glide(0.0))
    plane_y: Glide = field(default_factory=lambda: Glide(0.0))
    ab: Glide = field(default_factory=lambda: Glide(0.0))
    random_amount: Glide = field(default_factory=lambda: Glide(0.0))
    random_rate: Glide = field(default_factory=lambda: Glide(1.0))
    bias: Glide = field(init=False)
    scale: Glide = field(init=False)

    def __post_init__(self) -> None:
        self.bias = Glide(np.zeros(self.dim))
        self.scale = Glide(np.ones(self.dim))

    def glides(self) -> list[Glide]:
        """Every parameter, in field order."""
        return [value for value in vars(self).values() if isinstance(value, Glide)]
