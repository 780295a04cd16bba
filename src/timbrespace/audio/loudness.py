"""How well a rendering keeps the loudness envelope of its source (timbre transfer).

Frame loudness is librosa's RMS in dB (an independent measure, not the project's descriptors);
agreement is Spearman's ρ over frames where the source is above a floor, so silence between hits
cannot inflate or deflate it.
"""

from __future__ import annotations

import numpy as np

FRAME = 1024
HOP = 256
FLOOR_DB = -60.0


def frame_loudness_db(audio: np.ndarray, frame: int = FRAME, hop: int = HOP) -> np.ndarray:
    """RMS per frame in dB re full scale of mono `audio` `[samples]` (or `[channels, samples]`,
    mixed down): `[frames]`, −120 dB for digital silence."""
    import librosa

    mono = np.asarray(audio, dtype=np.float32)
    if mono.ndim > 1:
        mono = mono.mean(axis=0)
    rms = librosa.feature.rms(y=mono, frame_length=frame, hop_length=hop, center=True)[0]
    return 20.0 * np.log10(np.maximum(rms, 1e-6))


def envelope_spearman(
    source: np.ndarray, rendered: np.ndarray, floor_db: float = FLOOR_DB
) -> float:
    """Spearman's ρ between the frame loudness (dB) of `source` and `rendered` (same rate,
    cropped to the shorter), over the frames where either is above `floor_db` (dB re full scale)."""
    from scipy.stats import spearmanr

    a, b = frame_loudness_db(source), frame_loudness_db(rendered)
    count = min(a.size, b.size)
    a, b = a[:count], b[:count]
    keep = (a > floor_db) | (b > floor_db)
    if keep.sum() < 3:
        raise ValueError("fewer than 3 frames above the loudness floor: nothing to compare")
    return float(spearmanr(a[keep], b[keep]).statistic)
