"""Sampling new latent points within the distribution of the training data."""

from __future__ import annotations

import torch


def fit_gaussian(z: torch.Tensor, shrinkage: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean `[dim]` and Cholesky factor `[dim, dim]` of latents `[n, dim]` (float64).

    `shrinkage` adds a fraction of the mean variance to the diagonal so few points still give a
    valid factor.
    """
    z = z.to(torch.float64)
    mean = z.mean(dim=0)
    centred = z - mean
    covariance = centred.T @ centred / max(1, z.shape[0] - 1)
    ridge = shrinkage * covariance.diagonal().mean().clamp_min(1e-12)
    covariance = covariance + ridge * torch.eye(z.shape[1], dtype=z.dtype)
    return mean, torch.linalg.cholesky(covariance)


def sample_gaussian(
    mean: torch.Tensor, cholesky: torch.Tensor, n: int, *, seed: int = 0, temperature: float = 1.0
) -> torch.Tensor:
    """`n` latent points `[n, dim, 1]` (float32) drawn from N(mean, LLᵀ·temperature²), seeded."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, mean.shape[0], generator=generator, dtype=torch.float64)
    points = mean + temperature * noise @ cholesky.T
    return points.to(torch.float32)[:, :, None]
