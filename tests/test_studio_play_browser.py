"""The play panel in a real browser (Playwright driving Debian's chromium, as
`test_studio_browser`) on the tiny demo one-shot model: a computer key plays the current sound at
its note (pyin on the WAV the page received, within 25 cents) and a cached note starts within
30 ms of the key (measured in the page: key event → the Web Audio start call); pads filled from
the current sound play a clicked 16-step pattern on the audio clock at the grid's times, export
it as a loop whose rows' onsets fall within 5 ms of the grid, and write a kit of one WAV per pad;
the pack form writes 16 valid, distinct, non-silent files at the rate chosen with their CSV; no
console errors. Screenshots at 1280×720 and 1440×900 go where `test_studio_browser` puts its."""

from __future__ import annotations

import csv
import io
import json
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from timbrespace.studio.pads import step_times
from timbrespace.studio.service import Studio

from .browsers import TIMEOUT_MS, serve
from .test_studio_pads import clean_decay, f0_midi, placed_hits, wav

pytestmark = pytest.mark.slow

CENTS = 25.0
LATENCY_MS = 30.0
ONSET_MS = 5.0
RATE = 44100
PATTERN = {  # pad → steps on: quarter notes, off-beat eighths, odd (swung) sixteenths
    0: [0, 4, 8, 12],
    1: [2, 6, 10, 14],
    2: [3, 7, 11, 15],
}
SWING = 62.0


