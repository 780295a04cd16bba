"""Family-agnostic analysis of latent points: PCA, linear descriptor probes, directions, neighbours.

Everything here works on latent *points* `[n, dim]`; latent paths `[batch, dim, frames]` become
points with `path_points`. Inputs may be torch tensors or numpy arrays; the math runs in float64
torch and results come back in the input's library and floating dtype. Fitted objects keep float64
torch tensors and serialise without pickle: `to_dict()` (JSON, floats round-trip exactly) and, for
the PCA, `to_tensors()` for safetensors.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import numpy as np
import torch

from timbrespace.errors import TimbrespaceError

Array = torch.Tensor | np.ndarray
LabelT = TypeVar("LabelT", bound=Hashable)

MIN_PROBE_POINTS = 3


def as_float64(x: Array | Sequence[float] | float) -> torch.Tensor:
    """A float64 CPU torch copy-or-view of `x` (tensor, array, list or scalar)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(device="cpu", dtype=torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def like(value: torch.Tensor, reference: Any) -> Array:
    """`value` in `reference`'s library and floating dtype (float64 if `reference` is not floating).

    Integer `value`s (indices) keep their dtype.
    """
    floating = value.is_floating_point()
    if isinstance(reference, torch.Tensor):
        torch_dtype = reference.dtype if reference.is_floating_point() else torch.float64
        return value.to(device=reference.device, dtype=torch_dtype if floating else value.dtype)
    numpy_dtype = np.asarray(reference).dtype
    if not np.issubdtype(numpy_dtype, np.floating):
        numpy_dtype = np.dtype(np.float64)
    array = value.detach().cpu().numpy()
    return array.astype(numpy_dtype) if floating else array.copy()


def _points(z: Array, name: str = "z") -> torch.Tensor:
    points = as_float64(z)
    if points.ndim != 2:
        raise ValueError(
            f"{name}: expected latent points [n, dim], got shape {tuple(points.shape)}"
        )
    return points


def path_points(z: Array) -> Array:
    """Latent paths `[batch, dim, frames]` → points `[batch * frames, dim]` (item-major)."""
    if z.ndim != 3:
        raise ValueError(f"expected latent paths [batch, dim, frames], got shape {tuple(z.shape)}")
    if isinstance(z, torch.Tensor):
        return z.transpose(1, 2).reshape(-1, z.shape[1])
    return np.swapaxes(z, 1, 2).reshape(-1, z.shape[1])


def _floats(values: torch.Tensor) -> list[float]:
    return [float(v) for v in values.reshape(-1)]


@dataclass(frozen=True, eq=False)
class PCA:
    """Principal axes of latent points (float64 tensors).

    mean `[dim]`; components `[k, dim]`, orthonormal rows sorted by variance, each signed so its
    largest-|loading| entry is positive; explained_variance `[k]` (latent units², unbiased);
    explained_variance_ratio `[k]` (fraction of the total variance of all `dim` axes).
    """

    mean: torch.Tensor
    components: torch.Tensor
    explained_variance: torch.Tensor
    explained_variance_ratio: torch.Tensor

    @property
    def n_components(self) -> int:
        return int(self.components.shape[0])

    @overload
    def transform(self, z: torch.Tensor) -> torch.Tensor: ...
    @overload
    def transform(self, z: np.ndarray) -> np.ndarray: ...
    def transform(self, z: Array) -> Array:
        """Points `[n, dim]` (or one `[dim]`) → scores `[n, k]` (or `[k]`)."""
        return like((as_float64(z) - self.mean) @ self.components.T, z)

    def inverse_transform(self, scores: Array) -> Array:
        """Scores `[n, k']` (k' ≤ k, leading axes) → points `[n, dim]` (or `[k']` → `[dim]`)."""
        s = as_float64(scores)
        return like(s @ self.components[: s.shape[-1]] + self.mean, scores)

    def to_tensors(self, prefix: str = "pca.") -> dict[str, torch.Tensor]:
        """Contiguous float64 tensors named `prefix + field`, for safetensors."""
        return {
            prefix + key: getattr(self, key).contiguous()
            for key in ("mean", "components", "explained_variance", "explained_variance_ratio")
        }

    @classmethod
    def from_tensors(cls, tensors: Mapping[str, torch.Tensor], prefix: str = "pca.") -> PCA:
        try:
            return cls(
                **{
                    key: as_float64(tensors[prefix + key])
                    for key in (
                        "mean",
                        "components",
                        "explained_variance",
                        "explained_variance_ratio",
                    )
                }
            )
        except KeyError as error:
            raise TimbrespaceError(f"PCA tensors: missing {error.args[0]!r}") from error

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": _floats(self.mean),
            "components": [_floats(row) for row in self.components],
            "explained_variance": _floats(self.explained_variance),
            "explained_variance_ratio": _floats(self.explained_variance_ratio),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PCA:
        dim = len(data["mean"])
        return cls(
            mean=as_float64(data["mean"]),
            components=as_float64(data["components"]).reshape(-1, dim),
            explained_variance=as_float64(data["explained_variance"]),
            explained_variance_ratio=as_float64(data["explained_variance_ratio"]),
        )


def fit_pca(z: Array, n_components: int | None = None) -> PCA:
    """PCA of latent points `[n, dim]` by SVD; `n_components` defaults to min(n − 1, dim)."""
    points = _points(z)
    n, dim = points.shape
    if n < 2:
        raise TimbrespaceError(f"PCA needs at least 2 latent points, got {n}")
    k = min(n - 1, dim) if n_components is None else n_components
    if not 1 <= k <= min(n, dim):
        raise ValueError(f"n_components must be in [1, {min(n, dim)}], got {k}")
    mean = points.mean(dim=0)
    centred = points - mean
    _, singular, vh = torch.linalg.svd(centred, full_matrices=False)
    components = vh[:k]
    largest = components.abs().argmax(dim=1, keepdim=True)
    components = components * torch.sign(components.gather(1, largest))
    variance = singular[:k] ** 2 / (n - 1)
    total = centred.square().sum() / (n - 1)
    ratio = variance / total if total > 0 else torch.zeros_like(variance)
    return PCA(mean, components.contiguous(), variance, ratio)


def r2_score(target: torch.Tensor, prediction: torch.Tensor) -> float:
    """Coefficient of determination 1 − SS_res / SS_tot; NaN when the target is constant or empty."""
    if target.numel() == 0:
        return math.nan
    total = (target - target.mean()).square().sum()
    if total <= 0:
        return math.nan
    return float(1.0 - (target - prediction).square().sum() / total)


@dataclass(frozen=True, eq=False)
class LinearProbe:
    """A descriptor read linearly from the latent: `predict(z) = weights · z + bias`.

    The prediction is on the probe's `scale` ("linear", "semitones" re 440 Hz, "log", as in
    `timbrespace.audio.descriptors.to_scale`) of a descriptor measured in `unit`. weights `[dim]`;
    r2_train / r2_heldout are R² on the seeded training / held-out split (NaN if undefined);
    n is the number of finite points used.
    """

    weights: torch.Tensor
    bias: float
    r2_train: float
    r2_heldout: float
    n: int
    name: str = ""
    unit: str = ""
    scale: str = "linear"

    def predict(self, z: Array) -> Array:
        """Points `[n, dim]` (or one `[dim]`) → predictions `[n]` (or a 0-d value) on the scale."""
        return like(as_float64(z) @ self.weights + self.bias, z)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "scale": self.scale,
            "weights": _floats(self.weights),
            "bias": float(self.bias),
            "r2_train": float(self.r2_train),
            "r2_heldout": float(self.r2_heldout),
            "n": int(self.n),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LinearProbe:
        return cls(
            weights=as_float64(data["weights"]),
            bias=float(data["bias"]),
            r2_train=float(data["r2_train"]),
            r2_heldout=float(data["r2_heldout"]),
            n=int(data["n"]),
            name=str(data.get("name", "")),
            unit=str(data.get("unit", "")),
            scale=str(data.get("scale", "linear")),
        )


def _ridge(x: torch.Tensor, y: torch.Tensor, ridge: float) -> tuple[torch.Tensor, float]:
    """Weights `[dim]` and bias of ridge regression; the penalty is relative to the mean variance."""
    x_mean, y_mean = x.mean(dim=0), y.mean()
    xc = x - x_mean
    gram = xc.T @ xc
    penalty = ridge * float(gram.diagonal().mean())
    system = gram + penalty * torch.eye(x.shape[1], dtype=x.dtype)
    weights = torch.linalg.lstsq(system, (xc.T @ (y - y_mean))[:, None]).solution[:, 0]
    return weights, float(y_mean - x_mean @ weights)


def fit_probe(
    z: Array,
    y: Array | Sequence[float],
    *,
    ridge: float = 1e-3,
    holdout: float = 0.2,
    seed: int = 0,
    name: str = "",
    unit: str = "",
    scale: str = "linear",
) -> LinearProbe:
    """Ridge regression of a descriptor `y [n]` on latent points `z [n, dim]`.

    `y` is already on `scale` (e.g. `to_scale(f0_hz, "semitones")` from
    `timbrespace.audio.descriptors`); `unit` is the raw descriptor's unit. Points with a non-finite
    target or latent are dropped. A seeded random `holdout` fraction is kept out of the fit and
    gives `r2_heldout`; the returned weights are those of the training part, so that R² describes
    them. `ridge` scales a penalty relative to the mean latent variance (scale-free).
    """
    points = _points(z)
    target = as_float64(y).reshape(-1)
    if target.shape[0] != points.shape[0]:
        raise ValueError(f"probe {name!r}: {points.shape[0]} latents but {target.shape[0]} targets")
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")
    finite = torch.isfinite(target) & torch.isfinite(points).all(dim=1)
    points, target = points[finite], target[finite]
    n = int(points.shape[0])
    if n < MIN_PROBE_POINTS:
        raise TimbrespaceError(
            f"probe {name!r}: only {n} sounds with a defined value (need {MIN_PROBE_POINTS})"
        )
    n_held = min(max(round(holdout * n), 1), n - 2) if holdout > 0 else 0
    order = torch.from_numpy(np.random.default_rng(seed).permutation(n))
    held, train = order[:n_held], order[n_held:]
    weights, bias = _ridge(points[train], target[train], ridge)
    r2_train = r2_score(target[train], points[train] @ weights + bias)
    r2_heldout = r2_score(target[held], points[held] @ weights + bias)
    return LinearProbe(weights, bias, r2_train, r2_heldout, n, name, unit, scale)


def class_directions(z: Array, labels: Sequence[LabelT]) -> dict[LabelT, Array]:
    """Per label, its class mean minus the global mean of all points: `{label: [dim]}`.

    Labels are sorted by their string form; z is `[n, dim]` with one label per point.
    """
    points = _points(z)
    if len(labels) != points.shape[0]:
        raise ValueError(f"{points.shape[0]} latents but {len(labels)} labels")
    global_mean = points.mean(dim=0)
    directions: dict[LabelT, Array] = {}
    for label in sorted(set(labels), key=str):
        mask = torch.tensor([item == label for item in labels])
        directions[label] = like(points[mask].mean(dim=0) - global_mean, z)
    return directions


def custom_direction(z_a: Array, z_b: Array) -> Array:
    """mean(z_b) − mean(z_a) `[dim]`: the direction from group A of sounds towards group B."""
    a, b = _points(z_a, "z_a"), _points(z_b, "z_b")
    if a.shape[0] == 0 or b.shape[0] == 0:
        raise TimbrespaceError("custom control: both groups need at least one sound")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"groups have latent dims {a.shape[1]} and {b.shape[1]}")
    return like(b.mean(dim=0) - a.mean(dim=0), z_b)


def nearest(z_query: Array, z_all: Array, k: int = 1) -> tuple[Array, Array]:
    """The `k` points of `z_all [n, dim]` closest to `z_query` (any shape with `dim` entries).

    Returns (indices `[k]` int64, Euclidean distances `[k]`), nearest first; ties keep data order.
    """
    points = _points(z_all, "z_all")
    query = as_float64(z_query).reshape(-1)
    if query.shape[0] != points.shape[1]:
        raise ValueError(f"query has {query.shape[0]} entries, latents have dim {points.shape[1]}")
    distances = (points - query).square().sum(dim=1).sqrt()
    order = torch.sort(distances, stable=True).indices[: max(0, min(k, points.shape[0]))]
    return like(order, z_all), like(distances[order], z_all)
