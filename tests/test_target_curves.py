"""Target curves (`latent.target_curves`): the text syntax, each shape's known values, CSVs."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.target_curves import (
    CurveError,
    CurveSpec,
    curve_values,
    describe_curve,
    parse_curve,
    read_curve_csv,
)

KNOWN = ("loudness", "centroid", "f0")  # unsorted on purpose: messages list them sorted


def values(text: str, frames: int) -> np.ndarray:
    return curve_values(parse_curve(text, KNOWN), frames)


# --- parsing --------------------------------------------------------------------------------------


def test_parse_curve_fields_case_and_whitespace() -> None:
    spec = parse_curve(" Centroid = Sine : 800 : 4000 : 2 ", KNOWN)
    assert spec == CurveSpec("centroid", "sine", (800.0, 4000.0, 2.0, 0.0), spec.text)
    assert spec.text == " Centroid = Sine : 800 : 4000 : 2 "
    assert parse_curve("F0=steps: 100, 200 ,300", KNOWN).params == (100.0, 200.0, 300.0)
    assert parse_curve("f0=sine:100:200:0.5:0.25", KNOWN).params == (100.0, 200.0, 0.5, 0.25)
    assert parse_curve("loudness=const:-12", KNOWN).params == (-12.0,)


@pytest.mark.parametrize(
    ("text", "position", "message"),
    [
        ("centroid=sine:800:x:2", 19, "expected a number, got 'x'"),
        ("centroid = ramp : 1 : x ", 23, "expected a number, got 'x'"),
        ("centroid", 9, "expected '=' after the descriptor name"),
        ("centroid:ramp:1:2", 9, "expected '=' after the descriptor name"),
        ("=ramp:1:2", 1, "expected a descriptor name"),
        ("centroid=", 10, "expected a shape, one of const, ramp, log, exp, sine, steps"),
        ("centroid=sin:1:2", 10, "unknown shape 'sin'; expected one of const, ramp, log, exp"),
        ("centroid=ramp:1", 16, "ramp takes 2 arguments (ramp:A:B), got 1"),
        ("centroid=ramp:1:2:3", 19, "ramp takes 2 arguments (ramp:A:B), got 3"),
        ("centroid=const", 15, "const takes 1 argument (const:V), got 0"),
        ("f0=sine:100:200", 16, "sine takes 3 or 4 arguments"),
        ("f0=sine:100:200:0", 17, "expected CYCLES > 0, got '0'"),
        ("f0=sine:100:200:-1:0", 17, "expected CYCLES > 0, got '-1'"),
        ("f0=const:inf", 10, "expected a finite number, got 'inf'"),
        ("f0=ramp:1:nan", 11, "expected a finite number, got 'nan'"),
        ("f0=steps:1,,3", 12, "expected a number, got ''"),
        ("f0=steps:1:2", 12, "steps takes 1 argument (steps:V1,V2,...), got 2"),
        ("f0=ramp::2", 9, "expected a number, got ''"),
    ],
)
def test_parse_curve_errors_name_the_position(text: str, position: int, message: str) -> None:
    with pytest.raises(CurveError) as caught:
        parse_curve(text, KNOWN)
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith(f"curve {text!r}: position {position}: "), line
    assert message in line


def test_parse_curve_error_full_line_and_types() -> None:
    with pytest.raises(CurveError) as caught:
        parse_curve("centroid=sine:800:x:2", KNOWN)
    assert (
        str(caught.value)
        == "curve 'centroid=sine:800:x:2': position 19: expected a number, got 'x'"
    )
    assert isinstance(caught.value, TimbrespaceError) and isinstance(caught.value, ValueError)


def test_unknown_descriptor_lists_the_known_sorted() -> None:
    with pytest.raises(CurveError) as caught:
        parse_curve("centriod=ramp:1:2", KNOWN)
    assert str(caught.value).endswith(
        "position 1: unknown descriptor 'centriod'; known: centroid, f0, loudness"
    )


def test_curve_spec_refuses_bad_parameters() -> None:
    with pytest.raises(CurveError, match="CYCLES must be > 0"):
        CurveSpec("f0", "sine", (1.0, 2.0, 0.0), "made by hand")
    with pytest.raises(CurveError, match="unknown shape 'wobble'"):
        CurveSpec("f0", "wobble", (1.0,), "made by hand")
    with pytest.raises(CurveError, match="ramp:A:B takes 2 arguments"):
        CurveSpec("f0", "ramp", (1.0,), "made by hand")
    with pytest.raises(CurveError, match="at least one value"):
        CurveSpec("f0", "steps", (), "made by hand")


# --- values ---------------------------------------------------------------------------------------


def test_shapes_at_start_middle_and_end() -> None:
    # frames = 3 samples t = 0, 0.5, 1
    np.testing.assert_allclose(values("f0=const:220", 3), [220, 220, 220])
    np.testing.assert_allclose(values("f0=ramp:100:300", 3), [100, 200, 300])
    np.testing.assert_allclose(values("f0=ramp:300:100", 3), [300, 200, 100])
    log_middle = 100 + 200 * math.log10(5.5)  # 1 + 9·0.5 = 5.5
    np.testing.assert_allclose(values("f0=log:100:300", 3), [100, log_middle, 300])
    exp_middle = 100 + 200 * (math.sqrt(10) - 1) / 9  # 10**0.5
    np.testing.assert_allclose(values("f0=exp:100:300", 3), [100, exp_middle, 300])
    assert log_middle > 200 > exp_middle  # log concave, exp convex
    # sine 800..4000, one cycle, t = 0, .25, .5, .75, 1: mid, HIGH, mid, LOW, mid
    np.testing.assert_allclose(
        values("centroid=sine:800:4000:1", 5), [2400, 4000, 2400, 800, 2400], atol=1e-9
    )
    # a quarter-cycle phase starts at HIGH
    np.testing.assert_allclose(
        values("centroid=sine:800:4000:1:0.25", 5), [4000, 2400, 800, 2400, 4000], atol=1e-9
    )


def test_sine_spans_low_to_high_with_the_given_cycles() -> None:
    for cycles in (1, 2, 3, 7):
        # peaks at t = (k + 1/4) / cycles: with 4·cycles·100 + 1 frames every one is sampled
        curve = values(f"centroid=sine:800:4000:{cycles}", 400 * cycles + 1)
        assert curve.max() == pytest.approx(4000, abs=1e-6)
        assert curve.min() == pytest.approx(800, abs=1e-6)
        # zero crossings of (values − mid), with hysteresis so samples at ≈0 are not counted twice
        centred = curve - 2400
        signs = np.sign(centred[np.abs(centred) > 800])
        crossings = int(np.count_nonzero(np.diff(signs)))
        assert signs[0] == 1  # starts going up
        assert crossings == 2 * cycles - 1  # interior crossings; the ends sit on the midpoint


def test_steps_split_the_frames_equally() -> None:
    np.testing.assert_array_equal(values("f0=steps:1,2,3", 6), [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(values("f0=steps:5", 4), [5, 5, 5, 5])
    stepped = values("f0=steps:10,20,30,40", 400)
    assert [int(np.count_nonzero(stepped == v)) for v in (10, 20, 30, 40)] == [100] * 4


def test_frame_counts() -> None:
    np.testing.assert_array_equal(values("f0=ramp:100:300", 1), [100])
    np.testing.assert_array_equal(values("f0=steps:1,2", 1), [1])
    assert values("f0=ramp:0:10", 11).dtype == np.float64
    np.testing.assert_allclose(values("f0=ramp:0:10", 11), np.arange(11.0))
    for frames in (0, -3):
        with pytest.raises(CurveError, match="frames ≥ 1"):
            values("f0=ramp:0:10", frames)


def test_describe_curve() -> None:
    assert describe_curve(parse_curve("centroid=sine:800:4000:2", KNOWN)) == (
        "centroid: sine 800 → 4000, 2 cycles"
    )
    assert describe_curve(parse_curve("f0=sine:100:200:1:0.25", KNOWN)) == (
        "f0: sine 100 → 200, 1 cycle, phase 0.25"
    )
    assert describe_curve(parse_curve("f0=log:100:300", KNOWN)) == "f0: log ramp 100 → 300"
    assert describe_curve(parse_curve("loudness=const:-12", KNOWN)) == "loudness: constant -12"
    assert describe_curve(parse_curve("f0=steps:1,2,3,4,5,6,7,8", KNOWN)) == (
        "f0: 8 steps 1, 2, 3, …, 8"
    )


# --- CSV curves -----------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_curve_csv_interpolates_and_holds_the_ends(tmp_path: Path) -> None:
    path = write(tmp_path, "time, Centroid ,f0\n0.5,1000,\n1.0,2000,220\n\n1.5,,440\n")
    curves = read_curve_csv(path, KNOWN, frames=5, seconds=2.0)  # frame times 0, .5, 1, 1.5, 2
    assert list(curves) == ["centroid", "f0"]
    np.testing.assert_allclose(curves["centroid"], [1000, 1000, 2000, 2000, 2000])
    np.testing.assert_allclose(curves["f0"], [220, 220, 220, 440, 440])
    halfway = read_curve_csv(path, KNOWN, frames=9, seconds=2.0)  # frame times step 0.25
    np.testing.assert_allclose(halfway["centroid"][2:5], [1000, 1500, 2000])
    np.testing.assert_allclose(halfway["f0"][4:7], [220, 330, 440])
    assert read_curve_csv(path, KNOWN, frames=1, seconds=2.0)["centroid"].tolist() == [1000]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("centroid,f0\n0,1\n", "line 1", "no 'time' column"),
        ("time,centriod\n0,1\n", "line 1, column 2", "unknown descriptor 'centriod'; known: c"),
        ("time,centroid\n0,1\n0.5,abc\n", "line 3, column 2 (centroid)", "got 'abc'"),
        ("time,centroid\n0,1\n\n0.5,2\n0.5,3\n", "line 5, column 1 (time)", "not after 0.5 s"),
        ("time,centroid,f0\n0,1,\n1,2,\n", "line 1, column 3 (f0)", "the column has no value"),
        ("time,centroid\n0,1,2\n", "line 2", "3 cells, the header has 2"),
        ("time,centroid\n,1\n", "line 2, column 1 (time)", "every row needs a time"),
        ("time,centroid\n0,inf\n", "line 2, column 2 (centroid)", "a finite number"),
    ],
)
def test_read_curve_csv_errors_name_the_line(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CurveError) as caught:
        read_curve_csv(path, KNOWN, frames=4, seconds=1.0)
    line = str(caught.value)
    assert line.startswith(f"curve file {str(path)!r} {where}: "), line
    assert message in line


def test_read_curve_csv_unreadable(tmp_path: Path) -> None:
    with pytest.raises(CurveError, match=re.escape("missing.csv': not found")):
        read_curve_csv(tmp_path / "missing.csv", KNOWN, frames=4, seconds=1.0)
    with pytest.raises(CurveError, match="cannot read it"):
        read_curve_csv(tmp_path, KNOWN, frames=4, seconds=1.0)  # a folder
    (tmp_path / "binary.csv").write_bytes(b"time,f0\n0,\xff\n")
    with pytest.raises(CurveError, match="not UTF-8"):
        read_curve_csv(tmp_path / "binary.csv", KNOWN, frames=4, seconds=1.0)
    with pytest.raises(CurveError, match="empty"):
        read_curve_csv(write(tmp_path, "\n\n"), KNOWN, frames=4, seconds=1.0)
