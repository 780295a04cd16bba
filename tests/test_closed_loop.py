"""The closed loop of `latent.closed_loop`: known answers on synthetic renderers."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from timbrespace.latent.closed_loop import (
    SLOPE_MAX,
    SLOPE_MIN,
    octave_slip,
    secant_slopes,
    settle,
)


def place(targets: torch.Tensor) -> torch.Tensor:
    """The identity placement: a latent `[batch, controls, 1]` whose channels are the targets."""
    return targets[..., None].clone()


def test_secant_slopes_known_answers() -> None:
    b_now = torch.tensor([[2.0, 1.0, 3.0, 1.0, 5.0]])
    b_before = torch.tensor([[1.0, 1.0, 1.0, 0.0, 4.0]])
    m_now = torch.tensor([[0.5, 9.0, 10.0, -1.0, math.nan]])
    m_before = torch.tensor([[0.0, 2.0, 0.0, 0.0, 1.0]])
    slopes = secant_slopes(b_now, b_before, m_now, m_before)
    # 0.5 per unit; no move → 1; 5 per unit clipped to SLOPE_MAX; the wrong way → SLOPE_MAX;
    # undefined measurement → 1
    torch.testing.assert_close(slopes, torch.tensor([[0.5, 1.0, SLOPE_MAX, SLOPE_MAX, 1.0]]))


def test_secant_slopes_believe_a_large_reversal_at_a_believable_rate() -> None:
    b_now = torch.tensor([[2.0, 2.0, 2.0, 2.0]])
    b_before = torch.tensor([[1.0, 1.0, 1.0, 1.0]])
    m_now = torch.tensor([[-0.5, -0.01, -9.0, -0.1]])
    m_before = torch.zeros(1, 4)
    slopes = secant_slopes(b_now, b_before, m_now, m_before, torch.tensor([0.05]))
    # −0.5 per unit over 10 tolerances: believed; within 2 tolerances: careful; −9 per unit
    # (an octave slip's rate): careful; −0.1 per unit, 2 tolerances: believed, clipped
    torch.testing.assert_close(slopes, torch.tensor([[-0.5, SLOPE_MAX, SLOPE_MAX, -SLOPE_MIN]]))


def test_settle_turns_back_where_the_direction_works_the_wrong_way() -> None:
    """A renderer that measures 3 − 0.8·b (the direction darkens this sound): from a measured
    start, the loop reaches the request within 4 renders; without the start, the first
    correction still goes the wrong way, and the loop turns back after it."""

    def measure(z: torch.Tensor) -> torch.Tensor:
        return 3.0 - 0.8 * z[..., 0]

    requests = torch.tensor([[3.5]])
    start = torch.tensor([[0.0]])
    origin = (start, measure(place(start)))
    tolerance = torch.tensor([0.02])
    result = settle(place, measure, requests, requests, tolerance, max_renders=4, origin=origin)
    assert bool(result.reached.all()), result.measured
    assert abs(float(result.measured[0, 0]) - 3.5) <= 0.02
    blind = settle(place, measure, requests, requests, tolerance, max_renders=6)
    assert bool(blind.reached.all()), blind.measured


def test_settle_reaches_requests_through_a_biased_nonlinear_renderer() -> None:
    """The renderer measures 0.6·b + 1 + 0.05·b² for control 0 (a probe that is off in slope,
    offset and curvature) and nothing for control 1 (a PCA axis): the loop brings control 0
    within tolerance, leaves control 1 at its start target, and counts its renders."""

    def measure(z: torch.Tensor) -> torch.Tensor:
        b = z[..., 0]
        return torch.stack(
            [0.6 * b[:, 0] + 1 + 0.05 * b[:, 0] ** 2, torch.full_like(b[:, 1], math.nan)], 1
        )

    requests = torch.tensor([[4.0, math.nan], [0.0, math.nan]])
    start = torch.tensor([[4.0, 0.7], [0.0, -0.3]])
    result = settle(place, measure, requests, start, torch.tensor([0.01, 0.01]), max_renders=8)
    assert bool(result.reached.all())
    assert (result.measured[:, 0] - requests[:, 0]).abs().max() <= 0.01
    torch.testing.assert_close(result.latent_targets[:, 1], start[:, 1].double())
    assert 2 <= result.renders <= 8
    open_loop_error = (measure(place(start))[:, 0] - requests[:, 0]).abs()
    assert float(open_loop_error.min()) >= 0.2  # the open loop was 20 tolerances off


def test_settle_keeps_the_best_iterate_when_the_budget_ends() -> None:
    """A renderer that saturates at 1.0: the request 3.0 is unreachable; the loop keeps the
    closest measurement, reports it unreached, and never renders more than its budget."""
    calls = []

    def measure(z: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return torch.tanh(z[..., 0])

    result = settle(
        place,
        measure,
        torch.tensor([[3.0]]),
        torch.tensor([[0.0]]),
        torch.tensor([0.05]),
        max_renders=3,
    )
    assert len(calls) == 3 and result.renders == 3
    assert not bool(result.reached.any())
    assert float(result.measured[0, 0]) > math.tanh(0.0)


def test_a_sweep_step_keeps_a_render_made_for_another_step() -> None:
    """The steps of a sweep share their start, so a render made for one is a candidate for
    all: with one render each, two steps whose start targets are each other's requests both
    reach them; without `shared_start` (different starts) neither does."""
    requests, starts = torch.tensor([[1.0], [2.0]]), torch.tensor([[2.0], [1.0]])

    def run(shared: bool):
        return settle(
            place, lambda z: z[..., 0], requests, starts, torch.tensor([0.05]),
            max_renders=1, shared_start=shared,
        )  # fmt: skip

    pooled, alone = run(True), run(False)
    assert torch.equal(pooled.measured, requests) and bool(pooled.reached.all())
    assert torch.equal(pooled.latent_targets, requests)
    assert torch.equal(pooled.z[:, 0, 0], requests[:, 0].to(pooled.z.dtype))
    assert torch.equal(alone.measured, starts) and not bool(alone.reached.any())

    # a step none of whose renders measured (NaN: an unvoiced pitch) keeps its own render
    # rather than another step's sound far from its request
    def silent_above(z: torch.Tensor) -> torch.Tensor:
        measured = z[..., 0].clone()
        measured[measured > 5.0] = math.nan
        return measured

    far = settle(
        place, silent_above, torch.tensor([[1.0], [9.0]]), torch.tensor([[1.0], [9.0]]),
        torch.tensor([0.05]), max_renders=1, shared_start=True,
    )  # fmt: skip
    assert float(far.latent_targets[1, 0]) == 9.0 and math.isnan(float(far.measured[1, 0]))


def test_a_failed_measurement_is_never_kept_over_a_measured_one() -> None:
    """The first render measures 1.0 off; every later one fails to measure (NaN, like an
    unvoiced pitch): the first iterate is kept, reported unreached, and the loop stops after
    the failed render (nothing to correct by, so a third render would repeat the second)."""
    calls = []

    def measure(z: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return z[..., 0] + 1.0 if len(calls) == 1 else torch.full_like(z[..., 0], math.nan)

    result = settle(
        place,
        measure,
        torch.tensor([[2.0]]),
        torch.tensor([[2.0]]),
        torch.tensor([0.1]),
        max_renders=3,
    )
    assert float(result.latent_targets[0, 0]) == 2.0 and float(result.measured[0, 0]) == 3.0
    assert not bool(result.reached[0, 0]) and len(calls) == 2


def test_the_loop_stops_when_its_corrections_are_spent() -> None:
    """The measurement moves half as much as the latent target (0.5·b + 1.5, asked 0) and the
    target may move 2 from its start in all: b = 0, then −1.5 (slope 1), then the secant's −3
    is held at −2, where it stays: no fourth render would differ."""
    calls = []

    def measure(z: torch.Tensor) -> torch.Tensor:
        calls.append(float(z[0, 0, 0]))
        return 0.5 * z[..., 0] + 1.5

    result = settle(
        place,
        measure,
        torch.tensor([[0.0]]),
        torch.tensor([[0.0]]),
        torch.tensor([0.15]),
        max_renders=6,
        max_offset=torch.tensor([2.0]),
    )
    assert calls == [0.0, -1.5, -2.0] and result.renders == 3
    assert float(result.measured[0, 0]) == 0.5 and not bool(result.reached.any())


def test_the_secant_after_a_better_render_uses_the_render_before_it() -> None:
    """m = 0.5·b, asked 4 from b = 0: b = 4 (slope 1) measures 2, the secant (2 − 0)/(4 − 0)
    = 0.5 sends b to 8, which measures 4 at the third render. Keeping the better render used
    to overwrite the earlier measurement the secant reads, so its slope became SLOPE_MAX and the
    third render went to b = 4.5."""
    calls = []

    def measure(z: torch.Tensor) -> torch.Tensor:
        calls.append(float(z[0, 0, 0]))
        return 0.5 * z[..., 0]

    result = settle(
        place, measure, torch.tensor([[4.0]]), torch.tensor([[0.0]]), torch.tensor([0.01]),
        max_renders=4,
    )  # fmt: skip
    assert calls == [0.0, 4.0, 8.0]
    assert bool(result.reached.all()) and float(result.measured[0, 0]) == 4.0


def test_a_miss_beyond_every_correction_keeps_the_first_render() -> None:
    """The measurement reads 12 above the latent target (a tracker's octave slip) and the target
    may move 2 in all: no correction can reach the request, so the first render is kept. (A
    render at the limit rescued 1 of 13 such pitch moves on a hydrogen beat, and cost each a
    second decode: `benchmarks/studio_latency.py`.)"""
    calls = []

    def measure(z: torch.Tensor) -> torch.Tensor:
        calls.append(float(z[0, 0, 0]))
        return z[..., 0] + 12.0

    result = settle(
        place, measure, torch.tensor([[0.0]]), torch.tensor([[0.0]]), torch.tensor([0.15]),
        max_renders=4, max_offset=torch.tensor([2.0]),
    )  # fmt: skip
    assert calls == [0.0] and result.renders == 1
    assert float(result.measured[0, 0]) == 12.0 and not bool(result.reached.any())


def test_a_measurement_that_stops_answering_ends_the_loop() -> None:
    """A tracker's floor: whatever the target, the measurement reads 1.0 against a request of
    0.8 (within reach of the corrections): the loop stops at the second render, when the
    measurement did not change."""
    calls = []

    def measure(z: torch.Tensor) -> torch.Tensor:
        calls.append(float(z[0, 0, 0]))
        return torch.ones_like(z[..., 0])

    result = settle(
        place, measure, torch.tensor([[0.8]]), torch.tensor([[1.0]]), torch.tensor([0.15]),
        max_renders=4, max_offset=torch.tensor([2.0]),
    )  # fmt: skip
    assert len(calls) == 2 and result.renders == 2


def test_the_best_render_is_chosen_by_the_set_control_before_the_locked_one() -> None:
    """Render 1 hits the set control and misses the lock by 3 tolerances; render 2 holds the
    lock and misses the set control by 2: with the lock weighted 0.2, render 1 is kept."""
    script = iter([torch.tensor([[0.0, 3.0]]), torch.tensor([[2.0, 0.0]])])

    def measure(z: torch.Tensor) -> torch.Tensor:
        return next(script).double()

    zero = torch.zeros(1, 2)
    result = settle(
        place, measure, zero, zero, torch.ones(2), max_renders=2, weights=torch.tensor([1.0, 0.2])
    )
    assert result.measured.tolist() == [[0.0, 3.0]]
    unweighted = iter([torch.tensor([[0.0, 3.0]]), torch.tensor([[2.0, 0.0]])])
    plain = settle(
        place, lambda z: next(unweighted).double(), zero, zero, torch.ones(2), max_renders=2
    )
    assert plain.measured.tolist() == [[2.0, 0.0]]


def test_a_locked_pitch_read_an_octave_off_is_the_trackers_slip_not_the_sounds() -> None:
    """Render 1 misses the set control (a release) by 4 tolerances and holds the pitch; render 2
    hits the release and its pitch reads 12 semitones down, beyond the 2 a pitch may be
    corrected (a tracker's slip). Locked, the pitch's slip does not count: render 2 is kept and
    reached. Set (both controls chosen), the slip counts: render 1 is kept."""

    def run(locked: bool):  # noqa: ANN202
        answers = iter([torch.tensor([[4.0, 0.0]]), torch.tensor([[0.0, -12.0]])])
        zero = torch.zeros(1, 2)
        return settle(
            place, lambda z: next(answers).double(), zero, zero, torch.ones(2), max_renders=2,
            weights=torch.tensor([1.0, 0.2 if locked else 1.0]),
            max_offset=torch.tensor([math.inf, 2.0]), locked=torch.tensor([False, locked]),
        )  # fmt: skip

    held = run(locked=True)
    assert held.measured.tolist() == [[0.0, -12.0]] and bool(held.reached.all())
    chosen = run(locked=False)
    assert chosen.measured.tolist() == [[4.0, 0.0]] and chosen.reached.tolist() == [[False, True]]


def test_a_set_pitch_read_whole_octaves_off_is_the_trackers_slip() -> None:
    """Errors (semitones) beyond a 2-semitone correction and within one of ±12 or ±24 are slips;
    3, 7 or 18 semitones off, or an octave within reach of the correction, are not. A set
    pitch read 24 semitones down (a demo kick at 220 Hz read 55 Hz; pyin: 220 Hz) is not
    corrected: render 1 is kept and the loop stops there, where it used to step 2 semitones
    towards the slip and keep that detuned render."""
    error = torch.tensor([[12.0, -24.4, 12.9, 3.0, -7.0, 18.0, 11.0]])
    limit = torch.tensor([2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 12.0])
    slips = octave_slip(error, limit, torch.full((7,), 0.15))
    assert slips.tolist() == [[True, True, True, False, False, False, False]]
    answers = iter([torch.tensor([[24.0]]), torch.tensor([[2.0]])])
    zero = torch.zeros(1, 1)
    result = settle(
        place, lambda z: next(answers).double(), zero, zero, torch.full((1,), 0.15),
        max_renders=2, max_offset=torch.tensor([2.0]), octaves=torch.tensor([True]),
    )  # fmt: skip
    assert result.renders == 1 and result.measured.tolist() == [[24.0]]


def test_a_locked_time_is_held_within_the_envelope_resolution() -> None:
    from timbrespace.latent.control import Control
    from timbrespace.space_loop import RELATIVE_TOLERANCE, TIME_RESOLUTION_S, loop_tolerance

    attack = Control.from_direction("attack", torch.ones(4, dtype=torch.float64), unit="s")
    attack = dataclasses.replace(attack, scale="log")
    two_ms = math.log(0.002)
    assert loop_tolerance(attack, two_ms, False) == pytest.approx(math.log1p(RELATIVE_TOLERANCE))
    assert loop_tolerance(attack, two_ms, True) == pytest.approx(
        math.log1p(TIME_RESOLUTION_S / 0.002)
    )
    one_s = 0.0  # a second: 5 % is coarser than the resolution, and stays
    assert loop_tolerance(attack, one_s, True) == pytest.approx(math.log1p(RELATIVE_TOLERANCE))


def test_a_loop_that_re_aims_follows_a_descriptor_its_fitted_direction_misses() -> None:
    """A descriptor `sin(z₁)` whose fitted direction moves only z₀: the fixed-direction loop
    cannot change it at all; re-aimed along the gradient at each segment's start (`aim`), the
    loop reaches 0.9 from 0 within tolerance, counting each aim as a render."""
    from timbrespace.latent.control import Control
    from timbrespace.latent.settings import Setting
    from timbrespace.space_loop import AIMED_RENDERS, closed_loop_move

    fitted = Control("brightness", torch.tensor([1.0, 0.0]), 0.0, "", "linear", range=(-1, 1))

    def measure(latents: torch.Tensor, controls: object) -> torch.Tensor:
        return torch.sin(latents[:, 1, :].mean(dim=-1, keepdim=True)).double()

    def aim(anchor: torch.Tensor, controls: list[Control]) -> list[Control]:
        at = float(anchor[0, 1, 0])
        direction = torch.tensor([0.0, math.cos(at)], dtype=torch.float64)
        offset = math.sin(at) - float(direction @ anchor[0, :, 0].double())
        return [dataclasses.replace(fitted, direction=direction, offset=offset)]

    z = torch.zeros(1, 2, 1, dtype=torch.float64)
    setting = Setting("brightness", 0.9, False, "")
    targets = torch.full((1, 1, 1), 0.9, dtype=torch.float64)
    common = {"start": None, "measurable": [True]}
    fixed = closed_loop_move(z, [setting], [fitted], [], targets, measure, **common)
    assert float(fixed[2][0, 0]) == pytest.approx(0.0, abs=1e-9)
    z_new, _, measured, renders, _ = closed_loop_move(
        z, [setting], [fitted], [], targets, measure, aim=aim, **common
    )
    assert float(measured[0, 0]) == pytest.approx(0.9, rel=0.05)
    assert float(measure(z_new, None)[0, 0]) == float(measured[0, 0])
    assert 2 <= renders <= AIMED_RENDERS


def _history_move(history, control, measure, z: torch.Tensor, request: float):  # noqa: ANN001, ANN202
    """A closed-loop move of `control` to `request` from latent `z`, warm-started from
    `history` and remembered there: (measured, renders)."""
    from timbrespace.latent.settings import Setting
    from timbrespace.space_history import LoopHistory
    from timbrespace.space_loop import closed_loop_move

    key = LoopHistory.key(z, [control], [])
    targets = torch.full((1, 1, 1), request, dtype=torch.float64)
    settled = closed_loop_move(
        z, [Setting(control.name, request, False, "")], [control], [], targets, measure,
        start=None, measurable=[True], warm=lambda asked, near: history.predict(key, asked, near),
    )  # fmt: skip
    history.record(key, settled.tried)
    return float(settled.measured[0, 0]), settled.renders


def test_a_drag_from_one_sound_starts_where_the_last_move_ended() -> None:
    """A pitch whose measurement sits 0.4 st under its latent value (a drum's tracked pitch
    under its synth's base pitch): the first move from a start needs a second render; a move
    from the same start to a request 0.3 st away, warm-started from the history, lands within
    15 cents at once. Another start has no history."""
    from timbrespace.latent.control import Control
    from timbrespace.space_history import LoopHistory

    pitch = Control("pitch", torch.tensor([1.0, 0.0]), 0.0, "Hz", "semitones", range=(-24, 24))
    history = LoopHistory()

    def measure(latents: torch.Tensor, controls: object) -> torch.Tensor:
        return (latents[:, :1, :].mean(dim=-1) - 0.4).double()

    def move(z: torch.Tensor, request: float) -> tuple[float, int]:
        return _history_move(history, pitch, measure, z, request)

    z = torch.zeros(1, 2, 1, dtype=torch.float64)
    assert move(z, 3.0) == (pytest.approx(3.0, abs=0.15), 2)
    assert move(z, 3.3) == (pytest.approx(3.3, abs=1e-9), 1)
    assert move(z + 0.5, 3.3)[1] == 2


def test_the_history_keeps_a_start_measurement_per_start_and_controls() -> None:
    """A start's measurement is remembered under its latent and control names, copied out, and
    the oldest starts are forgotten past `HISTORY_STARTS`."""
    from timbrespace.latent.control import Control
    from timbrespace.space_history import HISTORY_STARTS, LoopHistory

    pitch = Control("pitch", torch.tensor([1.0, 0.0]), 0.0, "Hz", "semitones", range=(-24, 24))
    attack = dataclasses.replace(pitch, name="attack", scale="log", unit="s")
    history = LoopHistory()
    z = torch.zeros(1, 2, 1)
    key = LoopHistory.key(z, [pitch], [attack])
    assert history.start(key) is None
    history.remember_start(key, torch.tensor([[3.0, -4.0]]))
    remembered = history.start(key)
    assert remembered is not None and remembered.tolist() == [[3.0, -4.0]]
    remembered += 1
    assert history.start(key).tolist() == [[3.0, -4.0]]  # type: ignore[union-attr]
    assert history.start(LoopHistory.key(z, [pitch], [])) is None
    assert history.start(LoopHistory.key(z + 1, [pitch], [attack])) is None
    for k in range(HISTORY_STARTS):
        history.remember_start(LoopHistory.key(z + 2 + k, [pitch], []), torch.zeros(1, 1))
    assert history.start(key) is None


def test_a_sound_measured_again_is_answered_from_memory() -> None:
    """`MeasureMemo` measures only the descriptors it has not measured on the same sound (by
    content, not by array), and answers with the values of a direct measurement."""
    import numpy as np

    from timbrespace.audio.descriptors import DescriptorSettings, compute_descriptors
    from timbrespace.space_history import MeasureMemo

    settings = DescriptorSettings(sample_rate=16000)
    asked: list[list[str]] = []

    def measure(audio: np.ndarray, names: list[str]):  # noqa: ANN202
        asked.append(list(names))
        return compute_descriptors(audio, settings, names)

    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-3 * t)).astype(np.float32)[None]
    memo = MeasureMemo(measure)
    first = memo(tone, ["f0"])
    both = memo(tone.copy(), ["centroid", "f0"])
    assert asked == [["f0"], ["centroid"]]
    direct = compute_descriptors(tone, settings, ["centroid", "f0"])
    np.testing.assert_array_equal(both.clip, direct.clip)
    np.testing.assert_array_equal(both.curves, direct.curves)
    assert first.value("f0") == both.value("f0") == pytest.approx(220.0, rel=0.01)
    memo(0.5 * tone, ["f0"])
    assert asked[-1] == ["f0"]


def test_a_drag_across_a_kink_starts_between_the_renders_around_its_request() -> None:
    """A release whose measurement grows 2.4 times its latent value above 0 and once below (a
    ride's own release). After moves to -1 and 2.4, a move to 1 starts interpolated between the
    renders measured nearest below (-1 at -1) and above (2.16 at 0.9) it, at 0.20 (measures
    0.49; the nearest render's offset alone would start at 0, measuring 0), and its first
    secant slope comes from the render nearest that start (at 0.9, across the kink: 2.4):
    2 renders, where a start at 0 with a slope of 1 takes 3."""
    from timbrespace.latent.control import Control
    from timbrespace.space_history import LoopHistory

    release = Control("release", torch.tensor([1.0, 0.0]), 0.0, "s", "linear", range=(-3, 3))
    history = LoopHistory()

    def measure(latents: torch.Tensor, controls: object) -> torch.Tensor:
        b = latents[:, :1, :].mean(dim=-1).double()
        return torch.where(b > 0, 2.4 * b, b)

    z = torch.zeros(1, 2, 1, dtype=torch.float64)
    key = LoopHistory.key(z, [release], [])

    def move(request: float) -> tuple[float, int]:
        return _history_move(history, release, measure, z, request)

    assert move(-1.0) == (pytest.approx(-1.0), 1)
    assert move(2.4) == (pytest.approx(2.4, abs=0.12), 3)
    warm = history.predict(key, torch.tensor([[1.0]], dtype=torch.float64))
    assert warm is not None
    assert float(warm.targets[0, 0]) == pytest.approx(1.0 - 2.0 / 3.16 * 1.26, abs=0.01)
    assert float(warm.neighbour[0][0, 0]) == pytest.approx(0.9, abs=0.01)
    assert move(1.0) == (pytest.approx(1.0, abs=0.05), 2)


def test_the_history_makes_a_render_again_where_no_render_measures_the_request() -> None:
    """Earlier renders (latent target, measured) of one set control: a request an earlier
    render measured within reach makes that render again; one between renders that flip across
    it (a target between the two nearest measured outside them), or across a jump (0.01 apart
    in the latent, 1 apart measured), makes the nearer of the two again; one on a steady rise
    is interpolated."""
    from timbrespace.latent.control import Control
    from timbrespace.space_history import LoopHistory

    release = Control("release", torch.tensor([1.0, 0.0]), 0.0, "s", "log", range=(-3, 3))
    reach = torch.tensor([[0.05]], dtype=torch.float64)

    def history_of(renders: list[tuple[float, float]]) -> tuple[LoopHistory, tuple]:
        history, z = LoopHistory(), torch.zeros(1, 2, 1)
        key = LoopHistory.key(z, [release], [])
        tried = [(torch.tensor([[b]]), torch.tensor([[m]])) for b, m in renders]
        history.record(key, [*tried, tried[0]])  # a render made again is kept once
        return history, key

    def start(history: LoopHistory, key: tuple, request: float) -> tuple[float, bool]:
        warm = history.predict(key, torch.tensor([[request]], dtype=torch.float64), reach)
        assert warm is not None
        return float(warm.targets[0, 0]), warm.repeat

    flipping, key = history_of([(-1.0, -1.0), (0.1, 0.1), (0.3, 1.3), (0.2, 0.05)])
    assert start(flipping, key, 1.31) == (pytest.approx(0.3), True)
    assert start(flipping, key, 0.5) == (pytest.approx(0.1), True)
    assert len(flipping._starts.get(key).tried) == 4  # noqa: SLF001
    jumping, key = history_of([(-1.0, -1.0), (0.1, 0.1), (0.11, 1.11), (1.0, 3.0)])
    assert start(jumping, key, 0.8) == (pytest.approx(0.11), True)
    assert start(jumping, key, 0.3) == (pytest.approx(0.1), True)
    between = 1.5 - 1.0 - (1.5 - 1.11) / (3.0 - 1.11)  # offsets -1 and -2 interpolated
    assert start(jumping, key, 1.5) == (pytest.approx(between), False)


def test_the_bracket_keeps_the_nearest_renders_on_either_side_of_a_request() -> None:
    """Request 1 (tolerance 0.05): renders measuring 0.5 at 0 and 2 at 1 bracket it, a secant
    step to 1.5 is replaced by the midpoint 0.5 and one to 0.3 kept; renders at 0.5 (0.9) and
    0.505 (1.5) narrow it to a jump; a render measured an octave away (beyond every
    correction) is not taken."""
    from timbrespace.latent.closed_loop import Bracket

    request, tolerance = torch.ones(1, 1), torch.full((1, 1), 0.05)
    bracket = Bracket.empty(request)

    def add(target: float, measured: float, limit: float = math.inf) -> None:
        bracket.add(
            request,
            torch.tensor([[target]]),
            torch.tensor([[measured]]),
            torch.full((1, 1), limit),
            tolerance,
        )

    add(0.0, 0.5)
    add(1.0, 2.0)
    assert float(bracket.safeguard(torch.tensor([[1.5]]))[0, 0]) == pytest.approx(0.5)
    assert float(bracket.safeguard(torch.tensor([[0.3]]))[0, 0]) == pytest.approx(0.3)
    assert not bool(bracket.jumped(tolerance)[0, 0])
    add(0.5, 0.9)
    add(0.505, 1.5)
    assert float(bracket.below[0][0, 0]) == 0.5
    assert float(bracket.above[0][0, 0]) == pytest.approx(0.505)
    assert bool(bracket.jumped(tolerance)[0, 0])
    add(0.502, 13.0, limit=2.0)
    assert float(bracket.above[1][0, 0]) == pytest.approx(1.5)


def test_the_history_renders_a_latent_it_rendered_again_from_memory() -> None:
    """`LoopHistory.rendering`: the same latents (and options) render once; the answer is a
    copy; other latents or options render anew; only the `RENDERS_KEPT` latest are kept."""
    import numpy as np

    from timbrespace.space_history import RENDERS_KEPT, LoopHistory

    calls: list[float] = []

    def render(latents: torch.Tensor) -> np.ndarray:
        calls.append(float(latents.sum()))
        return np.full((latents.shape[0], 1, 4), float(latents.sum()), dtype=np.float32)

    history = LoopHistory()
    plain, other = history.rendering(render, None), history.rendering(render, 32)
    z = torch.ones(1, 3, 1)
    first = plain(z)
    first[:] = -1.0
    assert plain(z)[0, 0, 0] == 3.0 and len(calls) == 1
    other(z)
    plain(z + 1)
    assert len(calls) == 3
    for k in range(RENDERS_KEPT):
        plain(z + 2 + k)
    plain(z)
    assert len(calls) == 4 + RENDERS_KEPT
