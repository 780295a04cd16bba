"""The one-shot synth's envelope readouts: known answers for their pure functions; a move along
the release readout stretches the decoder's frames after the peak by exactly 2×, and a move
along the attack readout sets the render's measured attack."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors
from timbrespace.models.base import build_model
from timbrespace.models.oneshot import ONESHOT_PRESETS, OneShotConfig
from timbrespace.models.oneshot_envelope import (
    cap_after_peak,
    envelope_attack,
    envelope_release,
    fade_in,
    hold_before,
    level_peak,
    release_gate,
    stretch_after_peak,
)


def test_stretch_after_peak_reads_the_canonical_frames_at_the_stretched_time() -> None:
    frames = torch.arange(10, dtype=torch.float64).view(1, 1, 10).repeat(2, 3, 1) ** 2
    peak = torch.tensor([2, 0])
    stretched = stretch_after_peak(frames, peak, torch.tensor([1.0, -1.0], dtype=torch.float64))
    # item 0: frame t reads 2 + (t − 2)/2, linearly interpolated
    position = np.where(np.arange(10) <= 2, np.arange(10), 2 + (np.arange(10) - 2) / 2)
    expected = np.interp(position, np.arange(10), np.arange(10.0) ** 2)
    np.testing.assert_allclose(stretched[0, 1].numpy(), expected)
    # item 1: twice as fast from frame 0, the last frame held past the end
    np.testing.assert_allclose(
        stretched[1, 0].numpy(), np.minimum(2 * np.arange(10), 9).astype(float) ** 2
    )


def test_envelope_release_of_an_exponential_decay_is_its_minus_40_db_time() -> None:
    sample_rate, hop = 16000, 64
    t = np.arange(sample_rate) / sample_rate
    tau = 0.05  # −40 dB after τ·ln(100) = 0.230 s
    audio = np.exp(-t / tau) * np.sin(2 * np.pi * 440 * t)
    audio[:hop] = 0.0
    measured = float(envelope_release(torch.from_numpy(audio).view(1, 1, -1), hop, sample_rate))
    assert measured == pytest.approx(tau * math.log(100), abs=2 * hop / sample_rate)
    silent = envelope_release(torch.zeros(1, 1, sample_rate), hop, sample_rate)
    assert float(silent) == pytest.approx(hop / sample_rate)


@pytest.fixture
def model():  # noqa: ANN201
    torch.manual_seed(0)
    config = OneShotConfig(**{**ONESHOT_PRESETS["tiny"], "envelope": "both"})  # type: ignore[arg-type]
    return build_model("oneshot", config).eval()


def forced_level(model, curve: torch.Tensor):  # noqa: ANN001, ANN201
    """Make `model`'s decoder play a sine (its first harmonic) at the level of the raw curve
    `[frames]` (before `exp_sigmoid`) whatever the latent, noise off, the curve a feature the
    release stretches; returns the hook's handle."""
    decoder, channels = model.decoder, model.config.channels
    per_channel = 2 + decoder.n_harmonics + decoder.noise_bands
    with torch.no_grad():  # the level reads feature 0; the noise is off
        decoder.head.weight.zero_()
        bias_view = decoder.head.bias.view(channels, per_channel)
        bias_view[:, 1] = 0.0
        bias_view[:, 2 : 2 + decoder.n_harmonics] = -30.0
        bias_view[:, 2] = 0.0
        bias_view[:, 2 + decoder.n_harmonics :] = -30.0
        for c in range(channels):
            decoder.head.weight[c * per_channel + 1, 0, 0] = 1.0

    def level(module, args, output):  # noqa: ANN001, ANN202
        out = torch.zeros_like(output)
        extra = max(0, out.shape[-1] - curve.numel())
        out[:, 0] = torch.cat([curve, curve[-1:].repeat(extra)])[: out.shape[-1]]
        return out

    return decoder.net.register_forward_hook(level)


