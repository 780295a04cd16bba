"""Objective quality of a model's reconstructions, next to a linear (PCA) baseline.

Metric functions take float32 audio `[batch, channels, samples]` in [-1, 1] (estimate first,
reference second, same shape) and return float64 numpy `[batch]`, one value per item; NaN marks
an item where the metric is undefined (e.g. a silent reference) and means skip it.
`evaluate` runs a bundle and a PCA baseline of the same latent dimension (fitted on the training
split; for models that predict spectra, PCA of log-magnitude frames through the same
Griffin-Lim) over a cache split and returns the means as JSON-ready data (`timbrespace eval`).
"""

from __future__ import annotations

import math
import os
from typing import Any

import auraloss
import numpy as np
import torch

from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors
from timbrespace.audio.griffinlim import griffin_lim
from timbrespace.audio.spectral import SpectralConfig
from timbrespace.bundle import Bundle, load_bundle
from timbrespace.codebook_analysis import codebook_usage
from timbrespace.data.cache import SoundCache
from timbrespace.data.split import split_cache
from timbrespace.errors import TimbrespaceError
from timbrespace.inference import check_cache, fit_length, reconstruct_in_tune
from timbrespace.models.base import LatentModel
from timbrespace.train.run import note_conditions

SPLITS: tuple[str, ...] = ("val", "train", "all")
LOWER_IS_BETTER = ("mrstft_distance", "log_spectral_distance_db", "attack_time_error_ms")
METRICS: tuple[str, ...] = (
    "mrstft_distance",
    "log_spectral_distance_db",
    "si_sdr_db",
    "attack_time_error_ms",
)
LSD_POWER_FLOOR = 1e-8
"""Power floor of the log-spectral distance: −80 dB re. a full-scale sine's peak bin (0.25)."""
LSD_ACTIVE_DB = 60.0
"""Reference frames more than this many dB below the item's loudest frame are left out."""
SI_SDR_SILENT_POWER = 1e-10
"""A reference whose mean square (after removing its mean) is below this (−100 dB) is silent."""
SI_SDR_LIMIT_DB = 120.0
"""SI-SDR is clipped to ±this (identical signals would give +inf, orthogonal ones −inf)."""


def _check_pair(estimate: torch.Tensor, reference: torch.Tensor) -> None:
    if estimate.dim() != 3 or estimate.shape != reference.shape:
        raise ValueError(
            "estimate and reference must both be [batch, channels, samples], got "
            f"{tuple(estimate.shape)} and {tuple(reference.shape)}"
        )


def mrstft_distance(
    estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int
) -> np.ndarray:
    """Multi-resolution STFT distance per item `[batch]` (unitless; 0 for identical signals).

    auraloss `MultiResolutionSTFTLoss` with its defaults (FFT 1024/2048/512, hops 120/240/50,
    windows 600/1200/240; spectral convergence + L1 log-magnitude, averaged over resolutions;
    Yamamoto et al. 2020), evaluated on each item alone. The resolutions are in samples, so
    `sample_rate` (Hz) only has to be positive: it keeps every metric's call alike.
    """
    _check_pair(estimate, reference)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    loss = auraloss.freq.MultiResolutionSTFTLoss()
    with torch.no_grad():
        values = [
            float(loss(estimate[i : i + 1].float(), reference[i : i + 1].float()))
            for i in range(estimate.shape[0])
        ]
    return np.asarray(values, dtype=np.float64)


