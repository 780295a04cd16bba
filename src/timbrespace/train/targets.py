"""Descriptor targets for the joint linear descriptor head.

Raw descriptors live in very different units and skews (f0 in Hz, times in s), so the head
predicts them on perceptual scales — f0 in semitones re 440 Hz, times and frequencies as log —,
standardised with training-split statistics. Undefined values (NaN, e.g. the f0 of a hat) are
masked out of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

SCALES = {
    "f0": "semitones",
    "attack_time": "log",
    "release_time": "log",
    "decay_constant": "log",
    "centroid": "log",
    "bandwidth": "log",
    "rolloff": "log",
    "rms": "log",
}


def to_scale(values: np.ndarray, scale: str) -> np.ndarray:
    """Map raw descriptor values to the head's scale; non-positive values of log scales → NaN."""
    values = np.asarray(values, dtype=np.float64)
    if scale == "linear":
        return values
    with np.errstate(divide="ignore", invalid="ignore"):
        positive = np.where(values > 0, values, np.nan)
        if scale == "semitones":
            return 12.0 * np.log2(positive / 440.0)
        if scale == "log":
            return np.log(np.maximum(positive, 1e-5))
    raise ValueError(f"unknown scale {scale!r}")


@dataclass(frozen=True)
class DescriptorTargets:
    """Names, scales and training statistics of the head's targets."""

    names: tuple[str, ...]
    scales: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, names: list[str], columns: np.ndarray) -> DescriptorTargets:
        """columns: raw values `[clips, len(names)]` of the training split."""
        scales = tuple(SCALES.get(name, "linear") for name in names)
        scaled = np.stack([to_scale(columns[:, i], s) for i, s in enumerate(scales)], axis=1)
        mean = np.nanmean(np.where(np.isfinite(scaled), scaled, np.nan), axis=0)
        std = np.nanstd(np.where(np.isfinite(scaled), scaled, np.nan), axis=0)
        mean = np.nan_to_num(mean)
        std = np.where(np.isfinite(std) & (std > 1e-6), std, 1.0)
        return cls(tuple(names), scales, tuple(map(float, mean)), tuple(map(float, std)))

    def transform(self, columns: np.ndarray) -> np.ndarray:
        """Raw `[clips, D]` → standardised float32 `[clips, D]` (NaN where undefined)."""
        scaled = np.stack([to_scale(columns[:, i], s) for i, s in enumerate(self.scales)], axis=1)
        scaled = np.where(np.isfinite(scaled), scaled, np.nan)
        return ((scaled - np.array(self.mean)) / np.array(self.std)).astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "names": list(self.names),
            "scales": list(self.scales),
            "mean": list(self.mean),
            "std": list(self.std),
        }


def masked_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the finite entries of `target` `[batch, D]` (0 if none)."""
    mask = torch.isfinite(target)
    if not bool(mask.any()):
        return prediction.sum() * 0.0
    diff = prediction[mask] - target[mask]
    return (diff * diff).mean()
