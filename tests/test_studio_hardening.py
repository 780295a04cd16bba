"""The studio's hardening (issue 13): no cross-site write whatever FastAPI's version, no 500 for
what a user can fix, no WAV of NaN, an OpenAPI document that matches, IPv6 loopback, and no
request body held open forever. The guard is tested on a bare ASGI app too, so the guarantee
does not rest on FastAPI's own content-type check."""

from __future__ import annotations

import errno
import http.client
import json
import os
import shutil
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import Message, Receive, Scope, Send

from timbrespace.errors import TimbrespaceError
from timbrespace.space import LatentSpace
from timbrespace.studio import export as export_module
from timbrespace.studio.app import create_app, is_loopback, run, studio_url
from timbrespace.studio.export import NAME_BYTES
from timbrespace.studio.guards import MAX_BODY, StudioGuard, split_host
from timbrespace.studio.service import Studio, dataset_root_of_cache

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2" (not installed here)
    from fastapi.testclient import TestClient

slow = pytest.mark.slow
EVIL = "http://evil.com"
JSON = {"content-type": "application/json"}


# --- the guard on a bare ASGI app (no FastAPI) -----------------------------------------------


class Recorder:
    """A bare ASGI app: records each request's method and body, answers 200 `ok`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message: Message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.calls.append((scope["method"], body))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def test_the_guard_refuses_foreign_origins_and_non_json_bodies_on_a_bare_app() -> None:
    app = Recorder()
    client = TestClient(StudioGuard(app), base_url="http://127.0.0.1:8765")
    payload = b'{"state": "0", "name": "x.wav", "overwrite": true}'
    refused = [
        (403, {"origin": EVIL, **JSON}, "Origin 'http://evil.com'"),
        (403, {"origin": "null", **JSON}, "Origin 'null'"),
        (403, {"origin": "http://127.0.0.1:9999", **JSON}, "not this studio (127.0.0.1:8765)"),
        (403, {"origin": "http://localhost:8765", **JSON}, "not this studio"),
        (403, {"referer": f"{EVIL}/page.html", **JSON}, "Referer"),
        (403, {"sec-fetch-site": "cross-site", **JSON}, "Sec-Fetch-Site"),
        (403, {"origin": EVIL}, "Origin"),  # a browser's no-preflight POST: no type at all
        (403, {"origin": EVIL, "content-type": "text/plain"}, "Origin"),
        (415, {}, "no Content-Type"),
        (415, {"content-type": "text/plain"}, "'text/plain'"),
        (415, {"content-type": "application/x-www-form-urlencoded"}, "form"),
        (415, {"content-type": "multipart/form-data; boundary=x"}, "multipart"),
        (415, {"origin": "http://127.0.0.1:8765", "content-type": "text/plain"}, "text/plain"),
    ]
    for status, headers, message in refused:
        for method in ("POST", "PUT", "DELETE"):
            answer = client.request(method, "/api/export", content=payload, headers=headers)
            assert answer.status_code == status, (method, headers, answer.text)
            assert message in answer.json()["detail"] and answer.headers["connection"] == "close"
    assert app.calls == []
    same_origin = [
        JSON,
        {"content-type": "application/json; charset=utf-8"},
        {"origin": "http://127.0.0.1:8765", **JSON},
        {"referer": "http://127.0.0.1:8765/index.html", **JSON},
        {"sec-fetch-site": "same-origin", "origin": "http://127.0.0.1:8765", **JSON},
    ]
    for headers in same_origin:
        assert client.post("/api/export", content=payload, headers=headers).status_code == 200
    assert app.calls == [("POST", payload)] * len(same_origin)  # the body reaches the app whole
    # reads pass from anywhere (a page can't read the answer without CORS); hosts are checked
    assert client.get("/api/info", headers={"origin": EVIL}).status_code == 200
    foreign = TestClient(StudioGuard(app), base_url="http://attacker.example:8765")
    assert foreign.get("/api/info").status_code == 400
    assert foreign.post("/api/x", json={}).json()["detail"].startswith("host 'attacker.example")
    ipv6 = TestClient(StudioGuard(app), base_url="http://[::1]:8765")
    assert ipv6.post("/x", json={}, headers={"origin": "http://[::1]:8765"}).status_code == 200
    assert ipv6.post("/x", json={}, headers={"origin": EVIL}).status_code == 403
    too_big = client.post("/x", content=b"x" * (MAX_BODY + 1), headers=JSON)
    assert too_big.status_code == 413
    chunks = iter([b"[", b"0," * MAX_BODY, b"0]"])  # no Content-Length: counted while read
    assert client.post("/x", content=chunks, headers=JSON).status_code == 413
    calls = len(app.calls)
    assert client.post("/x").status_code == 200  # no body: nothing to refuse; the app decides
    assert app.calls[calls:] == [("POST", b"")]


def test_hosts_and_urls_handle_ipv6_literals() -> None:
    assert split_host("[::1]:8765") == ("::1", 8765)
    assert split_host("127.0.0.1") == ("127.0.0.1", 80)
    assert split_host("LocalHost:1") == ("localhost", 1)
    assert split_host("a:b") is None and split_host("a/b") is None and split_host("u@h") is None
    assert studio_url("::1", 8765) == "http://[::1]:8765/"
    assert studio_url("[::1]", 8765) == "http://[::1]:8765/"
    assert studio_url("0.0.0.0", 80) == "http://127.0.0.1:80/"
    assert studio_url("localhost", 9) == "http://localhost:9/"
    assert all(is_loopback(h) for h in ("::1", "[::1]", "127.0.0.2", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.2", "example.com"))


class Note(BaseModel):
    text: str


def test_the_guard_holds_where_fastapi_would_take_a_text_plain_body() -> None:
    """FastAPI before 0.132 parsed a body sent without a Content-Type as JSON (what a page on
    any site can POST with a typeless Blob, no preflight); `strict_content_type=False` makes
    today's FastAPI do the same. Unguarded, that cross-site POST reaches the handler; guarded,
    it is refused, as is `text/plain`."""
    written: list[str] = []

    def build() -> FastAPI:
        app = FastAPI(strict_content_type=False)

        @app.post("/write")
        def write(note: Note) -> dict[str, bool]:
            written.append(note.text)
            return {"ok": True}

        return app

    body = json.dumps({"text": "pwned"})
    attack = {"origin": EVIL}
    bare = TestClient(build(), base_url="http://127.0.0.1")
    assert bare.post("/write", content=body, headers=attack).status_code == 200
    assert written == ["pwned"]  # the hole the guard closes
    guarded = TestClient(StudioGuard(build()), base_url="http://127.0.0.1")
    assert guarded.post("/write", content=body, headers=attack).status_code == 403
    text = {**attack, "content-type": "text/plain"}
    assert guarded.post("/write", content=body, headers=text).status_code == 403
    plain = guarded.post("/write", content=body, headers={"content-type": "text/plain"})
    assert plain.status_code == 415
    assert guarded.post("/write", content=body).status_code == 415
    assert written == ["pwned"]
    assert guarded.post("/write", content=body, headers=JSON).status_code == 200


# --- the real studio -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def space(analysed_run: Path) -> LatentSpace:
    return LatentSpace.open(analysed_run / "bundle")


@pytest.fixture(scope="module")
def dataset(space: LatentSpace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the analysed sounds at their relative paths."""
    source = dataset_root_of_cache(space.bundle.training["cache"]["path"])
    assert source is not None
    root = tmp_path_factory.mktemp("hardening") / "dataset"
    for sound in space.analysis.sounds:
        (root / sound).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile((source / sound).resolve(), root / sound)
    return root


