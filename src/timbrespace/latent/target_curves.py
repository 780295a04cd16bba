"""Target curves for descriptor-driven code selection: what a descriptor (centroid, f0,
loudness, …) should do over time, typed as text or read from a CSV, sampled to one value a frame.

    parse_curve("centroid=sine:800:4000:2", known)  # NAME=SHAPE:ARG:ARG... → CurveSpec
    curve_values(spec, 400)                         # → float64 [400], in the descriptor's unit
    read_curve_csv("targets.csv", known, 400, 2.0)  # time,<descriptor>,... → {name: [400]}

Values are in the descriptor's own unit (Hz, dB, …); converting them to a comparison scale
(semitones, …) is the caller's job. Time is a fraction t of the whole duration: frame i of n sits
at t = i / (n − 1), a single frame at t = 0. Shapes (A, B, LOW, HIGH, V in the unit):

- `const:V`;
- `ramp:A:B`: linear, A at t = 0 to B at t = 1;
- `log:A:B`: concave (rises fast, then slows), `A + (B − A)·log10(1 + 9t)`;
- `exp:A:B`: convex (starts slow), `A + (B − A)·(10^t − 1)/9`;
- `sine:LOW:HIGH:CYCLES[:PHASE]`: `mid + half·sin(2π(CYCLES·t + PHASE))` with mid, half the
  midpoint and half-width of [LOW, HIGH]; CYCLES > 0 periods over the whole duration, PHASE in
  cycles (default 0: starts at the midpoint, going up);
- `steps:V1,V2,...`: equal-length steps (frame i of n takes `V[⌊i·len(V)/n⌋]`, so each step
  gets the same number of frames when len(V) divides n).

Every error is one `CurveError` line naming the text and the 1-based character position of the
problem, e.g. `curve 'centroid=sine:800:x:2': position 19: expected a number, got 'x'`.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from timbrespace.errors import TimbrespaceError, os_reason
from timbrespace.numbers import format_quantity


class CurveError(TimbrespaceError, ValueError):
    """A target curve (text or CSV) that cannot be used, stated in one line."""


SHAPES: dict[str, tuple[int, int, str]] = {
    "const": (1, 1, "const:V"),
    "ramp": (2, 2, "ramp:A:B"),
    "log": (2, 2, "log:A:B"),
    "exp": (2, 2, "exp:A:B"),
    "sine": (3, 4, "sine:LOW:HIGH:CYCLES[:PHASE]"),
    "steps": (1, 1, "steps:V1,V2,..."),
}
"""Shape name → (fewest, most `:` arguments, usage)."""

CURVE_EXAMPLE = "e.g. centroid=sine:800:4000:2"


@dataclass(frozen=True)
class CurveSpec:
    """A parsed target curve: `descriptor` (the known spelling), `shape` (a key of `SHAPES`),
    its numeric `params` in the descriptor's unit (`steps`: the step values; `sine`: LOW, HIGH,
    CYCLES, PHASE) and the `text` it was parsed from."""

    descriptor: str
    shape: str
    params: tuple[float, ...]
    text: str

    def __post_init__(self) -> None:
        label = f"curve {self.text!r}"
        if self.shape not in SHAPES:
            raise CurveError(f"{label}: unknown shape {self.shape!r}; expected {_shape_list()}")
        if not all(math.isfinite(p) for p in self.params):
            raise CurveError(f"{label}: parameters must be finite, got {self.params}")
        fewest, most, usage = SHAPES[self.shape]
        if self.shape == "steps" and not self.params:
            raise CurveError(f"{label}: steps needs at least one value ({usage})")
        if self.shape != "steps" and not fewest <= len(self.params) <= most:
            raise CurveError(f"{label}: {usage} takes {_count(fewest, most)}, got {self.params}")
        if self.shape == "sine" and not self.params[2] > 0:
            raise CurveError(f"{label}: sine CYCLES must be > 0, got {self.params[2]:g}")


def _shape_list() -> str:
    return "one of " + ", ".join(SHAPES)


def _count(fewest: int, most: int) -> str:
    plural = "s" if most > 1 else ""
    return f"{fewest} argument{plural}" if fewest == most else f"{fewest} or {most} arguments"


# --- parsing --------------------------------------------------------------------------------------


def _split(text: str, sep: str, start: int) -> list[tuple[str, int]]:
    """`text.split(sep)` as (piece, 0-based offset of the piece in the whole curve text)."""
    pieces, offset = [], start
    for piece in text.split(sep):
        pieces.append((piece, offset))
        offset += len(piece) + len(sep)
    return pieces


def _position(piece: str, offset: int) -> int:
    """1-based position of a piece's first non-space character (its start if it is blank)."""
    stripped = piece.lstrip()
    return offset + 1 + (len(piece) - len(stripped) if stripped else 0)


