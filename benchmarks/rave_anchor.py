"""RAVE anchor: streaming export of acids-rave 2.3.1 (random weights), timed per buffer. JSON.

Runs inside the venv made by `benchmarks/setup_rave.sh` (it imports rave, gin and cached_conv, not
timbrespace). Builds RAVE from its own gin configs with cached convolutions on, removes weight norm
and wraps it in the exporter's own `VariationalScriptedRAVE` class, exactly as `rave export
--streaming` does, then scripts, saves and reloads it as nn~ would. For each block size it feeds
consecutive buffers of a sine plus noise through the export's forward (encode + decode) after
warm-up. Prints one JSON object on stdout; everything else goes to stderr.

    PY=$(bash benchmarks/setup_rave.sh)
    $PY benchmarks/rave_anchor.py --blocks 2048,512,128 --threads 2 --seconds 10
    $PY benchmarks/rave_anchor.py --config causal

`--config` takes RAVE config names (comma-separated, parsed in order, as `rave train --config`);
`causal` alone means `v2,causal`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cached_conv as cc
import gin
import numpy as np
import rave
import rave.core
import torch

# acids-rave's `rave export` module; imported before any gin config is parsed (gin locks then).
from scripts.export import VariationalScriptedRAVE

WARMUP_SECONDS = 2.0
MIN_WARMUP_BLOCKS = 5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def config_files(config: str) -> list[str]:
    """Absolute paths of RAVE's gin configs for a comma-separated list of names."""
    names = [name.strip() for name in config.split(",") if name.strip()]
    if names == ["causal"]:
        names = ["v2", "causal"]
    return [str(Path(rave.BASE_PATH) / "configs" / f"{name}.gin") for name in names]


def build_rave(files: list[str], sample_rate: int, cached: bool) -> rave.RAVE:
    """RAVE with random weights; `cached` selects streaming (cached padding) convolutions."""
    gin.clear_config()
    gin.parse_config_files_and_bindings(files, [f"SAMPLING_RATE = {sample_rate}"])
    cc.use_cached_conv(cached)
    return rave.RAVE().eval()


def streaming_export(pretrained: rave.RAVE, path: Path) -> torch.jit.ScriptModule:
    """What `rave export --streaming` writes (weight norm removed, TorchScript), reloaded."""
    if not isinstance(pretrained.encoder, rave.blocks.VariationalEncoder):
        raise SystemExit("only variational configs (v2, causal, ...) are supported here")
    for module in pretrained.modules():
        if hasattr(module, "weight_g"):
            torch.nn.utils.remove_weight_norm(module)
    wrapper = VariationalScriptedRAVE(pretrained=pretrained, fidelity=0.95)
    wrapper.export_to_ts(str(path))
    return torch.jit.load(str(path))


def cached_delay_samples(pretrained: rave.RAVE, n_samples: int = 2**14) -> int:
    """Delay of the streaming model in audio samples: each cached conv's delay, summed.

    cached_conv gives each conv's delay (`cumulative_delay`, in its output's samples); RAVE v2's
    blocks build their convs without chaining it, so the layers' delays are converted to audio
    samples with the layer's hop (audio samples per output sample) and added along the path.
    Parallel residual branches are aligned to their conv, so each conv is counted once.
    """
    convs = (cc.CachedConv1d, cc.CachedConvTranspose1d)
    lengths: dict[torch.nn.Module, int] = {}

    def record(module, _inputs, output):
        lengths[module] = output.shape[-1]

    hooks = [m.register_forward_hook(record) for m in pretrained.modules() if isinstance(m, convs)]
    with torch.no_grad():
        x = torch.zeros(1, pretrained.n_channels, n_samples)
        z = pretrained.encode(x)
        pretrained.decode(pretrained.encoder.reparametrize(z)[0])
    for hook in hooks:
        hook.remove()
    delay = 0.0
    for module, length in lengths.items():
        delay += module.cumulative_delay * n_samples / length
    return round(delay)


def receptive_field(files: list[str], sample_rate: int) -> tuple[int, int]:
    """RAVE's own receptive field (left, right) in samples, on the offline (uncached) model."""
    model = build_rave(files, sample_rate, cached=False)
    left, right = rave.core.get_rave_receptive_field(model, n_channels=model.n_channels)
    return int(left), int(right)


