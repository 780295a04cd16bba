"""Known-answer and reference tests for the descriptor registry."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import librosa
import numpy as np
import pytest
import torch

from timbrespace.audio.descriptor_measures import attack_time, soft_crossing_time
from timbrespace.audio.descriptors import (
    DESCRIPTORS,
    Descriptor,
    DescriptorSettings,
    Limits,
    SignalAnalysis,
    compute_descriptors,
    descriptor_limits,
    descriptor_names,
    descriptor_scale,
    frame_count,
    from_scale,
    get_descriptor,
    register_descriptor,
    to_scale,
    unregister_descriptor,
)

SR = 44100
BUILT_INS = [
    "f0",
    "f0_confidence",
    "loudness",
    "rms",
    "centroid",
    "bandwidth",
    "rolloff",
    "flatness",
    "zcr",
    "attack_time",
    "release_time",
    "decay_constant",
]


def seconds(duration: float, sr: int = SR) -> np.ndarray:
    """Sample times (s) of a clip `[samples]`."""
    return np.arange(int(duration * sr)) / sr


def sine(freq: float, duration: float = 1.0, sr: int = SR, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * seconds(duration, sr))).astype(np.float32)


def noise(duration: float = 1.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal(int(duration * sr))).astype(np.float32)


def one(audio: np.ndarray, name: str, sr: int = SR) -> float:
    """The clip value of one descriptor."""
    return compute_descriptors(audio, DescriptorSettings(sample_rate=sr), [name]).value(name)


def test_registry_lists_built_ins_in_stable_order_with_units() -> None:
    assert descriptor_names()[: len(BUILT_INS)] == BUILT_INS
    units = {name: DESCRIPTORS[name].unit for name in BUILT_INS}
    assert units["f0"] == "Hz" and units["loudness"] == "dB" and units["attack_time"] == "s"
    assert all(DESCRIPTORS[name].unit and DESCRIPTORS[name].description for name in BUILT_INS)


@pytest.mark.parametrize("sr", [44100, 16000])
@pytest.mark.parametrize("freq", [55.0, 440.0, 1000.0])
def test_f0_of_sines(freq: float, sr: int) -> None:
    values = compute_descriptors(sine(freq, sr=sr), DescriptorSettings(sample_rate=sr))
    assert values.value("f0") == pytest.approx(freq, rel=0.01)
    assert values.value("f0_confidence") > 0.9
    np.testing.assert_allclose(values.curve("f0"), freq, rtol=0.01)


def test_f0_of_white_noise_is_unvoiced() -> None:
    values = compute_descriptors(noise(), DescriptorSettings(sample_rate=SR))
    assert np.isnan(values.value("f0"))
    assert np.isnan(values.curve("f0")).all()
    assert values.value("f0_confidence") < 0.5


def test_f0_follows_a_glide_frame_by_frame() -> None:
    t = seconds(1.0)
    glide = (0.5 * np.sin(2 * np.pi * 150.0 * (2**t - 1) / np.log(2))).astype(np.float32)
    curve = compute_descriptors(glide, DescriptorSettings(sample_rate=SR), ["f0"]).curve("f0")
    centres = np.arange(curve.size) * 512 / SR
    inner = slice(2, -5)  # edge frames analyse the nearest window inside the clip
    np.testing.assert_allclose(curve[inner], 150.0 * 2 ** centres[inner], rtol=0.005)
    assert np.isfinite(curve).all()


@pytest.mark.parametrize("source", ["sine", "noise"])
@pytest.mark.parametrize("tau", [0.05, 0.2])
def test_decay_constant_and_release_of_exponential_decay(tau: float, source: str) -> None:
    carrier = sine(440.0, 1.2) if source == "sine" else noise(1.2)
    audio = carrier * np.exp(-seconds(1.2) / tau).astype(np.float32)
    values = compute_descriptors(audio, DescriptorSettings(sample_rate=SR))
    assert values.value("decay_constant") == pytest.approx(tau, rel=0.1)
    assert values.value("release_time") == pytest.approx(tau * np.log(100), rel=0.1)


@pytest.mark.parametrize("ramp", [0.005, 0.05])
def test_attack_time_of_linear_ramp(ramp: float) -> None:
    t = seconds(0.8)
    delay = 0.02
    shape = np.clip((t - delay) / ramp, 0.0, 1.0) * np.exp(-np.maximum(t - delay - ramp, 0) / 0.2)
    audio = (shape * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    assert one(audio, "attack_time") == pytest.approx(0.8 * ramp, rel=0.15)


@pytest.mark.parametrize("f0", [50.0, 80.0])
@pytest.mark.parametrize("ramp", [0.008, 0.012, 0.02])
def test_attack_time_of_a_low_tone_is_not_snapped_to_its_half_cycles(
    f0: float, ramp: float
) -> None:
    """A kick's ramp: the running peak grows once per half-cycle (10 ms at 50 Hz), so an envelope
    bounded by it all through the attack measured 11.9 ms for a 6.4 ms attack."""
    t = seconds(0.8)
    delay = 0.02
    shape = np.clip((t - delay) / ramp, 0.0, 1.0) * np.exp(-np.maximum(t - delay - ramp, 0) / 0.2)
    audio = (shape * np.sin(2 * np.pi * f0 * t)).astype(np.float32)
    assert one(audio, "attack_time") == pytest.approx(0.8 * ramp, rel=0.22)


def test_a_soft_crossing_of_a_rise_without_dips_is_its_first_crossing() -> None:
    times = np.arange(10) * 0.001
    values = np.arange(10) / 9.0
    assert soft_crossing_time(values, times, 0.5, 0.2) == pytest.approx(0.0045)
    assert soft_crossing_time(values, times, 0.5, 1e-9) == pytest.approx(0.0045)
    dip = np.array([0.0, 0.6, 0.4, 0.7, 1.0])  # the running maximum: 0.6 held until 0.7
    assert soft_crossing_time(dip, np.arange(5.0), 0.65, 1e-9) == pytest.approx(2.5)


def test_the_attack_of_a_rippling_rise_is_continuous_in_its_ramp() -> None:
    """A 150 Hz ripple of ±20 % on linear ramps 4–12 ms long: first crossings of 90 % jump by up
    to a period as a ripple peak passes the level; the averaged crossings do not."""
    times = (np.arange(60) + 0.5) * 0.001
    ripple = 1 + 0.2 * np.sin(2 * np.pi * 150.0 * times)
    ramps = np.arange(0.004, 0.012, 0.00005)
    soft, first = [], []
    for ramp in ramps:
        envelope = np.clip(times / ramp, 0.0, 1.0) * ripple
        soft.append(attack_time(envelope, times, 1.0))
        first.append(
            soft_crossing_time(envelope, times, 0.9, 1e-9)
            - soft_crossing_time(envelope, times, 0.1, 1e-9)
        )
    assert np.abs(np.diff(first)).max() > 0.002
    assert np.abs(np.diff(soft)).max() < 0.0003
    assert np.median(np.array(soft) / (0.8 * ramps)) == pytest.approx(1.0, abs=0.1)


def test_sudden_low_onset_after_silence_has_short_attack() -> None:
    t = seconds(0.5)
    onset = t >= 0.1
    audio = (onset * np.cos(2 * np.pi * 60.0 * t) * np.exp(-(t - 0.1) / 0.1)).astype(np.float32)
    assert one(audio, "attack_time") < 0.002


def test_spectral_shape_orders_white_and_lowpassed_noise() -> None:
    white = noise()
    spectrum = np.fft.rfft(white)
    spectrum[np.fft.rfftfreq(white.size, 1 / SR) > 2000] = 0
    dark = np.fft.irfft(spectrum, n=white.size).astype(np.float32)
    settings = DescriptorSettings(sample_rate=SR)
    bright, low = compute_descriptors(white, settings), compute_descriptors(dark, settings)
    for name in ("centroid", "rolloff", "bandwidth"):
        assert bright.value(name) > 2 * low.value(name), name
    assert bright.value("rolloff") == pytest.approx(0.85 * SR / 2, rel=0.05)
    assert bright.value("flatness") > 0.3
    assert one(sine(440.0), "flatness") < 1e-3


def test_frame_descriptors_match_librosa() -> None:
    audio = noise() * np.exp(-seconds(1.0) / 0.3).astype(np.float32) + sine(300.0)
    settings = DescriptorSettings(sample_rate=SR)
    analysis = SignalAnalysis(audio, settings)
    magnitude = analysis.magnitude
    padded = np.pad(audio, 1024)
    frames = np.stack([padded[i * 512 : i * 512 + 2048] for i in range(magnitude.shape[1])])
    window = np.hanning(2049)[:-1]
    np.testing.assert_allclose(magnitude, np.abs(np.fft.rfft(frames * window)).T, atol=1e-3)
    reference = {
        "centroid": librosa.feature.spectral_centroid(S=magnitude, sr=SR)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(S=magnitude, sr=SR)[0],
        "rolloff": librosa.feature.spectral_rolloff(S=magnitude, sr=SR)[0],
        "flatness": librosa.feature.spectral_flatness(S=magnitude)[0],
        "rms": librosa.feature.rms(y=audio, frame_length=2048, hop_length=512)[0],
        "zcr": librosa.feature.zero_crossing_rate(audio, frame_length=2048, hop_length=512)[0] * SR,
    }
    for name, expected in reference.items():
        np.testing.assert_allclose(
            analysis.curve(name)[2:-2], expected[2:-2], rtol=0.01, err_msg=name
        )


def test_loudness_scale_and_silence_floor() -> None:
    assert one(sine(1000.0, amplitude=1.0), "loudness") == pytest.approx(0.0, abs=0.2)
    loud, quiet = (one(sine(440.0, amplitude=a), "loudness") for a in (1.0, 0.1))
    assert loud - quiet == pytest.approx(20.0, abs=0.5)
    silent = compute_descriptors(np.zeros(SR, np.float32), DescriptorSettings(sample_rate=SR))
    assert silent.value("loudness") == pytest.approx(-120.0)
    assert np.all(silent.curve("loudness") == pytest.approx(-120.0))
    assert np.isnan(silent.value("f0")) and np.isnan(silent.value("centroid"))


@pytest.mark.parametrize("n_samples", [100, 511, 512, 12000, SR])
@pytest.mark.parametrize("sr", [44100, 16000])
def test_every_curve_has_frame_count_frames(n_samples: int, sr: int) -> None:
    settings = DescriptorSettings(sample_rate=sr)
    values = compute_descriptors(noise(n_samples / sr, sr), settings)
    assert values.names == descriptor_names()
    assert values.clip.shape == (len(values.names),) and values.clip.dtype == np.float32
    assert values.curves.shape == (len(values.names), frame_count(n_samples, settings))
    assert values.curves.dtype == np.float32


def test_stereo_is_analysed_as_its_mono_mix() -> None:
    stereo = np.stack([sine(220.0) * np.exp(-seconds(1.0) / 0.2), noise() * 0.2])
    settings = DescriptorSettings(sample_rate=SR)
    mixed = compute_descriptors(stereo, settings)
    mono = compute_descriptors(stereo.mean(axis=0), settings)
    np.testing.assert_allclose(mixed.clip, mono.clip, rtol=1e-5)
    np.testing.assert_allclose(mixed.curves, mono.curves, rtol=1e-5)


def test_bad_input_is_refused() -> None:
    settings = DescriptorSettings(sample_rate=SR)
    with pytest.raises(KeyError, match="known: f0, f0_confidence, loudness"):
        compute_descriptors(sine(440.0), settings, ["f0", "brightnes"])
    for audio, message in [
        (np.zeros(0, np.float32), "empty"),
        (np.full(100, np.nan, np.float32), "NaN"),
        (np.zeros((1, 2, 100), np.float32), "channels"),
    ]:
        with pytest.raises(ValueError, match=message):
            compute_descriptors(audio, settings)
    with pytest.raises(ValueError, match="fmax"):
        DescriptorSettings(sample_rate=SR, fmax=30000.0)


def test_registering_a_taken_name_raises() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_descriptor(DESCRIPTORS["centroid"])


@pytest.fixture()
def peak_descriptor() -> Iterator[Descriptor]:
    descriptor = register_descriptor(
        Descriptor(
            "test_peak",
            "ratio",
            "Largest absolute sample of each frame.",
            curve=lambda analysis: np.abs(analysis.frames).max(axis=1),
            clip=lambda analysis: float(np.abs(analysis.audio).max()),
        )
    )
    try:
        yield descriptor
    finally:
        unregister_descriptor(descriptor.name)


def test_custom_descriptor_is_computed_by_name(peak_descriptor: Descriptor) -> None:
    assert descriptor_names()[-1] == "test_peak"
    values = compute_descriptors(
        sine(440.0, amplitude=0.25), DescriptorSettings(sample_rate=SR), ["rms", "test_peak"]
    )
    assert values.value("test_peak") == pytest.approx(0.25, rel=1e-3)
    assert values.curve("test_peak").shape == (frame_count(SR, DescriptorSettings(SR)),)


def test_all_descriptors_on_one_second_are_fast() -> None:
    t = seconds(1.0)
    audio = (sine(220.0) * np.exp(-t / 0.2) + 0.05 * noise() * np.exp(-t / 0.05)).astype(np.float32)
    settings = DescriptorSettings(sample_rate=SR)
    compute_descriptors(audio, settings)
    runs = []
    for _ in range(10):
        start = time.perf_counter()
        compute_descriptors(audio, settings)
        runs.append(time.perf_counter() - start)
    print(
        f"all descriptors, 1 s @ 44.1 kHz: best {min(runs) * 1e3:.1f} ms, "
        f"median {np.median(runs) * 1e3:.1f} ms"
    )
    assert min(runs) < 0.1


# --------------------------------------------------------------------------------------------
# Scales, units and physical limits


def test_built_ins_carry_their_scales() -> None:
    scales = {name: DESCRIPTORS[name].scale for name in BUILT_INS}
    assert scales == {
        "f0": "semitones",
        "f0_confidence": "linear",
        "loudness": "linear",
        "rms": "log",
        "centroid": "log",
        "bandwidth": "log",
        "rolloff": "log",
        "flatness": "linear",
        "zcr": "linear",
        "attack_time": "log",
        "release_time": "log",
        "decay_constant": "log",
    }
    assert descriptor_scale("f0") == "semitones"
    assert descriptor_scale("not_registered") == "linear"


def test_to_scale_known_answers() -> None:
    semitones = to_scale([440.0, 880.0, 220.0, 0.0, -5.0], "semitones")
    np.testing.assert_allclose(semitones[:3], [0.0, 12.0, -12.0], atol=1e-12)
    assert np.isnan(semitones[3:]).all()
    logs = to_scale([1.0, np.e, 1e-7, 0.0], "log")
    np.testing.assert_allclose(logs[:3], [0.0, 1.0, np.log(1e-5)], atol=1e-12)
    assert np.isnan(logs[3])
    assert to_scale([3, -2], "linear").dtype == np.float64
    np.testing.assert_array_equal(to_scale([3, -2], "linear"), [3.0, -2.0])
    with pytest.raises(ValueError, match="unknown scale"):
        to_scale([1.0], "cubic")


def test_from_scale_inverts_to_scale_on_arrays_and_tensors() -> None:
    np.testing.assert_allclose(
        from_scale(np.array([0.0, 12.0, -24.0]), "semitones"), [440, 880, 110]
    )
    np.testing.assert_allclose(from_scale(np.array([0.0, 1.0]), "log"), [1.0, np.e])
    values = torch.tensor([0.0, 12.0], dtype=torch.float64)
    assert torch.equal(from_scale(values, "linear"), values)
    hz = from_scale(values, "semitones")
    assert isinstance(hz, torch.Tensor)
    torch.testing.assert_close(hz, torch.tensor([440.0, 880.0], dtype=torch.float64))
    torch.testing.assert_close(from_scale(values, "log"), values.exp())
    raw = np.array([55.0, 440.0, 3000.0])
    for scale in ("linear", "semitones", "log"):
        np.testing.assert_allclose(from_scale(to_scale(raw, scale), scale), raw, rtol=1e-12)
    f0 = get_descriptor("f0")
    np.testing.assert_allclose(f0.to_scale([880.0]), [12.0])
    np.testing.assert_allclose(f0.from_scale(np.array([-12.0])), [220.0])
    with pytest.raises(ValueError, match="unknown scale"):
        from_scale(np.array([1.0]), "cubic")


def test_physical_limits_known_answers() -> None:
    at_44k = {name: descriptor_limits(name, 44100, 0.5) for name in BUILT_INS}
    assert at_44k["centroid"] == Limits(0.0, 22050.0)
    assert at_44k["rolloff"] == Limits(0.0, 22050.0)
    assert at_44k["bandwidth"] == Limits(0.0, 11025.0)
    assert at_44k["f0"].low == 20.0
    assert at_44k["f0"].high == pytest.approx(4186.009, abs=1e-3)  # C8
    assert at_44k["attack_time"] == at_44k["release_time"] == Limits(0.0, 0.5)
    assert at_44k["decay_constant"] == Limits(0.0, math.inf)
    assert at_44k["zcr"] == Limits(0.0, 44100.0)
    for name in ("rms", "flatness", "f0_confidence"):
        assert at_44k[name] == Limits(0.0, 1.0)
    # loudness: −120 dB floor to a full-scale signal at the A-weighting peak (+1.27 dB at
    # ≈ 2.5 kHz) or, below it, at Nyquist (+1.2 dB at 2 kHz): 10 log10(2) ≈ 3.01 dB plus that
    assert at_44k["loudness"].low == -120.0
    assert at_44k["loudness"].high == pytest.approx(3.0103 + 1.271, abs=0.005)
    assert descriptor_limits("loudness", 4000).high == pytest.approx(3.0103 + 1.20, abs=0.02)
    assert descriptor_limits("f0", 8000) == Limits(20.0, 4000.0)
    assert descriptor_limits("centroid", 16000).high == 8000.0
    assert descriptor_limits("attack_time", 16000).high == math.inf  # no clip length given
    assert descriptor_limits("not_registered", 16000, 1.0) == Limits(-math.inf, math.inf)
    with pytest.raises(ValueError, match="sample_rate"):
        get_descriptor("centroid").limits(0, 1.0)
    assert Limits(0.0, 1.0).contains(1.0) and not Limits(0.0, 1.0).contains(float("nan"))


@pytest.mark.parametrize("sr", [44100, 16000])
def test_measured_values_lie_within_the_limits(sr: int) -> None:
    t = seconds(0.5, sr)
    sounds = {
        "full-scale noise": np.random.default_rng(1).uniform(-1, 1, t.size).astype(np.float32),
        "full-scale square": np.sign(np.sin(2 * np.pi * 2500.0 * t)).astype(np.float32),
        "decaying sine": (0.8 * sine(220.0, 0.5, sr) * np.exp(-t / 0.1)).astype(np.float32),
    }
    for label, audio in sounds.items():
        values = compute_descriptors(audio, DescriptorSettings(sample_rate=sr), BUILT_INS)
        for name in BUILT_INS:
            limits = descriptor_limits(name, sr, audio.size / sr)
            measured = np.append(values.curve(name), values.value(name))
            measured = measured[np.isfinite(measured)]
            assert ((measured >= limits.low) & (measured <= limits.high)).all(), (label, name)


def test_custom_descriptors_default_to_linear_and_unbounded(peak_descriptor: Descriptor) -> None:
    assert peak_descriptor.scale == "linear"
    assert descriptor_scale("test_peak") == "linear"
    assert descriptor_limits("test_peak", SR, 1.0) == Limits(-math.inf, math.inf)
    with pytest.raises(ValueError, match="scale must be one of"):
        Descriptor(
            "bad", "Hz", "", curve=lambda a: a.constant(0.0), clip=lambda a: 0.0, scale="mel"
        )
