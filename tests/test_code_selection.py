"""Code selection (`latent.code_selection`): target and transition costs, greedy and Viterbi
choices checked against brute force, pruning, NaN handling and speed."""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest

from timbrespace.latent.code_selection import (
    MISSING_PENALTY,
    candidate_codes,
    clamp_targets,
    code_changes,
    select_dp,
    select_greedy,
    sequence_cost,
    target_costs,
    transition_costs,
)

# --- costs ----------------------------------------------------------------------------------------


def test_target_costs_known_answer() -> None:
    codes = np.array([[0.0, 10.0], [2.0, 20.0], [4.0, 30.0]])  # K = 3, D = 2
    targets = np.array([[1.0, 20.0], [4.0, 10.0]])  # T = 2
    weights, spread = np.array([1.0, 0.5]), np.array([2.0, 10.0])
    expected = np.array(
        [
            [(1 / 2) ** 2 + 0.5 * 1**2, (1 / 2) ** 2 + 0, (3 / 2) ** 2 + 0.5 * 1**2],
            [(4 / 2) ** 2 + 0, (2 / 2) ** 2 + 0.5 * 1**2, 0 + 0.5 * 2**2],
        ]
    )
    costs = target_costs(codes, targets, weights, spread)
    assert costs.shape == (2, 3) and costs.dtype == np.float64
    np.testing.assert_allclose(costs, expected)


def test_target_costs_nan_targets_and_nan_codes() -> None:
    codes = np.array([[0.0, 5.0], [1.0, np.nan]])  # code 1 has no value for descriptor 1
    targets = np.array([[0.0, np.nan], [0.0, 5.0], [np.nan, np.nan]])
    weights, spread = np.array([1.0, 2.0]), np.array([1.0, 1.0])
    costs = target_costs(codes, targets, weights, spread)
    np.testing.assert_allclose(costs[0], [0.0, 1.0])  # no target for d = 1: its NaN is free
    np.testing.assert_allclose(costs[1], [0.0, 1.0 + MISSING_PENALTY * 2.0])
    np.testing.assert_array_equal(costs[2], [0.0, 0.0])  # no target at all
    zero_weight = target_costs(codes, targets, np.array([1.0, 0.0]), spread)
    np.testing.assert_allclose(zero_weight[1], [0.0, 1.0])  # a weight of 0 ignores it entirely
    assert np.isfinite(costs).all()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"weights": np.array([1.0, -1.0])}, "weights must be ≥ 0"),
        ({"spread": np.array([1.0, 0.0])}, "spread must be > 0"),
        ({"spread": np.array([1.0])}, "spread must have shape"),
        ({"weights": np.array([1.0, np.nan])}, "weights must be finite"),
        ({"targets": np.zeros((4, 3))}, "targets must have 2 columns"),
        ({"code_values": np.zeros(2)}, "code_values must be 2-D"),
        ({"code_values": np.zeros((0, 2))}, "code_values needs at least one code"),
        ({"targets": np.array([[np.inf, 0.0]])}, "targets must be finite or NaN"),
    ],
)
def test_target_costs_refuses_bad_arguments(change: dict[str, np.ndarray], message: str) -> None:
    arguments = {
        "code_values": np.zeros((3, 2)),
        "targets": np.zeros((4, 2)),
        "weights": np.ones(2),
        "spread": np.ones(2),
    } | change
    with pytest.raises(ValueError, match=message):
        target_costs(**arguments)


def test_transition_costs_are_smoothed_conditional_probabilities() -> None:
    counts = np.array([[3.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 2.0]])
    costs = transition_costs(counts, smoothing=0.5)
    probability = np.exp(-costs)
    np.testing.assert_allclose(probability.sum(axis=1), 1.0)
    np.testing.assert_allclose(probability[0], [3.5 / 5.5, 1.5 / 5.5, 0.5 / 5.5])
    np.testing.assert_allclose(costs[1], [math.log(3)] * 3)  # no counts → uniform
    unsmoothed = transition_costs(counts, smoothing=0.0)
    np.testing.assert_allclose(unsmoothed[0, :2], [-math.log(0.75), -math.log(0.25)])
    assert unsmoothed[0, 2] == math.inf
    np.testing.assert_allclose(unsmoothed[1], [math.log(3)] * 3)
    with pytest.raises(ValueError, match="counts must be finite and ≥ 0"):
        transition_costs(-counts)
    with pytest.raises(ValueError, match="square"):
        transition_costs(np.ones((2, 3)))


def test_clamp_targets_counts_and_keeps_nan() -> None:
    values = np.array([50.0, 100.0, np.nan, 25000.0, 440.0, -np.inf])
    clamped, count = clamp_targets(values, 60.0, 20000.0)
    np.testing.assert_array_equal(clamped, [60.0, 100.0, np.nan, 20000.0, 440.0, 60.0])
    assert count == 3
    assert values[0] == 50.0  # a copy
    assert clamp_targets(values, -np.inf, np.inf)[1] == 0  # unbounded limits clamp nothing
    with pytest.raises(ValueError, match="low ≤ high"):
        clamp_targets(values, 2.0, 1.0)


# --- selection ------------------------------------------------------------------------------------


def brute_force(costs: np.ndarray, transitions: np.ndarray, weight: float) -> float:
    frames, count = costs.shape
    return min(
        sequence_cost(np.array(codes), costs, transitions, weight)
        for codes in itertools.product(range(count), repeat=frames)
    )


