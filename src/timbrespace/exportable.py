"""What an export carries, read from a bundle through `LatentSpace`: the model's block
functions, the named controls a host can turn (held by `ControlHold`), and the facts written
beside every exported file. The exporters (`timbrespace.export`) add only the host's wrapping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from timbrespace.bundle import weights_digest
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.control import Control
from timbrespace.latent.control_hold import ControlHold
from timbrespace.models.base import ExportBlocks
from timbrespace.space import LatentSpace

MAX_CONTROLS = 8
"""Named controls one export carries (nn~ attributes; Neutone shows the first four as knobs)."""
MAIN_CONTROLS = ("pitch", "brightness", "loudness", "attack", "release", "noisiness")
"""Offered by default, in this order, when the analysis has them and they are not weak."""


@dataclass(frozen=True)
class ExportControl:
    """A named control as a host sees it: `attribute` (an identifier), its unit and the span
    (in that unit) a target is clamped to; a target of 0 releases it."""

    name: str
    attribute: str
    unit: str
    low: float
    high: float

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "attribute": self.attribute,
            "unit": self.unit,
            "range": [self.low, self.high],
            "released_by": 0,
        }


@dataclass
class Exportable:
    """A streaming model ready to wrap: `blocks` (see `ConfiguredModel.export_blocks`), the
    controls and their `hold` module (None without controls), and the bundle's facts."""

    family: str
    label: str
    fixed_block: int
    sample_rate: int
    channels: int
    hop: int
    latent_dim: int
    delay_samples: int
    blocks: ExportBlocks
    controls: list[ExportControl]
    hold: nn.Module | None
    weights_sha256: str
    config: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The model's part of an export's description (JSON-ready)."""
        return {
            "family": self.family,
            "sample_rate": self.sample_rate,
            "fixed_block": self.fixed_block,
            "channels": self.channels,
            "hop": self.hop,
            "latent_dim": self.latent_dim,
            "delay_samples": self.delay_samples,
            "delay_ms": round(1000.0 * self.delay_samples / self.sample_rate, 3),
            "controls": [control.describe() for control in self.controls],
            "weights_sha256": self.weights_sha256,
            "config": self.config,
        }


def attribute_name(name: str) -> str:
    """A control name as a host identifier: `pack:kick drums` → `pack_kick_drums`."""
    cleaned = re.sub(r"\W+", "_", name).strip("_").lower() or "control"
    return f"c_{cleaned}" if cleaned[0].isdigit() else cleaned


def user_span(control: Control) -> tuple[float, float]:
    """The span a target is clamped to, in the control's unit: its range within its limits."""
    low, high = control.range if control.range is not None else control.scaled_limits()
    low, high = max(low, control.scaled_limits()[0]), min(high, control.scaled_limits()[1])
    return control.to_user(low), control.to_user(high)


def main_controls(space: LatentSpace) -> list[str]:
    """The controls an export offers by default: `MAIN_CONTROLS` that the analysis has and does
    not mark weak (none without an analysis)."""
    try:
        controls = space.controls
    except TimbrespaceError:
        return []
    return [name for name in MAIN_CONTROLS if name in controls and controls[name].weak is None]


def export_controls(space: LatentSpace, names: Sequence[str]) -> list[Control]:
    """The named controls, refused when unknown, repeated, without a unit-free identifier, or
    more than `MAX_CONTROLS`."""
    if len(names) > MAX_CONTROLS:
        raise TimbrespaceError(f"--controls: at most {MAX_CONTROLS} controls, got {len(names)}")
    chosen = [space.control(name) for name in names]
    attributes = [attribute_name(control.name) for control in chosen]
    if len(set(attributes)) != len(attributes):
        raise TimbrespaceError(f"--controls: a control is named twice: {', '.join(names)}")
    return chosen


def exportable(
    space: LatentSpace, controls: Sequence[str] | None = None, *, block: int = 0
) -> Exportable:
    """The bundle's model as an `Exportable`; `controls`: named controls to carry (None: the
    main ones of the analysis); `block`: samples per block of a fixed-block family (0: its
    default). Refuses a family that does not stream, naming it."""
    model = space.model
    blocks = model.export_blocks(block)
    chosen = export_controls(space, main_controls(space) if controls is None else controls)
    bundle_path = space.bundle.path
    return Exportable(
        family=space.bundle.family,
        label=model.label,
        fixed_block=int(blocks.fixed_block),
        sample_rate=int(blocks.sample_rate),
        channels=int(blocks.channels),
        hop=int(blocks.hop),
        latent_dim=int(blocks.latent_dim),
        delay_samples=int(blocks.delay_samples),
        blocks=blocks,
        controls=[
            ExportControl(c.name, attribute_name(c.name), c.unit, *user_span(c)) for c in chosen
        ],
        hold=ControlHold(chosen) if chosen else None,
        weights_sha256=weights_digest(bundle_path),
        config=dict(space.bundle.meta.get("config", {})),
    )


@dataclass
class ExportableDecoder:
    """A model's stateless decoder ready to export (`ConfiguredModel.export_decoder`): a spectral
    model's latent path → linear STFT magnitudes, Griffin-Lim left to the host."""

    family: str
    sample_rate: int
    channels: int
    latent_dim: int
    module: nn.Module
    weights_sha256: str
    griffin_lim: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "latent_dim": self.latent_dim,
            "output": "linear STFT magnitudes [batch, channels, n_fft / 2 + 1, frames]",
            "griffin_lim": self.griffin_lim,
            "controls": [],
            "weights_sha256": self.weights_sha256,
            "config": self.config,
        }


def exportable_decoder(space: LatentSpace) -> ExportableDecoder:
    """The bundle's decoder as an `ExportableDecoder`; a family without one refuses, saying
    why (`CapabilityError`)."""
    model = space.model
    module = model.export_decoder()
    config = dict(space.bundle.meta.get("config", {}))
    return ExportableDecoder(
        family=space.bundle.family,
        sample_rate=int(space.sample_rate),
        channels=int(model.channels),
        latent_dim=int(model.latent_dim),
        module=module,
        weights_sha256=weights_digest(space.bundle.path),
        griffin_lim={
            "n_fft": config.get("n_fft"),
            "hop": config.get("hop"),
            "window": "hann",
            "iterations": model.default_gla_iters,
        },
        config=config,
    )
