"""Faults against real etcd clusters in namespaces: failover, partitions, and healing on every
path out (normal end, SIGINT, kill -9 + `quorumwatch heal`, the next run)."""

from __future__ import annotations

import os
import signal
import subprocess
from functools import partial
from pathlib import Path

import pytest

from quorumwatch.lab.manager import LabState
from quorumwatch.model import Role
from quorumwatch.store import HistoryFile
from tests.labkit import (
    QW,
    LabPool,
    chains_left,
    events_of,
    lab_cluster,
    links_down,
    qw,
    run_example,
    tcp_reachable,
    wait_for,
)
from tests.results_contract import read_results

pytestmark = pytest.mark.lab
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def etcd3(labs: LabPool) -> tuple[LabState, Path]:
    """The session's shared etcd lab (faults here are healed and checked gone by each test)."""
    return labs.get("etcd")


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUORUMWATCH_STATE", str(tmp_path / "state"))


def roles_by_tick(run: Path) -> list[tuple[int, dict[str, Role]]]:
    h = HistoryFile.open(run / "history.sqlite")
    try:
        return [(t.started_ns, {o.node: o.role for o in t.observations}) for t in h.ticks()]
    finally:
        h.close()


def test_leader_link_down_fails_over_and_the_old_leader_returns_as_follower(
    etcd3: tuple[LabState, Path], tmp_path: Path
) -> None:
    state, cluster_file = etcd3
    t = run_example(EXAMPLES / "etcd-leader-link-down.yaml", cluster_file, tmp_path / "run")
    assert "running cmd: 'ip link set dev eth0 down' on" in t.result.stdout
    cmds = events_of(t.run, "cmd")
    assert [c.data["argv"] for c in cmds] == [
        ["ip", "link", "set", "dev", "eth0", "down"],
        ["ip", "link", "set", "dev", "eth0", "up"],
    ]
    assert all(c.data["rc"] == 0 for c in cmds)
    new = {o.node for tk in t.during for o in tk.observations if o.role is Role.LEADER and o.node != t.old}
    assert new, "no new leader while cut off"
    last = {o.node: o.role for o in t.ticks[-1].observations}
    assert last[t.old] is Role.FOLLOWER and list(last.values()).count(Role.LEADER) == 1
    assert links_down(state) == [] and chains_left(state) == []
    assert (t.run / "logs" / t.old / "etcd.log").stat().st_size > 0
    assert (t.run / "scenario.yaml").is_file()


def _cut(netns: str, ip: str) -> bool | None:
    return True if not tcp_reachable(netns, ip, 2380, 0.5) else None


