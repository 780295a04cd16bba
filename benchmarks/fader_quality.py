"""WAE-Fader notes: pitch, style, fader, mixing and speed on GM notes, against the same model
trained without the fader in the same run. JSON.

Renders single notes of 6 GM instruments × 3 octaves (C3–B5) × 3 velocities with fluidsynth
(`timbrespace notes`; reused if already there), holds one octave of one instrument out of
training (violin C5–B5), prepares the rest in one-shot mode, and trains the `small` fader
preset twice for `--minutes` each: with the fader (weight 1) and without it (weight 0, a plain
style-conditioned WAE: the seed's claim is that this one fails to express style). Then, with
tools that are not the model's own:
- pitch: every (pitch, style) pair, held-out ones included, at velocity 100 from a prior
  latent: librosa's pyin median f0 over voiced frames, share within ±50 cents of the label,
  and of what pyin hears in the real note at that label (velocity 80);
- style: a classifier fit on the *real* notes' log-mel statistics (scikit-learn logistic
  regression; its own cross-validated accuracy on real notes is reported) labels each
  generated note; share labelled with the requested style;
- fader: a logistic regression predicting the style from the encoded real notes' latents,
  cross-validated accuracy against chance;
- mixing: for 20 (style pair, pitch) cases, B's weight 0 → 1 in 9 steps, the classifier's
  probability of B, Spearman ρ against the weight; weights 1.3 / −0.3 decoded without NaN,
  peak below full scale;
- speed: one note decoded on 2 threads (p50 of 20), ms per second of audio.

    python benchmarks/fader_quality.py --work /tmp/fader_quality --minutes 8
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

INSTRUMENTS = ("piano", "reed_organ", "violin", "cello", "trumpet", "flute")
PITCHES = (48, 83)
VELOCITIES = (40, 80, 120)
HELD_OUT = ("violin", 72, 83)
SAMPLE_RATE = 22050
SECONDS = 1.5
TARGETS = {"pitch_within_50_cents": 0.95, "style_accuracy": 0.90, "fader_over_chance": 0.10}
TARGETS_MIXING = {"median_spearman": 0.9}


def _folds():  # noqa: ANN202 - scikit-learn splitter
    """5 shuffled, stratified folds (the notes are listed by instrument: unshuffled folds would
    each hold out most of one instrument)."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(5, shuffle=True, random_state=0)