def _power_db(audio: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """`[batch, channels, samples]` -> floored power in dB `[batch, channels, bins, frames]`.

    Power is |STFT|² / (Σ window)², so a full-scale sine's peak bin is 0.25 (−6 dB).
    """
    batch, channels, samples = audio.shape
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spectrum = torch.stft(
        audio.reshape(batch * channels, samples).double(),
        n_fft,
        hop,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spectrum.abs().square() / window.sum().square()
    db = 10.0 * torch.log10(power.clamp_min(LSD_POWER_FLOOR))
    return db.reshape(batch, channels, *db.shape[-2:])


def log_spectral_distance(
    estimate: torch.Tensor, reference: torch.Tensor, n_fft: int = 2048, hop: int = 512
) -> np.ndarray:
    """Log-spectral distance per item `[batch]`, dB.

    Per frame and channel: sqrt(mean over bins of (10·log10 P_ref − 10·log10 P_est)²), powers
    floored at `LSD_POWER_FLOOR`; averaged over channels, then over the frames whose reference
    energy is within `LSD_ACTIVE_DB` of the item's loudest frame (padding silence does not dilute
    it). Hann window of `n_fft` samples, hop `hop` samples. NaN for a silent reference.
    """
    _check_pair(estimate, reference)
    ref_db = _power_db(reference, n_fft, hop)
    est_db = _power_db(estimate, n_fft, hop)
    per_frame = (ref_db - est_db).square().mean(dim=2).sqrt().mean(dim=1)
    energy = (10.0 ** (ref_db / 10.0)).sum(dim=(1, 2))
    loudest = energy.max(dim=-1, keepdim=True).values
    active = energy >= loudest * 10.0 ** (-LSD_ACTIVE_DB / 10.0)
    active &= ref_db.amax(dim=(1, 2)) > 10.0 * math.log10(LSD_POWER_FLOOR)
    counts = active.sum(dim=-1)
    totals = (per_frame * active).sum(dim=-1)
    values = torch.where(counts > 0, totals / counts.clamp_min(1), torch.nan)
    return values.numpy().astype(np.float64)


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> np.ndarray:
    """Scale-invariant signal-to-distortion ratio per item `[batch]`, dB (higher is better).

    Le Roux et al. 2019, "SDR – half-baked or well done?": each channel is made zero-mean, the
    channels of an item are joined, the reference is scaled by the projection of the estimate
    on it (α = ⟨ŝ, s⟩ / ‖s‖²) and SI-SDR = 10·log10(‖αs‖² / ‖ŝ − αs‖²). Clipped to
    ±`SI_SDR_LIMIT_DB`; NaN where the reference is silent (`SI_SDR_SILENT_POWER`).
    """
    _check_pair(estimate, reference)
    est = estimate.double()
    ref = reference.double()
    est = (est - est.mean(dim=-1, keepdim=True)).flatten(1)
    ref = (ref - ref.mean(dim=-1, keepdim=True)).flatten(1)
    ref_energy = ref.square().sum(dim=-1)
    alpha = (est * ref).sum(dim=-1) / ref_energy.clamp_min(torch.finfo(torch.float64).tiny)
    target = alpha[:, None] * ref
    target_energy = target.square().sum(dim=-1)
    noise_energy = (est - target).square().sum(dim=-1)
    ratio = target_energy / noise_energy.clamp_min(torch.finfo(torch.float64).tiny)
    db = (10.0 * torch.log10(ratio)).clamp(-SI_SDR_LIMIT_DB, SI_SDR_LIMIT_DB)
    silent = ref_energy / ref.shape[-1] < SI_SDR_SILENT_POWER
    return torch.where(silent, torch.nan, db).numpy()


def _attack_time(audio: np.ndarray, settings: DescriptorSettings) -> float:
    """Attack time (s) of one item `[channels, samples]`; NaN when undefined (silent, non-finite)."""
    try:
        return float(compute_descriptors(audio, settings, names=["attack_time"]).clip[0])
    except ValueError:
        return math.nan


def attack_time_error_ms(
    estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int
) -> np.ndarray:
    """|attack time(estimate) − attack time(reference)| per item `[batch]`, ms.

    Attack time is the project descriptor `attack_time` (10 % → 90 % of the envelope peak, see
    `timbrespace.audio.descriptors`); `sample_rate` in Hz. NaN where either is undefined.
    """
    _check_pair(estimate, reference)
    settings = DescriptorSettings(sample_rate=int(sample_rate))
    est = estimate.detach().float().cpu().numpy()
    ref = reference.detach().float().cpu().numpy()
    errors = [
        abs(_attack_time(est[i], settings) - _attack_time(ref[i], settings)) * 1000.0
        for i in range(est.shape[0])
    ]
    return np.asarray(errors, dtype=np.float64)


def compute_metrics(
    estimate: torch.Tensor, reference: torch.Tensor, sample_rate: int
) -> dict[str, np.ndarray]:
    """Every metric of `METRICS` per item: name -> float64 `[batch]`."""
    return {
        "mrstft_distance": mrstft_distance(estimate, reference, sample_rate),
        "log_spectral_distance_db": log_spectral_distance(estimate, reference),
        "si_sdr_db": si_sdr(estimate, reference),
        "attack_time_error_ms": attack_time_error_ms(estimate, reference, sample_rate),
    }


class PCABaseline:
    """Linear autoencoder: PCA of the raw waveform, `dim` principal axes.

    Fitted by the Gram-matrix ("snapshot", Sirovich 1987) method: eigenvectors of the `[n, n]` Gram matrix of
    the centred data give the principal axes in closed form, much faster than an SVD of the
    `[n, channels·samples]` matrix when items are few and long. Latents are `[batch, dim, 1]`
    like a one-shot model's; audio is `[batch, channels, samples]`.
    """

    def __init__(
        self, mean: torch.Tensor, components: torch.Tensor, shape: tuple[int, int]
    ) -> None:
        """mean: `[channels·samples]`; components: orthonormal rows `[dim, channels·samples]`;
        shape: `(channels, samples)` of one item."""
        self.mean = mean
        self.components = components
        self.shape = shape

    @property
    def latent_dim(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def fit(cls, audio: np.ndarray | torch.Tensor, dim: int) -> PCABaseline:
        """Fit on `audio` `[n, channels, samples]` with `dim` axes (float32).

        At most `n − 1` axes carry variance; the axes beyond the data's rank are arbitrary
        orthonormal directions, and beyond `n` they are zero (their latent is always 0).
        """
        data = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        if data.dim() != 3 or data.shape[0] == 0:
            raise ValueError(f"audio must be [n >= 1, channels, samples], got {tuple(data.shape)}")
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        n, channels, samples = data.shape
        flat = data.reshape(n, channels * samples)
        mean = flat.mean(dim=0)
        centred = flat - mean
        gram = (centred @ centred.T).double()
        _, eigenvectors = torch.linalg.eigh(gram)
        used = min(dim, n, channels * samples)
        top = eigenvectors[:, -used:].flip(dims=(1,)).float()
        axes, _ = torch.linalg.qr(centred.T @ top)
        components = torch.zeros(dim, channels * samples)
        components[:used] = axes.T
        return cls(mean, components, (channels, samples))

    def _check_audio(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() != 3 or tuple(audio.shape[1:]) != self.shape:
            raise ValueError(
                f"expected audio [batch, {self.shape[0]}, {self.shape[1]}], got {tuple(audio.shape)}"
            )
        return audio.float().reshape(audio.shape[0], -1)

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio `[batch, channels, samples]` -> latent `[batch, dim, 1]`."""
        return ((self._check_audio(audio) - self.mean) @ self.components.T)[..., None]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent `[batch, dim, 1]` -> audio `[batch, channels, samples]`, clipped to [-1, 1]."""
        if z.dim() != 3 or z.shape[1] != self.latent_dim or z.shape[2] != 1:
            raise ValueError(f"expected latent [batch, {self.latent_dim}, 1], got {tuple(z.shape)}")
        flat = z[..., 0].float() @ self.components + self.mean
        return flat.clamp(-1.0, 1.0).reshape(z.shape[0], *self.shape)

    def reconstruct(self, audio: torch.Tensor) -> torch.Tensor:
        """Project `[batch, channels, samples]` on the principal axes and back, in [-1, 1]."""
        return self.decode(self.encode(audio))


class FramePCABaseline:
    """Linear frame-wise model: PCA of log-magnitude STFT frames (`log(|STFT| + floor)`) with
    `dim` axes, rebuilt to audio by the same fast Griffin-Lim a spectral model uses (same
    iterations, momentum and seeded start phases), so the two differ only in their spectra.
    Latents are `[batch, dim, frames]` per channel; audio is `[batch, channels, samples]`.
    """

    def __init__(
        self,
        mean: torch.Tensor,
        components: torch.Tensor,
        spectral: SpectralConfig,
        *,
        gla_iters: int = 32,
        momentum: float = 0.99,
    ) -> None:
        """mean `[bins]`; components: orthonormal rows `[dim, bins]`; spectral: the STFT settings
        (front end "log")."""
        self.mean, self.components, self.spectral = mean, components, spectral
        self.gla_iters, self.momentum = gla_iters, momentum

    @property
    def latent_dim(self) -> int:
        return int(self.components.shape[0])

    @classmethod
    def fit(
        cls,
        audio: np.ndarray | torch.Tensor,
        dim: int,
        spectral: SpectralConfig,
        *,
        max_frames: int = 200_000,
        **gla: Any,
    ) -> FramePCABaseline:
        """Fit on the frames of `audio` `[n, channels, samples]` (at most `max_frames`, drawn
        with seed 0); `gla` holds `gla_iters` and `momentum`."""
        data = torch.as_tensor(np.asarray(audio, dtype=np.float32))
        if data.dim() != 3 or data.shape[0] == 0:
            raise ValueError(f"audio must be [n >= 1, channels, samples], got {tuple(data.shape)}")
        rows = spectral.features(data).transpose(-1, -2).reshape(-1, spectral.linear_bins)
        if rows.shape[0] > max_frames:
            keep = np.sort(
                np.random.default_rng(0).choice(rows.shape[0], max_frames, replace=False)
            )
            rows = rows[torch.from_numpy(keep)]
        mean = rows.mean(dim=0)
        centred = (rows - mean).double()
        _, eigenvectors = torch.linalg.eigh(centred.T @ centred)
        used = min(dim, spectral.linear_bins)
        components = torch.zeros(dim, spectral.linear_bins)
        components[:used] = eigenvectors[:, -used:].flip(dims=(1,)).T.float()
        return cls(mean, components, spectral, **gla)

    def reconstruct(self, audio: torch.Tensor) -> torch.Tensor:
        """Project each frame of `[batch, channels, samples]` on the axes, back to a magnitude,
        then Griffin-Lim: `[batch, channels, (frames − 1)·hop]`, clipped to [-1, 1]."""
        frames = self.spectral.features(audio.float()).transpose(-1, -2)
        coefficients = (frames - self.mean) @ self.components.T
        log_mag = (coefficients @ self.components + self.mean).transpose(-1, -2)
        magnitude = (log_mag.exp() - self.spectral.log_floor).clamp(min=0.0)
        rebuilt = griffin_lim(
            magnitude,
            n_fft=self.spectral.n_fft,
            hop=self.spectral.hop,
            iterations=self.gla_iters,
            momentum=self.momentum,
            window=self.spectral.window,
        )
        return rebuilt.clamp(-1.0, 1.0)


def fit_baseline(
    model: LatentModel, audio: np.ndarray | torch.Tensor
) -> tuple[PCABaseline | FramePCABaseline, str]:
    """The linear baseline of the model's latent size fitted on `audio` `[n, channels, samples]`,
    and its description: PCA of log-magnitude frames with the model's own Griffin-Lim for a
    model that predicts spectra, PCA of frames at the model's frame rate for another path model,
    PCA of whole waveforms otherwise."""
    config = model.config
    if hasattr(model, "decode_magnitude") and hasattr(config, "target"):
        baseline = FramePCABaseline.fit(
            audio,
            int(model.latent_dim),
            config.target,
            gla_iters=int(config.gla_iters),
            momentum=float(config.gla_momentum),
        )
        return baseline, "PCA of log-magnitude STFT frames, same Griffin-Lim"
    if model.latent_kind == "path":
        framing = SpectralConfig(
            sample_rate=int(model.sample_rate),
            n_fft=int(getattr(config, "n_fft", 4 * int(model.hop_length))),
            hop=int(model.hop_length),
        )
        baseline = FramePCABaseline.fit(audio, int(model.latent_dim), framing)
        return baseline, (
            f"PCA of log-magnitude STFT frames at the model's frame rate (n_fft {framing.n_fft}, "
            f"hop {framing.hop}), 32-iteration Griffin-Lim"
        )
    return PCABaseline.fit(audio, int(model.latent_dim)), "PCA of waveforms"


def _select(bundle: Bundle, cache: SoundCache, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Clip indices `(evaluated, training)` from the bundle's own train/validation split."""
    settings = bundle.training.get("split", {})
    try:
        parts = split_cache(
            cache, float(settings.get("val_fraction", 0.1)), int(settings.get("seed", 0))
        )
    except ValueError as error:
        raise TimbrespaceError(
            f"{bundle.path}: invalid training split settings ({error})"
        ) from error
    chosen = {"val": parts.val, "train": parts.train, "all": np.arange(len(cache))}[split]
    return chosen, parts.train


def _mean_or_none(values: np.ndarray) -> float | None:
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else None


def _improvement(model: dict[str, float | None], baseline: dict[str, float | None]) -> dict:
    """1 − model/baseline for distances; model − baseline (dB) for SI-SDR; None if undefined."""
    out: dict[str, float | None] = {}
    for name in METRICS:
        ours, theirs = model[name], baseline[name]
        if ours is None or theirs is None:
            out[name] = None
        elif name in LOWER_IS_BETTER:
            out[name] = 1.0 - ours / theirs if theirs > 0 else None
        else:
            out[name] = ours - theirs
    return out


def _per_pack(joined: dict[str, dict[str, np.ndarray]], packs: np.ndarray) -> dict[str, dict]:
    """Per pack (sorted by name): its clip count, both systems' means and the improvement, from
    per-item metrics `joined[system][metric]` `[items]` and each item's pack name `packs`."""
    report: dict[str, dict] = {}
    for pack in sorted(set(packs.tolist())):
        mask = packs == pack
        means = {
            system: {name: _mean_or_none(values[mask]) for name, values in metrics.items()}
            for system, metrics in joined.items()
        }
        report[pack] = {
            "clips": int(mask.sum()),
            **means,
            "improvement": _improvement(means["model"], means["baseline_pca"]),
        }
    return report


def evaluate(
    bundle_or_run: str | os.PathLike[str],
    cache_path: str | os.PathLike[str],
    split: str = "val",
    batch_size: int = 16,
    limit: int | None = None,
    max_fit_clips: int = 2048,
) -> dict[str, Any]:
    """Quality of the faces' reconstructions of a split (`reconstruct_in_tune`: each clip's
    cached pitch and attack kept, as the faces keep a source's), against PCA.

    The split is the bundle's training split (`bundle.json` → training.split; split_cache
    defaults when absent): "val", "train" or "all"; `limit` keeps its first N clips. The PCA
    baseline has the model's latent dimension, fitted on the training split (at most
    `max_fit_clips` clips, seed 0). Returns JSON-ready data: per-metric means over items (None
    when undefined for every item), `improvement` (1 − model/baseline for distances, model −
    baseline dB for SI-SDR: positive is better), per-metric counts of undefined items,
    `per_pack`: the same for the clips of each pack (top-level folder), and a codebook model's
    `codebook` usage (`codebook_analysis.codebook_usage`)."""
    if split not in SPLITS:
        raise TimbrespaceError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if batch_size < 1 or (limit is not None and limit < 1):
        raise TimbrespaceError(f"batch_size and limit must be >= 1, got {batch_size}, {limit}")
    bundle = load_bundle(bundle_or_run)
    cache = SoundCache(cache_path)
    check_cache(bundle, cache)
    chosen, train = _select(bundle, cache, split)
    if limit is not None:
        chosen = chosen[:limit]
    if chosen.size == 0:
        raise TimbrespaceError(f"{cache.root}: the {split!r} split is empty ({len(cache)} clips)")
    if train.size == 0:
        raise TimbrespaceError(f"{cache.root}: no training clips to fit the PCA baseline on")
    if train.size > max_fit_clips:
        train = np.sort(np.random.default_rng(0).choice(train, max_fit_clips, replace=False))

    model = bundle.model
    baseline, baseline_kind = fit_baseline(model, cache.audio[train])
    f0 = cache.descriptor("f0") if "f0" in cache.descriptor_names else None
    attack = cache.descriptor("attack_time") if "attack_time" in cache.descriptor_names else None
    per_item: dict[str, dict[str, list[np.ndarray]]] = {
        "model": {name: [] for name in METRICS},
        "baseline_pca": {name: [] for name in METRICS},
    }
    with torch.inference_mode():
        for start in range(0, chosen.size, batch_size):
            rows = chosen[start : start + batch_size]
            audio = torch.from_numpy(np.asarray(cache.audio[rows]))
            cond, pitch = note_conditions(cache, model, rows), None if f0 is None else f0[rows]
            rise = None if attack is None else np.asarray(attack[rows])
            outputs = {
                "model": reconstruct_in_tune(bundle, audio, f0_hz=pitch, attack_s=rise, cond=cond),
                "baseline_pca": fit_length(baseline.reconstruct(audio), audio.shape[-1]),
            }
            for system, estimate in outputs.items():
                for name, values in compute_metrics(estimate, audio, cache.sample_rate).items():
                    per_item[system][name].append(values)

    packs = np.array([cache.sources[source].pack for source in cache.clip_source[chosen]])
    joined = {
        system: {name: np.concatenate(parts) for name, parts in metrics.items()}
        for system, metrics in per_item.items()
    }
    means = {
        system: {name: _mean_or_none(values) for name, values in metrics.items()}
        for system, metrics in joined.items()
    }
    return {
        "split": split,
        "clips": int(chosen.size),
        "sample_rate": cache.sample_rate,
        "latent_dim": int(model.latent_dim),
        "model": means["model"],
        "baseline_pca": means["baseline_pca"],
        "improvement": _improvement(means["model"], means["baseline_pca"]),
        "per_pack": _per_pack(joined, packs),
        "codebook": codebook_usage(model, cache.audio, chosen),
        "undefined": {
            system: {name: int(np.count_nonzero(~np.isfinite(v))) for name, v in metrics.items()}
            for system, metrics in joined.items()
        },
        "baseline": baseline_kind,
        "baseline_fit_clips": int(train.size),
        "cache": cache.fingerprint,
        "bundle": str(bundle.path),
    }
