"""The realtime side: a worker thread renders blocks into a ring buffer that the audio callback
reads without ever waiting on the model.

The worker renders each block just in time: after the callback takes block n at time t, block
n + 1 is due at t + T (T = block / rate); the worker starts it a lead before that (10 ms or half
a period, more when recent renders were slow: `Runner._lead`), so a command received up to that
moment is heard in block n + 1 (latency ≈ T/2 + the lead on average, instead of up to 2·T for a
worker that renders as soon as it can). A render that overruns its deadline makes the callback play silence for that
block, counted in `missed`.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections import deque

import numpy as np

from timbrespace import runtime
from timbrespace.engine.core import Engine

__all__ = ["BlockRing", "RecentLongest", "Runner", "clock_time", "raise_priority"]

SAFETY_SECONDS = 0.002
"""Extra head start of a just-in-time render (s), for thread wake-up jitter."""
MIN_LEAD_SECONDS = 0.010
"""The lead never drops under this (or half a block): a render that the system preempts (other
processes on the cores) takes several times its usual time, and a block heard 10 ms later
costs less than a dropout."""
LEAD_MEMORY_SECONDS = 10.0
"""The lead covers the third-longest render of this long a past (s): slow renders come in
bursts (another process, a flood of network packets), and a burst's next render can be longer
than any of the last few; one outlier does not count."""
LEAD_MARGIN = 1.5
"""The lead is this many times that render (+ `SAFETY_SECONDS`). Measured: a 512-sample block at
16 kHz under a 10 000-datagram-per-second OSC flood on 2 cores takes 3.5 ms (1.1 ms quiet), up
to 17 ms; 1.25 × the third-longest of the last 64 renders missed 1 to 4 blocks in 10 s, this
rule none in 6 runs."""
SWITCH_INTERVAL = 0.0005
"""Python's thread switch interval while the engine runs (s; the default 5 ms is longer than
a 128-sample block)."""


PRIORITY_NICE = -10
"""Niceness asked for the engine's audio threads (granted only with the right to raise
priority: root, or `ulimit -e` / CAP_SYS_NICE); without it they keep the default."""


def raise_priority() -> bool:
    """Give the calling thread a higher scheduling priority (Linux niceness `PRIORITY_NICE`)
    when the system allows it, as audio hosts do for their audio threads; True if granted."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PRIORITY_NICE)
    except (OSError, AttributeError):
        return False
    return True


class BlockRing:
    """A fixed ring of `depth` blocks `[channels, block]` float32: one writer, one reader; the
    lock is held only to move indices, never while rendering."""

    def __init__(self, depth: int, channels: int, block: int) -> None:
        self._blocks = np.zeros((depth, channels, block), dtype=np.float32)
        self._indices = np.full(depth, -1, dtype=np.int64)
        self._read = self._write = 0
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return len(self._blocks)

    def __len__(self) -> int:
        with self._lock:
            return self._write - self._read

    def push(self, block: np.ndarray, index: int) -> bool:
        """Store block number `index`; False (dropped) when the ring is full."""
        with self._lock:
            if self._write - self._read >= len(self._blocks):
                return False
            slot = self._write % len(self._blocks)
        self._blocks[slot] = block
        self._indices[slot] = index
        with self._lock:
            self._write += 1
        return True

    def pop(self, out: np.ndarray) -> int | None:
        """Copy the oldest block into `out` and return its index, or None (out zeroed) when
        empty."""
        with self._lock:
            if self._write == self._read:
                out[:] = 0.0
                return None
            slot = self._read % len(self._blocks)
        out[:] = self._blocks[slot]
        index = int(self._indices[slot])
        with self._lock:
            self._read += 1
        return index


class RecentLongest:
    """The longest durations seen over the last `seconds`, in O(1) per sample: the three longest
    of each second are kept."""

    KEEP = 3

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._buckets: deque[tuple[int, list[float]]] = deque()

    def add(self, duration: float, now: float) -> None:
        """Record `duration` (s) measured at `now` (s, any monotonic clock)."""
        second = int(now)
        if not self._buckets or self._buckets[-1][0] != second:
            self._buckets.append((second, []))
        longest = self._buckets[-1][1]
        longest.append(duration)
        longest.sort(reverse=True)
        del longest[self.KEEP :]
        while self._buckets and self._buckets[0][0] <= second - self.seconds:
            self._buckets.popleft()

    def longest(self, rank: int) -> float:
        """The `rank`-th longest duration (1 = the longest, at most `KEEP`), 0 with fewer."""
        durations = sorted((d for _, kept in self._buckets for d in kept), reverse=True)
        return durations[rank - 1] if len(durations) >= rank else 0.0


def clock_time(previous: float | None, now: float, period: float) -> float:
    """When a pull made at `now` (s) was due on the backend's clock, the one before it due at
    `previous` (None: the first): a sound card calls on an absolute schedule, so a callback
    that woke late is followed by one that comes early. A pull later than one `period` after
    its slot, or earlier than its slot, starts the schedule again from `now` (a device stall,
    or a clock running apart from this one). Without it the next block was rendered for a
    period after the late pull, and the early pull after it found none (the null clock, 5 of
    1250 blocks under an OSC flood)."""
    if previous is None:
        return now
    slot = previous + period
    return slot if slot <= now <= slot + period else now


