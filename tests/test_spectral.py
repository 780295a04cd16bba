"""Spectral front-ends against librosa and with known answers: STFT, ISTFT, mel, log, the
STFT-based constant-Q filterbank and the `SpectralConfig` round trip."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from timbrespace.audio.spectral import (
    SpectralConfig,
    cqt_bin_count,
    cqt_filterbank,
    cqt_frequencies,
    cqt_spectrogram,
    frame_count,
    hz_to_mel,
    inverse_log_magnitude,
    istft,
    log_magnitude,
    magnitude,
    mel_filterbank,
    mel_spectrogram,
    mel_to_hz,
    stft,
    window_tensor,
)

SR = 22050


def tone_and_burst(samples: int = SR, seed: int = 0) -> np.ndarray:
    """A harmonic tone at 220 Hz plus a decaying noise burst: float32 [samples]."""
    t = np.arange(samples) / SR
    rng = np.random.default_rng(seed)
    tone = sum(np.sin(2 * np.pi * 220.0 * k * t) / k for k in range(1, 9))
    burst = np.exp(-t / 0.05) * rng.standard_normal(samples)
    return (0.3 * tone + 0.5 * burst).astype(np.float32)


@pytest.mark.parametrize("window", ["hann", "hamming", "blackman", "boxcar"])
def test_window_equals_scipy_periodic_window(window: str) -> None:
    import scipy.signal

    expected = scipy.signal.get_window(window, 1024, fftbins=True)
    ours = window_tensor(window, 1024, dtype=torch.float64).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)


@pytest.mark.parametrize(("n_fft", "hop", "window"), [(2048, 512, "hann"), (1024, 256, "hamming")])
def test_stft_equals_librosa(n_fft: int, hop: int, window: str) -> None:
    audio = tone_and_burst()
    ours = stft(torch.from_numpy(audio), n_fft, hop, window).numpy()
    expected = librosa.stft(audio, n_fft=n_fft, hop_length=hop, window=window, center=True)
    assert ours.shape == expected.shape == (n_fft // 2 + 1, frame_count(audio.size, hop))
    assert np.abs(ours - expected).max() <= 1e-4 * np.abs(expected).max()


def test_stft_istft_round_trip() -> None:
    audio = torch.from_numpy(np.stack([tone_and_burst(), tone_and_burst(seed=1)]))
    spectrum = stft(audio, 1024, 256)
    assert spectrum.shape == (2, 513, frame_count(SR, 256)) and spectrum.is_complex()
    rebuilt = istft(spectrum, 1024, 256, length=SR)
    assert rebuilt.shape == audio.shape
    assert (rebuilt - audio).abs().max() < 1e-5


def test_istft_equals_librosa_istft() -> None:
    spectrum = librosa.stft(tone_and_burst(), n_fft=1024, hop_length=256)
    ours = istft(torch.from_numpy(spectrum), 1024, 256).numpy()
    np.testing.assert_allclose(ours, librosa.istft(spectrum, hop_length=256), atol=1e-5)


def test_batch_item_zero_equals_unbatched() -> None:
    batch = torch.from_numpy(np.stack([tone_and_burst(), tone_and_burst(seed=3)]))
    for function in (
        lambda x: stft(x, 512, 128),
        lambda x: mel_spectrogram(x, sample_rate=SR, n_fft=512, hop=128, n_mels=40),
        lambda x: cqt_spectrogram(x, sample_rate=SR, n_fft=2048, hop=512),
        SpectralConfig(front_end="mel").features,
    ):
        torch.testing.assert_close(function(batch)[0], function(batch[0]), rtol=1e-5, atol=1e-6)
    # leading dimensions [batch, channels, samples] are kept
    assert stft(batch[:, None], 512, 128).shape == (2, 1, 257, frame_count(SR, 128))


def test_log_magnitude_round_trip() -> None:
    mag = magnitude(torch.from_numpy(tone_and_burst()), 1024, 256)
    log_mag = log_magnitude(mag, floor=1e-4)
    assert log_mag.min() >= np.log(1e-4) - 1e-6
    torch.testing.assert_close(inverse_log_magnitude(log_mag, 1e-4), mag, rtol=1e-4, atol=1e-6)


def test_mel_scale_equals_librosa() -> None:
    hz = np.array([0.0, 100.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0])
    mels = hz_to_mel(torch.from_numpy(hz))
    np.testing.assert_allclose(mels.numpy(), librosa.hz_to_mel(hz), rtol=1e-12)
    np.testing.assert_allclose(mel_to_hz(mels).numpy(), hz, atol=1e-9)


@pytest.mark.parametrize(
    ("sample_rate", "n_fft", "n_mels", "fmin", "fmax"),
    [(22050, 2048, 128, 0.0, None), (44100, 1024, 80, 30.0, 8000.0), (16000, 511, 40, 0.0, None)],
)
def test_mel_filterbank_equals_librosa(
    sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> None:
    ours = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, dtype=torch.float64).numpy()
    expected = librosa.filters.mel(
        sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, dtype=np.float64
    )
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-6 * expected.max(), rtol=0)


def test_mel_spectrogram_equals_librosa() -> None:
    audio = tone_and_burst()
    ours = mel_spectrogram(
        torch.from_numpy(audio), sample_rate=SR, n_fft=1024, hop=256, n_mels=64
    ).numpy()
    expected = librosa.feature.melspectrogram(y=audio, sr=SR, n_fft=1024, hop_length=256, n_mels=64)
    assert np.abs(ours - expected).max() <= 1e-4 * expected.max()


def test_cqt_filterbank_rows_are_unit_sum_and_centred() -> None:
    bank = cqt_filterbank(SR, 2048, fmin=55.0, bins_per_octave=12, dtype=torch.float64)
    assert bank.shape == (cqt_bin_count(SR, 55.0, 12), 1025)
    torch.testing.assert_close(bank.sum(dim=1), torch.ones(bank.shape[0], dtype=torch.float64))
    centres = cqt_frequencies(bank.shape[0], 55.0, 12)
    assert centres[-1] < SR / 2 <= centres[-1] * 2 ** (1 / 12)
    bin_hz = torch.arange(1025, dtype=torch.float64) * SR / 2048
    mean_hz = bank @ bin_hz  # a sampled unit-sum triangle's mean is (nearly) its centre
    torch.testing.assert_close(mean_hz, centres, rtol=3e-3, atol=0.0)
    with pytest.raises(ValueError, match="Nyquist"):
        cqt_filterbank(SR, 2048, fmin=55.0, n_bins=200, bins_per_octave=12)


def test_cqt_of_a_sine_peaks_at_its_bin() -> None:
    t = torch.arange(SR, dtype=torch.float32) / SR
    for k in (40, 70, 100):
        hz = float(cqt_frequencies(k + 1, 32.70319566257483, 24)[k])
        cqt = cqt_spectrogram(torch.sin(2 * torch.pi * hz * t), sample_rate=SR, n_fft=4096, hop=512)
        assert int(cqt[:, 10:-10].mean(dim=1).argmax()) == k


@pytest.mark.parametrize("front_end", ["linear", "log", "mel", "cqt"])
def test_config_features_decode_to_linear_magnitude(front_end: str) -> None:
    config = SpectralConfig(sample_rate=SR, n_fft=1024, hop=256, front_end=front_end, n_mels=128)
    audio = torch.from_numpy(np.stack([tone_and_burst(), tone_and_burst(seed=2)]))
    features = config.features(audio)
    assert features.shape == (2, config.n_features, config.frames(SR))
    assert torch.isfinite(features).all()
    linear = config.to_linear_magnitude(features)
    target = magnitude(audio, 1024, 256)
    assert linear.shape == target.shape and linear.min() >= 0
    error = (torch.linalg.vector_norm(linear - target) / torch.linalg.vector_norm(target)).item()
    # exact for linear/log; mel and cqt keep the envelope, not every harmonic between filters
    # (librosa's NNLS mel_to_stft gives 0.14 here too)
    assert error < {"linear": 1e-6, "log": 1e-4, "mel": 0.2, "cqt": 0.2}[front_end]


@pytest.mark.parametrize("front_end", ["log", "mel", "cqt"])
def test_feature_gradients_match_finite_differences(front_end: str) -> None:
    config = SpectralConfig(sample_rate=8000, n_fft=64, hop=16, front_end=front_end, n_mels=16)
    audio = torch.randn(1, 96, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(config.features, (audio.requires_grad_(),))


def test_config_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="front_end"):
        SpectralConfig(front_end="bark")
    with pytest.raises(ValueError, match="window"):
        SpectralConfig(window="kaiser")
    with pytest.raises(TypeError):
        SpectralConfig(nfft=512)  # type: ignore[call-arg]
