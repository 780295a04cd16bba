"""Descriptor targets for the joint linear descriptor head.

Raw descriptors live in very different units and skews (f0 in Hz, times in s), so the head
predicts them on each descriptor's perceptual scale (`timbrespace.audio.descriptors`: f0 in
semitones re 440 Hz, times and frequencies as log), standardised with training-split statistics.
Undefined values (NaN, e.g. the f0 of a hat) are masked out of the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from timbrespace.audio.descriptors import descriptor_scale, to_scale


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
        scales = tuple(descriptor_scale(name) for name in names)
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
