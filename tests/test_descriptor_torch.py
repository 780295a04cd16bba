"""The differentiable descriptor twins measure what `compute_descriptors` measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timbrespace.audio.descriptor_registry import to_scale
from timbrespace.audio.descriptor_torch import DIFFERENTIABLE, clip_centroid, scaled
from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors

SR = 22050


def sounds() -> dict[str, np.ndarray]:
    t = np.arange(SR) / SR
    rng = np.random.default_rng(0)
    sweep = 50 + 200 * np.exp(-t / 0.03)
    return {
        "decaying tone": np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.2),
        "noise burst": 0.3 * rng.standard_normal(SR) * np.exp(-t / 0.1),
        "kick": np.sin(2 * np.pi * np.cumsum(sweep) / SR) * np.exp(-t / 0.3),
        "tone then silence": np.where(t < 0.15, np.sin(2 * np.pi * 2000 * t), 0.0),
    }


@pytest.mark.parametrize("descriptor", sorted(DIFFERENTIABLE))
@pytest.mark.parametrize("name", list(sounds()))
def test_each_twin_measures_what_the_descriptor_measures(name: str, descriptor: str) -> None:
    audio = sounds()[name].astype(np.float32)
    settings = DescriptorSettings(sample_rate=SR)
    wanted = compute_descriptors(audio, settings, [descriptor]).value(descriptor)
    stereo = torch.from_numpy(np.stack([audio, audio]))[None]  # [1, 2, samples]
    twin = DIFFERENTIABLE[descriptor](stereo, settings)
    assert float(twin[0]) == pytest.approx(wanted, rel=1e-4, abs=1e-3)


def test_a_full_scale_sine_is_0_db_loud_and_silence_the_floor() -> None:
    t = torch.arange(SR, dtype=torch.float64) / SR
    sine = torch.sin(2 * torch.pi * 1000.0 * t)[None, None]
    settings = DescriptorSettings(sample_rate=SR)
    loudness = DIFFERENTIABLE["loudness"](sine, settings)
    assert float(loudness[0]) == pytest.approx(0.0, abs=0.1)  # the half-empty edge frames: -0.06
    silence = torch.zeros(1, 1, SR)
    assert float(DIFFERENTIABLE["loudness"](silence, settings)[0]) == pytest.approx(-120.0)


def test_a_pure_tone_has_its_frequency_as_centroid() -> None:
    """1000 Hz within 2 %: the edge frames and the window's sidelobes lift it by about 1 %."""
    t = torch.arange(SR, dtype=torch.float64) / SR
    tone = torch.sin(2 * torch.pi * 1000.0 * t)[None, None]
    centroid = clip_centroid(tone, DescriptorSettings(sample_rate=SR))
    assert float(centroid[0]) == pytest.approx(1000.0, rel=0.02)


@pytest.mark.parametrize("scale", ["linear", "semitones", "log"])
def test_scaled_is_to_scale(scale: str) -> None:
    values = np.array([55.0, 440.0, 3000.0])
    np.testing.assert_allclose(
        scaled(torch.from_numpy(values), scale).numpy(), to_scale(values, scale), rtol=1e-12
    )
    assert float(scaled(torch.tensor([880.0]), "semitones")[0]) == pytest.approx(12.0)
