"""What each code of a codebook model sounds like, and how codes follow one another.

Written by `timbrespace analyze` for a codebook family (`timbrespace.codebook_analysis`) into the
bundle as `codebook.safetensors` + `codebook.json`:
- `values` `[codes, descriptors]`: each code's descriptors **measured on its decoded audio** (the
  code held for `render_seconds`, rendered by the model's own decoder and Griffin-Lim, analysed by
  `timbrespace.audio.descriptors`; the median over the steady middle frames; f0 NaN when fewer
  than half of them are voiced), in the descriptors' units (Hz, dB, ...);
- `usage` `[codes]`: how often each code encodes a frame of the training cache;
- `transitions` `[codes, codes]`: bigram counts of consecutive frames (row: the code before);
- `map` `[codes, 2]`: the code vectors on their first two principal axes (the codebook map);
- `spectral_distance` `[codes, codes]`: the distance between two codes' decoded magnitude
  spectra (L2 of the unit-norm spectra: the spectral flux of a change from one to the other);
- `levels` `[codes]`: a gain-shape model's typical level of each code (the median mean natural-
  log magnitude of the training frames it encodes), at which it is rendered and measured; NaN
  for a model without levels. Loudness then moves with the level: +1 of level is
  `DB_PER_LEVEL` dB;
- `pitches` `[codes]`: a pitch-shape model's typical pitch of each code (the median pitch
  channel, octaves re A4, of the training frames it encodes), at which it is rendered and
  measured; NaN for a model without a pitch channel. Its f0 then follows the pitch channel.

Targets are compared on each descriptor's perceptual scale (`descriptor_scale`: semitones for
f0, log for frequencies) in units of `tolerance` (50 cents of f0, one semitone of frequency
ratio, 1.5 dB), so one unit of target error weighs as much whatever the descriptor.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from timbrespace.atomic import atomic_path, write_json_atomic
from timbrespace.audio.descriptors import (
    DescriptorSettings,
    compute_descriptors,
    descriptor_scale,
    get_descriptor,
    to_scale,
)
from timbrespace.errors import TimbrespaceError
from timbrespace.latent.code_selection import transition_costs
from timbrespace.limits import read_json

CODEBOOK_FORMAT_VERSION = 4
READABLE_FORMATS = (3, 4)
"""Format 3 has no `pitches` (read as NaN: a model without a pitch channel)."""
CODE_DESCRIPTORS: tuple[str, ...] = (
    "f0",
    "loudness",
    "centroid",
    "bandwidth",
    "rolloff",
    "flatness",
    "rms",
    "zcr",
)
"""Frame descriptors measured per code (the envelope ones, attack and release, have no meaning
for a held frame)."""
TOLERANCE: dict[str, float] = {
    "f0": 0.5,
    "loudness": 1.5,
    "centroid": math.log(2) / 12,
    "bandwidth": math.log(2) / 12,
    "rolloff": math.log(2) / 12,
    "rms": math.log(10) * 1.5 / 20,
}
"""One unit of target error on each descriptor's scale: 0.5 semitone of f0, 1.5 dB of loudness
and RMS, one semitone of frequency ratio for centroid, bandwidth and rolloff; the others use 5 %
of the codebook's spread."""
DB_PER_LEVEL = 20.0 / math.log(10.0)
"""dB of loudness per unit of level (natural log of magnitude)."""
AUDIBLE_DB = 30.0
"""Codes more than this many dB below the codebook's loudest (95th percentile) are left out of a
selection that does not ask for loudness: a near-silent frame has a centroid but no sound."""


class CodebookMissing(TimbrespaceError):
    """The bundle has no codebook analysis, or one of other weights (run `analyze`)."""


