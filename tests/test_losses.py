"""Reconstruction losses: attack weighting really applied, k = 0 equals auraloss, named terms."""

from __future__ import annotations

import math

import auraloss
import pytest
import torch

from timbrespace.losses.spectral import (
    DEFAULT_EPS,
    DEFAULT_WEIGHTS,
    REFERENCE_FFT_SIZES,
    REFERENCE_HOP_SIZES,
    REFERENCE_WIN_LENGTHS,
    AttackWeightedMultiResolutionSTFTLoss,
    ReconstructionLoss,
    attack_envelope,
    default_resolutions,
    stft_magnitude,
)

SR = 16000


def decaying_tone(n: int = SR, freq: float = 220.0, decay: float = 3.0) -> torch.Tensor:
    """`[1, 1, n]` sine at `freq` Hz with an exponential decay of `decay` s."""
    t = torch.arange(n) / SR
    return (0.5 * torch.sin(2 * math.pi * freq * t) * torch.exp(-t / decay)).view(1, 1, n)


def noise_burst(start: float, n: int = SR, duration: float = 0.01) -> torch.Tensor:
    """`[1, 1, n]` Hann-windowed noise burst of `duration` s at `start` s (same noise each call)."""
    gen = torch.Generator().manual_seed(1)
    length = int(duration * SR)
    out = torch.zeros(n)
    i = int(start * SR)
    out[i : i + length] = 0.1 * torch.randn(length, generator=gen) * torch.hann_window(length)
    return out.view(1, 1, n)


def plain_auraloss(sample_rate: float, eps: float) -> auraloss.freq.MultiResolutionSTFTLoss:
    res = default_resolutions(sample_rate)
    return auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=list(res.fft_sizes),
        hop_sizes=list(res.hop_sizes),
        win_lengths=list(res.win_lengths),
        eps=eps,
    )


def test_attack_envelope_known_values() -> None:
    env = attack_envelope(SR, SR, k=5.0, tau=0.1)
    assert env.shape == (SR,)
    assert env[0].item() == pytest.approx(6.0)
    assert env[int(0.1 * SR)].item() == pytest.approx(1 + 5 / math.e, rel=1e-4)
    assert env[-1].item() == pytest.approx(1 + 5 * math.exp(-(SR - 1) / SR / 0.1), rel=1e-5)
    times = torch.tensor([0.0, 0.05, 1.0])
    expected = 1 + 2.0 * torch.exp(-times / 0.05)
    torch.testing.assert_close(attack_envelope(times, k=2.0, tau=0.05), expected)
    with pytest.raises(ValueError, match="sample_rate"):
        attack_envelope(100)


def test_default_resolutions_match_auraloss_at_44k_and_scale() -> None:
    res = default_resolutions(44100)
    assert res.fft_sizes == (1024, 2048, 512) == REFERENCE_FFT_SIZES
    assert res.hop_sizes == (120, 240, 50) == REFERENCE_HOP_SIZES
    assert res.win_lengths == (600, 1200, 240) == REFERENCE_WIN_LENGTHS
    low = default_resolutions(SR)
    for fft, hop, win in zip(low.fft_sizes, low.hop_sizes, low.win_lengths, strict=True):
        assert fft >= win > hop > 0
        assert fft & (fft - 1) == 0
    assert low.win_lengths[1] / SR == pytest.approx(1200 / 44100, rel=0.01)