class _Fail:
    """Builds the one-line `CurveError` of one curve text."""

    def __init__(self, text: str) -> None:
        self.label = f"curve {text!r}"

    def __call__(self, position: int, message: str) -> CurveError:
        return CurveError(f"{self.label}: position {position}: {message}")


def _number(piece: str, offset: int, fail: _Fail) -> float:
    token = piece.strip()
    try:
        value = float(token)
    except ValueError:
        raise fail(_position(piece, offset), f"expected a number, got {token!r}") from None
    if not math.isfinite(value):
        raise fail(_position(piece, offset), f"expected a finite number, got {token!r}")
    return value


def match_descriptor(name: str, known: Sequence[str]) -> str | None:
    """The spelling in `known` of `name` (stripped, case-insensitive), or None."""
    wanted = name.strip().casefold()
    return next((k for k in known if k.casefold() == wanted), None)


def unknown_descriptor(name: str, known: Sequence[str]) -> str:
    """`unknown descriptor 'NAME'; known: a, b, c` (sorted)."""
    return f"unknown descriptor {name!r}; known: {', '.join(sorted(known))}"


def parse_curve(text: str, known: Sequence[str]) -> CurveSpec:
    """Parse `NAME=SHAPE:ARG:ARG...` (see the module docstring for the shapes), e.g.
    `centroid=sine:800:4000:2`. NAME is matched case-insensitively to `known` and returned in
    its known spelling; shapes are case-insensitive; whitespace around tokens is allowed.

    Raises `CurveError` naming the text, the 1-based position of the problem and what was
    expected (missing `=`, empty name, unknown descriptor or shape, wrong argument count,
    non-numbers, non-finite numbers, sine CYCLES ≤ 0).
    """
    fail = _Fail(text)
    equals = text.find("=")
    if equals < 0:
        colon = text.find(":")
        at = colon + 1 if colon >= 0 else len(text) + 1
        raise fail(at, f"expected '=' after the descriptor name, {CURVE_EXAMPLE}")
    name = text[:equals]
    if not name.strip():
        raise fail(_position(name, 0), f"expected a descriptor name, {CURVE_EXAMPLE}")
    descriptor = match_descriptor(name, known)
    if descriptor is None:
        raise fail(_position(name, 0), unknown_descriptor(name.strip(), known))

    (shape_piece, shape_at), *arguments = _split(text[equals + 1 :], ":", equals + 1)
    shape = shape_piece.strip().lower()
    if not shape:
        raise fail(_position(shape_piece, shape_at), f"expected a shape, {_shape_list()}")
    if shape not in SHAPES:
        message = f"unknown shape {shape_piece.strip()!r}; expected {_shape_list()}"
        raise fail(_position(shape_piece, shape_at), message)

    fewest, most, usage = SHAPES[shape]
    if not fewest <= len(arguments) <= most:
        # too few: point at the end, where the next argument belongs; too many: at the first extra
        extra = arguments[most] if len(arguments) > most else None
        at = _position(*extra) if extra else len(text) + 1
        raise fail(at, f"{shape} takes {_count(fewest, most)} ({usage}), got {len(arguments)}")

    if shape == "steps":
        piece, offset = arguments[0]
        params = tuple(_number(p, o, fail) for p, o in _split(piece, ",", offset))
    else:
        params = tuple(_number(p, o, fail) for p, o in arguments)
    if shape == "sine":
        if not params[2] > 0:
            piece, offset = arguments[2]
            raise fail(_position(piece, offset), f"expected CYCLES > 0, got {piece.strip()!r}")
        params = params if len(params) == 4 else (*params, 0.0)
    return CurveSpec(descriptor, shape, params, text)


