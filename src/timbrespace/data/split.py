"""Deterministic train/validation split by source file, stratified by pack.

All clips of a file land on the same side (no leakage between chunks of one recording). Within
each pack, files are ordered by a seeded hash of their path, so the split of a file does not
change when other files are added or removed.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from timbrespace.data.cache import SoundCache


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    """int64 clip indices `[n_train]`."""
    val: np.ndarray
    """int64 clip indices `[n_val]`."""


def _rank(path: str, seed: int) -> str:
    return hashlib.sha1(f"{seed}:{path}".encode()).hexdigest()


def split_sources(
    packs: list[str], paths: list[str], val_fraction: float, seed: int = 0
) -> np.ndarray:
    """Boolean `[files]`: True for validation files. Each pack with ≥ 2 files gives at least one."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    is_val = np.zeros(len(paths), dtype=bool)
    by_pack: dict[str, list[int]] = {}
    for index, pack in enumerate(packs):
        by_pack.setdefault(pack, []).append(index)
    for members in by_pack.values():
        if val_fraction == 0 or len(members) < 2:
            continue
        count = min(len(members) - 1, max(1, math.ceil(val_fraction * len(members))))
        ranked = sorted(members, key=lambda i: _rank(paths[i], seed))
        is_val[ranked[:count]] = True
    return is_val


def split_cache(cache: SoundCache, val_fraction: float = 0.1, seed: int = 0) -> Split:
    """Clip indices of the train and validation sides of `cache`."""
    is_val_source = split_sources(
        [source.pack for source in cache.sources],
        [source.path for source in cache.sources],
        val_fraction,
        seed,
    )
    is_val = is_val_source[cache.clip_source]
    return Split(np.flatnonzero(~is_val), np.flatnonzero(is_val))