@pytest.fixture(scope="module")
def studio(space: LatentSpace, dataset: Path) -> Studio:
    return Studio(space, dataset)


@pytest.fixture(scope="module")
def client(studio: Studio) -> TestClient:
    return TestClient(create_app(studio), base_url="http://127.0.0.1")


def rendered(client: TestClient, body: dict, path: str = "/api/render") -> str:
    answer = client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    return answer.headers["x-state"]


@slow
def test_a_cross_origin_export_never_overwrites_a_sample(client: TestClient, dataset: Path) -> None:
    sound = sorted(p for p in dataset.rglob("*.wav"))[0]
    original = sound.read_bytes()
    folder, name = sound.parent.relative_to(dataset).as_posix(), sound.name
    state = rendered(client, {"start": {"index": 1}, "gain_db": -6.0})
    body = json.dumps({"state": state, "folder": folder, "name": name, "overwrite": True})
    for headers, status in [
        ({"origin": EVIL}, 403),  # what a page on evil.com sends without a preflight
        ({"origin": EVIL, "content-type": "text/plain"}, 403),
        ({"referer": f"{EVIL}/x"}, 403),
        ({"origin": EVIL, **JSON}, 403),  # (a browser preflights this one; refused anyway)
        ({}, 415),  # curl without a type
        ({"content-type": "text/plain"}, 415),
    ]:
        answer = client.post("/api/export", content=body, headers=headers)
        assert answer.status_code == status, (headers, answer.text)
        assert sound.read_bytes() == original
    same = client.post("/api/export", content=body, headers={"origin": "http://127.0.0.1", **JSON})
    assert same.status_code == 200 and same.json() == {"path": f"{folder}/{name}"}
    assert sound.read_bytes() == client.get(f"/api/states/{state}/wav").content
    assert client.post("/api/export", json={"state": state}).status_code == 422


