"""Training settings: a typed dataclass with `tiny` / `small` / `full` overlays.

Built from dicts (presets, CLI overrides, a run's saved `run.json`) only through
`config_from_dict`, so a misspelt key raises `ConfigError` naming the closest valid key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from timbrespace.config import ConfigError, config_from_dict


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains. Steps count optimizer updates; times in minutes."""

    batch_size: int = 16
    learning_rate: float = 1e-3
    lr_min_factor: float = 0.1
    """The learning rate decays (cosine) to this fraction of itself over `max_steps`, or over
    `max_minutes` when that budget ends first (`train.task.time_progress`)."""
    max_steps: int = 20000
    max_minutes: float | None = None
    val_fraction: float = 0.1
    seed: int = 0
    head_descriptors: tuple[str, ...] = (
        "f0",
        "attack_time",
        "release_time",
        "centroid",
        "loudness",
    )
    descriptor_weight: float = 0.1
    f0_weight: float = 1.0
    """Weight of the pitch loss of decoders with an explicit f0 (ddsp): absolute error in
    octaves against the cache's f0 curve on voiced frames (`train.task.f0_loss`)."""
    attack_k: float = 5.0
    attack_tau: float = 0.1
    """Attack emphasis of the loss: weight 1 + K·exp(−t/τ), τ in s."""
    wave_l1_weight: float = 0.0
    envelope_weight: float = 0.0
    adversarial_after: int = 0
    """Steps of reconstruction before the adversarial phase of a waveform family (RAVE's second
    phase: discriminators, hinge loss, feature matching); 0 = never. One device only."""
    adversarial_weight: float = 1.0
    feature_matching_weight: float = 20.0
    discriminators: str = "both"
    """"scale" (MelGAN's multi-scale), "period" (HiFi-GAN's multi-period) or "both"."""
    discriminator_lr: float = 1e-4
    gradient_clip: float = 1.0
    val_every: int = 500
    checkpoint_every: int = 200
    preview_every: int = 500
    preview_count: int = 4
    num_workers: int = 0
    threads: int = 0
    """Intra-op torch threads per training process; 0 = chosen from the cores and the machine's
    load, again every 50 steps (`timbrespace.train.callbacks.training_threads`). Float sums
    depend on the thread count, so a run is bit-reproducible from its seed only with a fixed
    count (the `tiny` preset, used by tests, fixes 1)."""
    precision: str = "auto"
    """"32", "bf16" (the one-shot model's conv stacks in bfloat16 while training; see
    `timbrespace.train.precision`) or "auto" (bf16 on CPUs with AMX, else 32)."""

    def __post_init__(self) -> None:
        if self.discriminators not in ("scale", "period", "both"):
            raise ConfigError(
                f"discriminators: unknown {self.discriminators!r}; expected scale, period or both"
            )
        if self.adversarial_after < 0:
            raise ConfigError(f"adversarial_after must be >= 0, got {self.adversarial_after}")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """From a plain dict (e.g. a run's saved settings): missing keys keep their defaults,
        lists become tuples; an unknown key raises `ConfigError` naming the closest valid key."""
        return config_from_dict(cls, data)


TRAIN_PRESETS: dict[str, dict] = {
    "tiny": {
        "batch_size": 8,
        "max_steps": 300,
        "val_every": 100,
        "checkpoint_every": 50,
        "preview_every": 100,
        "preview_count": 2,
        "learning_rate": 2e-3,
        "threads": 1,
    },
    "small": {
        "batch_size": 16,
        "max_steps": 100000,
        "max_minutes": 15.0,
        "val_every": 250,
        "checkpoint_every": 100,
        "preview_every": 500,
    },
    "full": {
        "batch_size": 32,
        "max_steps": 300000,
        "val_every": 2000,
        "checkpoint_every": 1000,
        "preview_every": 2000,
        "num_workers": 4,
    },
}


def train_config(preset: str, **overrides: object) -> TrainConfig:
    """The preset's TrainConfig with `overrides` (None values of known keys are ignored).

    Raises `ConfigError` for an unknown preset or key (naming the closest valid key).
    """
    if preset not in TRAIN_PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; known: {', '.join(TRAIN_PRESETS)}")
    known = TrainConfig.__dataclass_fields__
    settings = {
        **TRAIN_PRESETS[preset],
        **{key: value for key, value in overrides.items() if value is not None or key not in known},
    }
    return TrainConfig.from_dict(settings)
