"""The procedural demo pack: layout, determinism, and ground truth checked on the rendered audio."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy import signal, stats

from timbrespace.data.demo_pack import (
    BELL_RATIOS,
    CHORD_TYPES,
    CHORDS,
    FAMILIES,
    PARAMETERS_CSV,
    STRUM_S,
    SUBPACKS,
    DemoSoundParameters,
    draw_parameters,
    midi_to_hz,
    read_parameters,
    render_sound,
    write_demo_pack,
)

SR = 16000
N = 32


@pytest.fixture(scope="module")
def pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 25-sound pack at 16 kHz; returns its parameters.csv."""
    return write_demo_pack(tmp_path_factory.mktemp("pack"), n=N, seed=0, sample_rate=SR)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def rms_envelope(x: np.ndarray, frame: int, hop: int, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """RMS per centred frame `[frames]` and the frame centre times in s."""
    padded = np.pad(x.astype(np.float64), frame // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame)[::hop]
    rms = np.sqrt((frames**2).mean(axis=1))
    return rms, np.arange(rms.size) * hop / sr


def measured_decay_s(x: np.ndarray, sr: int) -> float:
    """τ in s from a line fit to log RMS, from just after the peak down to -50 dB (fade excluded)."""
    rms, times = rms_envelope(x, 1024, 256, sr)
    peak = int(rms.argmax())
    keep = (times > times[peak] + 0.02) & (times < x.size / sr - 0.06)
    keep &= rms > rms.max() * 10 ** (-50 / 20)
    slope = np.polyfit(times[keep], np.log(rms[keep]), 1)[0]
    return float(-1.0 / slope)


def measured_peak_s(x: np.ndarray, sr: int) -> float:
    """Time in s of the loudest 8 ms RMS frame."""
    rms, times = rms_envelope(x, 128, 16, sr)
    return float(times[rms.argmax()])


def measured_f0_hz(x: np.ndarray, params: DemoSoundParameters, sr: int) -> float:
    """Strongest spectral peak in 25–4000 Hz (Hann window, 0.06 Hz bins at 16 kHz) once the
    pitch sweep has settled."""
    start = round((params.attack_s + 7 * params.sweep_s + 0.02) * sr)
    segment = x[start:].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size), 1 << 18))
    freqs = np.fft.rfftfreq(1 << 18, 1 / sr)
    band = (freqs > 25) & (freqs < 4000)
    return float(freqs[band][spectrum[band].argmax()])


def spectral_centroid_hz(x: np.ndarray, sr: int) -> float:
    """Centroid in Hz of the whole sound's magnitude spectrum."""
    magnitude = np.abs(np.fft.rfft(x))
    return float((np.fft.rfftfreq(x.size, 1 / sr) * magnitude).sum() / magnitude.sum())


def test_same_seed_same_bytes_other_seed_differs(pack: Path, tmp_path: Path) -> None:
    again = write_demo_pack(tmp_path / "again", n=N, seed=0, sample_rate=SR)
    first, second = tree_bytes(pack.parent), tree_bytes(again.parent)
    assert first.keys() == second.keys()
    assert all(first[name] == second[name] for name in first)

    other = tree_bytes(write_demo_pack(tmp_path / "other", n=N, seed=1, sample_rate=SR).parent)
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first)


