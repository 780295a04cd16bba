"""What earlier closed-loop moves from a start sound measured, so that the next move from it
costs fewer renders (`space_loop.settled_move`).

A slider dragged from one sound makes many moves from the same start latent. Two things carry
over from one to the next:
- the start sound's own measurement, needed by a relative setting (`pitch=+3st`) and a lock:
  the render and measurement of a latent are deterministic, so it is made once per start;
- what every render of earlier moves measured: the offset (latent target − measured, on the
  controls' scales) of the renders nearest the request predicts this move's (`predict`), so
  its first render is usually the one kept, and the nearest render gives the loop's first
  secant slope. On a hydrogen beat the tracked pitch sat a steady 30–50 cents under the
  synth's base pitch, and the loop spent a second render on 3 moves in 4
  (`benchmarks/studio_latency.py`: p95 75 → 48 ms with the loop's other stops).

Keyed by the start latent's bytes and the names of the set and locked controls; the
`HISTORY_STARTS` latest starts are kept, each with its `HISTORY_RENDERS` latest renders.
`remembered_slopes` keeps the decoder's gradients at the latest latents the same way: a loop
that re-aims (`space_aim`) asks them at its start, one decode with autograd each move; and
`MeasureMemo` the descriptors of the latest sounds: the loop measures a render's set controls,
the readout then every control of the same render.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from timbrespace import space_aim
from timbrespace.audio.descriptors import DescriptorSettings, DescriptorValues, descriptor_names
from timbrespace.latent.closed_loop import Bracket
from timbrespace.latent.control import Control
from timbrespace.models.base import ConfiguredModel
from timbrespace.space_aim import Slope

HISTORY_STARTS = 16
RENDERS_KEPT = 8
"""The loop's renders of its latest latents kept (`LoopHistory.rendering`): a move made again
(`Warm.repeat`, or the other sliders' part of a drag whose settings stay) decodes nothing."""
HISTORY_RENDERS = 128

Key = tuple[object, ...]


class Recent(OrderedDict[Hashable, Any]):
    """The `size` latest entries by key: `get` and `put` make an entry the latest; the lock
    (`lock`) is the caller's to hold."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def get(self, key: Hashable, default: Any = None) -> Any:
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def put(self, key: Hashable, value: Any) -> Any:
        """Store `value` as the latest entry, forget the oldest past `size`; returns `value`."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
        return value


@dataclass
class _Start:
    measured: torch.Tensor | None = None
    """The start sound's measurement `[1, controls]` (scale units), once made."""
    tried: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    """(latent targets, measurements) `[controls]` each, of every render of earlier moves."""


@dataclass
class Warm:
    """Where a move's loop starts, from the history: the first render's latent targets
    `[1, controls]` (NaN where no request predicts one), and the earlier render nearest them,
    (latent targets, measurements) `[1, controls]` each, for the loop's first secant slope."""

    targets: torch.Tensor
    neighbour: tuple[torch.Tensor, torch.Tensor]
    repeat: bool = False
    """The targets are an earlier render's, the one the move keeps (it measured within reach of
    the request, or no render measures the request): one render is all the move needs."""


class LoopHistory:
    """Per start latent and controls: its measurement and the renders of earlier moves. One item
    (batch 1) only; thread-safe."""

    def __init__(self) -> None:
        self._starts = Recent(HISTORY_STARTS)
        self._lock = self._starts.lock
        self._slope: Slope | None = None
        self._renders = Recent(RENDERS_KEPT)

    def rendering(
        self, render: Callable[[torch.Tensor], np.ndarray], tag: Hashable
    ) -> Callable[[torch.Tensor], np.ndarray]:
        """`render` (latents `[batch, dim, frames]` → audio `[batch, channels, samples]`)
        answering again from memory, with a copy, for the `RENDERS_KEPT` latest latents it
        rendered under `tag` (the render's options): the decoder is deterministic."""
        kept = self._renders

        def remembered(latents: torch.Tensor) -> np.ndarray:
            values = latents.detach().cpu().contiguous()
            key = (tag, str(values.dtype), tuple(values.shape), values.numpy().tobytes())
            with kept.lock:
                found = kept.get(key)
            if found is None:
                found = render(latents)
                with kept.lock:
                    kept.put(key, found)
            return np.array(found, copy=True)

        return remembered

    def slopes(
        self,
        model: ConfiguredModel,
        settings: DescriptorSettings,
        descriptor_of: Callable[[str], str | None],
    ) -> Slope:
        """The loop's gradients through `model` (`space_aim.slopes_of`), made the first time
        and remembered with their answers (`remembered_slopes`)."""
        with self._lock:
            if self._slope is None:
                self._slope = remembered_slopes(space_aim.slopes_of(model, settings, descriptor_of))
            return self._slope

    @staticmethod
    def key(z: torch.Tensor, chosen: Sequence[Control], locked: Sequence[Control]) -> Key:
        """The key of a move of latents `z` `[batch, dim, frames]` setting `chosen` and holding
        `locked` controls."""
        values = z.detach().double().cpu().contiguous()
        names = tuple(c.name for c in chosen), tuple(c.name for c in locked)
        return (tuple(values.shape), values.numpy().tobytes(), *names)

    def _entry(self, key: Key) -> _Start:
        """The entry of `key`, made the latest (called with the lock held)."""
        entry = self._starts.get(key)
        return self._starts.put(key, _Start()) if entry is None else entry

    def start(self, key: Key) -> torch.Tensor | None:
        """The start sound's remembered measurement `[1, controls]`, or None."""
        with self._lock:
            entry = self._starts.get(key)
            return None if entry is None or entry.measured is None else entry.measured.clone()

    def remember_start(self, key: Key, measured: torch.Tensor) -> None:
        """Remember the start sound's measurement `[batch, controls]` (batch 1 only)."""
        if measured.shape[0] == 1:
            with self._lock:
                self._entry(key).measured = measured.detach().clone()

    def predict(
        self, key: Key, requests: torch.Tensor, reach: torch.Tensor | None = None
    ) -> Warm | None:
        """Where a move to `requests` `[1, controls]` starts (`Warm`), or None without an earlier
        render measured on every request.

        - An earlier render measured within `reach` `[1, controls]` (how far from its request
          the loop counts a control as reached) of every request is made again (`Warm.repeat`:
          the decoder is deterministic).
        - Else, when one control is set, the offset (latent target − measured) is interpolated
          between the renders measured nearest below and above its request. A release dragged
          from a hydrogen ride measured 2.4 times its latent change near the ride's own release
          and once elsewhere: the nearest render's offset put a move's first render 10–20 % off
          there, and the loop then spent 3–4 renders on one move in ten. Where those two renders
          straddle a jump of the measurement (`closed_loop.JUMP_WIDTH`), or renders between
          their latent targets measured outside them (the same ride's release flipped between
          ~90 and ~200 ms over a range of targets: its tail hovering at −40 dB), no render
          measures the request: the nearer of the two is made again.
        - Else the offset of the render whose measurements were nearest (the largest difference
          over the requests)."""
        with self._lock:
            entry = self._starts.get(key)
            if entry is None or not entry.tried or requests.shape[0] != 1:
                return None
            targets = torch.stack([t for t, _ in entry.tried])
            measured = torch.stack([m for _, m in entry.tried])
        asked = requests[0].double()
        compared = torch.isfinite(asked)
        usable = torch.isfinite(measured[:, compared]).all(dim=1)
        if not bool(usable.any()):
            return None
        gaps = (measured - asked).abs()[:, compared]
        if reach is not None:
            misses = torch.where(usable[:, None], gaps / reach[0, compared].double(), math.inf)
            worst = _worst(misses)
            best = int(worst.argmin())
            if float(worst[best]) <= 1.0:
                return _again(targets, measured, best, best)
        offsets = targets - measured
        offset = offsets[int(torch.where(usable, _worst(gaps), math.inf).argmin())]
        if len(key) > 2 and len(key[2]) == 1 and bool(compared[0]):  # type: ignore[arg-type]
            sides = _sides(measured[:, 0], usable, float(asked[0]))
            if sides is not None:
                low, high = sides
                if reach is not None and (
                    _straddle(targets[[low, high], 0], measured[[low, high], 0], reach[0, 0])
                    or _between(targets[:, 0], usable, low, high)
                ):
                    near = min(sides, key=lambda k: abs(float(measured[k, 0] - asked[0])))
                    return _again(targets, measured, near, high if near == low else low)
                offset = _interpolated(measured[:, 0], offsets, float(asked[0]), low, high)
        predicted = asked + offset
        near_targets = (targets - predicted.nan_to_num(0.0)).abs()[:, compared].sum(dim=1)
        closest = int(torch.where(usable, near_targets, math.inf).argmin())
        return Warm(predicted[None], (targets[closest][None], measured[closest][None]))

    def record(self, key: Key, tried: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Remember a move's renders, (latent targets, measurements) `[1, controls]` each (batch
        1 only; the latest `HISTORY_RENDERS` renders are kept)."""
        kept = [(t[0].double().clone(), m[0].double().clone()) for t, m in tried if t.shape[0] == 1]
        with self._lock:
            renders = self._entry(key).tried
            for targets, measured in kept:  # a render made again adds nothing
                if not any(torch.equal(targets, known) for known, _ in renders):
                    renders.append((targets, measured))
            del renders[:-HISTORY_RENDERS]


def _worst(misses: torch.Tensor) -> torch.Tensor:
    """The largest of each row of `misses` `[renders, controls]` (0 without columns)."""
    if misses.shape[1] == 0:
        return torch.zeros(len(misses), dtype=misses.dtype)
    return misses.amax(dim=1)


def _again(targets: torch.Tensor, measured: torch.Tensor, render: int, other: int) -> Warm:
    """A warm start that makes earlier render `render` again, the slope from render `other`."""
    neighbour = (targets[other][None], measured[other][None])
    return Warm(targets[render][None], neighbour, repeat=True)


def _between(targets: torch.Tensor, usable: torch.Tensor, low: int, high: int) -> bool:
    """Whether a `usable` render other than `low` and `high` has a latent target (`targets`
    `[renders]`) strictly between theirs: it measured outside them, so the measurement does not
    rise steadily from one to the other."""
    lower, upper = sorted((float(targets[low]), float(targets[high])))
    inside = usable & (targets > lower) & (targets < upper)
    return bool(inside.any())


def _sides(measured: torch.Tensor, usable: torch.Tensor, asked: float) -> tuple[int, int] | None:
    """The renders (indices of `measured` `[renders]`, only `usable` ones) measured nearest
    below and nearest above `asked`, or None when none lies on one side."""
    below = usable & (measured <= asked)
    above = usable & (measured >= asked)
    if not (bool(below.any()) and bool(above.any())):
        return None
    low = int(torch.where(below, measured, -math.inf).argmax())
    return low, int(torch.where(above, measured, math.inf).argmin())


def _interpolated(
    measured: torch.Tensor, offsets: torch.Tensor, asked: float, low: int, high: int
) -> torch.Tensor:
    """The offsets `[controls]` of renders `low` and `high` interpolated linearly at `asked`
    on their measurements `measured` `[renders]`."""
    span = float(measured[high] - measured[low])
    if span <= 1e-12:
        return offsets[low]
    weight = (asked - float(measured[low])) / span
    return offsets[low] + weight * (offsets[high] - offsets[low])


def _straddle(targets: torch.Tensor, measured: torch.Tensor, tolerance: torch.Tensor) -> bool:
    """Whether two renders, latent targets and measurements `[2]` below and above a request,
    straddle a jump of the measurement (`closed_loop.Bracket.jumped`)."""
    bracket = Bracket(
        (targets[:1, None], measured[:1, None]), (targets[1:, None], measured[1:, None])
    )
    return bool(bracket.jumped(tolerance.double().reshape(1, 1)).all())


def remembered_slopes(slope: Slope, size: int = HISTORY_STARTS) -> Slope:
    """`slope` answering again from memory for the `size` latest (latent, control names) it was
    asked (the decoder and its gradients are deterministic); thread-safe."""
    answers = Recent(size)

    def remembered(z: torch.Tensor, controls: Sequence[Control]) -> Any:
        key = LoopHistory.key(z, controls, ())
        with answers.lock:
            found = answers.get(key)
        if found is None:
            found = slope(z, controls)
            with answers.lock:
                answers.put(key, found)
        return found

    return remembered


class MeasureMemo:
    """`measure` (one sound `[channels, samples]` and descriptor names → `DescriptorValues`)
    answering from memory for the descriptors it already measured on the same sound (by
    content) among the `size` latest; thread-safe."""

    def __init__(
        self,
        measure: Callable[[np.ndarray, Sequence[str]], DescriptorValues],
        size: int = HISTORY_STARTS,
    ) -> None:
        self._measure = measure
        self._sounds = Recent(size)
        """Per sound (by content): descriptor name → (clip value, curve)."""

    def __call__(self, audio: np.ndarray, names: Sequence[str] | None = None) -> DescriptorValues:
        """Descriptors `names` (default: all registered) of `audio`."""
        wanted = descriptor_names() if names is None else list(names)
        sound = np.ascontiguousarray(audio)
        key = (
            hashlib.blake2b(sound.tobytes(), digest_size=16).digest()
            + repr((sound.shape, sound.dtype.str)).encode()
        )
        with self._sounds.lock:
            known = dict(self._sounds.get(key, {}))
        missing = [name for name in wanted if name not in known]
        if missing:
            found = self._measure(audio, missing)
            known.update({n: (found.value(n), found.curve(n)) for n in missing})
            with self._sounds.lock:
                self._sounds.put(key, {**self._sounds.get(key, {}), **known})
        clip = np.array([known[n][0] for n in wanted], np.float32)
        curves = np.stack([known[n][1] for n in wanted]) if wanted else np.empty((0, 0), np.float32)
        return DescriptorValues(names=wanted, clip=clip, curves=curves)