def notes_dataset(work: Path) -> tuple[Path, Path]:
    """(all notes, the training folder without the held-out octave) — hard links, one CSV each."""
    from timbrespace.data.notes import write_notes

    everything = work / "notes"
    write_notes(
        everything, instruments=INSTRUMENTS, pitches=PITCHES, velocities=VELOCITIES,
        seconds=SECONDS, sample_rate=SAMPLE_RATE, clip_range=False,
    )  # fmt: skip
    training = work / "notes_train"
    if not (training / "notes.csv").exists():
        rows = list(csv.DictReader((everything / "notes.csv").open()))
        kept = [row for row in rows if not held_out(row["instrument"], int(row["pitch"]))]
        for row in kept:
            target = training / row["file"]
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.link(everything / row["file"], target)
        with (training / "notes.csv").open("w", newline="") as table:
            writer = csv.DictWriter(table, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(kept)
    return everything, training


def held_out(instrument: str, pitch: int) -> bool:
    name, low, high = HELD_OUT
    return instrument == name and low <= pitch <= high


def log_mel_stats(audio: np.ndarray) -> np.ndarray:
    """Mean and standard deviation over time of 64 log-mel bands `[128]`."""
    import librosa

    mel = librosa.feature.melspectrogram(
        y=audio, sr=SAMPLE_RATE, n_mels=64, n_fft=2048, hop_length=512
    )
    log = np.log(mel + 1e-6)
    return np.concatenate([log.mean(axis=1), log.std(axis=1)])


def style_classifier(folder: Path) -> tuple[object, dict]:
    """A classifier of style fit on every real note's log-mel statistics, and its 5-fold
    cross-validated accuracy on real notes (`_folds`)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from timbrespace.audio.io import load_audio

    rows = list(csv.DictReader((folder / "notes.csv").open()))
    features = np.stack(
        [log_mel_stats(load_audio(folder / r["file"], SAMPLE_RATE, channels=1)[0]) for r in rows]
    )
    labels = np.array([INSTRUMENTS.index(r["instrument"]) for r in rows])
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5))
    cv = cross_val_score(classifier, features, labels, cv=_folds())
    classifier.fit(features, labels)
    return classifier, {
        "real_notes": len(rows),
        "cv_accuracy_on_real_notes": round(float(cv.mean()), 4),
    }


def median_f0(audio: np.ndarray) -> float:
    import librosa

    f0, voiced, _ = librosa.pyin(
        audio, sr=SAMPLE_RATE, fmin=50.0, fmax=2000.0, frame_length=2048, hop_length=256
    )
    frames = f0[voiced & np.isfinite(f0)]
    return float(np.median(frames)) if frames.size else float("nan")


def render(model, z, weights, pitches, velocities) -> np.ndarray:  # noqa: ANN001
    from timbrespace.note_play import Note, render_notes

    notes = [
        Note(float(p), float(v), tuple(w))
        for w, p, v in zip(weights, pitches, velocities, strict=True)
    ]
    return render_notes(model, z, notes)[:, 0].numpy()


def real_pitches(folder: Path, velocity: int = 80) -> dict[tuple[str, int], float]:
    """pyin's median f0 (Hz) of each real note at `velocity`, by (instrument, MIDI pitch): what
    the instrument itself sounds at its label (TimGM6mb's church organ, with a 16-foot stop,
    measures an octave under its label on most pitches)."""
    from timbrespace.audio.io import load_audio

    rows = list(csv.DictReader((folder / "notes.csv").open()))
    return {
        (r["instrument"], int(r["pitch"])): median_f0(
            load_audio(folder / r["file"], SAMPLE_RATE, channels=1)[0]
        )
        for r in rows
        if int(r["velocity"]) == velocity
    }


def confusion(predicted: list[str], requested: list[str]) -> dict[str, dict[str, int]]:
    """How often each requested style was heard as each other style (misses only)."""
    table: dict[str, dict[str, int]] = {}
    for heard, asked in zip(predicted, requested, strict=True):
        if heard != asked:
            table.setdefault(asked, {}).setdefault(heard, 0)
            table[asked][heard] += 1
    return table


def cents_off(f0: float, reference_hz: float) -> float:
    """|1200 · log2(f0 / reference)|, inf when either is not a pitch."""
    if not (np.isfinite(f0) and np.isfinite(reference_hz)) or f0 <= 0 or reference_hz <= 0:
        return float("inf")
    return abs(1200 * float(np.log2(f0 / reference_hz)))


def evaluate(bundle_path: Path, classifier, train_cache: Path, real_f0: dict) -> dict:  # noqa: ANN001
    import torch
    from scipy.stats import spearmanr
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    from timbrespace.data.cache import SoundCache
    from timbrespace.inference import encode_batches
    from timbrespace.note_play import prior_latents
    from timbrespace.space import LatentSpace

    model = LatentSpace.open(bundle_path, analysis=False).model
    styles = tuple(model.config.styles)
    eye = np.eye(len(styles))
    grid = [(p, s) for s in INSTRUMENTS for p in range(PITCHES[0], PITCHES[1] + 1)]
    z = prior_latents(model, len(grid), seed=1)
    weights = [eye[styles.index(s)] for _, s in grid]
    audio = render(model, z, weights, [p for p, _ in grid], [100] * len(grid))
    cents, cents_real, predicted = [], [], []
    for sound, (pitch, style) in zip(audio, grid, strict=True):
        f0 = median_f0(sound)
        cents.append(cents_off(f0, 440 * 2 ** ((pitch - 69) / 12)))
        cents_real.append(cents_off(f0, real_f0.get((style, pitch), float("nan"))))
        predicted.append(INSTRUMENTS[int(classifier.predict(log_mel_stats(sound)[None])[0])])
    cents_a, held = np.array(cents), np.array([held_out(s, p) for p, s in grid])
    per_style_pitch = {
        s: round(float(np.mean(cents_a[[g[1] == s for g in grid]] < 50)), 3) for s in INSTRUMENTS
    }
    correct = np.array([pred == s for pred, (_, s) in zip(predicted, grid, strict=True)])

    cache = SoundCache(train_cache)
    labels = cache.require_note_labels()
    latents = encode_batches(model, cache.audio)[:, :, 0].numpy()
    style_of = np.array([labels.style_names[i] for i in labels.style])
    fader_cv = cross_val_score(
        LogisticRegression(max_iter=3000), latents, style_of, cv=_folds()
    ).mean()
    counts = np.unique(style_of, return_counts=True)[1]

    pairs = list(itertools.combinations(INSTRUMENTS, 2))
    cases = [(pairs[i % len(pairs)], (55, 62, 67, 72)[i % 4]) for i in range(20)]
    rhos, extremes = [], []
    steps = np.linspace(0.0, 1.0, 9)
    for k, ((a, b), pitch) in enumerate(cases):
        mixes = [(1 - t) * eye[styles.index(a)] + t * eye[styles.index(b)] for t in steps]
        zk = prior_latents(model, 1, seed=100 + k).expand(9, -1, -1)
        sounds = render(model, zk, mixes, [pitch] * 9, [100] * 9)
        probability = [
            float(classifier.predict_proba(log_mel_stats(s)[None])[0][INSTRUMENTS.index(b)])
            for s in sounds
        ]
        rhos.append(
            float(spearmanr(steps, probability).statistic) if np.ptp(probability) > 0 else 0.0
        )
        with torch.no_grad():
            for pair_weights in ((1.3, -0.3), (-0.3, 1.3)):
                w = pair_weights[0] * eye[styles.index(a)] + pair_weights[1] * eye[styles.index(b)]
                cond = torch.tensor([[*w, pitch, 100.0]], dtype=torch.float32)
                raw = model.decode(zk[:1], cond)
                extremes.append((bool(torch.isfinite(raw).all()), float(raw.abs().max())))

    torch.set_num_threads(2)
    one = torch.tensor([[*eye[0], 60.0, 100.0]], dtype=torch.float32)
    times = []
    with torch.inference_mode():
        for _ in range(22):
            started = time.perf_counter()
            model.decode(z[:1], one)
            times.append(time.perf_counter() - started)
    decode_ms = 1000 * float(np.median(times[2:]))
    return {
        "styles": list(styles),
        "pitch": {
            "notes": len(grid),
            "within_50_cents": round(float(np.mean(cents_a < 50)), 4),
            "within_50_cents_held_out": round(float(np.mean(cents_a[held] < 50)), 4),
            "median_abs_cents": round(float(np.median(cents_a)), 2),
            "per_style": per_style_pitch,
            "within_50_cents_of_the_real_note": round(float(np.mean(np.array(cents_real) < 50)), 4),
        },
        "style": {
            "accuracy": round(float(correct.mean()), 4),
            "accuracy_held_out": round(float(correct[held].mean()), 4),
            "per_style": {
                s: round(float(correct[[g[1] == s for g in grid]].mean()), 3) for s in INSTRUMENTS
            },
            "confusion": confusion(predicted, [s for _, s in grid]),
        },
        "fader": {
            "latent_style_accuracy": round(float(fader_cv), 4),
            "chance": round(1 / len(styles), 4),
            "majority": round(float(counts.max() / counts.sum()), 4),
        },
        "mixing": {
            "cases": len(cases),
            "median_spearman": round(float(np.median(rhos)), 4),
            "spearman": [round(r, 3) for r in rhos],
            "extremes_finite": all(finite for finite, _ in extremes),
            "extremes_peak": round(max(peak for _, peak in extremes), 4),
        },
        "speed": {
            "note_seconds": SECONDS,
            "decode_ms_2_threads": round(decode_ms, 2),
            "ms_per_second_of_audio": round(decode_ms / SECONDS, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="/tmp/timbrespace-fader-quality")
    parser.add_argument("--minutes", type=float, default=8.0, help="training per model")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--skip-train", action="store_true", help="reuse the runs in --work")
    args = parser.parse_args()

    from timbrespace.data.clips import PrepareConfig
    from timbrespace.data.prepare import prepare_dataset
    from timbrespace.train.run import train

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    everything, training = notes_dataset(work)
    cache = work / "cache_train"
    prepare_dataset(
        training,
        cache,
        PrepareConfig(mode="oneshot", sample_rate=SAMPLE_RATE, length=SECONDS),
        workers=1,
    )
    classifier, classifier_info = style_classifier(everything)
    real_f0 = real_pitches(everything)
    labels_f0 = [
        cents_off(hz, 440 * 2 ** ((pitch - 69) / 12)) for (_, pitch), hz in real_f0.items()
    ]
    result: dict = {"benchmark": "fader_quality", "cores": os.cpu_count(), "preset": args.preset}
    result["data"] = {
        "instruments": list(INSTRUMENTS), "pitches": list(PITCHES), "velocities": list(VELOCITIES),
        "held_out": list(HELD_OUT), "classifier": classifier_info,
        "real_notes_within_50_cents_of_their_label": round(float(np.mean(np.array(labels_f0) < 50)), 4),
    }  # fmt: skip
    for name, weight in (("fader", 1.0), ("no_fader", 0.0)):
        run = work / f"run_{name}"
        started = time.perf_counter()
        steps = None
        if not args.skip_train:
            shutil.rmtree(run, ignore_errors=True)
            done = train(
                cache, run, family="fader", preset=args.preset,
                model_overrides={"fader_weight": weight},
                train_overrides={"max_minutes": args.minutes}, logger="none", progress=False,
            )  # fmt: skip
            steps = done.steps
        minutes = (time.perf_counter() - started) / 60
        measured = evaluate(run / "bundle", classifier, cache, real_f0)
        measured["training"] = {
            "fader_weight": weight,
            "steps": steps,
            "minutes": round(minutes, 2),
        }
        result[name] = measured
    fader = result["fader"]
    result["meets_targets"] = {
        "pitch": fader["pitch"]["within_50_cents"] >= TARGETS["pitch_within_50_cents"],
        "style": fader["style"]["accuracy"] >= TARGETS["style_accuracy"],
        "fader": fader["fader"]["latent_style_accuracy"] - fader["fader"]["chance"]
        <= TARGETS["fader_over_chance"],
        "mixing": fader["mixing"]["median_spearman"] >= TARGETS_MIXING["median_spearman"]
        and fader["mixing"]["extremes_finite"]
        and fader["mixing"]["extremes_peak"] < 1.0,
        "speed": fader["speed"]["ms_per_second_of_audio"] <= 50.0,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
