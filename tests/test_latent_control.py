"""Constrained latent moves, with known answers: min ‖z′ − z‖ subject to A z′ = b′."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.analysis import fit_pca, fit_probe
from timbrespace.latent.control import Control, apply_controls, set_controls
from timbrespace.latent.settings import Setting, parse_setting, parse_sweep, sweep_targets

DIM = 16


def random_controls(n: int = 3, dim: int = DIM, seed: int = 0) -> list[Control]:
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    offsets = torch.randn(n, generator=generator, dtype=torch.float64)
    return [Control(f"c{i}", rows[i], float(offsets[i])) for i in range(n)]


def matrix(controls: list[Control]) -> tuple[torch.Tensor, torch.Tensor]:
    offsets = torch.tensor([c.offset for c in controls], dtype=torch.float64)
    return torch.stack([c.direction for c in controls]), offsets


def random_latent(batch: int = 1, frames: int = 1, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, DIM, frames, generator=generator, dtype=torch.float64)


def control_values(controls: list[Control], z: torch.Tensor) -> torch.Tensor:
    """`[batch, n, frames]` values of each control."""
    return torch.stack([torch.as_tensor(c.value(z)).double() for c in controls], dim=1)


def null_space(a: torch.Tensor) -> torch.Tensor:
    """Orthonormal basis `[dim, dim − rank]` of the vectors orthogonal to A's rows."""
    _, _, vh = torch.linalg.svd(a)
    return vh[a.shape[0] :].T


def test_constraints_hold_exactly_in_float64_and_float32() -> None:
    controls = random_controls()
    a, c = matrix(controls)
    z = random_latent()
    targets = torch.tensor([1.5, -2.0, 0.7], dtype=torch.float64)

    result = apply_controls(z, controls, targets)
    result32 = apply_controls(z.float(), controls, targets)

    torch.testing.assert_close(a @ result.z_new[0, :, 0] + c, targets, rtol=0, atol=1e-9)
    torch.testing.assert_close(result.achieved[0, :, 0], targets, rtol=0, atol=1e-9)
    assert result32.z_new.dtype == torch.float32
    torch.testing.assert_close(a @ result32.z_new[0, :, 0].double() + c, targets, rtol=0, atol=1e-5)
    assert result.warnings == [] and result.clamped == []


def test_move_is_the_closed_form_and_closer_than_any_other_feasible_point() -> None:
    controls = random_controls()
    a, c = matrix(controls)
    z = random_latent()[0, :, 0]
    b = torch.tensor([3.0, 1.0, -4.0], dtype=torch.float64)

    z_new = apply_controls(z[None, :, None], controls, b).z_new[0, :, 0]

    closed_form = z + a.T @ torch.linalg.solve(a @ a.T, b - c - a @ z)
    torch.testing.assert_close(z_new, closed_form, rtol=0, atol=1e-10)
    generator = torch.Generator().manual_seed(2)
    basis = null_space(a)
    scales = torch.logspace(-6, 1, 1000, dtype=torch.float64)[:, None]
    others = z_new + scales * (
        torch.randn(1000, DIM - 3, generator=generator, dtype=torch.float64) @ basis.T
    )
    particular = z.clone()
    particular[:3] = torch.linalg.solve(a[:, :3], b - c - a[:, 3:] @ z[3:])
    candidates = torch.cat([others, particular[None]])
    torch.testing.assert_close(candidates @ a.T + c, b.expand(1001, 3), rtol=0, atol=1e-8)
    best = float((z_new - z).norm())
    assert bool(((candidates - z).norm(dim=1) > best).all())


