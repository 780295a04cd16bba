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
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


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


def timed_decodes(studio, index: int, name: str, values: list[float]) -> list[float]:  # noqa: ANN001
    """Milliseconds of the library work alone (move + decode), no HTTP: the baseline of the same
    run, so the studio's own overhead shows on a noisy machine."""
    space = studio.space
    z = space.sound_latent(index)
    times = []
    for value in values:
        start = time.perf_counter()
        space.render(space.move(z, {name: float(value)}).z_new)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def percentiles(times: list[float]) -> dict[str, float]:
    values = np.array(times)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "p95_ms": round(float(np.percentile(values, 95)), 2),
        "max_ms": round(float(values.max()), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, help="bundle (or run) folder, analysed")
    parser.add_argument("--data", default=None, help="cache (default: the training cache)")
    parser.add_argument("--control", default=None, help="slider to move (default pitch, or pca1)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads per decode (default 1, as the studio)"
    )
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--per-client", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args()

    import torch

    from timbrespace.studio.app import create_app
    from timbrespace.studio.service import Studio

    torch.set_num_threads(args.threads)
    studio = Studio.open(args.bundle, data=args.data)
    controls = studio.space.controls
    name = args.control or ("pitch" if "pitch" in controls else "pca1")
    control = controls[name]
    low, high = control.range
    f0 = studio.analysis.descriptor("f0") if "f0" in studio.analysis.descriptor_names else None
    index = int(np.nanargmax(f0)) if f0 is not None and np.isfinite(f0).any() else 0
    total = args.warmup + args.requests + args.clients * args.per_client
    values = [control.to_user(v) for v in np.linspace(low, high, total)]
    rng = np.random.default_rng(0)
    rng.shuffle(values)
    bodies = [{"start": {"index": index}, "set": {name: float(v)}} for v in values]

    decode_only = timed_decodes(studio, index, name, values[: args.requests])
    port = free_port()
    server = start_server(create_app(studio), port)
    try:
        client = Client(port)
        for body in bodies[: args.warmup]:
            client.render(body)
        sequential = [
            client.render(body) for body in bodies[args.warmup : args.warmup + args.requests]
        ]
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
    finally:
        server.should_exit = True

    sizes = {size for _, status, size in sequential if status == 200}
    ok_times = [ms for ms, status, _ in loaded if status == 200]
    result = {
        "benchmark": "studio_latency",
        "bundle": str(studio.space.bundle.path),
        "family": studio.space.bundle.family,
        "sample_rate": studio.sample_rate,
        "threads": args.threads,
        "control": name,
        "start_sound": studio.analysis.sounds[index],
        "wav_bytes": sorted(sizes),
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
        "target_p95_ms": 50.0,
    }
    result["meets_target"] = (
        result["sequential"]["p95_ms"] <= result["target_p95_ms"]
        and result["concurrent"]["errors"] == 0
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
