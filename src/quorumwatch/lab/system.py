"""Running system commands for the lab: argv lists only, failures as one printable line."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time


class LabError(Exception):
    """A lab operation failed; the message is printable as is."""


def sh(argv: list[str], *, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise LabError(f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"timed out after {timeout:g} s: {' '.join(argv)}") from None
    if check and done.returncode != 0:
        err = (done.stderr or done.stdout).strip().splitlines()
        raise LabError(f"'{' '.join(argv)}' failed (exit {done.returncode}): {err[-1] if err else ''}")
    return done


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError(
            "the lab needs root (it creates network namespaces); run as root, or watch a cluster "
            "of your own with a cluster file"
        )


APT_HINT = {
    "ip": "iproute2",
    "iptables": "iptables",
    "etcd": "etcd-server",
    "etcdctl": "etcd-client",
    "java": "default-jre-headless",
    "redis-server": "redis-server",
    "redis-sentinel": "redis-sentinel",
    "redis-cli": "redis-tools",
    "openssl": "openssl",
    "patroni": "patroni",
    "setpriv": "util-linux",
}


def require_programs(names: list[str], files: dict[str, str] | None = None) -> None:
    """Fail with the apt packages to install when a program (or a file, e.g. a jar) is missing."""
    missing = [n for n in names if shutil.which(n) is None]
    packages = sorted({APT_HINT.get(n, n) for n in missing})
    for path, package in (files or {}).items():
        if not os.path.exists(path):
            missing.append(path)
            packages.append(package)
    if missing:
        apt = " ".join(sorted(set(packages)))
        raise LabError(f"missing {', '.join(missing)}: install with 'apt-get install -y {apt}'")


def proc_start_time(pid: int) -> int | None:
    """The kernel's start time of a pid (field 22 of /proc/PID/stat), to tell a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (IndexError, ValueError):
        return None


def alive(pid: int, start_time: int | None = None) -> bool:
    now = proc_start_time(pid)
    if now is None:
        return False
    if _is_zombie(pid):
        return False
    return start_time is None or now == start_time


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def kill_pid(pid: int, start_time: int | None = None, timeout: float = 10) -> bool:
    """SIGKILL one pid (only if it is still the process we started) and wait until it is gone."""
    if not alive(pid, start_time):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if it is our child; otherwise wait for it to vanish
        if not alive(pid):
            return True
        time.sleep(0.02)
    raise LabError(f"pid {pid} did not exit within {timeout:g} s of SIGKILL")
