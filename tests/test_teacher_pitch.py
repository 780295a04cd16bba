"""Training on the measured pitch (`OneShotConfig.teacher_pitch`): the synth plays a voiced
clip at the pitch it is given, the pitch loss still sees the latent's own readout."""

from __future__ import annotations

import math

import pytest
import torch

from timbrespace.models.base import build_model
from timbrespace.models.oneshot import ONESHOT_PRESETS, OneShotConfig
from timbrespace.train.task import clip_pitch


def test_clip_pitch_is_the_median_of_the_voiced_frames() -> None:
    nan = math.nan
    curves = torch.tensor([[nan, 100.0, 110.0, 400.0, 0.0], [nan, nan, nan, 0.0, -1.0]])
    pitch = clip_pitch(curves)
    assert float(pitch[0]) == pytest.approx(110.0)
    assert math.isnan(float(pitch[1]))


def test_the_synth_plays_at_the_given_pitch_and_reports_the_latents_own() -> None:
    torch.manual_seed(0)
    config = OneShotConfig(**{**ONESHOT_PRESETS["tiny"], "teacher_pitch": True})  # type: ignore[arg-type]
    model = build_model("oneshot", config)
    assert model.takes_pitch
    audio = 0.1 * torch.randn(2, 1, config.clip_samples)
    given = torch.tensor([261.63, math.nan])
    output = model(audio, given)
    plain = model(audio)
    torch.testing.assert_close(output.base_pitch, plain.base_pitch)  # the readout, for the loss
    own = 440.0 * 2 ** float(plain.base_pitch[0, 0])
    assert abs(math.log2(own / 261.63)) > 0.05  # the untrained latent's pitch is elsewhere
    # item 0 is played at 261.63 Hz: the bend's mean weighted by the harmonic level is zero
    controls = model.decoder.controls(model.encode(audio)[..., 0], given)
    level = controls.harmonics[0, 0].sum(dim=0).detach()
    octaves = torch.log2(controls.f0[0, 0].detach() / 261.63)
    assert float((octaves * level).sum() / level.sum()) == pytest.approx(0.0, abs=1e-4)
    torch.testing.assert_close(output.f0[1], plain.f0[1])
    assert output.audio.shape == plain.audio.shape