@pytest.fixture(scope="module")
def run(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo run: its bundle's export folder is this module's own."""
    copy = tmp_path_factory.mktemp("play_browser") / "run"
    shutil.copytree(demo_run, copy)
    return copy


@pytest.fixture(scope="module")
def server(run: Path) -> Iterator[str]:
    yield from serve(Studio.open(run / "bundle"))


@pytest.fixture(scope="module")
def exports(run: Path) -> Path:
    return run / "bundle" / "exports"


class PlayPage:
    """A booted studio page at a viewport size, its console errors collected."""

    def __init__(self, chromium, url: str, width: int = 1280, height: int = 720) -> None:
        self.context = chromium.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']")
        self.idle()
        self.page.uncheck("#autoplay")

    def capture(self, pattern: str) -> list[tuple[dict, bytes, dict]]:
        """Every answer to requests matching `pattern` from now on, as the page receives it:
        (the JSON sent, the bytes answered, the headers) — fetched and fulfilled by Playwright
        (its `response.body()` comes back empty for a body the page has read)."""
        answers: list[tuple[dict, bytes, dict]] = []

        def handle(route) -> None:
            response = route.fetch()
            body = response.body()
            answers.append((json.loads(route.request.post_data or "null"), body, response.headers))
            route.fulfill(response=response, body=body)

        self.page.route(pattern, handle)
        return answers

    def idle(self) -> None:
        self.page.wait_for_selector("body[data-busy='0']", state="attached")

    def load(self, sound: str) -> None:
        """Load dataset sound `sound` (its pack-tree button) and wait for its render."""
        index = self.page.evaluate("s => window.studio.state.sounds.indexOf(s)", sound)
        assert index >= 0, sound
        self.page.eval_on_selector(f"#packs button[data-sound='{index}']", "b => b.click()")
        self.page.wait_for_function(
            "s => (window.studio.state.current?.label ?? '').startsWith(s)", arg=sound
        )
        self.idle()

    def close(self) -> None:
        self.context.close()


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url) as answer:
        return json.load(answer)


def post(url: str, body: dict) -> bytes:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as answer:
        return answer.read()


def pitched_sound(server: str) -> str:
    """A pluck of the demo pack that the closed loop moves over the keys tested (not a bell:
    see `test_studio_pads.pitched`)."""
    sounds = get_json(f"{server}/api/map")["sounds"]
    for index, sound in enumerate(sounds):
        if sound.split("/")[0] != "plucks":
            continue
        request = urllib.request.Request(
            f"{server}/api/render",
            json.dumps({"start": {"index": index}}).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            state = answer.headers["X-State"]
        good = True
        for pitch in (55, 60):
            request = urllib.request.Request(
                f"{server}/api/keys/note",
                json.dumps({"state": state, "pitch": pitch}).encode(),
                {"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request) as answer:
                note = json.loads(answer.headers["X-Note"])
            good &= note["cents"] is not None and abs(note["cents"]) < 15
        if good:
            return sound
    raise AssertionError("no pitched sound reaches the keys")


def clean_sounds(server: str, count: int) -> list[str]:
    """`count` dataset sounds whose render has one clean onset (`clean_decay`), fastest decay
    first."""
    info = get_json(f"{server}/api/info")
    found = []
    for index, sound in enumerate(get_json(f"{server}/api/map")["sounds"]):
        audio = wav(post(f"{server}/api/render", {"start": {"index": index}}))
        decay = clean_decay(audio, info["sample_rate"])
        if decay is not None:
            found.append((decay, sound))
    assert len(found) >= count
    return [sound for _, sound in sorted(found)[:count]]


def assert_no_errors(page: PlayPage) -> None:
    assert page.errors == [], page.errors
    assert "error" not in (page.page.get_attribute("#status", "class") or "")


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1440, 900)])
def test_the_play_panel_fits_and_nothing_overlaps(
    browser,
    server: str,
    artifacts: Path,
    width: int,
    height: int,
) -> None:
    page = PlayPage(browser, server, width, height)
    try:
        p = page.page
        assert p.is_visible("#keys-keyboard") and p.locator("#keys-keyboard .key").count() == 13
        assert p.locator(".pad").count() == 16
        panel = p.locator("#play-panel").bounding_box()
        assert panel["width"] <= width
        boxes = p.evaluate(
            """() => [...document.querySelectorAll('#play-panel .play-part:not([hidden])')]
                 .map(e => ({id: e.id, r: e.getBoundingClientRect().toJSON(),
                             over: e.scrollWidth - e.clientWidth}))"""
        )
        for box in boxes:  # inside the panel, nothing wider than its part
            assert (
                box["r"]["left"] >= panel["x"] - 1
                and box["r"]["right"] <= panel["x"] + panel["width"] + 1
            )
            assert box["over"] <= 1, box
        for i, a in enumerate(boxes):  # the parts do not overlap one another
            for b in boxes[i + 1 :]:
                ra, rb = a["r"], b["r"]
                apart = (
                    ra["right"] <= rb["left"] + 1
                    or rb["right"] <= ra["left"] + 1
                    or ra["bottom"] <= rb["top"] + 1
                    or rb["bottom"] <= ra["top"] + 1
                )
                assert apart, (a["id"], b["id"])
        # Web MIDI: granted, refused or absent, the page says so and raises no error
        if p.is_enabled("#midi-toggle"):
            p.click("#midi-toggle")
            p.wait_for_function("() => document.getElementById('midi-status').textContent !== ''")
        p.locator("#play-panel").scroll_into_view_if_needed()
        p.screenshot(path=str(artifacts / f"studio_play_{width}.png"))
        p.locator("#play-panel").screenshot(path=str(artifacts / f"studio_play_panel_{width}.png"))
        assert_no_errors(page)
    finally:
        page.close()


def test_a_key_plays_the_sound_at_its_note_and_a_cached_one_at_once(
    browser,
    server: str,
) -> None:
    page = PlayPage(browser, server, 1440, 900)
    try:
        p = page.page
        page.load(pitched_sound(server))
        rate = p.evaluate("window.studio.state.info.sample_rate")
        base = int(p.get_attribute("#keys-keyboard .key", "data-pitch"))
        answers = page.capture("**/api/keys/note")
        errors = {}
        for letter, offset in (("g", 7), ("k", 12)):  # G and the C above the keyboard's C
            p.locator("#map").focus()
            p.keyboard.press(letter)
            p.wait_for_function(
                "n => window.studioPlay.keys.latencies().length >= n", arg=len(errors) + 1
            )
            sent, body, _ = next(a for a in answers if a[0]["pitch"] == base + offset)
            audio = wav(body, rate)
            errors[sent["pitch"]] = 100 * (f0_midi(audio, rate) - sent["pitch"])
            page.idle()
        print("page key f0 error (cents, pyin):", {k: round(v, 1) for k, v in errors.items()})
        assert all(abs(e) <= CENTS for e in errors.values()), errors
        # again, from the page's cache: no request, and it starts at once
        requests: list[str] = []
        p.on("request", lambda r: "/api/keys/note" in r.url and requests.append(r.url))
        before = len(p.evaluate("window.studioPlay.keys.latencies()"))
        for _ in range(8):
            p.keyboard.press("g")
            p.keyboard.press("k")
        p.wait_for_function("n => window.studioPlay.keys.latencies().length >= n", arg=before + 16)
        cached = p.evaluate("window.studioPlay.keys.latencies()")[before:]
        assert all(note["cached"] for note in cached) and requests == []
        ms = sorted(note["ms"] for note in cached)
        audio_path = p.evaluate(
            "() => ({base: window.studio.player.ctx.baseLatency ?? null,"
            " output: window.studio.player.ctx.outputLatency ?? null})"
        )
        print(
            f"cached key → play call: median {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms; "
            f"first (rendered) {p.evaluate('window.studioPlay.keys.latencies()')[0]['ms']:.1f} ms;"
            f" audio context latency {audio_path}"
        )
        assert ms[-1] <= LATENCY_MS, ms
        assert "cached" in p.inner_text("#keys-played")
        assert_no_errors(page)
    finally:
        page.close()


def test_pads_play_a_pattern_on_the_grid_export_it_and_write_a_kit(
    browser,
    server: str,
    exports: Path,
    artifacts: Path,
) -> None:
    page = PlayPage(browser, server, 1440, 900)
    try:
        p = page.page
        for pad, sound in enumerate(clean_sounds(server, 3)):
            page.load(sound)
            p.click(f".pad[data-pad='{pad}'] .pad-set")
            p.wait_for_function(
                "i => document.querySelector(`.pad[data-pad='${i}']`).classList.contains('filled')",
                arg=pad,
            )
        page.idle()
        assert p.locator(".seq-row").count() == 3
        for pad, steps in PATTERN.items():
            for step in steps:
                p.click(f".seq-row[data-pad='{pad}'] .step[data-step='{step}']")
        p.eval_on_selector(
            "#seq-swing",
            "(e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }",
            SWING,
        )
        p.uncheck("#seq-loop")  # once, and exported ringing out
        # played on the audio clock, at the grid's times
        p.click("#seq-play")
        p.wait_for_function(
            "() => document.getElementById('seq-play').textContent.includes('Play')"
        )
        played = p.evaluate("window.studioPlay.sequencer.scheduled()")
        grid = step_times(120, SWING)
        expected = sorted((float(grid[k]), pad) for pad, steps in PATTERN.items() for k in steps)
        got = sorted((hit["time"], hit["pad"]) for hit in played)
        assert [pad for _, pad in got] == [pad for _, pad in expected]
        assert np.allclose([t for t, _ in got], [t for t, _ in expected], atol=1e-6)
        p.locator("#map").focus()
        p.keyboard.press("2")  # pads 1 … 8 from the keys
        assert "hit" in (p.get_attribute(".pad[data-pad='1']", "class") or "")
        # the loop: the pattern as clicked, the sum of its rows, each row's onsets on the grid
        loops = page.capture("**/api/pads/loop")
        p.click("#loop-export")
        p.wait_for_selector("#loop-download:not([hidden])")
        body, content, headers = loops[0]
        rows = {row["pad"]: [k for k, v in enumerate(row["steps"]) if v] for row in body["rows"]}
        assert rows == PATTERN and body["swing"] == SWING and body["wrap"] is False
        whole = wav(content, RATE)
        worst = 0.0
        parts = []
        for row in body["rows"]:
            part = wav(post(f"{server}/api/pads/loop", {**body, "rows": [row]}), RATE)
            alone = {"pad": row["pad"], "steps": [127] + [0] * (len(row["steps"]) - 1)}
            hit = wav(post(f"{server}/api/pads/loop", {**body, "rows": [alone]}), RATE)
            hits = grid[[k for k, v in enumerate(row["steps"]) if v]]
            onsets = placed_hits(part, hit[: RATE // 2], hits, RATE)
            worst = max(worst, float(np.abs(onsets - hits).max() * 1000))
            parts.append(np.pad(part, (0, len(whole) - len(part))))
        print(f"page loop: worst onset {worst:.2f} ms from the grid (swing {SWING} %)")
        assert worst <= ONSET_MS
        scale = json.loads(headers.get("x-warnings", "[]"))
        if not scale:  # not scaled to 0 dBFS: exactly the sum of the rows
            assert np.abs(whole - sum(parts)).max() < 1e-3
        # the kit: one valid WAV per filled pad, and the loop
        p.fill("#kit-name", "drums")
        with p.expect_response("**/api/pads/kit") as answer:
            p.click("#kit-write")
        made = answer.value.json()
        assert [f["pad"] for f in made["files"]] == [0, 1, 2]
        for file in [*made["files"], made["loop"]]:
            info = sf.info(str(exports / file["path"]))
            assert info.samplerate == RATE and info.subtype == "PCM_24" and info.frames > 0
        assert p.locator("#kit-files a").count() == 4
        # a snapshot onto pad 4 (the snapshot slots' own hook), then the pads survive a reload
        snap = p.evaluate(
            "() => { window.studio.snapshots.store(0); return window.studio.state.current.state; }"
        )
        p.focus("#pads-source")
        p.select_option("#pads-source", "0")
        p.click(".pad[data-pad='3'] .pad-set")
        p.wait_for_function("s => window.studioPlay.pads.list[3]?.state === s", arg=snap)
        labels = p.eval_on_selector_all(".pad.filled .pad-label", "e => e.map(x => x.textContent)")
        p.reload()
        p.wait_for_selector("body[data-ready='1']")
        p.wait_for_function("() => document.querySelectorAll('.pad.filled').length === 4")
        again = p.eval_on_selector_all(".pad.filled .pad-label", "e => e.map(x => x.textContent)")
        assert again == labels and p.locator(".seq-row").count() == 4
        p.locator("#play-panel").scroll_into_view_if_needed()
        p.locator("#play-panel").screenshot(path=str(artifacts / "studio_play_pads.png"))
        assert_no_errors(page)
    finally:
        page.close()


def test_the_pack_form_writes_16_distinct_files_and_they_drag_out(
    browser,
    server: str,
    exports: Path,
    artifacts: Path,
) -> None:
    page = PlayPage(browser, server, 1280, 720)
    try:
        p = page.page
        page.load("plucks/nylon/pluck_0004.wav")
        p.select_option("#pack-mode", "around")
        p.fill("#pack-n", "16")
        p.select_option("#play-rate", "48000")
        assert p.inner_text("#pack-count") == "16 sounds"
        with p.expect_response("**/api/pack") as answer:
            p.click("#pack-generate")
        made = answer.value.json()
        folder = exports / made["folder"]
        files = sorted(folder.glob("*.wav"))
        assert len(files) == 16 and made["folder"].startswith("packs/pluck_0004_around")
        sounds = set()
        for file in files:
            audio, rate = sf.read(str(file), dtype="float32")
            assert rate == 48000 and np.isfinite(audio).all() and np.abs(audio).max() > 0.01
            sounds.add(np.round(audio, 4).tobytes())
        assert len(sounds) == 16
        with open(folder / "pack.csv", newline="") as handle:
            assert len(list(csv.DictReader(handle))) == 16
        p.wait_for_selector("#pack-files li")
        assert p.locator("#pack-files li").count() == 17  # 16 sounds and pack.csv
        dragged = p.evaluate(
            """() => {
                const link = document.querySelector('#pack-files a');
                const data = new DataTransfer();
                link.dispatchEvent(new DragEvent('dragstart', {dataTransfer: data, bubbles: true}));
                return data.getData('DownloadURL');
            }"""
        )
        media, name, url = dragged.split(":", 2)
        assert media == "audio/wav" and name == files[0].name and url.startswith("http://")
        with urllib.request.urlopen(url) as answer:
            assert sf.info(io.BytesIO(answer.read())).samplerate == 48000
        # the same name again: refused, said next to the form, nothing rewritten
        p.fill("#pack-name", made["folder"].split("/")[1])
        p.click("#pack-generate")
        p.wait_for_selector("[data-message='pack']:not([hidden])")
        assert "overwrite" in p.inner_text("[data-message='pack']")
        p.locator("#pack-part").scroll_into_view_if_needed()
        p.locator("#play-panel").screenshot(path=str(artifacts / "studio_play_pack.png"))
        assert [e for e in page.errors if "Failed to load resource" not in e] == []
    finally:
        page.close()
