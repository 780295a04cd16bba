"""What earlier closed-loop moves from a start sound measured, so that the next move from it
costs fewer renders (`space_loop.settled_move`).

A slider dragged from one sound makes many moves from the same start latent. Two things carry
over from one to the next:
- the start sound's own measurement, needed by a relative setting (`pitch=+3st`) and a lock:
  the render and measurement of a latent are deterministic, so it is made once per start;
- where the loop ended: the offset (latent target − measured, on the controls' scales) of the
  earlier move whose requests were nearest predicts this move's, so its first render is
  usually the one kept. On a hydrogen beat the tracked pitch sat a steady 30–50 cents under the
  synth's base pitch, and the loop spent a second render on 3 moves in 4
  (`benchmarks/studio_latency.py`: p95 75 → 48 ms with the loop's other stops).

Keyed by the start latent's bytes and the names of the set and locked controls; the
`HISTORY_STARTS` latest starts are kept, each with its `HISTORY_MOVES` latest moves.
`remembered_slopes` keeps the decoder's gradients at the latest latents the same way: a loop
that re-aims (`space_aim`) asks them at its start, one decode with autograd each move; and
`MeasureMemo` the descriptors of the latest sounds: the loop measures a render's set controls,
the readout then every control of the same render.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from timbrespace import space_aim
from timbrespace.audio.descriptors import DescriptorSettings, DescriptorValues, descriptor_names
from timbrespace.latent.control import Control
from timbrespace.models.base import ConfiguredModel
from timbrespace.space_aim import Slope

HISTORY_STARTS = 16
HISTORY_MOVES = 64

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
    moves: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)
    """(requests, offsets) `[controls]` each, of moves that reached every request."""


class LoopHistory:
    """Per start latent and controls: its measurement and the ends of earlier moves. One item
    (batch 1) only; thread-safe."""

    def __init__(self) -> None:
        self._starts = Recent(HISTORY_STARTS)
        self._lock = self._starts.lock
        self._slope: Slope | None = None

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

    def predict(self, key: Key, requests: torch.Tensor) -> torch.Tensor | None:
        """Latent targets `[1, controls]` for `requests` `[1, controls]`: the requests plus the
        offsets of the earlier move whose requests were nearest (the largest difference over the
        controls; NaN requests are not compared and predict NaN), or None without one."""
        with self._lock:
            entry = self._starts.get(key)
            if entry is None or not entry.moves or requests.shape[0] != 1:
                return None
            asked = torch.stack([r for r, _ in entry.moves])
            distance = (asked - requests[0].double()).abs().nan_to_num(0.0).amax(dim=1)
            offsets = entry.moves[int(distance.argmin())][1]
        return (requests[0].double() + offsets)[None]

    def record(
        self, key: Key, requests: torch.Tensor, latent_targets: torch.Tensor, measured: torch.Tensor
    ) -> None:
        """Remember a move that reached its `requests` `[1, controls]` at `latent_targets` with
        `measured` values `[1, controls]` (batch 1 only)."""
        if requests.shape[0] != 1:
            return
        offsets = (latent_targets - measured)[0].double()
        with self._lock:
            moves = self._entry(key).moves
            moves.append((requests[0].double().clone(), offsets))
            del moves[:-HISTORY_MOVES]


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
