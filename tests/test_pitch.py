"""The causal f0 and loudness tracker of the ddsp family, against known answers and librosa."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.audio.pitch import (
    PitchSettings,
    a_weighting_table,
    causal_frames,
    hold_voiced,
    loudness_frames,
    window_products,
    yin_frames,
)


def _tone(f0: float, sample_rate: int, seconds: float = 0.5, amplitude: float = 0.5):
    t = torch.arange(int(sample_rate * seconds)) / sample_rate
    return amplitude * torch.sin(2 * math.pi * f0 * t) + 0.3 * amplitude * torch.sin(
        2 * math.pi * 2 * f0 * t + 1.0
    )


def _track(audio: torch.Tensor, settings: PitchSettings):
    hop = settings.hop
    audio = audio[: audio.numel() // hop * hop][None]
    past = torch.zeros(1, settings.frame_length - hop)
    frames, _ = causal_frames(audio, past, settings.frame_length, hop)
    return frames, yin_frames(frames, settings)


@pytest.mark.parametrize("sample_rate", [16000, 44100])
@pytest.mark.parametrize("f0", [70.0, 110.0, 261.63, 440.0, 1318.5, 1975.0])
def test_yin_finds_the_pitch_of_harmonic_tones_within_three_cents(sample_rate: int, f0: float):
    settings = PitchSettings(sample_rate, 128)
    _, (estimate, confidence) = _track(_tone(f0, sample_rate), settings)
    steady = estimate[0, settings.frame_length // 128 + 1 :]
    cents = 1200 * torch.log2(steady / f0)
    assert float(cents.abs().max()) < 3.0  # parabolic refinement of an 8-sample period
    assert float(confidence[0, -10:].min()) > 0.99


def test_both_yins_read_a_noisy_tone_at_its_period_not_at_a_multiple() -> None:
    """A 200 Hz tone (3 harmonics) in white noise has no cmnd trough under the threshold; the
    global minimum then lies at 2 or 3 periods (the trackers read 100 or 66.6 Hz before
    `YIN_FALLBACK_SLACK`), the first trough near it at one period."""
    from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors

    sample_rate = 16000
    t = np.arange(sample_rate // 2) / sample_rate
    tone = sum(np.sin(2 * np.pi * 200 * k * t) / k for k in (1, 2, 3))
    noise = np.random.default_rng(0).standard_normal(t.size)
    for amount, torch_too in ((0.3, False), (0.9, True)):
        audio = (0.3 * (tone + amount * noise)).astype(np.float32)
        settings = DescriptorSettings(sample_rate=sample_rate)
        clip = compute_descriptors(audio, settings, ["f0", "f0_confidence"])
        if not torch_too:
            assert clip.value("f0") == pytest.approx(200.0, rel=0.03)
            assert clip.value("f0_confidence") < 0.9  # no trough under the threshold
            continue
        pitch = PitchSettings(sample_rate, 128)
        frames = torch.from_numpy(audio[: 4 * pitch.yin_length]).reshape(4, -1).double()
        estimate, confidence = yin_frames(frames, pitch)
        np.testing.assert_allclose(estimate.numpy(), 200.0, rtol=0.1)
        assert float(confidence.max()) < 0.6


def test_yin_agrees_with_librosa_on_a_real_melody(melody_cache):
    import librosa

    from timbrespace.data.cache import SoundCache

    cache = SoundCache(melody_cache)
    audio = np.asarray(cache.audio[3, 0], dtype=np.float32)
    settings = PitchSettings(cache.sample_rate, 128)
    _, (ours, confidence) = _track(torch.from_numpy(audio), settings)
    reference, voiced, _ = librosa.pyin(
        audio,
        sr=cache.sample_rate,
        fmin=70,
        fmax=2000,
        frame_length=1024,
        hop_length=128,
        center=False,
    )
    # our frame k ends at (k + 1)·hop; pyin's frame j (center=False) ends at j·hop + 1024
    shift = 1024 // 128 - 1
    ours, confidence = ours[0, shift:].numpy(), confidence[0, shift:].numpy()
    count = min(ours.size, reference.size)
    both = voiced[:count] & (confidence[:count] > 0.9)
    assert both.mean() > 0.4
    cents = np.abs(1200 * np.log2(ours[:count][both] / reference[:count][both]))
    assert np.median(cents) < 10
    assert np.mean(cents < 50) > 0.95


def test_the_export_products_agree_with_the_fft_and_give_the_same_f0(monkeypatch):
    """The ONNX graph sums the window products by convolution in float32 (ONNX Runtime's DFT
    took half a 2048-sample ddsp block); the period is still refined from float64 sums, so
    the f0 a synth's phase accumulates is bit-identical."""
    settings = PitchSettings(44100, 128)
    rng = np.random.default_rng(0)
    sound = _tone(196.0, 44100)
    sound = sound + torch.from_numpy(rng.normal(0, 0.01, 22050)).float()
    frames, (f0, confidence) = _track(sound, settings)
    y = frames[0, :, -settings.yin_length :].double()
    by_fft = window_products(y, settings.max_period, settings.yin_fft)
    monkeypatch.setattr(torch.onnx, "is_in_onnx_export", lambda: True)
    direct = window_products(y, settings.max_period, settings.yin_fft)
    assert (
        direct.shape == by_fft.shape == (y.shape[0], settings.yin_length - settings.max_period + 1)
    )
    assert float((direct - by_fft).abs().max() / by_fft.abs().max()) < 2e-6
    f0_direct, confidence_direct = yin_frames(frames, settings)
    assert torch.equal(f0_direct, f0)
    assert float((confidence_direct - confidence).abs().max()) < 1e-5
    assert abs(1200 * math.log2(float(f0[0, -5]) / 196.0)) < 3.0