def test_directions_orthogonal_to_the_controls_are_untouched() -> None:
    controls = random_controls()
    a, _ = matrix(controls)
    z = random_latent(batch=2, frames=3)

    moved = apply_controls(z, controls, [10.0, -10.0, 5.0]).z_new - z

    basis = null_space(a)
    assert float(moved.norm()) > 1.0
    torch.testing.assert_close(
        torch.einsum("dk,bdf->bkf", basis, moved),
        torch.zeros(2, DIM - 3, 3, dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )


def test_setting_the_current_value_returns_z_unchanged() -> None:
    controls = random_controls()
    z32 = random_latent(batch=2, frames=4).float()
    current = control_values(controls, z32.double())

    result = apply_controls(z32, controls, current)
    relative = set_controls(z32, ["c0+=0", "c2=+0%"], {c.name: c for c in controls}, lock=["c1"])

    assert torch.equal(result.z_new, z32)
    assert result.z_new is not z32
    assert torch.equal(relative.z_new, z32)


def test_locked_control_keeps_its_value_while_another_moves() -> None:
    pitch, attack = random_controls(2, seed=3)
    z = random_latent()
    attack_before = float(attack.value(z)[0, 0])

    free = apply_controls(z, [pitch], [5.0])
    locked = apply_controls(z, [pitch], [5.0], locked=[attack])

    assert abs(float(attack.value(free.z_new)[0, 0]) - attack_before) > 0.1
    assert float(attack.value(locked.z_new)[0, 0]) == pytest.approx(attack_before, abs=1e-9)
    assert float(pitch.value(locked.z_new)[0, 0]) == pytest.approx(5.0, abs=1e-9)
    assert locked.achieved.shape == (1, 1, 1)


def test_nearly_collinear_controls_give_a_finite_result_and_a_warning() -> None:
    e1, e2 = torch.eye(DIM, dtype=torch.float64)[:2]
    first = Control("punch", e1)
    second = Control("click", 0.999 * e1 + math.sqrt(1 - 0.999**2) * e2)
    z = random_latent()

    result = apply_controls(z, [first, second], [2.0, -2.0])
    parallel = apply_controls(z, [first, Control("copy", 2.0 * e1)], [2.0, 8.0])

    assert bool(torch.isfinite(result.z_new).all())
    assert any("'punch'" in w and "'click'" in w and "collinear" in w for w in result.warnings)
    torch.testing.assert_close(
        result.achieved[0, :, 0], torch.tensor([2.0, -2.0], dtype=torch.float64)
    )
    assert bool(torch.isfinite(parallel.z_new).all())
    assert float((parallel.z_new - z).norm()) < 10.0
    assert any("could not reach" in w and "copy" in w for w in parallel.warnings)


def test_linear_dependence_beyond_pairs_is_named() -> None:
    a, b, c = random_controls(3, seed=4)
    combined = Control("sum", a.direction + b.direction)
    result = apply_controls(random_latent(), [a, b, combined, c], [1.0, 2.0, 3.0, 0.0])
    assert any("'c0', 'c1', 'sum'" in w and "dependent" in w for w in result.warnings)
    assert bool(torch.isfinite(result.z_new).all())


def test_targets_outside_the_data_range_clamp_or_extrapolate() -> None:
    control = Control("brightness", torch.eye(DIM, dtype=torch.float64)[0], range=(-1.0, 1.0))
    z = torch.zeros(1, DIM, 1, dtype=torch.float64)

    clamped = apply_controls(z, [control], [5.0])
    extrapolated = apply_controls(z, [control], [5.0], extrapolate=True)
    unchecked = apply_controls(z, [control], [5.0], clamp=False)
    inside = apply_controls(z, [control], [0.5])

    assert clamped.clamped == ["brightness"] and float(clamped.achieved[0, 0, 0]) == pytest.approx(
        1.0
    )
    assert float(clamped.targets[0, 0, 0]) == 1.0
    assert any("clamped" in w and "brightness" in w for w in clamped.warnings)
    assert "5 is outside the data range [-1, 1]; clamped to 1 " in clamped.warnings[0]
    assert extrapolated.clamped == [] and float(extrapolated.achieved[0, 0, 0]) == pytest.approx(
        5.0
    )
    assert any("extrapolating" in w for w in extrapolated.warnings)
    assert unchecked.warnings == [] and float(unchecked.achieved[0, 0, 0]) == pytest.approx(5.0)
    assert inside.clamped == [] and inside.warnings == []


def test_batch_of_paths_equals_per_item_per_frame_application() -> None:
    controls = random_controls()
    locked = random_controls(1, seed=5)
    locked = [Control("keep", locked[0].direction)]
    z = random_latent(batch=3, frames=4)
    targets = torch.randn(3, 3, 4, generator=torch.Generator().manual_seed(6), dtype=torch.float64)

    batched = apply_controls(z, controls, targets, locked=locked).z_new

    for b in range(3):
        for f in range(4):
            single = apply_controls(
                z[b : b + 1, :, f : f + 1], controls, targets[b, :, f], locked=locked
            )
            torch.testing.assert_close(batched[b, :, f], single.z_new[0, :, 0], rtol=0, atol=1e-12)
    per_batch = apply_controls(z, controls, targets[:, :, 0]).achieved
    torch.testing.assert_close(per_batch, targets[:, :, :1].expand(3, 3, 4), rtol=0, atol=1e-9)


def test_numpy_latents_come_back_as_numpy() -> None:
    controls = random_controls()
    z = random_latent().numpy().astype(np.float32)
    result = apply_controls(z, controls, [0.0, 1.0, 2.0])
    assert isinstance(result.z_new, np.ndarray) and result.z_new.dtype == np.float32
    np.testing.assert_allclose(result.achieved[0, :, 0], [0.0, 1.0, 2.0], atol=1e-5)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pitch=+3st", Setting("pitch", 3.0, True, "st")),
        ("pitch=-12st", Setting("pitch", -12.0, True, "st")),
        ("pitch=440Hz", Setting("pitch", 440.0, False, "Hz")),
        ("pitch=1.2kHz", Setting("pitch", 1200.0, False, "Hz")),
        ("attack=0.005s", Setting("attack", 0.005, False, "s")),
        ("loudness=-12dB", Setting("loudness", -12.0, False, "dB")),
        ("pca1=1.5", Setting("pca1", 1.5, False, "")),
        ("pca1=-1.5e-1", Setting("pca1", -0.15, False, "")),
        ("decay=+20%", Setting("decay", 20.0, True, "%")),
        ("loudness+=3dB", Setting("loudness", 3.0, True, "dB")),
        ("pca2 -= 0.5", Setting("pca2", -0.5, True, "")),
        ("pack:dr-110=1", Setting("pack:dr-110", 1.0, False, "")),
        ("pitch=+50c", Setting("pitch", 0.5, True, "st")),
        ("pitch=-1200cents", Setting("pitch", -12.0, True, "st")),
        ("pitch=A4", Setting("pitch", 440.0, False, "Hz")),
        ("pitch = a5", Setting("pitch", 880.0, False, "Hz")),
    ],
)
def test_parse_setting(text: str, expected: Setting) -> None:
    assert parse_setting(text) == expected