# --- sampling -------------------------------------------------------------------------------------


def curve_times(frames: int) -> np.ndarray:
    """float64 `[frames]`: t = i / (frames − 1) in [0, 1]; a single frame is at t = 0."""
    if isinstance(frames, bool) or not isinstance(frames, int | np.integer) or frames < 1:
        raise CurveError(f"a curve needs a whole number of frames ≥ 1, got {frames!r}")
    return np.linspace(0.0, 1.0, int(frames))


def curve_values(spec: CurveSpec, frames: int) -> np.ndarray:
    """The curve sampled at t = i / (frames − 1): float64 `[frames]` in the descriptor's unit
    (frames == 1 → t = 0; frames < 1 → `CurveError`)."""
    t = curve_times(frames)
    p = spec.params
    if spec.shape == "const":
        return np.full(t.shape, p[0])
    if spec.shape == "ramp":
        return p[0] + (p[1] - p[0]) * t
    if spec.shape == "log":
        return p[0] + (p[1] - p[0]) * np.log10(1.0 + 9.0 * t)
    if spec.shape == "exp":
        return p[0] + (p[1] - p[0]) * (10.0**t - 1.0) / 9.0
    if spec.shape == "sine":
        low, high, cycles = p[:3]
        phase = p[3] if len(p) > 3 else 0.0
        mid, half = (low + high) / 2.0, (high - low) / 2.0
        return mid + half * np.sin(2.0 * np.pi * (cycles * t + phase))
    steps = np.asarray(p, dtype=np.float64)
    return steps[(np.arange(t.size) * steps.size) // t.size]


def describe_curve(spec: CurveSpec) -> str:
    """A short human description, e.g. `centroid: sine 800 → 4000, 2 cycles` (no units)."""
    q, p = format_quantity, spec.params
    if spec.shape == "const":
        what = f"constant {q(p[0])}"
    elif spec.shape in ("ramp", "log", "exp"):
        kind = {"ramp": "ramp", "log": "log ramp", "exp": "exp ramp"}[spec.shape]
        what = f"{kind} {q(p[0])} → {q(p[1])}"
    elif spec.shape == "sine":
        what = f"sine {q(p[0])} → {q(p[1])}, {q(p[2])} cycle{'' if p[2] == 1 else 's'}"
        if len(p) > 3 and p[3] != 0:
            what += f", phase {q(p[3])}"
    else:
        shown = [q(v) for v in p] if len(p) <= 6 else [*(q(v) for v in p[:3]), "…", q(p[-1])]
        what = f"{len(p)} step{'' if len(p) == 1 else 's'} {', '.join(shown)}"
    return f"{spec.descriptor}: {what}"


# --- CSV curves -----------------------------------------------------------------------------------


def _read_rows(path: Path, label: str) -> list[tuple[int, list[str]]]:
    """The non-blank CSV rows of `path` as (1-based line, stripped cells)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CurveError(f"{label}: not found") from None
    except OSError as error:
        raise CurveError(f"{label}: cannot read it ({os_reason(error, path)})") from None
    except UnicodeDecodeError:
        raise CurveError(f"{label}: cannot read it (not UTF-8 text)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = []
    try:
        for cells in reader:
            stripped = [cell.strip() for cell in cells]
            if any(stripped):
                rows.append((reader.line_num, stripped))
    except csv.Error as error:
        raise CurveError(f"{label} line {reader.line_num}: not CSV ({error})") from None
    return rows


def _header(
    cells: list[str], known: Sequence[str], where: str
) -> tuple[int, list[tuple[int, str]]]:
    """(index of the time column, [(index, known name)] of the descriptor columns)."""
    time_index, columns, seen = -1, [], set()
    for index, cell in enumerate(cells):
        at = f"{where}, column {index + 1}"
        if not cell:
            raise CurveError(f"{at}: empty column name; expected time,<descriptor>,...")
        if cell.casefold() == "time":
            if time_index >= 0:
                raise CurveError(f"{at}: a second 'time' column")
            time_index = index
            continue
        name = match_descriptor(cell, known)
        if name is None:
            raise CurveError(f"{at}: {unknown_descriptor(cell, known)}")
        if name in seen:
            raise CurveError(f"{at}: a second {name!r} column")
        seen.add(name)
        columns.append((index, name))
    if time_index < 0:
        raise CurveError(f"{where}: no 'time' column; expected a header time,<descriptor>,...")
    if not columns:
        raise CurveError(f"{where}: no descriptor column; known: {', '.join(sorted(known))}")
    return time_index, columns


def _cell(cell: str, at: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise CurveError(f"{at}: expected a number, got {cell!r}") from None
    if not math.isfinite(value):
        raise CurveError(f"{at}: expected a finite number, got {cell!r}")
    return value


def read_curve_csv(
    path: str | os.PathLike[str], known: Sequence[str], frames: int, seconds: float
) -> dict[str, np.ndarray]:
    """Target curves from a CSV with a header `time,<descriptor>,...` (time in s, strictly
    increasing; descriptor columns matched case-insensitively to `known`, values in their unit).

    Each column is linearly interpolated to the frame times `i·seconds/(frames − 1)` (held
    constant beyond its first and last point); an empty cell skips that point for that column.
    Returns {known name: float64 `[frames]`} in header order. Raises `CurveError` naming the file,
    the 1-based line and column: unreadable file, missing `time` column, unknown descriptor
    column (listing the known), non-numeric cell, time not increasing, a column with no value.
    """
    label = f"curve file {str(path)!r}"
    t = curve_times(frames)
    if not (math.isfinite(seconds) and seconds > 0):
        raise CurveError(f"{label}: the duration must be > 0 s, got {seconds!r}")
    rows = _read_rows(Path(path), label)
    if not rows:
        raise CurveError(f"{label}: empty; expected a header time,<descriptor>,... and rows")
    (header_line, header), data = rows[0], rows[1:]
    time_index, columns = _header(header, known, f"{label} line {header_line}")
    times: list[float] = []
    points: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for _, name in columns}
    for line, cells in data:
        where = f"{label} line {line}"
        if len(cells) != len(header):
            raise CurveError(f"{where}: {len(cells)} cells, the header has {len(header)}")
        at = f"{where}, column {time_index + 1} (time)"
        if not cells[time_index]:
            raise CurveError(f"{at}: empty; every row needs a time")
        time = _cell(cells[time_index], at)
        if times and not time > times[-1]:
            raise CurveError(
                f"{at}: time {time:g} s is not after {times[-1]:g} s; times must increase"
            )
        times.append(time)
        for index, name in columns:
            if cells[index]:
                value = _cell(cells[index], f"{where}, column {index + 1} ({name})")
                points[name][0].append(time)
                points[name][1].append(value)
    curves = {}
    for index, name in columns:
        xs, ys = points[name]
        if not xs:
            at = f"{label} line {header_line}, column {index + 1} ({name})"
            raise CurveError(f"{at}: the column has no value")
        curves[name] = np.interp(t * seconds, np.asarray(xs), np.asarray(ys)).astype(np.float64)
    return curves
