"""Where the engine's blocks go: a file (deterministic, faster than real time unless paced), an
audio device (sounddevice / PortAudio), or nowhere (null: the audio clock without a device, for
tests and benchmarks). The device and null backends drive a `Runner` (worker thread + ring);
the file backend calls `Engine.render_block` itself."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from timbrespace import inference
from timbrespace.audio.io import save_audio
from timbrespace.engine.core import Engine
from timbrespace.engine.runner import Runner, raise_priority
from timbrespace.errors import TimbrespaceError

__all__ = ["DeviceUnavailable", "NullBackend", "RenderStats", "list_devices", "render_file"]
__all__ += ["check_device", "run_device"]


class DeviceUnavailable(TimbrespaceError):
    """No audio device (or PortAudio) on this machine."""


@dataclass
class RenderStats:
    blocks: int
    seconds_audio: float
    seconds_wall: float
    missed: int = 0

    @property
    def real_time_factor(self) -> float:
        return self.seconds_audio / max(self.seconds_wall, 1e-9)


def input_blocks(engine: Engine, audio: np.ndarray | None, blocks: int) -> list[np.ndarray | None]:
    """`audio` `[channels, samples]` cut into `blocks` input blocks (zero-padded at the end)."""
    if audio is None:
        return [None] * blocks
    padded = np.zeros((engine.channels, blocks * engine.block), dtype=np.float32)
    length = min(audio.shape[-1], padded.shape[-1])
    padded[:, :length] = audio[:, :length]
    return list(padded.reshape(engine.channels, blocks, engine.block).transpose(1, 0, 2))


def render_file(
    engine: Engine,
    output: str | os.PathLike[str] | None,
    *,
    input_path: str | os.PathLike[str] | None = None,
    seconds: float | None = None,
    pace: float | None = None,
    tail: bool = True,
    on_block: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, RenderStats]:
    """Run the engine over an input file (or silence for `seconds`) and write the output
    `[channels, samples]` (`tail`: `delay_samples` more, so the input's end is heard). `pace`:
    1.0 plays at real time (so OSC messages land while it runs), None as fast as possible."""
    audio = None
    if input_path is not None:
        audio = inference.load_recording(engine.space.bundle, input_path)[0].numpy()
    samples = audio.shape[-1] if audio is not None else round((seconds or 0.0) * engine.sample_rate)
    if seconds is not None and audio is not None:
        samples = min(samples, round(seconds * engine.sample_rate))
        audio = audio[:, :samples]
    if samples <= 0:
        raise TimbrespaceError("nothing to render: give an input file or --seconds > 0")
    total = samples + (engine.delay_samples if tail else 0)
    count = -(-total // engine.block)
    outputs = []
    began = time.perf_counter()
    for i, block in enumerate(input_blocks(engine, audio, count)):
        if pace:
            wait = began + i * engine.block / engine.sample_rate / pace - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        if on_block is not None:
            on_block(i)
        outputs.append(engine.render_block(block))
    wall = time.perf_counter() - began
    rendered = np.concatenate(outputs, axis=-1)[:, :total]
    if output is not None:
        save_audio(output, rendered, engine.sample_rate)
    return rendered, RenderStats(count, count * engine.block / engine.sample_rate, wall)


class NullBackend:
    """The audio clock without a device: a thread pulls one block every block period (absolute
    schedule, as a sound card would) and discards it (or keeps it: `keep`)."""

    def __init__(self, runner: Runner, *, keep: bool = False) -> None:
        self.runner = runner
        self.keep = keep
        self.kept: list[np.ndarray] = []
        self.late_wakeups = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.runner.start()
        self._thread = threading.Thread(target=self._clock, name="null-audio", daemon=True)
        self._thread.start()

    def run(self, seconds: float) -> None:
        self.start()
        try:
            self._stop.wait(seconds)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.runner.stop()

    def _clock(self) -> None:
        raise_priority()  # as a sound card's callback thread
        engine = self.runner.engine
        period = self.runner.period
        out = np.zeros((engine.channels, engine.block), dtype=np.float32)
        silence = np.zeros_like(out)
        start = time.perf_counter() + period
        n = 0
        while not self._stop.is_set():
            due = start + n * period
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif wait < -period:
                self.late_wakeups += 1
            self.runner.pull(out, silence)
            if self.keep:
                self.kept.append(out.copy())
            n += 1


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as error:
        raise DeviceUnavailable(
            f"no audio device backend: {error} (install `timbrespace[engine]` and PortAudio, "
            "Debian libportaudio2); use --backend file or null"
        ) from None
    return sounddevice


def list_devices() -> str:
    """The audio devices PortAudio sees, one per line (raises `DeviceUnavailable` if none)."""
    sd = _sounddevice()
    devices = sd.query_devices()
    if len(devices) == 0:
        raise DeviceUnavailable("no audio device found; use --backend file or null")
    return str(devices)


def check_device(device: str | int | None = None) -> None:
    """Raise `DeviceUnavailable` (one line) unless PortAudio has an output device (`device`:
    a name or number, default the system's)."""
    sd = _sounddevice()
    try:
        if len(sd.query_devices()) == 0:
            raise DeviceUnavailable("no audio device found; use --backend file or null")
        sd.check_output_settings(device=device)
    except (sd.PortAudioError, ValueError) as error:
        raise DeviceUnavailable(
            f"audio device {device or 'default'}: {error}; use --backend file or null"
        ) from None


def run_device(
    runner: Runner, *, device: str | int | None = None, stop: threading.Event | None = None
) -> None:
    """Play the engine on an audio device (input too for a model that takes live input)
    until `stop` is set or Ctrl-C."""
    check_device(device)
    sd = _sounddevice()
    engine = runner.engine
    out = np.zeros((engine.channels, engine.block), dtype=np.float32)

    def callback(indata: Any, outdata: Any, frames: int, time_info: Any, status: Any) -> None:
        runner.pull(out, indata.T if indata is not None else None)
        outdata[:] = out.T

    duplex = engine.capabilities["input"]
    stream_type = sd.Stream if duplex else sd.OutputStream
    kwargs = (
        {"callback": callback}
        if duplex
        else {"callback": lambda o, f, t, s: callback(None, o, f, t, s)}
    )
    stop = stop or threading.Event()
    runner.start()
    try:
        with stream_type(
            samplerate=engine.sample_rate,
            blocksize=engine.block,
            channels=engine.channels,
            dtype="float32",
            device=device,
            **kwargs,
        ):
            while not stop.wait(0.2):
                pass
    except sd.PortAudioError as error:
        raise DeviceUnavailable(f"audio device {device!r}: {error}") from None
    finally:
        runner.stop()