def test_noise_and_silence_have_low_confidence():
    settings = PitchSettings(16000, 64)
    noise = 0.3 * torch.randn(8000, generator=torch.Generator().manual_seed(0))
    _, (_, confidence) = _track(noise, settings)
    assert float(confidence[0, 20:].mean()) < 0.5
    _, (f0, confidence) = _track(torch.zeros(8000), settings)
    assert bool(torch.isfinite(f0).all()) and float(confidence.max()) < 0.5


def test_loudness_is_db_re_a_full_scale_sine():
    sample_rate = 44100
    settings = PitchSettings(sample_rate, 128)
    weights = a_weighting_table(sample_rate, settings.loudness_length)
    for amplitude, expected in ((1.0, 0.0), (0.1, -20.0), (0.0, -120.0)):
        t = torch.arange(sample_rate // 4) / sample_rate
        audio = amplitude * torch.sin(2 * math.pi * 1000 * t)
        frames, _ = _track(audio, settings)
        level = loudness_frames(frames, weights, settings.loudness_length)[0, -5:]
        assert float((level - expected).abs().max()) < 0.2


def test_a_low_tone_is_quieter_after_a_weighting():
    sample_rate, settings = 16000, PitchSettings(16000, 64)
    weights = a_weighting_table(sample_rate, settings.loudness_length)
    t = torch.arange(4000) / sample_rate
    frames, _ = _track(torch.sin(2 * math.pi * 100 * t), settings)
    level = float(loudness_frames(frames, weights, settings.loudness_length)[0, -1])
    assert -21.0 < level < -17.0  # A-weighting at 100 Hz: −19.1 dB


def test_frames_in_blocks_equal_frames_at_once():
    settings = PitchSettings(16000, 64)
    audio = _tone(300.0, 16000)[: 64 * 100][None]
    past = torch.zeros(1, settings.frame_length - 64)
    whole, _ = causal_frames(audio, past, settings.frame_length, 64)
    parts = []
    for start in range(0, 64 * 100, 320):
        frames, past = causal_frames(audio[:, start : start + 320], past, settings.frame_length, 64)
        parts.append(frames)
    assert torch.equal(torch.cat(parts, dim=1), whole)


def test_hold_voiced_keeps_the_last_voiced_pitch():
    f0 = torch.tensor([[100.0, 200.0, 300.0, 400.0, 500.0]])
    voiced = torch.tensor([[False, True, False, False, True]])
    held, last = hold_voiced(f0, voiced, torch.tensor([math.nan]))
    assert held.tolist() == [[100.0, 200.0, 200.0, 200.0, 500.0]]
    assert last.tolist() == [500.0]
    held, last = hold_voiced(f0, torch.zeros_like(voiced), torch.tensor([150.0]))
    assert held.tolist() == [[150.0] * 5] and last.tolist() == [150.0]
    _, last = hold_voiced(f0, torch.zeros_like(voiced), torch.tensor([math.nan]))
    assert math.isnan(float(last))


def test_settings_refuse_a_range_the_rate_cannot_hold():
    with pytest.raises(ValueError, match="fmax"):
        PitchSettings(8000, 64, fmax=4000.0)
