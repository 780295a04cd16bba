"""DDSP instrument quality, transfer, MIDI and speed on real instrument melodies. JSON.

Renders GM-soundfont melodies with fluidsynth (violin for training and a held-out violin set
with another seed, flute for transfer; reused if already there), trains the `small` ddsp
preset for `--minutes` on the violin, then measures with tools that are not the model's own:
- resynthesis of the held-out violin: raw pitch accuracy (within 50 cents, librosa's pyin on
  input and output, over the input's voiced frames; an unvoiced output frame is a miss), mean
  absolute loudness error (librosa RMS, dB, voiced frames) and `timbrespace eval`'s MR-STFT
  against its PCA-of-frames baseline;
- flute → violin transfer with the fitted octave: RPA of the output against the input's f0
  moved by that octave, Spearman ρ of the loudness envelopes;
- a MIDI scale: each note's steady-state f0 (pyin, middle half of the note) in cents from
  its MIDI pitch, onsets (librosa, 64-sample hop) against the note-on times;
- speed: offline real-time factor at 44.1 kHz on 2 threads; a 128-sample block stream on one
  thread (block time percentiles against the block's duration); latency = block + tracker
  lag + noise filter delay, and a measured onset delay through the stream; YIN vs CREPE-tiny
  cost per second of audio.

    python benchmarks/ddsp_quality.py --work /tmp/ddsp_quality --minutes 15
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

TARGETS = {"rpa": 0.95, "loudness_db": 1.0, "mrstft_improvement": 0.25, "transfer_rpa": 0.9}
PYIN = {"fmin": 65.0, "fmax": 2100.0, "frame_length": 2048, "hop_length": 256}


def pyin(
    audio: np.ndarray, sample_rate: int, resolution: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """librosa's pyin; `resolution` in semitones (its default 0.1 suffices for a 50-cent
    accuracy; the MIDI check asks 0.02, its Viterbi costs ~25× more)."""
    import librosa

    f0, voiced, _ = librosa.pyin(audio, sr=sample_rate, resolution=resolution, **PYIN)
    return f0, voiced


def rpa(reference: np.ndarray, voiced: np.ndarray, estimate: np.ndarray) -> float:
    """Share of the reference's voiced frames whose estimate is within 50 cents."""
    count = min(reference.size, estimate.size)
    reference, voiced, estimate = reference[:count], voiced[:count], estimate[:count]
    frames = voiced & np.isfinite(reference)
    with np.errstate(invalid="ignore", divide="ignore"):
        cents = np.abs(1200 * np.log2(estimate[frames] / reference[frames]))
    return float(np.mean(np.nan_to_num(cents, nan=1e9) < 50)) if frames.any() else float("nan")


def melodies(root: Path, name: str, instrument: str, seconds: float, seed: int) -> Path:
    from timbrespace.data.melodies import write_melodies

    folder = root / name
    if not (folder / "melodies.csv").exists():
        write_melodies(
            folder, instruments=(instrument,), seconds=seconds, seed=seed, sample_rate=44100
        )
    return folder


def resynthesis(bundle, files: list[Path]) -> dict:  # noqa: ANN001
    from timbrespace.audio.io import load_audio
    from timbrespace.audio.loudness import frame_loudness_db
    from timbrespace.instrument import Performance, transfer

    rpas, loudness = [], []
    for path in files:
        source = load_audio(path, bundle.sample_rate, channels=1)[0]
        out, _ = transfer(bundle, path, Performance(octave=0, loudness_db=0.0))
        f0_in, voiced = pyin(source, bundle.sample_rate)
        f0_out, _ = pyin(out[0], bundle.sample_rate)
        rpas.append(rpa(f0_in, voiced, f0_out))
        a, b = frame_loudness_db(source), frame_loudness_db(out[0])
        count = min(a.size, b.size, voiced.size)
        keep = voiced[:count]
        loudness.append(float(np.mean(np.abs(a[:count] - b[:count])[keep])))
    return {"rpa": float(np.mean(rpas)), "loudness_mae_db": float(np.mean(loudness))}


def transfer_flute(bundle, files: list[Path]) -> dict:  # noqa: ANN001
    from timbrespace.audio.io import load_audio
    from timbrespace.audio.loudness import envelope_spearman
    from timbrespace.instrument import Performance, transfer

    rpas, rhos, octaves = [], [], []
    for path in files:
        source = load_audio(path, bundle.sample_rate, channels=1)[0]
        out, played = transfer(bundle, path, Performance())
        f0_in, voiced = pyin(source, bundle.sample_rate)
        f0_out, _ = pyin(out[0], bundle.sample_rate)
        rpas.append(rpa(f0_in * 2.0**played.octave, voiced, f0_out))
        rhos.append(envelope_spearman(source, out[0]))
        octaves.append(played.octave)
    return {
        "rpa": float(np.mean(rpas)),
        "loudness_spearman": float(np.mean(rhos)),
        "octaves": octaves,
    }


