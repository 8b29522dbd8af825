"""Progress shows on a terminal only: under a pseudo-terminal `logs` draws its bar on stderr; piped,
stderr carries no bar and no escape codes."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.test_cli import QW

ETCD = Path(__file__).resolve().parent / "fixtures" / "logs" / "etcd"


def _args() -> list[str]:
    return ["logs", *(f"{n}={ETCD / n / f'{n}.log'}" for n in ("n1", "n2", "n3"))]


def test_logs_progress_on_a_terminal() -> None:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([*QW, *_args()], stdout=subprocess.PIPE, stderr=follower, text=True)
        os.close(follower)
        seen = b""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # the terminal closed: the process is done with it
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
        out, _ = proc.communicate(timeout=60)
    finally:
        os.close(leader)
    assert proc.returncode == 3 and "verdict: dual_leader" in out
    assert b"scanning logs" in seen and b"\x1b[" in seen  # the bar, drawn with escape codes


def test_logs_piped_has_no_progress() -> None:
    r = subprocess.run([*QW, *_args()], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 3 and "scanning logs" not in r.stderr and "\x1b[" not in r.stderr
