"""The closed loop's re-aiming: controls that follow the decoder's gradient of their descriptor.

A control's direction is fitted over a whole collection, and can darken the very sounds it
brightens on average (measured on hydrogen's kicks). Where the decoder is differentiable
(`differentiable_render`) and the control's descriptor has a differentiable twin
(`audio.descriptor_torch`), `localized` replaces the direction by the gradient of the measured
descriptor at the sound the move starts from, and `aimed_item` runs the loop in short segments,
re-aimed at the best render so far. Latents `[batch, dim, frames]`; values on each control's
scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from timbrespace.audio.descriptor_torch import DIFFERENTIABLE, scaled
from timbrespace.audio.descriptors import DescriptorSettings
from timbrespace.inference import check_render
from timbrespace.latent.closed_loop import LoopResult, judge
from timbrespace.latent.control import Control
from timbrespace.models.base import ConfiguredModel

LOCAL_NORM_FLOOR = 0.25
"""A control re-aimed along its descriptor's gradient (`localized`) keeps a direction at least
this fraction as long as its fitted one: where the sound hardly changes, the first step is at
most 4 times the fitted direction's, not a leap across the space."""

Slope = Callable[[torch.Tensor, Sequence[Control]], list[tuple[torch.Tensor, torch.Tensor] | None]]
"""A latent `[1, dim, frames]` and controls → per control, its descriptor's value on the
control's scale `[1]` and gradient `[1, dim]` through the decoder, or None where there is none."""

AIM_RENDERS = 2
"""Renders between re-aims of the controls at the best sound so far (`aimed_item`)."""
AIMED_RENDERS = 6
"""The budget of a loop that re-aims, aims counted as renders: two segments of an aim and two
renders (on hydrogen's kicks, 4 gave a brightness ρ of 0.85 and 6 gave 0.89)."""
AIM_STEP_FRACTION = 0.1
"""The first move after an aim changes a control by at most this fraction of its range."""


def descriptor_slopes(
    model: ConfiguredModel,
    z: torch.Tensor,
    wanted: Sequence[tuple[str, str]],
    settings: DescriptorSettings,
) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
    """Descriptors of the rendered sound and their gradients, from one decode: per `(descriptor,
    scale)` in `wanted`, `(value [batch], gradient [batch, dim])` float64 on that scale, the
    gradient with respect to moving every frame of latents `z` `[batch, dim, frames]` by the
    same vector; None for a descriptor without a differentiable twin (`audio.descriptor_torch`),
    and for all when the model's render is not differentiable (`differentiable_render`). Each
    value is the clip value `compute_descriptors` measures on the render."""
    twins = [DIFFERENTIABLE.get(descriptor) for descriptor, _ in wanted]
    if not model.differentiable_render or all(twin is None for twin in twins):
        return [None] * len(wanted)
    check_render(model, z)
    parameter = next(model.parameters())
    shift = torch.zeros(z.shape[:2], dtype=parameter.dtype, device=parameter.device)
    shift.requires_grad_(True)
    found: list[tuple[torch.Tensor, torch.Tensor] | None] = []
    with torch.enable_grad():
        audio = model.decode(z.to(parameter) + shift[..., None]).clamp(-1.0, 1.0)  # as `decode`
        for twin, (_, scale) in zip(twins, wanted, strict=True):
            if twin is None:
                found.append(None)
                continue
            value = scaled(twin(audio, settings), scale)
            (gradient,) = torch.autograd.grad(value.sum(), shift, retain_graph=True)
            found.append((value.detach().double().cpu(), gradient.double().cpu()))
    return found


