"""Studio slider latency: a slider move → WAV bytes read, over real HTTP. Prints JSON.

Starts the studio (uvicorn in a thread, 127.0.0.1, a free port) for a bundle, then
1. times `--requests` sequential slider moves: POST /api/render from one dataset sound with a new
   value of a control each time (never a cached state), full round trip until the WAV is read
   → p50 / p95 ms (target: p95 ≤ 50 ms for the small one-shot model);
   The same moves timed in process without HTTP (move + decode) give the baseline of the run.
2. runs `--clients` concurrent clients of `--per-client` moves each → errors (target 0), p95
   under load, requests per second.

    python benchmarks/studio_latency.py --bundle runs/kit/bundle
    python benchmarks/studio_latency.py --bundle runs/kit --control pca1 --threads 1
    python benchmarks/studio_latency.py --bundle demo/run/bundle --load 1   # quiet and loaded
    python benchmarks/studio_latency.py --bundle demo/run/bundle --control brightness \
        --also attack=5ms release=0.4s pitch=220Hz              # four sliders moved, one dragged
    python benchmarks/studio_latency.py --bundle demo/run/bundle --control brightness \
        --lock pitch attack release loudness                     # a drag with locks

With `--load N` the same figures are measured again with N competing busy processes (issue 14:
sequential p95 ≤ 50 ms with one busy process on 2 cores) and reported under `"loaded"`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from competing_load import add_load_arguments, quiet_and_loaded

from timbrespace import runtime

TARGET_P95_MS = 50.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(app, port: int):  # noqa: ANN001, ANN201
    """uvicorn in a daemon thread; returns the server once it accepts connections."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the studio did not start within 30 s")
        time.sleep(0.05)
    return server


class Client:
    """One keep-alive HTTP connection, like a browser tab's."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def render(self, body: dict) -> tuple[float, int, int]:
        """(milliseconds until the whole answer is read, status, bytes)."""
        payload = json.dumps(body).encode()
        start = time.perf_counter()
        self.connection.request(
            "POST", "/api/render", payload, {"Content-Type": "application/json"}
        )
        response = self.connection.getresponse()
        data = response.read()
        return (time.perf_counter() - start) * 1000.0, response.status, len(data)


def timed_decodes(studio, index: int, name: str, values: list[float], args) -> list[float]:  # noqa: ANN001
    """Milliseconds of the library work alone (move + decode), no HTTP: the baseline of the same
    run, so the studio's own overhead shows on a noisy machine."""
    space = studio.space
    z = space.sound_latent(index)
    times = []
    for value in values:
        start = time.perf_counter()
        settings = [*args.also, f"{name}={float(value)!r}{space.controls[name].unit}"]
        space.render(space.move(z, settings, lock=args.lock).z_new)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def percentiles(times: list[float]) -> dict[str, float]:
    values = np.array(times)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "max_ms": round(float(values.max()), 2),
    }


def measure_studio(studio, port: int, name: str, index: int, values: list[float], args) -> dict:  # noqa: ANN001
    """Baseline, sequential and concurrent figures for one pass over `values`."""
    also = {s.name: s.value for s in args.also_parsed}
    bodies = [
        {"start": {"index": index}, "set": {**also, name: float(v)}, "lock": args.lock}
        for v in values
    ]
    decode_only = timed_decodes(studio, index, name, values[: args.requests], args)
    client = Client(port)
    for body in bodies[: args.warmup]:
        client.render(body)
    sequential = [client.render(body) for body in bodies[args.warmup : args.warmup + args.requests]]
    under_load_bodies = bodies[args.warmup + args.requests :]

    def one_client(k: int) -> list[tuple[float, int, int]]:
        own = Client(port)
        mine = under_load_bodies[k * args.per_client : (k + 1) * args.per_client]
        results = []
        for body in mine:
            try:
                results.append(own.render(body))
            except (OSError, http.client.HTTPException):
                results.append((float("nan"), 0, 0))
                own = Client(port)
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        loaded = [item for batch in pool.map(one_client, range(args.clients)) for item in batch]
    wall = time.perf_counter() - started
    ok_times = [ms for ms, status, _ in loaded if status == 200]
    figures = {
        "wav_bytes": sorted({size for _, status, size in sequential if status == 200}),
        "move_and_decode_only": {"requests": len(decode_only), **percentiles(decode_only)},
        "sequential": {
            "requests": len(sequential),
            "errors": sum(status != 200 for _, status, _ in sequential),
            **percentiles([ms for ms, _, _ in sequential]),
        },
        "concurrent": {
            "clients": args.clients,
            "requests": len(loaded),
            "errors": len(loaded) - len(ok_times),
            **(percentiles(ok_times) if ok_times else {}),
            "requests_per_s": round(len(ok_times) / wall, 1),
        },
        "target_p95_ms": TARGET_P95_MS,
    }
    figures["meets_target"] = (
        figures["sequential"]["errors"] == 0
        and figures["sequential"]["p95_ms"] <= TARGET_P95_MS
        and figures["concurrent"]["errors"] == 0
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="bundle (or run) folder, analysed")
    parser.add_argument("--data", default=None, help="cache (default: the training cache)")
    parser.add_argument("--control", default=None, help="slider to move (default pitch, or pca1)")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="pin torch's threads per decode (default: the runtime policy, 1 per render)",
    )
    parser.add_argument(
        "--also",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="other sliders moved, sent with every request as the studio sends them",
    )
    parser.add_argument("--lock", nargs="*", default=[], metavar="NAME", help="locked controls")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=10)
    add_load_arguments(parser)
    args = parser.parse_args()

    if args.threads is not None:
        os.environ[runtime.ENV_THREADS] = str(args.threads)

    from timbrespace.latent.settings import parse_setting
    from timbrespace.studio.app import create_app
    from timbrespace.studio.service import Studio

    studio = Studio.open(args.bundle, data=args.data)
    runtime.use_threads("render")
    controls = studio.space.controls
    name = args.control or ("pitch" if "pitch" in controls else "pca1")
    args.also_parsed = [parse_setting(text, controls) for text in args.also]
    if any(s.relative for s in args.also_parsed):
        parser.error("--also takes absolute values (the studio sends its sliders' values)")
    control = controls[name]
    low, high = control.range
    f0 = studio.analysis.descriptor("f0") if "f0" in studio.analysis.descriptor_names else None
    index = int(np.nanargmax(f0)) if f0 is not None and np.isfinite(f0).any() else 0
    total = args.warmup + args.requests + args.clients * args.per_client
    passes = 2 if args.load > 0 else 1
    values = [control.to_user(v) for v in np.linspace(low, high, total * passes)]
    np.random.default_rng(0).shuffle(values)
    batches = iter([values[:total], values[total:]])

    port = free_port()
    server = start_server(create_app(studio), port)
    try:
        figures = quiet_and_loaded(
            lambda: measure_studio(studio, port, name, index, next(batches), args),
            args.load,
            args.load_kind,
        )
    finally:
        server.should_exit = True

    result = {
        "benchmark": "studio_latency",
        "bundle": str(studio.space.bundle.path),
        "family": studio.space.bundle.family,
        "sample_rate": studio.sample_rate,
        "threads": args.threads or "runtime policy (1 per render)",
        "control": name,
        "also": args.also,
        "lock": args.lock,
        "start_sound": studio.analysis.sounds[index],
        **figures,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
