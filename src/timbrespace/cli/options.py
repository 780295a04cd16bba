"""Types of the CLI's numeric and named options, checked when the command line is parsed:
argparse prints `argument -n: 0 is not a positive integer` with the usage and exits 2, before
anything is loaded.

Torch-free (`timbrespace --help` must stay instant).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

SEED_MAX = 2**32 - 1
"""Largest seed: what every generator here accepts (numpy's legacy `RandomState` the least)."""
PORT_RANGE = (1, 65535)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive_int(text: str) -> int:
    """An integer ≥ 1 (a count: sounds, neighbours, steps, workers)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer (1 or more)")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (a length in s, minutes, a learning rate)."""
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def non_negative_float(text: str) -> float:
    """A finite number ≥ 0 (a spread such as `--temperature`)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (0 or more)")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An integer in `low`…`high` (inclusive)."""

    def parse(text: str) -> int:
        value = _int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}…{high}")
        return value

    parse.__name__ = f"integer in {low}…{high}"
    return parse


SAMPLE_RATES = (1000, 384000)
"""Sample rates the options take, Hz (inclusive; `PrepareConfig` checks the same range)."""

sample_rate = int_in(*SAMPLE_RATES)
"""A sample rate in Hz, 1000…384000."""
seed = int_in(0, SEED_MAX)
"""A random seed, 0…2³²−1."""
port = int_in(*PORT_RANGE)
"""A TCP port, 1…65535."""


def devices(text: str) -> str | int:
    """Lightning's `devices`: `auto` or a positive number of devices."""
    return "auto" if text == "auto" else positive_int(text)
