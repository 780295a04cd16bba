"""The studio's instrument panel on a tiny ddsp instrument trained on real GM melodies: timbre
transfer of an uploaded or dataset file and single notes over HTTP (FastAPI TestClient), their
pitch measured with librosa's pyin, every refusal (values, uploads, paths, a model that is no
instrument), and the panel in a real browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from timbrespace.studio.app import create_app
from timbrespace.studio.guards import MAX_BODY
from timbrespace.studio.instrument import UPLOAD_BYTES
from timbrespace.studio.service import Studio

from .browsers import TIMEOUT_MS, serve

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2" (not installed here)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

RATE = 16000
WAV = {"content-type": "audio/wav"}
JSON_TYPE = {"content-type": "application/json"}
TRANSFER = "/api/instrument/transfer"
NOTE = "/api/instrument/note"
SCREENSHOT = Path("/tmp/studio_instrument.png")


@pytest.fixture(scope="module")
def instrument_run(ddsp_run, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny ddsp run, analysed: the studio needs an analysis for its map and
    controls (the shared run stays as it is)."""
    from timbrespace.analyze import analyze_bundle

    run = tmp_path_factory.mktemp("instrument_studio") / "run"
    shutil.copytree(ddsp_run[0], run)
    analyze_bundle(run / "bundle")
    return run


@pytest.fixture(scope="module")
def studio(instrument_run: Path) -> Studio:
    return Studio.open(instrument_run / "bundle")


