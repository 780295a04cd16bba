"""The built-in procedural demo pack: one-shots whose ground-truth parameters are known.

It is the embedded default dataset and the reference for checking that a control named "pitch"
really moves pitch. `write_demo_pack` lays the sounds out like a user's sample-pack tree::

    OUT/kicks/808/kick_0000.wav      OUT/kicks/acoustic/kick_0005.wav
    OUT/snares/tight/...  OUT/snares/loose/...   OUT/hats/closed/...  OUT/hats/open/...
    OUT/toms/low/...      OUT/toms/high/...      OUT/plucks/nylon/... OUT/plucks/steel/...
    OUT/chords/major/...  OUT/chords/minor/...   OUT/bells/tower/...  OUT/bells/chime/...
    OUT/cymbals/ride/...  OUT/cymbals/crash/...
    OUT/parameters.csv   one row per sound (the fields of `DemoSoundParameters`)

File names carry the global item index, so any sound can be re-rendered from `(seed, index)`.
Families take turns (`index % 8`: 75 each of 600), sub-packs alternate within a family. Chords,
bells, cymbals: polyphonic and inharmonic; the first five are drawn and rendered as before.

Every sound shares one amplitude envelope, `env(t) = min(t / attack_s, 1) * exp(-t / decay_s)`
(peak at `attack_s`, exponential decay with time constant τ = `decay_s`, counted from t = 0); for
plucks the decay comes from the Karplus-Strong loop gain instead (τ of the fundamental).
`noise_mix` m mixes `(1 - m) * tone + m * noise`, each part at unit peak. `brightness` b ∈ [0, 1]
maps log-linearly onto a cutoff, `lo * (hi / lo) ** b` (`BRIGHTNESS_HZ`), and, for swept tones,
onto the drive d = 0.3 * (20 / 0.3)**b of a `tanh(d sin φ) / tanh(d)` wave-shaper (harmonic tilt):

========  ===================================================  =========================
family    sound                                                brightness controls
========  ===================================================  =========================
kick      sine swept from `start_hz` down to `f0_hz` (time     drive + lowpass 100–8000 Hz
          constant `sweep_s`) + 5 ms noise click
snare     swept tone at `f0_hz` + band-passed noise            drive + noise band
                                                               [fc/4, fc], fc 1.5–14 kHz
hat       noise + six 808-style square partials; no pitch      band [fc, 3 fc], fc 2–8 kHz
tom       sine with a small glide + noise                      drive + lowpass 300–10000 Hz
pluck     Karplus-Strong string at MIDI pitch + 8 ms pick      excitation lowpass
          noise                                                400–16000 Hz + loop damping
chord     3–4 Karplus-Strong strings at `CHORDS[chord]`        as pluck
          semitones above the root `f0_hz`, string i starting
          at i × `strum_s`, + pick noise
bell      `BELL_RATIOS` × `f0_hz` (the prime), partial j       2nd-order rolloff of the
          decaying with τ_j = decay_s / max(r_j, 1)^0.5,       partials above fc,
          + strike noise                                       fc 300–8000 Hz
cymbal    three ring-modulated pairs of square waves           band [fc/2, 4 fc],
          (`CYMBAL_HZ`, detuned ±10 %) + noise; no pitch       fc 1–6 kHz
========  ===================================================  =========================

Cutoffs are capped at 0.45 × the sample rate. Each sound is DC-blocked (5 Hz), faded out over
its last 5–50 ms and peak-normalised to `gain_db` dBFS, `gain_db = 20 log10(velocity) - 1`.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from timbrespace.data.demo_dsp import bandpass, finish, karplus_strong, lowpass, mix, unit_peak

FAMILIES: tuple[str, ...] = ("kick", "snare", "hat", "tom", "pluck", "chord", "bell", "cymbal")
SUBPACKS: dict[str, tuple[str, str]] = {
    "kick": ("808", "acoustic"),
    "snare": ("tight", "loose"),
    "hat": ("closed", "open"),
    "tom": ("low", "high"),
    "pluck": ("nylon", "steel"),
    "chord": ("major", "minor"),
    "bell": ("tower", "chime"),
    "cymbal": ("ride", "crash"),
}
BRIGHTNESS_HZ: dict[str, tuple[float, float]] = {
    "kick": (100.0, 8000.0),
    "snare": (1500.0, 14000.0),
    "hat": (2000.0, 8000.0),
    "tom": (300.0, 10000.0),
    "pluck": (400.0, 16000.0),
    "chord": (400.0, 16000.0),
    "bell": (300.0, 8000.0),
    "cymbal": (1000.0, 6000.0),
}
CHORDS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "maj7": (0, 4, 7, 11),
    "min": (0, 3, 7),
    "min7": (0, 3, 7, 10),
}
"""Chord type → its strings in semitones above the root (equal temperament)."""
CHORD_TYPES: dict[str, tuple[str, ...]] = {"major": ("maj", "maj7"), "minor": ("min", "min7")}
STRUM_S = (0.004, 0.02)
"""Range of a chord's strum delay between consecutive strings, s (drawn log-uniformly)."""
BELL_RATIOS: tuple[float, ...] = (0.5, 1.0, 1.19, 1.56, 2.0, 2.51, 2.66, 3.01, 4.1, 5.43)
"""A bell's partials as ratios of its prime (`f0_hz`): hum, prime, tierce, quint, nominal, …"""
CYMBAL_HZ: tuple[float, ...] = (263.0, 407.0, 419.0, 479.0, 587.0, 845.0)
"""The cymbal's square-wave oscillators (ring-modulated in pairs), Hz before detuning."""
PARAMETERS_CSV = "parameters.csv"

