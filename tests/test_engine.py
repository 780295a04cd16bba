"""The realtime engine on tiny trained models, with the file and null backends: renders equal
the offline rendering of the same edits, OSC over UDP changes the sound at the block it is
applied, one-shot notes are in tune, the feedback loop stays bounded, and malformed OSC never
stops the audio."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch

from timbrespace import inference
from timbrespace.blocks import PathStream
from timbrespace.cli import main
from timbrespace.engine import Engine, parse_message
from timbrespace.engine.backends import NullBackend, render_file
from timbrespace.engine.osc import OscServer, build_message
from timbrespace.engine.runner import Runner
from timbrespace.live import LoopPlayhead
from timbrespace.space import LatentSpace

BLOCK = 512


@pytest.fixture(scope="module")
def stream_space(stream_run) -> LatentSpace:
    return LatentSpace.open(stream_run[0] / "bundle")


@pytest.fixture(scope="module")
def melody(melody_cache: Path) -> Path:
    """One of the melodies the cache was prepared from."""
    dataset = json.loads((melody_cache / "manifest.json").read_text())["dataset"]
    return sorted(Path(dataset).rglob("*.wav"))[0]


def send(engine: Engine, block: int, address: str, *args) -> None:
    engine.schedule(block, engine.check(parse_message(address, list(args))))


def test_a_stream_render_equals_the_offline_stream_and_edits(stream_space, melody) -> None:
    engine = Engine(stream_space, BLOCK)
    out, stats = render_file(engine, None, input_path=melody, seconds=2.0)
    source = inference.load_recording(stream_space.bundle, melody)[
        ..., : 2 * stream_space.sample_rate
    ]
    offline = inference.stream(stream_space.model, source, BLOCK)[0].numpy()
    delay = engine.delay_samples
    assert np.abs(offline).max() > 0.05, "the tiny model must not be silent"
    assert np.abs(out[:, delay : delay + offline.shape[-1]] - offline).max() < 1e-4
    assert stats.real_time_factor > 5

    engine = Engine(stream_space, BLOCK)
    engine.params.bias.seconds = engine.params.scale.seconds = 0.0  # no glide: offline equality
    send(engine, 0, "/bias", 2, 1.5)
    send(engine, 0, "/scale", 0, 0.5)
    out, _ = render_file(engine, None, input_path=melody, seconds=2.0)
    with torch.inference_mode():
        z = stream_space.model.encode(source)
        z[:, 0] *= 0.5
        z[:, 2] += 1.5
        edited = stream_space.model.decode(z)[0].clamp(-1, 1).numpy()
    valid = source.shape[-1] - delay  # decode's last `delay` samples miss later frames
    assert np.abs(out[:, delay : delay + valid] - edited[:, :valid]).max() < 1e-4
    assert np.abs(edited - offline).max() > 0.05, "the edit must change the sound"


def test_a_spectral_engine_plays_its_corners_through_streamed_griffin_lim(spectral_run) -> None:
    space = LatentSpace.open(spectral_run[0] / "bundle")
    engine = Engine(space, BLOCK, gla_iters=8)
    assert engine.capabilities["gla"] and not engine.capabilities["input"]
    corner = engine.loops[0].path.clone()
    out, _ = render_file(engine, None, seconds=2.0, tail=False)
    reference = PathStream(space.model, BLOCK, gla_iters=8)
    loop = LoopPlayhead(corner)
    expected = np.concatenate(
        [
            reference.decode(loop.next(engine.frames))[0].numpy()
            for _ in range(out.shape[-1] // BLOCK)
        ],
        axis=-1,
    )
    assert np.abs(out[:, : expected.shape[-1]] - expected).max() < 1e-5
    # against the offline render of the same looped path: equal magnitudes within GLA's error
    frames = (out.shape[-1] - engine.delay_samples) // space.model.hop_length
    path = LoopPlayhead(corner).next(frames)
    offline = space.render(path, gla_iters=8)[0, 0]
    live = out[0, engine.delay_samples : engine.delay_samples + offline.shape[-1]]
    spec = [np.abs(librosa.stft(x, n_fft=1024, hop_length=256)) for x in (live, offline)]
    distance = np.linalg.norm(spec[0] - spec[1]) / np.linalg.norm(spec[1])
    # not silent: a random corner of a tiny model can peak near −40 dBFS (measured: 0.0085)
    assert np.abs(offline).max() > 0.003 and distance < 0.5, distance
    with pytest.raises(Exception, match="no live audio input"):
        engine.check(parse_message("/source", ["input"]))


def centroid(audio: np.ndarray, sr: int) -> float:
    return float(np.median(librosa.feature.spectral_centroid(y=audio, sr=sr)))


def test_an_osc_message_during_a_file_render_changes_the_output_at_its_block(
    stream_space, melody
) -> None:
    sr = stream_space.sample_rate
    reference = Engine(stream_space, BLOCK)
    ref, _ = render_file(reference, None, input_path=melody, seconds=3.0)
    engine = Engine(stream_space, BLOCK)
    server = OscServer(engine, port=0)
    server.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        timer = threading.Timer(
            1.0,
            lambda: client.sendto(build_message("/bias", [-1, 2.5]), (server.host, server.port)),
        )
        timer.start()
        out, _ = render_file(engine, None, input_path=melody, seconds=3.0, pace=1.0)
        timer.join()
    finally:
        server.stop()
        client.close()
    applied = [a for a in engine.applied if a.address == "/bias"]
    assert len(applied) == 1 and 20 < applied[0].block < 80  # ~1 s at 32 ms per block
    start = applied[0].block * BLOCK
    assert np.array_equal(out[:, :start], ref[:, :start]), "nothing may change before its block"
    after = slice(start + int(0.1 * sr), start + int(1.0 * sr))
    assert np.abs(out[:, after] - ref[:, after]).max() > 0.05
    moved = abs(centroid(out[0, after], sr) - centroid(ref[0, after], sr))
    assert moved > 0.1 * centroid(ref[0, after], sr), moved


def test_a_note_renders_in_tune_and_voices_overlap(demo_run) -> None:
    space = LatentSpace.open(demo_run / "bundle")
    engine = Engine(space, BLOCK, synchronous=True)
    assert engine.capabilities["pitch"]
    send(engine, 0, "/corner", 0, "pluck_0004.wav")
    send(engine, 1, "/note", 60, 100)
    send(engine, 1, "/note", 67, 0)  # velocity 0: ignored
    out, _ = render_file(engine, None, seconds=1.0)
    sr = space.sample_rate
    onset = BLOCK
    assert np.abs(out[:, :onset]).max() == 0.0, "the note starts at its block"
    f0, voiced, _ = librosa.pyin(out[0, onset : onset + sr // 3], fmin=80, fmax=1000, sr=sr)
    cents = 1200 * np.log2(np.nanmedian(f0[voiced]) / 261.6256)
    assert abs(cents) < 25, cents
    engine = Engine(space, BLOCK, synchronous=True)
    for i in range(40):
        send(engine, 0, "/play", space.analysis.sounds[i % 10], 100)
    render_file(engine, None, seconds=0.1)
    assert engine.voices is not None and engine.voices.playing == 32 and engine.voices.stolen == 8


def test_feedback_stays_bounded_for_every_frequency_and_q(stream_space) -> None:
    sr = stream_space.sample_rate
    rng = np.random.default_rng(0)
    burst = np.zeros((1, 10 * sr // BLOCK * BLOCK), dtype=np.float32)
    burst[:, : sr // 10] = rng.uniform(-1, 1, sr // 10)
    blocks = burst.reshape(1, -1, BLOCK).transpose(1, 0, 2)
    for frequency in (50.0, 300.0, 1000.0, 3000.0, 7000.0):
        for q in (0.5, 2.0, 8.0, 20.0):
            engine = Engine(stream_space, BLOCK)
            for address, value in (("/feedback", 1), ("/feedback/gain", 0.99),
                                   ("/feedback/freq", frequency), ("/feedback/q", q),
                                   ("/gain", 12.0)):  # fmt: skip
                send(engine, 0, address, value)
            peak = max(float(np.abs(engine.render_block(block)).max()) for block in blocks)
            assert np.isfinite(peak) and peak <= 1.0, (frequency, q, peak)


@pytest.mark.slow
def test_malformed_osc_floods_never_stop_the_audio(stream_space) -> None:
    engine = Engine(stream_space, BLOCK, runtime="auto")  # as `timbrespace serve` runs it
    runner = Runner(engine)
    server = OscServer(engine, port=0, reply_rate=100.0, yield_to=runner.idle)
    server.start()
    null = NullBackend(runner)
    flood = [sys.executable, str(Path(__file__).with_name("osc_flood.py"))]
    # the flood process is started (forked) before the audio clock, and waits 2 s to begin
    sender = subprocess.Popen(
        [*flood, server.host, str(server.port), "10", "10000", "2"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        null.start()
        stdout, _ = sender.communicate(timeout=60)
        time.sleep(0.2)
    finally:
        sender.kill()
        null.stop()
        server.stop()
    assert sender.returncode == 0
    client = json.loads(stdout)
    counts = server.counts
    assert client["sent"] >= 95_000, client  # ~10 000 messages per second for 10 s
    runner = null.runner
    # the flood (a 90 MB/s process) shares the 2 cores with the worker: its renders of ~2 ms
    # take up to 25 ms then, and one over the lead can come before the lead has seen such
    # renders. Measured on this 2-core machine: 0 blocks missed in 8 runs of 9 alone, 1 in the
    # other, and 4 in one full-suite CI run (before `clock_time` and the longest-render lead:
    # 2–5 missed in 3 runs of 4). A known miss under this flood: at most 0.5 % of the blocks
    assert runner.missed <= 6, (runner.missed_at, sorted(runner.render_seconds)[-5:])
    assert runner.pulls > 0.95 * 10 * 16000 / BLOCK
    # 2 of the flood's 14 kinds are ~64 KiB datagrams (~90 MB/s): while the server steps aside
    # for renders on a loaded machine, its 8 MiB socket buffer (~90 ms) can overflow in the
    # kernel (93.4 % handled with a training run and the test suite on the same 2 cores)
    assert counts.datagrams >= 0.9 * client["sent"], (counts, client)
    bad_share = (client["kinds"] - 1) / client["kinds"]
    assert counts.bad >= 0.99 * bad_share * counts.datagrams
    assert counts.error_replies + counts.suppressed_replies == counts.bad
    assert 1000 <= counts.error_replies <= 100 * 10.5 + 100  # 100 per second (+ the first burst)
    assert client["errors"] >= 0.98 * counts.error_replies
    assert engine.applied and engine.applied[-1].address == "/drywet"


def test_the_worker_renders_on_one_thread_and_the_null_clock_misses_nothing(stream_space) -> None:
    engine = Engine(stream_space, BLOCK)
    null = NullBackend(Runner(engine), keep=True)
    null.run(1.0)
    assert null.runner.worker_threads == 1
    assert null.runner.missed == 0 and len(null.kept) >= 25


def test_servers_bind_this_machine_unless_told(stream_space, stream_run, capsys) -> None:
    server = OscServer(Engine(stream_space, BLOCK), port=0)
    try:
        assert server.host == "127.0.0.1"
    finally:
        server.stop()
    assert main(["serve", "--osc-help"]) == 0
    assert "/feedback/freq hz:f" in capsys.readouterr().out
    code = main(["serve", str(stream_run[0] / "bundle"), "--block", "512"])
    error = capsys.readouterr().err
    if code == 0:
        pytest.skip("this machine has an audio device")
    assert code == 1 and "audio device" in error and "--backend file or null" in error


def test_the_file_backend_through_the_cli_with_timed_commands(
    stream_run, melody, tmp_path: Path, capsys
) -> None:
    cues = tmp_path / "cues.txt"
    cues.write_text("# seconds address args\n0.5 /bias -1 2.0\n1.0 /drywet 0.5\n")
    out = tmp_path / "out.wav"
    args = ["serve", str(stream_run[0] / "bundle"), "--backend", "file", "-i", str(melody),
            "-o", str(out), "--seconds", "1.5", "--commands", str(cues), "--no-osc"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "real time" in printed and out.stat().st_size > 1000
    chosen = re.search(
        r"playing the (\w+) graphs: ([0-9.]+) ms per 512-sample block \((\w+)", printed
    )
    assert chosen and {chosen[1], chosen[3]} == {"onnxruntime", "torchscript"}, printed
    assert float(chosen[2]) < 11.6  # the block's deadline
    cues.write_text("0.5 /bias 99 2.0\n")
    assert main([*args, "--runtime", "python"]) == 1
    assert "cues.txt:1: /bias: dim 99 is outside" in capsys.readouterr().err


def test_the_server_answers_info_ping_and_errors_to_the_sender(stream_space) -> None:
    from pythonosc.osc_message import OscMessage

    engine = Engine(stream_space, BLOCK)
    server = OscServer(engine, port=0)
    server.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(2.0)
    try:

        def ask(address: str, *args) -> list[OscMessage]:
            client.sendto(build_message(address, list(args)), (server.host, server.port))
            replies = [OscMessage(client.recv(65536))]
            client.settimeout(0.3)
            try:
                while True:
                    replies.append(OscMessage(client.recv(65536)))
            except TimeoutError:
                pass
            client.settimeout(2.0)
            return replies

        assert [m.address for m in ask("/ping")] == ["/pong"]
        info = {m.address: m.params for m in ask("/info")}
        label, rate, channels, dim, hop = info["/info/model"]
        assert (rate, dim, hop) == (
            stream_space.sample_rate,
            engine.dim,
            stream_space.model.hop_length,
        )
        assert info["/info/engine"][:2] == [BLOCK, engine.delay_samples]
        assert "input" in info["/info/capabilities"]
        [error] = ask("/bias", 99, 1.0)
        assert error.address == "/error" and error.params[0] == "/bias"
        assert "dim 99 is outside" in error.params[1]
        [error] = ask("/control", "nope", 1.0)
        assert "no control 'nope'; controls:" in error.params[1]
        client.sendto(b"\x00garbage", (server.host, server.port))
        assert OscMessage(client.recv(65536)).params[1].startswith("malformed OSC packet")
    finally:
        server.stop()
        client.close()
    assert server.counts.bad == 3


def test_the_plane_mixes_four_sounds_of_a_stream_model(stream_space) -> None:
    engine = Engine(stream_space, BLOCK)
    send(engine, 0, "/source", "mix")
    send(engine, 0, "/plane", 1.0, 0.0)  # corner B only, after the glide
    engine.params.plane_x.seconds = 0.0
    out = np.concatenate([engine.render_block() for _ in range(40)], axis=-1)
    alone = Engine(stream_space, BLOCK, corners=[engine.loops[1].path] * 4)
    send(alone, 0, "/source", "mix")
    expected = np.concatenate([alone.render_block() for _ in range(40)], axis=-1)
    assert np.abs(out).max() > 0.01
    assert np.abs(out - expected).max() < 1e-5