class Runner:
    """Runs `engine` on a worker thread for a clock-driven backend (device or null): the
    backend calls `pull(out, input)` once per block from its audio thread."""

    def __init__(self, engine: Engine, *, depth: int = 4) -> None:
        self.engine = engine
        self.period = engine.block / engine.sample_rate
        self.ring = BlockRing(depth, engine.channels, engine.block)
        self.inputs: deque[np.ndarray] = deque(maxlen=depth)
        self.missed = 0
        self.missed_at: list[int] = []
        """Pull numbers (0-based) that found no block ready."""
        self.pulls = 0
        self.played_at: dict[int, float] = {}
        self.render_seconds: deque[float] = deque(maxlen=64)
        self.recent = RecentLongest(LEAD_MEMORY_SECONDS)
        self.worker_threads: int | None = None
        self.worker_priority = False
        self._due = time.perf_counter()
        self._scheduled: float | None = None
        """When the latest pull was due on the backend's clock (`clock_time`), once pulled."""
        self._pulled = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._switch = sys.getswitchinterval()
        self.idle = threading.Event()
        """Set while no block renders: other threads of the engine (the OSC server) wait for it
        before work of their own, so a render never waits for Python's lock (the GIL) behind
        them (a render is hundreds of short torch calls, each re-taking that lock)."""
        self.idle.set()

    # ---- audio thread ------------------------------------------------------------------------

    def pull(self, out: np.ndarray, audio_in: np.ndarray | None = None) -> None:
        """The audio callback: fill `out` `[channels, block]` with the next block (silence and a
        count in `missed` when the worker is late); hand over the input block. Never blocks."""
        now = time.perf_counter()
        if audio_in is not None:
            self.inputs.append(np.array(audio_in, dtype=np.float32))
        index = self.ring.pop(out)
        self.pulls += 1
        if index is None:
            self.missed += 1
            if len(self.missed_at) < 1000:
                self.missed_at.append(self.pulls - 1)
        else:
            self.played_at[index] = now
            self.played_at.pop(index - 4096, None)
        self._scheduled = clock_time(self._scheduled, now, self.period)
        self._due = self._scheduled + self.period
        self._pulled.set()

    # ---- worker ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker (the first two blocks are rendered before this returns). Python's
        garbage collector is told to leave the objects alive now alone (`gc.freeze`): a full
        collection over a large process (a loaded model, a test session) can pause every thread
        for longer than a block."""
        gc.collect()
        gc.freeze()
        sys.setswitchinterval(SWITCH_INTERVAL)
        self._render_one()  # two blocks are ready before the first pull: the worker thread's
        self._render_one()  # first render (cold) then has two periods; the ring drains to one
        self._thread = threading.Thread(target=self._work, name="engine-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._pulled.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        sys.setswitchinterval(self._switch)
        gc.unfreeze()

    def _lead(self) -> float:
        """How long before its due time a block starts: until 16 renders are timed, the whole
        period or 1.5 × the slowest render so far (+ `SAFETY_SECONDS`) if longer (the first
        renders of a thread are its slowest: without it a model whose block takes most of the
        period missed its first pulls), then `LEAD_MARGIN` × the third-longest render (wake-up
        included) of the last `LEAD_MEMORY_SECONDS`, or the longest if longer, + `SAFETY_SECONDS`:
        slow blocks (another process or thread taking the cores) widen the margin at once, and
        it narrows again when they leave the window; never under `MIN_LEAD_SECONDS` or half a
        period. (With the third-longest alone, a render as long as the longest of a flood's
        first seconds came again and missed its pull: 1 block in 1250, 2 runs in 3.) A lead
        over one period means rendering that many blocks ahead."""
        if len(self.render_seconds) < 16:  # warming up: as long as the slowest so far allows
            slowest = max(self.render_seconds, default=0.0)
            return max(self.period, 1.5 * slowest + SAFETY_SECONDS)
        floor = min(self.period / 2, MIN_LEAD_SECONDS)
        slow = max(LEAD_MARGIN * self.recent.longest(3), self.recent.longest(1))
        return max(floor, slow + SAFETY_SECONDS)

    def _work(self) -> None:
        self.worker_threads = runtime.use_threads("realtime")
        self.worker_priority = raise_priority()
        capacity = self.ring.capacity - 1
        while not self._stop.is_set():
            self._pulled.wait()
            self._pulled.clear()
            if self._stop.is_set():
                break
            lead = self._lead()
            ahead = min(capacity, int(lead / self.period))  # blocks queued beyond the next one
            while len(self.ring) > ahead:  # ahead enough: wait for a pull
                if self._stop.wait(self.period / 4):
                    return
            start_at = self._due + len(self.ring) * self.period - lead
            delay = start_at - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                break
            self._render_one(start_at)
            if len(self.ring) <= ahead:
                self._pulled.set()  # still short of the blocks it should hold: go on

    def _render_one(self, planned: float | None = None) -> None:
        """Render and queue the next block; `render_seconds` records the time from the planned
        start (`planned`, s of `perf_counter`) to the block being queued, wake-up included."""
        audio_in = self.inputs.popleft() if self.inputs else None
        began = time.perf_counter() if planned is None else min(planned, time.perf_counter())
        index = self.engine.block_index
        self.idle.clear()
        try:
            out = self.engine.render_block(audio_in)
        finally:
            self.idle.set()
        finished = time.perf_counter()
        self.render_seconds.append(finished - began)
        self.recent.add(finished - began, finished)
        self.ring.push(out, index)
