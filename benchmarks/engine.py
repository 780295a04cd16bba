"""The realtime engine under an audio clock: real-time factor, blocks over deadline, OSC-to-output
latency, and one-shot voice cost. JSON.

For the stream model and the spectral model (trained bundles with `--stream` / `--spectral`, else
untrained `small` presets saved to a temporary bundle: same cost) at 2048-, 512- and 128-sample
blocks (a block the model cannot take is reported as unsupported):
- `real_time_factor`: `Engine.render_block` in a loop over a test signal (the file backend);
- `missed_percent`: the null backend's clock (one pull per block period, as a sound card) for
  `--seconds`, quiet and with a concurrent busy thread in the same process (numpy matrix
  products), counting pulls that found no block ready;
- `osc_latency_ms` p50 / p95: `/gain` messages sent over UDP to the engine's OSC server during the
  quiet run, from the send to the clock's pull of the first block that applied it; target ≤ one
  block + the model's delay + 5 ms.
For a ddsp bundle (`--ddsp`): the same at each block size for live input (timbre transfer),
plus a clocked run of the `notes` source (one held note, as from MIDI).
For a one-shot bundle (`--oneshot`): the render time of one triggered voice, the mixing time per
playing voice per 512-sample block, and the polyphony and trigger rate that fit in real time.
The engine's worker runs on 1 torch thread (`runtime`'s realtime job); the machine has 2 cores.

    python benchmarks/engine.py --stream runs/voice/bundle --spectral runs/spec/bundle --oneshot demo/run/bundle
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the busy thread is one thread, one core

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from timbrespace.engine import Engine
from timbrespace.engine.addresses import parse_message
from timbrespace.engine.backends import NullBackend
from timbrespace.engine.osc import OscServer, build_message
from timbrespace.engine.runner import Runner
from timbrespace.runtime import ENGINE_RUNTIMES
from timbrespace.space import LatentSpace

BLOCKS = tuple(int(b) for b in os.environ.get("ENGINE_BLOCKS", "2048,512,128").split(","))
RUNTIME = "auto"
"""Streaming models play their faster compiled graphs, as `serve` does (`--runtime`)."""


def untrained_bundle(family: str, folder: Path) -> Path:
    from timbrespace.bundle import save_bundle
    from timbrespace.models.base import build_model, resolve_config

    model = build_model(family, resolve_config(family, "small")).eval()
    return save_bundle(folder / family, model, family)


def test_signal(seconds: float, sample_rate: int, channels: int) -> np.ndarray:
    """A gliding harmonic tone with a little noise, `[channels, samples]` float32."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 220.0 * 2.0 ** (np.sin(2 * np.pi * 0.25 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2
    noise = np.random.default_rng(0).normal(0, 0.01, t.shape)
    return np.repeat((tone + noise)[None].astype(np.float32), channels, axis=0)


def real_time_factor(space: LatentSpace, block: int, seconds: float, runtime: str) -> float:
    engine = Engine(space, block, runtime=runtime)
    audio = test_signal(seconds, engine.sample_rate, engine.channels)
    blocks = audio.shape[-1] // block
    for i in range(min(20, blocks)):  # warm-up
        engine.render_block(audio[:, i * block : (i + 1) * block])
    began = time.perf_counter()
    for i in range(blocks):
        engine.render_block(audio[:, i * block : (i + 1) * block])
    return blocks * block / engine.sample_rate / (time.perf_counter() - began)


