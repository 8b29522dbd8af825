"""The command line in this process (click's CliRunner), for tests whose subject is what a command
says and exits with: a new interpreter per call adds only its start-up (~0.4 s here) to them.

What still runs as a subprocess: signals, kill -9, the installed entry point, anything timed."""

from __future__ import annotations

import contextlib
import os
import subprocess
import traceback
from collections.abc import Iterator
from pathlib import Path

from click.testing import CliRunner

from quorumwatch.cli import EXIT_BUG, main


@contextlib.contextmanager
def _cwd(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def qw_in(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`quorumwatch ARGS` as `cli.entry` runs it (a bug: exit 70 with its traceback), returned as
    the subprocess tests read it."""
    with _cwd(cwd):
        r = CliRunner().invoke(main, list(args), catch_exceptions=True)
    code, stderr = r.exit_code, r.stderr
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        code = EXIT_BUG
        stderr += "".join(traceback.format_exception(r.exception))
    return subprocess.CompletedProcess(["quorumwatch", *args], code, r.stdout, stderr)
