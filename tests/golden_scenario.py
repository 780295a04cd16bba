"""Golden outputs of every face on tiny trained bundles: the CLI verbs and the studio's HTTP
API, driven only through their public interfaces (argv, HTTP), so the same scenario runs on any
version of the code. `tests/test_golden.py` compares a fresh run with the recording in
`tests/golden/`; record anew (only when a change of sound is intended) with

    python tests/golden_scenario.py --record
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

GOLDEN_DIR = Path(__file__).parent / "golden"
TRAIN_STEPS = 40


def _cli(*argv: str) -> None:
    from timbrespace.cli import main

    code = main([str(a) for a in argv])
    if code not in (0, None):
        raise RuntimeError(f"timbrespace {' '.join(map(str, argv))} exited {code}")


def _cli_json(capsys_read: Callable[[], str], *argv: str) -> Any:
    capsys_read()
    _cli(*argv)
    text = capsys_read()
    return json.loads(text[text.index("{") :])


def _wavs(folder: Path) -> dict[str, np.ndarray]:
    return {
        path.relative_to(folder).as_posix(): sf.read(path, dtype="float32", always_2d=True)[0]
        for path in sorted(folder.rglob("*.wav"))
    }


def _studio(run: Path, requests: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    import io

    from fastapi.testclient import TestClient

    from timbrespace.studio.app import create_app
    from timbrespace.studio.service import Studio

    client = TestClient(create_app(Studio.open(run)), base_url="http://127.0.0.1")
    results: dict[str, Any] = {"info": client.get("/api/info").json()}
    for number, (endpoint, body) in enumerate(requests):
        response = client.post(endpoint, json=body)
        assert response.status_code == 200, (endpoint, body, response.text)
        audio, _ = sf.read(io.BytesIO(response.content), dtype="float32", always_2d=True)
        results[f"http{number}:wav"] = audio
        results[f"http{number}:values"] = json.loads(response.headers["X-Values"])
        state = client.get(f"/api/states/{response.headers['X-State']}").json()
        results[f"http{number}:nearest"] = [n["sound"] for n in state["nearest"]]
    return results


def _common(
    run: Path, data: Path, cache: Path, out: Path, sounds: list[str], read, *align: str
) -> dict:  # noqa: ANN001
    a, b, c, d = (data / s for s in sounds)
    _cli("generate", "reconstruct", run, a, "-o", out / "reconstruct.wav")
    _cli("generate", "reconstruct", run, a, "--normalize", "-o", out / "reconstruct_norm.wav")
    _cli("generate", "interpolate", run, a, b, "--amount", "0,0.5,1,1.2", *align, "-o", out / "mix")
    _cli("generate", "plane", run, a, b, c, d, "--xy", "0.3,0.7", *align, "-o", out / "plane.wav")
    _cli("generate", "path", run, a, "--op", "scale=1.5", "--op", "curve:1+=0:0,1:2",
         "--op", "noise=0.3", "--seed", "3", "-o", out / "path.wav")  # fmt: skip
    _cli("generate", "transfer", run, d, "-o", out / "transfer.wav")
    _cli("generate", "random", run, "-n", "2", "--seed", "5", "-o", out / "random")
    metrics = _cli_json(read, "eval", run, "--data", cache, "--split", "all", "--limit", "8")
    metrics.pop("seconds", None)
    return metrics


def oneshot_scenario(work: Path, read: Callable[[], str]) -> dict[str, Any]:
    """Demo pack (40 sounds, 16 kHz) → prepare → tiny one-shot model → analyze → every verb."""
    data, cache, run, out = work / "pack", work / "cache", work / "run", work / "out"
    _cli("demo-pack", data, "--n", "40", "--seed", "1", "--sr", "16000")
    _cli("prepare", data, "-o", cache, "--sr", "16000", "--length", "0.5", "--workers", "1")
    _cli("train", "--model", "oneshot", "--preset", "tiny", "--data", cache, "--out", run,
         "--max-steps", TRAIN_STEPS, "--logger", "none", "--no-progress")  # fmt: skip
    _cli("analyze", run)
    sounds = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.wav"))
    picks = [sounds[0], sounds[12], sounds[24], sounds[36]]
    metrics = _common(run, data, cache, out, picks, read)
    _cli("generate", "control", run, "--nearest", picks[0], "--set", "pca1=+0.5",
         "--lock", "pca2", "-o", out / "control_pca.wav")  # fmt: skip
    _cli("generate", "control", run, "--nearest", picks[1], "--sweep", "pca1=-1:1:3",
         "-o", out / "sweep_pca")  # fmt: skip
    _cli("generate", "control", run, "--nearest", picks[3], "--set", "pitch=+3st",
         "--lock", "attack", "-o", out / "control_pitch.wav")  # fmt: skip
    _cli("generate", "control", run, "--nearest", picks[3], "--sweep", "pitch=-6st:+6st:3",
         "-o", out / "sweep_pitch")  # fmt: skip
    studio = _studio(
        run,
        [
            ("/api/render", {"start": {"index": 3}, "set": {"pca1": 0.5}, "lock": ["pca2"]}),
            ("/api/render", {"start": {"map": [0.2, -0.1]}, "set": {}, "normalize": True}),
            ("/api/interpolate", {"a": {"index": 1}, "b": {"index": 7}, "amount": 1.2}),
            ("/api/plane", {"corners": [{"index": i} for i in (0, 5, 9, 13)], "xy": [0.3, 0.7]}),
            ("/api/path", {"start": {"index": 2}, "ops": ["scale=1.5", "reverse"], "seed": 1}),
        ],
    )
    return {"wav": _wavs(out), "eval": metrics, "studio": studio}


def spectral_scenario(work: Path, read: Callable[[], str]) -> dict[str, Any]:
    """GM melodies (2 instruments, 16 kHz) → continuous prepare → tiny spectral model → every verb."""
    data, cache, run, out = work / "mel", work / "cache", work / "run", work / "out"
    _cli("melodies", data, "--instruments", "flute,cello", "--seconds", "6", "--sr", "16000")
    for path in data.rglob("*.wav"):  # 2 s of each keeps the recording small
        audio, rate = sf.read(path, dtype="float32")
        sf.write(path, audio[: 2 * rate], rate, subtype="FLOAT")
    _cli("prepare", data, "-o", cache, "--mode", "continuous", "--sr", "16000",
         "--length", "1.0", "--workers", "1")  # fmt: skip
    _cli("train", "--model", "spectral", "--preset", "tiny", "--data", cache, "--out", run,
         "--max-steps", TRAIN_STEPS, "--logger", "none", "--no-progress")  # fmt: skip
    _cli("analyze", run)
    sounds = sorted(p.relative_to(data).as_posix() for p in data.rglob("*.wav"))
    picks = [sounds[0], sounds[-1], sounds[0], sounds[-1]]
    metrics = _common(run, data, cache, out, picks, read, "--align", "crop")
    a, b = data / picks[0], data / picks[1]
    _cli("generate", "interpolate", run, a, b, "--curve", "0:0,0.5:1,1:1.3", "--align",
         "stretch", "--gla-iters", "8", "-o", out / "curve.wav")  # fmt: skip
    _cli("generate", "plane", run, a, b, b, a, "--trajectory", "0,0,0;0.5,1,0.5;1,0.2,1", "--align", "loop",
         "-o", out / "trajectory.wav")  # fmt: skip
    _cli("generate", "encode", run, a, "-o", out / "a.safetensors")
    _cli("generate", "path", run, out / "a.safetensors", "--op", "reverse", "--op",
         "stretch=1.5", "--op", "smooth=3", "-o", out / "path_saved.wav")  # fmt: skip
    studio = _studio(
        run,
        [
            ("/api/render", {"start": {"index": 3}, "set": {"pca1": 0.5}, "gla_iters": 8}),
            (
                "/api/interpolate",
                {"a": {"index": 0}, "b": {"index": 5}, "curve": [[0, 0], [1, 1.2]]},
            ),  # fmt: skip
            (
                "/api/plane",
                {
                    "corners": [{"index": i} for i in (0, 1, 2, 3)],
                    "trajectory": [[0, 0, 0], [1, 1, 1]],
                },
            ),  # fmt: skip
            ("/api/path", {"start": {"index": 4}, "ops": ["reverse", "scale=0.5"]}),
        ],
    )
    return {"wav": _wavs(out), "eval": metrics, "studio": studio}


SCENARIOS = {"oneshot": oneshot_scenario, "spectral": spectral_scenario}


def flatten(result: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(arrays by name, everything else as JSON-ready data)."""
    arrays = {f"wav/{k}": v for k, v in result["wav"].items()}
    arrays.update({k: v for k, v in result["studio"].items() if isinstance(v, np.ndarray)})
    other = {k: v for k, v in result["studio"].items() if not isinstance(v, np.ndarray)}
    return arrays, {"eval": result["eval"], "studio": other}


def record(name: str, work: Path) -> None:
    import contextlib
    import io

    buffer = io.StringIO()

    def read() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    with contextlib.redirect_stdout(buffer):
        result = SCENARIOS[name](work, read)
    arrays, other = flatten(result)
    GOLDEN_DIR.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN_DIR / f"{name}.npz", **arrays)
    (GOLDEN_DIR / f"{name}.json").write_text(json.dumps(other, indent=1, sort_keys=True) + "\n")
    print(f"{name}: {len(arrays)} arrays → {GOLDEN_DIR}", file=sys.stderr)


GOLDEN_THREADS = "1"
"""Every job of the scenario runs on this many torch threads (`TIMBRESPACE_THREADS`): float sums
depend on the count, and the runtime policy gives batch jobs the cores the machine leaves idle."""


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:2] != ["--record"]:
        sys.exit(__doc__)
    os.environ["TIMBRESPACE_THREADS"] = GOLDEN_THREADS
    import torch

    torch.set_num_threads(int(GOLDEN_THREADS))
    for scenario in sys.argv[2:] or list(SCENARIOS):
        with tempfile.TemporaryDirectory() as tmp:
            record(scenario, Path(tmp))
