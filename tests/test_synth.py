"""DDSP synthesis with known answers: oscillator frequencies, amplitude ramps, Nyquist, noise
shaping, and the pitch loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.audio.synth import (
    control_frames,
    exp_sigmoid,
    filtered_noise,
    frames_to_blocks,
    harmonic_sines,
    harmonic_synth,
)
from timbrespace.train.task import f0_loss

SR = 16000


def peak_hz(audio: np.ndarray, sample_rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size), 8 * audio.size))
    return float(np.fft.rfftfreq(8 * audio.size, 1 / sample_rate)[spectrum.argmax()])


def test_one_harmonic_at_constant_pitch_is_a_sine() -> None:
    samples, hop = 4000, 64
    frames = control_frames(samples, hop)
    f0 = torch.full((1, frames), 440.0, dtype=torch.float64)
    amplitudes = torch.zeros(1, 3, frames, dtype=torch.float64)
    amplitudes[:, 0] = 0.5
    audio = harmonic_synth(f0, amplitudes, sample_rate=SR, samples=samples, hop=hop)[0]
    expected = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(samples) / SR)
    np.testing.assert_allclose(audio.numpy(), expected, atol=1e-9)


def test_harmonics_sit_at_multiples_and_above_nyquist_are_silent() -> None:
    samples, hop = 8000, 64
    frames = control_frames(samples, hop)
    f0 = torch.full((1, frames), 3000.0)
    amplitudes = torch.ones(1, 4, frames)  # 3, 6, 9, 12 kHz: only 3 and 6 kHz are below 8 kHz
    audio = harmonic_synth(f0, amplitudes, sample_rate=SR, samples=samples, hop=hop)[0].numpy()
    spectrum = np.abs(np.fft.rfft(audio))
    bins = np.fft.rfftfreq(samples, 1 / SR)
    strong = bins[spectrum > 0.1 * spectrum.max()]
    assert set(np.round(strong).astype(int)) == {3000, 6000}


def test_amplitude_ramps_linearly_between_frames() -> None:
    hop = 100
    f0 = torch.full((1, 3), 1.0)  # 1 Hz: sin ≈ 2π t over 200 samples, so level ≈ audio / sin
    amplitudes = torch.tensor([[[0.0, 1.0, 1.0]]])
    audio = harmonic_synth(f0, amplitudes, sample_rate=SR, samples=200, hop=hop)[0]
    sine = torch.sin(2 * math.pi * torch.arange(200) / SR)
    level = audio[1:] / sine[1:]
    np.testing.assert_allclose(level[:99].numpy(), np.arange(1, 100) / 100, atol=1e-4)
    np.testing.assert_allclose(level[99:].numpy(), 1.0, atol=1e-4)


def test_gliding_pitch_ends_where_the_frames_say() -> None:
    samples, hop = 16000, 128
    frames = control_frames(samples, hop)
    f0 = torch.linspace(200.0, 800.0, frames)[None]
    amplitudes = torch.ones(1, 1, frames)
    audio = harmonic_synth(f0, amplitudes, sample_rate=SR, samples=samples, hop=hop)[0].numpy()
    assert peak_hz(audio[:1024]) == pytest.approx(219, abs=12)
    assert peak_hz(audio[-1024:]) == pytest.approx(781, abs=12)


def test_chebyshev_sines_equal_direct_sines_and_phase_has_no_gradient() -> None:
    phase = torch.rand(2, 500) * 2 * math.pi
    numbers = torch.arange(1, 49)
    direct = torch.sin(phase[:, None, :] * numbers[None, :, None])
    torch.testing.assert_close(harmonic_sines(phase, 48), direct, atol=2e-4, rtol=0)
    frames = phase.view(2, 5, 100)  # any leading shape: [..., samples] -> [..., h, samples]
    torch.testing.assert_close(
        harmonic_sines(frames, 48), direct.view(2, 48, 5, 100).transpose(1, 2), atol=2e-4, rtol=0
    )
    f0 = torch.full((1, 5), 300.0, requires_grad=True)
    amplitudes = torch.ones(1, 2, 5, requires_grad=True)
    harmonic_synth(f0, amplitudes, sample_rate=SR, samples=256, hop=64).square().sum().backward()
    assert f0.grad is None and float(amplitudes.grad.abs().sum()) > 0


def test_filtered_noise_keeps_only_the_open_band() -> None:
    samples, hop = 16000, 64
    frames = control_frames(samples, hop)
    bands = 33
    magnitudes = torch.zeros(1, bands, frames)
    magnitudes[:, 16] = 1.0  # the band at 4 kHz (bands span 0 … 8 kHz)
    generator = torch.Generator().manual_seed(0)
    audio = filtered_noise(magnitudes, samples=samples, hop=hop, generator=generator)[0].numpy()
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    bins = np.fft.rfftfreq(samples, 1 / SR)
    inside = spectrum[(bins > 3500) & (bins < 4500)].sum()
    assert inside / spectrum.sum() > 0.9
    flat = filtered_noise(torch.ones(1, bands, frames), samples=samples, hop=hop)[0]
    assert float(flat[1000:-1000].std()) == pytest.approx(1 / math.sqrt(3), rel=0.05)


def test_blocks_interpolate_and_exp_sigmoid_is_positive_and_bounded() -> None:
    blocks = frames_to_blocks(torch.tensor([0.0, 4.0, 4.0]), 4)
    np.testing.assert_allclose(blocks.numpy(), [[0, 1, 2, 3], [4, 4, 4, 4]])
    values = exp_sigmoid(torch.tensor([-50.0, 0.0, 50.0]))
    assert 0 < float(values[0]) < 1e-6 and float(values[2]) == pytest.approx(2.0, rel=1e-6)


def test_f0_loss_in_octaves_on_voiced_frames_only() -> None:
    f0 = torch.full((1, 1, 9), 220.0)  # hop 64 → frames at samples 0, 64, …, 512
    target = torch.tensor([[440.0, float("nan"), 440.0]])  # hop 256
    assert float(f0_loss(f0, 64, target, 256)) == pytest.approx(1.0)
    half = torch.full((1, 1, 9), 440.0 * 2**-0.5)
    assert float(f0_loss(half, 64, target, 256)) == pytest.approx(0.5)  # absolute, not squared
    base = torch.tensor([[math.log2(220 / 440)]])  # one octave below the clip's note
    assert float(f0_loss(f0, 64, target, 256, base)) == pytest.approx(2.0)
    f0.requires_grad_(True)
    base.requires_grad_(True)
    unvoiced = f0_loss(f0, 64, torch.full((1, 3), float("nan")), 256, base)
    assert float(unvoiced.detach()) == 0.0
    unvoiced.backward()  # every pitch input still gets a (zero) gradient, as DDP needs
    assert f0.grad is not None and base.grad is not None
    assert float(f0.grad.abs().sum()) == 0.0 and float(base.grad.abs().sum()) == 0.0


def test_harmonic_synth_equals_a_direct_sum_of_interpolated_sines() -> None:
    """Reference: per-sample f0 and amplitudes interpolated linearly (amplitudes zeroed first at
    the frames where k·f0 ≥ Nyquist), phase = 2π·Σf0/sr from 0 at sample 0, sin(k·phase)
    summed directly."""
    gen = torch.Generator().manual_seed(4)
    hop, frames = 32, 9
    f0 = torch.tensor([[150.0, 900.0, 2100.0, 300.0, 500.0, 700.0, 2500.0, 100.0, 120.0]])
    amplitudes = torch.rand(1, 6, frames, generator=gen)
    samples = (frames - 1) * hop
    ours = harmonic_synth(f0, amplitudes, sample_rate=SR, samples=samples, hop=hop)
    f0_t = frames_to_blocks(f0.double(), hop).reshape(-1)
    numbers = torch.arange(1, 7, dtype=torch.float64)[:, None]
    audible = (numbers * f0.double()) < SR / 2  # [6, frames]: silenced per control frame
    amps = frames_to_blocks(amplitudes[0].double() * audible, hop).reshape(6, -1)
    phase = 2 * math.pi * (torch.cumsum(f0_t, 0) - f0_t[0]) / SR
    direct = (amps * torch.sin(numbers * phase)).sum(0)
    torch.testing.assert_close(ours[0].double(), direct, atol=2e-4, rtol=0)


def test_seeded_noise_of_a_sound_does_not_depend_on_its_place_in_the_batch() -> None:
    magnitudes = torch.rand(2, 9, 11)
    pair = torch.cat([magnitudes, magnitudes])  # two sounds of two channels each
    seeded = torch.Generator().manual_seed(0)
    batch = filtered_noise(pair, samples=640, hop=64, generator=seeded, distinct_rows=2)
    alone = filtered_noise(
        magnitudes, samples=640, hop=64, generator=torch.Generator().manual_seed(0), distinct_rows=2
    )
    torch.testing.assert_close(batch[2:], alone)
    torch.testing.assert_close(batch[:2], alone)
    assert float((alone[0] - alone[1]).abs().max()) > 1e-3  # channels stay decorrelated
    with pytest.raises(ValueError, match="divide"):
        filtered_noise(magnitudes[:1], samples=640, hop=64, distinct_rows=2)