_DRIVE = (0.3, 20.0)
_CLICK_TAU_S = 0.005
_PICK_TAU_S = 0.008
_HAT_PARTIALS_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
_RENDER_STREAM = 1
_WRITERS = 4


@dataclass(frozen=True)
class DemoSoundParameters:
    """Ground truth of one demo sound: one row of `parameters.csv`.

    path: WAV path relative to the pack root, forward slashes. index/seed: the item index and
    pack seed it was drawn from. f0_hz: perceived (final, steady) fundamental in Hz, None for
    hats. start_hz: start of the pitch sweep in Hz (= f0_hz for plucks, None for hats).
    sweep_s: time constant of the sweep in s. attack_s: linear attack ramp in s. decay_s: time
    constant τ in s of the amplitude decay exp(-t/τ). noise_mix, brightness, velocity: 0..1.
    gain_db: peak level in dBFS. duration_s: length in s (≤ 1). chord: a chord's type (a key of
    `CHORDS`), else "". strum_s: delay in s between a chord's consecutive strings, else 0."""

    path: str
    pack: str
    subpack: str
    family: str
    index: int
    seed: int
    f0_hz: float | None
    start_hz: float | None
    sweep_s: float
    attack_s: float
    decay_s: float
    noise_mix: float
    brightness: float
    velocity: float
    gain_db: float
    duration_s: float
    chord: str = ""
    strum_s: float = 0.0


@dataclass(frozen=True)
class _Recipe:
    """Parameter ranges of one sub-pack; pitches and times are drawn log-uniformly."""

    f0_hz: tuple[float, float] | None
    glide: tuple[float, float]
    sweep_s: tuple[float, float]
    attack_s: tuple[float, float]
    decay_s: tuple[float, float]
    noise_mix: tuple[float, float]
    midi: tuple[int, int] | None = None