@pytest.mark.parametrize(
    ("text", "hz"),
    [
        ("pitch=C4", 261.6255653),
        ("pitch=C#3", 138.5913155),
        ("pitch=Db3", 138.5913155),
        ("pitch=Bb2", 116.5409404),
        ("pitch=E♭1", 38.8908730),
        ("pitch=C-1", 8.1757990),
        ("pitch=B9", 15804.2656),
    ],
)
def test_note_names_are_equal_tempered_with_a4_at_440_hz(text: str, hz: float) -> None:
    setting = parse_setting(text)
    assert (setting.unit, setting.relative) == ("Hz", False)
    assert setting.value == pytest.approx(hz, rel=1e-7)


def test_sweeps_take_note_names_at_both_ends() -> None:
    sweep = parse_sweep("pitch=C3:C5:3")
    assert sweep.start.value == pytest.approx(130.8127827) and sweep.stop.value == pytest.approx(
        523.2511306
    )


def test_parse_milliseconds() -> None:
    setting = parse_setting("attack=5ms")
    assert setting.unit == "s" and setting.value == pytest.approx(0.005, rel=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pitch", "expected NAME=VALUE"),
        ("pitch=high", "expected NAME=VALUE"),
        ("=3", "expected NAME=VALUE"),
        ("pitch=3furlongs", "unknown unit 'furlongs'"),
    ],
)
def test_parse_setting_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=message):
        parse_setting(text)


def unit_controls(z_data: torch.Tensor) -> dict[str, Control]:
    """pitch: probe in semitones re 440 Hz (set in Hz); attack: log-seconds; loudness: dB."""
    e = torch.eye(DIM, dtype=torch.float64)
    controls = [
        Control("pitch", 2.0 * e[0] + e[1], 0.5, unit="Hz", scale="semitones"),
        Control("attack", e[2] - 0.3 * e[0], -5.0, unit="s", scale="log"),
        Control("loudness", 4.0 * e[3], -20.0, unit="dB"),
        Control.from_pca(fit_pca(z_data), 0),
    ]
    return {c.name: c for c in controls}


