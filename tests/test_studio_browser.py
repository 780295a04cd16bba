"""The studio page in a real browser (Playwright driving Debian's chromium) against the real
server on a tiny model trained on real drums: it loads without console errors, a map point and
the pitch slider make new audio and new pictures, the plane and the A→B curve render, undo
restores, and the downloaded WAV is a real, non-silent WAV at the model's rate.

Screenshots go to $TIMBRESPACE_ARTIFACTS (or a temporary folder, printed)."""

from __future__ import annotations

import io
import math
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .browsers import TIMEOUT_MS, serve

pytestmark = pytest.mark.slow

# --- the server -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset_copy(analysed_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The analysed sounds copied to a real folder (the training data links kits from
    /usr/share, and the studio refuses symlinks leaving its root)."""
    from timbrespace.space import LatentSpace
    from timbrespace.studio.service import dataset_root_of_cache

    space = LatentSpace.open(analysed_run / "bundle")
    source = dataset_root_of_cache(space.bundle.training["cache"]["path"])
    assert source is not None
    root = tmp_path_factory.mktemp("browser") / "dataset"
    for sound in space.analysis.sounds:
        (root / sound).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile((source / sound).resolve(), root / sound)
    return root


@pytest.fixture(scope="module")
def server(analysed_run: Path, dataset_copy: Path) -> Iterator[str]:
    """The studio of the tiny one-shot drum model: its URL."""
    from timbrespace.studio.service import Studio

    yield from serve(Studio.open(analysed_run / "bundle", dataset=dataset_copy))


@pytest.fixture(scope="module")
def spectral_server(spectral_run, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The studio of the tiny spectral model trained on real melodies (a path model): its URL."""
    from timbrespace.analyze import analyze_bundle
    from timbrespace.studio.service import Studio

    run = tmp_path_factory.mktemp("spectral_studio") / "run"
    shutil.copytree(spectral_run[0], run)
    analyze_bundle(run / "bundle")
    yield from serve(Studio.open(run / "bundle"))


# --- the browser ------------------------------------------------------------------------------


class Page:
    """A studio page with its console errors and uncaught exceptions collected; `info`
    (optional) is merged into the server's /api/info answer."""

    def __init__(self, browser, url: str, info: dict | None = None) -> None:
        self.context = browser.new_context(
            viewport={"width": 1440, "height": 1500}, accept_downloads=True
        )
        if info:

            def patch(route) -> None:
                response = route.fetch()
                route.fulfill(response=response, json={**response.json(), **info})

            self.context.route("**/api/info", patch)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda message: message.type == "error" and self.errors.append(message.text),
        )
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']")
        self.wait_idle()

    def wait_idle(self) -> None:
        self.page.wait_for_selector("body[data-busy='0']", state="attached")

    def audio_src(self) -> str:
        return self.page.eval_on_selector("#audio", "a => a.src")

    def wait_new_audio(self, before: str) -> str:
        self.page.wait_for_function(
            "before => document.getElementById('audio').src !== before", arg=before
        )
        self.wait_idle()
        return self.audio_src()

    def canvas(self, selector: str) -> str:
        return self.page.eval_on_selector(selector, "c => c.toDataURL()")

    def status(self) -> str:
        return self.page.inner_text("#status")

    def pickable(self, count: int) -> list[int]:
        """The first `count` sounds whose map point is not covered by another one."""
        return self.page.evaluate(
            """n => window.studio.state.sounds.map((_, i) => i).filter(i => {
                const p = window.studio.mapPoint(i);
                return window.studio.mapHit(p.x, p.y) === i;
            }).slice(0, n)""",
            count,
        )

    def click_map_point(self, index: int) -> None:
        self.page.locator("#map").scroll_into_view_if_needed()
        box = self.page.locator("#map").bounding_box()
        point = self.page.evaluate("i => window.studio.mapPoint(i)", index)
        self.page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])

    def load_sound(self, index: int) -> str:
        """Click map point `index` and wait for its render; the new audio src."""
        before = self.audio_src()
        self.click_map_point(index)
        return self.wait_new_audio(before)

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def studio_page(browser, server: str) -> Iterator[Page]:
    page = Page(browser, server)
    yield page
    page.close()