_NO_GLIDE = (1.0, 1.0)
_RECIPES: dict[tuple[str, str], _Recipe] = {
    ("kick", "808"): _Recipe((35, 70), (1.5, 4.0), (0.02, 0.06), (5e-4, 0.005), (0.25, 0.8), (0.0, 0.25)),
    ("kick", "acoustic"): _Recipe((50, 120), (2.0, 6.0), (0.008, 0.025), (5e-4, 0.005), (0.06, 0.3), (0.1, 0.5)),
    ("snare", "tight"): _Recipe((180, 350), (1.0, 1.3), (0.005, 0.02), (5e-4, 0.005), (0.03, 0.12), (0.4, 0.9)),
    ("snare", "loose"): _Recipe((150, 260), (1.0, 1.3), (0.005, 0.02), (5e-4, 0.01), (0.1, 0.35), (0.4, 0.9)),
    ("hat", "closed"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.005), (0.03, 0.1), (0.3, 1.0)),
    ("hat", "open"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.02), (0.2, 0.8), (0.3, 1.0)),
    ("tom", "low"): _Recipe((80, 160), (1.05, 1.4), (0.02, 0.1), (5e-4, 0.02), (0.1, 0.5), (0.0, 0.3)),
    ("tom", "high"): _Recipe((150, 300), (1.05, 1.4), (0.01, 0.06), (5e-4, 0.02), (0.06, 0.3), (0.0, 0.3)),
    ("pluck", "nylon"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.04), (0.15, 0.8), (0.0, 0.3), (40, 72)),
    ("pluck", "steel"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.04), (0.2, 0.8), (0.0, 0.3), (52, 84)),
    ("chord", "major"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.02), (0.2, 0.8), (0.0, 0.2), (40, 64)),
    ("chord", "minor"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.02), (0.2, 0.8), (0.0, 0.2), (40, 64)),
    ("bell", "tower"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.005), (0.3, 0.8), (0.0, 0.2), (48, 72)),
    ("bell", "chime"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.005), (0.15, 0.6), (0.0, 0.2), (64, 86)),
    ("cymbal", "ride"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.005), (0.3, 0.8), (0.1, 0.5)),
    ("cymbal", "crash"): _Recipe(None, _NO_GLIDE, (0.0, 0.0), (5e-4, 0.02), (0.3, 0.8), (0.4, 0.9)),
}  # fmt: skip