def midi_scale(bundle, work: Path) -> dict:  # noqa: ANN001
    import librosa
    import mido

    from timbrespace.instrument import Performance, render_midi

    pitches, note, gap = [67, 69, 71, 72, 74, 76, 78, 79], 0.5, 0.1
    song = mido.MidiFile(ticks_per_beat=500)  # 1 tick = 1 ms at 120 bpm
    track = mido.MidiTrack()
    song.tracks.append(track)
    for pitch in pitches:
        track.append(mido.Message("note_on", note=pitch, velocity=100, time=int(gap * 1000)))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=int(note * 1000)))
    path = work / "scale.mid"
    song.save(path)
    audio, _ = render_midi(bundle, path, Performance())
    sample_rate = bundle.sample_rate
    starts = gap + np.arange(len(pitches)) * (note + gap)
    cents = []
    for start, pitch in zip(starts, pitches, strict=True):
        middle = audio[
            0, int((start + note / 4) * sample_rate) : int((start + 3 * note / 4) * sample_rate)
        ]
        expected = 440 * 2 ** ((pitch - 69) / 12)
        # pyin at 1-cent resolution over ±4 semitones: a 5-cent check needs finer bins than the
        # default 10 cents, and a narrow range keeps its Viterbi cheap
        f0, voiced, _ = librosa.pyin(
            middle,
            sr=sample_rate,
            fmin=expected * 2 ** (-4 / 12),
            fmax=expected * 2 ** (4 / 12),
            frame_length=2048,
            hop_length=256,
            resolution=0.01,
        )
        measured = np.nanmedian(f0[voiced]) if voiced.any() else float("nan")
        cents.append(float(1200 * math.log2(measured / expected)))
    onsets = librosa.onset.onset_detect(
        y=audio[0], sr=sample_rate, hop_length=64, units="time", backtrack=False
    )
    errors = [float(1000 * np.min(np.abs(onsets - start))) for start in starts]
    return {
        "cents": cents,
        "max_abs_cents": max(map(abs, cents)),
        "onset_ms": errors,
        "max_onset_ms": max(errors),
    }


