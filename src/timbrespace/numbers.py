"""Numbers as users type them in options and text syntaxes (`--amount 0,0.5,1.2`, curve
points): parsed, checked finite, and refused with a one-line error naming what they are.

Torch-free, so the CLI parses its options without loading the models.
"""

from __future__ import annotations

import math

from timbrespace.errors import TimbrespaceError


def parse_number(text: str, what: str, label: str = "") -> float:
    """A finite float from `text`; errors read `LABEL: WHAT 'text' is not a (finite) number`."""
    prefix = f"{label}: " if label else ""
    try:
        value = float(text)
    except ValueError:
        raise TimbrespaceError(f"{prefix}{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise TimbrespaceError(f"{prefix}{what} {text.strip()!r} is not a finite number")
    return value


def parse_numbers(text: str, label: str, count: int | None = None) -> list[float]:
    """Comma-separated finite numbers, e.g. an `--amount` or `--xy` option (exactly `count` of
    them if given); errors start with `label`."""
    values = [parse_number(item, "value", label) for item in text.split(",")]
    if count is not None and len(values) != count:
        raise TimbrespaceError(f"{label}: expected {count} comma-separated numbers, got {text!r}")
    return values


def format_quantity(value: float, unit: str = "") -> str:
    """A value as a person reads it: 4 significant digits, whole numbers from 1000 up to 10⁷
    (`16600 Hz`, not `1.66e+04`), the unit after a space (`format_quantity(0.005, "s")` →
    `0.005 s`)."""
    text = f"{value:.0f}" if 1000 <= abs(value) < 1e7 else f"{value:.4g}"
    return f"{text} {unit}" if unit else text