def draw_parameters(index: int, seed: int, family: str | None = None) -> DemoSoundParameters:
    """Draw the ground truth of item `index` from `np.random.default_rng([seed, index])`.

    family: one of FAMILIES; None takes `FAMILIES[index % len(FAMILIES)]` (balanced packs).
    A chord draws its type and strum delay from the same generator after the shared draws.
    """
    if family is None:
        family = FAMILIES[index % len(FAMILIES)]
    if family not in SUBPACKS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    subpack = SUBPACKS[family][(index // len(FAMILIES)) % 2]
    recipe = _RECIPES[family, subpack]
    rng = np.random.default_rng([seed, index])
    u = rng.random(8)
    f0_hz = _draw_f0(recipe, u[0])
    attack_s = round(_log_lerp(recipe.attack_s, u[3]), 5)
    decay_s = round(_log_lerp(recipe.decay_s, u[4]), 4)
    velocity = round(0.3 + 0.7 * float(u[7]), 4)
    chord, strum_s = "", 0.0
    if family == "chord":
        extra = rng.random(2)
        types = CHORD_TYPES[subpack]
        chord = types[min(int(extra[0] * len(types)), len(types) - 1)]
        strum_s = round(_log_lerp(STRUM_S, extra[1]), 4)
    return DemoSoundParameters(
        path=f"{family}s/{subpack}/{family}_{index:04d}.wav",
        pack=f"{family}s",
        subpack=subpack,
        family=family,
        index=index,
        seed=seed,
        f0_hz=f0_hz,
        start_hz=None if f0_hz is None else round(f0_hz * _log_lerp(recipe.glide, u[1]), 3),
        sweep_s=round(_log_lerp(recipe.sweep_s, u[2]), 4),
        attack_s=attack_s,
        decay_s=decay_s,
        noise_mix=round(_lerp(recipe.noise_mix, u[5]), 4),
        brightness=round(float(u[6]), 4),
        velocity=velocity,
        gain_db=round(20.0 * math.log10(velocity) - 1.0, 3),
        duration_s=round(min(max(attack_s + 6.0 * decay_s, 0.15), 1.0), 3),
        chord=chord,
        strum_s=strum_s,
    )


def render_sound(params: DemoSoundParameters, sample_rate: int) -> np.ndarray:
    """Render one sound deterministically: float32 `[samples]` at `sample_rate` Hz, peak < 1."""
    n = max(1, round(params.duration_s * sample_rate))
    t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
    rng = np.random.default_rng([params.seed, params.index, _RENDER_STREAM])
    renderer = _RENDERERS[params.family]
    audio = renderer(params, t, sample_rate, rng)
    return finish(audio, params.gain_db, sample_rate)


def write_demo_pack(
    out_dir: str | os.PathLike[str],
    n: int = 600,
    seed: int = 0,
    sample_rate: int = 44100,
    progress: bool = False,
) -> Path:
    """Render `n` sounds (families balanced) into `out_dir`; returns the `parameters.csv` path.

    Deterministic for a seed. Every file is written atomically (24-bit PCM WAV) by a few writer
    threads, so rendering overlaps file I/O; the CSV is written last, so a pack without one is
    incomplete. Files of an earlier pack in the same folder that this one does not overwrite
    are left in place.
    """
    from timbrespace.atomic import write_bytes_atomic
    from timbrespace.audio.io import save_audio

    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if sample_rate < 8000:
        raise ValueError(f"sample_rate must be at least 8000 Hz, got {sample_rate}")
    root = Path(out_dir)
    items = [draw_parameters(index, seed) for index in range(n)]
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        pending: deque[Future[Path]] = deque()
        for params in _track(items, progress, f"demo pack → {root}"):
            audio = render_sound(params, sample_rate)
            pending.append(pool.submit(save_audio, root / params.path, audio, sample_rate))
            if len(pending) > 4 * _WRITERS:
                pending.popleft().result()
        for future in pending:
            future.result()
    csv_path = root / PARAMETERS_CSV
    write_bytes_atomic(csv_path, parameters_to_csv(items).encode("utf-8"))
    return csv_path


def parameters_to_csv(items: list[DemoSoundParameters]) -> str:
    """CSV text with a header row and one row per sound; None is written as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_FIELD_NAMES)
    for params in items:
        writer.writerow(["" if value is None else value for value in astuple(params)])
    return buffer.getvalue()


def read_parameters(csv_path: str | os.PathLike[str]) -> list[DemoSoundParameters]:
    """Read `parameters.csv`; raises ValueError naming the file, row and field on bad input.
    Packs written before chords were added (no `chord`, `strum_s` columns) read with defaults."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(_FIELD_NAMES) - set(reader.fieldnames or ()) - set(_DEFAULTS)
        if missing:
            raise ValueError(f"{csv_path}: missing columns {sorted(missing)}")
        return [_parse_row(row, csv_path, line) for line, row in enumerate(reader, start=2)]


_FIELD_NAMES = tuple(field.name for field in fields(DemoSoundParameters))
_DEFAULTS = {"chord": "", "strum_s": "0"}
_INT_FIELDS = frozenset({"index", "seed"})
_STR_FIELDS = frozenset({"path", "pack", "subpack", "family", "chord"})
_OPTIONAL_FIELDS = frozenset({"f0_hz", "start_hz"})


def _parse_row(
    row: dict[str, str], csv_path: str | os.PathLike[str], line: int
) -> DemoSoundParameters:
    values: dict[str, object] = {}
    for name in _FIELD_NAMES:
        text = (row.get(name, _DEFAULTS.get(name)) or "").strip()
        try:
            if name in _STR_FIELDS:
                values[name] = text
            elif name in _INT_FIELDS:
                values[name] = int(text)
            elif name in _OPTIONAL_FIELDS and not text:
                values[name] = None
            else:
                values[name] = float(text)
        except ValueError as error:
            raise ValueError(f"{csv_path}: line {line}: bad {name} {text!r}") from error
    return DemoSoundParameters(**values)  # type: ignore[arg-type]


def _lerp(bounds: tuple[float, float], u: float) -> float:
    return float(bounds[0] + (bounds[1] - bounds[0]) * u)


def _log_lerp(bounds: tuple[float, float], u: float) -> float:
    low, high = bounds
    return float(low * (high / low) ** u) if low > 0 else 0.0


def _draw_f0(recipe: _Recipe, u: float) -> float | None:
    if recipe.midi is not None:
        low, high = recipe.midi
        note = low + min(int(u * (high - low + 1)), high - low)
        return round(midi_to_hz(note), 3)
    if recipe.f0_hz is None:
        return None
    return round(_log_lerp(recipe.f0_hz, u), 3)


def midi_to_hz(note: float) -> float:
    """MIDI note number → frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def brightness_hz(family: str, brightness: float, sample_rate: int) -> float:
    """The cutoff in Hz that `brightness` (0..1) selects for `family`, capped at 0.45 × rate."""
    return min(_log_lerp(BRIGHTNESS_HZ[family], brightness), 0.45 * sample_rate)


def _envelope(t: np.ndarray, attack_s: float, decay_s: float) -> np.ndarray:
    """Linear attack ramp × exp(-t / decay_s); t in s, shape of `t`."""
    return np.minimum(t / max(attack_s, 1e-6), 1.0) * np.exp(-t / decay_s)


def _sweep_phase(t: np.ndarray, f0_hz: float, start_hz: float, sweep_s: float) -> np.ndarray:
    """Phase in radians of f(t) = f0 + (start - f0) exp(-t / sweep_s), integrated exactly."""
    glide = (start_hz - f0_hz) * sweep_s * (1.0 - np.exp(-t / max(sweep_s, 1e-6)))
    return 2.0 * np.pi * (f0_hz * t + glide)


def _swept_tone(p: DemoSoundParameters, t: np.ndarray) -> np.ndarray:
    """tanh wave-shaped swept sine at unit peak; drive grows with brightness (more harmonics)."""
    if p.f0_hz is None or p.start_hz is None:
        raise ValueError(f"{p.path}: a {p.family} needs f0_hz and start_hz")
    drive = _log_lerp(_DRIVE, p.brightness)
    phase = _sweep_phase(t, p.f0_hz, p.start_hz, p.sweep_s)
    return np.tanh(drive * np.sin(phase)) / math.tanh(drive)


def _render_kick(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    tone = _swept_tone(p, t)
    click = rng.standard_normal(t.size, dtype=np.float32) * np.exp(-t / _CLICK_TAU_S)
    body = mix(tone, click, p.noise_mix)
    body = lowpass(body, brightness_hz("kick", p.brightness, sample_rate), sample_rate)
    return body * _envelope(t, p.attack_s, p.decay_s)


def _render_snare(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    tone = _swept_tone(p, t)
    cutoff = brightness_hz("snare", p.brightness, sample_rate)
    noise = bandpass(
        rng.standard_normal(t.size, dtype=np.float32), cutoff / 4.0, cutoff, sample_rate
    )
    return mix(tone, noise, p.noise_mix) * _envelope(t, p.attack_s, p.decay_s)


def _render_hat(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    detune = rng.uniform(0.9, 1.1)
    cycles = detune * np.outer(_HAT_PARTIALS_HZ, t) + rng.random((len(_HAT_PARTIALS_HZ), 1))
    low_halves = ((2.0 * cycles).astype(np.int64) & 1).sum(axis=0)
    metal = len(_HAT_PARTIALS_HZ) - 2.0 * low_halves
    body = mix(metal, rng.standard_normal(t.size, dtype=np.float32), p.noise_mix)
    cutoff = brightness_hz("hat", p.brightness, sample_rate)
    body = bandpass(body, cutoff, 3.0 * cutoff, sample_rate)
    return body * _envelope(t, p.attack_s, p.decay_s)


def _render_tom(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    tone = _swept_tone(p, t)
    body = mix(tone, rng.standard_normal(t.size, dtype=np.float32), p.noise_mix)
    body = lowpass(body, brightness_hz("tom", p.brightness, sample_rate), sample_rate)
    return body * _envelope(t, p.attack_s, p.decay_s)


def _render_pluck(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    if p.f0_hz is None:
        raise ValueError(f"{p.path}: a pluck needs f0_hz")
    cutoff = brightness_hz("pluck", p.brightness, sample_rate)
    string = karplus_strong(
        p.f0_hz, p.decay_s, 1.0 - p.brightness, cutoff, t.size, sample_rate, rng
    )
    pick = lowpass(rng.standard_normal(t.size, dtype=np.float32), cutoff, sample_rate)
    pick *= np.exp(-t / _PICK_TAU_S)
    return mix(string, pick, p.noise_mix) * np.minimum(t / max(p.attack_s, 1e-6), 1.0)


def _render_chord(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Strings at the chord's intervals above the root, each a pluck starting `strum_s` after
    the one below it (a down-strum), at 0.8–1.0 × unit level, + pick noise at the first."""
    if p.f0_hz is None or p.chord not in CHORDS:
        raise ValueError(f"{p.path}: a chord needs f0_hz and a chord type in {sorted(CHORDS)}")
    cutoff = brightness_hz("chord", p.brightness, sample_rate)
    strings = np.zeros(t.size)
    for number, semitones in enumerate(CHORDS[p.chord]):
        delay = min(round(number * p.strum_s * sample_rate), t.size - 1)
        string = karplus_strong(
            p.f0_hz * 2.0 ** (semitones / 12.0), p.decay_s, 1.0 - p.brightness, cutoff,
            t.size - delay, sample_rate, rng,
        )  # fmt: skip
        strings[delay:] += rng.uniform(0.8, 1.0) * unit_peak(string)
    pick = lowpass(rng.standard_normal(t.size, dtype=np.float32), cutoff, sample_rate)
    pick *= np.exp(-t / _PICK_TAU_S)
    return mix(strings, pick, p.noise_mix) * np.minimum(t / max(p.attack_s, 1e-6), 1.0)


def _render_bell(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """`BELL_RATIOS` × f0 at random phases, amplitude 1 / (1 + (f_j / fc)²), τ_j as documented
    (none at or above 0.45 × the rate), + strike noise below fc."""
    if p.f0_hz is None:
        raise ValueError(f"{p.path}: a bell needs f0_hz")
    cutoff = brightness_hz("bell", p.brightness, sample_rate)
    ratios = np.asarray(BELL_RATIOS)
    hz = ratios * p.f0_hz
    keep = hz < 0.45 * sample_rate
    phases = rng.uniform(0.0, 2.0 * np.pi, ratios.size)
    amplitude = 1.0 / (1.0 + (hz / cutoff) ** 2)
    tau = p.decay_s / np.sqrt(np.maximum(ratios, 1.0))
    partials = np.sin(2.0 * np.pi * hz[keep, None] * t + phases[keep, None])
    partials *= (amplitude[keep, None] * np.exp(-t / tau[keep, None])).astype(np.float32)
    strike = lowpass(rng.standard_normal(t.size, dtype=np.float32), cutoff, sample_rate)
    strike *= np.exp(-t / _PICK_TAU_S)
    body = mix(partials.sum(axis=0), strike, p.noise_mix)
    return body * np.minimum(t / max(p.attack_s, 1e-6), 1.0)


def _render_cymbal(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """`CYMBAL_HZ` squares (±10 %) ring-modulated in pairs + noise, band-passed, × envelope."""
    detune = rng.uniform(0.9, 1.1, len(CYMBAL_HZ))
    cycles = np.outer(detune * np.asarray(CYMBAL_HZ), t) + rng.random((len(CYMBAL_HZ), 1))
    squares = 1.0 - 2.0 * ((2.0 * cycles).astype(np.int64) & 1)
    metal = (squares[0::2] * squares[1::2]).sum(axis=0)
    body = mix(metal, rng.standard_normal(t.size, dtype=np.float32), p.noise_mix)
    cutoff = brightness_hz("cymbal", p.brightness, sample_rate)
    body = bandpass(body, 0.5 * cutoff, 4.0 * cutoff, sample_rate)
    return body * _envelope(t, p.attack_s, p.decay_s)


def _track(
    items: list[DemoSoundParameters], progress: bool, description: str
) -> Iterable[DemoSoundParameters]:
    if not progress:
        return items
    from rich.progress import track

    return track(items, description=description)


_RENDERERS = {
    "kick": _render_kick,
    "snare": _render_snare,
    "hat": _render_hat,
    "tom": _render_tom,
    "pluck": _render_pluck,
    "chord": _render_chord,
    "bell": _render_bell,
    "cymbal": _render_cymbal,
}
