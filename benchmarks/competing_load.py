"""Competing load for the speed benchmarks: N busy processes run while a measurement is taken.

A musician's machine is never idle (a DAW, a browser). Every speed benchmark takes `--load N`
(and `--load-kind`) and reports its figures quiet and under load in the same JSON (issue 14):

- `numpy`: each process multiplies 300×300 matrices in a loop on 1 thread (one busy core each);
- `torch`: each process multiplies 400×400 matrices on 2 torch threads (an OpenMP team that
  spins, like another torch application).

    with competing_load(1, "numpy"):
        figures = measure()
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

KINDS = ("numpy", "torch")
WARM_UP_SECONDS = 1.5

_LOOPS = {
    "numpy": (
        "import numpy as np\n"
        "a = np.random.default_rng(0).random((300, 300))\n"
        "while True:\n"
        "    a @ a\n"
    ),
    "torch": (
        "import torch\ntorch.set_num_threads(2)\na = torch.rand(400, 400)\nwhile True:\n    a @ a\n"
    ),
}


@contextlib.contextmanager
def competing_load(count: int, kind: str = "numpy") -> Iterator[None]:
    """Run `count` busy processes of `kind` for the body (they are killed on exit)."""
    if kind not in KINDS:
        raise ValueError(f"load kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    environment = dict(os.environ)
    if kind == "numpy":
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            environment[name] = "1"
    processes = [
        subprocess.Popen([sys.executable, "-c", _LOOPS[kind]], env=environment)
        for _ in range(count)
    ]
    try:
        if processes:
            time.sleep(WARM_UP_SECONDS)
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a {kind} load process ended with {process.returncode}")
        yield
    finally:
        for process in processes:
            process.kill()
        for process in processes:
            process.wait()


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="also measure with N competing busy processes (default 0: quiet only)",
    )
    parser.add_argument(
        "--load-kind",
        choices=KINDS,
        default="numpy",
        help="numpy: 1-thread matrix products; torch: 2-thread torch matrix products",
    )


def quiet_and_loaded(measure: Callable[[], dict[str, Any]], load: int, kind: str) -> dict[str, Any]:
    """`measure()` quiet, then (when `load` > 0) again under `load` competing processes:
    the quiet figures at the top level and the loaded ones under `"loaded"`."""
    result = measure()
    if load > 0:
        with competing_load(load, kind):
            loaded = measure()
        result["loaded"] = {"load": load, "load_kind": kind, **loaded}
    return result