def rendered_along(model, descriptor: str, targets: tuple[float, ...]) -> list[float]:  # noqa: ANN001
    """From a seeded latent tuned to 220 Hz (a tone, not a buzz at 20 Hz), move along the
    model's readout of `descriptor` to each target (s) and measure the render with it."""
    weights, bias = model.descriptor_readouts()[descriptor]
    z = torch.randn(1, model.latent_dim, 1, dtype=torch.float64)
    z = model.tune_pitch(z, torch.tensor([220.0]))[..., 0]
    measured = []
    for target in targets:
        step = (math.log(target) - float(z @ weights + bias)) / float(weights @ weights)
        with torch.no_grad():
            audio = model.decoder((z + step * weights).float())[0, 0].numpy()
        settings = DescriptorSettings(model.config.sample_rate)
        measured.append(compute_descriptors(audio, settings, [descriptor]).value(descriptor))
    return measured


def test_a_move_along_the_release_readout_stretches_only_the_decay(model) -> None:  # noqa: ANN001
    weights, bias = model.descriptor_readouts()["release_time"]
    z = torch.randn(3, model.latent_dim, dtype=torch.float64)
    step = math.log(2.0) / float(weights @ weights)  # the readout rises by ln 2: twice as long
    moved = z + step * weights[None, :]
    np.testing.assert_allclose(
        (moved @ weights + bias - (z @ weights + bias)).numpy(), math.log(2.0), rtol=1e-9
    )
    decoder = model.decoder
    with torch.no_grad():
        before, after = decoder.controls(z.float()), decoder.controls(moved.float())
        pitch_w, _ = model.pitch_readout()
    # the pitch reads the latent without its release: the move leaves the base pitch
    assert abs(float(pitch_w @ weights)) < 1e-6 * float(pitch_w.norm() * weights.norm())
    torch.testing.assert_close(before.base_pitch, after.base_pitch, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        after.envelope["release"] - before.envelope["release"], torch.ones(3)
    )
    torch.testing.assert_close(after.envelope["attack"], before.envelope["attack"])
    n = before.noise.shape[-1]
    for b in range(3):
        loudness = before.harmonics[b].sum(dim=1) + before.noise[b].mean(dim=1)
        peak = int(level_peak(loudness[None])[0])
        reach = (n - 1 - peak) // 2
        torch.testing.assert_close(
            after.noise[b, :, :, peak : peak + 2 * reach + 1 : 2],
            before.noise[b, :, :, peak : peak + reach + 1],
            atol=1e-4,
            rtol=1e-3,
        )
        torch.testing.assert_close(
            after.noise[b, ..., : peak + 1], before.noise[b, ..., : peak + 1]
        )


def test_the_release_readout_sets_the_decoded_release(model) -> None:  # noqa: ANN001
    """On a decoder whose canonical level decays, the render's release (measured by the
    release descriptor, as the readouts are) doubles when the readout doubles."""
    weights, bias = model.descriptor_readouts()["release_time"]
    sample_rate = model.config.sample_rate
    handle = forced_level(model, torch.linspace(0, -4, model.decoder.frames))
    try:
        z = torch.zeros(1, model.latent_dim, dtype=torch.float64)
        z = z + (math.log(0.25) - bias) / float(weights @ weights) * weights[None, :]
        measured = []
        for factor in (0.5, 1.0):
            moved = z + math.log(factor) / float(weights @ weights) * weights[None, :]
            with torch.no_grad():
                audio = model.decoder(moved.float())[0, 0].numpy()
            values = compute_descriptors(audio, DescriptorSettings(sample_rate), ["release_time"])
            measured.append(values.value("release_time"))
    finally:
        handle.remove()
    assert measured[1] == pytest.approx(0.3, rel=0.5)
    assert measured[1] / measured[0] == pytest.approx(2.0, rel=0.05), measured


