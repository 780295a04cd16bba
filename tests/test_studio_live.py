"""The studio's live link (`/api/live`): a fake engine (a UDP socket) receives the latent of
every render as OSC `/latent` (and `/trigger` on a one-shot model), exactly as rendered."""

from __future__ import annotations

import socket
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from pythonosc.osc_message import OscMessage

from timbrespace.space import LatentSpace
from timbrespace.studio.errors import StudioError
from timbrespace.studio.live import LiveLink, engine_latent, parse_engine
from timbrespace.studio.service import Studio

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2" (not installed here)
    from fastapi.testclient import TestClient

from timbrespace.studio.app import create_app

# --- pure helpers (no model) ---------------------------------------------------------------------


def test_parse_engine_takes_ip_literals_and_localhost_only() -> None:
    assert parse_engine("127.0.0.1:9000")[:2] == ("127.0.0.1:9000", ("127.0.0.1", 9000))
    assert parse_engine(" localhost:57120 ")[1] == ("127.0.0.1", 57120)
    assert parse_engine("[::1]:9000")[0] == "[::1]:9000"
    assert parse_engine("[::1]:9000")[2] == socket.AF_INET6
    assert parse_engine("192.168.1.20:9000")[1] == ("192.168.1.20", 9000)  # a local network
    for bad, message in [
        ("999.1.1.1:9000", "not an IP address"),
        ("evil.com:9000", "not an IP address"),
        ("host:0", "1…65535"),
        ("127.0.0.1:0", "1…65535"),
        ("127.0.0.1:65536", "1…65535"),
        ("127.0.0.1:x", "1…65535"),
        ("127.0.0.1", "not host:port"),
        ("9000", "not host:port"),
        (":9000", "not host:port"),
        ("::1:9000", "brackets"),
        ("0.0.0.0:9000", "one machine"),
        ("224.0.0.1:9000", "one machine"),
        ("8.8.8.8:9000", "public address"),
        ("[2001:4860::8888]:9000", "public address"),
    ]:
        with pytest.raises(StudioError, match=message):
            parse_engine(bad)


def test_engine_latent_is_dimension_major_and_thinned_to_fit() -> None:
    z = torch.arange(2 * 3, dtype=torch.float32).reshape(1, 2, 3)
    assert engine_latent(z) == (3, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    long = torch.randn(1, 16, 1000)
    frames, values = engine_latent(long)
    assert frames == 4096 // 16 and len(values) == frames * 16 <= 4096
    kept = np.asarray(values, dtype=np.float32).reshape(16, frames)
    assert np.array_equal(kept[:, 0], long[0, :, 0].numpy())
    assert np.array_equal(kept[:, -1], long[0, :, -1].numpy())


def test_a_link_that_is_off_or_cannot_send_never_raises() -> None:
    link = LiveLink()
    link.push(torch.zeros(1, 4, 1), one_shot=True)
    assert link.status() == {
        "on": False,
        "engine": "127.0.0.1:9000",
        "sent": 0,
        "last_error": None,
    }
    link.configure("255.255.255.255:9000", on=True)  # broadcast without SO_BROADCAST: EACCES
    link.push(torch.zeros(1, 4, 1), one_shot=True)
    status = link.status()
    assert status["sent"] == 0 and status["last_error"].startswith("sending to 255.255.255.255")
    link.close()


# --- over HTTP, on the tiny trained model --------------------------------------------------------


@pytest.fixture(scope="module")
def studio(analysed_run: Path) -> Studio:
    return Studio(LatentSpace.open(analysed_run / "bundle"))


@pytest.fixture(scope="module")
def client(studio: Studio) -> TestClient:
    return TestClient(create_app(studio), base_url="http://127.0.0.1")


@pytest.fixture()
def engine() -> Iterator[socket.socket]:
    """A fake engine: a UDP socket on 127.0.0.1 and a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    yield sock
    sock.close()


def received(sock: socket.socket) -> OscMessage:
    data, _ = sock.recvfrom(65536)
    assert len(data) <= 24 * 1024, "the engine refuses datagrams over 24 KiB"
    return OscMessage(data)


def slider(client: TestClient) -> tuple[str, float, float]:
    """A control with a range, and two values inside it."""
    for control in client.get("/api/info").json()["controls"]:
        if control["low"] is not None and control["high"] is not None:
            low, high = control["low"], control["high"]
            return control["name"], low + 0.3 * (high - low), low + 0.7 * (high - low)
    raise AssertionError("no control with a range")


def test_a_slider_move_reaches_the_engine_as_rendered(
    client: TestClient, studio: Studio, engine: socket.socket
) -> None:
    assert not studio.space.path_latent, "the fixture model is a one-shot"
    port = engine.getsockname()[1]
    assert client.get("/api/live").json()["on"] is False
    answer = client.post("/api/live", json={"engine": f"127.0.0.1:{port}", "on": True})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "on": True,
        "engine": f"127.0.0.1:{port}",
        "sent": 0,
        "last_error": None,
    }
    name, first, second = slider(client)
    for value in (first, second, first):  # the third is a stored state: it is sent again
        moved = client.post("/api/render", json={"start": {"index": 0}, "set": {name: value}})
        assert moved.status_code == 200, moved.text
        z = np.asarray(client.get(f"/api/states/{moved.headers['x-state']}").json()["z"])
        dim, frames = z.shape
        latent = received(engine)
        assert latent.address == "/latent"
        assert len(latent.params) == 1 + frames * dim
        assert latent.params[0] == frames
        sent = np.asarray(latent.params[1:], dtype=np.float32)
        assert np.array_equal(sent, z.astype(np.float32).flatten())
        trigger = received(engine)
        assert trigger.address == "/trigger" and trigger.params == [100.0]
    status = client.get("/api/live").json()
    assert status["on"] and status["sent"] == 3 and status["last_error"] is None

    off = client.post("/api/live", json={"on": False})
    assert off.status_code == 200 and off.json()["on"] is False
    assert off.json()["engine"] == f"127.0.0.1:{port}", "turning off keeps the address"
    assert client.post("/api/render", json={"start": {"index": 1}, "set": {name: second}})
    engine.settimeout(0.3)
    with pytest.raises(TimeoutError):
        engine.recvfrom(65536)
    assert client.get("/api/live").json()["sent"] == 3


def test_a_bad_engine_address_is_refused_and_changes_nothing(client: TestClient) -> None:
    before = client.get("/api/live").json()
    for engine in ("999.1.1.1:9000", "host:0", "evil.com:9000", "127.0.0.1:70000", ""):
        answer = client.post("/api/live", json={"engine": engine, "on": True})
        assert answer.status_code in (400, 422), (engine, answer.text)
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and detail.startswith("engine")
    for body in ({"engine": "127.0.0.1:9000"}, {"on": 1}, {"on": True, "port": 9000}):
        assert client.post("/api/live", json=body).status_code == 422, body
    assert client.get("/api/live").json() == before
    assert client.put("/api/live", json={"on": True}).status_code == 405