@slow
def test_state_ids_are_keyed_by_a_per_server_secret(space: LatentSpace, studio: Studio) -> None:
    request = ({"index": 2}, {"pca1": 0.25})
    first = studio.render(*request)
    assert studio.render(*request).id == first.id and len(first.id) == 32
    other = Studio(space, None)
    assert other.render(*request).id != first.id and other.secret != studio.secret
    assert Studio(space, None, secret=studio.secret).render(*request).id == first.id


@slow
def test_export_failures_are_4xx_naming_the_field(
    client: TestClient, dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = rendered(client, {"start": {"index": 3}})
    file = sorted(p for p in dataset.rglob("*.wav"))[0].relative_to(dataset).as_posix()

    def export(folder: str = "hardening", name: str = "x.wav"):  # noqa: ANN202
        return client.post("/api/export", json={"state": state, "folder": folder, "name": name})

    for folder, name, status, message in [
        (f"{file}/sub", "x.wav", 409, "is below the file"),
        (file, "x.wav", 409, "is a file"),
        ("hardening", "é" * 121 + ".wav", 400, f"at most {NAME_BYTES}"),
        ("hardening", "line\nbreak.wav", 400, "control characters"),
        ("hardening", "tab\t.wav", 400, "control characters"),
        ("new\nline", "x.wav", 400, "folder"),
        ("a" * 256, "x.wav", 400, "folder: a part of 256 bytes"),
    ]:
        answer = export(folder, name)
        assert answer.status_code == status, (folder, name, answer.text)
        assert message in answer.json()["detail"], answer.json()
    longest = "a" * (NAME_BYTES - 4) + ".wav"  # its temporary sibling still fits in 255 bytes
    assert export("hardening", longest).status_code == 200
    assert (dataset / "hardening" / longest).is_file()
    for code, status, message in [
        (errno.EROFS, 403, "read-only"),
        (errno.EACCES, 403, "read-only"),
        (errno.ENOSPC, 507, "free some space"),
        (errno.ENAMETOOLONG, 400, "name"),
    ]:

        def failing(path, *, code=code, **_):  # noqa: ANN001, ANN202
            raise OSError(code, os.strerror(code), str(path))

        monkeypatch.setattr(export_module, "atomic_path", failing)
        answer = export("hardening", "y.wav")
        assert answer.status_code == status and message in answer.json()["detail"], answer.text
    monkeypatch.undo()
    assert not (dataset / "hardening" / "y.wav").exists()


@slow
def test_a_read_only_dataset_folder_is_a_403(space: LatentSpace, tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders (the injected EROFS case covers it)")
    root = tmp_path / "ro"
    root.mkdir()
    studio = Studio(space, root)
    client = TestClient(create_app(studio), base_url="http://127.0.0.1")
    state = rendered(client, {"start": {"index": 0}})
    root.chmod(0o555)
    try:
        body = {"state": state, "folder": "new", "name": "x.wav"}
        answer = client.post("/api/export", json=body)
        assert answer.status_code == 403 and "read-only" in answer.json()["detail"]
    finally:
        root.chmod(0o755)


@slow
def test_an_analysis_with_fewer_latents_than_sounds_is_refused(space: LatentSpace) -> None:
    short = replace(space.analysis, latents=space.analysis.latents[:3])
    with pytest.raises(TimbrespaceError, match=r"3 latents for \d+ sounds.*re-run `timbrespace"):
        Studio(LatentSpace(space.bundle, short), None)


@slow
def test_non_finite_latents_are_422_naming_the_operator_never_a_dc_wav(
    client: TestClient, studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = len(studio.states)
    for ops in [
        ["reverse", "scale=1e308"],
        ["reverse", "bias=1e308"],
        ["reverse", "noise=1e308"],
        ["reverse", *["scale=100"] * 25],  # each op in range; together past float32
    ]:
        answer = client.post("/api/path", json={"start": {"index": 0}, "ops": ops})
        assert answer.status_code == 422, (ops, answer.status_code, answer.content[:80])
        detail = answer.json()["detail"]
        blamed = 20 if len(ops) > 3 else 1  # 100**20 = 1e40 > float32's 3.4e38
        assert detail.startswith(f"ops[{blamed}]") and ops[1].split("=")[0] in detail, detail
    # the studio's own check, whatever the library lets through: an infinite latent …
    space = studio.space
    monkeypatch.setattr(space, "edit", lambda z, ops, seed=0: z * float("inf"))
    answer = client.post("/api/path", json={"start": {"index": 0}, "ops": ["scale=2"]})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("ops[0] 'scale=2': the latent is not finite")
    monkeypatch.undo()
    # … or a decoder that renders NaN from a finite latent: refused, never encoded as DC
    monkeypatch.setattr(space, "render", lambda z, **_: np.full((1, 1, 64), np.nan, np.float32))
    answer = client.post("/api/path", json={"start": {"index": 0}, "ops": ["scale=1.5"]})
    assert answer.status_code == 422 and "ops: the rendered audio is not finite" in answer.text
    monkeypatch.undo()
    assert len(studio.states) == before
    for op in ["scale=3", "bias=0.5", "noise=0.5"]:
        state = studio.path({"index": 0}, [op], seed=1)
        assert np.isfinite(state.audio).all() and np.ptp(state.audio) > 0


@slow
def test_the_openapi_document_describes_wav_and_error_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/render", "/api/interpolate", "/api/plane", "/api/path"):
        responses = paths[path]["post"]["responses"]
        assert list(responses["200"]["content"]) == ["audio/wav"], path
        assert "X-State" in responses["200"]["headers"]
        for code in ("400", "403", "404", "408", "413", "415", "422"):
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema["properties"] == {"detail": {"type": "string"}}, (path, code)
    assert list(paths["/api/states/{state_id}/wav"]["get"]["responses"]["200"]["content"]) == [
        "audio/wav"
    ]
    assert {"409", "507"} <= set(paths["/api/export"]["post"]["responses"])
    assert not any(path.startswith("/api/{rest") for path in paths)
    wrong = client.put("/api/render", json={})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert client.get("/api/render").status_code == 405
    assert client.get("/api/nothing").status_code == 404


# --- a real server: IPv6 loopback and half-sent bodies ---------------------------------------


@contextmanager
def serving(app: FastAPI, host: str) -> Iterator[int]:
    """uvicorn in a thread on `host` and a free port; yields the port."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@slow
def test_a_half_sent_body_gets_408_and_others_are_served(studio: Studio) -> None:
    app = create_app(studio, body_timeout=1.0)
    with serving(app, "127.0.0.1") as port:
        body = json.dumps({"start": {"index": 0}}).encode()
        half = socket.create_connection(("127.0.0.1", port), timeout=10)
        half.sendall(
            b"POST /api/render HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[: len(body) // 2]
        )
        started = time.monotonic()
        other = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        other.request("POST", "/api/render", body=body, headers=JSON)
        answer = other.getresponse()
        assert answer.status == 200 and answer.read()[:4] == b"RIFF"
        assert time.monotonic() - started < 1.0  # served while the other body hangs
        reply = b""
        while chunk := half.recv(4096):
            reply += chunk
        waited = time.monotonic() - started
        half.close()
        assert reply.startswith(b"HTTP/1.1 408") and b"not received within 1 s" in reply
        assert 0.9 < waited < 4.0  # and the server closed the connection (recv gave b"")
        other.request("GET", "/api/info")
        assert other.getresponse().status == 200


@slow
def test_the_studio_serves_ipv6_loopback(
    studio: Studio,
    analysed_run: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    with serving(create_app(studio), "::1") as port:
        connection = http.client.HTTPConnection("::1", port, timeout=10)
        connection.request("GET", "/api/info")  # Host: [::1]:port
        assert connection.getresponse().status == 200
        connection.close()
        connection = http.client.HTTPConnection("::1", port, timeout=10)
        body = json.dumps({"start": {"index": 0}})
        headers = {"origin": f"http://[::1]:{port}", **JSON}
        connection.request("POST", "/api/render", body=body, headers=headers)
        assert connection.getresponse().status == 200
    import uvicorn

    served: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.update(kwargs, app=app))
    with socket.socket(socket.AF_INET6) as probe:
        probe.bind(("::1", 0))
        free = probe.getsockname()[1]
    run(analysed_run / "bundle", host="::1", port=free, open_browser=False)
    assert f"studio: http://[::1]:{free}/" in capsys.readouterr().out
    assert served["host"] == "::1" and served["timeout_keep_alive"] > 0
    ipv6 = TestClient(served["app"], base_url=f"http://[::1]:{free}")
    assert ipv6.get("/api/info").status_code == 200