def assert_no_errors(page: Page) -> None:
    assert page.errors == [], f"console errors: {page.errors}"
    assert "error" not in (page.page.get_attribute("#status", "class") or ""), page.status()


# --- tests ------------------------------------------------------------------------------------


def test_page_loads_and_builds_every_view(studio_page: Page, artifacts: Path) -> None:
    page = studio_page.page
    info = page.evaluate("window.studio.state.info")
    assert page.locator("[data-control='pitch']").count() == 1
    assert page.locator("#controls input[type=range]").count() == len(info["controls"])
    # main controls first, in their order
    first = page.eval_on_selector_all(
        "#controls .control-group:first-child input[type=range]",
        "s => s.map(e => e.dataset.control)",
    )
    assert first[:2] == ["pitch", "attack"], first
    assert page.locator("#packs button[data-sound]").count() == info["sounds"]
    assert page.locator("#map-legend span.sw").count() == len(info["packs"])
    # the start render (the data mean) is on display, and the sliders show its values
    assert studio_page.audio_src().startswith("blob:")
    # a drum of the tiny model may have no pitch to measure ("—"); its centroid always is
    assert page.input_value("[data-readout='brightness']") not in ("", "—")
    assert page.get_attribute("#download", "href").startswith("/api/states/")
    page.screenshot(path=str(artifacts / "studio_loaded.png"), full_page=True)
    assert_no_errors(studio_page)


def test_map_point_and_pitch_slider_make_new_audio_and_undo_restores(
    studio_page: Page, artifacts: Path
) -> None:
    page = studio_page.page
    start_src = studio_page.audio_src()
    index = studio_page.pickable(4)[3]
    src = studio_page.load_sound(index)
    assert src != start_src
    sound = page.evaluate("i => window.studio.state.sounds[i]", index)
    assert page.inner_text("#sound-label") == sound
    assert page.inner_text("#start-label") == sound
    wave_before = studio_page.canvas("#waveform")
    spec_before = studio_page.canvas("#spectrogram")
    readouts = "() => [...document.querySelectorAll('[data-readout]')].map(e => e.value)"
    readouts_before = page.evaluate(readouts)

    # click near the top of the pitch slider's track: its value jumps there, then renders
    page.locator("[data-control='pitch']").scroll_into_view_if_needed()
    box = page.locator("[data-control='pitch']").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    moved_src = studio_page.wait_new_audio(src)
    assert moved_src != src
    assert studio_page.canvas("#waveform") != wave_before
    assert studio_page.canvas("#spectrogram") != spec_before
    assert page.evaluate(readouts) != readouts_before  # the new sound's X-Measured
    assert "moved" in (page.get_attribute(".control[data-name='pitch']", "class") or "")
    assert_box_shows_the_measured_pitch(page)
    page.screenshot(path=str(artifacts / "studio_pitch_moved.png"), full_page=True)

    # Ctrl+Z restores the map point's sound (same picture), Ctrl+Shift+Z the moved one
    page.locator("#map").focus()
    page.keyboard.press("Control+z")
    studio_page.wait_new_audio(moved_src)
    # the nearest sounds arrive after the render and do not move the views
    page.wait_for_selector("#nearest button")
    views_height = (
        "() => document.querySelector('.sound-panel .views').getBoundingClientRect().height"
    )
    with_nearest = page.evaluate(views_height)
    page.evaluate("() => document.getElementById('nearest').replaceChildren()")
    assert page.evaluate(views_height) == with_nearest
    assert studio_page.canvas("#waveform") == wave_before
    assert "moved" not in (page.get_attribute(".control[data-name='pitch']", "class") or "")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("() => document.getElementById('redo').disabled")
    assert studio_page.canvas("#waveform") != wave_before
    assert_no_errors(studio_page)


PITCH_BOX = re.compile(r"(\d+(?:\.\d+)?) Hz \(([A-G]#?-?\d)(?: ([+\u2212])(\d+)c)?\)")


