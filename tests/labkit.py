"""Helpers for real-cluster tests: run the CLI, wait on conditions with deadlines, check cleanup."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from quorumwatch.lab import net
from quorumwatch.lab.manager import LabState
from quorumwatch.lab.system import alive, sh

QW = [sys.executable, "-m", "quorumwatch"]
T = TypeVar("T")


def qw(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QW, *args], capture_output=True, text=True, timeout=timeout, check=False)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def leftovers(state: LabState) -> list[str]:
    """Everything of a lab still on the machine; empty when `lab down` did its job."""
    left = [f"namespace {ns}" for ns in net.namespaces() if ns.startswith(f"qw-{state.name}-")]
    left += [f"pid {n.pid}" for n in state.nodes if n.pid is not None and alive(n.pid, n.start_time)]
    if sh(["ip", "link", "show", "dev", state.host_if], check=False).returncode == 0:
        left.append(f"link {state.host_if}")
    routes = sh(["ip", "route", "show"]).stdout
    for subnet in (state.data_subnet, state.mgmt_subnet):
        if subnet in routes:
            left.append(f"route {subnet}")
    if Path(state.dir).exists():
        left.append(f"directory {state.dir}")
    return left
