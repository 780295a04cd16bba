"""Torch datasets over a prepared cache (clips + standardised descriptor targets)."""

from __future__ import annotations

from typing import NotRequired, TypedDict

import numpy as np
import torch
from torch.utils.data import Dataset

from timbrespace.data.cache import SoundCache

IN_MEMORY_LIMIT_BYTES = 2 * 1024**3


class ClipItem(TypedDict):
    """One `ClipDataset` item (see `ClipDataset`)."""

    audio: torch.Tensor
    targets: torch.Tensor
    index: int
    f0_curve: NotRequired[torch.Tensor]
    note: NotRequired[torch.Tensor]


class ClipDataset(Dataset):
    """Items: `{"audio": float32 [channels, samples], "targets": float32 [D], "index": int}`,
    plus `"f0_curve": float32 [frames]` (Hz, NaN where unvoiced; one frame per descriptor hop)
    when `f0_curves` `[clips, frames]` is given, and `"note": float32 [3]` (style index, MIDI
    pitch, velocity) when `notes` `[clips, 3]` is given.

    Subsets small enough (≤ 2 GiB) are copied into RAM once; larger ones read the memory map.
    """

    def __init__(
        self,
        cache: SoundCache,
        indices: np.ndarray,
        targets: np.ndarray,
        f0_curves: np.ndarray | None = None,
        notes: np.ndarray | None = None,
    ) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.targets = torch.from_numpy(np.asarray(targets, dtype=np.float32))
        self.f0_curves = (
            None if f0_curves is None else torch.from_numpy(np.asarray(f0_curves, dtype=np.float32))
        )
        self.notes = None if notes is None else torch.from_numpy(np.asarray(notes, np.float32))
        nbytes = len(self.indices) * cache.channels * cache.clip_samples * 4
        self._audio: torch.Tensor | None = None
        self._root = cache.root
        if nbytes <= IN_MEMORY_LIMIT_BYTES:
            self._audio = torch.from_numpy(np.ascontiguousarray(cache.audio[np.sort(self.indices)]))
            order = np.argsort(np.argsort(self.indices))
            self._audio = self._audio[torch.from_numpy(order)]
        self._cache: SoundCache | None = None if self._audio is not None else cache

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> ClipItem:
        if self._audio is not None:
            audio = self._audio[item]
        else:
            if self._cache is None:
                self._cache = SoundCache(self._root)
            audio = torch.from_numpy(np.array(self._cache.audio[self.indices[item]]))
        sample: ClipItem = {
            "audio": audio,
            "targets": self.targets[item],
            "index": int(self.indices[item]),
        }
        if self.f0_curves is not None:
            sample["f0_curve"] = self.f0_curves[item]
        if self.notes is not None:
            sample["note"] = self.notes[item]
        return sample

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = None
        return state
