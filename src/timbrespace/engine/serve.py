"""`timbrespace serve` as a library call: open a bundle as an engine, listen for OSC, and run a
backend (device, file or null) until done or interrupted."""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Callable
from pathlib import Path

from timbrespace.engine.addresses import AddressError, parse_message
from timbrespace.engine.backends import NullBackend, check_device, render_file, run_device
from timbrespace.engine.core import Engine
from timbrespace.engine.osc import OscServer
from timbrespace.engine.runner import Runner
from timbrespace.errors import TimbrespaceError
from timbrespace.space import LatentSpace

__all__ = ["load_commands", "serve"]


def _value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


def load_commands(engine: Engine, path: str | os.PathLike[str]) -> int:
    """Schedule the timed messages of a text file (`SECONDS /address arg …` per line, `#`
    comments) on `engine`, each at the block holding its time; returns how many. A bad line
    raises a `TimbrespaceError` naming the file and line."""
    count = 0
    try:
        lines = Path(path).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise TimbrespaceError(f"{path}: cannot read the commands ({error})") from None
    for number, line in enumerate(lines, 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        try:
            seconds = float(words[0])
            if not seconds >= 0:
                raise ValueError
        except ValueError:
            raise TimbrespaceError(f"{path}:{number}: expected `SECONDS /address args`") from None
        try:
            command = engine.check(
                parse_message(words[1] if len(words) > 1 else "", [_value(w) for w in words[2:]])
            )
        except AddressError as error:
            raise TimbrespaceError(f"{path}:{number}: {error}") from None
        engine.schedule(int(seconds * engine.sample_rate) // engine.block, command)
        count += 1
    return count


def runtime_line(engine: Engine) -> str:
    """What `auto` chose and what it measured, e.g. "playing the onnxruntime graphs: 0.40 ms
    per 128-sample block (torchscript 0.61 ms; the deadline is 2.90 ms)"."""
    chosen = engine.runtime_ms[engine.runtime]
    others = [
        f"{name} {ms:.2f} ms" for name, ms in engine.runtime_ms.items() if name != engine.runtime
    ]
    deadline = 1000.0 * engine.block / engine.sample_rate
    skipped = [f"{name} not used: {why}" for name, why in engine.runtime_skipped.items()]
    return (
        f"playing the {engine.runtime} graphs: {chosen:.2f} ms per {engine.block}-sample block "
        f"({'; '.join([*others, f'the deadline is {deadline:.2f} ms', *skipped])})"
    )


def serve(
    bundle: str | os.PathLike[str],
    *,
    backend: str = "device",
    block: int = 512,
    host: str = "127.0.0.1",
    port: int | None = 9000,
    input_path: str | None = None,
    output: str | None = None,
    seconds: float | None = None,
    commands: str | None = None,
    gla_iters: int | None = None,
    device: str | int | None = None,
    pace: float | None = None,
    midi: str | None = None,
    runtime: str = "auto",
    stop: threading.Event | None = None,
    announce: Callable[[str], None] = print,
) -> Engine:
    """Run an engine on `bundle` with `backend` (`device`, `file`, `null`); OSC on
    `host`:`port` unless `port` is None; `midi`: a MIDI input port (a part of its name) whose
    notes play an instrument model; `runtime`: what runs a streaming model (see `Engine`;
    `auto`: its faster compiled graphs). Returns the engine once it stops."""
    if backend == "device":
        check_device(device)
    space = LatentSpace.open(bundle)
    engine = Engine(
        space, block, gla_iters=gla_iters, synchronous=backend == "file", runtime=runtime
    )
    if engine.capabilities["input"]:
        announce(f"input to output: {engine.latency_ms:.1f} ms (one block + the model)")
    if engine.runtime_ms:
        announce(runtime_line(engine))
    if commands:
        load_commands(engine, commands)
    server = midi_in = None
    runner = None if backend == "file" else Runner(engine)
    if midi is not None:
        if not engine.capabilities["pitch"]:
            raise TimbrespaceError(
                f"--midi: this {space.model.label} model plays no notes (an instrument model "
                "or an analysed one-shot model does)"
            )
        from timbrespace.engine.midi_in import MidiInput

        midi_in = MidiInput(engine, midi)
        announce(f"MIDI from {midi_in.name}")
    if port is not None:
        # the server steps aside while a block renders (`Runner.idle`)
        idle = None if runner is None else runner.idle
        server = OscServer(engine, host=host, port=port, yield_to=idle)
        server.start()
        announce(f"OSC on {server.host}:{server.port} (send /info for the controls)")
    try:
        if backend == "file":
            if output is None:
                raise TimbrespaceError("--backend file needs -o OUTPUT.wav")
            _, stats = render_file(
                engine, output, input_path=input_path, seconds=seconds, pace=pace
            )
            announce(
                f"wrote {output}: {stats.seconds_audio:.2f} s in {stats.seconds_wall:.2f} s "
                f"({stats.real_time_factor:.1f}× real time)"
            )
        elif backend == "null":
            assert runner is not None
            null = NullBackend(runner)
            null.run(seconds if seconds is not None else 10.0)
            announce(f"null backend: {null.runner.pulls} blocks, {null.runner.missed} missed")
        else:
            announce(f"playing {space.bundle.path} on the audio device; Ctrl-C stops")
            assert runner is not None
            run_device(runner, device=device, stop=stop)
    finally:
        if midi_in is not None:
            midi_in.close()
        if server is not None:
            server.stop()
        engine.close()
    return engine
