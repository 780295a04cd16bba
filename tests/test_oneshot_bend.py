import math

import pytest
import torch

from timbrespace.models.oneshot_bend import (
    GLIDE_TIME_CONSTANTS_S,
    GlideBend,
    glide_basis,
    without_directions,
)


def test_glide_basis_decays_by_e_after_each_time_constant() -> None:
    hop, sample_rate = 64, 16000
    basis = glide_basis(400, hop, sample_rate)
    for k, tau in enumerate(GLIDE_TIME_CONSTANTS_S):
        frame = round(tau * sample_rate / hop)
        seconds = frame * hop / sample_rate
        assert float(basis[k, 0]) == 1.0
        assert float(basis[k, frame]) == pytest.approx(math.exp(-seconds / tau), rel=1e-5)


def test_without_directions_removes_exactly_the_span() -> None:
    z = torch.tensor([[1.0, 2.0, 3.0]])
    directions = torch.tensor([[0.0, 2.0, 0.0]])
    torch.testing.assert_close(without_directions(z, directions), torch.tensor([[1.0, 0.0, 3.0]]))


def test_glide_bend_starts_flat_and_ignores_a_pitch_move() -> None:
    torch.manual_seed(0)
    bend = GlideBend(latent_dim=6, channels=1, frames=50, hop=64, sample_rate=16000)
    pitch_weight = torch.randn(1, 6)
    z = torch.randn(3, 6)
    assert float(bend(z, pitch_weight).abs().max()) == 0.0  # an untrained model is in tune
    with torch.no_grad():
        for parameter in bend.parameters():
            parameter.normal_()
    moved = z + 0.7 * pitch_weight
    torch.testing.assert_close(bend(moved, pitch_weight), bend(z, pitch_weight))
    assert float(bend(z, pitch_weight).std()) > 0.01