@pytest.mark.parametrize(
    ("sample_rate", "shape", "eps"),
    [
        (SR, (3, 1, 8000), DEFAULT_EPS),
        (44100, (2, 2, 11025), DEFAULT_EPS),
        (SR, (2, 1, 6000), 1e-8),
    ],
)
def test_k0_equals_plain_auraloss(
    sample_rate: int, shape: tuple[int, int, int], eps: float
) -> None:
    gen = torch.Generator().manual_seed(0)
    x = 0.3 * torch.randn(shape, generator=gen)
    x[..., : shape[-1] // 3] *= 1e-3
    y = 0.3 * torch.randn(shape, generator=gen) + 0.5 * x
    ours = AttackWeightedMultiResolutionSTFTLoss(sample_rate=sample_rate, k=0.0, eps=eps)(x, y)
    reference = plain_auraloss(sample_rate, eps)(x, y)
    assert ours.item() == pytest.approx(reference.item(), abs=1e-5)


def test_early_error_costs_more_than_late_error_only_with_attack_weighting() -> None:
    target = decaying_tone()
    early_input = target + noise_burst(0.005)
    late_input = target + noise_burst(0.6)
    weighted = AttackWeightedMultiResolutionSTFTLoss(sample_rate=SR, k=5.0, tau=0.1)
    flat = AttackWeightedMultiResolutionSTFTLoss(sample_rate=SR, k=0.0)
    weighted_ratio = (weighted(early_input, target) / weighted(late_input, target)).item()
    flat_ratio = (flat(early_input, target) / flat(late_input, target)).item()
    print(f"early/late loss ratio: K=5 {weighted_ratio:.2f}, K=0 {flat_ratio:.2f}")
    assert weighted_ratio > 2.0
    assert 0.7 < flat_ratio < 1.4


def test_identical_inputs_cost_nothing() -> None:
    x = decaying_tone() + noise_burst(0.2)
    loss = ReconstructionLoss(sample_rate=SR, weights={"wave": 1.0, "env": 1.0})
    terms = loss(x, x.clone())
    for name, value in terms.items():
        assert abs(value.item()) < 1e-6, name


def test_gradients_flow_to_the_input() -> None:
    target = decaying_tone(n=8000)
    x = (0.5 * target + 0.01 * torch.randn_like(target)).requires_grad_(True)
    loss = ReconstructionLoss(sample_rate=SR, weights={"stft": 1.0, "wave": 0.5, "env": 0.5})
    loss(x, target)["loss"].backward()
    assert x.grad is not None
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum().item() > 0


def test_reconstruction_loss_total_and_names() -> None:
    gen = torch.Generator().manual_seed(3)
    x = 0.2 * torch.randn(2, 1, 8000, generator=gen)
    y = 0.2 * torch.randn(2, 1, 8000, generator=gen)
    weights = {"stft": 2.0, "wave": 0.5, "env": 3.0}
    terms = ReconstructionLoss(sample_rate=SR, weights=weights)(x, y)
    assert set(terms) == {"stft/sc", "stft/log_mag", "stft/loss", "wave/l1", "env/l1", "loss"}
    expected = 2.0 * terms["stft/loss"] + 0.5 * terms["wave/l1"] + 3.0 * terms["env/l1"]
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert terms["stft/loss"].item() == pytest.approx(
        (terms["stft/sc"] + terms["stft/log_mag"]).item(), rel=1e-6
    )
    default_terms = ReconstructionLoss(sample_rate=SR)(x, y)
    assert default_terms["loss"].item() == pytest.approx(default_terms["stft/loss"].item())
    assert dict(DEFAULT_WEIGHTS) == {"stft": 1.0, "wave": 0.0, "env": 0.0}


def test_unknown_weight_name_raises() -> None:
    with pytest.raises(ValueError, match="'spectral'"):
        ReconstructionLoss(sample_rate=SR, weights={"spectral": 1.0})


def test_mismatched_shapes_raise() -> None:
    loss = AttackWeightedMultiResolutionSTFTLoss(sample_rate=SR)
    with pytest.raises(ValueError, match="equal shape"):
        loss(torch.zeros(1, 1, 4000), torch.zeros(1, 1, 4001))


@pytest.mark.parametrize(("fft", "hop", "win"), [(512, 50, 240), (1024, 120, 600), (255, 40, 200)])
def test_stft_magnitude_equals_torch_stft_in_value_and_gradient(fft: int, hop: int, win: int):
    """The hand-written backward (N·irfft with paired bins halved) against autograd through
    `torch.stft`, including frames whose power sits under the floor (zero gradient there)."""
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3000, generator=gen, dtype=torch.float64)
    x[:, 1000:1600] = 0.0  # silent frames: clamped to the floor
    x.requires_grad_(True)
    window = torch.hann_window(win, dtype=torch.float64)
    spectrum = torch.stft(x, fft, hop, win, window, return_complex=True)
    power = spectrum.real**2 + spectrum.imag**2
    reference = torch.sqrt(torch.clamp(power, min=1e-3)).transpose(1, 2)
    ours = stft_magnitude(x, fft, hop, window, 1e-3)
    frames = 1 + (3000 + 2 * (fft // 2) - fft) // hop  # centred frames, as torch.stft
    assert ours.shape == reference.shape == (2, frames, fft // 2 + 1)
    torch.testing.assert_close(ours, reference, atol=1e-10, rtol=1e-10)
    assert bool((ours == math.sqrt(1e-3)).any())  # some elements are floored
    upstream = torch.randn(ours.shape, generator=gen, dtype=torch.float64)
    (expected,) = torch.autograd.grad((reference * upstream).sum(), x)
    (got,) = torch.autograd.grad((ours * upstream).sum(), x)
    torch.testing.assert_close(got, expected, atol=1e-9, rtol=1e-9)
