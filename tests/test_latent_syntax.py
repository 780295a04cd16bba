"""The text syntax of latent paths (`latent.syntax`): curves, trajectories, numbers, operators."""

from __future__ import annotations

import pytest

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.operators import (
    AddNoise,
    Bias,
    DimensionCurve,
    Randomize,
    Reverse,
    Scale,
    Smooth,
    TimeStretch,
    apply_ops,
)
from timbrespace.latent.paths import Curve
from timbrespace.latent.syntax import parse_curve, parse_op, parse_trajectory
from timbrespace.numbers import parse_numbers

from .test_latent_paths import path

# --- curves and numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.5:1,0.2:0", "times must increase"),
        ("0:0,0.5:1,0.5:2", "time 0.5 is given twice"),
        ("a:1", "time 'a' is not a number"),
        ("0:x", "amount 'x' is not a number"),
        ("0:nan", "not a finite number"),
        ("0:0,0.5", "point 2 '0.5' is not TIME:AMOUNT"),
        ("0:0:1", "is not TIME:AMOUNT"),
        ("0:0,,1:1", "point 2 '' is not TIME:AMOUNT"),
        ("0:0,1.5:1", "time 1.5 is beyond the end"),
        ("-0.1:0,1:1", "time -0.1 is before the start"),
        ("", "empty"),
        ("   ", "empty"),
    ],
)
def test_parse_curve_errors(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=message):
        parse_curve(text)


def test_parse_numbers_known_answers_and_errors() -> None:
    assert parse_numbers("0, 0.5,1.2", "--amount") == [0.0, 0.5, 1.2]
    assert parse_numbers("-1e-1,2", "--xy", 2) == [-0.1, 2.0]
    with pytest.raises(TimbrespaceError, match="--xy: expected 2 comma-separated numbers"):
        parse_numbers("0.5", "--xy", 2)
    with pytest.raises(TimbrespaceError, match="--amount: value 'inf' is not a finite number"):
        parse_numbers("0,inf", "--amount")
    with pytest.raises(TimbrespaceError, match="'a' is not a number"):
        parse_numbers("a", "--amount")


# --- trajectories ---------------------------------------------------------------------------------


def test_parse_trajectory_file_and_inline(tmp_path) -> None:
    file = tmp_path / "trajectory.csv"
    file.write_text("# a square walk\nt,x,y\n0, 0, 0\n\n1, 1, 1\n")
    assert parse_trajectory(file) == parse_trajectory(str(file)) == parse_trajectory("0,0,0;1,1,1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,0,0\n0.5,1\n", "line 2: expected t,x,y, got '0.5,1'"),
        ("0,0,0\n1,a,0\n", "line 2: x 'a' is not a number"),
        ("0,0,0;0,1,1", "time 0 is given twice"),
        ("1,0,0\n0.5,1,1\n", "times must increase"),
        ("0,0,0\n2,1,1\n", "beyond the end"),
        ("# nothing\n", "no points"),
        ("no-such-file.csv", "trajectory file 'no-such-file.csv' not found"),
    ],
)
def test_parse_trajectory_errors(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=message):
        parse_trajectory(text)


# --- operators ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("reverse", Reverse()),
        ("scale=1.5", Scale(1.5)),
        ("scale:mean=1.5", Scale(1.5, "mean")),
        ("bias=0.2", Bias(0.2)),
        ("bias=0.1,0,-0.3", Bias((0.1, 0.0, -0.3))),
        ("noise=0.1", AddNoise(0.1, seed=5)),
        ("randomize=0.5", Randomize(0.5, seed=5)),
        ("randomize:replace=0.5", Randomize(0.5, "replace", seed=5)),
        ("stretch=2", TimeStretch(2.0)),
        ("smooth=5", Smooth(5)),
        ("smooth:gauss=5", Smooth(5, "gauss")),
        ("curve:3=0:0,1:2", DimensionCurve(3, Curve((0.0, 1.0), (0.0, 2.0)))),
        ("curve:3+=0:0,1:2", DimensionCurve(3, Curve((0.0, 1.0), (0.0, 2.0)), add=True)),
    ],
)
def test_parse_op(text: str, expected) -> None:
    assert parse_op(text, seed=5) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flip", "unknown operator 'flip'; known operators: bias, curve, noise, randomize, "),
        ("scale", "needs a scale factor"),
        ("scale=big", "scale factor 'big' is not a number"),
        ("scale:median=2", "scale about must be one of zero, mean, got 'median'"),
        ("reverse=1", "reverse takes no value"),
        ("stretch=0", "stretch factor must be positive"),
        ("noise=-1", "noise std must be at least 0"),
        ("randomize=2", "randomize amount must be at most 1"),
        ("smooth=2.5", "smooth width must be a whole number"),
        ("bias=0.1,x", "bias 'x' is not a number"),
        ("bias+=1", "only curve takes \\+="),
        ("noise:2=0.1", "noise takes no :option"),
        ("curve=0:0,1:2", "curve needs a dimension"),
        ("curve:x=0:0,1:2", "curve dimension 'x' is not a whole number"),
        ("curve:3=0:0,2:1", "time 2 is beyond the end"),
        ("curve:3", "needs a curve"),
        ("=3", "expected NAME"),
    ],
)
def test_parse_op_errors(text: str, message: str) -> None:
    with pytest.raises(TimbrespaceError, match=f"operator '.*': .*{message}"):
        parse_op(text)


def test_parsed_dimension_is_checked_when_applied() -> None:
    op = parse_op("curve:6=0:0,1:2")
    with pytest.raises(TimbrespaceError, match="curve:6: dimension 6 is out of range"):
        apply_ops(path(1, 3), [Reverse(), op])
