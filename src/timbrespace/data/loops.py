"""A drum loop made from single hits: a test input for timbre transfer (a hydrogen kit's
samples, a pack's one-shots)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from timbrespace.audio.io import load_audio


def drum_loop(
    files: Sequence[str | os.PathLike[str]],
    sample_rate: int,
    *,
    step_seconds: float = 0.25,
    hit_seconds: float = 0.22,
    gains_db: Sequence[float] = (0.0, -12.0, -6.0, -18.0),
) -> np.ndarray:
    """Mono float32 `[samples]`: one hit of each file (its first `hit_seconds`, faded out over
    the last 10 ms) every `step_seconds`, at gains cycling through `gains_db`, so the loop has
    both onsets and loudness changes for a transfer to keep."""
    step = round(step_seconds * sample_rate)
    length = min(round(hit_seconds * sample_rate), step)
    fade = np.linspace(1.0, 0.0, min(length, round(0.01 * sample_rate)), dtype=np.float32)
    loop = np.zeros(step * len(files) + step, dtype=np.float32)
    for index, path in enumerate(files):
        hit = load_audio(path, sample_rate, channels=1, max_seconds=hit_seconds)[0][:length]
        hit = hit / max(float(np.abs(hit).max()), 1e-6) * 0.8
        tail = min(fade.size, hit.size)
        hit[hit.size - tail :] *= fade[fade.size - tail :]
        gain = 10.0 ** (gains_db[index % len(gains_db)] / 20.0)
        loop[index * step : index * step + hit.size] += gain * hit
    return loop
