"""The studio's note panel on a tiny fader model trained on real GM flute and cello notes: what
`/api/info` says it plays, notes over HTTP (FastAPI TestClient) whose pitch librosa's pyin
measures, style mixes, the current or a random latent, every refusal (never a 500), a model
that plays no notes, and the panel in a real browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import io
import json
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pytest
import soundfile as sf

from timbrespace.studio.app import create_app
from timbrespace.studio.service import Studio

from .browsers import serve
from .conftest import NOTE_RATE
from .test_studio_instrument import open_page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2" (not installed here)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

PLAY = "/api/notes/play"
JSON_TYPE = {"content-type": "application/json"}
STYLES = ["cello", "flute"]
SCREENSHOT = Path("/tmp/studio_notes.png")


@pytest.fixture(scope="module")
def notes_run(note_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny fader run, analysed: the studio needs an analysis for its map and
    controls (the shared run stays as it is)."""
    from timbrespace.analyze import analyze_bundle

    run = tmp_path_factory.mktemp("notes_studio") / "run"
    shutil.copytree(note_run, run)
    analyze_bundle(run / "bundle")
    return run


@pytest.fixture(scope="module")
def studio(notes_run: Path) -> Studio:
    return Studio.open(notes_run / "bundle")


@pytest.fixture(scope="module")
def client(studio: Studio) -> TestClient:
    return TestClient(create_app(studio), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def oneshot_studio(analysed_run: Path) -> Studio:
    return Studio.open(analysed_run / "bundle")


def play(client: TestClient, **body: Any):
    return client.post(PLAY, json=body)


def audio_of(content: bytes) -> np.ndarray:
    """A WAV answer as float32 samples, checked to be 16-bit mono at the model's rate."""
    info = sf.info(io.BytesIO(content))
    assert (info.format, info.subtype) == ("WAV", "PCM_16"), info
    assert (info.samplerate, info.channels) == (NOTE_RATE, 1), info
    audio, _ = sf.read(io.BytesIO(content), dtype="float32")
    assert np.isfinite(audio).all()
    return audio


def midi_of(audio: np.ndarray) -> float:
    """The median pyin pitch (MIDI) of the voiced frames."""
    f0, voiced, _ = librosa.pyin(audio, sr=NOTE_RATE, fmin=80, fmax=1000, frame_length=1024)
    voiced &= np.isfinite(f0)
    assert voiced.mean() > 0.3, f"only {voiced.mean():.0%} of frames voiced"
    return float(librosa.hz_to_midi(np.median(f0[voiced])))


# --- HTTP -------------------------------------------------------------------------------------


def test_info_says_which_styles_and_pitches_the_model_plays(
    client: TestClient, oneshot_studio: Studio
) -> None:
    info = client.get("/api/info").json()
    assert info["input_kind"] == "notes" and info["instrument"] is None
    notes = info["notes"]
    assert notes["styles"] == STYLES and notes["pitch_range"] == [55, 67]
    low, high = notes["velocity_range"]
    assert 1 <= low <= 60 and 110 <= high <= 127  # the set's velocities are 60 and 110
    assert notes["playable_range"] == [43, 79] and notes["velocities"] == [1, 127]
    assert notes["max_weight"] == 4.0
    other = TestClient(create_app(oneshot_studio), base_url="http://127.0.0.1")
    assert other.get("/api/info").json()["notes"] is None


@pytest.mark.parametrize(
    ("pitch", "style", "z"),
    [(60, "cello", "random"), (64, "flute", "random"), (64, "cello", "current")],
)
def test_a_note_is_a_wav_at_the_pitch_asked(
    client: TestClient, pitch: int, style: str, z: str
) -> None:
    answer = play(client, pitch=pitch, velocity=100, weights={style: 1.0}, z=z, seed=3)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "audio/wav"
    audio = audio_of(answer.content)
    assert float(np.abs(audio).max()) > 0.05, "silent"
    heard = midi_of(audio)
    assert abs(100 * (heard - pitch)) < 50, heard
    assert json.loads(answer.headers["X-Warnings"]) == []
    assert answer.headers["Server-Timing"].startswith("render;dur=")
    played = json.loads(answer.headers["X-Played"])
    other = "flute" if style == "cello" else "cello"
    assert played["weights"] == {style: 1.0, other: 0.0}  # a style not named weighs 0
    assert (played["pitch"], played["velocity"], played["z"]) == (pitch, 100, z)


def test_styles_mix_and_the_mix_is_heard(client: TestClient) -> None:
    def note(weights: dict[str, float]) -> np.ndarray:
        answer = play(client, pitch=62, weights=weights, z="random", seed=1)
        assert answer.status_code == 200, answer.text
        return audio_of(answer.content)

    mix = note({"cello": 0.5, "flute": 0.5})
    cello, flute = note({"cello": 1.0}), note({"flute": 1.0})
    assert float(np.abs(mix).max()) > 0.05
    assert abs(100 * (midi_of(mix) - 62)) < 50
    assert not np.array_equal(mix, cello) and not np.array_equal(mix, flute)
    beyond = note({"cello": -0.3, "flute": 1.3})  # extrapolates beyond the flute
    assert float(np.abs(beyond).max()) > 0.05


def test_current_plays_the_state_shown_and_random_its_seed(client: TestClient) -> None:
    body: dict[str, Any] = {"pitch": 62, "weights": {"flute": 1.0}}
    state = client.post("/api/render", json={"start": {"index": 5}}).headers["X-State"]
    given = play(client, **body, state=state)
    assert given.status_code == 200, given.text
    assert json.loads(given.headers["X-Played"])["state"] == state
    last = play(client, **body)  # no state: the one rendered last
    assert json.loads(last.headers["X-Played"])["state"] == state
    assert last.content == given.content
    other = client.post("/api/render", json={"start": {"index": 30}}).headers["X-State"]
    assert play(client, **body, state=other).content != given.content
    seeded = [play(client, **body, z="random", seed=seed) for seed in (7, 7, 8)]
    assert json.loads(seeded[0].headers["X-Played"])["seed"] == 7
    assert seeded[0].content == seeded[1].content != seeded[2].content
    gone = play(client, **body, state="0" * 32)
    assert gone.status_code == 404 and "unknown or expired" in gone.json()["detail"]


def test_a_pitch_outside_the_trained_range_plays_with_a_warning(client: TestClient) -> None:
    answer = play(client, pitch=70, weights={"flute": 1.0})
    assert answer.status_code == 200, answer.text
    (warning,) = json.loads(answer.headers["X-Warnings"])
    assert "pitch 70 is outside the trained range 55…67" in warning


def test_bad_requests_are_refused_naming_the_field_never_with_a_500(client: TestClient) -> None:
    good: dict[str, Any] = {"pitch": 60, "weights": {"cello": 1.0}}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "weights": {"oboe": 1.0}}, 422, "no style 'oboe' in this model; its styles: cello, flute"),
        ({**good, "pitch": 100}, 422, "pitch 100 is far outside the trained range 55…67"),
        ({**good, "pitch": 130}, 422, "pitch: Input should be less than or equal to 127"),
        ({**good, "pitch": "60"}, 422, "pitch: Input should be a valid number"),
        ({**good, "pitch": True}, 422, "pitch"),
        ({**good, "pitch": None}, 422, "pitch"),
        ({"weights": {"cello": 1.0}}, 422, "pitch: Field required"),
        ({"pitch": 60}, 422, "weights: Field required"),
        ({**good, "velocity": 0}, 422, "velocity: Input should be greater than or equal to 1"),
        ({**good, "velocity": "loud"}, 422, "velocity"),
        ({**good, "weights": {"cello": 5}}, 422, "weights.cello: Input should be less than or equal to 4"),
        ({**good, "weights": {"cello": "1"}}, 422, "weights.cello"),
        ({**good, "weights": [1, 0]}, 422, "weights: Input should be a valid dictionary"),
        ({**good, "z": "mean"}, 422, "z: Input should be 'current' or 'random'"),
        ({**good, "seed": -1}, 422, "seed"),
        ({**good, "seed": 1.5}, 422, "seed"),
        ({**good, "z": "random", "state": "ab12"}, 422, "give state only with z 'current'"),
        ({**good, "state": "not hex"}, 422, "state"),
        ({**good, "style": "cello"}, 422, "style: Extra inputs are not permitted"),
    ]  # fmt: skip
    for body, status, detail in cases:
        answer = client.post(PLAY, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert detail in answer.json()["detail"], (body, answer.json())
    for raw, field in [
        ('{"pitch": NaN, "weights": {"cello": 1}}', "pitch: Input should be a finite number"),
        (
            '{"pitch": 60, "weights": {"cello": Infinity}}',
            "weights.cello: Input should be a finite",
        ),
        ('{"pitch": 60, "velocity": -Infinity, "weights": {}}', "velocity"),
        ("[]", "body"),
        ("not json", ""),
        ("", ""),
    ]:
        answer = client.post(PLAY, content=raw, headers=JSON_TYPE)
        assert answer.status_code == 422 and field in answer.json()["detail"], (raw, answer.text)


def test_a_model_that_plays_no_notes_refuses_them(oneshot_studio: Studio) -> None:
    other = TestClient(create_app(oneshot_studio), base_url="http://127.0.0.1")
    answer = other.post(PLAY, json={"pitch": 60, "weights": {"cello": 1.0}})
    assert answer.status_code == 400, answer.text
    assert "is not played by note and style" in answer.json()["detail"]
    assert other.get(PLAY).status_code == 405


def test_the_openapi_document_describes_the_note_route(client: TestClient) -> None:
    route = client.get("/openapi.json").json()["paths"][PLAY]["post"]
    assert list(route["responses"]["200"]["content"]) == ["audio/wav"]
    assert {"X-Played", "X-Warnings", "Server-Timing"} <= set(route["responses"]["200"]["headers"])
    assert route["responses"]["422"]["content"]["application/json"]["schema"]["required"] == [
        "detail"
    ]


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def notes_server(studio: Studio) -> Iterator[str]:
    yield from serve(studio)


@pytest.fixture(scope="module")
def oneshot_server(oneshot_studio: Studio) -> Iterator[str]:
    yield from serve(oneshot_studio)


def test_the_panel_plays_computer_keys_and_mixes_styles(
    browser,
    notes_server: str,
) -> None:
    context, page, errors, requests = open_page(browser, notes_server)
    try:
        assert page.is_visible("#notes-panel") and page.is_hidden("#instrument-panel")
        keys = page.locator("#notes-keyboard button.key")
        assert keys.count() == 49  # C2…C6 over MIDI 43…79 (55…67 trained)
        assert page.locator("#notes-keyboard .key.outside").count() == 49 - 13
        assert page.input_value("#notes-styles [data-readout='0']") == "1.00"  # cello
        assert page.input_value("#notes-styles [data-readout='1']") == "0.00"  # flute
        page.locator("#map").focus()
        with page.expect_request(lambda r: r.url.endswith(PLAY)) as sent:
            page.keyboard.press("a")  # C4
        body = json.loads(sent.value.post_data or "{}")
        assert body["pitch"] == 60 and body["weights"] == {"cello": 1, "flute": 0}
        assert body["z"] == "current" and body["state"] == page.evaluate(
            "() => window.studio.state.current.state"
        )
        assert sent.value.response().status == 200
        page.wait_for_function(
            "() => document.getElementById('notes-played').textContent.includes('rendered')"
        )
        assert page.get_attribute("#ab", "aria-pressed") == "false"  # A played C, not A/B
        # the pad: x = cello, y = flute, both 0 … 1.3; its centre is 0.65 / 0.65
        box = page.locator("#notes-pad").bounding_box()
        assert box is not None
        with page.expect_request(lambda r: r.url.endswith(PLAY)) as sent:
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert json.loads(sent.value.post_data or "{}")["weights"] == pytest.approx(
            {"cello": 0.65, "flute": 0.65}, abs=0.02
        )
        # a key outside the trained range plays, and its warning stands in the panel
        page.locator("#map").focus()
        page.keyboard.press("x")  # the computer keys an octave up: C5…C6
        page.keyboard.press("e")  # D#5 = 75
        page.wait_for_function(
            "() => document.getElementById('notes-messages').textContent.includes('pitch 75')"
        )
        page.wait_for_selector("body[data-busy='0']", state="attached")
        page.screenshot(path=str(SCREENSHOT))
        assert requests.count("notes/play") == 3, requests
        assert errors == [], errors
    finally:
        context.close()


SLOW_MIDDLE_C = """() => {
  const original = window.fetch;
  window.fetch = async (url, options) => {
    const answer = await original(url, options);
    if (String(url).endsWith("/api/notes/play") && JSON.parse(options.body).pitch === 60) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    return answer;
  };
}"""
"""Hands the page the answer to a C4 two seconds late, after any later key's."""


def test_a_late_answer_to_an_earlier_key_leaves_the_later_key_shown(
    browser,
    notes_server: str,
) -> None:
    context, page, errors, _ = open_page(browser, notes_server)
    try:
        page.evaluate(SLOW_MIDDLE_C)
        page.locator("#map").focus()
        page.keyboard.press("a")  # C4, answered late
        page.keyboard.press("x")
        page.keyboard.press("e")  # D#5 = 75, outside the trained range: a warning
        page.wait_for_function(
            "() => document.getElementById('notes-messages').textContent.includes('pitch 75')"
        )
        page.wait_for_timeout(3000)  # the C4's answer has come by now
        assert "pitch 75" in page.inner_text("#notes-messages")
        assert page.inner_text("#notes-played").startswith("D#5 (75)")
        assert errors == [], errors
    finally:
        context.close()


def test_the_panel_is_absent_for_a_model_that_plays_no_notes(
    browser,
    oneshot_server: str,
) -> None:
    context, page, errors, requests = open_page(browser, oneshot_server)
    try:
        assert page.is_hidden("#notes-panel")
        # the play panel's keys off (on, A plays the sound at C): A is the A/B switch, as before
        page.evaluate("() => { document.getElementById('keys-keys').checked = false; }")
        page.locator("#map").focus()
        page.keyboard.press("a")
        assert page.get_attribute("#ab", "aria-pressed") == "true"
        assert not [r for r in requests if r.startswith("notes/")], requests
        assert [e for e in errors if "Failed to load resource" not in e] == [], errors
    finally:
        context.close()