def test_tree_has_packs_and_subpacks(pack: Path) -> None:
    root = pack.parent
    wavs = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.wav"))
    rows = read_parameters(pack)
    assert len(rows) == len(wavs) == N
    assert sorted(row.path for row in rows) == wavs
    for family in FAMILIES:
        for subpack in SUBPACKS[family]:
            assert any((root / f"{family}s" / subpack).glob(f"{family}_*.wav"))
    for row in rows:
        assert row.path == f"{row.pack}/{row.subpack}/{row.family}_{row.index:04d}.wav"
        info = sf.info(str(root / row.path))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_24")
        assert info.frames == round(row.duration_s * SR)
    assert Counter(row.family for row in rows) == dict.fromkeys(FAMILIES, N // len(FAMILIES))


def test_csv_round_trips_the_drawn_parameters(pack: Path) -> None:
    assert read_parameters(pack) == [draw_parameters(index, 0) for index in range(N)]


def test_families_balanced_with_remainder_spread(tmp_path: Path) -> None:
    rows = read_parameters(write_demo_pack(tmp_path, n=11, seed=2, sample_rate=8000))
    assert Counter(row.family for row in rows) == {
        "kick": 2,
        "snare": 2,
        "hat": 2,
        "tom": 1,
        "pluck": 1,
        "chord": 1,
        "bell": 1,
        "cymbal": 1,
    }


def test_audio_is_clean_and_peaks_at_gain(pack: Path) -> None:
    for row in read_parameters(pack):
        audio, sr = sf.read(str(pack.parent / row.path), dtype="float32")
        assert sr == SR and audio.ndim == 1
        assert np.isfinite(audio).all()
        peak = float(np.abs(audio).max())
        assert peak < 1.0
        assert 20 * np.log10(peak) == pytest.approx(row.gain_db, abs=0.01)
        assert abs(float(audio.mean())) < 0.01 * peak
        assert float(np.sqrt(np.mean(audio**2))) > 0.005
        assert abs(float(audio[-1])) < 1e-3 * peak


def test_draws_are_wide_and_inside_documented_ranges() -> None:
    draws = [draw_parameters(index, 11) for index in range(1000)]
    by_family = {f: [d for d in draws if d.family == f] for f in FAMILIES}
    f0_bounds = {"kick": (35, 120), "snare": (150, 350), "tom": (80, 300)}
    f0_bounds["pluck"] = (midi_to_hz(40) - 0.01, midi_to_hz(84) + 0.01)
    for family, (low, high) in f0_bounds.items():
        f0 = np.array([d.f0_hz for d in by_family[family]])
        assert low <= f0.min() and f0.max() <= high
        assert np.log(f0.max() / f0.min()) > 0.8 * np.log(high / low)
    assert all(d.f0_hz is None and d.start_hz is None for d in by_family["hat"])
    assert all(d.f0_hz <= d.start_hz for d in draws if d.f0_hz is not None)
    for d in draws:
        assert 0.0005 <= d.attack_s <= 0.04 and 0.03 <= d.decay_s <= 0.8
        assert 0 <= d.brightness <= 1 and 0 <= d.noise_mix <= 1 and 0.3 <= d.velocity <= 1
        assert 0.15 <= d.duration_s <= 1.0
    brightness = np.array([d.brightness for d in draws])
    decay = np.array([d.decay_s for d in draws])
    assert brightness.min() < 0.05 and brightness.max() > 0.95
    assert decay.min() < 0.04 and decay.max() > 0.75


def test_render_is_deterministic() -> None:
    params = draw_parameters(9, 4)
    assert np.array_equal(render_sound(params, SR), render_sound(params, SR))
    assert render_sound(params, SR).dtype == np.float32


@pytest.mark.parametrize("family", ["kick", "snare", "tom", "pluck"])
def test_measured_pitch_matches_f0(family: str) -> None:
    for index in range(12):
        params = draw_parameters(index, 3, family)
        measured = measured_f0_hz(render_sound(params, SR), params, SR)
        assert measured == pytest.approx(params.f0_hz, rel=0.02), params
        octave_up = dataclasses.replace(
            params, f0_hz=2 * params.f0_hz, start_hz=2 * params.start_hz
        )
        measured_up = measured_f0_hz(render_sound(octave_up, SR), octave_up, SR)
        assert measured_up == pytest.approx(2 * params.f0_hz, rel=0.02), params


@pytest.mark.parametrize("family", [family for family in FAMILIES if family != "bell"])
def test_measured_decay_matches_decay_s(family: str) -> None:
    for index in range(6):
        params = draw_parameters(index, 5, family)
        measured = measured_decay_s(render_sound(params, SR), SR)
        assert measured == pytest.approx(params.decay_s, rel=0.15), params
    short, long = (dataclasses.replace(params, decay_s=tau, duration_s=1.0) for tau in (0.08, 0.3))
    assert measured_decay_s(render_sound(long, SR), SR) > 2 * measured_decay_s(
        render_sound(short, SR), SR
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_longer_attack_peaks_later(family: str) -> None:
    params = dataclasses.replace(draw_parameters(0, 6, family), decay_s=0.3, duration_s=0.5)
    fast, slow = (dataclasses.replace(params, attack_s=a) for a in (0.001, 0.03))
    assert (
        measured_peak_s(render_sound(slow, SR), SR)
        > measured_peak_s(render_sound(fast, SR), SR) + 0.01
    )


def test_attack_s_orders_peak_times_across_plucks() -> None:
    draws = [draw_parameters(index, 6, "pluck") for index in range(20)]
    peaks = [measured_peak_s(render_sound(d, SR), SR) for d in draws]
    assert stats.spearmanr([d.attack_s for d in draws], peaks)[0] > 0.8


@pytest.mark.parametrize("family", FAMILIES)
def test_brightness_tracks_spectral_centroid(family: str) -> None:
    sr = 44100
    draws = [draw_parameters(index, 0, family) for index in range(20)]
    centroids = [spectral_centroid_hz(render_sound(d, sr), sr) for d in draws]
    assert stats.spearmanr([d.brightness for d in draws], centroids)[0] > 0.7


def test_read_parameters_names_bad_field(pack: Path, tmp_path: Path) -> None:
    lines = pack.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("decay_s")] = "slow"
    broken = tmp_path / PARAMETERS_CSV
    broken.write_text("\n".join([lines[0], ",".join(cells)]) + "\n")
    with pytest.raises(ValueError, match="line 2: bad decay_s 'slow'"):
        read_parameters(broken)
    broken.write_text("path,pack\nkicks/808/a.wav,kicks\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_parameters(broken)


def test_unknown_family_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown family 'cowbell'"):
        draw_parameters(0, 0, "cowbell")


def spectrum_of(x: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """`(freqs, magnitude)` of the whole sound: Hann window, zero-padded to 2^18 points."""
    magnitude = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(x.size), 1 << 18))
    return np.fft.rfftfreq(1 << 18, 1 / sr), magnitude


def peak_near(freqs: np.ndarray, magnitude: np.ndarray, hz: float) -> tuple[float, float]:
    """Frequency and magnitude of the largest bin within ±1.5 % of `hz`."""
    band = np.flatnonzero(np.abs(freqs - hz) < 0.015 * hz)
    best = band[magnitude[band].argmax()]
    return float(freqs[best]), float(magnitude[best])


def band_decay_s(x: np.ndarray, sr: int, hz: float, start_s: float, stop_s: float) -> float:
    """τ in s of the STFT magnitude at the bin nearest `hz` (4096-point Hann, hop 256), from a
    line fit to its log between `start_s` and `stop_s`."""
    freqs, times, stft = signal.stft(x, sr, nperseg=4096, noverlap=4096 - 256)
    row = np.abs(stft[np.abs(freqs - hz).argmin()])
    keep = (times >= start_s) & (times <= stop_s)
    return float(-1.0 / np.polyfit(times[keep], np.log(row[keep]), 1)[0])


def test_chord_draws_type_and_strum_from_its_subpack() -> None:
    draws = [draw_parameters(index, 11, "chord") for index in range(200)]
    for subpack, types in CHORD_TYPES.items():
        drawn = {d.chord for d in draws if d.subpack == subpack}
        assert drawn == set(types)
    strums = np.array([d.strum_s for d in draws])
    assert STRUM_S[0] <= strums.min() < 0.006 and 0.017 < strums.max() <= STRUM_S[1]
    others = [draw_parameters(index, 11) for index in range(16)]
    assert all(d.chord == "" and d.strum_s == 0 for d in others if d.family != "chord")


def test_chord_strings_sound_at_the_chord_intervals() -> None:
    for index in range(8):
        params = dataclasses.replace(draw_parameters(index, 7, "chord"), noise_mix=0.0)
        freqs, magnitude = spectrum_of(render_sound(params, SR), SR)
        root_hz, root_level = peak_near(freqs, magnitude, params.f0_hz)
        assert root_hz == pytest.approx(params.f0_hz, rel=0.003), params
        for semitones in CHORDS[params.chord][1:]:
            wanted = params.f0_hz * 2 ** (semitones / 12)
            hz, level = peak_near(freqs, magnitude, wanted)
            assert hz == pytest.approx(wanted, rel=0.003), (params, semitones)
            assert level > 0.1 * root_level, (params, semitones)
        # one semitone above the root no string has a harmonic
        _, off_level = peak_near(freqs, magnitude, params.f0_hz * 2 ** (1 / 12))
        assert off_level < 0.05 * root_level, params


def test_chord_strings_start_one_strum_delay_apart() -> None:
    params = dataclasses.replace(
        draw_parameters(1, 7, "chord"), f0_hz=220.0, start_hz=220.0, chord="min", strum_s=0.05
    )
    x = render_sound(params, SR)
    fifth_hz = 220.0 * 2 ** (7 / 12)  # the top string; no harmonic of a lower string is near
    freqs, times, stft = signal.stft(x, SR, nperseg=2048, noverlap=2048 - 32)
    row = np.abs(stft[np.abs(freqs - fifth_hz).argmin()])
    onset = times[np.argmax(row > 0.5 * row.max())]
    # the fifth is string 3: it starts 2 × 50 ms in; half its peak is reached within one window
    assert 0.1 - 0.01 < onset < 0.1 + 2048 / SR / 2, onset


def test_bell_partials_at_the_bell_ratios_not_harmonics() -> None:
    for index in range(6):
        params = dataclasses.replace(
            draw_parameters(index, 7, "bell"), noise_mix=0.0, brightness=1.0
        )
        freqs, magnitude = spectrum_of(render_sound(params, SR), SR)
        expected = [r * params.f0_hz for r in BELL_RATIOS if r * params.f0_hz < 0.45 * SR]
        peaks, _ = signal.find_peaks(magnitude)
        strongest = np.sort(freqs[peaks[np.argsort(magnitude[peaks])[-len(expected) :]]])
        np.testing.assert_allclose(strongest, expected, rtol=0.002)
        # the hum's harmonics 3 and 5 (1.5 and 2.5 × the prime) are not partials
        _, quint_level = peak_near(freqs, magnitude, 1.56 * params.f0_hz)
        level_at_1_5 = magnitude[np.abs(freqs - 1.5 * params.f0_hz).argmin()]
        assert level_at_1_5 < 0.05 * quint_level, params


def test_bell_partials_decay_at_their_own_rates() -> None:
    params = dataclasses.replace(
        draw_parameters(0, 7, "bell"), noise_mix=0.0, brightness=1.0, decay_s=0.4, duration_s=1.0
    )
    x = render_sound(params, SR)
    for ratio in (0.5, 1.0, 2.0, 4.1):
        measured = band_decay_s(x, SR, ratio * params.f0_hz, 0.1, 0.6)
        assert measured == pytest.approx(0.4 / max(ratio, 1.0) ** 0.5, rel=0.1), ratio


def test_old_csv_without_chord_columns_reads_with_defaults(pack: Path, tmp_path: Path) -> None:
    rows = read_parameters(pack)
    keep = [
        i
        for i, name in enumerate(pack.read_text().splitlines()[0].split(","))
        if name not in ("chord", "strum_s")
    ]
    old = tmp_path / PARAMETERS_CSV
    old.write_text(
        "\n".join(
            ",".join(line.split(",")[i] for i in keep) for line in pack.read_text().splitlines()
        )
        + "\n"
    )
    expected = [dataclasses.replace(row, chord="", strum_s=0.0) for row in rows]
    assert read_parameters(old) == expected
    assert any(row.chord for row in rows)
