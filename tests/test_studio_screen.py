"""The studio as one screen (issue 21) on the tiny one-shot demo model (`demo_run`): at 1280×720
and 1440×900 the map, the current sound with Play, the main controls, the morph and the plane
are inside the window without scrolling, the PCA / pack / descriptor sliders wait behind a
collapsed "Advanced" section the browser remembers; the map marker follows every edit (the
server's projection of the latent, checked against the analysis' PCA), with a trail;
snapshots recall the very bytes they stored; messages stand next to what they concern and go
when resolved; the packs list wears the map's (and `plot`'s) palette.

Playwright drives Debian's chromium as in test_studio_browser.py; screenshots go with theirs."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from .browsers import TIMEOUT_MS, serve

pytestmark = pytest.mark.slow

VIEWS = [(1280, 720), (1440, 900)]
MAIN = ("pitch", "attack", "release", "brightness", "loudness")


@pytest.fixture(scope="module")
def demo_server(demo_run: Path) -> Iterator[str]:
    """The studio of the tiny one-shot demo model, originals from its demo pack: its URL."""
    from timbrespace.studio.service import Studio

    yield from serve(Studio.open(demo_run / "bundle"))


class Screen:
    """A studio page at one window size, with its console errors collected."""

    def __init__(self, browser, url: str, width: int, height: int, storage: dict | None = None):
        self.size = (width, height)
        self.context = browser.new_context(viewport={"width": width, "height": height})
        if storage:
            script = "".join(
                f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)});"
                for k, v in storage.items()
            )
            self.context.add_init_script(script)
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
        self.idle()
        self.page.uncheck("#autoplay")

    def idle(self) -> None:
        self.page.wait_for_selector("body[data-busy='0']", state="attached")

    def src(self) -> str:
        return self.page.eval_on_selector("#audio", "a => a.src")

    def wait_new_audio(self, before: str) -> None:
        self.page.wait_for_function(
            "before => document.getElementById('audio').src !== before", arg=before
        )
        self.idle()

    def audio_bytes(self) -> bytes:
        """The bytes of the sound on display (what the player and the <audio> element hold)."""
        values = self.page.evaluate(
            """async () => {
                const response = await fetch(document.getElementById('audio').src);
                return Array.from(new Uint8Array(await response.arrayBuffer()));
            }"""
        )
        return bytes(values)

    def load_point(self, index: int) -> None:
        """Click map point `index` (one not covered by another) and wait for its render."""
        box = self.page.locator("#map").bounding_box()
        point = self.page.evaluate("i => window.studio.mapPoint(i)", index)
        before = self.src()
        self.page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        self.wait_new_audio(before)

    def pickable(self, count: int) -> list[int]:
        return self.page.evaluate(
            """n => window.studio.state.sounds.map((_, i) => i).filter(i => {
                const p = window.studio.mapPoint(i);
                return window.studio.mapHit(p.x, p.y) === i;
            }).slice(0, n)""",
            count,
        )

    def move_slider(self, name: str, fraction: float) -> None:
        """Click the track of control `name` at `fraction` of its width and wait for the sound."""
        box = self.page.locator(f"[data-control='{name}']").bounding_box()
        before = self.src()
        self.page.mouse.click(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
        self.wait_new_audio(before)

    def close(self) -> None:
        self.context.close()


def assert_no_errors(screen: Screen, allow_http: bool = False) -> None:
    errors = [e for e in screen.errors if not (allow_http and "Failed to load resource" in e)]
    assert errors == [], errors


def inside(box: dict, width: int, bottom: float) -> bool:
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width + 0.5
        and box["y"] + box["height"] <= bottom + 0.5
    )


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


# --- the server --------------------------------------------------------------------------------


def test_every_render_says_where_it_lies_on_the_map(demo_run: Path) -> None:
    """`X-Map` / the state's `map` is the latent's projection on the map of `/api/map`: a
    dataset sound lands on its own point, a map point on itself."""
    from fastapi.testclient import TestClient

    from timbrespace.studio.app import create_app
    from timbrespace.studio.service import Studio

    studio = Studio.open(demo_run / "bundle")
    client = TestClient(create_app(studio), base_url="http://127.0.0.1")
    points = client.get("/api/map").json()
    for index in (0, 7, 31):
        answer = client.post("/api/render", json={"start": {"index": index}})
        assert answer.status_code == 200, answer.text
        xy = json.loads(answer.headers["x-map"])
        z = torch.tensor(client.get(f"/api/states/{answer.headers['x-state']}").json()["z"])
        scores = studio.space.analysis.pca.transform(z.double().mean(dim=-1))
        assert xy == pytest.approx([float(scores[0]), float(scores[1])], abs=1e-6)
        if not json.loads(answer.headers["x-requested"]):  # the sound as it is
            assert xy == pytest.approx([points["x"][index], points["y"][index]], abs=1e-3)
    answer = client.post("/api/render", json={"start": {"map": [1.5, -2.0]}})
    assert json.loads(answer.headers["x-map"]) == pytest.approx([1.5, -2.0], abs=1e-4)
    moved = client.post(
        "/api/render", json={"start": {"map": [1.5, -2.0]}, "set": {"brightness": 3000.0}}
    )
    state = client.get(f"/api/states/{moved.headers['x-state']}").json()
    assert state["map"] == json.loads(moved.headers["x-map"])


# --- one screen ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), VIEWS)
def test_one_screen_holds_the_instrument(
    browser, demo_server: str, artifacts: Path, width: int, height: int
) -> None:
    screen = Screen(browser, demo_server, width, height)
    page = screen.page
    try:
        info = page.evaluate("window.studio.state.info")
        main = [name for name in MAIN if any(c["name"] == name for c in info["controls"])]
        assert main == list(MAIN), "the demo model has every main control"
        status_top = page.locator("#status").bounding_box()["y"]
        assert status_top + page.locator("#status").bounding_box()["height"] == pytest.approx(
            height, abs=1
        )
        wanted = {
            "play": "#play",
            "source ↔ model": "#ab",
            "map": "#map",
            "waveform": "#waveform",
            "spectrogram": "#spectrogram",
            "plane panel": ".plane-panel",
            "plane": "#plane",
            "morph panel": ".curve-panel",
            "morph curve": "#curve",
            "snapshots": ".snapshots",
            **{f"corner {i}": f"[data-set-corner='{i}']" for i in range(4)},
            **{f"morph {end}": f"[data-set-slot='{end}']" for end in "ab"},
        }
        for name in main:
            wanted[f"{name} slider"] = f"[data-control='{name}']"
            wanted[f"{name} value"] = f"[data-readout='{name}']"
            wanted[f"{name} lock"] = f"[data-lock='{name}']"
        assert page.evaluate("[window.scrollX, window.scrollY]") == [0, 0]
        outside = {}
        for label, selector in wanted.items():
            box = page.locator(selector).bounding_box()
            if box is None or not inside(box, width, status_top):
                outside[label] = box
        assert not outside, (
            f"outside the {width}×{height} window (or under the status bar): {outside}"
        )
        # the main controls are not cut by their scrolling list
        controls = page.locator("#controls").bounding_box()
        for name in main:
            row = page.locator(f".control[data-name='{name}']").bounding_box()
            assert row["y"] >= controls["y"] - 0.5
            assert row["y"] + row["height"] <= controls["y"] + controls["height"] + 0.5, name
        # the panels of the screen do not overlap
        panels = [".packs-panel", ".map-panel", ".controls-panel", ".sound-panel", ".plane-panel", ".curve-panel"]  # fmt: skip
        boxes = {p: page.locator(p).bounding_box() for p in panels}
        for i, a in enumerate(panels):
            for b in panels[i + 1 :]:
                assert not overlap(boxes[a], boxes[b]), (a, b)
        # PCA, pack and descriptor sliders wait behind "Advanced", collapsed
        advanced = page.locator("#controls details.advanced")
        assert advanced.count() == 1 and not advanced.evaluate("d => d.open")
        for control in info["controls"]:
            hidden = control["kind"] in ("pca", "pack") or (
                control["kind"] == "descriptor" and control["name"] not in MAIN
            )
            assert page.is_visible(f"[data-control='{control['name']}']") != hidden, control["name"]
        assert page.locator("#controls input[type=range]").count() == len(info["controls"])
        assert page.inner_text("#ab") == "source ↔ model"
        page.screenshot(path=str(artifacts / f"screen_{width}x{height}.png"))
        assert_no_errors(screen)
    finally:
        screen.close()


def test_advanced_section_is_remembered(browser, demo_server: str) -> None:
    screen = Screen(browser, demo_server, 1280, 720)
    try:
        screen.page.click("#controls details.advanced > summary")
        assert screen.page.is_visible("[data-control='pca1']")
        remembered = "v => localStorage.getItem('timbrespace.studio.advanced') === v"
        # <details> fires "toggle" in a later task than the click: wait for it, not a race
        screen.page.wait_for_function(remembered, arg="1", timeout=5000)
        screen.page.reload()
        screen.page.wait_for_selector("body[data-ready='1']")
        assert screen.page.evaluate("document.querySelector('details.advanced').open")
        assert screen.page.is_visible("[data-control='pca1']")
        screen.page.click("#controls details.advanced > summary")
        screen.page.wait_for_function(remembered, arg="0", timeout=5000)
        assert_no_errors(screen)
    finally:
        screen.close()


# --- where you are -------------------------------------------------------------------------------


def test_the_map_marker_follows_a_control_move(
    browser, demo_server: str, demo_run: Path, artifacts: Path
) -> None:
    from timbrespace.space import LatentSpace

    pca = LatentSpace.open(demo_run / "bundle").analysis.pca
    screen = Screen(browser, demo_server, 1280, 720)
    page = screen.page
    try:
        index = screen.pickable(6)[5]
        screen.load_point(index)
        picked = page.evaluate("window.studio.mapMarker()")
        point = page.evaluate("i => window.studio.mapPoint(i)", index)
        assert (picked["x"], picked["y"]) == pytest.approx((point["x"], point["y"]), abs=0.5)
        marks = [picked]
        for name, fraction in (("pitch", 0.85), ("brightness", 0.2)):
            screen.move_slider(name, fraction)
            mark = page.evaluate("window.studio.mapMarker()")
            assert (mark["x"], mark["y"]) != pytest.approx((marks[-1]["x"], marks[-1]["y"]), abs=1)
            current = page.evaluate(
                "({state: window.studio.state.current.state, map: window.studio.state.current.map})"
            )
            assert mark["map"] == pytest.approx(current["map"], abs=1e-9)  # the server's X-Map
            with urllib.request.urlopen(f"{demo_server}/api/states/{current['state']}") as answer:
                described = json.load(answer)
            assert described["map"] == pytest.approx(current["map"], abs=1e-9)
            # … which is the PCA of the rendered latent, as the map's points are
            scores = pca.transform(torch.tensor(described["z"]).double().mean(dim=-1))
            assert mark["map"] == pytest.approx([float(scores[0]), float(scores[1])], abs=1e-6)
            pixel = page.evaluate("xy => window.studio.mapPixelOf(xy[0], xy[1])", mark["map"])
            assert (mark["x"], mark["y"]) == pytest.approx((pixel["x"], pixel["y"]), abs=1e-6)
            assert mark["trail"][-1] == pytest.approx(marks[-1]["map"])  # the last place
            marks.append(mark)
        page.screenshot(path=str(artifacts / "screen_marker_trail.png"))
        assert_no_errors(screen)
    finally:
        screen.close()


def test_snapshots_recall_the_stored_audio(browser, demo_server: str, artifacts: Path) -> None:
    screen = Screen(browser, demo_server, 1440, 900)
    page = screen.page
    try:
        screen.load_point(screen.pickable(3)[2])
        screen.move_slider("pitch", 0.7)
        stored = screen.audio_bytes()
        stored_state = page.evaluate("window.studio.state.current.state")
        page.click("[data-snapshot='1']")  # empty: stores
        assert "filled" in (page.get_attribute("[data-snapshot='1']", "class") or "")
        screen.move_slider("brightness", 0.15)
        moved = screen.audio_bytes()
        assert moved != stored
        page.click("[data-snapshot='2']")

        before = screen.src()
        page.click("[data-snapshot='1']")  # full: recalls
        screen.wait_new_audio(before)
        assert screen.audio_bytes() == stored
        assert page.evaluate("window.studio.state.current.state") == stored_state
        assert page.inner_text("#sound-label").startswith("snapshot 1 · ")
        # the sliders go on from the recalled sound: its start and moves
        assert "moved" in (page.get_attribute(".control[data-name='pitch']", "class") or "")
        assert "moved" not in (
            page.get_attribute(".control[data-name='brightness']", "class") or ""
        )

        # compare switches between the last two slots used, byte for byte
        assert page.inner_text("#snapshot-compare") == "⇄ 2 ↔ 1"
        for expected in (moved, stored, moved):
            before = screen.src()
            page.click("#snapshot-compare")
            screen.wait_new_audio(before)
            assert screen.audio_bytes() == expected
        # undo steps back through what was shown
        before = screen.src()
        page.keyboard.press("Control+z")
        screen.wait_new_audio(before)
        assert screen.audio_bytes() == stored
        assert page.locator("[data-snapshot].filled").count() == 2
        page.screenshot(path=str(artifacts / "screen_snapshots.png"))
        assert_no_errors(screen)
    finally:
        screen.close()


def test_names_are_whole_and_messages_stand_next_to_their_control(
    browser, demo_server: str, artifacts: Path
) -> None:
    screen = Screen(browser, demo_server, 1280, 720)
    page = screen.page
    try:
        sounds = screen.pickable(4)
        names = page.evaluate("window.studio.state.sounds")
        # the plane refuses with its message in the plane panel, gone once it renders
        screen.load_point(sounds[0])
        page.click("[data-set-corner='0']")
        page.locator("#plane").click()
        message = page.locator("[data-message='plane']")
        assert message.is_visible() and "3 empty" in message.inner_text()
        for corner, index in enumerate(sounds[1:], start=1):
            screen.load_point(index)
            page.click(f"[data-set-corner='{corner}']")
        screen.idle()
        page.wait_for_selector("[data-message='plane']", state="hidden")
        # corner names: the whole file name (no suffix), the full path as tooltip
        for corner, index in enumerate(sounds):
            label = page.locator(f".corner-slot[data-corner='{corner}'] .slot-label")
            stem = names[index].split("/")[-1].rsplit(".", 1)[0]
            assert label.inner_text() == stem and label.get_attribute("title") == names[index]
            assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{stem} is cut"
        # a refused value: the server's reason under the pitch slider, and in the status bar
        page.fill("[data-readout='pitch']", "1e12")
        page.press("[data-readout='pitch']", "Enter")
        page.wait_for_selector(".control[data-name='pitch'] .note .error")
        under = page.inner_text(".control[data-name='pitch'] .note .error")
        assert "less than or equal" in under  # the server's reason, without "set.pitch:"
        assert page.inner_text("#status").startswith("set.pitch: ")
        page.fill("[data-readout='attack']", "soon")
        page.press("[data-readout='attack']", "Enter")
        assert "attack" in page.inner_text(".control[data-name='attack'] .note .error")
        page.screenshot(path=str(artifacts / "screen_messages.png"))
        # resolved: a pitch that renders clears the pitch message; attack's waits for its box
        before = screen.src()
        page.fill("[data-readout='pitch']", "220")
        page.press("[data-readout='pitch']", "Enter")
        screen.wait_new_audio(before)
        assert page.locator(".control[data-name='pitch'] .note .error").count() == 0
        assert page.locator(".control[data-name='attack'] .note .error").count() == 1
        before = screen.src()
        page.fill("[data-readout='attack']", "5 ms")
        page.press("[data-readout='attack']", "Enter")
        screen.wait_new_audio(before)
        assert page.locator(".control[data-name='attack'] .note .error").count() == 0
        assert "error" not in (page.get_attribute("#status", "class") or "")
        assert_no_errors(screen, allow_http=True)  # the browser logs the 422
    finally:
        screen.close()


def test_packs_wear_the_palette_of_the_map_and_plot(browser, demo_server: str) -> None:
    from timbrespace.plots import PACK_PALETTE

    screen = Screen(browser, demo_server, 1440, 900)
    page = screen.page
    try:
        packs = page.evaluate("window.studio.state.info.packs")
        to_hex = """e => '#' + getComputedStyle(e).backgroundColor.match(/\\d+/g).slice(0, 3)
            .map(v => Number(v).toString(16).padStart(2, '0')).join('')"""
        legend = page.eval_on_selector_all("#map-legend .sw", f"l => l.map({to_hex})")
        tree = {
            name: page.eval_on_selector(f"#packs details[data-path='{name}'] > summary .sw", to_hex)
            for name in packs
        }
        expected = [PACK_PALETTE[i % len(PACK_PALETTE)] for i in range(len(packs))]
        assert legend == expected
        assert [tree[name] for name in packs] == expected
        page.click("#controls details.advanced > summary")
        sliders = [
            page.eval_on_selector(f".control[data-name='pack:{name}'] .name .sw", to_hex)
            for name in packs
        ]
        assert sliders == expected
        page.click("#controls details.advanced > summary")  # leave it as found
        assert_no_errors(screen)
    finally:
        screen.close()