def slopes_of(
    model: ConfiguredModel, settings: DescriptorSettings, descriptor_of: Callable[[str], str | None]
) -> Slope:
    """The `Slope` of a model: each control's descriptor (`descriptor_of`) and its gradient
    through the decoder (`descriptor_slopes`, one decode for all)."""

    def slope(
        z: torch.Tensor, controls: Sequence[Control]
    ) -> list[tuple[torch.Tensor, torch.Tensor] | None]:
        descriptors = [descriptor_of(control.name) for control in controls]
        wanted = [(d, c.scale) for d, c in zip(descriptors, controls, strict=True) if d]
        found = iter(descriptor_slopes(model, z, wanted, settings))
        return [next(found) if d else None for d in descriptors]

    return slope


def localized(slope: Slope | None, z: torch.Tensor, controls: Sequence[Control]) -> list[Control]:
    """`controls` re-aimed at the sound they start from, where the decoder gives a gradient
    (`slope`): the direction becomes the gradient of the control's descriptor at `z`
    `[batch, dim, frames]` (its length floored at `LOCAL_NORM_FLOOR` of the fitted one's) and
    the value at `z` the measured one. A direction fitted over a whole collection can darken
    the very sounds it brightens on average (hydrogen's kicks); the local one cannot. Controls
    without a gradient, and batches that do not start from one latent, keep their direction."""
    if slope is None or not bool((z == z[:1]).all()):
        return list(controls)
    aimed = []
    for control, found in zip(controls, slope(z[:1], controls), strict=True):
        if found is None or not bool(torch.isfinite(found[1]).all()):
            aimed.append(control)
            continue
        value, gradient = float(found[0][0]), found[1][0].double()
        floor = LOCAL_NORM_FLOOR * float(control.direction.norm())
        length = float(gradient.norm())
        if length == 0.0:
            aimed.append(control)
            continue
        direction = gradient * max(1.0, floor / length)
        offset = value - float(direction @ z[0].double().mean(dim=-1))
        aimed.append(replace(control, direction=direction, offset=offset))
    return aimed


def aimed_item(
    run: Callable[..., LoopResult],
    z: torch.Tensor,
    b: int,
    everything: Sequence[Control],
    aim: Callable[[torch.Tensor, Sequence[Control]], list[Control]],
    start: torch.Tensor | None,
    requests: torch.Tensor,
    tolerances: torch.Tensor,
    weights: torch.Tensor,
    max_renders: int,
) -> LoopResult:
    """The loop for batch item `b` (latent `z` `[1, dim, frames]`) in segments of `AIM_RENDERS`
    renders, the controls re-aimed (`aim`: a gradient through the decoder) before each at the
    best render so far. Each segment starts by correcting the measured errors (a re-aimed
    control by at most `AIM_STEP_FRACTION` of its range): a descriptor's gradient holds over a
    few percent of change (a kick's centroid moved the wrong way on a 40 % step along its
    gradient), so a long move follows it in steps. The result's renders count each aim as one."""
    item = slice(b, b + 1)
    anchor, known = z, None if start is None else start[item].double()
    best: LoopResult | None = None
    best_score, spent = math.inf, 0
    while spent < max_renders:
        controls = aim(anchor, everything)
        now = torch.stack([c.value(anchor) for c in controls], dim=1).mean(dim=2)
        trust = torch.tensor(
            [
                AIM_STEP_FRACTION * (c.range[1] - c.range[0])
                if a is not c and c.range
                else math.inf
                for a, c in zip(controls, everything, strict=True)
            ]
        ).clamp_min(1e-6)
        wanted = torch.where(torch.isfinite(requests[item]), requests[item], now)
        reference = now if known is None else torch.where(torch.isfinite(known), known, now)
        first = now + torch.maximum(torch.minimum(wanted - reference, trust), -trust)
        result = run(anchor, controls, item, min(AIM_RENDERS, max_renders - spent), known, first)
        spent += result.renders + 1
        reached, score = judge(requests[item], result.measured, tolerances[item], weights)
        if best is not None and float(score[0]) >= best_score:
            break
        best, best_score = result, float(score[0])
        if bool(reached.all()):
            break
        anchor, known = result.z.double(), result.measured
    assert best is not None
    best.renders = spent
    return best
