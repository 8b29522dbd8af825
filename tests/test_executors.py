"""Executors against real systems: local and netns commands, and a real OpenSSH server in a lab
namespace (host keys checked, key auth, dead-man timer that outlives the controller)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from quorumwatch.config import SshTarget
from quorumwatch.executors import LocalExecutor, SshExecutor
from quorumwatch.lab.manager import LabState
from tests.labkit import QW, lab_cluster, links_down, qw, sshd_in, wait_for


def test_local_executor_runs_argv_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "x; touch pwned"
    done = asyncio.run(
        LocalExecutor().run([sys.executable, "-c", "import sys; print(sys.argv[1])", str(marker)])
    )
    assert done.returncode == 0 and done.stdout.decode().strip() == str(marker)
    assert not (tmp_path / "pwned").exists()


@pytest.fixture(scope="module")
def etcd_ssh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabState, Path, dict[str, Any]]]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with lab_cluster("etcd", 3, "s") as (state, cluster_file):
        n2 = state.nodes[1]
        with sshd_in(n2.netns, n2.mgmt_ip, tmp_path_factory.mktemp("sshd")) as control:
            yield state, cluster_file, control


@pytest.mark.lab
def test_ssh_runs_commands_on_the_node_and_checks_host_keys(
    etcd_ssh: tuple[LabState, Path, dict[str, Any]], tmp_path: Path
) -> None:
    _, _, control = etcd_ssh
    target = SshTarget.model_validate(control["ssh"])

    async def run(t: SshTarget, argv: list[str]) -> Any:
        ex = SshExecutor(t)
        try:
            return await ex.run(argv)
        finally:
            await ex.aclose()

    done = asyncio.run(run(target, ["ip", "-o", "addr", "show", "dev", "mgmt0"]))
    assert done.returncode == 0 and control["ssh"]["host"] in done.stdout.decode()
    odd = asyncio.run(run(target, ["sh", "-c", 'printf "%s|" "$@"', "x", "a b", "$(id)"]))
    assert odd.stdout.decode() == "a b|$(id)|"  # each argument arrives whole, nothing is expanded

    wrong = tmp_path / "known_hosts"
    other_key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    wrong.write_text(f"[{target.host}]:{target.port} ssh-ed25519 {other_key}\n")
    with pytest.raises(ConnectionError, match="HostKeyNotVerifiable"):
        asyncio.run(run(target.model_copy(update={"known_hosts": str(wrong)}), ["true"]))


@pytest.mark.lab
def test_link_cut_over_ssh_comes_back_by_itself_when_quorumwatch_dies(
    etcd_ssh: tuple[LabState, Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUORUMWATCH_STATE", str(tmp_path / "state"))
    state, cluster_file, control = etcd_ssh
    cluster = yaml.safe_load(cluster_file.read_text())
    cluster["nodes"][1]["control"] = control
    (tmp_path / "cluster.yaml").write_text(yaml.safe_dump(cluster))
    (tmp_path / "s.yaml").write_text(
        "steady_state: {for: 0.5, within: 30}\n"
        "faults: [{kind: link, target: n2, after: 0.2, hold: 3, deadman_margin: 2}]\n"
    )
    proc = subprocess.Popen(
        [
            *QW,
            "run",
            str(tmp_path / "s.yaml"),
            "--cluster",
            str(tmp_path / "cluster.yaml"),
            "--run-dir",
            str(tmp_path / "run"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for("n2's link to go down over ssh", lambda: links_down(state) == ["n2"], 60)
        cut = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)  # quorumwatch dies mid-hold: nobody will heal
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    wait_for("the dead-man timer to bring the link back", lambda: links_down(state) == [], 30)
    assert time.monotonic() - cut < 20
    assert qw("heal", str(tmp_path / "run")).returncode == 0  # replaying the (idempotent) heal is harmless