def assert_box_shows_the_measured_pitch(page) -> None:
    """After a pitch move the box shows the pitch the rendered sound measures (the server's
    X-Measured, not the request) with its note name, and the note under the slider reads
    "asked … → …" with both values."""
    current = page.evaluate(
        "() => ({measured: window.studio.state.current.measured.pitch,"
        " requested: window.studio.state.current.requested.pitch})"
    )
    text = page.input_value("[data-readout='pitch']")
    if current["measured"] is None:  # no clear pitch in this render: no number pretends one
        assert text == "—"
        return
    match = PITCH_BOX.fullmatch(text)
    assert match, text
    hz = current["measured"]
    assert float(match[1]) == pytest.approx(hz, abs=0.6 if hz >= 100 else 0.06)
    midi = 69 + 12 * math.log2(hz / 440)
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    assert match[2] == f"{names[round(midi) % 12]}{round(midi) // 12 - 1}"
    cents = round(100 * (midi - round(midi)))
    assert (int(match[4]) * (-1 if match[3] == "\u2212" else 1) if match[4] else 0) == cents
    note = page.inner_text(".control[data-name='pitch'] .note")
    asked = re.match(r"asked (\d+(?:\.\d+)?) Hz \(", note)
    assert asked and f"→ {text}" in note, note
    assert float(asked[1]) == pytest.approx(current["requested"], abs=0.6)


def test_plane_puck_and_ab_curve_make_audio(studio_page: Page, artifacts: Path) -> None:
    page = studio_page.page
    sounds = studio_page.pickable(5)
    for corner, index in enumerate(sounds[:4]):
        studio_page.load_sound(index)
        page.click(f"[data-set-corner='{corner}']")
    studio_page.wait_idle()
    before = studio_page.audio_src()
    page.locator("#plane").scroll_into_view_if_needed()
    box = page.locator("#plane").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3, steps=6)
    page.mouse.up()
    after = studio_page.wait_new_audio(before)
    assert page.inner_text("#sound-label").startswith("plane (0.80, 0.70)")
    puck = page.locator("#puck").bounding_box()
    assert puck["x"] + puck["width"] / 2 == pytest.approx(box["x"] + box["width"] * 0.8, abs=2)

    # A → B: A is the plane result, B a dataset sound; drag the level into extrapolation
    page.click("[data-set-slot='a']")
    studio_page.load_sound(sounds[4])
    page.click("[data-set-slot='b']")
    studio_page.wait_idle()
    before = studio_page.audio_src()
    page.locator("#curve").scroll_into_view_if_needed()
    curve = page.locator("#curve").bounding_box()
    handle = page.evaluate("window.studio.curveHandle(0)")
    page.mouse.move(curve["x"] + handle["x"], curve["y"] + handle["y"])
    page.mouse.down()
    page.mouse.move(curve["x"] + handle["x"], curve["y"] + curve["height"] * 0.12, steps=5)
    page.mouse.up()
    studio_page.wait_new_audio(before)
    assert "extrapolating beyond B" in page.inner_text("#curve-readout")
    assert page.inner_text("#sound-label").startswith("A→B amount 1.")
    assert after != studio_page.audio_src()
    page.screenshot(path=str(artifacts / "studio_plane_curve.png"), full_page=True)
    # the server warns about extrapolation: shown as a warning, not an error
    assert "extrapolat" in studio_page.status()
    assert_no_errors(studio_page)


def test_download_is_a_real_wav_and_save_to_pack_writes_it(
    studio_page: Page, dataset_copy: Path, artifacts: Path
) -> None:
    page = studio_page.page
    studio_page.load_sound(studio_page.pickable(3)[2])
    rate = page.evaluate("window.studio.state.info.sample_rate")
    with page.expect_download() as download:
        page.click("#download")
    data = Path(download.value.path()).read_bytes()
    audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert sr == rate and audio.shape[0] > rate // 10
    assert float(np.abs(audio).max()) > 1e-3
    (artifacts / "studio_download.wav").write_bytes(data)

    page.fill("#save-folder", "studio_exports")
    page.fill("#save-name", "from_browser")
    page.click("#save")
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('saved')"
    )
    written = dataset_copy / "studio_exports" / "from_browser.wav"
    assert written.read_bytes() == data
    # saving again without overwrite: the server's one-line detail in the status bar
    page.click("#save")
    page.wait_for_selector("#status.error")
    assert "exists" in studio_page.status()
    errors = [e for e in studio_page.errors if "Failed to load resource" not in e]
    assert errors == [], errors  # the 409 is logged by the browser, nothing else


