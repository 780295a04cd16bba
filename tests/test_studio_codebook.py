"""The studio's codebook panel on a tiny vq model trained on real GM melodies: the codebook as
`/api/codebook` gives it (codes, map, descriptors in their units), target curves over HTTP
(FastAPI TestClient) whose rendered sound follows them — by the server's own measure and by
librosa's — every refusal (never a 500), a model without a codebook or without its analysis, and
the panel in a real browser (Playwright driving Debian's chromium)."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import librosa
import numpy as np
import pytest
import soundfile as sf

from timbrespace.codebook_play import MAX_TARGET_SECONDS, METHODS
from timbrespace.studio.app import create_app
from timbrespace.studio.codebook_routes import Method
from timbrespace.studio.service import Studio

from .browsers import serve
from .test_studio_instrument import open_page

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette: "use httpx2" (not installed here)
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow

CODEBOOK, TARGET = "/api/codebook", "/api/target"
JSON_TYPE = {"content-type": "application/json"}
RATE, HOP, CODES = 16000, 128, 32
DESCRIPTORS = {
    "f0": ("Hz", "semitones"),
    "loudness": ("dB", "linear"),
    "centroid": ("Hz", "log"),
    "bandwidth": ("Hz", "log"),
    "rolloff": ("Hz", "log"),
    "flatness": ("ratio", "linear"),
    "rms": ("ratio", "log"),
    "zcr": ("1/s", "linear"),
}


@pytest.fixture(scope="module")
def studio(vq_run: Path) -> Studio:
    return Studio.open(vq_run / "bundle")


@pytest.fixture(scope="module")
def client(studio: Studio) -> TestClient:
    return TestClient(create_app(studio), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def book(client: TestClient) -> dict[str, Any]:
    answer = client.get(CODEBOOK)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.fixture(scope="module")
def centroid_range(book: dict[str, Any]) -> tuple[float, float]:
    (centroid,) = [d for d in book["descriptors"] if d["name"] == "centroid"]
    return tuple(centroid["range"])


def target(client: TestClient, **body: Any):
    return client.post(TARGET, json=body)


def wav_of(answer: dict[str, Any]) -> np.ndarray:
    """The base64 WAV of an answer as float32 samples, checked to be 16-bit mono at the rate."""
    data = base64.b64decode(answer["audio_wav_base64"])
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "WAV",
        "PCM_16",
        RATE,
        1,
    ), info
    audio, _ = sf.read(io.BytesIO(data), dtype="float32")
    assert np.isfinite(audio).all()
    return audio


def ramp(low: float, high: float, points: int = 2) -> list[list[float]]:
    return [[i / (points - 1), low + (high - low) * i / (points - 1)] for i in range(points)]


# --- the codebook -----------------------------------------------------------------------------


def test_the_codebook_gives_every_code_its_place_and_values_in_units(
    client: TestClient, book: dict[str, Any]
) -> None:
    assert client.get("/api/info").json()["codebook"] is True
    assert book["codes"] == CODES
    assert len(book["map"]) == len(book["used"]) == len(book["usage"]) == CODES
    assert all(
        len(point) == 2 and all(isinstance(v, float) for v in point) for point in book["map"]
    )
    assert sum(book["used"]) >= CODES // 2  # the dead-code restarts keep most codes in use
    assert all(used == (count > 0) for used, count in zip(book["used"], book["usage"], strict=True))
    assert book["hop_seconds"] == book["min_seconds"] == HOP / RATE
    assert book["max_seconds"] == MAX_TARGET_SECONDS
    assert book["methods"] == list(METHODS) and set(get_args(Method)) == set(METHODS)
    assert book["limits"]["curves"] == 4 and book["limits"]["points"] == [2, 2000]
    found = {d["name"]: (d["unit"], d["scale"]) for d in book["descriptors"]}
    assert found == DESCRIPTORS
    for d in book["descriptors"]:
        assert all(u or not c for u, c in zip(book["used"], book["choosable"], strict=True))
        values = [v for v, ok in zip(d["values"], book["choosable"], strict=True) if ok]
        finite = [v for v in values if v is not None]
        assert len(d["values"]) == CODES and finite, d["name"]
        low, high = d["range"]  # rounded inwards to 5 digits: its ends render unclamped
        assert low <= high and low == pytest.approx(min(finite), rel=1e-4), d["name"]
        assert high == pytest.approx(max(finite), rel=1e-4), d["name"]
    by_name = {d["name"]: d for d in book["descriptors"]}
    low, high = by_name["centroid"]["range"]
    assert 100 < low < high < RATE / 2 and high / low > 2  # codes of distinct brightness
    assert -130 < by_name["loudness"]["range"][0] < by_name["loudness"]["range"][1] < 0  # dB
    low, high = by_name["f0"]["range"]
    assert 40 < low < high < 2100  # the melodies' pitches in Hz, flute to C7 (unvoiced: null)
    assert by_name["f0"]["error_unit"] == "cents" and by_name["centroid"]["error_unit"] == "%"


# --- targets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0.5, 2.0, 3.3])
def test_a_centroid_ramp_is_followed_and_heard(
    client: TestClient, book: dict[str, Any], centroid_range: tuple[float, float], seconds: float
) -> None:
    low, high = centroid_range
    answer = target(client, curves={"centroid": ramp(low, high)}, seconds=seconds)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.headers["X-Warnings"]) == []
    assert re.fullmatch(r"select;dur=[\d.]+, render;dur=[\d.]+", answer.headers["Server-Timing"])
    body = answer.json()
    audio = wav_of(body)
    assert abs(audio.size - seconds * RATE) < HOP and body["samples"] == audio.size
    assert float(np.abs(audio).max()) > 0.01, "silent"
    frames = body["frames"]
    assert frames == 1 + round(seconds * RATE) // HOP == len(body["codes"])
    assert all(0 <= code < CODES and book["used"][code] for code in body["codes"])
    assert body["distinct_codes"] == len(set(body["codes"])) > 3
    for curves in ("targets", "predicted", "measured"):
        assert list(body[curves]) == ["centroid"] and len(body[curves]["centroid"]) == frames
    wanted = np.array(body["targets"]["centroid"], float)
    assert wanted[0] == pytest.approx(low, rel=1e-3) and wanted[-1] == pytest.approx(high, rel=1e-3)
    assert np.all(np.diff(wanted) > 0)  # interpolated linearly between the two points
    tracking = body["tracking"]["centroid"]
    assert tracking["unit"] == "%" and tracking["frames"] == frames
    # measured over six trainings (three seeds, two attack targets): r 0.976-0.996; median
    # error 2.2-8.8 % on 0.5 s ramps (63 frames), 2.6-4.3 % on 2 and 3.3 s ones
    assert tracking["r"] > 0.95 and tracking["median_error"] < (10 if seconds < 1 else 6)
    measured = np.array([np.nan if v is None else v for v in body["measured"]["centroid"]])
    ok = np.isfinite(measured)
    assert tracking["r"] == pytest.approx(np.corrcoef(wanted[ok], measured[ok])[0, 1], abs=1e-3)
    # librosa's own centroid of the WAV rises with the target (measured r: 0.99)
    heard = librosa.feature.spectral_centroid(y=audio, sr=RATE, n_fft=1024, hop_length=HOP)[0]
    n = min(heard.size, frames)
    assert np.corrcoef(np.log(heard[:n] + 1), np.log(wanted[:n]))[0, 1] > 0.9


def test_smoothness_trades_code_changes_for_tracking(
    client: TestClient, centroid_range: tuple[float, float]
) -> None:
    curves = {"centroid": ramp(*centroid_range)}

    def changes(method: str, smoothness: float) -> tuple[int, float]:
        answer = target(client, curves=curves, seconds=2.0, method=method, smoothness=smoothness)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["method"] == method
        return body["changes"], body["tracking"]["centroid"]["r"]

    free, smooth = changes("dp", 0.0), changes("dp", 10.0)
    assert smooth[0] < free[0]  # measured: 26 changes at 0, 8 at 10
    assert smooth[1] > 0.9
    assert changes("greedy", 0.0) == changes("greedy", 10.0)  # greedy has no transitions


def test_two_weighted_curves_and_a_clamped_target(
    client: TestClient, book: dict[str, Any], centroid_range: tuple[float, float]
) -> None:
    (rolloff,) = [d["range"] for d in book["descriptors"] if d["name"] == "rolloff"]

    def tracked(weight: float) -> dict[str, float]:
        """r of a rising centroid and a falling rolloff (`Rolloff`: any case), rolloff weighted."""
        answer = target(
            client,
            curves={"centroid": ramp(*centroid_range), "Rolloff": ramp(rolloff[1], rolloff[0], 50)},
            weights={"centroid": 1.0, "Rolloff": weight},
            seconds=2.0,
        )
        assert answer.status_code == 200, answer.text
        tracking = answer.json()["tracking"]
        assert set(tracking) == {"centroid", "rolloff"}  # names as the codebook spells them
        assert tracking["rolloff"]["unit"] == "%"
        return {name: numbers["r"] for name, numbers in tracking.items()}

    # a sound's rolloff lies above its centroid and moves with it: no code sequence follows
    # both ramps; the weight says which one wins (measured: r 0.99 for the winner, -0.96 for
    # the other, either way)
    rolling, bright = tracked(10.0), tracked(0.1)
    assert rolling["rolloff"] > 0.8 and rolling["centroid"] < 0
    assert bright["centroid"] > 0.8 and bright["rolloff"] < 0
    dark = target(client, curves={"centroid": [[0, 100.0], [1, 100.0]]}, seconds=1.0)
    assert dark.status_code == 200, dark.text
    (notice,) = json.loads(dark.headers["X-Warnings"])
    low = centroid_range[0]
    assert notice.startswith("centroid: the target spans 100 Hz to 100 Hz, the codebook renders")
    assert f"{low:.0f} Hz" in notice and "frames clamped to that range" in notice
    assert dark.json()["notices"] == [notice]
    clamped = dark.json()["targets"]["centroid"]
    assert clamped == [pytest.approx(low, rel=1e-3)] * len(clamped)


def test_a_long_body_of_four_full_curves_is_taken(
    client: TestClient, centroid_range: tuple[float, float]
) -> None:
    curves = {
        "centroid": ramp(*centroid_range, 2000),
        "loudness": ramp(-60.0, -20.0, 2000),
        "f0": ramp(150.0, 300.0, 2000),
        "bandwidth": ramp(700.0, 2800.0, 2000),
    }
    raw = json.dumps({"curves": curves, "seconds": 3.0})
    assert len(raw) > 64 * 1024  # over the other routes' limit, within this one's
    answer = client.post(TARGET, content=raw, headers=JSON_TYPE)
    assert answer.status_code == 200, answer.text
    assert set(answer.json()["tracking"]) == set(curves)
    huge = json.dumps({"curves": curves, "seconds": 3.0, "pad": "x" * 600_000})
    assert client.post(TARGET, content=huge, headers=JSON_TYPE).status_code == 413
    plain = client.post(TARGET, content=raw, headers={"content-type": "text/plain"})
    assert plain.status_code == 415


def test_bad_requests_are_refused_naming_the_field_never_with_a_500(
    client: TestClient, centroid_range: tuple[float, float]
) -> None:
    good: dict[str, Any] = {"curves": {"centroid": ramp(*centroid_range)}, "seconds": 1.0}
    points = ramp(*centroid_range)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({**good, "curves": {"brightness": points}}, 400, "curves: unknown descriptor 'brightness'; known: f0, loudness, centroid"),
        ({**good, "curves": {"attack_time": points}}, 400, "unknown descriptor 'attack_time'"),
        ({**good, "seconds": 0}, 422, "seconds: Input should be greater than 0"),
        ({**good, "seconds": 1e9}, 422, "seconds: Input should be less than or equal to 60"),
        ({**good, "seconds": 0.001}, 422, "seconds: 0.001 s is shorter than one frame of this model (8 ms)"),
        ({**good, "seconds": 60.0, "gla_iters": 512}, 422, "Griffin-Lim iterations is"),
        ({**good, "seconds": "4"}, 422, "seconds: Input should be a valid number"),
        ({**good, "seconds": True}, 422, "seconds"),
        ({**good, "curves": {}}, 422, "curves: Dictionary should have at least 1 item"),
        ({**good, "curves": [points]}, 422, "curves: Input should be a valid dictionary"),
        ({**good, "curves": {"centroid": points[:1]}}, 422, "curves.centroid: List should have at least 2 items"),
        ({**good, "curves": {"centroid": ramp(500, 900, 2001)}}, 422, "curves.centroid: List should have at most 2000 items"),
        ({**good, "curves": {"centroid": [[0.5, 900], [0.2, 500]]}}, 422, "curves.centroid: t must increase; point 1 has t 0.2 after 0.5"),
        ({**good, "curves": {"centroid": [[0, 900], [0, 500]]}}, 422, "t must increase"),
        ({**good, "curves": {"centroid": [[0, 900], [1.5, 500]]}}, 422, "curves.centroid.1.0: Input should be less than or equal to 1"),
        ({**good, "curves": {"centroid": [[0, "a"], [1, 500]]}}, 422, "curves.centroid.0.1: Input should be a valid number"),
        ({**good, "curves": {"centroid": [[0, 1e12], [1, 500]]}}, 422, "curves.centroid.0.1"),
        ({**good, "curves": {"centroid": [[0, 900, 3], [1, 500]]}}, 422, "curves.centroid.0"),
        ({**good, "curves": {n: points for n in ("f0", "loudness", "centroid", "rms", "zcr")}}, 422, "curves: Dictionary should have at most 4 items"),
        ({**good, "curves": {"centroid": points, "Centroid": points}}, 422, "'centroid' and 'Centroid' name one descriptor"),
        ({**good, "method": "beam"}, 422, "method: Input should be 'dp' or 'greedy'"),
        ({**good, "smoothness": -1}, 422, "smoothness: Input should be greater than or equal to 0"),
        ({**good, "smoothness": 101}, 422, "smoothness"),
        ({**good, "weights": {"centroid": -1}}, 422, "weights.centroid: Input should be greater than or equal to 0"),
        ({**good, "weights": {"loudness": 1}}, 422, "weights.loudness: no curve for it in curves"),
        ({**good, "gla_iters": 0}, 422, "gla_iters"),
        ({**good, "curve": {}}, 422, "curve: Extra inputs are not permitted"),
        ({"seconds": 1.0}, 422, "curves: Field required"),
    ]  # fmt: skip
    for body, status, detail in cases:
        answer = client.post(TARGET, json=body)
        assert answer.status_code == status, (body, answer.text)
        assert detail in answer.json()["detail"], (body, answer.json())
    for raw, field in [
        ('{"curves": {"centroid": [[0, NaN], [1, 500]]}}', "curves.centroid.0.1: Input should be a finite number"),
        ('{"curves": {"centroid": [[0, 600], [1, Infinity]]}}', "curves.centroid.1.1"),
        ('{"curves": {"centroid": [[0, 600], [1, 900]]}, "seconds": NaN}', "seconds"),
        ("[]", "body"),
        ("not json", ""),
        ("", ""),
    ]:  # fmt: skip
        answer = client.post(TARGET, content=raw, headers=JSON_TYPE)
        assert answer.status_code == 422 and field in answer.json()["detail"], (raw, answer.text)
    assert client.get(TARGET).status_code == 405 and client.post(CODEBOOK).status_code == 405


def test_the_openapi_document_describes_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    route = paths[TARGET]["post"]
    assert {"X-Warnings", "Server-Timing"} <= set(route["responses"]["200"]["headers"])
    assert "512 KiB" in route["responses"]["413"]["description"]
    assert {"400", "409"} <= set(paths[CODEBOOK]["get"]["responses"])


# --- other models -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spectral_studio(spectral_run, tmp_path_factory: pytest.TempPathFactory) -> Studio:
    """The tiny spectral model (frames, but no codebook), analysed in a copy."""
    from timbrespace.analyze import analyze_bundle

    run = tmp_path_factory.mktemp("codebook_spectral") / "run"
    shutil.copytree(spectral_run[0], run)
    analyze_bundle(run / "bundle")
    return Studio.open(run / "bundle")


def test_a_model_without_a_codebook_refuses_both_routes(spectral_studio: Studio) -> None:
    other = TestClient(create_app(spectral_studio), base_url="http://127.0.0.1")
    assert other.get("/api/info").json()["codebook"] is False
    for answer in (
        other.get(CODEBOOK),
        other.post(TARGET, json={"curves": {"centroid": [[0, 500.0], [1, 900.0]]}}),
    ):
        assert answer.status_code == 400, answer.text
        assert answer.json()["detail"] == (
            "the codebook panel: a spectral model has no codebook; train --model vq"
        )


def test_a_codebook_model_without_its_analysis_says_to_run_analyze(
    vq_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    shutil.copytree(vq_run, run)
    (run / "bundle" / "codebook.json").unlink()
    other = TestClient(create_app(Studio.open(run / "bundle")), base_url="http://127.0.0.1")
    assert other.get("/api/info").json()["codebook"] is True  # the panel shows, and says why
    for answer in (
        other.get(CODEBOOK),
        other.post(TARGET, json={"curves": {"centroid": [[0, 500.0], [1, 900.0]]}}),
    ):
        assert answer.status_code == 409, answer.text
        assert "no codebook analysis; run `timbrespace analyze" in answer.json()["detail"]


# --- the page ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def codebook_server(studio: Studio) -> Iterator[str]:
    yield from serve(studio)


MEASURED_PIXELS = """() => {
    const canvas = document.getElementById('cb-editor');
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;  // pixels of the first curve's measured colour, #c9fffd
    for (let i = 0; i < data.length; i += 4) {
        if (Math.abs(data[i] - 201) < 24 && data[i + 1] > 230 && data[i + 2] > 228) count += 1;
    }
    return count;
}"""


def test_the_panel_draws_a_preset_renders_it_and_shows_the_measured_curve(
    browser,
    artifacts: Path,
    codebook_server: str,
) -> None:
    context, page, errors, requests = open_page(browser, codebook_server)
    try:
        page.wait_for_selector("#codebook-panel[data-ready='1']")
        assert page.is_visible("#codebook-panel") and page.is_hidden("#notes-panel")
        assert "No render yet" in page.inner_text("#cb-results")
        assert page.is_disabled("#cb-render") and page.is_disabled("#cb-play")
        assert page.input_value("#cb-curves [data-curve='0'] .cb-desc") == "centroid"
        assert "Hz (log)" in page.inner_text("#cb-legend")
        # hovering a code shows its values with their units
        assert page.evaluate("() => window.studio.codebook.result()") is None
        page.locator("#cb-map").scroll_into_view_if_needed()
        box = page.locator("#cb-map").bounding_box()
        assert box is not None
        spot = page.evaluate("() => window.studio.codebook.codePosition(0)")
        page.mouse.move(box["x"] + spot["x"], box["y"] + spot["y"])
        tip = page.inner_text("#cb-tooltip")
        assert tip.startswith("code 0") and " Hz" in tip and " dB" in tip
        # a preset, then Render: the request, the sound, the measured curve and the numbers
        page.select_option("#cb-curves [data-curve='0'] .cb-preset", "log ramp")
        assert page.is_enabled("#cb-render")
        assert page.evaluate(MEASURED_PIXELS) == 0
        with page.expect_request(lambda r: r.url.endswith(TARGET)) as sent:
            page.click("#cb-render")
        body = json.loads(sent.value.post_data or "{}")
        points = body["curves"]["centroid"]
        assert len(points) == 256 and points[0][0] == 0 and points[-1][0] == 1
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(points, points[1:], strict=False))
        assert (body["seconds"], body["method"], body["smoothness"]) == (4, "dp", 1)
        assert sent.value.response().status == 200
        page.wait_for_function(
            "() => document.getElementById('cb-results').textContent.includes('median error')"
        )
        page.wait_for_selector("body[data-busy='0']", state="attached")
        results = page.inner_text("#cb-results")
        r = float(re.search(r"centroid: measured vs target r ([\d.]+)", results)[1])
        assert r > 0.9, results  # measured: 0.99
        assert re.search(r"median error [\d.]+ %", results), results
        assert page.evaluate(MEASURED_PIXELS) > 200  # the measured curve, over the target
        assert page.is_enabled("#cb-play")
        assert re.match(r"dp · 4 s, 501 frames · \d+ codes", page.inner_text("#cb-summary"))
        assert re.match(r"ringed: the \d+ of 32 codes", page.inner_text("#cb-codes-info"))
        page.screenshot(path=str(artifacts / "studio_codebook.png"))
        # a click on a code plays the code nearest its values, held 0.5 s
        code = page.evaluate("() => window.studio.codebook.result().codes[0]")
        spot = page.evaluate(f"() => window.studio.codebook.codePosition({code})")
        with page.expect_request(lambda r: r.url.endswith(TARGET)) as sent:
            page.mouse.click(box["x"] + spot["x"], box["y"] + spot["y"])
        assert json.loads(sent.value.post_data or "{}")["seconds"] == 0.5
        page.wait_for_function(
            f"() => document.getElementById('cb-codes-info').textContent.startsWith('code {code}')"
        )
        page.wait_for_selector("body[data-busy='0']", state="attached")
        assert requests.count("codebook") == 1 and requests.count("target") == 2, requests
        assert errors == [], errors
    finally:
        context.close()