@pytest.mark.parametrize("nodes", [3, 5])
def test_partition_halves_cuts_exactly_across_the_halves(nodes: int, tmp_path: Path) -> None:
    with lab_cluster("etcd", nodes, "p") as (state, cluster_file):
        scenario = tmp_path / "s.yaml"
        scenario.write_text(
            "steady_state: {for: 1, within: 30}\n"
            "faults: [{kind: partition, mode: halves, target: leader, after: 0.5, hold: 6}]\n"
        )
        run = tmp_path / "run"
        proc = subprocess.Popen(
            [*QW, "run", str(scenario), "--cluster", str(cluster_file), "--run-dir", str(run)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            inject = wait_for("the partition", lambda: events_of(run, "fault.inject"), 60)[0]
            wait_for("the inject commands", lambda: len(chains_left(state)) >= 2 * nodes, 10)
            pairs = {tuple(p) for p in inject.data["details"]["pairs"]}
            by_name = {n.name: n for n in state.nodes}
            assert len(pairs) == 2 * (nodes // 2) * (nodes - nodes // 2)
            # the chains exist before every drop rule is in them: wait (with a deadline) until each
            # pair across the halves is cut, then check the halves themselves still talk
            for a, b in pairs:
                wait_for(f"{a} cut from {b}", partial(_cut, by_name[a].netns, by_name[b].data_ip), 10)
            same = [(a, b) for a in by_name for b in by_name if a != b and (a, b) not in pairs]
            for a, b in same[:4]:
                assert tcp_reachable(by_name[a].netns, by_name[b].data_ip, 2380), f"{a} cannot reach {b}"
            _, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode in (0, 3, 5), err
        assert chains_left(state) == []
        assert all(tcp_reachable(state.nodes[0].netns, n.data_ip, 2380) for n in state.nodes[1:])


HOLD = (
    "steady_state: {for: 0.5, within: 30}\nfaults: [{kind: link, target: leader, after: 0.2, hold: 60},\n"
    "  {kind: partition, mode: isolate, target: follower, after: 0.2, hold: 60}]\n"
)


def start_hold(tmp_path: Path, cluster_file: Path, run: Path, state: LabState) -> subprocess.Popen[str]:
    scenario = tmp_path / "hold.yaml"
    scenario.write_text(HOLD)
    proc = subprocess.Popen(
        [*QW, "run", str(scenario), "--cluster", str(cluster_file), "--run-dir", str(run)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for("both faults injected", lambda: links_down(state) and chains_left(state), 60)
    return proc


def test_sigint_during_a_hold_heals_before_exit(etcd3: tuple[LabState, Path], tmp_path: Path) -> None:
    state, cluster_file = etcd3
    proc = start_hold(tmp_path, cluster_file, tmp_path / "run", state)
    try:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "SIGINT: healing, then stopping" in out
    assert out.count("healed: ") == 2
    assert "Traceback" not in err
    assert links_down(state) == [] and chains_left(state) == []


def test_kill_9_then_heal_then_the_next_run_heals_leftovers(
    etcd3: tuple[LabState, Path], tmp_path: Path
) -> None:
    state, cluster_file = etcd3
    proc = start_hold(tmp_path, cluster_file, tmp_path / "run1", state)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert links_down(state) and chains_left(state)  # stranded, as after a crash
    healed = qw("heal", str(tmp_path / "run1"))
    assert healed.returncode == 0, healed.stderr
    assert "healed 2 fault(s)" in healed.stdout
    assert links_down(state) == [] and chains_left(state) == []
    assert qw("heal", str(tmp_path / "run1")).stdout.strip() == "nothing to heal"

    # crash again; this time the next run against the cluster heals by itself before starting
    proc = start_hold(tmp_path, cluster_file, tmp_path / "run2", state)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert links_down(state)
    quick = tmp_path / "quick.yaml"
    quick.write_text(
        "steady_state: {for: 0.5, within: 30}\nfaults: [{kind: pause, target: follower, hold: 0.5}]\n"
    )
    r = qw("run", str(quick), "--cluster", str(cluster_file), "--run-dir", str(tmp_path / "run3"))
    assert r.returncode in (0, 3, 5), r.stderr
    assert "healing link down: eth0 on" in r.stdout and f"(armed in {tmp_path / 'run2'})" in r.stdout
    assert links_down(state) == [] and chains_left(state) == []


def test_delay_on_a_kernel_without_netem_fails_before_the_experiment(
    etcd3: tuple[LabState, Path], tmp_path: Path
) -> None:
    state, cluster_file = etcd3
    # what this kernel says, checked independently of quorumwatch
    ns = state.nodes[0].netns
    subprocess.run(
        ["ip", "-n", ns, "link", "add", "qwt0", "type", "veth", "peer", "name", "qwt1"], check=True
    )
    try:
        tc = subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "qwt0", "root", "netem", "delay", "1ms"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        subprocess.run(["ip", "-n", ns, "link", "del", "qwt0"], check=False)
    scenario = tmp_path / "delay.yaml"
    scenario.write_text("faults: [{kind: delay, delay_ms: 100, target: leader, hold: 1}]\n")
    r = qw("run", str(scenario), "--cluster", str(cluster_file), "--run-dir", str(tmp_path / "run"))
    if tc.returncode != 0:
        assert r.returncode == 1
        assert "delay faults need tc netem, which the kernel on n1 lacks" in r.stderr
        assert "Specified qdisc kind is unknown" in r.stderr
        assert events_of(tmp_path / "run", "fault.inject") == []
    else:  # a kernel with netem: the fault runs and heals
        assert r.returncode in (0, 3, 5), r.stderr
        assert "running cmd: 'tc qdisc replace dev eth0 root netem delay 100ms' on" in r.stdout


def test_etcd_failover_metrics_are_in_the_expected_ranges(
    etcd3: tuple[LabState, Path], tmp_path: Path
) -> None:
    """hb 50 ms / election 500 ms with pre-vote: a new leader within 0.2–3 s; the cut-off leader
    keeps claiming for a while, a stale window that, when seen, lasts 0.05–2 s. Whether the old
    leader steps down before or after the election is a race, so trials run until one shows it."""
    _, cluster_file = etcd3
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "interval: 0.1\ndeadline: 0.08\nsteady_state: {for: 1, within: 30}\n"
        "faults: [{kind: link, target: leader, after: 0.5, hold: 3}]\n"
    )
    stale_seen = []
    for attempt in range(8):
        run = tmp_path / f"run{attempt}"
        r = qw("run", str(scenario), "--cluster", str(cluster_file), "--run-dir", str(run))
        assert r.returncode in (0, 3, 5), r.stderr
        results = read_results(run)
        (trial,) = results["trials"]
        assert trial["old_leader"] and trial["new_leader"] and trial["new_leader"] != trial["old_leader"]
        assert 0.2 <= trial["time_to_new_leader_s"] <= 3.0, trial
        assert trial["stale_leader_s"] <= 2.0, trial
        assert trial["converged_after_heal_s"] is not None
        if trial["stale_leader_s"] > 0:
            assert results["verdict"] == "dual_leader"
            stale_seen.append(trial["stale_leader_s"])
            break
    assert stale_seen and 0.05 <= stale_seen[0] <= 2.0, stale_seen


def test_loss_kill_and_pause_on_a_real_cluster(etcd3: tuple[LabState, Path], tmp_path: Path) -> None:
    state, cluster_file = etcd3
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "steady_state: {for: 0.5, within: 30}\nseed: 3\n"
        "faults:\n"
        "  - {kind: loss, probability: 1.0, target: n1, after: 0.2, hold: 1.5}\n"
        "  - {kind: kill, target: n2, after: 2.5, hold: 1}\n"
        "  - {kind: pause, target: n3, after: 4.5, hold: 1}\n"
    )
    run = tmp_path / "run"
    r = qw("run", str(scenario), "--cluster", str(cluster_file), "--run-dir", str(run))
    assert r.returncode in (0, 3, 5), r.stderr
    cmds = events_of(run, "cmd")
    assert cmds and all(c.data["ok"] for c in cmds), [c.data for c in cmds if not c.data["ok"]]
    argvs = [" ".join(c.data["argv"]) for c in cmds]
    assert any("--probability 1 -j DROP" in a for a in argvs)
    assert any(a.startswith("kill -9 ") for a in argvs) and any(a.startswith("kill -STOP ") for a in argvs)
    assert any(a.startswith("kill -CONT ") for a in argvs) and any(
        a.endswith("lab start " + state.name + " n2") for a in argvs
    )
    injects = {e.data["kind"]: e for e in events_of(run, "fault.inject")}
    ticks = roles_by_tick(run)
    for kind, node in (("kill", "n2"), ("pause", "n3")):
        inj = injects[kind]
        # from the end of the kill / STOP command (resolving the pid first can take a while on a loaded
        # machine) to the start of the first heal command: the node is gone
        mine = [c for c in cmds if c.data["fault"] == inj.data["fault"]]
        struck = max(c.data["ended_ns"] for c in mine if c.data["phase"] == "inject")
        healing = min(c.data["started_ns"] for c in mine if c.data["phase"] == "heal")
        during = [roles[node] for t, roles in ticks if struck + 100_000_000 < t < healing - 100_000_000]
        assert during and all(role is Role.UNKNOWN for role in during), (kind, during)
    assert ticks[-1][1]["n2"] in (Role.FOLLOWER, Role.LEADER) and ticks[-1][1]["n3"] in (
        Role.FOLLOWER,
        Role.LEADER,
    )
    assert chains_left(state) == [] and links_down(state) == []