def test_bad_value_shows_the_server_detail_and_space_plays(studio_page: Page) -> None:
    page = studio_page.page
    page.uncheck("#autoplay")
    studio_page.load_sound(studio_page.pickable(2)[1])
    page.fill("[data-readout='pitch']", "1e12")
    page.press("[data-readout='pitch']", "Enter")
    page.wait_for_selector("#status.error")
    assert "pitch" in studio_page.status()
    # L loops, Space toggles playback outside text fields, and not while typing in one
    page.locator("#map").focus()
    page.keyboard.press("l")
    assert page.is_checked("#loop")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('play').textContent.includes('Stop')")
    page.keyboard.press(" ")
    page.wait_for_function("() => document.getElementById('play').textContent.includes('Play')")
    page.focus("#save-name")
    page.keyboard.press(" ")
    assert "Play" in page.inner_text("#play")
    errors = [e for e in studio_page.errors if "Failed to load resource" not in e]
    assert errors == [], errors


def test_pack_browser_loads_sounds_and_decodes_any_original(
    studio_page: Page, dataset_copy: Path
) -> None:
    """A click in the pack tree previews the original and loads the sound; originals the
    browser cannot decode itself (AIFF, even named .wav as in the hydrogen kits) still play."""
    page = studio_page.page
    sounds = page.evaluate("window.studio.state.sounds")
    aiff = [i for i, s in enumerate(sounds) if sf.info(str(dataset_copy / s)).format == "AIFF"]
    for index in [*aiff[:1], len(sounds) - 1]:
        before = studio_page.audio_src()
        page.click(f"#packs button[data-sound='{index}']")
        studio_page.wait_new_audio(before)
        assert page.inner_text("#sound-label") == sounds[index]
        assert "current" in (page.get_attribute(f"button[data-sound='{index}']", "class") or "")
        page.wait_for_function(
            "i => window.studio.player.dry && window.studio.state.current.reference === i",
            arg=index,
        )
        channels = sf.info(str(dataset_copy / sounds[index])).channels
        assert page.evaluate("window.studio.player.dry.numberOfChannels") == channels
    assert_no_errors(studio_page)


def test_path_model_page_shows_breakpoints_and_server_details(browser, server: str) -> None:
    """With `path_model: true` (the info answer patched: this server's model is a one-shot)
    the A→B editor takes breakpoints and shows Griffin-Lim iterations; the one-shot server then
    refuses the sloped curve, and its detail naming `curve` reaches the status bar."""
    page = Page(browser, server, info={"path_model": True, "gla_iters": 32})
    try:
        assert page.page.is_visible("#path-only") and page.page.is_visible("#path-editor")
        assert page.page.input_value("#gla-iters") == "32"
        first, second = page.pickable(2)
        page.load_sound(first)
        page.page.click("[data-set-slot='a']")
        page.load_sound(second)
        page.page.click("[data-set-slot='b']")
        page.page.wait_for_selector("#status.error")
        assert page.status().startswith("curve:"), page.status()
        # a click on the curve adds a breakpoint
        page.page.locator("#curve").scroll_into_view_if_needed()
        box = page.page.locator("#curve").bounding_box()
        page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2)
        page.page.wait_for_function(
            "() => document.getElementById('curve-readout').textContent.split(',').length === 3"
        )
        # the per-dimension editor POSTs /api/path ops (a one-shot has one frame: it renders)
        page.page.click("#path-editor summary")
        page.page.select_option("#path-dim", "3")
        page.page.fill("#path-ops", "reverse, smooth=3")
        before = page.audio_src()
        page.page.click("#path-apply")
        page.wait_new_audio(before)
        assert page.page.inner_text("#sound-label") == (
            "path reverse smooth=3 curve:3=0.000:0.000,1.000:0.000"
        )
        errors = [e for e in page.errors if "Failed to load resource" not in e]
        assert errors == [], errors  # only the browser's log of the two 400s
    finally:
        page.close()