def test_signal(n_samples: int, sample_rate: int, seed: int = 0) -> torch.Tensor:
    """A 220 Hz sine plus white noise, (1, 1, n_samples) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / sample_rate
    x = 0.5 * np.sin(2 * np.pi * 220.0 * t) + 0.05 * rng.standard_normal(n_samples)
    return torch.from_numpy(x.astype(np.float32)).reshape(1, 1, -1)


def time_blocks(step, blocks: list[torch.Tensor]) -> np.ndarray:
    """Wall time of `step` on each block in turn, in ms."""
    times = []
    for block in blocks:
        start = time.perf_counter()
        step(block)
        times.append(time.perf_counter() - start)
    return np.array(times) * 1000.0


def measure_block(model, block: int, ratio: int, sample_rate: int, seconds: float) -> dict:
    """Streaming cost at one buffer size; rtf = audio seconds / wall seconds."""
    if block % ratio:
        return {
            "supported": False,
            "reason": f"block {block} is not a multiple of the compression ratio {ratio}: the "
            "export's encode needs whole latent frames (nn~ would buffer up to the ratio)",
        }
    n_warm = max(MIN_WARMUP_BLOCKS, int(np.ceil(WARMUP_SECONDS * sample_rate / block)))
    n_timed = max(1, int(round(seconds * sample_rate / block)))
    signal = test_signal((n_warm + 2 * n_timed) * block, sample_rate)
    buffers = list(signal.split(block, -1))
    warm, forward_blocks, split_blocks = (
        buffers[:n_warm],
        buffers[n_warm : n_warm + n_timed],
        buffers[n_warm + n_timed :],
    )
    with torch.inference_mode():
        time_blocks(model, warm)
        forward_ms = time_blocks(model, forward_blocks)
        # Same stream, encode and decode timed apart (the state carries on from the forward pass).
        encode_ms, decode_ms = [], []
        for x in split_blocks:
            start = time.perf_counter()
            z = model.encode(x)
            middle = time.perf_counter()
            model.decode(z)
            encode_ms.append(middle - start)
            decode_ms.append(time.perf_counter() - middle)
    deadline_ms = block / sample_rate * 1000.0
    audio_s = n_timed * block / sample_rate
    return {
        "supported": True,
        "blocks_timed": n_timed,
        "warmup_blocks": n_warm,
        "rtf": round(audio_s / (forward_ms.sum() / 1000.0), 3),
        "p50_ms": round(float(np.percentile(forward_ms, 50)), 3),
        "p95_ms": round(float(np.percentile(forward_ms, 95)), 3),
        "max_ms": round(float(forward_ms.max()), 3),
        "deadline_ms": round(deadline_ms, 3),
        "percent_over_deadline": round(100.0 * float(np.mean(forward_ms > deadline_ms)), 2),
        "encode_rtf": round(audio_s / sum(encode_ms), 3),
        "decode_rtf": round(audio_s / sum(decode_ms), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", default="2048,512,128", help="buffer sizes, samples")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--seconds", type=float, default=10.0, help="audio timed per block size")
    parser.add_argument("--config", default="v2", help="RAVE config names, e.g. v2 or causal")
    parser.add_argument("--sample-rate", type=int, default=44100, help="Hz")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    files = config_files(args.config)
    sr = args.sample_rate

    # RAVE and its exporter print progress on stdout: keep stdout for the JSON alone.
    with contextlib.redirect_stdout(sys.stderr), tempfile.TemporaryDirectory() as tmp:
        log(f"building RAVE from {files} (cached convs, random weights)")
        pretrained = build_rave(files, sr, cached=True)
        latent_size = int(pretrained.latent_size)
        delay = cached_delay_samples(pretrained)
        rf_left, rf_right = receptive_field(files, sr)
        log("exporting the streaming TorchScript model")
        model = streaming_export(pretrained, Path(tmp) / "rave_streaming.ts")
    ratio = int(model.encode_params[3])  # [in_ch, in_ratio, out_ch, out_ratio]
    parameters = sum(p.numel() for p in model.parameters())

    load_before = os.getloadavg()[0]
    results = {}
    for block in (int(b) for b in args.blocks.split(",")):
        log(f"block {block}")
        results[str(block)] = measure_block(model, block, ratio, sr, args.seconds)

    report = {
        "model": "RAVE (acids-rave 2.3.1), streaming TorchScript export, random weights",
        "config": [Path(f).stem for f in files],
        "torch": torch.__version__,
        "threads": args.threads,
        "sample_rate": sr,
        "parameters": parameters,
        "compression_ratio": ratio,
        "latent_size": latent_size,
        "latent_rate_hz": round(sr / ratio, 3),
        "exported_latent_channels": int(model.decode_params[0]),
        "intrinsic_delay_samples": delay,
        "intrinsic_delay_ms": round(1000.0 * delay / sr, 2),
        "receptive_field_samples": [rf_left, rf_right],
        "receptive_field_ms": [round(1000.0 * rf_left / sr, 2), round(1000.0 * rf_right / sr, 2)],
        # Other processes on the machine inflate the times: the 1-minute load before and after.
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "blocks": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
