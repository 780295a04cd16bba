"""Choosing one codebook entry per frame so a sequence of codes follows target descriptor curves.

A VQ codebook holds K short sound frames; code k has measured descriptor values
`code_values[k, d]`. Given targets `[T, D]` (one row a frame, NaN where a descriptor has no
target), each (frame, code) pair gets a target cost, and a sequence k_0 … k_{T−1} costs

    Σ_t costs[t, k_t] + transition_weight · Σ_{t≥1} transitions[k_{t−1}, k_t]

with `transitions = −log P(k | j)` learned from code bigram counts. `select_greedy` (the seed's
method) ignores the transition term; `select_dp` minimises the whole objective with the Viterbi
algorithm (Viterbi 1967; Rabiner 1989, "A tutorial on hidden Markov models", §III-B), each frame
restricted to its `candidates` codes of lowest target cost for speed (exact when
candidates ≥ K).

    costs = target_costs(code_values, targets, weights, spread)     # [T, K]
    codes = select_dp(costs, transition_costs(counts), 1.0)          # int64 [T]

Everything here is pure numpy on float64; values are on a comparison scale already (the caller
converts Hz to semitones etc., see `audio.descriptor_registry.to_scale`).
"""

from __future__ import annotations

import numpy as np

MISSING_PENALTY = 1e6
"""Cost, per unit of weight, of a code with no value (NaN, e.g. an unvoiced code's f0) for a
descriptor that has a target in that frame."""


# --- checks ---------------------------------------------------------------------------------------


def _matrix(values: np.ndarray, name: str, columns: int | None = None) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if columns is not None and array.shape[1] != columns:
        raise ValueError(f"{name} must have {columns} columns, got shape {array.shape}")
    return array


def _vector(values: np.ndarray, name: str, size: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array}")
    return array


def _costs(costs: np.ndarray) -> np.ndarray:
    array = _matrix(costs, "costs")
    if array.shape[1] < 1:
        raise ValueError(f"costs needs at least one code, got shape {array.shape}")
    if np.isnan(array).any() or (array == -np.inf).any():
        raise ValueError("costs must not hold NaN or −inf")
    return array


def _transitions(transitions: np.ndarray, codes: int) -> np.ndarray:
    array = _matrix(transitions, "transitions", codes)
    if array.shape[0] != codes:
        raise ValueError(f"transitions must have shape ({codes}, {codes}), got {array.shape}")
    if np.isnan(array).any() or (array == -np.inf).any():
        raise ValueError("transitions must not hold NaN or −inf")
    return array


def _weighted(transitions: np.ndarray, weight: float) -> np.ndarray:
    """`weight · transitions`, with a zero weight giving zeros (not 0 · inf = NaN)."""
    if not (np.isfinite(weight) and weight >= 0):
        raise ValueError(f"transition_weight must be finite and ≥ 0, got {weight!r}")
    return np.zeros_like(transitions) if weight == 0 else weight * transitions


# --- costs ----------------------------------------------------------------------------------------