def test_a_path_model_takes_a_sloped_curve_and_fewer_iterations(
    browser, spectral_server: str, artifacts: Path
) -> None:
    """A real spectral model: the A→B breakpoint editor renders a curve over time, and the
    Griffin-Lim iteration count changes the audio."""
    page = Page(browser, spectral_server)
    try:
        assert page.page.is_visible("#path-only") and page.page.is_visible("#path-editor")
        first, second = page.pickable(2)
        page.load_sound(first)
        page.page.click("[data-set-slot='a']")
        page.load_sound(second)
        page.page.click("[data-set-slot='b']")
        page.wait_idle()
        before = page.audio_src()
        page.page.locator("#curve").scroll_into_view_if_needed()
        box = page.page.locator("#curve").bounding_box()
        page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2)
        after = page.wait_new_audio(before)
        assert page.page.inner_text("#sound-label").startswith("A→B")
        page.page.fill("#gla-iters", "4")
        page.page.click("#curve-render")
        page.wait_new_audio(after)
        page.page.screenshot(path=str(artifacts / "studio_path_model.png"), full_page=True)
        assert_no_errors(page)
    finally:
        page.close()


def test_typed_values_weak_controls_and_warnings_under_their_slider(browser, server: str) -> None:
    """A note name typed into the pitch box asks that pitch; "ms" is understood; a weak control
    is greyed with its reason yet still moves; a request past physics is clamped with the
    warning under its own slider, and the warning goes when the move is undone by a reset."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server}/api/info") as answer:
        info = json.load(answer)
    reason = "explains 4 % of what the decoder renders"
    controls = [{**c, "weak": reason if c["name"] == "release" else None} for c in info["controls"]]
    studio_page = Page(browser, server, info={"controls": controls})
    page = studio_page.page
    try:
        page.uncheck("#autoplay")
        release = page.locator(".control[data-name='release']")
        assert "weak" in (release.get_attribute("class") or "")
        assert reason in release.locator(".note").inner_text()
        assert "weak" not in (page.get_attribute(".control[data-name='pitch']", "class") or "")

        def ask(name: str, text: str) -> dict:
            before = studio_page.audio_src()
            page.fill(f"[data-readout='{name}']", text)
            page.press(f"[data-readout='{name}']", "Enter")
            studio_page.wait_new_audio(before)
            return page.evaluate("window.studio.state.current")

        pitch = next(c for c in info["controls"] if c["name"] == "pitch")
        assert pitch["low"] < 440 < pitch["high"]
        assert ask("pitch", "A4")["requested"]["pitch"] == pytest.approx(440.0, rel=1e-6)
        control = next(c for c in info["controls"] if c["name"] == "release")
        middle = math.sqrt(control["low"] * control["high"])
        current = ask("release", f"{middle * 1000:.1f} ms")
        assert current["requested"]["release"] == pytest.approx(middle, rel=1e-3)

        nyquist = info["sample_rate"] / 2
        current = ask("brightness", f"{2 * nyquist:.0f} Hz")
        assert current["requested"]["brightness"] <= nyquist
        note = page.inner_text(".control[data-name='brightness'] .note")
        assert "impossible" in note and "clamped" in note, note
        # the sound is named by what it measures, not by the impossible request
        label = page.evaluate("window.studio.state.current.label")
        assert "brightness " in label and f"{2 * nyquist:.0f}" not in label, label
        assert math.isfinite(current["measured"]["brightness"])
        assert "brightness" in studio_page.status() and "under the slider" in studio_page.status()
        before = studio_page.audio_src()
        page.click("#reset-controls")
        studio_page.wait_new_audio(before)
        assert "impossible" not in page.inner_text(".control[data-name='brightness'] .note")
        assert_no_errors(studio_page)
    finally:
        studio_page.close()
