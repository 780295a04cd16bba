"""The latent terms of the WAE-Fader note model: a maximum mean discrepancy (MMD) between the
encoded batch and samples of the prior (Tolstikhin et al. 2018, inverse multiquadratic kernel),
and the fader's two terms (Lample et al. 2017): a classifier learns to tell the style from the
latent, and the encoder is pushed to make its answer uniform.

Latents are `[batch, latent_dim]`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
"""Kernel scales summed in `mmd_imq` (the WAE paper's choice for a unit-variance prior)."""


def imq_kernel(x: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """`C / (C + |x_i − y_j|²)` `[n, m]` with `C = 2 · latent_dim · scale`."""
    c = 2.0 * x.shape[1] * scale
    return c / (c + torch.cdist(x, y).square())


def mmd_imq(
    z: torch.Tensor, prior: torch.Tensor, scales: tuple[float, ...] = IMQ_SCALES
) -> torch.Tensor:
    """Unbiased MMD² between the batch `z` `[n, dim]` and prior samples `[n, dim]` (n ≥ 2),
    summed over kernel `scales`: 0 in expectation when they share a distribution."""
    n = z.shape[0]
    off_diagonal = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    total = z.new_zeros(())
    for scale in scales:
        within_z = (imq_kernel(z, z, scale) * off_diagonal).sum() / (n * (n - 1))
        within_prior = (imq_kernel(prior, prior, scale) * off_diagonal).sum() / (n * (n - 1))
        across = imq_kernel(z, prior, scale).mean()
        total = total + within_z + within_prior - 2.0 * across
    return total


def fader_terms(
    classifier: nn.Module, z: torch.Tensor, style: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The fader's terms for latents `z` `[batch, dim]` of notes of `style` `[batch]` (int):
    (the classifier's cross-entropy, trained on detached latents; the encoder's term, the
    cross-entropy of the classifier's answer against the uniform distribution, which reaches
    only the encoder; the classifier's accuracy). Their sum trains both with one optimizer."""
    logits = classifier(z.detach())
    classifier_loss = nn.functional.cross_entropy(logits, style)
    frozen = {name: value.detach() for name, value in classifier.named_parameters()}
    judged = functional_call(classifier, frozen, (z,))
    encoder_loss = -torch.log_softmax(judged, dim=1).mean()
    accuracy = (logits.argmax(dim=1) == style).float().mean()
    return classifier_loss, encoder_loss, accuracy.detach()


def fader_ramp(step: int, weight: float, ramp_steps: int) -> float:
    """The encoder term's weight at training `step`: 0 → `weight` linearly over `ramp_steps`
    (at once when 0), as the fader networks ramp theirs so the autoencoder learns first."""
    if ramp_steps <= 0:
        return weight
    return weight * min(1.0, max(0, step) / ramp_steps)
