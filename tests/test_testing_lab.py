"""A team's own pytest file, run with the package installed from the built wheel: `quorum_watch`
around a cut of the leader's link catches the zk-election `keep` double leader, passes on `stepdown`."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from quorumwatch.lab.manager import LabState
from tests.labkit import links_down

pytestmark = pytest.mark.lab

USER_TEST = """
import subprocess

from quorumwatch import Role

CLUSTER = {cluster!r}
NETNS = {netns!r}


def test_leader_link_cut(quorum_watch):
    with quorum_watch(CLUSTER, fail_on="dual-leader") as w:
        old = w.wait_leader(within=30)
        subprocess.run(["ip", "-n", NETNS[old], "link", "set", "eth0", "down"], check=True)
        try:
            # until another node leads, and ten ticks more
            other = lambda t: any(o.node != old and o.role is Role.LEADER for o in t.observations)
            w.wait_for(other, within=30)
            seen = w.ticks
            w.wait_for(lambda t: w.ticks >= seen + 10, within=10)
        finally:
            subprocess.run(["ip", "-n", NETNS[old], "link", "set", "eth0", "up"], check=True)
        w.wait_for(lambda t: t.agreed_leader is not None, within=60)
"""


@pytest.fixture(scope="module")
def with_pytest(installed: Path) -> Path:
    """The wheel's clean venv plus pytest, as in a team's own test environment."""
    subprocess.run(
        [str(installed / "bin" / "pip"), "install", "-q", "pytest"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return installed


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(p, marks=pytest.mark.shared_lab("zk-election", 3, ("--on-suspend", p)))
        for p in ("keep", "stepdown")
    ],
)
def test_users_block_catches_the_stale_leader(
    shared_lab: tuple[LabState, Path], policy: str, with_pytest: Path, tmp_path: Path
) -> None:
    state, cluster_file = shared_lab
    netns = {n.name: n.netns for n in state.nodes if n.name in state.cluster_nodes}
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(USER_TEST.format(cluster=str(cluster_file), netns=netns))
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    r = subprocess.run(
        [str(with_pytest / "bin" / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "test_user.py"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env, check=False,
    )  # fmt: skip
    assert links_down(state) == []
    if policy == "keep":
        assert r.returncode == 1, r.stdout + r.stderr
        assert "QuorumWatchFailure" in r.stdout and "two leaders at once, proven" in r.stdout
        kept = [
            line.split("run kept: ", 1)[1].split()[0]
            for line in r.stdout.splitlines()
            if "run kept: " in line
        ]
        assert kept and Path(kept[0]).is_dir() and (Path(kept[0]) / "results.json").is_file()
    else:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 passed" in r.stdout
