"""The thread policy: known answers, the override, per-thread application, the load monitor."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
import torch

from timbrespace import runtime
from timbrespace.errors import TimbrespaceError


@pytest.mark.parametrize(
    ("cores", "others", "expected"),
    [(2, 0.0, 2), (2, 0.5, 1), (2, 0.8, 1), (2, 1.0, 1), (2, 2.0, 1), (8, 3.0, 5), (8, 2.75, 5)],
)
def test_free_cores_known_answers(cores: int, others: float, expected: int) -> None:
    assert runtime.free_cores(cores, others) == expected


def test_busy_ticks_of_a_proc_stat_line() -> None:
    # user nice system idle iowait irq softirq steal guest guest_nice
    assert (
        runtime.busy_of(["10", "1", "5", "1000", "7", "2", "3", "4", "9", "9"])
        == 10 + 1 + 5 + 2 + 3 + 4
    )


def test_renders_take_one_thread_and_an_override_pins_every_job(monkeypatch) -> None:
    monkeypatch.delenv(runtime.ENV_THREADS, raising=False)
    assert runtime.threads_for("render") == 1 and runtime.threads_for("realtime") == 1
    assert runtime.threads_for("batch", requested=3) == 3
    monkeypatch.setenv(runtime.ENV_THREADS, "2")
    assert [runtime.threads_for(job) for job in runtime.JOBS] == [2, 2, 2, 2]
    monkeypatch.setenv(runtime.ENV_THREADS, "many")
    with pytest.raises(TimbrespaceError, match="TIMBRESPACE_THREADS.*'many'"):
        runtime.threads_for("render")
    with pytest.raises(ValueError, match="job"):
        runtime.threads_for("lunch")  # type: ignore[arg-type]


def test_the_count_is_set_in_the_calling_thread_and_restored(monkeypatch) -> None:
    monkeypatch.setenv(runtime.ENV_THREADS, "2")
    main_before = torch.get_num_threads()
    seen: dict[str, int] = {}

    def worker() -> None:
        seen["start"] = torch.get_num_threads()
        with runtime.threads("render", requested=1):
            seen["inside"] = torch.get_num_threads()
        seen["after"] = torch.get_num_threads()

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["inside"] == 1 and seen["after"] == seen["start"]
    assert torch.get_num_threads() == main_before


def test_the_monitor_sees_a_busy_process_and_batch_jobs_give_way(monkeypatch) -> None:
    monkeypatch.delenv(runtime.ENV_THREADS, raising=False)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        monitor = runtime.LoadMonitor(sample_seconds=0.1)
        time.sleep(0.3)
        monitor.others_busy()
        time.sleep(1.2)
        assert monitor.others_busy() >= 0.7
        monkeypatch.setattr(runtime, "_MONITOR", monitor)
        monkeypatch.setattr(runtime, "usable_cores", lambda: 2)
        assert runtime.threads_for("batch") == 1
    finally:
        busy.kill()
        busy.wait()


def test_the_studio_renders_with_the_policys_thread_count_in_its_request_threads(
    analysed_run, monkeypatch
) -> None:
    from fastapi.testclient import TestClient

    from timbrespace.studio.app import create_app
    from timbrespace.studio.service import Studio

    monkeypatch.delenv(runtime.ENV_THREADS, raising=False)
    studio = Studio.open(analysed_run)
    seen: list[tuple[str, int]] = []
    decode = studio.space.model.decode

    def recording_decode(*args, **kwargs):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return decode(*args, **kwargs)

    monkeypatch.setattr(studio.space.model, "decode", recording_decode)
    torch.set_num_threads(2)
    client = TestClient(create_app(studio), base_url="http://127.0.0.1")
    name = next(iter(studio.space.controls))
    answer = client.post("/api/render", json={"start": {"index": 0}, "set": {name: 0.1}})
    assert answer.status_code == 200, answer.text
    assert seen and all(count == 1 for _, count in seen)
    assert all(thread != threading.main_thread().name for thread, _ in seen)


def test_a_verbs_threads_option_pins_every_job_and_its_job_sets_the_count(monkeypatch) -> None:
    from timbrespace.cli import build_parser, use_job_threads

    monkeypatch.delenv(runtime.ENV_THREADS, raising=False)
    parser = build_parser()
    args = parser.parse_args(["generate", "random", "B", "-o", "out", "--threads", "2"])
    assert (args.job, args.threads) == ("render", 2)
    torch.set_num_threads(1)
    use_job_threads(args)
    assert torch.get_num_threads() == 2
    assert runtime.threads_for("batch") == 2 == runtime.threads_for("realtime")

    monkeypatch.delenv(runtime.ENV_THREADS)
    torch.set_num_threads(2)
    use_job_threads(parser.parse_args(["nearest", "B", "--random"]))
    assert torch.get_num_threads() == 1
    assert parser.parse_args(["train", "--data", "c", "--out", "r"]).job == "train"
    assert parser.parse_args(["info", "c"]).job is None
    with pytest.raises(SystemExit):
        parser.parse_args(["studio", "B", "--threads", "0"])


def test_a_bad_thread_variable_is_one_clear_error(monkeypatch, capsys) -> None:
    from timbrespace.cli import main

    monkeypatch.setenv(runtime.ENV_THREADS, "two")
    assert main(["nearest", "/nonexistent", "--random"]) == 1
    assert "TIMBRESPACE_THREADS" in capsys.readouterr().err
