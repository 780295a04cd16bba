"""The studio backend over HTTP (FastAPI TestClient) on a tiny model trained on real drums: real
numbers in the rendered WAVs, and the security rules (paths, sizes, ranges, hosts)."""

from __future__ import annotations

import inspect
import io
import json
import shutil
import socket
import threading
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from timbrespace.cli import build_parser
from timbrespace.data.cache import SoundCache
from timbrespace.space import LatentSpace
from timbrespace.studio.service import (
    Forbidden,
    State,
    StateStore,
    Studio,
    apply_gain,
    dataset_root_of_cache,
    inside_root,
    pack_tree,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2" (not installed here)
    from fastapi.testclient import TestClient

from timbrespace.errors import TimbrespaceError
from timbrespace.studio.app import MAX_BODY, check_port, create_app, run

LSB = 1.0 / 32768.0
slow = pytest.mark.slow


@pytest.fixture(scope="module")
def space(analysed_run: Path) -> LatentSpace:
    return LatentSpace.open(analysed_run / "bundle")


@pytest.fixture(scope="module")
def dataset(space: LatentSpace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real copy of the analysed sounds (the training data links kits from /usr/share; the
    studio refuses symlinks leaving its root), at the same relative paths."""
    source = dataset_root_of_cache(space.bundle.training["cache"]["path"])
    assert source is not None, "prepare must record the dataset folder in the cache manifest"
    root = tmp_path_factory.mktemp("studio") / "dataset"
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


def read_wav(content: bytes) -> tuple[np.ndarray, int]:
    audio, rate = sf.read(io.BytesIO(content), dtype="float64", always_2d=True)
    return audio.T, rate


def render(client: TestClient, body: dict, path: str = "/api/render"):
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    return response


def pitched_sound(space: LatentSpace) -> int:
    """A dataset sound with a measured f0 and a peak well below full scale."""
    f0 = space.analysis.descriptor("f0")
    for index in np.argsort(-np.nan_to_num(f0, nan=-1.0)):
        peak = np.abs(space.render(space.sound_latent(int(index)))).max()
        if 0.05 < peak < 0.8:
            return int(index)
    raise AssertionError("no pitched sound with headroom")


# --- pure helpers (no model) ---------------------------------------------------------------------


def test_inside_root_refuses_traversal_absolute_and_symlinks_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "kicks").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "inner").symlink_to(root / "kicks", target_is_directory=True)
    assert inside_root(root, "kicks/new/a.wav") == (root / "kicks/new/a.wav").resolve()
    assert inside_root(root, "") == root.resolve()
    assert inside_root(root, "inner/a.wav") == (root / "kicks/a.wav").resolve()
    for bad, message in [
        ("../x.wav", r"'\.\.' is refused"),
        ("kicks/../../x.wav", r"'\.\.' is refused"),
        ("/etc/passwd", "absolute paths are refused"),
        (str(outside), "absolute paths are refused"),
        ("escape/a.wav", "resolves outside the root"),
        ("kicks\\..\\..\\x.wav", "backslashes"),
    ]:
        with pytest.raises(Forbidden, match=message):
            inside_root(root, bad)


def test_gain_pack_tree_and_state_lru() -> None:
    audio = np.array([[0.5, -0.25, 0.1]], dtype=np.float32)
    assert np.abs(apply_gain(audio, -6.0)).max() == pytest.approx(0.5 * 10 ** (-6 / 20))
    assert np.abs(apply_gain(audio, 0.0, normalize=True)).max() == pytest.approx(10 ** (-1 / 20))
    assert np.abs(apply_gain(audio, 12.0)).max() == 1.0, "clipped to full scale"
    assert not apply_gain(np.zeros((1, 4)), 0.0, normalize=True).any()
    tree = pack_tree(["b/x/2.wav", "a/1.wav", "b/x/0.wav", "top.wav"])
    assert [child["name"] for child in tree["children"]] == ["a", "b"]
    assert tree["children"][1]["children"][0]["path"] == "b/x"
    assert tree["children"][1]["children"][0]["sounds"] == [
        {"index": 2, "name": "0.wav"},
        {"index": 0, "name": "2.wav"},
    ]
    assert tree["sounds"] == [{"index": 3, "name": "top.wav"}]
    chunks = pack_tree(["m/a.wav", "m/a.wav", "m/b.wav"], offsets=[0.0, 10.5, 0.0])
    assert [item["name"] for item in chunks["children"][0]["sounds"]] == [
        "a.wav @ 0.00 s",
        "a.wav @ 10.50 s",
        "b.wav",
    ]
    store = StateStore(capacity=2)
    states = [State(str(i), torch.zeros(1, 2, 1), np.zeros((1, 2)), b"", {}) for i in range(3)]
    store.put(states[0])
    store.put(states[1])
    assert store.get("0") is states[0]  # now the most recent
    store.put(states[2])
    assert store.get("1") is None and store.get("0") is states[0] and len(store) == 2


def test_servers_bind_loopback_by_default() -> None:
    args = build_parser().parse_args(["studio", "some/bundle"])
    assert args.host == "127.0.0.1" and args.port == 8765 and args.browser is True
    assert inspect.signature(run).parameters["host"].default == "127.0.0.1"
    demo = build_parser().parse_args(["demo"])
    assert (
        demo.studio is None and build_parser().parse_args(["demo", "--no-studio"]).studio is False
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(TimbrespaceError, match=f"127.0.0.1:{port}.*choose another --port"):
            check_port("127.0.0.1", port)


# --- views -----------------------------------------------------------------------------------------


@slow
def test_info_packs_and_map_describe_the_analysis(client: TestClient, space: LatentSpace) -> None:
    info = client.get("/api/info").json()
    sounds = len(space.analysis.sounds)
    assert info["family"] == "oneshot" and info["path_model"] is False
    assert info["sample_rate"] == 16000 and info["sounds"] == sounds and info["originals"]
    assert info["latent_dim"] == space.bundle.model.latent_dim and info["gla_iters"] is None
    controls = {c["name"]: c for c in info["controls"]}
    assert set(controls) == set(space.controls)
    assert controls["pitch"]["unit"] == "Hz" and controls["pitch"]["kind"] == "descriptor"
    assert 20 < controls["pitch"]["low"] < controls["pitch"]["high"] < 8000
    assert controls["pca1"]["kind"] == "pca" and controls["pack:Audiophob"]["kind"] == "pack"
    assert controls["pitch"]["descriptor"] == "f0" and controls["brightness"]["descriptor"] == (
        "centroid"
    )
    assert (
        controls["pca1"]["descriptor"] is None and controls["pack:Audiophob"]["descriptor"] is None
    )
    assert all(c["weak"] == space.controls[c["name"]].weak for c in info["controls"])
    assert controls["brightness"]["limits"][1] == info["sample_rate"] / 2  # Nyquist
    assert controls["pca1"]["limits"] is None
    tree = client.get("/api/packs").json()
    found: list[int] = []

    def walk(node: dict) -> None:
        found.extend(sound["index"] for sound in node["sounds"])
        for child in node["children"]:
            walk(child)

    walk(tree)
    assert sorted(found) == list(range(sounds))
    assert {child["name"] for child in tree["children"]} == set(space.analysis.packs)
    by_pack = client.get("/api/map", params={"color": "pack"}).json()
    scores = space.analysis.pca.transform(space.analysis.latents)
    assert np.allclose(by_pack["x"], scores[:, 0].numpy()) and len(by_pack["y"]) == sounds
    assert by_pack["color_kind"] == "category" and max(by_pack["color"]) < len(
        by_pack["categories"]
    )
    by_f0 = client.get("/api/map", params={"color": "f0"}).json()
    f0 = space.analysis.descriptor("f0")
    assert by_f0["unit"] == "Hz" and by_f0["color_kind"] == "value"
    assert [v is None for v in by_f0["color"]] == list(np.isnan(f0))
    bad = client.get("/api/map", params={"color": "nope"})
    assert (
        bad.status_code == 400 and "color" in bad.json()["detail"] and "f0" in bad.json()["detail"]
    )


# --- renders --------------------------------------------------------------------------------------


@slow
def test_render_sets_pitch_and_is_reproducible(client: TestClient, space: LatentSpace) -> None:
    index = pitched_sound(space)
    low, high = space.controls["pitch"].range
    target = space.controls["pitch"].to_user((low + 2 * high) / 3)
    body = {"start": {"index": index}, "set": {"pitch": target}}
    first, second = render(client, body), render(client, body)
    audio, rate = read_wav(first.content)
    assert first.headers["content-type"] == "audio/wav"
    assert rate == space.sample_rate and audio.shape == (1, space.bundle.model.hop_length)
    assert np.abs(audio).max() > 0.01
    requested = json.loads(first.headers["x-requested"])
    assert requested == {"pitch": pytest.approx(target, rel=1e-6)}
    assert isinstance(json.loads(first.headers["x-warnings"]), list)
    assert first.content == second.content and first.headers["x-state"] == second.headers["x-state"]
    other = render(client, {"start": {"index": index}, "set": {"pitch": target * 0.9}})
    assert other.content != first.content


def _same_measurements(state: dict, expected: dict[str, float]) -> None:
    """A state's `measured` equals what its WAV measures (16-bit rounding aside)."""
    assert set(state) == set(expected) and {"pitch", "brightness", "attack"} <= set(expected)
    for name, value in expected.items():
        if np.isnan(value):
            assert state[name] is None, name
        else:
            assert state[name] == pytest.approx(value, rel=0.02, abs=1e-4), name


@slow
def test_a_render_carries_what_its_wav_measures(client: TestClient, space: LatentSpace) -> None:
    """The number boxes show measurements of the sound itself: the state's `measured` is
    `measure_controls` of its WAV, its request is kept, and a pitch the closed loop did not
    bring within 15 cents has a warning line saying so in Hz."""
    index = pitched_sound(space)
    pitch = space.controls["pitch"]
    low, high = pitch.range
    target = pitch.to_user((2 * low + high) / 3)
    response = render(client, {"start": {"index": index}, "set": {"pitch": target}})
    audio, _ = read_wav(response.content)
    expected = space.measure_controls(audio)
    state = client.get(f"/api/states/{response.headers['x-state']}").json()
    _same_measurements(state["measured"], expected)
    assert json.loads(response.headers["x-measured"]) == state["measured"]
    assert state["requested"] == {"pitch": pytest.approx(target, rel=1e-6)}
    missed = [w for w in state["warnings"] if w.startswith("pitch: asked")]
    if np.isfinite(expected["pitch"]):  # else: no clear pitch in the render, reported as null
        cents = 1200 * abs(np.log2(expected["pitch"] / target))
        assert cents <= 15.5 or (missed and "Hz" in missed[0]), (cents, state["warnings"])
        # a latent readout is a prediction, not the measurement: the two are reported apart
        assert state["values"]["pitch"] != state["measured"]["pitch"]

    # a render without a move (a map point) is measured too; gain does not change the reading
    plain = render(client, {"start": {"map": [0.5, -0.5]}})
    quiet = render(client, {"start": {"map": [0.5, -0.5]}, "gain_db": -12.0})
    described = [client.get(f"/api/states/{r.headers['x-state']}").json() for r in (plain, quiet)]
    _same_measurements(described[0]["measured"], space.measure_controls(read_wav(plain.content)[0]))
    assert described[0]["requested"] == {} and described[1]["measured"] == described[0]["measured"]


@slow
def test_a_render_reuses_the_closed_loop_audio_and_passes_gla_iters(
    space: LatentSpace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The closed loop's final render is the state's audio (no second decode), and the
    request's Griffin-Lim iterations reach the move."""
    studio = Studio(space)
    seen: dict[str, object] = {}
    renders = {"in_move": 0, "after": 0}
    move, decode = space.move, space.render
    inside = [False]

    def counting_move(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        seen.update(kwargs)
        inside[0] = True
        try:
            seen["result"] = move(*args, **kwargs)
            return seen["result"]
        finally:
            inside[0] = False

    def counting_render(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        renders["in_move" if inside[0] else "after"] += 1
        return decode(*args, **kwargs)

    monkeypatch.setattr(space, "move", counting_move)
    monkeypatch.setattr(space, "render", counting_render)
    pitch = space.controls["pitch"]
    state = studio.render({"index": 2}, {"pitch": pitch.to_user(sum(pitch.range) / 2)}, gla_iters=7)
    assert seen["gla_iters"] == 7
    assert seen["result"].audio is not None and renders["in_move"] >= 1 and renders["after"] == 0
    assert np.array_equal(state.audio, np.clip(seen["result"].audio[0], -1, 1))
    assert state.measured == seen["result"].measured


@slow
def test_render_of_a_sound_is_its_decoded_latent(client: TestClient, space: LatentSpace) -> None:
    index = pitched_sound(space)
    response = render(client, {"start": {"index": index}})
    expected = space.render(space.sound_latent(index))[0]
    audio, _ = read_wav(response.content)
    assert np.abs(audio - expected).max() <= 2 * LSB
    state = client.get(f"/api/states/{response.headers['x-state']}").json()
    assert np.allclose(state["z"], space.sound_latent(index)[0].numpy(), atol=1e-7)
    assert state["nearest"][0]["index"] == index and state["nearest"][0]["distance"] < 1e-5
    download = client.get(f"/api/states/{response.headers['x-state']}/wav")
    assert download.content == response.content
    assert download.headers["content-disposition"].startswith("attachment")
    assert client.get("/api/states/0123abcd").status_code == 404


@slow
def test_gain_and_normalize_scale_the_peak(client: TestClient, space: LatentSpace) -> None:
    start = {"index": pitched_sound(space)}
    plain = read_wav(render(client, {"start": start}).content)[0]
    quieter = read_wav(render(client, {"start": start, "gain_db": -6.0}).content)[0]
    loud = read_wav(render(client, {"start": start, "normalize": True}).content)[0]
    assert np.abs(quieter).max() / np.abs(plain).max() == pytest.approx(10 ** (-6 / 20), rel=0.01)
    assert np.abs(loud).max() == pytest.approx(10 ** (-1 / 20), abs=2 * LSB), "-1 dBFS as the CLI"


@slow
def test_interpolate_plane_and_path_hit_their_ends(client: TestClient, space: LatentSpace) -> None:
    refs = [{"index": i} for i in (0, 5, 10, 15)]
    ends = [render(client, {"start": ref}).content for ref in refs]
    mix = "/api/interpolate"
    assert render(client, {"a": refs[0], "b": refs[1], "amount": 0.0}, mix).content == ends[0]
    assert render(client, {"a": refs[0], "b": refs[1], "amount": 1.0}, mix).content == ends[1]
    flat = render(client, {"a": refs[0], "b": refs[1], "curve": [[0, 0.3], [1, 0.3]]}, mix)
    assert flat.content == render(client, {"a": refs[0], "b": refs[1], "amount": 0.3}, mix).content
    beyond = render(client, {"a": refs[0], "b": refs[1], "amount": 1.5}, mix)
    assert "extrapolating" in beyond.headers["x-warnings"]
    sloped = client.post(mix, json={"a": refs[0], "b": refs[1], "curve": [[0, 0], [1, 1]]})
    assert sloped.status_code == 400 and "curve" in sloped.json()["detail"]
    assert "one-shot" in sloped.json()["detail"]
    corner = render(client, {"corners": refs, "xy": [1.0, 0.0]}, "/api/plane")
    assert corner.content == ends[1]
    assert render(client, {"corners": refs, "xy": [1, 1]}, "/api/plane").content == ends[3]
    trajectory = client.post("/api/plane", json={"corners": refs, "trajectory": [[0, 0, 0]]})
    assert trajectory.status_code == 400 and "trajectory" in trajectory.json()["detail"]
    scaled = render(client, {"start": refs[2], "ops": ["scale=1.5", "bias=0.1"]}, "/api/path")
    z = client.get(f"/api/states/{scaled.headers['x-state']}").json()["z"]
    assert np.allclose(z, space.sound_latent(10)[0].numpy() * 1.5 + 0.1, atol=1e-6)
    bad_op = client.post("/api/path", json={"start": refs[0], "ops": ["reverse", "warp=2"]})
    assert bad_op.status_code == 400 and bad_op.json()["detail"].startswith("ops[1]")
    state = scaled.headers["x-state"]
    chained = render(client, {"start": {"state": state}, "set": {"pca1": 0.0}})
    assert json.loads(chained.headers["x-values"])["pca1"] == pytest.approx(0.0, abs=1e-6)
    mapped = render(client, {"start": {"map": [0.5, -0.25]}})
    values = json.loads(mapped.headers["x-values"])
    assert (values["pca1"], values["pca2"]) == pytest.approx((0.5, -0.25), abs=1e-5)


@slow
def test_concurrent_renders_match_sequential_ones(studio: Studio, space: LatentSpace) -> None:
    low, high = space.controls["pca1"].range
    targets = [float(t) for t in np.linspace(low, high, 12)]
    expected = [studio.render({"index": 1}, {"pca1": t}, gain_db=-1.0).wav for t in targets]
    fresh = Studio(space, None)  # renders again: no cached states
    results: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = fresh.render({"index": 1}, {"pca1": targets[i]}, gain_db=-1.0).wav
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(targets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and [results[i] for i in range(len(targets))] == expected
    assert len(fresh.states) == len(targets)


# --- originals and export ----------------------------------------------------------------------------


@slow
def test_originals_come_only_from_inside_the_dataset(
    client: TestClient, studio: Studio, dataset: Path, tmp_path: Path
) -> None:
    sound = studio.space.analysis.sounds[2]
    response = client.get("/api/sounds/2/original")
    assert response.status_code == 200 and response.content == (dataset / sound).read_bytes()
    assert response.headers["content-type"].startswith("audio/")
    missing = client.get(f"/api/sounds/{len(studio.space.analysis.sounds)}/original")
    assert missing.status_code == 404 and "index" in missing.json()["detail"]
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF secret")
    sounds = list(studio.space.analysis.sounds)
    hostile = [*sounds[:3], "../../secret.wav", str(secret), "link.wav"]
    (dataset / "link.wav").symlink_to(secret)
    try:
        space = replace_sounds(studio.space, hostile)
        evil = TestClient(create_app(Studio(space, dataset)), base_url="http://127.0.0.1")
        for index, message in [(3, "'..' is refused"), (4, "absolute"), (5, "outside the root")]:
            answer = evil.get(f"/api/sounds/{index}/original")
            assert answer.status_code == 403 and message in answer.json()["detail"]
            assert b"RIFF" not in answer.content
    finally:
        (dataset / "link.wav").unlink()
    rootless = TestClient(create_app(Studio(studio.space, None)), base_url="http://127.0.0.1")
    answer = rootless.get("/api/sounds/2/original")
    assert answer.status_code == 404 and "dataset folder" in answer.json()["detail"]


def replace_sounds(space: LatentSpace, sounds: list[str]) -> LatentSpace:
    """A copy of `space` whose analysis names other sound paths (as a hostile bundle could)."""
    n = len(sounds)
    analysis = replace(
        space.analysis,
        sounds=sounds,
        sound_packs=space.analysis.sound_packs[:n],
        latents=space.analysis.latents[:n],
    )
    return LatentSpace(space.bundle, analysis)


@slow
def test_export_writes_inside_the_root_only(
    client: TestClient, studio: Studio, dataset: Path, tmp_path: Path
) -> None:
    state = render(client, {"start": {"index": 4}, "gain_db": -3.0})
    body = {"state": state.headers["x-state"], "folder": "exports/new", "name": "my kick.wav"}
    written = client.post("/api/export", json=body)
    assert written.status_code == 200 and written.json() == {"path": "exports/new/my kick.wav"}
    audio, rate = sf.read(dataset / "exports/new/my kick.wav", always_2d=True)
    assert rate == studio.sample_rate and np.allclose(audio.T, read_wav(state.content)[0])
    again = client.post("/api/export", json=body)
    assert again.status_code == 409 and "overwrite" in again.json()["detail"]
    assert client.post("/api/export", json={**body, "overwrite": True}).status_code == 200
    outside = tmp_path / "outside"
    outside.mkdir()
    (dataset / "escape").symlink_to(outside, target_is_directory=True)
    try:
        for folder, status, message in [
            ("../exports", 403, "'..' is refused"),
            ("exports/../../x", 403, "'..' is refused"),
            (str(outside), 403, "absolute"),
            ("/tmp", 403, "absolute"),
            ("escape", 403, "outside the root"),
            ("escape/deeper", 403, "outside the root"),
        ]:
            answer = client.post("/api/export", json={**body, "folder": folder})
            assert answer.status_code == status, (folder, answer.text)
            assert message in answer.json()["detail"]
        for name in ["../x.wav", "x.txt", ".hidden.wav", "a/b.wav"]:
            answer = client.post("/api/export", json={**body, "folder": "", "name": name})
            assert 400 <= answer.status_code < 500 and "name" in answer.json()["detail"]
    finally:
        (dataset / "escape").unlink()
    assert not any(outside.iterdir()) and not (tmp_path / "x.wav").exists()
    rootless = TestClient(create_app(Studio(studio.space, None)), base_url="http://127.0.0.1")
    state = render(rootless, {"start": {"index": 4}})
    refused = rootless.post("/api/export", json={**body, "state": state.headers["x-state"]})
    assert refused.status_code == 404 and "export" in refused.json()["detail"]


# --- validation -------------------------------------------------------------------------------------


@slow
def test_bad_numbers_and_names_are_refused_naming_the_field(client: TestClient) -> None:
    start = {"index": 0}
    refs = [start] * 4
    cases = [
        ("/api/render", {"start": start, "gain_db": 100.0}, "gain_db"),
        ("/api/render", {"start": start, "gain_db": -1e9}, "gain_db"),
        ("/api/render", {"start": start, "gla_iters": 0}, "gla_iters"),
        ("/api/render", {"start": start, "gla_iters": 100000}, "gla_iters"),
        ("/api/render", {"start": {"index": -1}}, "start.index"),
        ("/api/render", {"start": {"index": 10**6}}, "start.index"),
        ("/api/render", {"start": {"index": 0, "map": [0, 0]}}, "start"),
        ("/api/render", {"start": {}}, "start"),
        ("/api/render", {"start": {"state": "../../etc"}}, "start.state"),
        ("/api/render", {"start": start, "sett": {}}, "sett"),
        ("/api/render", {"start": start, "set": {f"c{i}": 0 for i in range(65)}}, "set"),
        ("/api/interpolate", {"a": start, "b": start, "amount": 5}, "amount"),
        ("/api/interpolate", {"a": start, "b": start, "amount": 0.5, "curve": [[0, 1]]}, "curve"),
        ("/api/interpolate", {"a": start, "b": start, "curve": [[1, 0], [0, 1]]}, "curve"),
        ("/api/interpolate", {"a": start, "b": start, "curve": [[0, 9]]}, "curve"),
        ("/api/plane", {"corners": refs, "xy": [0.5, 7]}, "xy"),
        ("/api/plane", {"corners": refs[:3], "xy": [0.5, 0.5]}, "corners"),
        ("/api/path", {"start": start, "ops": ["reverse"] * 33}, "ops"),
        ("/api/path", {"start": start, "ops": [], "seed": -1}, "seed"),
    ]
    for path, body, field in cases:
        answer = client.post(path, json=body)
        assert 400 <= answer.status_code < 500, (body, answer.text)
        assert field in answer.json()["detail"], (body, answer.json())
    for field, text in [
        ("gain_db", '{"start": {"index": 0}, "gain_db": NaN}'),
        ("gain_db", '{"start": {"index": 0}, "gain_db": Infinity}'),
        ("amount", '{"a": {"index": 0}, "b": {"index": 1}, "amount": -Infinity}'),
        (
            "xy",
            '{"corners": [{"index": 0}, {"index": 0}, {"index": 0}, {"index": 0}], "xy": [NaN, 0]}',
        ),
        ("set.pitch", '{"start": {"index": 0}, "set": {"pitch": NaN}}'),
        ("start.map", '{"start": {"map": [Infinity, 0]}}'),
    ]:
        path = (
            "/api/plane"
            if "corners" in text
            else "/api/interpolate"
            if '"a"' in text
            else "/api/render"
        )
        answer = client.post(path, content=text, headers={"content-type": "application/json"})
        assert answer.status_code == 422 and field in answer.json()["detail"], (text, answer.text)
    unknown = client.post("/api/render", json={"start": start, "set": {"pich": 220.0}})
    assert unknown.status_code == 400 and "pich" in unknown.json()["detail"]
    assert "known controls" in unknown.json()["detail"] and "pitch" in unknown.json()["detail"]
    locked = client.post("/api/render", json={"start": start, "lock": ["atack"]})
    assert (
        locked.status_code == 400
        and "lock" in locked.json()["detail"]
        and "attack" in locked.json()["detail"]
    )
    zero = client.post("/api/render", json={"start": start, "set": {"pitch": 0.0}})
    assert zero.status_code == 400 and "pitch" in zero.json()["detail"]
    assert client.get("/api/nothing").status_code == 404


@slow
def test_bodies_over_64_kib_and_foreign_hosts_are_refused(
    client: TestClient, studio: Studio
) -> None:
    answer = client.post("/api/path", json={"start": {"index": 0}, "ops": ["x" * MAX_BODY]})
    assert answer.status_code == 413 and "bytes" in answer.json()["detail"]
    chunks = iter([b'{"start": {"index": 0}, "ops": ["', b"z" * MAX_BODY, b'"]}'])
    streamed = client.post(
        "/api/path", content=chunks, headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413
    assert client.post("/api/render", json={"start": {"index": 0}}).status_code == 200
    foreign = TestClient(create_app(studio), base_url="http://attacker.example")
    assert foreign.get("/api/info").status_code == 400
    assert MAX_BODY == 64 * 1024


@slow
def test_cache_records_its_dataset_folder(space: LatentSpace) -> None:
    cache = SoundCache(space.bundle.training["cache"]["path"])
    root = dataset_root_of_cache(cache.root)
    assert root is not None and root.is_absolute()
    assert all((root / source.path).is_file() for source in cache.sources)


@slow
def test_a_path_model_mixes_over_time(spectral_run, tmp_path: Path) -> None:
    from timbrespace.analyze import analyze_bundle

    run = tmp_path / "run"
    shutil.copytree(spectral_run[0], run)
    analyze_bundle(run / "bundle")
    space = LatentSpace.open(run / "bundle")
    client = TestClient(create_app(Studio(space, None)), base_url="http://127.0.0.1")
    info = client.get("/api/info").json()
    assert info["path_model"] is True and info["family"] == "spectral"
    assert isinstance(info["gla_iters"], int) and info["gla_iters"] > 0
    refs = [{"index": i} for i in (0, 9, 20, 31)]
    ends = [render(client, {"start": ref}).content for ref in refs]
    audio, rate = read_wav(ends[0])
    clip = SoundCache(space.analysis.cache["path"]).audio[0]
    assert rate == space.sample_rate and abs(audio.shape[1] - clip.shape[-1]) <= 1024
    assert np.abs(audio).max() > 0.01
    fewer = render(client, {"start": refs[0], "gla_iters": 2})
    assert fewer.content != ends[0] and len(fewer.content) == len(ends[0])
    mix = "/api/interpolate"
    assert render(client, {"a": refs[0], "b": refs[1], "amount": 0.0}, mix).content == ends[0]
    sloped = render(client, {"a": refs[0], "b": refs[1], "curve": [[0, 0], [1, 1.2]]}, mix)
    assert sloped.content not in ends and "extrapolating" in sloped.headers["x-warnings"]
    plane = "/api/plane"
    assert render(client, {"corners": refs, "xy": [1, 0]}, plane).content == ends[1]
    walk = render(client, {"corners": refs, "trajectory": [[0, 0, 0], [1, 1, 1]]}, plane)
    assert walk.content not in ends
    start = client.get(f"/api/states/{render(client, {'start': refs[2]}).headers['x-state']}")
    reversed_ = render(client, {"start": refs[2], "ops": ["reverse"]}, "/api/path")
    z = client.get(f"/api/states/{reversed_.headers['x-state']}").json()["z"]
    assert np.allclose(np.array(z), np.array(start.json()["z"])[:, ::-1])


def test_warm_up_renders_the_first_sound_before_serving(space: LatentSpace) -> None:
    studio = Studio(space)
    assert studio.warm_up() > 0
    assert len(studio.states) == 2