@dataclass(frozen=True, eq=False)
class CodebookAnalysis:
    """See the module doc; `values` in `units`, NaN where a code has no value (unvoiced f0)."""

    names: list[str]
    units: dict[str, str]
    values: np.ndarray
    usage: np.ndarray
    transitions: np.ndarray
    map: np.ndarray
    spectral_distance: np.ndarray
    levels: np.ndarray
    render_seconds: float
    weights_sha256: str = ""
    pitches: np.ndarray | None = None
    """`[codes]` octaves re A4, or None (= all NaN: no pitch channel)."""

    @property
    def size(self) -> int:
        return int(self.values.shape[0])

    @functools.cached_property
    def learned_costs(self) -> np.ndarray:
        """−log P(code | previous code) `[codes, codes]` from `transitions` (computed once)."""
        return transition_costs(self.transitions)

    @property
    def gain_shape(self) -> bool:
        """Whether each code's loudness is set by a level beside it (see the module doc)."""
        return bool(np.isfinite(self.levels).any())

    @property
    def pitch_shape(self) -> bool:
        """Whether each code's f0 is set by a pitch channel beside it (see the module doc)."""
        return self.pitches is not None and bool(np.isfinite(self.pitches).any())

    def column(self, name: str) -> np.ndarray:
        """Values of descriptor `name` `[codes]` in its unit; KeyError lists the known ones."""
        if name not in self.names:
            raise KeyError(f"unknown descriptor {name!r}; known: {', '.join(self.names)}")
        return self.values[:, self.names.index(name)]

    def used(self) -> np.ndarray:
        """Codes that encode at least one training frame `[codes]` (bool; all when none do)."""
        used = self.usage > 0
        return used if used.any() else np.ones_like(used)

    def selectable(self, loudness_target: bool = False) -> np.ndarray:
        """Codes a selection may choose `[codes]` (bool): used in training and, unless a
        loudness target of a model without levels asks for quiet ones, `audible`."""
        if loudness_target and not self.gain_shape:
            return self.used()
        return self.used() & self.audible()

    def value_range(self, name: str, codes: np.ndarray | None = None) -> tuple[float, float]:
        """(lowest, highest) value of `name` over `codes` (a mask `[codes]`; default: the used
        ones), in its unit (NaN, NaN if none has one)."""
        values = self.column(name)[self.used() if codes is None else codes]
        values = values[np.isfinite(values)]
        if not values.size:
            return math.nan, math.nan
        return float(values.min()), float(values.max())

    def scaled(self, name: str) -> np.ndarray:
        """Values of `name` `[codes]` on its comparison scale."""
        return to_scale(self.column(name), descriptor_scale(name))

    def tolerance(self, name: str) -> float:
        """One unit of target error for `name`, on its scale (see `TOLERANCE`)."""
        if name in TOLERANCE:
            return TOLERANCE[name]
        scaled = self.scaled(name)
        scaled = scaled[np.isfinite(scaled)]
        spread = float(scaled.max() - scaled.min()) if scaled.size else 0.0
        return max(0.05 * spread, 1e-6)

    def audible(self) -> np.ndarray:
        """Codes loud enough to be heard (see `AUDIBLE_DB`) `[codes]` bool."""
        if "loudness" not in self.names:
            return np.ones(self.size, bool)
        loudness = self.column("loudness")
        finite = loudness[np.isfinite(loudness) & self.used()]
        if not finite.size:
            return np.ones(self.size, bool)
        return np.nan_to_num(loudness, nan=-np.inf) >= np.percentile(finite, 95) - AUDIBLE_DB


def measure_settings(sample_rate: int, hop: int) -> DescriptorSettings:
    """The descriptor analysis of codes and of rendered curves: 2048-sample frames at 22.05 kHz
    (scaled with the rate), one frame per model hop."""
    frame = 1 << max(9, round(np.log2(2048 * sample_rate / 22050)))
    return DescriptorSettings(sample_rate=sample_rate, frame_length=frame, hop_length=hop)


