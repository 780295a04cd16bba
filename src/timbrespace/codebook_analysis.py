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
from timbrespace.models.quantizer import as_codebook_model, perplexity

RENDER_SECONDS = 0.5
"""How long each code is held when it is rendered to be measured (s)."""


def code_values(bundle: Bundle, *, seconds: float = RENDER_SECONDS) -> np.ndarray:
    """Descriptors `[codes, len(CODE_DESCRIPTORS)]` of every code held `seconds` and decoded
    (in the descriptors' units; NaN where a code has none)."""
    model = as_codebook_model(bundle.model, "the codebook analysis")
    vectors = model.code_vectors()
    frames = model.latent_frames(int(seconds * model.sample_rate))
    settings = measure_settings(int(model.sample_rate), int(model.hop_length))
    rows = []
    for start in range(0, vectors.shape[0], 64):
        chunk = vectors[start : start + 64]
        held = chunk[:, :, None].expand(-1, -1, frames).contiguous()
        audio = decode(bundle.model, held).mean(dim=1).numpy()
        rows += [steady_values(clip, settings) for clip in audio]
    return np.stack(rows)


def _code_spectra(bundle: Bundle) -> np.ndarray:
    """Each code's decoded magnitude spectrum `[codes, channels·bins]` (one frame each)."""
    model = as_codebook_model(bundle.model, "the codebook analysis")
    spectra = decode_spectra(bundle.model, model.code_vectors()[:, :, None])
    return spectra.reshape(spectra.shape[0], -1).double().numpy()


def analyze_codebook(bundle: Bundle, paths: torch.Tensor) -> CodebookAnalysis:
    """Measure every code of `bundle`'s codebook and count the codes of the training latent
    paths `paths` `[sounds, latent_dim, frames]`; written into the bundle and returned."""
    model = as_codebook_model(bundle.model, "the codebook analysis")
    size = int(model.codebook_size)
    with torch.inference_mode():
        codes = model.codes(paths).numpy()
    analysis = CodebookAnalysis(
        names=list(CODE_DESCRIPTORS),
        units={name: descriptor_unit(name) for name in CODE_DESCRIPTORS},
        values=code_values(bundle),
        usage=np.bincount(codes.reshape(-1), minlength=size).astype(np.float64),
        transitions=transition_counts(codes, size),
        map=pca_map(model.code_vectors().double().numpy()),
        spectral_distance=spectral_distances(_code_spectra(bundle)),
        render_seconds=RENDER_SECONDS,
        weights_sha256=weights_digest(bundle.path),
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
