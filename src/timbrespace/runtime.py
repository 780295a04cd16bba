"""How many torch threads a job uses, chosen against what else the machine runs.

OpenMP worker teams spin while they wait for each other; when another process holds a core the
team's second thread waits for a time slice at every operation, and a 2-thread job collapses
(issue 14 measured a one-shot decode at 5.5 ms quiet, 64 ms with one busy numpy process, on 2
cores; Griffin-Lim went from 7× librosa to 0.06×). Sleeping instead of spinning
(`OMP_WAIT_POLICY=PASSIVE`, `GOMP_SPINCOUNT=0`) fixes the loaded case but makes the quiet
2-thread decode 3× slower (17 ms), so the policy is per job:

- `render` (one decode or one edit, latency first) and `realtime` (an engine block): 1 thread.
  It costs 6.2 vs 5.5 ms quiet and keeps its time when other work arrives.
- `batch` (Griffin-Lim over a path, analysis, evaluation) and `train`: the cores that other
  processes leave idle, measured over the last ~second from `/proc/stat` less this process's own
  CPU time, re-checked as the job runs (`use_threads` is cheap to call often).

An override pins the count for every job: `--threads N` on the command line, or the environment
variable `TIMBRESPACE_THREADS`. torch keeps the count per OS thread (a thread started later begins
with the process default), so each worker thread calls `use_threads` itself; the studio does it in
its request threads, the engine in its worker thread.

    from timbrespace import runtime
    runtime.use_threads("render")        # in the thread about to decode
    with runtime.threads("batch"):       # set, then restore the thread's previous count
        audio = griffin_lim(...)
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator
from typing import Literal

Job = Literal["render", "realtime", "batch", "train"]
JOBS: tuple[Job, ...] = ("render", "realtime", "batch", "train")
ENV_THREADS = "TIMBRESPACE_THREADS"
ENGINE_RUNTIMES = ("auto", "onnxruntime", "torchscript", "python")
"""What runs a streaming model in the engine (`engine.Engine`, `serve --runtime`)."""
SAMPLE_SECONDS = 0.25
"""How often the load monitor reads `/proc/stat`."""
WINDOW_SECONDS = 1.0
"""The span the other processes' load is averaged over."""
IDLE_MARGIN = 0.3
"""A core counts as free when others keep it busy less than this fraction of the time."""


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_override() -> int | None:
    """The count pinned by `TIMBRESPACE_THREADS` (None when unset or empty)."""
    text = os.environ.get(ENV_THREADS, "").strip()
    if not text:
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        from timbrespace.errors import TimbrespaceError

        raise TimbrespaceError(f"{ENV_THREADS}: expected a positive whole number, got {text!r}")
    return count


def free_cores(cores: int, others_busy: float) -> int:
    """Threads that fit on `cores` when other processes keep `others_busy` cores busy: at least
    1, a core counting as free while others use less than `IDLE_MARGIN` of it."""
    return max(1, min(cores, math.floor(cores - others_busy + IDLE_MARGIN)))


def threads_for(job: Job, requested: int | None = None) -> int:
    """Intra-op threads for `job` (see the module doc): `requested` (e.g. `--threads`), else
    `TIMBRESPACE_THREADS`, else the policy."""
    if job not in JOBS:
        raise ValueError(f"job: expected one of {', '.join(JOBS)}, got {job!r}")
    pinned = requested if requested else threads_override()
    if pinned:
        return pinned
    if job in ("render", "realtime"):
        return 1
    return free_cores(usable_cores(), monitor().others_busy())


def use_threads(job: Job, requested: int | None = None) -> int:
    """Set torch's intra-op thread count for the calling thread to `threads_for(job)`; returns it."""
    import torch

    count = threads_for(job, requested)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


@contextlib.contextmanager
def threads(job: Job, requested: int | None = None) -> Iterator[int]:
    """`use_threads(job)` for the body, then the calling thread's previous count again."""
    import torch

    previous = torch.get_num_threads()
    try:
        yield use_threads(job, requested)
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


class LoadMonitor:
    """Cores kept busy by *other* processes, averaged over the last `WINDOW_SECONDS`.

    A daemon thread reads the machine's busy time (`/proc/stat`) and this process's own CPU time
    (`os.times`) every `SAMPLE_SECONDS`; the difference is the others' share. Without
    `/proc/stat` (macOS, Windows) the 1-minute load average less this process's threads is used.
    """

    def __init__(self, sample_seconds: float = SAMPLE_SECONDS) -> None:
        self.sample_seconds = sample_seconds
        self._samples: list[tuple[float, float, float]] = []  # (wall, machine busy, own cpu), s
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def others_busy(self) -> float:
        """Other processes' busy cores (0 = idle machine)."""
        if not os.path.exists("/proc/stat"):
            return _loadavg_others()
        self._start()
        with self._lock:
            samples = list(self._samples)
        if len(samples) < 2:
            return self._first_reading()
        (wall0, busy0, own0), (wall1, busy1, own1) = samples[0], samples[-1]
        elapsed = max(wall1 - wall0, 1e-3)
        return max(0.0, (busy1 - busy0) - (own1 - own0)) / elapsed

    def _first_reading(self) -> float:
        """Before the monitor has two samples: measure over one short interval now."""
        first = _snapshot()
        time.sleep(0.05)
        second = _snapshot()
        elapsed = max(second[0] - first[0], 1e-3)
        return max(0.0, (second[1] - first[1]) - (second[2] - first[2])) / elapsed

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="load-monitor", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        keep = max(2, round(WINDOW_SECONDS / self.sample_seconds) + 1)
        while True:
            snapshot = _snapshot()
            with self._lock:
                self._samples = [*self._samples[-(keep - 1) :], snapshot]
            time.sleep(self.sample_seconds)


def _snapshot() -> tuple[float, float, float]:
    """(wall time, busy CPU seconds summed over the cores this process may use, this process's
    CPU seconds)."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    busy_ticks = 0
    with open("/proc/stat", encoding="ascii") as stat:
        for line in stat:
            if not line.startswith("cpu"):
                break
            name, *fields = line.split()
            if name == "cpu" or (allowed is not None and int(name[3:]) not in allowed):
                continue
            busy_ticks += busy_of(fields)
    own = os.times()
    return time.monotonic(), busy_ticks / os.sysconf("SC_CLK_TCK"), own.user + own.system


def busy_of(fields: list[str]) -> int:
    """Busy ticks of one `/proc/stat` cpu line (its fields after the name): everything but idle
    and iowait; guest time is already inside user and nice."""
    ticks = [int(value) for value in fields]
    return sum(ticks[:8]) - ticks[3] - ticks[4]


def _loadavg_others() -> float:
    import torch

    try:
        load = os.getloadavg()[0]
    except OSError:
        return 0.0
    return max(0.0, load - torch.get_num_threads())


_MONITOR: LoadMonitor | None = None


def monitor() -> LoadMonitor:
    """The process-wide load monitor (its thread starts on first use)."""
    global _MONITOR
    if _MONITOR is None:
        _MONITOR = LoadMonitor()
    return _MONITOR
