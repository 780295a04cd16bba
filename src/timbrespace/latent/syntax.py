"""The text syntax of latent paths: amount curves, plane trajectories, number lists and path
operators, as typed on the command line (and sent by the studio), parsed into the objects of
`latent.paths` and `latent.operators`.

    parse_curve("0:0,0.5:1,1:1.3")              # TIME:AMOUNT points → Curve
    parse_trajectory("path.csv")                # t,x,y lines (a file or inline) → Trajectory
    parse_numbers("0,0.5,1.2", "--amount")      # → [0.0, 0.5, 1.2]
    parse_op("scale:mean=1.5", seed=0)          # NAME[:OPTION][=VALUE] → a PathOp

Everything is checked before an object is returned; an error is one line that starts with what
was being parsed (e.g. `curve '0:0,2:1': time 2 is beyond the end …`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

from timbrespace.errors import TimbrespaceError
from timbrespace.latent.operators import (
    AddNoise,
    Bias,
    DimensionCurve,
    PathOp,
    Randomize,
    Reverse,
    Scale,
    Smooth,
    TimeStretch,
)
from timbrespace.latent.paths import CURVE_EXAMPLE, Curve, Trajectory, check_breakpoints
from timbrespace.numbers import parse_number

TRAJECTORY_EXAMPLE = "one t,x,y line per point, e.g. 0,0,0 then 1,1,1"

# --- numbers and curves ---------------------------------------------------------------------------


def parse_curve(text: str) -> Curve:
    """Parse `TIME:AMOUNT,...`, e.g. `0:0,0.5:1,1:1.3`: times are fractions of the output length
    in [0, 1], strictly increasing. Everything is checked before a curve is returned."""
    label = f"curve {text!r}"
    if not text.strip():
        raise TimbrespaceError(f"{label}: empty; expected TIME:AMOUNT points, {CURVE_EXAMPLE}")
    times, values = [], []
    for index, point in enumerate(text.split(","), start=1):
        parts = point.split(":")
        if len(parts) != 2:
            raise TimbrespaceError(
                f"{label}: point {index} {point.strip()!r} is not TIME:AMOUNT, {CURVE_EXAMPLE}"
            )
        times.append(parse_number(parts[0], f"point {index} time", label))
        values.append(parse_number(parts[1], f"point {index} amount", label))
    check_breakpoints(times, label)
    return Curve(tuple(times), tuple(values))


# --- trajectories ---------------------------------------------------------------------------------


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except OSError:
        return False


def _trajectory_text(source: str | Path) -> tuple[str, str]:
    """(text, label) of a trajectory given as a file, or as inline text (a str holding a newline,
    or a comma or `;` and naming no file)."""
    if isinstance(source, str) and (
        "\n" in source or (("," in source or ";" in source) and not _is_file(source))
    ):
        return source, "trajectory"
    path = Path(source)
    try:
        return path.read_text(encoding="utf-8"), f"trajectory file {str(path)!r}"
    except FileNotFoundError:
        raise TimbrespaceError(f"trajectory file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TimbrespaceError(f"trajectory file {str(path)!r}: cannot read it ({error})") from None


def parse_trajectory(source: str | Path) -> Trajectory:
    """Parse a CSV of `t,x,y` lines (a file, or inline text with lines split by newlines or `;`).

    t: time as a fraction of the output length in [0, 1], strictly increasing; x, y: plane
    coordinates (0..1 spans the corners, beyond extrapolates). Blank lines, `#` comments and a
    `t,x,y` header are skipped. Sample it with `Trajectory.sample(frames)` (linear in between).
    """
    text, label = _trajectory_text(source)
    times, xs, ys = [], [], []
    for number, line in enumerate(re.split(r"\r?\n|;", text), start=1):
        line = line.split("#", 1)[0].strip()
        if not line or [f.strip().lower() for f in line.split(",")] == ["t", "x", "y"]:
            continue
        fields = line.split(",")
        where = f"{label} line {number}"
        if len(fields) != 3:
            raise TimbrespaceError(f"{where}: expected t,x,y, got {line!r}")
        times.append(parse_number(fields[0], "t", where))
        xs.append(parse_number(fields[1], "x", where))
        ys.append(parse_number(fields[2], "y", where))
    if not times:
        raise TimbrespaceError(f"{label}: no points; expected {TRAJECTORY_EXAMPLE}")
    check_breakpoints(times, label)
    return Trajectory(Curve(tuple(times), tuple(xs)), Curve(tuple(times), tuple(ys)))


# --- operators ------------------------------------------------------------------------------------

OP_EXAMPLES = (
    "e.g. reverse, scale=1.5, scale:mean=1.5, bias=0.2, noise=0.1, randomize=0.5, "
    "randomize:replace=0.5, stretch=2, smooth=5, smooth:gauss=5, curve:3=0:0,1:2, curve:3+=0:0,1:2"
)
OP_PATTERN = re.compile(
    r"^(?P<name>[A-Za-z_]+)(?::(?P<option>[^=+]*))?(?:(?P<op>\+?=)(?P<value>.*))?$", re.DOTALL
)


def _op_number(value: str | None, what: str, example: str) -> float:
    if value is None or not value.strip():
        raise TimbrespaceError(f"needs a {what}, e.g. {example}")
    return parse_number(value, what)


def _build_scale(option: str | None, value: str | None, seed: int) -> PathOp:
    factor = _op_number(value, "scale factor", "scale=1.5")
    return Scale(factor, "zero" if option is None else option)


def _build_bias(option: str | None, value: str | None, seed: int) -> PathOp:
    if value is None or not value.strip():
        raise TimbrespaceError("needs a bias, e.g. bias=0.2 or bias=0.1,0,-0.3 (one per dimension)")
    numbers = [parse_number(v, "bias") for v in value.split(",")]
    return Bias(numbers[0] if len(numbers) == 1 else tuple(numbers))


def _build_noise(option: str | None, value: str | None, seed: int) -> PathOp:
    return AddNoise(_op_number(value, "noise std", "noise=0.1"), seed)


def _build_randomize(option: str | None, value: str | None, seed: int) -> PathOp:
    amount = _op_number(value, "randomize amount", "randomize=0.5")
    return Randomize(amount, "blend" if option is None else option, seed)


def _build_stretch(option: str | None, value: str | None, seed: int) -> PathOp:
    return TimeStretch(_op_number(value, "stretch factor", "stretch=2"))


def _build_smooth(option: str | None, value: str | None, seed: int) -> PathOp:
    width = _op_number(value, "smooth width", "smooth=5")
    if width != int(width):
        raise TimbrespaceError(f"smooth width must be a whole number of frames, got {width:g}")
    return Smooth(int(width), "box" if option is None else option)


def _build_reverse(option: str | None, value: str | None, seed: int) -> PathOp:
    if value is not None:
        raise TimbrespaceError("reverse takes no value")
    return Reverse()


def _build_curve(option: str | None, value: str | None, seed: int) -> PathOp:
    if option is None:
        raise TimbrespaceError("curve needs a dimension, e.g. curve:3=0:0,1:2 (0-based)")
    if not option.strip().isdigit():
        raise TimbrespaceError(f"curve dimension {option!r} is not a whole number ≥ 0")
    if value is None:
        raise TimbrespaceError("needs a curve, e.g. curve:3=0:0,1:2")
    return DimensionCurve(int(option), parse_curve(value))


OP_BUILDERS: dict[str, Callable[[str | None, str | None, int], PathOp]] = {
    "bias": _build_bias,
    "curve": _build_curve,
    "noise": _build_noise,
    "randomize": _build_randomize,
    "reverse": _build_reverse,
    "scale": _build_scale,
    "smooth": _build_smooth,
    "stretch": _build_stretch,
}


def parse_op(text: str, *, seed: int = 0) -> PathOp:
    """Parse an operator `NAME[:OPTION][=VALUE]`: reverse, scale=F (about zero) or scale:mean=F,
    bias=B or bias=B0,B1,… (one per dimension), noise=STD, randomize=A (blend) or
    randomize:replace=A, stretch=F, smooth=W (box) or smooth:gauss=W, curve:DIM=T:V,… (sets
    dimension DIM) or curve:DIM+=T:V,… (adds to it). seed: for noise and randomize."""
    label = f"operator {text!r}"
    match = OP_PATTERN.match(text.strip())
    if match is None:
        raise TimbrespaceError(f"{label}: expected NAME[:OPTION][=VALUE], {OP_EXAMPLES}")
    name, option, op, value = match["name"].lower(), match["option"], match["op"], match["value"]
    if name not in OP_BUILDERS:
        raise TimbrespaceError(
            f"{label}: unknown operator {name!r}; known operators: {', '.join(OP_BUILDERS)}"
        )
    if op == "+=" and name != "curve":
        raise TimbrespaceError(f"{label}: only curve takes +=, {OP_EXAMPLES}")
    if option is not None and name in ("bias", "noise", "stretch", "reverse"):
        raise TimbrespaceError(f"{label}: {name} takes no :option, {OP_EXAMPLES}")
    try:
        built = OP_BUILDERS[name](option, value, seed)
    except TimbrespaceError as error:
        raise TimbrespaceError(f"{label}: {error}") from None
    if op == "+=" and isinstance(built, DimensionCurve):
        return DimensionCurve(built.dim, built.curve, add=True)
    return built


def as_curve(curve: str | Sequence[Sequence[float]] | Curve) -> Curve:
    """A `Curve` from its text (`t:amount,…`), `[[t, amount], …]` or itself."""
    if isinstance(curve, Curve):
        return curve
    if isinstance(curve, str):
        return parse_curve(curve)
    points = [(float(p[0]), float(p[1])) for p in curve]
    return Curve(tuple(t for t, _ in points), tuple(v for _, v in points))


def as_trajectory(
    trajectory: str | Path | Sequence[Sequence[float]] | Trajectory,
) -> Trajectory:
    """A `Trajectory` from a `t,x,y` file or text, `[[t, x, y], …]` or itself."""
    if isinstance(trajectory, Trajectory):
        return trajectory
    if isinstance(trajectory, str | Path):
        return parse_trajectory(trajectory)
    times = tuple(float(p[0]) for p in trajectory)
    return Trajectory(
        Curve(times, tuple(float(p[1]) for p in trajectory)),
        Curve(times, tuple(float(p[2]) for p in trajectory)),
    )
