"""Rendered states: one sound with its latent, audio, WAV bytes and control values, kept in an
LRU keyed by a keyed hash of the request (unpredictable without the server's secret)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Annotated

import numpy as np
import soundfile as sf
import torch
from pydantic import StringConstraints

from timbrespace.audio.io import peak_normalize

MAX_STATES = 512
NORMALIZE_PEAK_DB = -1.0
StateId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]
"""A state id as requests give it (`state_id`'s hex digest)."""


@dataclass(frozen=True)
class State:
    """One rendered sound: id, latent `z [1, dim, frames]` float32, audio `[channels, samples]`
    float32 after gain (what `wav` holds, before 16-bit rounding), control values read from the
    latent (user units, NaN where undefined), warnings, the values the user asked for the
    controls a move set (user units, after limits), every measurable control measured on the
    model's render (before gain; NaN where undefined, e.g. the pitch of a hat) and where the
    latent lies on the 2-D PCA map (`/api/map`'s axes; a path averaged over its frames)."""

    id: str
    z: torch.Tensor
    audio: np.ndarray
    wav: bytes
    values: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    requested: dict[str, float] = field(default_factory=dict)
    measured: dict[str, float] = field(default_factory=dict)
    map: tuple[float, float] = (0.0, 0.0)


class StateStore:
    """A thread-safe LRU of states by id (the most recently used `capacity` are kept)."""

    def __init__(self, capacity: int = MAX_STATES) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, State] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, state_id: str) -> State | None:
        with self._lock:
            state = self._items.get(state_id)
            if state is not None:
                self._items.move_to_end(state_id)
            return state

    def put(self, state: State) -> None:
        with self._lock:
            self._items[state.id] = state
            self._items.move_to_end(state.id)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def latest(self) -> State | None:
        """The state stored or used last (None before the first render)."""
        with self._lock:
            return next(reversed(self._items.values()), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def apply_gain(audio: np.ndarray, gain_db: float = 0.0, normalize: bool = False) -> np.ndarray:
    """Float audio `[channels, samples]` → float32 with its peak scaled to NORMALIZE_PEAK_DB dBFS
    (if `normalize`, as the CLI's `--normalize`; silence stays silent), then `gain_db` dB
    applied, then clipped to [-1, 1]."""
    out = np.asarray(audio, dtype=np.float32)
    if normalize:
        out = peak_normalize(out, NORMALIZE_PEAK_DB)
    out = out * 10.0 ** (gain_db / 20.0)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """Float audio `[channels, samples]` in [-1, 1] → a 16-bit PCM WAV file in memory."""
    buffer = io.BytesIO()
    sf.write(buffer, np.asarray(audio).T, sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def state_id(z: torch.Tensor, *options: object, key: bytes = b"") -> str:
    """A keyed hash (BLAKE2b MAC, 128 bits) of a latent and the render options: equal requests,
    equal ids on one server. `key` is the server's secret (`Studio.secret`, random per studio),
    so another server, or a page that can't read this one's answers, can't predict an id."""
    digest = hashlib.blake2b(digest_size=16, key=key)
    digest.update(z.detach().float().contiguous().numpy().tobytes())
    digest.update(repr(tuple(z.shape)).encode())
    digest.update(json.dumps(options).encode())
    return digest.hexdigest()
