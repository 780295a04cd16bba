"""Partials at ratios of the base pitch (`audio/partials.py`, `models/oneshot_partials.py`):
known answers for the DSP, exact transposition through the decoder, old bundles unchanged."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from timbrespace.audio.partials import partial_bank
from timbrespace.audio.synth import control_frames
from timbrespace.models.base import ConfigError, build_model, config_to_dict, resolve_config
from timbrespace.models.oneshot_partials import OneShotPartials, PartialControls

SR, N, HOP = 16000, 8000, 64
FRAMES = control_frames(N, HOP)


def peak_hz(audio: torch.Tensor, sr: int = SR) -> float:
    """Strongest bin of a Hann-windowed, zero-padded spectrum of `[samples]`, Hz."""
    x = audio.detach().double().numpy()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 1 << 17))
    return float(np.fft.rfftfreq(1 << 17, 1 / sr)[spectrum.argmax()])


def test_partial_bank_renders_sines_at_ratio_times_base() -> None:
    ratios = torch.tensor([[2.5, 1.19], [3.0, 40.0]])
    amplitudes = torch.ones(2, 2, FRAMES)
    amplitudes[0, 1] = 0.5
    base = torch.tensor([200.0, 150.0])
    audio = partial_bank(ratios, amplitudes, base, sample_rate=SR, samples=N, hop=HOP)
    t = torch.arange(N, dtype=torch.float64) / SR
    first = torch.sin(2 * math.pi * 500 * t) + 0.5 * torch.sin(2 * math.pi * 238 * t)
    # 40 × 150 Hz = 6 kHz < 8 kHz is kept; 3 × 150 = 450 Hz
    second = torch.sin(2 * math.pi * 450 * t) + torch.sin(2 * math.pi * 6000 * t)
    assert torch.allclose(audio[0].double(), first, atol=2e-4)
    assert torch.allclose(audio[1].double(), second, atol=2e-3)
    alone = partial_bank(ratios[1:], amplitudes[1:], base[1:], sample_rate=SR, samples=N, hop=HOP)
    assert torch.allclose(alone[0], audio[1], atol=1e-6)


def test_partial_bank_silences_partials_above_nyquist_and_ramps_amplitude() -> None:
    ratios = torch.tensor([[1.0, 41.0]])  # 41 × 200 Hz = 8.2 kHz ≥ Nyquist
    amplitudes = torch.zeros(1, 2, FRAMES)
    amplitudes[0, :, 1] = 1.0  # 0 at sample 0, 1 at sample HOP, 0 at 2·HOP
    audio = partial_bank(
        ratios, amplitudes, torch.tensor([200.0]), sample_rate=SR, samples=N, hop=HOP
    )
    t = torch.arange(2 * HOP) / SR
    ramp = torch.cat([torch.arange(HOP) / HOP, 1 - torch.arange(HOP) / HOP])
    assert torch.allclose(audio[0, : 2 * HOP], ramp * torch.sin(2 * math.pi * 200 * t), atol=1e-5)
    assert audio[0, 2 * HOP :].abs().max() == 0


def test_partial_bank_gradient_reaches_ratios_and_matches_finite_differences() -> None:
    ratios = torch.tensor([[1.3, 2.7]], dtype=torch.float64, requires_grad=True)
    amplitudes = torch.rand(
        1, 2, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    base = torch.tensor([300.0], dtype=torch.float64)

    def render(r: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return partial_bank(r, a, base, sample_rate=SR, samples=4 * 16, hop=16)

    assert torch.autograd.gradcheck(render, (ratios, amplitudes.requires_grad_()))
    # pulled towards a target sine 2 % above: the gradient of the squared error lowers the error
    t = torch.arange(64, dtype=torch.float64) / SR
    target = torch.sin(2 * math.pi * 1.02 * 1.3 * 300 * t)
    one = torch.tensor([[1.3]], dtype=torch.float64, requires_grad=True)
    error = (render(one, torch.ones(1, 1, 5, dtype=torch.float64))[0] - target).square().sum()
    error.backward()
    assert one.grad is not None and float(one.grad) < 0


@pytest.mark.parametrize("kind", ["voices", "bank"])
def test_moving_along_the_pitch_direction_transposes_the_partials(kind: str) -> None:
    torch.manual_seed(0)
    config = resolve_config("oneshot", "tiny", {"partials": kind})
    model = build_model("oneshot", config).eval()
    decoder = model.decoder
    weights, _ = model.pitch_readout()  # semitones re 440 Hz per unit of z
    z = torch.randn(1, config.latent_dim)
    up = z + (12.0 * weights / float(weights @ weights)).float()[None]  # +12 semitones
    with torch.no_grad():
        low, high = decoder.controls(z), decoder.controls(up)
    assert float(high.base_pitch - low.base_pitch) == pytest.approx(1.0, abs=1e-5)
    torch.testing.assert_close(high.partials.ratios, low.partials.ratios)
    # a loud partial at ratio 3 moves from 3·f to 3·2f
    single = PartialControls(torch.tensor([[[3.0]]]), torch.ones(1, 1, 1, decoder.frames))
    rendered = [decoder.partials.render(single, c.base_pitch)[0] for c in (low, high)]
    base_hz = 440 * 2 ** float(low.base_pitch)
    assert peak_hz(rendered[0]) == pytest.approx(3 * base_hz, rel=0.002)
    assert peak_hz(rendered[1]) == pytest.approx(6 * base_hz, rel=0.002)


def test_voices_are_harmonic_series_at_their_ratio() -> None:
    torch.manual_seed(0)
    partials = OneShotPartials("voices", latent_dim=4, width=8, n_voices=2, voice_harmonics=3)
    controls = partials.controls(torch.zeros(1, 4), torch.zeros(1, 8, 5), torch.ones(1, 4))
    ratios = controls.ratios[0, 0].view(2, 3)
    torch.testing.assert_close(ratios[:, 1:], ratios[:, :1] * torch.tensor([2.0, 3.0]))
    # before training the voices sit at a major third and a fifth above the base pitch
    torch.testing.assert_close(ratios[:, 0], torch.tensor([2 ** (4 / 12), 2 ** (7 / 12)]))
    assert controls.amplitudes.shape == (1, 1, 6, 5)


def test_decoder_with_partials_renders_and_learns_its_ratios() -> None:
    torch.manual_seed(0)
    model = build_model("oneshot", resolve_config("oneshot", "tiny", {"partials": "bank"}))
    output = model(0.1 * torch.randn(2, 1, 8000))
    assert output.audio.shape == (2, 1, 8000) and torch.isfinite(output.audio).all()
    output.audio.square().mean().backward()
    ratio_grad = model.decoder.partials.ratio.weight.grad
    assert ratio_grad is not None and float(ratio_grad.abs().sum()) > 0


def test_saved_configs_without_partials_load_as_before() -> None:
    saved = config_to_dict(resolve_config("oneshot", "tiny"))
    for key in ("partials", "n_partials", "n_voices", "voice_harmonics"):
        saved.pop(key)
    model = build_model("oneshot", saved)
    assert model.config.partials == "none"
    assert not any("partials" in name for name in model.state_dict())
    with pytest.raises(ConfigError, match="partials 'chords' unknown"):
        resolve_config("oneshot", "tiny", {"partials": "chords"})
