"""The studio's read-only views as JSON-ready dicts: what `/api/info` and `/api/map` answer
(see `API.md`). NaN and infinities become null."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from timbrespace.limits import limits
from timbrespace.studio.codebook import is_codebook_model
from timbrespace.studio.errors import StudioError
from timbrespace.studio.instrument import instrument_info
from timbrespace.studio.notes import notes_info

if TYPE_CHECKING:
    from timbrespace.space import Analysis, LatentSpace


def finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def finite_values(values: Mapping[str, float]) -> dict[str, float | None]:
    """Control values for JSON: NaN and infinities → null."""
    return {name: finite_or_none(float(value)) for name, value in values.items()}


def space_info(space: LatentSpace, *, originals: bool) -> dict[str, Any]:
    """What the page needs to build itself: the model (and, for an instrument or a note model,
    what it plays), the sounds, the controls with their ranges and limits in user units, the
    request limits (`/api/info`)."""
    analysis = space.analysis
    controls = []
    for name, control in space.controls.items():
        low = high = None
        if control.range is not None:
            ends = sorted(control.to_user(v) for v in control.range)
            low, high = finite_or_none(ends[0]), finite_or_none(ends[1])
        controls.append(
            {
                "name": name,
                "kind": space.control_kind(name),
                "unit": control.unit,
                "low": low,
                "high": high,
                "limits": None
                if control.limits is None
                else [finite_or_none(v) for v in control.limits],
                "descriptor": space.descriptor_of(name),
                "weak": control.weak,
            }
        )
    bundle = space.bundle
    return {
        "family": bundle.family,
        "bundle": bundle.path.name,
        "sample_rate": bundle.sample_rate,
        "channels": int(bundle.meta.get("channels", getattr(bundle.model, "channels", 1))),
        "latent_dim": int(space.model.latent_dim),
        "path_model": space.path_latent,
        "input_kind": space.model.input_kind,
        "instrument": instrument_info(space),
        "notes": notes_info(space),
        "codebook": is_codebook_model(space),
        "sounds": len(analysis.sounds),
        "packs": list(analysis.packs),
        "gla_iters": space.default_gla_iters,
        "limits": limits(),
        "originals": originals,
        "descriptors": [
            {"name": name, "unit": analysis.descriptor_units.get(name, "")}
            for name in analysis.descriptor_names
        ],
        "controls": controls,
    }


def map_columns(analysis: Analysis, points: torch.Tensor) -> list[torch.Tensor]:
    """Points `[n, dim]` → their x and y on the map: the first two PCA scores (0 for an axis
    the analysis lacks)."""
    scores = analysis.pca.transform(points)
    return [scores[:, i] if i < scores.shape[1] else torch.zeros(len(scores)) for i in (0, 1)]


def map_position(analysis: Analysis, z: torch.Tensor) -> tuple[float, float]:
    """Where a latent `[1, dim, frames]` lies on the map of `latent_map` (a path averaged over
    its frames, as the analysis averages a sound's)."""
    x, y = map_columns(analysis, torch.as_tensor(z).double()[0].mean(dim=-1)[None])
    return float(x[0]), float(y[0])


def latent_map(analysis: Analysis, color: str = "pack") -> dict[str, Any]:
    """The sounds on the first two PCA axes, coloured by pack or by a descriptor (`/api/map`);
    an unknown `color` is a StudioError naming the known ones."""
    columns = map_columns(analysis, analysis.latents)
    ratios = [float(r) for r in analysis.pca.explained_variance_ratio[:2]]
    result: dict[str, Any] = {
        "x": [float(v) for v in columns[0]],
        "y": [float(v) for v in columns[1]],
        "sounds": list(analysis.sounds),
        "explained": ratios,
    }
    if color == "pack":
        index = {pack: i for i, pack in enumerate(analysis.packs)}
        return {
            **result,
            "color": [index.get(pack, -1) for pack in analysis.sound_packs],
            "color_kind": "category",
            "categories": list(analysis.packs),
            "unit": "",
        }
    if color not in analysis.descriptor_names:
        known = ", ".join(["pack", *analysis.descriptor_names])
        raise StudioError(f"color: unknown {color!r}; known: {known}")
    values = analysis.descriptor(color)
    return {
        **result,
        "color": [finite_or_none(float(v)) for v in values],
        "color_kind": "value",
        "categories": [],
        "unit": analysis.descriptor_units.get(color, ""),
    }