def step_responses(model) -> dict:  # noqa: ANN001
    """Delays measured on the instrument's own stream in 128-sample blocks (add one block for
    the engine's buffering): from a tone's onset to the output reaching 10 % of its steady level,
    and from a pitch step (330 → 440 Hz) to the output's f0 (pyin) passing the step's middle."""
    import librosa
    import torch

    from timbrespace.inference import stream

    rate = model.sample_rate
    t = np.arange(rate) / rate
    onset_at, step_at = 0.3, 0.6
    f0 = np.where(t < step_at, 330.0, 440.0)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 6)) * 0.2 * (t >= onset_at)
    x = torch.from_numpy(tone.astype(np.float32))[None, None]
    out = stream(model, x, 128)[0, 0].numpy()
    envelope = np.abs(out[: out.size // 32 * 32]).reshape(-1, 32).max(axis=1)
    steady = np.median(envelope[int((onset_at + 0.1) * rate / 32) : int(step_at * rate / 32)])
    rise = np.argmax(envelope > 0.1 * steady) * 32 / rate
    middle = 330.0 * 2 ** (5 / 24)  # half-way in log frequency

    def crossing(signal: np.ndarray) -> float:
        track, _, _ = librosa.pyin(
            signal, sr=rate, fmin=250, fmax=600, frame_length=1024, hop_length=64, center=True
        )
        times = np.arange(track.size) * 64 / rate
        after = (times > step_at - 0.05) & (track > middle)
        return float(times[np.argmax(after)]) if after.any() else float("nan")

    return {
        "onset_to_10_percent": 1000 * (rise - onset_at),
        "pitch_step_to_midpoint": 1000 * (crossing(out) - crossing(tone.astype(np.float32))),
        "note": "pitch: the output's pyin crossing minus the input's, same settings",
    }


def speed(bundle, source: np.ndarray) -> dict:  # noqa: ANN001
    import torch

    from timbrespace.audio.pitch import causal_frames, yin_frames

    model = bundle.model.eval()
    sample_rate, block = bundle.sample_rate, 128
    seconds = source.size / sample_rate
    x = torch.from_numpy(source[: source.size // block * block])[None, None]
    torch.set_num_threads(2)
    with torch.inference_mode():
        model.decode(model.encode(x[..., :sample_rate]))
        started = time.perf_counter()
        model.decode(model.encode(x))
        offline = seconds / (time.perf_counter() - started)
        torch.set_num_threads(1)
        state, timings = model.init_state(1), []
        for start in range(0, int(x.shape[-1]), block):
            began = time.perf_counter()
            _, state = model.forward_block(x[..., start : start + block], state)
            timings.append(time.perf_counter() - began)
    timings_ms = 1000 * np.array(timings[50:])
    budget = 1000 * block / sample_rate
    frames = torch.from_numpy(source[: sample_rate * 10 // 128 * 128])[None]
    settings = model.pitch
    with torch.inference_mode():
        past = torch.zeros(1, settings.frame_length - 128)
        started = time.perf_counter()
        yin_frames(causal_frames(frames, past, settings.frame_length, 128)[0], settings)
        yin_cost = (time.perf_counter() - started) / (frames.shape[-1] / sample_rate)
    result = {
        "offline_rtf_2_threads": offline,
        "block_ms": {
            "p50": float(np.percentile(timings_ms, 50)),
            "p99": float(np.percentile(timings_ms, 99)),
            "budget": budget,
        },
        "blocks_over_budget": float(np.mean(timings_ms > budget)),
        "latency_ms": {
            "block": budget,
            "tracker_lag": 1000 * model.tracker_lag_samples / sample_rate,
            "noise_filter": 1000 * (model.config.noise_bands - 1) / sample_rate,
        },
        "yin_ms_per_second_of_audio": 1000 * yin_cost,
    }
    result["latency_ms"]["total"] = sum(result["latency_ms"].values())
    result["measured_through_stream_ms"] = step_responses(model)
    try:
        from timbrespace.audio.crepe import crepe_frame_length, crepe_track

        length = crepe_frame_length(sample_rate)
        hop_frames = torch.from_numpy(source[: sample_rate * 10])[None]
        crepe_in = causal_frames(
            hop_frames[:, : hop_frames.shape[-1] // 128 * 128],
            torch.zeros(1, length - 128),
            length,
            128,
        )[0][0]
        started = time.perf_counter()
        crepe_track(crepe_in, sample_rate)
        cost = (time.perf_counter() - started) / (hop_frames.shape[-1] / sample_rate)
        result["crepe_tiny_ms_per_second_of_audio"] = 1000 * cost
    except Exception as error:  # noqa: BLE001 - an optional tracker: report why it is absent
        result["crepe_tiny_ms_per_second_of_audio"] = f"unavailable: {error}"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timbrespace-ddsp-quality")
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=120.0, help="training audio, s")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--skip-train", action="store_true", help="reuse the run in --work")
    args = parser.parse_args()

    from timbrespace.bundle import load_bundle
    from timbrespace.data.clips import PrepareConfig
    from timbrespace.data.prepare import prepare_dataset
    from timbrespace.evaluation import evaluate
    from timbrespace.train.run import train

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    train_set = melodies(work, "violin_train", "violin", args.seconds, seed=0)
    held_out = melodies(work, "violin_heldout", "violin", 30.0, seed=7)
    flute = melodies(work, "flute", "flute", 30.0, seed=3)
    caches = {}
    for name, folder in (("train", train_set), ("heldout", held_out)):
        caches[name] = work / f"cache_{name}"
        config = PrepareConfig(mode="continuous", sample_rate=44100, length=2.0)
        prepare_dataset(folder, caches[name], config, workers=1)
    run = work / "run"
    started = time.perf_counter()
    steps = None
    if not args.skip_train:
        result = train(
            caches["train"],
            run,
            family="ddsp",
            preset=args.preset,
            train_overrides={"max_minutes": args.minutes},
            logger="tensorboard",
            progress=False,
        )
        steps = result.steps
    minutes = (time.perf_counter() - started) / 60
    bundle = load_bundle(run / "bundle")
    held_files = sorted((held_out / "violin").glob("*.wav"))
    flute_files = sorted((flute / "flute").glob("*.wav"))
    print("evaluating", flush=True)
    report = evaluate(run, caches["heldout"], split="all")
    mrstft = {
        "model": report["model"]["mrstft_distance"],
        "baseline": report["baseline_pca"]["mrstft_distance"],
        "baseline_kind": report["baseline"],
        "improvement": report["improvement"]["mrstft_distance"],
    }
    print(json.dumps({"mrstft": mrstft}), flush=True)
    from timbrespace.audio.io import load_audio

    source = np.concatenate([load_audio(p, 44100, channels=1)[0] for p in held_files])
    out: dict = {"train": {"minutes": round(minutes, 2), "steps": steps, "preset": args.preset}}
    parts = {
        "resynthesis": lambda: resynthesis(bundle, held_files),
        "transfer_flute_to_violin": lambda: transfer_flute(bundle, flute_files),
        "midi_scale": lambda: midi_scale(bundle, work),
        "speed": lambda: speed(bundle, source),
    }
    for name, part in parts.items():
        out[name] = part()
        print(json.dumps({name: out[name]}, default=float), flush=True)
    out |= {"mrstft": mrstft, "targets": TARGETS}
    print(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
