"""The search over one render stage (`render_stages.Stage`) and its uses.

The stage's descriptor is measured on a grid of readout values, the value whose measurement is
closest to the request is refined by Brent's method where the measurement crosses it, and the
sound is decoded once at it (`ReadoutSearch`). The moves of a `LatentSpace` use it
(`space_readout`), and so does encoding: a reconstruction keeps its source's attack
(`keep_measured`). An envelope cannot resolve every attack (a 110 Hz tone's rises over its
period, whatever the fade), so a request the sound cannot measure keeps the closest value.
Latents `[batch, dim, frames]`; descriptor values in their unit (s, Hz, dB).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import scipy.optimize
import torch

from timbrespace.latent.control import Control
from timbrespace.render_stages import Miss, Stage, ratio_miss, stage_of

REFINE_STEPS = 8
CLOSE = math.log1p(0.025)
"""The refinement stops at a measurement this close to the request (ln ratio: 2.5 %, half the
loop's tolerance; the render measures what the search measured). At 1 % a studio brightness
drag at 44.1 kHz took p95 56 ms, at 2.5 % 43 ms."""
MEMORY = 8
"""Sounds whose curves a search keeps (a studio drag moves one sound)."""
NEAR_STEPS = 6
"""Grid points `ReadoutSearch.near` walks before it measures the whole curve instead."""


class _Close(Exception):
    """Raised inside the root finder once a measurement is within `CLOSE` of the request."""


def closest_setting(
    request: float,
    grid: np.ndarray,
    measured: np.ndarray,
    measure_at: Callable[[float], float],
    steps: int = REFINE_STEPS,
    miss: Miss = ratio_miss,
) -> tuple[float, float]:
    """The readout value among `grid` `[n]` (ascending, measuring `measured` `[n]`) whose
    measurement is closest to `request` (`miss`: in ratio by default), refined by Brent's method (`measure_at`:
    value → measurement; at most `steps` calls, stopping within `CLOSE`) between it and a
    neighbour on the other side of the request: (value, measurement). The closest value tried
    is kept, not the root (an envelope's measurement jumps over some values), and a request
    nothing measures near keeps the closest grid point."""
    error = miss(measured, request)
    if not np.isfinite(error).any():
        return float(grid[0]), float(measured[0])
    best = int(np.nanargmin(np.abs(error)))
    found = [float(grid[best]), float(measured[best]), abs(float(error[best]))]
    sides = [s for s in (best - 1, best + 1) if 0 <= s < grid.size and error[s] * error[best] < 0]
    if not sides or found[2] <= CLOSE:
        return found[0], found[1]
    known = {float(grid[i]): float(error[i]) for i in (best, sides[0])}

    def error_at(value: float) -> float:
        if value in known:
            return known[value]
        got = measure_at(value)
        error = float(miss(np.array([got]), request)[0])
        if not math.isfinite(error):
            raise _Close  # nothing to measure: keep the best so far
        if abs(error) < found[2]:
            found[:] = [value, got, abs(error)]
        if abs(error) <= CLOSE:
            raise _Close
        return error

    low, high = sorted(known)
    with contextlib.suppress(_Close):
        scipy.optimize.brentq(error_at, low, high, maxiter=steps, full_output=True, disp=False)
    return found[0], found[1]


@dataclass(frozen=True)
class Locks:
    """How a search holds locked controls: `descriptor_of` a control's name → its descriptor
    (None: not measured); `measure` (a sound `[channels, samples]`, descriptor names) → their
    values (`DescriptorValues`); `follower` a control → the search of a later stage that sets
    it (the fade-in after the tilt), which puts it back where it was, or None."""

    descriptor_of: Callable[[str], str | None]
    measure: Callable[[np.ndarray, Sequence[str]], Any]
    follower: Callable[[Control], ReadoutSearch | None]


@dataclass
class ReadoutSearch:
    """Moves of one stage of one model: `render` latents → audio `[batch, channels, samples]`;
    `measure` one sound → the stage's descriptor. Remembers the bare renders and curves of the
    last `MEMORY` sounds (a latent moved along the readout is the same sound), and counts its
    `decodes`."""

    stage: Stage
    render: Callable[[torch.Tensor], np.ndarray]
    measure: Callable[[np.ndarray], float]
    locks: Locks | None = None
    memory: dict[bytes, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict)
    decodes: int = 0
    upstream: Callable[[torch.Tensor], np.ndarray | None] | None = None
    """Latents `[1, dim, 1]` → this stage's bare render made without a decode from the
    previous stage's (`known_next`), or None: the fade-in's after a tilt move."""

    def measure_at(self, sound: np.ndarray, z: torch.Tensor) -> Callable[[float], float]:
        """Readout value → the measurement of bare render `sound` of latent `z` `[1, dim, 1]`."""
        return lambda value: self.measure(self.stage.candidates(sound, np.array([value]), z)[0])

    def _bare(self, z: torch.Tensor, curves: bool) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per item of latents `[batch, dim, 1]`: its bare render `[channels, samples]` and,
        when `curves` (else where already made), its measurement at each `grid` value; one
        decode of the sounds not met."""
        stage, keys = self.stage, self._keys(z)
        found = {key: self.memory[key] for key in keys if key in self.memory}
        for b, key in enumerate(keys):
            sound = None if key in found or self.upstream is None else self.upstream(z[b : b + 1])
            if sound is not None:
                found[key] = self.memory[key] = (sound, None)
        new = [b for b, key in enumerate(keys) if key not in found and keys.index(key) == b]
        if new:
            self.decodes += 1
            renders = self.render(stage.bare(z[new]).float())
            for b, sound in zip(new, renders, strict=True):
                found[keys[b]] = self.memory[keys[b]] = (sound, None)
        for b, key in enumerate(keys):
            sound, curve = found[key]
            if curves and curve is None:
                found[key] = self.memory[key] = (sound, self.curve(sound, z[b : b + 1]))
        for stale in list(self.memory)[: max(0, len(self.memory) - MEMORY)]:
            self.memory.pop(stale, None)
        return [found[key] for key in keys]

    def remember(self, z: torch.Tensor, audio: np.ndarray) -> None:
        """Keep the bare renders of latents `[batch, dim, 1]` that their renders `audio`
        `[batch, channels, samples]` give (`Stage.from_render`), so they are not decoded."""
        if self.stage.from_render is None:
            return
        keys = self._keys(z)
        for b, (key, sound) in enumerate(zip(keys, audio, strict=True)):
            if (
                key not in self.memory
                and (bare := self.stage.from_render(sound, z[b : b + 1])) is not None
            ):
                self.memory[key] = (bare, None)

    def known_next(self, z: torch.Tensor) -> np.ndarray | None:
        """The next stage's bare render of latents `[1, dim, 1]` (`Stage.passed`) when this
        stage's is known (remembered, or from its own `upstream`), else None: no decode."""
        if self.stage.passed is None:
            return None
        key = self._keys(z)[0]
        known = self.memory.get(key)
        sound = known[0] if known is not None else None
        if sound is None and self.upstream is not None:
            sound = self.upstream(z)
        return None if sound is None else self.stage.passed(sound, z)

    def _keys(self, z: torch.Tensor) -> list[bytes]:
        # to 1e-4: a latent moved along the readout and back is the same sound
        return [np.round(k.numpy(), 4).tobytes() for k in self.stage.neutral(z).double()]

    def curve(self, sound: np.ndarray, z: torch.Tensor) -> np.ndarray:
        """The measurements `[grid]` of bare render `sound` of latent `z` `[1, dim, 1]` at each
        `grid` value."""
        return np.array(
            [self.measure(item) for item in self.stage.candidates(sound, self.stage.grid, z)]
        )

    def curves(self, z: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per item of latents `[batch, dim, 1]`: its bare render `[channels, samples]` and
        its measurement at each `grid` value; one decode of the sounds not met."""
        return cast(list[tuple[np.ndarray, np.ndarray]], self._bare(z, True))

    def start_renders(self, z: torch.Tensor) -> np.ndarray:
        """The renders `[batch, channels, samples]` of latents `[batch, dim, 1]`, made from
        their bare renders (no decode for a sound met)."""
        now = self.stage.readout.value(z).numpy()
        return np.stack(
            [
                self.stage.candidates(sound, now[b : b + 1], z[b : b + 1])[0]
                for b, (sound, _) in enumerate(self._bare(z, False))
            ]
        )

    def start_values(self, z: torch.Tensor) -> np.ndarray:
        """What the renders of latents `[batch, dim, 1]` measure `[batch]`."""
        return np.array([self.measure(sound) for sound in self.start_renders(z)])

    def reach(self, z: torch.Tensor) -> np.ndarray:
        """The lowest and highest measurement of each sound's curve `[batch, 2]` (the
        descriptor's unit; NaN where nothing measures): what a move of latents `[batch, dim, 1]`
        along the readout can render (`curves`: no decode for a sound met)."""
        bounds = []
        for _, curve in self.curves(z):
            finite = curve[np.isfinite(self.stage.miss(curve, 1.0))]
            bounds.append((finite.min(), finite.max()) if finite.size else (math.nan, math.nan))
        return np.array(bounds, dtype=np.float64)

    def near(self, sound: np.ndarray, z: torch.Tensor, request: float) -> float | None:
        """The readout value whose render of bare render `sound` (latent `z` `[1, dim, 1]`)
        measures closest to `request`, found by walking the grid from the latent's own value
        towards it (the measurement grows with the value) and refining as `closest_setting`
        does: a few measurements where the curve takes `grid.size` (a fade-in put back after
        the tilt moved the attack a little). None when `NEAR_STEPS` grid points do not reach
        the request."""
        measure_at, grid, miss = self.measure_at(sound, z), self.stage.grid, self.stage.miss
        now = float(self.stage.readout.value(z)[0])
        values, found = [now], [measure_at(now)]
        first = float(miss(np.array(found), request)[0])
        if not math.isfinite(first):
            return None
        if abs(first) <= CLOSE:
            return now
        up = first < 0
        for value in (grid[grid > now] if up else grid[grid < now][::-1])[:NEAR_STEPS]:
            values.append(float(value))
            found.append(measure_at(float(value)))
            error = float(miss(np.array(found[-1:]), request)[0])
            if not math.isfinite(error):
                return None
            if (error >= 0) == up:
                order = np.argsort(values)
                tried = np.array(values)[order], np.array(found)[order]
                return closest_setting(request, *tried, measure_at, miss=miss)[0]
        return None

    def place(self, z: torch.Tensor, requests: np.ndarray, near: bool = False) -> torch.Tensor:
        """Latents `[batch, dim, 1]` moved along the readout so that each render measures
        `requests` `[batch]` (the descriptor's unit; the closest this sound renders when it
        cannot), found from their bare renders (`curves`), or first by walking from where
        each latent is when `near` and the curve is not known (`ReadoutSearch.near`)."""
        chosen = []
        bare = self._bare(z, not near)
        for b, ((sound, curve), request) in enumerate(zip(bare, requests, strict=True)):
            item = z[b : b + 1]
            value = self.near(sound, item, float(request)) if near and curve is None else None
            if value is None:
                curve = self.curve(sound, item) if curve is None else curve
                value = closest_setting(
                    float(request),
                    self.stage.grid,
                    curve,
                    self.measure_at(sound, item),
                    miss=self.stage.miss,
                )[0]
            if self.stage.ceiling is not None:  # the least gain that renders that
                value = min(value, self.stage.ceiling(sound))
            chosen.append(value)
        return self.stage.readout.at(z, torch.tensor(chosen, dtype=torch.float64))

    def settle(
        self, z: torch.Tensor, requests: np.ndarray, near: bool = False
    ) -> tuple[torch.Tensor, np.ndarray]:
        """`place`, and the renders of the moved latents (one decode, none for an `exact`
        stage)."""
        z_new = self.place(z, requests, near)
        if self.stage.exact:
            return z_new, self.start_renders(z_new)
        self.decodes += 1
        return z_new, self.render(z_new.float())


KEEP_BATCH = 64
"""Sounds whose bare renders `keep_measured` decodes at once."""


def keep_measured(
    model: Any,
    z: torch.Tensor,
    descriptor: str,
    values: np.ndarray,
    render: Callable[[torch.Tensor], np.ndarray],
    measure: Callable[[np.ndarray], float],
    clip_s: float,
) -> torch.Tensor:
    """Latents `[sounds, dim, 1]` moved along the readout of the model's stage that sets
    `descriptor` (`render_stages.stage_of`; only that readout) so that each render measures
    its source's `values` `[sounds]` (the descriptor's unit), or the closest its sound renders:
    a reconstruction keeps its source's attack as it keeps its pitch. `render`:
    latents → audio `[batch, channels, samples]`; `measure`: one sound → its `descriptor`, as
    `values` were measured. `z` as it is for a model without that stage and where a value is
    undefined. One decode per `KEEP_BATCH` sounds; a free stage (the gain) is walked to from
    each sound's own value, not measured over its grid."""
    stage = stage_of(model, clip_s, descriptor)
    wanted = np.asarray(values, dtype=np.float64)
    if stage is None or z.shape[-1] != 1:
        return z
    defined = np.flatnonzero(np.isfinite(stage.miss(wanted, 1.0)))
    if defined.size == 0:
        return z
    kept = z.clone()
    for start in range(0, defined.size, KEEP_BATCH):
        rows = torch.from_numpy(defined[start : start + KEEP_BATCH])
        search = ReadoutSearch(stage, render, measure)
        placed = search.place(z[rows].double(), wanted[rows.numpy()], near=stage.free)
        kept[rows] = placed.to(z.dtype)
    return kept
