"""The codebook part of `timbrespace analyze`: every code rendered and measured, the code
sequences of the training cache counted (see `timbrespace.latent.codebook` for the files)."""

from __future__ import annotations

import numpy as np
import torch

from timbrespace.bundle import Bundle, weights_digest
from timbrespace.inference import decode, decode_spectra, encode_batches
from timbrespace.latent.codebook import (
    CODE_DESCRIPTORS,
    CodebookAnalysis,
    descriptor_unit,
    measure_settings,
    pca_map,
    save_codebook,
    spectral_distances,
    steady_values,
    transition_counts,
)
from timbrespace.models.base import ConfiguredModel
from timbrespace.models.quantizer import CodebookModel, as_codebook_model, perplexity

RENDER_SECONDS = 0.5
"""How long each code is held when it is rendered to be measured (s)."""


def code_typical(values: torch.Tensor | None, codes: torch.Tensor, size: int) -> np.ndarray:
    """Each code's typical value `[size]` of a per-frame channel `values` `[batch, frames]`
    (a level, a pitch): the median over the training frames the code encodes (`codes`, same
    shape), the median of all frames for an unused code; all NaN when `values` is None."""
    if values is None:
        return np.full(size, np.nan)
    flat_values, flat_codes = values.reshape(-1).numpy(), codes.reshape(-1).numpy()
    typical = np.full(size, float(np.median(flat_values)) if flat_values.size else 0.0)
    order = np.argsort(flat_codes, kind="stable")
    bounds = np.searchsorted(flat_codes[order], np.arange(size + 1))
    for code in range(size):
        members = order[bounds[code] : bounds[code + 1]]
        if members.size:
            typical[code] = float(np.median(flat_values[members]))
    return typical


def held_codes(
    model: CodebookModel, levels: np.ndarray, pitches: np.ndarray, frames: int
) -> torch.Tensor:
    """Every code held for `frames` frames at its level and pitch (each `[codes]`, all NaN for
    a model without that channel): latents `[codes, latent_dim, frames]`."""
    size = int(model.codebook_size)
    codes = torch.arange(size)[:, None].expand(size, frames)

    def held(values: np.ndarray) -> torch.Tensor | None:
        if np.isnan(values).all():
            return None
        return torch.from_numpy(values).float()[:, None].expand(size, frames)

    return model.code_path(codes, held(levels), held(pitches))


def code_values(
    bundle: Bundle, levels: np.ndarray, pitches: np.ndarray, *, seconds: float = RENDER_SECONDS
) -> np.ndarray:
    """Descriptors `[codes, len(CODE_DESCRIPTORS)]` of every code held `seconds` at its level
    and pitch and decoded (in the descriptors' units; NaN where a code has none)."""
    model = as_codebook_model(bundle.model, "the codebook analysis")
    frames = model.latent_frames(int(seconds * model.sample_rate))
    held = held_codes(model, levels, pitches, frames)
    settings = measure_settings(int(model.sample_rate), int(model.hop_length))
    rows = []
    for start in range(0, held.shape[0], 64):
        audio = decode(bundle.model, held[start : start + 64]).mean(dim=1).numpy()
        rows += [steady_values(clip, settings) for clip in audio]
    return np.stack(rows)


def analyze_codebook(bundle: Bundle, paths: torch.Tensor) -> CodebookAnalysis:
    """Measure every code of `bundle`'s codebook and count the codes of the training latent
    paths `paths` `[sounds, latent_dim, frames]`; written into the bundle and returned."""
    model = as_codebook_model(bundle.model, "the codebook analysis")
    size = int(model.codebook_size)
    with torch.inference_mode():
        codes = model.codes(paths)
    levels = code_typical(model.levels(paths), codes, size)
    pitches = code_typical(model.pitches(paths), codes, size)
    spectra = decode_spectra(bundle.model, held_codes(model, levels, pitches, 1))
    analysis = CodebookAnalysis(
        names=list(CODE_DESCRIPTORS),
        units={name: descriptor_unit(name) for name in CODE_DESCRIPTORS},
        values=code_values(bundle, levels, pitches),
        usage=np.bincount(codes.reshape(-1).numpy(), minlength=size).astype(np.float64),
        transitions=transition_counts(codes.numpy(), size),
        map=pca_map(model.code_vectors().double().numpy()),
        spectral_distance=spectral_distances(spectra.reshape(size, -1).double().numpy()),
        levels=levels,
        render_seconds=RENDER_SECONDS,
        weights_sha256=weights_digest(bundle.path),
        pitches=pitches,
    )
    save_codebook(bundle.path, analysis)
    return analysis


def codebook_usage(model: ConfiguredModel, audio: np.ndarray, rows: np.ndarray) -> dict | None:
    """How the clips `audio[rows]` `[clips, channels, samples]` use a codebook model's codes:
    `codes_used` (by at least one frame), `usage` (their fraction), `perplexity` (exp of the
    code entropy: the number of equally used codes it equals) and `frames`; None for a model
    without a codebook."""
    if not model.codebook:
        return None
    codebook_model = as_codebook_model(model, "codebook usage")
    z = encode_batches(model, audio, indices=rows)
    with torch.inference_mode():
        codes = codebook_model.codes(z).reshape(-1)
    counts = torch.bincount(codes, minlength=codebook_model.codebook_size)
    return {
        "codes": int(counts.numel()),
        "codes_used": int((counts > 0).sum()),
        "usage": float((counts > 0).double().mean()),
        "perplexity": float(perplexity(counts.double())),
        "frames": int(codes.numel()),
    }
