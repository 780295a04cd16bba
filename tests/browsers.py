"""What the browser tests share: Debian's chromium under Playwright, and a studio served on
127.0.0.1 in a thread. The `browser` and `artifacts` fixtures built on them are in conftest."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 20_000


def sync_playwright_or_skip():  # noqa: ANN201 - playwright's context manager factory
    """`playwright.sync_api.sync_playwright`; skips without the package (fails in CI)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "python playwright is not installed (pip install playwright; no browser download)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return sync_playwright


def serve(studio) -> Iterator[str]:  # noqa: ANN001
    """Serve `studio` with uvicorn on 127.0.0.1 and a free port, in a thread: its URL."""
    import uvicorn

    from timbrespace.studio.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(studio), log_level="warning", lifespan="off")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()
