from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbrespace.audio.io import (
    AudioLoadError,
    load_audio,
    resample,
    save_audio,
    within_full_scale,
)

from .conftest import decaying_tone


def dominant_frequency(audio: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(audio.size)))
    return float(np.argmax(spectrum) * sr / audio.size)


@pytest.mark.parametrize(
    ("suffix", "subtype"),
    [
        (".wav", "PCM_16"),
        (".wav", "PCM_U8"),
        (".wav", "FLOAT"),
        (".flac", "PCM_24"),
        (".aiff", "PCM_16"),
        (".ogg", "VORBIS"),
        (".mp3", "MPEG_LAYER_III"),
    ],
)
def test_formats_load_resampled_with_pitch_kept(tmp_path: Path, suffix: str, subtype: str) -> None:
    source = decaying_tone(440.0, 0.5, 48000, tau=1.0)
    path = tmp_path / f"tone{suffix}"
    sf.write(path, source, 48000, subtype=subtype)
    audio = load_audio(path, 16000)
    assert audio.dtype == np.float32 and audio.shape[0] == 1
    assert abs(audio.shape[1] - 8000) <= 1200  # mp3 encoders add priming samples
    assert dominant_frequency(audio[0], 16000) == pytest.approx(440.0, rel=0.02)
    assert np.abs(audio).max() <= 1.0


def test_channels_mix_down_or_keep(tmp_path: Path) -> None:
    six = np.stack([np.full(1000, 0.1 * (c + 1), np.float32) for c in range(6)], axis=1)
    sf.write(tmp_path / "six.wav", six, 8000, subtype="FLOAT")
    mono = load_audio(tmp_path / "six.wav")
    assert mono.shape == (1, 1000)
    assert mono[0, 500] == pytest.approx(0.35, abs=1e-6)
    stereo = load_audio(tmp_path / "six.wav", channels=2)
    np.testing.assert_allclose(stereo[:, 500], [0.1, 0.2], atol=1e-6)
    sf.write(tmp_path / "mono.wav", six[:, 0], 8000, subtype="FLOAT")
    assert load_audio(tmp_path / "mono.wav", channels=2).shape == (2, 1000)


def test_float_file_above_full_scale_is_scaled_down(tmp_path: Path) -> None:
    sf.write(
        tmp_path / "hot.wav", np.array([0.0, 2.0, -4.0, 1.0], np.float32), 8000, subtype="FLOAT"
    )
    np.testing.assert_allclose(load_audio(tmp_path / "hot.wav")[0], [0.0, 0.5, -1.0, 0.25])


def test_bad_files_raise_with_path_and_reason(tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.wav"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.full(100, np.nan, np.float32), 8000, subtype="FLOAT")
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros(0, np.float32), 8000)
    for path, reason in [
        (empty, "not a readable"),
        (noise, "not a readable"),
        (nan, "NaN"),
        (zero, "zero-length"),
    ]:
        with pytest.raises(AudioLoadError) as caught:
            load_audio(path)
        assert str(path) in str(caught.value) and reason in str(caught.value)


def test_max_seconds_reads_only_the_start(tmp_path: Path) -> None:
    sf.write(tmp_path / "long.wav", np.zeros(8000 * 30, np.float32), 8000)
    assert load_audio(tmp_path / "long.wav", max_seconds=2.0).shape == (1, 16000)


def test_save_is_atomic_and_round_trips(tmp_path: Path) -> None:
    audio = decaying_tone(220.0, 0.25, 16000)
    target = save_audio(tmp_path / "out" / "x.wav", audio, 16000)
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.wav"]
    np.testing.assert_allclose(load_audio(target)[0], audio, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        save_audio(tmp_path / "out" / "bad.wav", np.full(10, np.nan), 16000)
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.wav"]


def test_resample_identity_and_length() -> None:
    audio = np.random.default_rng(0).standard_normal((2, 44100)).astype(np.float32)
    assert resample(audio, 44100, 44100) is audio
    assert resample(audio, 44100, 16000).shape == (2, 16000)


def test_a_sound_beyond_full_scale_is_scaled_down_not_clamped() -> None:
    """Each sound on its own: a 1.6-peak sine comes back a sine of peak 1 (a clamp would add
    harmonics), a 0.5-peak one as it is; a non-finite sample is clamped, not spread over the
    sound."""
    t = np.arange(1600) / 16000
    loud, soft = 1.6 * np.sin(2 * np.pi * 100 * t), 0.5 * np.sin(2 * np.pi * 100 * t)
    out = within_full_scale(np.stack([loud, soft])[:, None, :])
    np.testing.assert_allclose(out[0, 0], loud / 1.6, atol=1e-6)
    np.testing.assert_allclose(out[1, 0], soft, atol=1e-6)
    broken = within_full_scale(np.array([[0.5, np.inf, -3.0]]))
    np.testing.assert_array_equal(broken, [[0.5, 1.0, -1.0]])
