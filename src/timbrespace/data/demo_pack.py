"""The built-in procedural demo pack: one-shots whose ground-truth parameters are known.

It is the embedded default dataset and the reference for checking that a control named "pitch"
really moves pitch. `write_demo_pack` lays the sounds out like a user's sample-pack tree::

    OUT/kicks/808/kick_0000.wav      OUT/kicks/acoustic/kick_0005.wav
    OUT/snares/tight/...  OUT/snares/loose/...   OUT/hats/closed/...  OUT/hats/open/...
    OUT/toms/low/...      OUT/toms/high/...      OUT/plucks/nylon/... OUT/plucks/steel/...
    OUT/parameters.csv   one row per sound (the fields of `DemoSoundParameters`)

File names carry the global item index, so any sound can be re-rendered from `(seed, index)`.
Families take turns (`index % 5`), sub-packs alternate within a family.

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
import soxr
from scipy import signal

FAMILIES: tuple[str, ...] = ("kick", "snare", "hat", "tom", "pluck")
SUBPACKS: dict[str, tuple[str, str]] = {
    "kick": ("808", "acoustic"),
    "snare": ("tight", "loose"),
    "hat": ("closed", "open"),
    "tom": ("low", "high"),
    "pluck": ("nylon", "steel"),
}
BRIGHTNESS_HZ: dict[str, tuple[float, float]] = {
    "kick": (100.0, 8000.0),
    "snare": (1500.0, 14000.0),
    "hat": (2000.0, 8000.0),
    "tom": (300.0, 10000.0),
    "pluck": (400.0, 16000.0),
}
PARAMETERS_CSV = "parameters.csv"

_DRIVE = (0.3, 20.0)
_CLICK_TAU_S = 0.005
_PICK_TAU_S = 0.008
_HAT_PARTIALS_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)
_DC_BLOCK_HZ = 5.0
_RENDER_STREAM = 1
_WRITERS = 4
_PLUCK_NOISE = 0.25


@dataclass(frozen=True)
class DemoSoundParameters:
    """Ground truth of one demo sound: one row of `parameters.csv`.

    path: WAV path relative to the pack root, forward slashes. index/seed: the item index and
    pack seed it was drawn from. f0_hz: perceived (final, steady) fundamental in Hz, None for
    hats. start_hz: start of the pitch sweep in Hz (= f0_hz for plucks, None for hats).
    sweep_s: time constant of the sweep in s. attack_s: linear attack ramp in s. decay_s: time
    constant τ in s of the amplitude decay exp(-t/τ). noise_mix, brightness, velocity: 0..1.
    gain_db: peak level in dBFS. duration_s: length in s (≤ 1).
    """

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
}  # fmt: skip


def draw_parameters(index: int, seed: int, family: str | None = None) -> DemoSoundParameters:
    """Draw the ground truth of item `index` from `np.random.default_rng([seed, index])`.

    family: one of FAMILIES; None takes `FAMILIES[index % len(FAMILIES)]` (balanced packs).
    """
    if family is None:
        family = FAMILIES[index % len(FAMILIES)]
    if family not in SUBPACKS:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    subpack = SUBPACKS[family][(index // len(FAMILIES)) % 2]
    recipe = _RECIPES[family, subpack]
    u = np.random.default_rng([seed, index]).random(8)
    f0_hz = _draw_f0(recipe, u[0])
    attack_s = round(_log_lerp(recipe.attack_s, u[3]), 5)
    decay_s = round(_log_lerp(recipe.decay_s, u[4]), 4)
    velocity = round(0.3 + 0.7 * float(u[7]), 4)
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
    )


def render_sound(params: DemoSoundParameters, sample_rate: int) -> np.ndarray:
    """Render one sound deterministically: float32 `[samples]` at `sample_rate` Hz, peak < 1."""
    n = max(1, round(params.duration_s * sample_rate))
    t = np.arange(n, dtype=np.float32) / np.float32(sample_rate)
    rng = np.random.default_rng([params.seed, params.index, _RENDER_STREAM])
    renderer = _RENDERERS[params.family]
    audio = renderer(params, t, sample_rate, rng)
    return _finish(audio, params.gain_db, sample_rate)


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
    """Read `parameters.csv`; raises ValueError naming the file, row and field on bad input."""
    with open(csv_path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = set(_FIELD_NAMES) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{csv_path}: missing columns {sorted(missing)}")
        return [_parse_row(row, csv_path, line) for line, row in enumerate(reader, start=2)]


_FIELD_NAMES = tuple(field.name for field in fields(DemoSoundParameters))
_INT_FIELDS = frozenset({"index", "seed"})
_STR_FIELDS = frozenset({"path", "pack", "subpack", "family"})
_OPTIONAL_FIELDS = frozenset({"f0_hz", "start_hz"})


def _parse_row(
    row: dict[str, str], csv_path: str | os.PathLike[str], line: int
) -> DemoSoundParameters:
    values: dict[str, object] = {}
    for name in _FIELD_NAMES:
        text = (row[name] or "").strip()
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


def _unit_peak(x: np.ndarray) -> np.ndarray:
    peak = float(np.abs(x).max(initial=0.0))
    return x / peak if peak > 0 else x


def _butter2(kind: str, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """One second-order Butterworth section (RBJ biquad, Q = 1/√2) as an SOS row `[6]`."""
    w0 = 2.0 * math.pi * cutoff_hz / sample_rate
    cos_w0, alpha = math.cos(w0), math.sin(w0) / math.sqrt(2.0)
    if kind == "lowpass":
        b = [(1.0 - cos_w0) / 2.0, 1.0 - cos_w0, (1.0 - cos_w0) / 2.0]
    else:
        b = [(1.0 + cos_w0) / 2.0, -(1.0 + cos_w0), (1.0 + cos_w0) / 2.0]
    a0 = 1.0 + alpha
    return np.array([*b, a0, -2.0 * cos_w0, 1.0 - alpha]) / a0


def _lowpass(x: np.ndarray, cutoff_hz: float, sample_rate: int) -> np.ndarray:
    """12 dB/octave Butterworth lowpass at `cutoff_hz` Hz."""
    return signal.sosfilt(_butter2("lowpass", cutoff_hz, sample_rate)[None], x)


def _bandpass(x: np.ndarray, low_hz: float, high_hz: float, sample_rate: int) -> np.ndarray:
    """12 dB/octave Butterworth highpass at `low_hz` then lowpass at `high_hz` (≤ 0.45 × rate)."""
    high_hz = min(high_hz, 0.45 * sample_rate)
    low_hz = min(low_hz, 0.5 * high_hz)
    sections = np.stack(
        [_butter2("highpass", low_hz, sample_rate), _butter2("lowpass", high_hz, sample_rate)]
    )
    return signal.sosfilt(sections, x)


def _mix(tone: np.ndarray, noise: np.ndarray, noise_mix: float) -> np.ndarray:
    return (1.0 - noise_mix) * _unit_peak(tone) + noise_mix * _unit_peak(noise)


def _render_kick(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    tone = _swept_tone(p, t)
    click = rng.standard_normal(t.size, dtype=np.float32) * np.exp(-t / _CLICK_TAU_S)
    body = _mix(tone, click, p.noise_mix)
    body = _lowpass(body, brightness_hz("kick", p.brightness, sample_rate), sample_rate)
    return body * _envelope(t, p.attack_s, p.decay_s)


def _render_snare(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    tone = _swept_tone(p, t)
    cutoff = brightness_hz("snare", p.brightness, sample_rate)
    noise = _bandpass(
        rng.standard_normal(t.size, dtype=np.float32), cutoff / 4.0, cutoff, sample_rate
    )
    return _mix(tone, noise, p.noise_mix) * _envelope(t, p.attack_s, p.decay_s)


def _render_hat(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    detune = rng.uniform(0.9, 1.1)
    cycles = detune * np.outer(_HAT_PARTIALS_HZ, t) + rng.random((len(_HAT_PARTIALS_HZ), 1))
    low_halves = ((2.0 * cycles).astype(np.int64) & 1).sum(axis=0)
    metal = len(_HAT_PARTIALS_HZ) - 2.0 * low_halves
    body = _mix(metal, rng.standard_normal(t.size, dtype=np.float32), p.noise_mix)
    cutoff = brightness_hz("hat", p.brightness, sample_rate)
    body = _bandpass(body, cutoff, 3.0 * cutoff, sample_rate)
    return body * _envelope(t, p.attack_s, p.decay_s)


def _render_tom(
    p: DemoSoundParameters, t: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    tone = _swept_tone(p, t)
    body = _mix(tone, rng.standard_normal(t.size, dtype=np.float32), p.noise_mix)
    body = _lowpass(body, brightness_hz("tom", p.brightness, sample_rate), sample_rate)
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
    pick = _lowpass(rng.standard_normal(t.size, dtype=np.float32), cutoff, sample_rate)
    pick *= np.exp(-t / _PICK_TAU_S)
    return _mix(string, pick, p.noise_mix) * np.minimum(t / max(p.attack_s, 1e-6), 1.0)


def karplus_strong(
    f0_hz: float,
    decay_s: float,
    damping: float,
    excitation_cutoff_hz: float,
    n: int,
    sample_rate: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Karplus-Strong plucked string (Karplus & Strong 1983), vectorised one period at a time.

    The loop starts from one period of `_pluck_shape`, low-passed at `excitation_cutoff_hz`.
    The loop is an integer delay W and a one-zero lowpass [1 - s, s] (s = 0.5 × damping, lowered
    where needed so the fundamental can ring for τ); the loop gain sets the fundamental's decay
    to exp(-t / decay_s). The loop runs at a rate where W + (filter delay) is exactly one period,
    then soxr resamples to `sample_rate`: exact pitch without a lossy fractional delay in the loop.
    Returns float64 `[n]`.
    """
    period = sample_rate / f0_hz
    q = math.exp(-1.0 / (decay_s * f0_hz))
    omega = 2.0 * math.pi / period
    s = min(0.5 * damping, _max_damping(q, omega))
    whole = max(2, math.floor(period - s))
    loop_period = whole + _phase_delay(s, 2.0 * math.pi / (whole + s))
    loop_omega = 2.0 * math.pi / loop_period
    gain = min(q / _one_zero_gain(s, loop_omega), 1.0)
    loop_n = math.ceil(n * loop_period / period) + 64
    excitation = _lowpass(_pluck_shape(whole, rng), excitation_cutoff_hz, sample_rate)
    buffer = np.zeros(whole + 1 + loop_n)
    buffer[whole + 1 : 2 * whole + 1] = excitation - excitation.mean()
    for start in range(2 * whole + 1, buffer.size, whole):
        stop = min(start + whole, buffer.size)
        previous = buffer[start - whole : stop - whole]
        before = buffer[start - whole - 1 : stop - whole - 1]
        buffer[start:stop] = gain * ((1.0 - s) * previous + s * before)
    string = soxr.resample(buffer[whole + 1 :], loop_period, period, quality="HQ")
    return np.pad(string, (0, max(0, n - string.size)))[:n]