def test_user_units_move_controls_by_known_amounts() -> None:
    z_data = random_latent(batch=64)[:, :, 0] * torch.linspace(3, 0.1, DIM, dtype=torch.float64)
    controls = unit_controls(z_data)
    z = random_latent(batch=2, frames=3, seed=7)
    before = {name: torch.as_tensor(c.value(z)) for name, c in controls.items()}

    def after(settings: list[str], name: str) -> torch.Tensor:
        result = set_controls(z, settings, controls)
        assert result.warnings == []
        return torch.as_tensor(controls[name].value(result.z_new))

    torch.testing.assert_close(
        after(["pitch=+3st"], "pitch"), before["pitch"] + 3.0, rtol=0, atol=1e-9
    )
    torch.testing.assert_close(
        after(["pitch=880Hz"], "pitch"), torch.full((2, 3), 12.0, dtype=torch.float64)
    )
    log_attack = torch.full((2, 3), math.log(0.005), dtype=torch.float64)
    torch.testing.assert_close(after(["attack=0.005s"], "attack"), log_attack, rtol=0, atol=1e-9)
    torch.testing.assert_close(after(["attack=5ms"], "attack"), log_attack, rtol=0, atol=1e-9)
    torch.testing.assert_close(after(["attack=+100%"], "attack"), before["attack"] + math.log(2.0))
    torch.testing.assert_close(
        after(["loudness=-12dB"], "loudness"), torch.full((2, 3), -12.0, dtype=torch.float64)
    )
    torch.testing.assert_close(after(["loudness+=3dB"], "loudness"), before["loudness"] + 3.0)
    torch.testing.assert_close(
        after(["pca1=1.5"], "pca1"), torch.full((2, 3), 1.5, dtype=torch.float64)
    )
    both = set_controls(z, ["pitch=-5st", "attack=0.02s"], controls, lock=["loudness"])
    torch.testing.assert_close(
        both.achieved,
        torch.stack(
            [before["pitch"] - 5.0, torch.full((2, 3), math.log(0.02), dtype=torch.float64)], dim=1
        ),
    )
    torch.testing.assert_close(
        torch.as_tensor(controls["loudness"].value(both.z_new)), before["loudness"]
    )


def test_user_unit_errors() -> None:
    controls = unit_controls(random_latent(batch=32)[:, :, 0])
    z = random_latent()
    with pytest.raises(TimbrespaceError, match="semitones need a control in Hz"):
        set_controls(z, ["loudness=+3st"], controls)
    with pytest.raises(TimbrespaceError, match="attack: set in s, not Hz"):
        set_controls(z, ["attack=3Hz"], controls)
    with pytest.raises(TimbrespaceError, match="must be positive"):
        set_controls(z, ["attack=-0.1s"], controls)
    with pytest.raises(TimbrespaceError, match="set or locked twice"):
        set_controls(z, ["pitch=+1st"], controls, lock=["pitch"])


def test_unknown_control_names_list_the_known_ones() -> None:
    controls = unit_controls(random_latent(batch=32)[:, :, 0])
    with pytest.raises(
        TimbrespaceError,
        match="unknown control 'pich'; known controls: attack, loudness, pca1, pitch",
    ):
        set_controls(random_latent(), ["pich=+3st"], controls)
    with pytest.raises(TimbrespaceError, match="known controls: attack"):
        set_controls(random_latent(), ["pitch=+3st"], controls, lock=["atack"])
    with pytest.raises(TimbrespaceError, match="known controls: a, b"):
        parse_setting("c=1", known=["b", "a"])


def test_controls_from_analysis_and_their_ranges() -> None:
    rng = np.random.default_rng(8)
    z_data = rng.standard_normal((200, DIM)) * np.linspace(2, 0.1, DIM)
    f0_semitones = z_data[:, 0] * 4.0 - 2.0
    pca = fit_pca(z_data)
    probe = fit_probe(z_data, f0_semitones, name="f0", unit="Hz", scale="semitones")

    pitch = Control.from_probe(probe, name="pitch").with_range(z_data)
    axis = Control.from_pca(pca, 1)
    whitened = Control.from_pca(pca, 1, whiten=True)
    origin = z_data[:100].mean(0)
    punch = Control.from_direction("punch", z_data[100:].mean(0) - origin, origin=origin)

    values = pitch.value(z_data)
    assert pitch.range == (values.min(), values.max()) and pitch.unit == "Hz"
    np.testing.assert_allclose(axis.value(z_data), pca.transform(z_data)[:, 1], atol=1e-12)
    assert axis.name == "pca2"
    assert np.std(whitened.value(z_data), ddof=1) == pytest.approx(1.0)
    assert punch.value(origin) == pytest.approx(0.0, abs=1e-12)
    assert punch.value(z_data[100:].mean(0)) == pytest.approx(1.0)
    assert pitch.to_user(12.0) == pytest.approx(880.0) and pitch.from_user(220.0) == pytest.approx(
        -12.0
    )