def test_envelope_attack_of_a_linear_ramp_is_its_10_to_90_percent_rise() -> None:
    sample_rate, hop = 16000, 16
    t = np.arange(sample_rate // 2) / sample_rate
    rows = []
    for ramp_s in (0.002, 0.02):
        rows.append(np.minimum(t / ramp_s, 1.0) * np.exp(-t / 0.3) * np.sin(2 * np.pi * 300 * t))
    audio = torch.from_numpy(np.stack(rows)[:, None, :])
    measured = envelope_attack(audio, hop, sample_rate).numpy()  # 1 ms blocks
    np.testing.assert_allclose(measured, [0.0016, 0.016], rtol=0.15)


def test_fade_in_rises_from_10_to_90_percent_in_the_attack_time() -> None:
    sample_rate = 16000
    ramp = fade_in(800, torch.tensor([0.01, 0.0]), sample_rate)
    first_10, first_90 = int(np.argmax(ramp[0].numpy() >= 0.1)), int(np.argmax(ramp[0] >= 0.9))
    assert (first_90 - first_10) / sample_rate == pytest.approx(0.01, abs=1.5 / sample_rate)
    assert float(ramp[1].min()) == 1.0  # no attack: no ramp


def test_the_attack_readout_sets_the_rendered_attack(model) -> None:  # noqa: ANN001
    """On a decoder whose level is steady, a move along the attack readout to 5, 10 and 20 ms
    renders those attacks as the attack descriptor measures them (within 15 %)."""
    forced_level(model, torch.zeros(model.decoder.frames))
    measured = rendered_along(model, "attack_time", (0.005, 0.01, 0.02))
    np.testing.assert_allclose(measured, [0.005, 0.01, 0.02], rtol=0.15)


def test_release_gate_fades_out_over_the_last_tenth_before_the_end() -> None:
    position = torch.tensor([[0.0, 5.0, 9.0, 9.5, 10.0, 12.0, 30.0]])
    gate = release_gate(position, torch.tensor([0]), 10.0)
    np.testing.assert_allclose(gate[0].numpy(), [1.0, 1.0, 1.0, 0.5, 0.0, 0.0, 0.0])


def test_a_sustained_sound_ends_where_the_release_readout_says(model) -> None:  # noqa: ANN001
    """A decoder whose level hardly falls (−4 dB over the clip: a flat one has no peak for the
    descriptor to start from) renders releases of 0.1 and 0.2 s when the readout says so (the
    gate), measured by the release descriptor within 10 %."""
    forced_level(model, torch.linspace(0, -0.4, model.decoder.frames))
    measured = rendered_along(model, "release_time", (0.1, 0.2))
    np.testing.assert_allclose(measured, [0.1, 0.2], rtol=0.1)


def test_cap_after_peak_keeps_what_follows_the_peak_at_most_as_loud() -> None:
    level = torch.tensor([[[1.0, 4.0, 2.0, 8.0, 3.0]], [[1.0, 4.0, 2.0, 8.0, 3.0]]])
    gain = cap_after_peak(level, torch.tensor([1, 3]))
    np.testing.assert_allclose(
        gain.numpy(), [[[1.0, 1.0, 1.0, 0.5, 1.0]], [[1.0, 1.0, 1.0, 1.0, 1.0]]]
    )


def test_hold_before_sets_every_frame_before_the_peak_to_the_peaks_value() -> None:
    values = torch.tensor([[[1.0, 2.0, 5.0, 3.0]], [[4.0, 1.0, 0.5, 0.2]]])
    held = hold_before(values, torch.tensor([2, 0]))
    np.testing.assert_allclose(held.numpy(), [[[5.0, 5.0, 5.0, 3.0]], [[4.0, 1.0, 0.5, 0.2]]])


@pytest.mark.parametrize("kind", ["ramped tone", "noise burst", "swelling pad", "kick"])
def test_envelope_attack_agrees_with_the_attack_descriptor(kind: str) -> None:
    """The training target and `eval`'s descriptor read the same attack, including for a sound
    still ringing at the clip's end (whose circular FFT once wrapped its tail into its onset:
    a 120 ms swell read 135 ms)."""
    sample_rate = 16000
    t = np.arange(sample_rate) / sample_rate
    rng = np.random.default_rng(3)
    if kind == "ramped tone":
        audio = np.minimum(t / 0.004, 1.0) * np.exp(-t / 0.2) * np.sin(2 * np.pi * 220 * t)
    elif kind == "noise burst":
        audio = np.minimum(t / 0.01, 1.0) * np.exp(-t / 0.05) * rng.standard_normal(t.size)
    elif kind == "kick":
        audio = np.minimum(t / 0.012, 1.0) * np.exp(-t / 0.15) * np.sin(2 * np.pi * 55 * t)
    else:
        chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
        audio = np.minimum(t / 0.15, 1.0) * chord / 3
    audio = audio.astype(np.float32)
    wanted = compute_descriptors(audio, DescriptorSettings(sample_rate), ["attack_time"])
    measured = envelope_attack(torch.from_numpy(audio).view(1, 1, -1), 16, sample_rate)
    assert float(measured[0]) == pytest.approx(wanted.value("attack_time"), abs=5e-4)