@pytest.fixture(scope="module")
def client(studio: Studio) -> TestClient:
    return TestClient(create_app(studio), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def oneshot_client(analysed_run: Path) -> TestClient:
    return TestClient(create_app(Studio.open(analysed_run / "bundle")), base_url="http://127.0.0.1")


def wav_of(audio: np.ndarray, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def tone(freq: float = 220.0, seconds: float = 2.0, rate: int = RATE) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return wav_of((0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate)


def pitch_of(content: bytes) -> tuple[float, int]:
    """Median pyin f0 (Hz) of the voiced frames of a WAV answer, and its sample rate."""
    audio, rate = sf.read(io.BytesIO(content), dtype="float32")
    assert audio.ndim == 1 and float(np.abs(audio).max()) > 1e-3, "silent or not mono"
    f0, voiced, _ = librosa.pyin(audio, fmin=60, fmax=2000, sr=rate, frame_length=2048)
    voiced &= np.isfinite(f0)
    assert voiced.mean() > 0.5, f"only {voiced.mean():.0%} of frames voiced"
    return float(np.median(f0[voiced])), rate


def cents(hz: float, reference: float) -> float:
    return float(1200 * np.log2(hz / reference))


def upload(client: TestClient, data: bytes, query: str = "", **headers: str):
    return client.post(f"{TRANSFER}?name=tone.wav{query}", content=data, headers=headers or WAV)


# --- HTTP -------------------------------------------------------------------------------------


def test_info_says_what_the_instrument_plays(
    client: TestClient, oneshot_client: TestClient
) -> None:
    info = client.get("/api/info").json()
    assert info["input_kind"] == "f0_loudness"
    instrument = info["instrument"]
    low, high = instrument["pitch_range"]
    assert low < 69 < high and high < 69 + 12 * np.log2(RATE / 2 / 440)
    assert instrument["trained_pitch"][0] < instrument["trained_pitch"][1]
    assert instrument["upload_bytes"] == UPLOAD_BYTES == 16 << 20
    assert instrument["octaves"] == 4 and instrument["reverb"] == [0.0, 4.0]
    other = oneshot_client.get("/api/info").json()
    assert other["input_kind"] == "clip" and other["instrument"] is None


def test_an_uploaded_tone_plays_at_the_reported_octave(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the upload is written
    answer = upload(client, tone(220.0))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "audio/wav"
    played = json.loads(answer.headers["X-Played"])
    assert played["octave_fitted"] and played["loudness_fitted"] and played["name"] == "tone.wav"
    assert played["voiced"] > 0.9 and played["seconds"] == pytest.approx(2.0, abs=0.01)
    assert json.loads(answer.headers["X-Warnings"]) == []
    assert answer.headers["Server-Timing"].startswith("render;dur=")
    hz, rate = pitch_of(answer.content)
    assert rate == RATE
    assert abs(cents(hz, 220.0 * 2.0 ** played["octave"])) < 25, (hz, played)

    kept = upload(client, tone(220.0), "&octave=0&loudness_db=-3&reverb=0")
    assert kept.status_code == 200, kept.text
    played = json.loads(kept.headers["X-Played"])
    assert (played["octave"], played["loudness_db"], played["reverb"]) == (0, -3.0, 0.0)
    assert not played["octave_fitted"] and not played["loudness_fitted"]
    assert abs(cents(pitch_of(kept.content)[0], 220.0)) < 25
    assert list(tmp_path.iterdir()) == [], "the temporary upload was left behind"


def test_a_silent_upload_plays_and_says_how_little_is_voiced(client: TestClient) -> None:
    answer = client.post(
        f"{TRANSFER}?name=silence.wav",
        content=wav_of(np.zeros(RATE, np.float32)),
        headers={"content-type": "application/octet-stream"},
    )
    assert answer.status_code == 200, answer.text
    notices = json.loads(answer.headers["X-Warnings"])
    assert any(n.startswith("silence.wav: only 0% of frames are voiced") for n in notices), notices
    assert json.loads(answer.headers["X-Played"])["voiced"] == 0.0


def test_bad_uploads_and_values_are_refused_naming_why(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    data = tone(220.0, seconds=0.5)
    cases = [
        (f"{TRANSFER}?name=notes.txt", b"this is not audio", WAV, 400, "notes.txt: not a readable"),
        (TRANSFER, b"", WAV, 400, "body: no audio"),
        (f"{TRANSFER}?octave=9", data, WAV, 422, "octave: Input should be less than or equal to 4"),
        (f"{TRANSFER}?semitones=nan", data, WAV, 422, "semitones: Input should be a finite"),
        (f"{TRANSFER}?loudness_db=inf", data, WAV, 422, "loudness_db: Input should be a finite"),
        (f"{TRANSFER}?reverb=5", data, WAV, 422, "reverb: Input should be less than or equal"),
        (TRANSFER, data, {"content-type": "text/plain"}, 415, "audio/*"),
        (TRANSFER, b"{}", {"content-type": "application/json"}, 415, "application/octet-stream"),
        (TRANSFER, b"\0" * (UPLOAD_BYTES + 1), WAV, 413, f"over {UPLOAD_BYTES} bytes"),
    ]
    for url, body, headers, status, detail in cases:
        answer = client.post(url, content=body, headers=headers)
        assert answer.status_code == status, (url, answer.text)
        assert detail in answer.json()["detail"], (url, answer.json())
        assert str(tmp_path) not in answer.text
    assert list(tmp_path.iterdir()) == []
    # every other endpoint keeps its 64 KiB JSON-only body
    big = json.dumps({"start": {"index": 0}, "lock": ["x" * MAX_BODY]})
    assert client.post("/api/render", content=big, headers=JSON_TYPE).status_code == 413
    assert client.post("/api/render", content=data, headers=WAV).status_code == 415
    assert client.post(f"{TRANSFER}/dataset", content=data, headers=WAV).status_code == 415


def test_a_dataset_file_plays_from_inside_the_dataset_folder_only(
    client: TestClient, studio: Studio
) -> None:
    sound = studio.space.analysis.sounds[0]
    answer = client.post(f"{TRANSFER}/dataset", json={"path": sound, "octave": -1})
    assert answer.status_code == 200, answer.text
    played = json.loads(answer.headers["X-Played"])
    assert played["name"] == sound and played["octave"] == -1
    for body, status, detail in [
        ({"path": "../outside.wav"}, 403, "'..' is refused"),
        ({"path": "/etc/passwd"}, 403, "absolute paths are refused"),
        ({"path": "nowhere/none.wav"}, 404, "is not a file in the dataset folder"),
        ({"path": sound, "octave": 1.5}, 422, "octave"),
        ({"path": sound, "semitones": "3"}, 422, "semitones"),
        ({"path": sound, "pitch": 3}, 422, "pitch: Extra inputs are not permitted"),
    ]:
        refused = client.post(f"{TRANSFER}/dataset", json=body)
        assert refused.status_code == status and detail in refused.json()["detail"], refused.text
    nan = f'{{"path": {json.dumps(sound)}, "reverb": NaN}}'
    refused = client.post(f"{TRANSFER}/dataset", content=nan, headers=JSON_TYPE)
    assert refused.status_code == 422 and "reverb" in refused.json()["detail"]


def test_a_note_sounds_at_its_pitch_and_out_of_range_notes_are_refused(client: TestClient) -> None:
    answer = client.post(NOTE, json={"pitch": 69, "velocity": 100, "seconds": 1.0})
    assert answer.status_code == 200, answer.text
    hz, rate = pitch_of(answer.content)
    assert abs(cents(hz, 440.0)) < 10, hz
    assert sf.info(io.BytesIO(answer.content)).duration > 1.0  # held 1 s, then its release
    assert json.loads(answer.headers["X-Warnings"]) == []
    assert "X-Played" not in answer.headers
    low = client.get("/api/info").json()["instrument"]["pitch_range"][0]
    for body, status, detail in [
        ({"pitch": 130}, 422, "pitch: Input should be less than or equal to 127"),
        ({"pitch": int(low) - 2}, 400, "is outside MIDI"),
        ({"pitch": 69, "velocity": 0}, 422, "velocity"),
        ({"pitch": 69, "seconds": 60}, 422, "seconds"),
        ({"pitch": 69, "reverb": -1}, 422, "reverb"),
        ({"pitch": "69"}, 422, "pitch"),
    ]:
        refused = client.post(NOTE, json=body)
        assert refused.status_code == status and detail in refused.json()["detail"], refused.text
    nan = client.post(NOTE, content='{"pitch": NaN}', headers=JSON_TYPE)
    assert nan.status_code == 422 and "pitch" in nan.json()["detail"]


def test_a_model_that_is_no_instrument_refuses_both(oneshot_client: TestClient) -> None:
    why = "is not played from pitch and loudness"
    for answer in (
        upload(oneshot_client, tone(220.0, seconds=0.5)),
        oneshot_client.post(f"{TRANSFER}/dataset", json={"path": "a.wav"}),
        oneshot_client.post(NOTE, json={"pitch": 69}),
    ):
        assert answer.status_code == 400 and why in answer.json()["detail"], answer.text


def test_the_openapi_document_describes_the_instrument_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    upload_doc = paths[TRANSFER]["post"]
    assert list(upload_doc["requestBody"]["content"]) == ["application/octet-stream"]
    assert "16 MiB" in upload_doc["responses"]["413"]["description"]
    for path in (TRANSFER, f"{TRANSFER}/dataset", NOTE):
        responses = paths[path]["post"]["responses"]
        assert list(responses["200"]["content"]) == ["audio/wav"], path
        assert {"X-Warnings", "Server-Timing"} <= set(responses["200"]["headers"]), path
        assert responses["422"]["content"]["application/json"]["schema"]["required"] == ["detail"]


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instrument_server(studio: Studio) -> Iterator[str]:
    yield from serve(studio)


@pytest.fixture(scope="module")
def oneshot_server(analysed_run: Path) -> Iterator[str]:
    yield from serve(Studio.open(analysed_run / "bundle"))


def open_page(browser, url: str):
    """A 1440×900 page at `url`, booted; (context, page, console errors, API requests)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    requests: list[str] = []

    def console(message) -> None:
        if message.type == "error":
            errors.append(message.text)

    def request(sent) -> None:
        if "/api/" in sent.url:
            requests.append(sent.url.split("/api/")[1])

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on("request", request)
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']")
    return context, page, errors, requests


def test_the_panel_plays_keys_and_recordings(
    browser, instrument_server: str, tmp_path: Path
) -> None:
    context, page, errors, requests = open_page(browser, instrument_server)
    try:
        assert page.is_visible("#instrument-panel")
        assert page.locator("#inst-keyboard button.key").count() == 13
        page.locator("#map").focus()
        with page.expect_response(lambda r: r.url.endswith(NOTE)) as note:
            page.keyboard.press("a")
        assert note.value.status == 200
        page.wait_for_function(
            "() => document.getElementById('inst-latency').textContent.includes('rendered')"
        )
        assert page.get_attribute("#ab", "aria-pressed") == "false"  # A played C, not A/B
        page.keyboard.press("a")  # again: from the page's cache, no new request
        page.wait_for_function(
            "() => document.getElementById('inst-latency').textContent.includes('cached')"
        )
        assert requests.count("instrument/note") == 1, requests
        # an on-screen key: held down with the mouse, released by moving up
        g = page.locator("#inst-keyboard button.key").nth(7)  # C C# D D# E F F# G
        pitch = int(g.get_attribute("data-pitch"))
        box = g.bounding_box()
        with page.expect_response(lambda r: r.url.endswith(NOTE)):
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.85)
            page.mouse.down()
        page.wait_for_selector(f"#inst-keyboard [data-pitch='{pitch}'].down")
        page.wait_for_function(
            "text => document.getElementById('inst-latency').textContent.startsWith(text)",
            arg=f"G{pitch // 12 - 1} ({pitch})",
        )
        page.mouse.up()
        page.wait_for_selector(f"#inst-keyboard [data-pitch='{pitch}']:not(.down)")
        # a file dropped on the panel (here a rendered note, as a File in a DataTransfer)
        page.evaluate(
            """async () => {
                const answer = await fetch("/api/instrument/note", {method: "POST",
                    headers: {"Content-Type": "application/json"}, body: '{"pitch": 62}'});
                const files = new DataTransfer();
                files.items.add(new File([await answer.blob()], "dropped.wav", {type: "audio/wav"}));
                const panel = document.getElementById("instrument-panel");
                panel.dispatchEvent(new DragEvent("drop", {dataTransfer: files, bubbles: true}));
            }"""
        )
        page.wait_for_function(
            "() => document.getElementById('inst-played').textContent.startsWith('dropped.wav')"
        )
        # a recording through the file input, then again an octave down
        (tmp_path / "tone.wav").write_bytes(tone(220.0))
        page.set_input_files("#inst-file", str(tmp_path / "tone.wav"))
        page.wait_for_function(
            "() => document.getElementById('inst-played').textContent.includes('voiced')"
        )
        page.select_option("#inst-octave", "-1")
        page.wait_for_function(
            "() => document.getElementById('inst-played').textContent.includes('−1 octave ')"
        )
        assert page.get_attribute("#inst-download", "href").startswith("blob:")
        page.wait_for_selector("body[data-busy='0']", state="attached")
        page.screenshot(path=str(SCREENSHOT))
        assert errors == [], errors
    finally:
        context.close()


def test_the_panel_is_absent_for_a_model_that_is_no_instrument(
    browser, oneshot_server: str
) -> None:
    context, page, errors, requests = open_page(browser, oneshot_server)
    try:
        assert page.is_hidden("#instrument-panel")
        # the play panel's keys off (on, A plays the sound at C): A is the A/B switch, as before
        page.evaluate("() => { document.getElementById('keys-keys').checked = false; }")
        page.locator("#map").focus()
        page.keyboard.press("a")
        assert page.get_attribute("#ab", "aria-pressed") == "true"
        assert not [r for r in requests if r.startswith("instrument/")], requests
        assert [e for e in errors if "Failed to load resource" not in e] == [], errors
    finally:
        context.close()