def test_control_round_trips_through_json() -> None:
    control = Control(
        "attack", torch.randn(DIM, dtype=torch.float64), -1.25, "s", "log", (-6.5, -1.0)
    )
    restored = Control.from_dict(json.loads(json.dumps(control.to_dict())))
    assert torch.equal(restored.direction, control.direction)
    assert restored.to_dict() == control.to_dict()
    with pytest.raises(ValueError, match="non-zero"):
        Control("flat", torch.zeros(DIM))


def test_sweeps_parse_and_space_targets_evenly_on_the_control_scale() -> None:
    pitch = Control("pitch", torch.ones(DIM), 0.0, unit="Hz", scale="semitones")
    attack = Control("attack", torch.ones(DIM), 0.0, unit="s", scale="log")
    current = torch.tensor([[-9.0]])  # C5 − 9 st = 261.6 Hz
    relative = parse_sweep("pitch=-12st:+12st:5", ["pitch"])
    assert relative.steps == 5 and relative.start.relative and relative.stop.relative
    np.testing.assert_allclose(
        sweep_targets(relative, pitch, current)[0, :, 0], [-21.0, -15.0, -9.0, -3.0, 3.0]
    )
    absolute = sweep_targets(parse_sweep("pitch=110Hz:440Hz:3"), pitch, current)[0, :, 0]
    np.testing.assert_allclose(absolute, [-24.0, -12.0, 0.0], atol=1e-12)  # 110, 220, 440 Hz
    times = sweep_targets(parse_sweep("attack=1ms:100ms:3"), attack, torch.tensor([[0.0]]))
    np.testing.assert_allclose(np.exp(times[0, :, 0].numpy()), [0.001, 0.01, 0.1], rtol=1e-12)
    level = Control("loudness", torch.ones(DIM), 0.0, unit="dB")
    shifted = sweep_targets(parse_sweep("loudness+=-6dB:+6dB:3"), level, torch.tensor([[-20.0]]))
    np.testing.assert_allclose(shifted[0, :, 0], [-26.0, -20.0, -14.0])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pitch=-12st:+12st", "expected NAME=START:STOP:STEPS"),
        ("pitch=-12st:+12st:many", "STEPS must be a whole number"),
        ("pitch=-12st:+12st:1", "STEPS must be between 2 and 256"),
        ("pitch=-12st:+12parsecs:3", "unknown unit"),
        ("tone=1:2:3", "unknown control 'tone'; known controls: pitch"),
    ],
)
def test_sweep_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=message):
        parse_sweep(text, ["pitch"])


def test_physical_limits_hold_even_when_extrapolating() -> None:
    e = torch.eye(DIM, dtype=torch.float64)
    centroid = Control("brightness", e[0], unit="Hz", range=(100.0, 5000.0))
    release = Control("release", e[1], unit="s", scale="log", range=(math.log(0.1), 0.0))
    controls = [centroid.with_limits(0.0, 11025.0), release.with_limits(0.0, 1.0)]
    z = torch.zeros(1, DIM, 1, dtype=torch.float64)
    result = apply_controls(z, controls, [30000.0, math.log(1.5)], extrapolate=True)
    assert float(result.targets[0, 0, 0]) == 11025.0
    assert float(result.targets[0, 1, 0]) == pytest.approx(0.0)
    assert result.clamped == ["brightness", "release"]
    assert any(
        "brightness: 30000 Hz is impossible here" in w and "11025 Hz" in w for w in result.warnings
    )
    assert any(
        "release: 1.5 s is impossible here" in w and "clamped to 1 s" in w for w in result.warnings
    )
    inside = apply_controls(z, controls, [9000.0, math.log(0.5)], extrapolate=True)
    assert inside.clamped == [] and float(inside.targets[0, 0, 0]) == 9000.0