def steady_values(
    audio: np.ndarray, settings: DescriptorSettings, names: Sequence[str] = CODE_DESCRIPTORS
) -> np.ndarray:
    """Descriptors `[len(names)]` of one held code's render `audio` `[samples]`: the median of
    each curve over the middle half of its frames (f0: over the voiced ones, NaN when fewer
    than half are voiced)."""
    curves = compute_descriptors(audio, settings, list(names)).curves.astype(np.float64)
    frames = curves.shape[1]
    middle = curves[:, frames // 4 : max(frames // 4 + 1, frames - frames // 4)]
    values = np.full(len(names), np.nan)
    for i, name in enumerate(names):
        row = middle[i]
        finite = row[np.isfinite(row)]
        if name == "f0" and finite.size < row.size / 2:
            continue
        if finite.size:
            values[i] = float(np.median(finite))
    return values


def transition_counts(sequences: Sequence[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
    """Bigram counts `[size, size]` (float64; row: the earlier code) of code sequences, each
    `[frames]` int."""
    counts = np.zeros((size, size))
    for sequence in sequences:
        codes = np.asarray(sequence, dtype=np.int64).reshape(-1)
        if codes.size > 1:
            np.add.at(counts, (codes[:-1], codes[1:]), 1.0)
    return counts


def pca_map(vectors: np.ndarray) -> np.ndarray:
    """Rows `[n, dim]` on their first two principal axes `[n, 2]` (zeros past the rank)."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ axes[:2].T
    if projected.shape[1] < 2:
        projected = np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))
    return projected


def spectral_distances(magnitudes: np.ndarray) -> np.ndarray:
    """Pairwise L2 distance `[n, n]` of magnitude spectra `[n, bins]` scaled to unit norm."""
    unit = magnitudes / np.maximum(np.linalg.norm(magnitudes, axis=1, keepdims=True), 1e-12)
    gram = np.clip(unit @ unit.T, -1.0, 1.0)
    return np.sqrt(np.maximum(2.0 - 2.0 * gram, 0.0))


def save_codebook(folder: str | os.PathLike[str], analysis: CodebookAnalysis) -> None:
    """Write `codebook.safetensors` and `codebook.json` into `folder`, atomically."""
    folder = Path(folder)
    tensors = {
        "values": torch.from_numpy(np.ascontiguousarray(analysis.values, dtype=np.float64)),
        "usage": torch.from_numpy(np.ascontiguousarray(analysis.usage, dtype=np.float64)),
        "transitions": torch.from_numpy(
            np.ascontiguousarray(analysis.transitions, dtype=np.float64)
        ),
        "map": torch.from_numpy(np.ascontiguousarray(analysis.map, dtype=np.float64)),
        "spectral_distance": torch.from_numpy(
            np.ascontiguousarray(analysis.spectral_distance, dtype=np.float32)
        ),
        "levels": torch.from_numpy(np.ascontiguousarray(analysis.levels, dtype=np.float64)),
        "pitches": torch.from_numpy(
            np.ascontiguousarray(
                np.full(analysis.size, np.nan) if analysis.pitches is None else analysis.pitches,
                dtype=np.float64,
            )
        ),
    }
    with atomic_path(folder / "codebook.safetensors") as tmp:
        save_file(tensors, str(tmp))
    write_json_atomic(
        folder / "codebook.json",
        {
            "format_version": CODEBOOK_FORMAT_VERSION,
            "model": {"weights_sha256": analysis.weights_sha256},
            "descriptors": [{"name": n, "unit": analysis.units[n]} for n in analysis.names],
            "codes": analysis.size,
            "render_seconds": analysis.render_seconds,
        },
    )


def load_codebook(folder: str | os.PathLike[str], weights_sha256: str) -> CodebookAnalysis:
    """The codebook analysis of the bundle in `folder`, made with the weights of digest
    `weights_sha256`; `CodebookMissing` (saying to run analyze) when absent or stale."""
    folder = Path(folder)
    meta_path, tensor_path = folder / "codebook.json", folder / "codebook.safetensors"
    if not meta_path.is_file() or not tensor_path.is_file():
        raise CodebookMissing(
            f"{folder}: no codebook analysis; run `timbrespace analyze {folder}` first"
        )
    meta = read_json(meta_path)
    if meta.get("format_version") not in READABLE_FORMATS:
        raise CodebookMissing(
            f"{meta_path}: codebook format {meta.get('format_version')!r}, this version reads "
            f"{CODEBOOK_FORMAT_VERSION}; run `timbrespace analyze {folder}` again"
        )
    if meta.get("model", {}).get("weights_sha256") != weights_sha256:
        raise CodebookMissing(
            f"{meta_path}: made for other weights; run `timbrespace analyze {folder}` again"
        )
    tensors = load_file(str(tensor_path))
    names = [str(entry["name"]) for entry in meta["descriptors"]]
    values = tensors["values"].numpy()
    size = int(meta["codes"])
    shapes = {
        "values": (size, len(names)),
        "usage": (size,),
        "transitions": (size, size),
        "map": (size, 2),
        "spectral_distance": (size, size),
        "levels": (size,),
    }
    if meta["format_version"] >= 4:
        shapes["pitches"] = (size,)
    for key, shape in shapes.items():
        if key not in tensors or tuple(tensors[key].shape) != shape:
            raise CodebookMissing(
                f"{tensor_path}: {key} is missing or of another shape; run `timbrespace analyze "
                f"{folder}` again"
            )
    return CodebookAnalysis(
        names=names,
        units={str(e["name"]): str(e["unit"]) for e in meta["descriptors"]},
        values=values,
        usage=tensors["usage"].numpy(),
        transitions=tensors["transitions"].numpy(),
        map=tensors["map"].numpy(),
        spectral_distance=tensors["spectral_distance"].numpy().astype(np.float64),
        levels=tensors["levels"].numpy(),
        render_seconds=float(meta["render_seconds"]),
        weights_sha256=weights_sha256,
        pitches=tensors["pitches"].numpy() if "pitches" in tensors else None,
    )


def descriptor_unit(name: str) -> str:
    """The unit of a registered descriptor (Hz, dB, ...)."""
    return get_descriptor(name).unit