def target_costs(
    code_values: np.ndarray, targets: np.ndarray, weights: np.ndarray, spread: np.ndarray
) -> np.ndarray:
    """Target cost of every code in every frame: float64 `[T, K]`,
    `Σ_d weights[d] · ((code_values[k, d] − targets[t, d]) / spread[d])²`.

    code_values: `[K, D]`, K ≥ 1, NaN where a code has no value; targets: `[T, D]`, NaN where a
    frame has no target for a descriptor (contributes 0); both on the comparison scale.
    weights: `[D]`, ≥ 0; spread: `[D]`, > 0, in the same scale (the size of a unit mismatch).
    A NaN code value where the target is finite costs `MISSING_PENALTY · weights[d]`. Raises
    ValueError naming the argument on wrong shapes, infinite values, spread ≤ 0, weights < 0.
    """
    codes = _matrix(code_values, "code_values")
    count, dims = codes.shape
    if count < 1:
        raise ValueError(f"code_values needs at least one code, got shape {codes.shape}")
    wanted = _matrix(targets, "targets", dims)
    weight = _vector(weights, "weights", dims)
    scale = _vector(spread, "spread", dims)
    for name, array in (("code_values", codes), ("targets", wanted)):
        if np.isinf(array).any():
            raise ValueError(f"{name} must be finite or NaN, not infinite")
    if (weight < 0).any():
        raise ValueError(f"weights must be ≥ 0, got {weight}")
    if (scale <= 0).any():
        raise ValueError(f"spread must be > 0, got {scale}")
    total = np.zeros((wanted.shape[0], count))
    for d in range(dims):
        target = wanted[:, d, None]  # [T, 1]
        value = codes[None, :, d]  # [1, K]
        term = weight[d] * ((value - target) / scale[d]) ** 2
        term = np.where(np.isnan(value), MISSING_PENALTY * weight[d], term)
        total += np.where(np.isnan(target), 0.0, term)
    return total


