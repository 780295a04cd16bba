"""Feedback-shaping DSP with known answers: RBJ band-pass response and poles, block-by-block
filtering equal to one `lfilter` call, the soft limiter's shape, a glide that does not click, and
a pass-through feedback loop that stays bounded and decays."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.signal import freqz, lfilter

from timbrespace.audio.filters import (
    Q_RANGE,
    Biquad,
    FeedbackShaper,
    bandpass_coefficients,
    max_frequency,
    soft_limit,
)

HALF_POWER_DB = 10 * math.log10(0.5)  # −3.0103 dB


def sine(freq: float, sr: int, samples: int, amplitude: float = 1.0) -> np.ndarray:
    """`amplitude · sin(2π f t)`: float32 [samples]."""
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(samples) / sr)).astype(np.float32)


def response_db(b: np.ndarray, a: np.ndarray, freqs: list[float], sr: int) -> np.ndarray:
    _, h = freqz(b, a, worN=np.asarray(freqs, dtype=np.float64), fs=sr)
    return 20 * np.log10(np.abs(h))


def edges(freq: float, q: float) -> tuple[float, float]:
    """Analog-prototype band edges relative to the centre: √(1 + 1/4Q²) ∓ 1/2Q."""
    root = math.sqrt(1 + 1 / (4 * q * q))
    return root - 1 / (2 * q), root + 1 / (2 * q)


@pytest.mark.parametrize(
    ("freq", "q", "sr"),
    [
        (100.0, 10.0, 16000),
        (440.0, 0.7, 16000),
        (1000.0, 2.0, 44100),
        (1000.0, 2.0, 48000),
        (300.0, 5.0, 48000),
    ],
)
def test_bandpass_is_0db_at_centre_and_half_power_at_band_edges(
    freq: float, q: float, sr: int
) -> None:
    # f ≪ sr, where the bilinear warping of the edges is below 0.1 dB
    b, a = bandpass_coefficients(freq, q, sr)
    low, high = edges(freq, q)
    centre, lower, upper = response_db(b, a, [freq, freq * low, freq * high], sr)
    assert centre == pytest.approx(0.0, abs=0.01)
    assert lower == pytest.approx(HALF_POWER_DB, abs=0.1)
    assert upper == pytest.approx(HALF_POWER_DB, abs=0.1)


@pytest.mark.parametrize(
    ("freq", "q", "sr"),
    [
        (8000.0, 8.0, 44100),
        (7000.0, 0.1, 16000),
        (5000.0, 1.0, 44100),
        (20.0, 30.0, 48000),
        (21600.0, 0.5, 48000),
    ],
)
def test_bandpass_edges_are_exact_after_bilinear_warping(freq: float, q: float, sr: int) -> None:
    # up to max_frequency the edges sit where tan(π f_e / sr) = tan(π f / sr) · (√(1 + 1/4Q²) ∓ 1/2Q)
    b, a = bandpass_coefficients(freq, q, sr)
    warped = math.tan(math.pi * freq / sr)
    lower, upper = (sr / math.pi * math.atan(warped * e) for e in edges(freq, q))
    centre, at_lower, at_upper = response_db(b, a, [freq, lower, upper], sr)
    assert centre == pytest.approx(0.0, abs=1e-9)
    assert at_lower == pytest.approx(HALF_POWER_DB, abs=1e-6)
    assert at_upper == pytest.approx(HALF_POWER_DB, abs=1e-6)


@pytest.mark.parametrize("sr", [16000, 44100, 48000])
def test_bandpass_poles_are_inside_the_unit_circle_over_the_whole_range(sr: int) -> None:
    for freq, q in itertools.product(
        np.geomspace(20.0, max_frequency(sr), 40), np.geomspace(*Q_RANGE, 20)
    ):
        b, a = bandpass_coefficients(freq, q, sr)
        assert b.dtype == a.dtype == np.float64 and b.shape == a.shape == (3,)
        assert a[0] == 1.0 and b[1] == 0.0 and b[0] == -b[2] > 0
        assert np.abs(np.roots(a)).max() < 1.0, (freq, q)


@pytest.mark.parametrize(
    ("field", "freq", "q"),
    [
        ("frequency", 19.9, 2.0),
        ("frequency", 0.46 * 44100, 2.0),
        ("frequency", math.nan, 2.0),
        ("q", 1000.0, 0.0),
        ("q", 1000.0, 30.5),
        ("q", 1000.0, math.inf),
    ],
)
def test_bandpass_rejects_values_out_of_range_naming_the_field(
    field: str, freq: float, q: float
) -> None:
    with pytest.raises(ValueError, match=field):
        bandpass_coefficients(freq, q, 44100)


def test_biquad_block_by_block_equals_one_lfilter_call() -> None:
    sr, freq = 44100, 1000.0
    b, a = bandpass_coefficients(freq, 4.0, sr)
    signal = np.stack([sine(freq, sr, 20000), 0.5 * sine(3 * freq, sr, 20000)])
    expected = lfilter(b, a, signal.astype(np.float64), axis=-1)
    biquad = Biquad(channels=2)
    biquad.set_coefficients(b, a)
    pieces, start = [], 0
    for size in itertools.cycle([128, 7, 1000]):
        if start >= signal.shape[1]:
            break
        pieces.append(biquad.process(signal[:, start : start + size]))
        start += size
    out = np.concatenate(pieces, axis=1)
    assert out.dtype == np.float32 and out.shape == signal.shape
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_biquad_resets_and_outputs_zeros_when_the_state_would_become_non_finite() -> None:
    biquad = Biquad(channels=1)
    biquad.set_coefficients(*bandpass_coefficients(500.0, 2.0, 16000))
    tone = sine(500.0, 16000, 256)[None]
    bad = tone.copy()
    bad[0, 10] = np.nan
    assert np.array_equal(biquad.process(bad), np.zeros_like(bad))
    fresh = Biquad(channels=1)
    fresh.set_coefficients(*bandpass_coefficients(500.0, 2.0, 16000))
    np.testing.assert_array_equal(biquad.process(tone), fresh.process(tone))


def test_soft_limit_is_the_identity_below_the_knee() -> None:
    x = np.linspace(-0.5, 0.5, 10001, dtype=np.float32)
    y = soft_limit(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(soft_limit(0.5 * x, ceiling=0.5), 0.5 * x)


def test_soft_limit_stays_below_the_ceiling_and_maps_non_finite_to_finite() -> None:
    x = np.array([0.9, 2.0, 10.0, 1e3, 1e6, np.inf, -1e6, -np.inf], dtype=np.float32)
    for ceiling in (1.0, 0.1, 0.8):
        y = soft_limit(x, ceiling=ceiling)
        assert np.all(np.abs(y) < ceiling) and np.all(np.isfinite(y))
        assert np.all(np.sign(y) == np.sign(x))
        assert y[-1] == pytest.approx(-ceiling, rel=1e-6)
    y = soft_limit(np.array([[np.nan, 0.25], [-np.nan, -0.25]], dtype=np.float32))
    np.testing.assert_array_equal(y, [[0.0, 0.25], [0.0, -0.25]])


def test_soft_limit_is_continuous_and_monotonic() -> None:
    x = np.linspace(-20.0, 20.0, 400001)  # step 1e-4
    y = soft_limit(x).astype(np.float64)
    steps = np.diff(y)
    assert np.all(steps >= 0)
    assert steps.max() <= 1e-4 * (1 + 1e-3)  # slope ≤ 1 everywhere: no jumps
    # strictly increasing until float32 runs out of resolution near the ceiling
    assert np.all(steps[np.abs(x[1:]) < 1.5] > 0)


def test_soft_limit_derivative_is_continuous_at_the_knee() -> None:
    for ceiling, knee in [(1.0, 0.5), (0.8, 0.25)]:
        k, h = ceiling * knee, 1e-3
        below, at, above = soft_limit(np.array([k - h, k, k + h]), ceiling, knee).astype(float)
        assert (at - below) / h == pytest.approx(1.0, abs=1e-3)
        assert (above - at) / h == pytest.approx(1.0, abs=5e-3)


def test_shaper_at_fixed_settings_is_bandpass_then_gain_then_limit() -> None:
    sr, freq, q, gain = 16000, 300.0, 3.0, 0.7
    signal = np.stack([sine(freq, sr, 4096, 1.5), sine(2 * freq, sr, 4096, 0.3)])
    shaper = FeedbackShaper(sr, 2, frequency=freq, q=q, gain=gain)
    out = np.concatenate([shaper.process(part) for part in np.split(signal, 16, axis=1)], axis=1)
    b, a = bandpass_coefficients(freq, q, sr)
    expected = soft_limit(gain * lfilter(b, a, signal.astype(np.float64), axis=-1))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_shaper_glides_geometrically_in_frequency_and_linearly_in_gain() -> None:
    sr = 32000  # glide 0.03 s = 960 samples = 30 sub-blocks
    shaper = FeedbackShaper(sr, 1, frequency=1000.0, q=1.0, gain=0.2)
    shaper.set(frequency=4000.0, q=4.0, gain=0.6)
    shaper.process(np.zeros((1, 480), dtype=np.float32))
    frequency, q, gain = shaper._current
    assert (frequency, q, gain) == pytest.approx((2000.0, 2.0, 0.4))
    shaper.process(np.zeros((1, 481), dtype=np.float32))
    assert shaper._current == (4000.0, 4.0, 0.6)


def max_step(shaper: FeedbackShaper, signal: np.ndarray, jump_at: int | None) -> float:
    """Largest sample-to-sample change of the shaper's output over `signal` [samples] in blocks
    of 256 (gain set to 1 at block `jump_at`), from 4 blocks in until the end."""
    blocks = signal.reshape(-1, 256)
    outs = []
    for i, block in enumerate(blocks):
        if i == jump_at:
            shaper.set(gain=1.0)
        outs.append(shaper.process(block[None])[0])
    return float(np.abs(np.diff(np.concatenate(outs)[4 * 256 :])).max())


@pytest.mark.parametrize("freq", [200.0, 1000.0, 3000.0])
def test_a_gain_jump_does_not_click(freq: float) -> None:
    sr = 44100
    signal = sine(freq, sr, 24 * 256, amplitude=0.9)
    steady = max_step(FeedbackShaper(sr, 1, frequency=freq, gain=1.0), signal, None)
    smooth = max_step(FeedbackShaper(sr, 1, frequency=freq, gain=0.0), signal, 10)
    assert smooth < 1.5 * steady
    # without the glide the same jump is a click (up to ~3 kHz, where the sine's own steps
    # are smaller than the jump): the test can tell
    instant = FeedbackShaper(sr, 1, frequency=freq, gain=0.0, glide_seconds=0.0)
    assert max_step(instant, signal, 10) > 1.5 * steady


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("gain", {"gain": math.nan}),
        ("gain", {"gain": -0.1}),
        ("gain", {"gain": 1.01}),
        ("q", {"q": 0.0}),
        ("q", {"q": math.inf}),
        ("frequency", {"frequency": 0.46 * 44100}),
        ("frequency", {"frequency": math.nan}),
        ("frequency", {"frequency": 10.0}),
    ],
)
def test_shaper_set_rejects_bad_values_naming_the_field(
    field: str, values: dict[str, float]
) -> None:
    shaper = FeedbackShaper(44100, 1)
    with pytest.raises(ValueError, match=field):
        shaper.set(**values)
    assert shaper._target == (1000.0, 2.0, 0.5)  # nothing changed


def test_pass_through_feedback_loop_stays_bounded_and_decays() -> None:
    # worst case of the engine's loop: a model that passes its input through, so
    # x_{n+1} = clip(input_n + shaper(x_n)); loop gain ≤ 0.99 at every frequency
    sr, block = 44100, 256
    n_blocks = 10 * sr // block
    rng = np.random.default_rng(0)
    burst = rng.uniform(-1.0, 1.0, size=(8, 1, block)).astype(np.float32)
    for freq, q in itertools.product([50.0, 200.0, 1000.0, 5000.0, 10000.0], [0.5, 2.0, 8.0, 20.0]):
        shaper = FeedbackShaper(sr, 1, frequency=freq, q=q, gain=0.99)
        feedback = np.zeros((1, block), dtype=np.float32)
        peaks = np.empty(n_blocks)
        for n in range(n_blocks):
            x = np.clip((burst[n] if n < len(burst) else 0.0) + feedback, -1.0, 1.0)
            feedback = shaper.process(x)
            assert np.all(np.isfinite(feedback)), (freq, q, n)
            peaks[n] = max(np.abs(x).max(), np.abs(feedback).max())
        assert peaks.max() <= 1.0, (freq, q)
        assert peaks[-(sr // block) :].max() < 1e-5, (freq, q)  # last second has died away