def test_a_request_beyond_what_the_model_renders_is_set_to_its_edge_in_hz() -> None:
    e = torch.eye(DIM, dtype=torch.float64)
    rendered = (math.log(300.0), math.log(6120.0))
    brightness = Control("brightness", e[0], unit="Hz", scale="log", range=rendered, rendered=True)
    brightness = brightness.with_limits(0.0, 11025.0)
    z = torch.zeros(1, DIM, 1, dtype=torch.float64)
    clamped = apply_controls(z, [brightness], [math.log(9000.0)])
    assert math.exp(float(clamped.targets[0, 0, 0])) == pytest.approx(6120.0)
    assert clamped.clamped == ["brightness"]
    assert any(
        w.startswith(
            "brightness: 9000 Hz is beyond what this model renders (max 6120 Hz); set 6120 Hz"
        )
        for w in clamped.warnings
    ), clamped.warnings
    low = apply_controls(z, [brightness], [math.log(100.0)])
    assert any("(min 300 Hz); set 300 Hz" in w for w in low.warnings)
    past = apply_controls(z, [brightness], [math.log(9000.0)], extrapolate=True)
    assert math.exp(float(past.targets[0, 0, 0])) == pytest.approx(9000.0)
    assert any(
        "beyond what this model renders" in w and "extrapolating" in w for w in past.warnings
    )
    physics = apply_controls(z, [brightness], [math.log(30000.0)], extrapolate=True)
    assert math.exp(float(physics.targets[0, 0, 0])) == pytest.approx(11025.0)
    data = Control("pca1", e[1], range=(-1.0, 1.0))
    assert any("outside the data range" in w for w in apply_controls(z, [data], [3.0]).warnings)


def test_a_time_beyond_what_the_model_renders_is_named_in_ms_under_a_second() -> None:
    """The studio typed 0.2 ms into a demo's attack and read "0.0002 s is beyond what this model
    renders (min 0.0004115 s)": a time under a second reads in ms, as its readout does."""
    e = torch.eye(DIM, dtype=torch.float64)
    rendered = (math.log(0.0004115), math.log(0.0447))
    attack = Control("attack", e[0], unit="s", scale="log", range=rendered, rendered=True)
    z = torch.zeros(1, DIM, 1, dtype=torch.float64)
    (warning,) = apply_controls(z, [attack], [math.log(0.0002)]).warnings
    assert warning.startswith(
        "attack: 0.2 ms is beyond what this model renders (min 0.4115 ms); set 0.4115 ms"
    ), warning
    release = Control("release", e[1], unit="s", scale="log", range=(math.log(0.2), math.log(1.5)))
    release = release.with_limits(0.0, 0.5)
    (physics, *_) = apply_controls(z, [release], [math.log(0.8)]).warnings
    assert physics.startswith("release: 800 ms is impossible here (physical range [0, 500] ms)")


def test_physical_limits_cut_the_range_and_rendered_survives_json() -> None:
    e = torch.eye(DIM, dtype=torch.float64)
    release = Control("release", e[1], unit="s", scale="log", range=(-3.0, 0.5), rendered=True)
    limited = release.with_limits(0.0, 1.0)
    assert limited.range == (-3.0, 0.0)  # log(1 s): not past the clip
    restored = Control.from_dict(json.loads(json.dumps(limited.to_dict())))
    assert restored.rendered and restored.range == limited.range
    assert not Control.from_dict({"name": "old", "direction": [1.0] * DIM}).rendered


def test_a_relative_request_from_the_measured_start_keeps_the_move_s_limits() -> None:
    """The closed loop takes `pitch=-12st` from the *measured* start (a hydrogen kick read
    33.9 Hz, 1 st under its readout): bounded, the request stops at the data range's low end
    (−5 st here) as the open-loop move did, instead of asking 12 st under the measurement;
    with --extrapolate only the physical range (20 Hz: −52.3 st) bounds it; an absolute
    setting is left as it is."""
    from timbrespace.latent.settings import bounded, setting_target

    pitch = Control("pitch", torch.ones(2), 0.0, "Hz", "semitones", range=(-5.0, 5.0)).with_limits(
        20.0, 4186.0
    )
    relative = parse_setting("pitch=-12st", ["pitch"])
    measured = torch.tensor([2.0], dtype=torch.float64)
    assert float(setting_target(relative, pitch, measured)[0]) == pytest.approx(-10.0)
    kept = bounded(relative, pitch, extrapolate=False)
    assert float(setting_target(kept, pitch, measured)[0]) == pytest.approx(-5.0)
    free = bounded(relative, pitch, extrapolate=True)
    assert free.bounds is not None
    assert free.bounds[0] == pytest.approx(12 * math.log2(20.0 / 440.0))
    assert float(setting_target(free, pitch, measured - 45)[0]) == pytest.approx(free.bounds[0])
    absolute = parse_setting("pitch=A4", ["pitch"])
    assert bounded(absolute, pitch, extrapolate=False) is absolute