def transition_costs(counts: np.ndarray, smoothing: float = 0.5) -> np.ndarray:
    """`−log P(k | j)` from code bigram counts: float64 `[K, K]`, row j the previous code.

    counts: `[K, K]`, finite and ≥ 0 (`counts[j, k]`: how often k followed j). Each row is
    smoothed additively, `P(k | j) = (counts[j, k] + smoothing) / (Σ_k counts[j, k] + K·smoothing)`;
    a row with no counts is uniform (cost ln K). With smoothing 0, unseen transitions cost inf.
    """
    table = _matrix(counts, "counts")
    size = table.shape[0]
    if table.shape != (size, size) or size < 1:
        raise ValueError(f"counts must be square [K, K] with K ≥ 1, got shape {table.shape}")
    if not np.isfinite(table).all() or (table < 0).any():
        raise ValueError("counts must be finite and ≥ 0")
    if not (np.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be finite and ≥ 0, got {smoothing!r}")
    smoothed = table + smoothing
    totals = smoothed.sum(axis=1, keepdims=True)
    probability = np.where(totals > 0, smoothed / np.where(totals > 0, totals, 1.0), 1.0 / size)
    with np.errstate(divide="ignore"):
        return -np.log(probability)


def clamp_targets(values: np.ndarray, low: float, high: float) -> tuple[np.ndarray, int]:
    """A float64 copy of `values` clamped to `[low, high]` (NaN kept), and how many values were
    clamped (the caller words the message). Raises ValueError unless low ≤ high."""
    if not low <= high:
        raise ValueError(f"need low ≤ high, got {low!r} and {high!r}")
    array = np.asarray(values, dtype=np.float64)
    clamped = int(np.count_nonzero((array < low) | (array > high)))
    return np.clip(array, low, high), clamped


# --- selection ------------------------------------------------------------------------------------


def select_greedy(costs: np.ndarray) -> np.ndarray:
    """The code of lowest target cost in each frame (the seed's method): int64 `[T]` from
    costs `[T, K]`; ties go to the lower code index."""
    return np.argmin(_costs(costs), axis=1).astype(np.int64)


def candidate_codes(costs: np.ndarray, candidates: int) -> np.ndarray:
    """Each frame's `min(candidates, K)` codes of lowest cost, ascending by code index:
    int64 `[T, C]`. Among codes tied at the cut-off the lower indices are kept."""
    table = _costs(costs)
    frames, count = table.shape
    keep = min(int(candidates), count)
    if keep == count:
        return np.broadcast_to(np.arange(count, dtype=np.int64), (frames, count))
    cutoff = np.partition(table, keep - 1, axis=1)[:, keep - 1, None]  # [T, 1]
    below = table < cutoff
    tied = table == cutoff
    room = keep - below.sum(axis=1, keepdims=True)
    chosen = below | (tied & (np.cumsum(tied, axis=1) <= room))
    return np.nonzero(chosen)[1].reshape(frames, keep).astype(np.int64)


def select_dp(
    costs: np.ndarray,
    transitions: np.ndarray,
    transition_weight: float = 1.0,
    candidates: int = 64,
) -> np.ndarray:
    """The code sequence minimising `Σ_t costs[t, k_t] + transition_weight · Σ_t
    transitions[k_{t−1}, k_t]` (Viterbi): int64 `[T]`.

    costs: `[T, K]` target costs (e.g. `target_costs`), no NaN or −inf; transitions: `[K, K]`,
    row the previous code (e.g. `transition_costs`), no NaN or −inf (+inf forbids a transition
    unless nothing else is possible); transition_weight ≥ 0. Each frame only considers its
    `candidates` codes of lowest target cost (`candidate_codes`): exact when candidates ≥ K, and
    exact whenever the optimal sequence uses only candidates. Deterministic ties: each
    back-pointer and the last code take the lowest code index among equals. O(T · C²) time,
    O(T · C) memory (C = min(candidates, K)).
    """
    table = _costs(costs)
    frames, count = table.shape
    step = _weighted(_transitions(transitions, count), transition_weight)
    if isinstance(candidates, bool) or int(candidates) != candidates or candidates < 1:
        raise ValueError(f"candidates must be a whole number ≥ 1, got {candidates!r}")
    if frames == 0:
        return np.zeros(0, dtype=np.int64)
    cand = candidate_codes(table, int(candidates))  # [T, C], ascending
    keep = cand.shape[1]
    own = np.take_along_axis(table, cand, axis=1)  # [T, C] target costs of the candidates
    exact = keep == count
    into = np.ascontiguousarray(step.T) if exact else step.ravel()  # exact: [to, from]
    rows = cand * count  # flat offsets of the candidates' rows in `step`
    columns = np.arange(keep)
    back = np.zeros((frames, keep), dtype=np.int64)
    score = own[0]
    for t in range(1, frames):
        # total[i, j]: best cost ending at candidate j of frame t − 1, then moving to i of t
        moves = into if exact else np.take(into, rows[t - 1] + cand[t][:, None])
        total = moves + score
        best = np.argmin(total, axis=1)  # first minimum: the lowest previous code index
        back[t] = best
        score = total[columns, best] + own[t]
    path = np.zeros(frames, dtype=np.int64)
    position = int(np.argmin(score))
    for t in range(frames - 1, -1, -1):
        path[t] = cand[t, position]
        position = int(back[t, position])
    return path


def sequence_cost(
    codes: np.ndarray,
    costs: np.ndarray,
    transitions: np.ndarray,
    transition_weight: float = 1.0,
) -> float:
    """The objective `Σ_t costs[t, k_t] + transition_weight · Σ_{t≥1} transitions[k_{t−1}, k_t]`
    of the int sequence `codes` `[T]` under costs `[T, K]` and transitions `[K, K]`."""
    table = _costs(costs)
    frames, count = table.shape
    step = _weighted(_transitions(transitions, count), transition_weight)
    sequence = np.asarray(codes)
    if sequence.shape != (frames,) or not np.issubdtype(sequence.dtype, np.integer):
        raise ValueError(f"codes must be integers of shape ({frames},), got {sequence.shape}")
    if frames and not (sequence.min() >= 0 and sequence.max() < count):
        raise ValueError(f"codes must lie in 0 … {count - 1}")
    target = table[np.arange(frames), sequence].sum()
    return float(target + step[sequence[:-1], sequence[1:]].sum())


def code_changes(codes: np.ndarray) -> np.ndarray:
    """int64 indices t ≥ 1 where `codes[t] != codes[t − 1]`."""
    sequence = np.asarray(codes)
    if sequence.ndim != 1:
        raise ValueError(f"codes must be 1-D, got shape {sequence.shape}")
    return (np.flatnonzero(sequence[1:] != sequence[:-1]) + 1).astype(np.int64)
