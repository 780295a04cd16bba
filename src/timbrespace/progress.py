"""Progress display for long CLI jobs (rich), silent when output is not a terminal or in CI."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def progress_bar(
    description: str, *, enabled: bool | None = None
) -> Iterator[Callable[[int, int, str], None]]:
    """Yield `update(done, total, label)`; shows a rich progress bar on a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    if not enabled:
        yield lambda done, total, label: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[label]}", style="dim"),
        transient=False,
    ) as progress:
        task = progress.add_task(description, total=None, label="")

        def update(done: int, total: int, label: str) -> None:
            progress.update(task, completed=done, total=total, label=label[-50:])

        yield update
