"""The zk-election and Redis labs under the shipped example scenarios: the stale-leader hazard
appears exactly when the participants keep leading while suspended; Sentinel fails over."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quorumwatch.lab.manager import LabState
from quorumwatch.model import Role
from tests.labkit import chains_left, lab_cluster, links_down, qw, run_example, wait_for
from tests.results_contract import read_results

pytestmark = pytest.mark.lab
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUMWATCH_STATE", str(tmp_path / "state"))


@pytest.mark.parametrize(
    "policy",
    [
        pytest.param(p, marks=pytest.mark.shared_lab("zk-election", 3, ("--on-suspend", p)))
        for p in ("keep", "stepdown")
    ],
)
def test_zk_election_leader_link_down(shared_lab: tuple[LabState, Path], policy: str, tmp_path: Path) -> None:
    state, cluster_file = shared_lab
    t = run_example(EXAMPLES / "zk-election-leader-link-down.yaml", cluster_file, tmp_path / "run")
    r, run = t.result, t.run
    doubles = sum(1 for tk in t.ticks if len(tk.leaders) > 1)
    results = read_results(run)
    verdict = results["verdict"]
    if policy == "keep":
        assert r.returncode == 3, r.stderr
        assert doubles >= 1
        assert verdict == "dual_leader"
        # the nodes' own logs show the same dual leader, and how late the probes saw each change
        logs = results["logs"]
        assert logs["verdict"] == "dual_leader"
        assert any(o["certain"] and o["kind"] == "dual_leader" for o in logs["overlaps"])
        lags = [d["lag_s"] for d in logs["detection_lags"] if d["lag_s"] is not None]
        assert lags and all(0 <= lag < 2 for lag in lags)
    else:
        assert r.returncode in (0, 5), r.stderr
        assert doubles == 0
        assert verdict in ("ok", "possible")
    assert "1 trials (1 back to steady state)" in r.stderr
    assert links_down(state) == [] and chains_left(state) == []
    log = (run / "logs" / t.old / "participant.INFO").read_text()
    assert log.startswith("Log file created at: ")
    glog = re.compile(r"^I\d{4} \d\d:\d\d:\d\d\.\d{6} +\d+ participant\.py:\d+\] ", re.M)
    assert glog.search(log)
    assert re.search(r"\[ROLE CHANGE\] I am the leader now\.  seq is \d+", log)
    assert "Start the leader role" in log
    assert "zookeeper session event: CONNECTED_STATE --> CONNECTING_STATE" in log
    assert "Stopping the services of meta" in log
    if policy == "keep":
        assert "--> EXPIRED_SESSION_STATE" in log


@pytest.mark.shared_lab("redis")
def test_redis_master_isolate_fails_over_to_a_replica(
    shared_lab: tuple[LabState, Path], tmp_path: Path
) -> None:
    state, cluster_file = shared_lab
    t = run_example(EXAMPLES / "redis-master-isolate.yaml", cluster_file, tmp_path / "run")
    promoted = {
        o.node for tk in t.during for o in tk.observations if o.role is Role.LEADER and o.node != t.old
    }
    assert len(promoted) == 1, "Sentinel should promote exactly one replica"
    assert {o.node: o.role for o in t.ticks[-1].observations}[t.old] is Role.FOLLOWER
    assert chains_left(state) == []


def test_zookeeper_leader_link_down(tmp_path: Path) -> None:
    with lab_cluster("zookeeper", 3, "z") as (state, cluster_file):
        t = run_example(EXAMPLES / "zookeeper-leader-link-down.yaml", cluster_file, tmp_path / "run")
        assert any(o.role is Role.LEADER and o.node != t.old for tk in t.during for o in tk.observations)
        # the cut-off leader stops serving: it is not a leader any more before the heal
        assert {o.node: o.role for o in t.during[-1].observations}[t.old] is not Role.LEADER
        assert links_down(state) == []
        # the servers log as Debian's package configures them (log4j ROLLINGFILE, default layout),
        # and the zookeeper pack reads every node's leadership from those lines
        logs = read_results(t.run)["logs"]
        assert logs["verdict"] in ("ok", "possible", "dual_leader") and logs["silent_nodes"] == []
        zk_files = [f for f in logs["files"] if f["path"].endswith("zookeeper.log")]
        assert len(zk_files) == 3
        assert all(f["format"] == "log4j" and f["pack"] == "zookeeper" for f in zk_files)
        assert all(f["leadership_events"] >= 2 for f in zk_files)
        log = Path(state.dir) / t.old / "zookeeper.log"
        first = log.read_text().splitlines()[0]
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - INFO  \[main:", first)
        # a restarted server appends to the same file: its history survives
        before = log.stat().st_size
        assert qw("lab", "stop", state.name, t.old).returncode == 0
        assert qw("lab", "start", state.name, t.old).returncode == 0
        wait_for("the restarted server to log", lambda: log.stat().st_size > before + 1000, 30)
        assert log.read_text().splitlines()[0] == first


def test_keepalived_isolated_master_makes_two_masters(tmp_path: Path) -> None:
    """VRRP's split brain on real keepalived: the BACKUP stops hearing adverts and takes the
    virtual address while the cut-off MASTER keeps it; probes and the console logs both show it."""
    with lab_cluster("keepalived", 2, "v") as (state, cluster_file):
        t = run_example(EXAMPLES / "keepalived-master-isolate.yaml", cluster_file, tmp_path / "run")
        assert t.result.returncode == 3, t.result.stderr
        results = read_results(t.run)
        certain = [d for d in results["dual_leaders"] if d["certain"]]
        assert certain and certain[0]["kind"] == "dual_leader" and certain[0]["duration_s"] > 1
        logs = results["logs"]
        assert logs["verdict"] == "dual_leader"
        assert {f["pack"] for f in logs["files"]} == {"keepalived"}
        assert chains_left(state) == []
        log = (t.run / "logs" / t.old / "console.log").read_text()
        assert re.search(
            r"^\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}: \(VI_1\) Entering MASTER STATE$", log, re.M
        )
