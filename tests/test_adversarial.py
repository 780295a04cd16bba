"""The adversarial phase: discriminator shapes, hinge and feature-matching known answers, and a
short stream run that switches the phase on, updates the discriminators and resumes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from timbrespace.config import ConfigError
from timbrespace.losses.adversarial import (
    Discriminators,
    discriminator_hinge,
    feature_matching,
    generator_hinge,
)
from timbrespace.train.config import TrainConfig


def test_every_discriminator_sees_stereo_audio_of_any_length() -> None:
    discriminators = Discriminators(channels=2, kind="both", width=4)
    outputs = discriminators(torch.randn(3, 2, 4001))
    assert len(outputs) == 8  # 3 scales + 5 periods
    for features in outputs:
        assert features[-1].shape[0] == 3 and features[-1].shape[1] == 1
        assert all(torch.isfinite(f).all() for f in features)


def test_hinge_losses_and_feature_matching_known_answers() -> None:
    real = [[torch.ones(2, 3), torch.full((2, 1), 2.0)]]
    fake = [[torch.zeros(2, 3), torch.full((2, 1), 0.5)]]
    # real logits 2 ≥ 1 cost nothing; fake logits 0.5 cost 1 + 0.5
    assert math.isclose(float(discriminator_hinge(real, fake)), 1.5)
    assert math.isclose(float(generator_hinge(fake)), -0.5)
    assert math.isclose(float(feature_matching(real, fake)), 1.0)


def test_unknown_discriminators_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="discriminators"):
        TrainConfig(discriminators="huge")


@pytest.mark.slow
def test_a_stream_run_enters_the_adversarial_phase_and_resumes(
    melody_cache: Path, tmp_path: Path
) -> None:
    from timbrespace.train.run import train

    settings = {"max_steps": 6, "adversarial_after": 3, "checkpoint_every": 3}
    run = tmp_path / "run"
    first = train(
        melody_cache,
        run,
        family="stream",
        preset="tiny",
        train_overrides=settings,
        logger="none",
        progress=False,
    )
    assert first.steps == 6
    assert math.isfinite(first.metrics["train/adv/discriminator"])
    assert math.isfinite(first.metrics["train/adv/feature_matching"])
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert "discriminator_optimizer" in state
    assert any(key.startswith("discriminators.") for key in state["state_dict"])
    assert state["discriminator_optimizer"]["state"]  # the discriminators were updated

    again = train(
        melody_cache,
        run,
        family="stream",
        preset="tiny",
        train_overrides={**settings, "max_steps": 8},
        resume=True,
        logger="none",
        progress=False,
    )
    assert (again.start_step, again.steps) == (6, 8)
