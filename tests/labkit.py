"""Helpers for real-cluster tests: run the CLI, wait on conditions with deadlines, check cleanup."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from quorumwatch.lab import manager, net
from quorumwatch.lab.manager import LabState
from quorumwatch.lab.system import alive, sh
from quorumwatch.store import HistoryFile

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
    # a child a server spawned (PostgreSQL under Patroni) names the lab's folder in its argv
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if state.dir in argv:
                    left.append(f"pid {proc.name} ({argv[:80]})")
    return left


@contextlib.contextmanager
def lab_cluster(
    kind: str, nodes: int = 3, tag: str = "", extra: tuple[str, ...] = ()
) -> Iterator[tuple[LabState, Path]]:
    """A real lab cluster for the duration of a test (module); always torn down, leaving nothing."""
    name = f"t{kind[:2].replace('-', '')}{tag}{os.getpid() % 1000}"
    state = None
    try:
        up = qw("lab", "up", kind, "--name", name, "--nodes", str(nodes), *extra)
        assert up.returncode == 0, up.stderr
        cluster_file = Path(up.stdout.strip().splitlines()[-1])
        state = manager.find_lab(name)
        yield state, cluster_file
    finally:
        down = qw("lab", "down", name)
        assert down.returncode == 0, down.stderr
        if state is not None:
            assert leftovers(state) == []


class LabPool:
    """Real lab clusters shared across tests: one per kind and options, started when a test first
    asks for it, torn down (and checked gone) after its last user or when the session ends, on
    failure too. Only for tests that leave a lab as they found it: faults healed, every node
    running (an experiment's heal and steady state see to that; each test checks its own faults
    are gone, and the next user checks again before it is handed the lab)."""

    def __init__(self) -> None:
        self._labs: dict[tuple[str, int, tuple[str, ...]], tuple[contextlib.ExitStack, str, Path]] = {}
        self._made = 0

    @staticmethod
    def key(kind: str, nodes: int = 3, extra: tuple[str, ...] = ()) -> tuple[str, int, tuple[str, ...]]:
        return kind, nodes, tuple(extra)

    def get(self, kind: str, nodes: int = 3, extra: tuple[str, ...] = ()) -> tuple[LabState, Path]:
        key = self.key(kind, nodes, extra)
        if key not in self._labs:
            stack = contextlib.ExitStack()
            state, cluster_file = stack.enter_context(lab_cluster(kind, nodes, f"s{self._made}", extra))
            self._made += 1
            self._labs[key] = (stack, state.name, cluster_file)
        _, name, cluster_file = self._labs[key]
        state = manager.find_lab(name)  # as it is now: a restarted node has a new pid
        # what an earlier test left would be this one's finding: refuse to hand it over
        assert links_down(state) == [] and chains_left(state) == [], f"shared lab {name} was left faulted"
        gone = [n.name for n in state.nodes if n.pid is not None and not alive(n.pid, n.start_time)]
        assert not gone, f"shared lab {name}: {', '.join(gone)} not running"
        return state, cluster_file

    def release(self, kind: str, nodes: int = 3, extra: tuple[str, ...] = ()) -> None:
        held = self._labs.pop(self.key(kind, nodes, extra), None)
        if held is not None:
            held[0].close()

    def close(self) -> None:
        while self._labs:
            _, (stack, _, _) = self._labs.popitem()
            stack.close()


def events_of(run: Path, kind: str) -> list[Any]:
    """Events of a kind recorded so far in a run's history (the run may still be writing)."""
    db = run / "history.sqlite"
    if not db.exists():
        return []
    try:
        h = HistoryFile.open(db)
    except Exception:
        return []
    try:
        return [e for e in h.events() if e.kind == kind]
    finally:
        h.close()


def chains_left(state: LabState) -> list[str]:
    """quorumwatch iptables chains still present in any node namespace of the lab."""
    left = []
    for n in state.nodes:
        out = sh(["ip", "netns", "exec", n.netns, "iptables", "-w", "-S"], check=False).stdout
        left += [f"{n.name}: {line}" for line in out.splitlines() if "quorumwatch" in line]
    return left


def links_down(state: LabState) -> list[str]:
    down = []
    for n in state.nodes:
        out = sh(["ip", "-n", n.netns, "-o", "link", "show", "dev", "eth0"], check=False).stdout
        if "state DOWN" in out or ",UP" not in out:
            down.append(n.name)
    return down


def tcp_reachable(netns: str, ip: str, port: int, timeout: float = 1.0) -> bool:
    """Can a process in netns open a TCP connection to ip:port? (the lab's data network)"""
    code = (
        "import socket,sys\n"
        f"s=socket.socket(); s.settimeout({timeout})\n"
        f"sys.exit(0 if s.connect_ex(({ip!r}, {port})) == 0 else 1)\n"
    )
    r = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", code],
        capture_output=True,
        timeout=timeout + 10,
        check=False,
    )
    return r.returncode == 0


@contextlib.contextmanager
def sshd_in(netns: str, listen_ip: str, workdir: Path, port: int = 2222) -> Iterator[dict[str, Any]]:
    """A real OpenSSH server inside a lab namespace, with its own host key and one authorized
    client key; yields the control spec for a cluster file. Killed by pid afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    for name in ("hostkey", "clientkey"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / name)], check=True)
    (workdir / "authorized_keys").write_text((workdir / "clientkey.pub").read_text())
    host_pub = (workdir / "hostkey.pub").read_text().split()
    (workdir / "known_hosts").write_text(f"[{listen_ip}]:{port} {host_pub[0]} {host_pub[1]}\n")
    (workdir / "sshd_config").write_text(
        f"Port {port}\nListenAddress {listen_ip}\nHostKey {workdir / 'hostkey'}\n"
        f"PidFile {workdir / 'sshd.pid'}\nAuthorizedKeysFile {workdir / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "UsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    with open(workdir / "sshd.log", "wb") as log:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "/usr/sbin/sshd", "-D", "-e", "-f", str(workdir / "sshd_config")],
            stderr=log,
        )
    try:
        wait_for("sshd to listen", lambda: tcp_reachable(netns, listen_ip, port, 0.5), 20)
        yield {
            "ssh": {
                "host": listen_ip,
                "port": port,
                "user": "root",
                "key": str(workdir / "clientkey"),
                "known_hosts": str(workdir / "known_hosts"),
            }
        }
    finally:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class OneTrial:
    """A finished one-trial run of an example scenario, read back from its history."""

    result: subprocess.CompletedProcess[str]
    run: Path
    old: str
    ticks: list[Any]
    during: list[Any]
    """Ticks between inject and heal."""


def run_example(
    example: Path, cluster_file: Path, run: Path, *, timeout: float = 300, codes: tuple[int, ...] = (0, 3, 5)
) -> OneTrial:
    r = qw(
        "run",
        str(example),
        "--cluster",
        str(cluster_file),
        "--trials",
        "1",
        "--run-dir",
        str(run),
        timeout=timeout,
    )
    assert r.returncode in codes, r.stderr
    inject, heal = events_of(run, "fault.inject")[0], events_of(run, "fault.heal")[0]
    h = HistoryFile.open(run / "history.sqlite")
    try:
        ticks = list(h.ticks())
    finally:
        h.close()
    during = [t for t in ticks if inject.mono_ns < t.started_ns < heal.mono_ns]
    return OneTrial(r, run, inject.data["nodes"][0], ticks, during)
