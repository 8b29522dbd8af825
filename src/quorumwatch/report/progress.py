"""Progress on long work (GB-scale log scans, lab start-up waits), shown on a terminal only: piped
or redirected output stays exactly the lines a script expects."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TextIO


@contextlib.contextmanager
def bytes_progress(
    description: str, stream: TextIO | None = None
) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich bar (bytes, speed, time left) on `stream` (stderr) when it is a terminal; None otherwise."""
    out = stream or sys.stderr
    if not out.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn(description),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=out), transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextlib.contextmanager
def status(text: str, stream: TextIO | None = None) -> Iterator[Callable[[str], None]]:
    """A spinner with `text` while the block runs, on a terminal; yields how to print a line above it
    (plain lines when not a terminal)."""
    out = stream or sys.stderr
    if not out.isatty():
        yield lambda line: print(line, file=out, flush=True)
        return
    from rich.console import Console

    console = Console(file=out, highlight=False)
    with console.status(text):
        yield lambda line: console.print(line, markup=False)


__all__ = ["bytes_progress", "status"]