def _pluck_shape(length: int, rng: np.random.Generator) -> np.ndarray:
    """Initial string displacement `[length]`: a triangle plucked at 10–40 % of the string
    (harmonics ∝ sin(kπβ)/k², a clear fundamental) plus a little noise (string texture)."""
    position = rng.uniform(0.1, 0.4)
    x = (np.arange(length) + 0.5) / length
    triangle = np.minimum(x / position, (1.0 - x) / (1.0 - position))
    return triangle + _PLUCK_NOISE * rng.standard_normal(length)


def _one_zero_gain(s: float, omega: float) -> float:
    """|H(e^{jω})| of the loop filter H(z) = (1 - s) + s z^-1."""
    return math.sqrt(1.0 - 2.0 * s * (1.0 - s) * (1.0 - math.cos(omega)))


def _phase_delay(s: float, omega: float) -> float:
    """Phase delay in samples of (1 - s) + s z^-1 at ω (≈ s for low ω)."""
    return math.atan2(s * math.sin(omega), 1.0 - s + s * math.cos(omega)) / omega


def _max_damping(q: float, omega: float) -> float:
    """Largest s whose loss at ω still lets the per-period decay be q with loop gain ≤ 1."""
    budget = (1.0 - q * q) / (2.0 * (1.0 - math.cos(omega)))
    return 0.5 if budget >= 0.25 else 0.5 * (1.0 - math.sqrt(1.0 - 4.0 * budget))


def _finish(audio: np.ndarray, gain_db: float, sample_rate: int) -> np.ndarray:
    """DC-block, fade out the tail, peak-normalise to `gain_db` dBFS; float32 `[samples]`."""
    pole = math.exp(-2.0 * math.pi * _DC_BLOCK_HZ / sample_rate)
    audio = signal.lfilter([1.0, -1.0], [1.0, -pole], audio)
    fade = min(max(round(0.1 * audio.size), round(0.005 * sample_rate)), round(0.05 * sample_rate))
    fade = min(fade, audio.size)
    audio[audio.size - fade :] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
    return (_unit_peak(audio) * 10.0 ** (gain_db / 20.0)).astype(np.float32)


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
}
