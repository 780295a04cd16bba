"""The render stages of the one-shot synth that a search sets, and the search over one stage.

The one-shot synth ends its render with stages each set by one latent readout, and the rest of
the decoder sees the latent without them (`models.oneshot_tilt`, `models.oneshot_envelope`): a
spectral tilt, then a fade-in. A move along a stage's readout changes that stage and nothing
else, so one decode of the sound with this stage and the later ones neutral (`Stage.bare`)
gives the render at every readout value without decoding (`Stage.candidates`). The stage's
descriptor is measured on a grid of values, the value whose measurement is closest to the
request is refined by Brent's method where the measurement crosses it, and the sound is decoded
once at it (`ReadoutSearch`). The moves of a `LatentSpace` use it (`space_readout`), and so does
encoding: a reconstruction keeps its source's attack (`keep_attack`). An envelope cannot
resolve every attack (a 110 Hz tone's rises over its period, whatever the fade), so a request
the sound cannot measure keeps the closest value. Latents `[batch, dim, frames]`; descriptor
values in their unit (s, Hz).
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

from timbrespace.audio.io import within_full_scale
from timbrespace.latent.control import Control
from timbrespace.models.oneshot_tilt import TILT_LIMIT

ATTACK_DESCRIPTOR, BRIGHTNESS_DESCRIPTOR = "attack_time", "centroid"
FADE_GRID, TILT_GRID = 28, 14
"""Readout values each sound's curve is measured at: an attack's fades 37 % apart (its
measurement jumps), the tilt's slopes 0.6 apart (its centroid is smooth in the slope); the
refinement does the rest."""
GRID_LOW_S, GRID_HIGH_S = 1e-4, 0.5
TILT_REACH = 0.97 * TILT_LIMIT
"""The steepest tilt searched (the readout's tanh saturates beyond)."""
REFINE_STEPS = 8
CLOSE = math.log1p(0.025)
"""The refinement stops at a measurement this close to the request (ln ratio: 2.5 %, half the
loop's tolerance; the render measures what the search measured). At 1 % a studio brightness
drag at 44.1 kHz took p95 56 ms, at 2.5 % 43 ms."""
MEMORY = 8
"""Sounds whose curves a search keeps (a studio drag moves one sound)."""
NEAR_STEPS = 6
"""Grid points `ReadoutSearch.near` walks before it measures the whole curve instead."""
UNFADED_LOG_S = math.log(1e-6)
"""A fade this short (ln s) is a gain of 1 from the first sample at any rate up to 800 kHz: the
unfaded render (not shorter: a far move along the readout leaves float32 rounding in the rest
of the latent)."""

Candidates = Callable[[np.ndarray, np.ndarray, torch.Tensor], np.ndarray]


@dataclass(frozen=True)
class Readout:
    """A linear readout `w·z + b` of latents: `weights` `[dim]`, `bias`."""

    weights: torch.Tensor
    bias: float

    def value(self, z: torch.Tensor) -> torch.Tensor:
        """The readout of latents `[batch, dim, 1]` `[batch]`."""
        return z[:, :, 0].double() @ self.weights + self.bias

    def at(self, z: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Latents `[batch, dim, 1]` moved along the readout's weights (only) so that it reads
        `values` `[batch]`."""
        step = (values.double() - self.value(z)) / float(self.weights @ self.weights)
        return z.double() + (step[:, None] * self.weights[None, :])[..., None]


@dataclass(frozen=True)
class Stage:
    """A render stage a search sets: its `readout`, the `descriptor` it moves, the readout
    `grid` `[n]` (ascending) every sound's curve is measured at; `neutral`: latents → the
    latents identifying the sound for this stage (its readout neutral); `bare`: latents → the
    latents to decode (this stage and every later one neutral); `candidates`: (a bare render
    `[channels, samples]`, readout values `[n]`, its latent `[1, dim, 1]`) → the renders at
    those values `[n, channels, samples]`, as the model renders them."""

    readout: Readout
    descriptor: str
    grid: np.ndarray
    neutral: Callable[[torch.Tensor], torch.Tensor]
    bare: Callable[[torch.Tensor], torch.Tensor]
    candidates: Candidates


def fade_stage(model: Any, clip_s: float) -> Stage | None:
    """The model's fade-in (`attack_fade` and its "attack_time" readout, ln s) as a `Stage`,
    or None."""
    readouts: dict[str, tuple[torch.Tensor, float]] = getattr(model, "descriptor_readouts", dict)()
    gains = getattr(model, "attack_fade", None)
    if ATTACK_DESCRIPTOR not in readouts or gains is None or gains(1, torch.ones(1)) is None:
        return None
    weights, bias = readouts[ATTACK_DESCRIPTOR]
    readout = Readout(weights.double(), float(bias))

    def unfaded(z: torch.Tensor) -> torch.Tensor:
        return readout.at(z, torch.full((z.shape[0],), UNFADED_LOG_S))

    def faded(sound: np.ndarray, values: np.ndarray, _: torch.Tensor) -> np.ndarray:
        ramps = gains(sound.shape[-1], torch.as_tensor(np.exp(values), dtype=torch.float64))
        # sound: [channels, samples] or [n, channels, samples]
        return within_full_scale(sound * ramps.numpy()[:, None, :])

    grid = np.log(np.geomspace(GRID_LOW_S, min(GRID_HIGH_S, clip_s), FADE_GRID))
    return Stage(readout, ATTACK_DESCRIPTOR, grid, unfaded, unfaded, faded)


def tilt_stage(model: Any, clip_s: float) -> Stage | None:
    """The model's spectral tilt (`tilt_stage`, `models.oneshot_tilt`) as a `Stage`, with the
    fade-in that follows it (`fade_stage`), or None."""
    found = getattr(model, "tilt_stage", lambda: None)()
    if found is None:
        return None
    readout, fade = Readout(found.weights.double(), float(found.bias)), fade_stage(model, clip_s)

    def flat(z: torch.Tensor) -> torch.Tensor:
        return readout.at(z, torch.zeros(z.shape[0]))

    def bare(z: torch.Tensor) -> torch.Tensor:
        return flat(z) if fade is None else fade.bare(flat(z))

    def tilted(sound: np.ndarray, values: np.ndarray, z: torch.Tensor) -> np.ndarray:
        many = torch.from_numpy(sound).float().expand(values.size, -1, -1)
        audio = found.apply(many, torch.from_numpy(values).float()).numpy()
        if fade is None:
            return within_full_scale(audio)
        return fade.candidates(audio, fade.readout.value(z).numpy(), z)  # then the fade-in

    slopes = np.linspace(-TILT_REACH, TILT_REACH, TILT_GRID)
    grid = TILT_LIMIT * np.arctanh(slopes / TILT_LIMIT)
    return Stage(readout, BRIGHTNESS_DESCRIPTOR, grid, flat, bare, tilted)


class _Close(Exception):
    """Raised inside the root finder once a measurement is within `CLOSE` of the request."""


def closest_setting(
    request: float,
    grid: np.ndarray,
    measured: np.ndarray,
    measure_at: Callable[[float], float],
    steps: int = REFINE_STEPS,
) -> tuple[float, float]:
    """The readout value among `grid` `[n]` (ascending, measuring `measured` `[n]`, > 0) whose
    measurement is closest to `request` in ratio, refined by Brent's method (`measure_at`:
    value → measurement; at most `steps` calls, stopping within `CLOSE`) between it and a
    neighbour on the other side of the request: (value, measurement). The closest value tried
    is kept, not the root (an envelope's measurement jumps over some values), and a request
    nothing measures near keeps the closest grid point."""
    error = np.log(np.where(measured > 0, measured, np.nan)) - math.log(request)
    if not np.isfinite(error).any():
        return float(grid[0]), float(measured[0])
    best = int(np.nanargmin(np.abs(error)))
    found = [float(grid[best]), float(measured[best]), abs(float(error[best]))]
    sides = [s for s in (best - 1, best + 1) if 0 <= s < grid.size and error[s] * error[best] < 0]
    if not sides or found[2] <= CLOSE:
        return found[0], found[1]
    known = {float(grid[i]): float(error[i]) for i in (best, sides[0])}

    def miss(value: float) -> float:
        if value in known:
            return known[value]
        got = measure_at(value)
        if not got > 0:
            raise _Close  # nothing to measure: keep the best so far
        error = math.log(got) - math.log(request)
        if abs(error) < found[2]:
            found[:] = [value, got, abs(error)]
        if abs(error) <= CLOSE:
            raise _Close
        return error

    low, high = sorted(known)
    with contextlib.suppress(_Close):
        scipy.optimize.brentq(miss, low, high, maxiter=steps, full_output=True, disp=False)
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

    def measure_at(self, sound: np.ndarray, z: torch.Tensor) -> Callable[[float], float]:
        """Readout value → the measurement of bare render `sound` of latent `z` `[1, dim, 1]`."""
        return lambda value: self.measure(self.stage.candidates(sound, np.array([value]), z)[0])

    def _bare(self, z: torch.Tensor, curves: bool) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per item of latents `[batch, dim, 1]`: its bare render `[channels, samples]` and,
        when `curves` (else where already made), its measurement at each `grid` value; one
        decode of the sounds not met."""
        stage = self.stage
        # to 1e-4: a latent moved along the readout and back is the same sound
        keys = [np.round(k.numpy(), 4).tobytes() for k in stage.neutral(z).double()]
        found = {key: self.memory[key] for key in keys if key in self.memory}
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
            finite = curve[np.isfinite(curve) & (curve > 0)]
            bounds.append((finite.min(), finite.max()) if finite.size else (math.nan, math.nan))
        return np.array(bounds, dtype=np.float64)

    def near(self, sound: np.ndarray, z: torch.Tensor, request: float) -> float | None:
        """The readout value whose render of bare render `sound` (latent `z` `[1, dim, 1]`)
        measures closest to `request`, found by walking the grid from the latent's own value
        towards it (the measurement grows with the value) and refining as `closest_setting`
        does: a few measurements where the curve takes `grid.size` (a fade-in put back after
        the tilt moved the attack a little). None when `NEAR_STEPS` grid points do not reach
        the request."""
        measure_at, grid = self.measure_at(sound, z), self.stage.grid
        now = float(self.stage.readout.value(z)[0])
        values, found = [now], [measure_at(now)]
        if not found[0] > 0:
            return None
        if abs(math.log(found[0] / request)) <= CLOSE:
            return now
        up = request > found[0]
        for value in (grid[grid > now] if up else grid[grid < now][::-1])[:NEAR_STEPS]:
            values.append(float(value))
            found.append(measure_at(float(value)))
            if not found[-1] > 0:
                return None
            if (found[-1] >= request) == up:
                order = np.argsort(values)
                tried = np.array(values)[order], np.array(found)[order]
                return closest_setting(request, *tried, measure_at)[0]
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
                    float(request), self.stage.grid, curve, self.measure_at(sound, item)
                )[0]
            chosen.append(value)
        return self.stage.readout.at(z, torch.tensor(chosen, dtype=torch.float64))

    def settle(
        self, z: torch.Tensor, requests: np.ndarray, near: bool = False
    ) -> tuple[torch.Tensor, np.ndarray]:
        """`place`, and the renders of the moved latents (one decode)."""
        z_new = self.place(z, requests, near)
        self.decodes += 1
        return z_new, self.render(z_new.float())


KEEP_BATCH = 64
"""Sounds whose bare renders `keep_attack` decodes at once."""


def keep_attack(
    model: Any,
    z: torch.Tensor,
    attacks: np.ndarray,
    render: Callable[[torch.Tensor], np.ndarray],
    measure: Callable[[np.ndarray], float],
    clip_s: float,
) -> torch.Tensor:
    """Latents `[sounds, dim, 1]` moved along the model's fade-in readout (only) so that each
    render measures its source's attack `attacks` `[sounds]` (s), or the closest its sound
    renders: a reconstruction keeps its source's attack as it keeps its pitch. `render`:
    latents → audio `[batch, channels, samples]`; `measure`: one sound → its attack (s), as
    `attacks` were measured. `z` as it is for a model without a fade-in (`fade_stage`) and
    where an attack is undefined. One decode per `KEEP_BATCH` sounds."""
    stage = fade_stage(model, clip_s)
    wanted = np.asarray(attacks, dtype=np.float64)
    defined = np.flatnonzero(np.isfinite(wanted) & (wanted > 0))
    if stage is None or z.shape[-1] != 1 or defined.size == 0:
        return z
    kept = z.clone()
    for start in range(0, defined.size, KEEP_BATCH):
        rows = torch.from_numpy(defined[start : start + KEEP_BATCH])
        search = ReadoutSearch(stage, render, measure)
        placed = search.place(z[rows].double(), wanted[rows.numpy()])
        kept[rows] = placed.to(z.dtype)
    return kept