class BusyThread:
    """A concurrent thread of the same process doing numpy matrix products."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        a = np.random.default_rng(0).normal(size=(256, 256))
        while not self._stop.is_set():
            a = np.tanh(a @ a.T / 256.0)

    def __enter__(self) -> BusyThread:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def clocked_run(
    space: LatentSpace,
    block: int,
    seconds: float,
    *,
    busy: bool,
    osc: bool,
    notes: bool = False,
    runtime: str = "python",
) -> dict:
    engine = Engine(space, block, runtime=runtime)
    if notes:  # an instrument held on one note: the notes source instead of the input
        engine.schedule(0, engine.check(parse_message("/note", [69.0, 100.0])))
    runner = Runner(engine)
    server = OscServer(engine, port=0, yield_to=runner.idle) if osc else None
    null = NullBackend(runner)
    sent: list[float] = []
    if server is not None:
        server.start()

    def sender() -> None:
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        assert server is not None
        began = time.perf_counter()
        while time.perf_counter() - began < seconds - 0.5:
            time.sleep(0.05 + 0.05 * np.random.default_rng(len(sent)).random())
            sent.append(time.perf_counter())
            client.sendto(
                build_message("/gain", [-1.0 * (len(sent) % 2)]), (server.host, server.port)
            )
        client.close()

    thread = threading.Thread(target=sender, daemon=True) if osc else None
    try:
        if busy:
            with BusyThread():
                null.start()
                time.sleep(seconds)
                null.stop()
        else:
            null.start()
            if thread is not None:
                thread.start()
            time.sleep(seconds)
            if thread is not None:
                thread.join()
            time.sleep(0.2)
            null.stop()
    finally:
        if server is not None:
            server.stop()
    result = {
        "pulls": runner.pulls,
        "missed": runner.missed,
        "missed_percent": round(100.0 * runner.missed / max(1, runner.pulls), 3),
    }
    if osc:
        applied = [a for a in engine.applied if a.address == "/gain"]
        latencies = [
            1000 * (runner.played_at[a.block] - stamp)
            for a, stamp in zip(applied, sent, strict=False)
            if a.block in runner.played_at
        ]
        latencies.sort()
        target = 1000 * (block + engine.delay_samples) / engine.sample_rate + 5.0
        if latencies:
            p50 = statistics.median(latencies)
            p95 = latencies[int(0.95 * (len(latencies) - 1))]
            result["osc_latency_ms"] = {
                "messages": len(latencies),
                "p50": round(p50, 2),
                "p95": round(p95, 2),
                "target": round(target, 2),
                "meets_target": bool(p95 <= target),
            }
    return result


def model_report(space: LatentSpace, seconds: float) -> dict:
    report: dict = {
        "family": space.model.label,
        "sample_rate": space.sample_rate,
        "hop": int(space.model.hop_length),
    }
    for block in BLOCKS:
        try:
            engine = Engine(space, block, runtime=RUNTIME)
        except Exception as error:
            report[str(block)] = {"unsupported": str(error)}
            continue
        runtime = engine.runtime  # what `auto` chose, kept for the runs below
        rtf = real_time_factor(space, block, min(seconds, 10.0), runtime)
        entry = {
            "runtime": runtime,
            "runtime_ms": engine.runtime_ms,
            "delay_ms": round(1000 * engine.delay_samples / engine.sample_rate, 2),
            "deadline_ms": round(1000 * block / engine.sample_rate, 2),
            "real_time_factor": round(rtf, 2),
            "quiet": clocked_run(space, block, seconds, busy=False, osc=True, runtime=runtime),
            "busy_thread": clocked_run(
                space, block, seconds, busy=True, osc=False, runtime=runtime
            ),
        }
        if engine.notes is not None:
            entry["notes_quiet"] = clocked_run(
                space, block, seconds, busy=False, osc=False, notes=True, runtime=runtime
            )
        report[str(block)] = entry
        print(json.dumps({block: entry}), flush=True)
    return report


def voices_report(space: LatentSpace) -> dict:
    engine = Engine(space, 512, synchronous=True)
    assert engine.voices is not None
    bank = engine.voices
    z = engine.current_point()
    renders = []
    for i in range(12):
        began = time.perf_counter()
        bank.render(z, 200.0 + 10.0 * i)  # new pitches: no memo
        renders.append(time.perf_counter() - began)
    plain = []
    for i in range(12):
        began = time.perf_counter()
        bank.render(z + 0.01 * (i + 1), None)
        plain.append(time.perf_counter() - began)
    audio = np.tile(bank.render(z, None), (1, 20))  # long enough to play through the timing
    for _ in range(32):
        bank.play(audio, 0.5)
    began = time.perf_counter()
    for _ in range(50):
        bank.mix(512)
    mix_per_voice = (time.perf_counter() - began) / 50 / 32
    period = 512 / engine.sample_rate
    tuning = notes_in_tune(space, bank)
    return {
        **tuning,
        "render_ms_per_note": round(1000 * statistics.median(renders), 2),
        "render_ms_per_trigger": round(1000 * statistics.median(plain), 2),
        "mix_us_per_voice_per_block": round(1e6 * mix_per_voice, 2),
        "cpu_percent_per_playing_voice": round(100 * mix_per_voice / period, 4),
        "polyphony_in_real_time_at_512": int(period / mix_per_voice),
        "notes_per_second_on_the_render_thread": round(1 / statistics.median(renders), 1),
    }


def notes_in_tune(space: LatentSpace, bank) -> dict:  # type: ignore[no-untyped-def]
    """`/note` as the engine renders it (C3, C4, G4) from up to 12 dataset sounds whose path
    names a pluck (else the first 12), measured with librosa's pyin over the first third."""
    import librosa
    import torch

    sounds = [s for s in space.analysis.sounds if "pluck" in s][:12] or space.analysis.sounds[:12]
    sr = space.sample_rate
    errors = []
    for sound in sounds:
        z = space.sound_latent(sound)
        for note in (48, 60, 67):
            hz = 440.0 * 2 ** ((note - 69) / 12)
            audio = bank.render(torch.as_tensor(z).float(), hz)[0]
            f0, voiced, _ = librosa.pyin(audio[: sr // 3], fmin=60, fmax=1500, sr=sr)
            if np.any(voiced):
                errors.append(abs(1200 * np.log2(np.nanmedian(f0[voiced]) / hz)))
    errors_array = np.array(errors)
    return {
        "note_sounds": len(sounds),
        "note_median_abs_cents": round(float(np.median(errors_array)), 1),
        "notes_within_25_cents": f"{int((errors_array < 25).sum())}/{len(errors_array)}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", default=None, help="stream bundle (default: untrained small)")
    parser.add_argument(
        "--spectral", default=None, help="spectral bundle (default: untrained small)"
    )
    parser.add_argument("--oneshot", default=None, help="one-shot bundle (skipped without)")
    parser.add_argument(
        "--ddsp", default=None, help="ddsp bundle: live input and notes (skipped without)"
    )
    parser.add_argument(
        "--only",
        choices=("stream", "spectral", "oneshot", "ddsp"),
        default=None,
        help="run one part only",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="clocked run length (s)")
    parser.add_argument(
        "--runtime", choices=ENGINE_RUNTIMES, default="auto", help="as `serve --runtime`"
    )
    args = parser.parse_args()
    global RUNTIME
    RUNTIME = args.runtime
    with tempfile.TemporaryDirectory() as folder:
        out: dict = {"benchmark": "engine", "cores": 2}
        for family in ("stream", "spectral"):
            if args.only not in (None, family):
                continue
            path = getattr(args, family) or untrained_bundle(family, Path(folder))
            out[family] = {"bundle": str(getattr(args, family) or f"untrained small {family}")}
            out[family] |= model_report(LatentSpace.open(path), args.seconds)
        if args.oneshot and args.only in (None, "oneshot"):
            out["oneshot"] = voices_report(LatentSpace.open(args.oneshot))
        if args.ddsp and args.only in (None, "ddsp"):
            out["ddsp"] = {"bundle": args.ddsp} | model_report(
                LatentSpace.open(args.ddsp), args.seconds
            )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