@pytest.mark.parametrize("seed", range(8))
def test_select_dp_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    costs, transitions = rng.random((5, 3)) * 3, rng.random((3, 3)) * 2
    weight = float(rng.uniform(0.2, 2.0))
    codes = select_dp(costs, transitions, weight, candidates=3)
    assert codes.dtype == np.int64 and codes.shape == (5,)
    assert sequence_cost(codes, costs, transitions, weight) == pytest.approx(
        brute_force(costs, transitions, weight), abs=1e-12
    )
    big = select_dp(costs, transitions, weight, candidates=1000)  # candidates ≥ K: exact too
    np.testing.assert_array_equal(big, codes)


def test_select_dp_pruned_equals_exact_when_the_optimum_is_among_candidates() -> None:
    rng = np.random.default_rng(3)
    frames, count, keep = 40, 30, 6
    costs = 1000.0 + rng.random((frames, count))  # codes outside each frame's 6 cost ≥ 1000
    for t in range(frames):
        costs[t, rng.choice(count, keep, replace=False)] = rng.random(keep)
    transitions = rng.random((count, count)) * 5  # any in-candidate path costs < 40·6 = 240
    exact = select_dp(costs, transitions, 1.0, candidates=count)
    pruned = select_dp(costs, transitions, 1.0, candidates=keep)
    np.testing.assert_array_equal(pruned, exact)
    assert (costs[np.arange(frames), exact] < 1).all()
    greedy = select_greedy(costs)
    assert sequence_cost(exact, costs, transitions) < sequence_cost(greedy, costs, transitions)
    # one candidate a frame leaves no choice: the greedy codes
    np.testing.assert_array_equal(select_dp(costs, transitions, 1.0, candidates=1), greedy)


def test_dp_stays_on_one_code_where_greedy_alternates() -> None:
    # two codes 0.1 semitone apart; the target wobbles between them; jumping is rare in the data
    code_values = np.array([[0.0], [0.1]])
    targets = np.where(np.arange(20) % 2 == 0, 0.0, 0.1)[:, None]
    costs = target_costs(code_values, targets, np.ones(1), np.ones(1))
    transitions = transition_costs(np.array([[50.0, 1.0], [1.0, 50.0]]))
    greedy = select_greedy(costs)
    dp = select_dp(costs, transitions)
    np.testing.assert_array_equal(greedy, np.arange(20) % 2)
    np.testing.assert_array_equal(code_changes(greedy), np.arange(1, 20))
    np.testing.assert_array_equal(dp, np.zeros(20))  # tie between 0 and 1 → lower index
    assert code_changes(dp).size == 0
    assert sequence_cost(dp, costs, transitions) < sequence_cost(greedy, costs, transitions)
    # without the transition term DP is greedy again
    np.testing.assert_array_equal(select_dp(costs, transitions, 0.0), greedy)


def test_ties_go_to_the_lower_code_index() -> None:
    costs = np.zeros((4, 5))
    np.testing.assert_array_equal(select_dp(costs, np.zeros((5, 5)), candidates=2), [0] * 4)
    np.testing.assert_array_equal(select_greedy(costs), [0] * 4)
    np.testing.assert_array_equal(candidate_codes(costs, 2), [[0, 1]] * 4)
    costs[:, 0] = 1.0  # codes 1..4 tie below the cut-off
    np.testing.assert_array_equal(candidate_codes(costs, 3), [[1, 2, 3]] * 4)
    np.testing.assert_array_equal(candidate_codes(np.array([[3.0, 1.0, 2.0, 0.5]]), 2), [[1, 3]])


def test_inf_transitions_are_avoided() -> None:
    costs = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    transitions = np.array([[0.0, np.inf], [np.inf, 0.0]])  # never switch
    codes = select_dp(costs, transitions)
    np.testing.assert_array_equal(codes, [0, 0, 0])
    assert sequence_cost(codes, costs, transitions) == 1.0
    assert sequence_cost(np.array([0, 1, 0]), costs, transitions) == math.inf


def test_selection_edge_cases_and_errors() -> None:
    assert select_dp(np.zeros((0, 3)), np.zeros((3, 3))).shape == (0,)
    np.testing.assert_array_equal(select_dp(np.array([[2.0, 1.0, 3.0]]), np.zeros((3, 3))), [1])
    with pytest.raises(ValueError, match="candidates must be a whole number ≥ 1"):
        select_dp(np.zeros((2, 3)), np.zeros((3, 3)), candidates=0)
    with pytest.raises(ValueError, match="transitions must have 3 columns"):
        select_dp(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="transition_weight"):
        select_dp(np.zeros((2, 3)), np.zeros((3, 3)), transition_weight=-1.0)
    with pytest.raises(ValueError, match="NaN"):
        select_greedy(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="codes must lie in 0 … 2"):
        sequence_cost(np.array([0, 3]), np.zeros((2, 3)), np.zeros((3, 3)))
    assert code_changes(np.array([4, 4, 1, 1, 1, 4])).tolist() == [2, 5]
    assert code_changes(np.array([], dtype=np.int64)).tolist() == []


def test_select_dp_speed() -> None:
    rng = np.random.default_rng(0)
    costs = rng.random((400, 512)) * 10
    transitions = transition_costs(rng.integers(0, 5, (512, 512)).astype(np.float64))
    fastest = math.inf
    for _ in range(3):
        start = time.perf_counter()
        select_dp(costs, transitions, 1.0, candidates=64)
        fastest = min(fastest, time.perf_counter() - start)
    assert fastest < 0.1, f"T=400, K=512, 64 candidates took {fastest * 1e3:.0f} ms"
