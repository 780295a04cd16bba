"""A reconstruction keeps its source's attack (`stage_search.keep_measured`, used by
`inference.encode_in_tune`), as it keeps its pitch: each latent's fade-in is set so that its
render measures the source's attack."""

from __future__ import annotations

import numpy as np
import torch

from timbrespace.render_stages import ATTACK_DESCRIPTOR, fade_stage
from timbrespace.stage_search import keep_measured

from .test_space_readout import measurer, tiny_synth

RATE = 16000


def test_keep_attack_renders_each_sources_attack_and_leaves_the_rest_alone() -> None:
    """Sources: an untrained synth's renders at fades of 1, 4 and 15 ms (attacks it can render);
    their latents moved to a 40 ms fade come back to within 2.5 % of each source's measured
    attack; a NaN attack, and a model without a fade-in, leave the latent as it is."""
    model = tiny_synth(envelope="both")
    stage = fade_stage(model, 0.5)
    assert stage is not None
    z = torch.randn(3, model.latent_dim, 1, dtype=torch.float64)
    attack = measurer("attack_time", RATE)

    def render(latents: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return model.decode(latents.double()).float().numpy()

    sources = render(stage.readout.at(z, torch.tensor([0.001, 0.004, 0.015]).log()))
    wanted = np.array([attack(sound) for sound in sources])
    far = stage.readout.at(z, torch.full((3,), 0.04).log())
    assert all(abs(attack(s) / w - 1) > 0.3 for s, w in zip(render(far), wanted, strict=True))
    kept = keep_measured(model, far, ATTACK_DESCRIPTOR, wanted, render, attack, 0.5)
    got = np.array([attack(sound) for sound in render(kept)])
    np.testing.assert_allclose(got, wanted, rtol=0.025)
    assert torch.allclose(stage.neutral(kept), stage.neutral(far))  # only the fade moved
    unknown = np.array([np.nan, wanted[1], np.nan])
    partly = keep_measured(model, far, ATTACK_DESCRIPTOR, unknown, render, attack, 0.5)
    assert partly[0].equal(far[0]) and partly[2].equal(far[2]) and not partly[1].equal(far[1])
    plain = tiny_synth()
    assert keep_measured(plain, far, ATTACK_DESCRIPTOR, wanted, render, attack, 0.5) is far
