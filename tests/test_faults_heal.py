"""The heal journal: written before inject, replayed after a crash, torn lines tolerated."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from quorumwatch.faults import FaultPlan, Step, StepRunner
from quorumwatch.faults.heal import HealError, HealJournal, open_journals, pending, read_entries, replay


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "state"
    monkeypatch.setenv("QUORUMWATCH_STATE", str(d))
    return d


def touch_plan(marker: Path, kind: str = "command") -> FaultPlan:
    heal = (Step(None, "local", (sys.executable, "-c", f"open({str(marker)!r}, 'a').write('healed\\n')")),)
    return FaultPlan(kind, ("n1",), f"test fault {marker.name}", (), heal)


def test_arm_heal_and_registry(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "c1" / "r1"
    run.mkdir(parents=True)
    j = HealJournal(run / "heal-journal.jsonl", "c1")
    a = j.arm(touch_plan(tmp_path / "a"))
    b = j.arm(touch_plan(tmp_path / "b"))
    assert (a, b) == (1, 2)
    assert [e["id"] for e in pending(j.path)] == [1, 2]
    assert [p for _, p in open_journals("c1")] == [j.path.resolve()]
    assert open_journals("other") == []
    j.healed(a)
    assert [e["id"] for e in pending(j.path)] == [2]
    j.healed(b)
    assert pending(j.path) == []
    assert open_journals() == []


def test_replay_runs_unhealed_heals_newest_first_and_marks_them(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    j = HealJournal(run / "heal-journal.jsonl", "c1")
    j.arm(touch_plan(tmp_path / "first"))
    j.arm(touch_plan(tmp_path / "second"))
    said: list[str] = []
    failures = asyncio.run(replay(j.path, StepRunner(), said.append))
    assert failures == []
    assert (tmp_path / "first").read_text() == "healed\n" and (tmp_path / "second").read_text() == "healed\n"
    assert said[0].startswith("healing test fault second")
    assert pending(j.path) == []
    # replaying again does nothing: heals are not run twice
    assert asyncio.run(replay(j.path, StepRunner(), said.append)) == []
    assert (tmp_path / "first").read_text() == "healed\n"


def test_failed_heal_stays_pending(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    j = HealJournal(run / "heal-journal.jsonl", "c1")
    j.arm(FaultPlan("command", ("n1",), "bad", (), (Step("n1", "local", ("false",)),)))
    failures = asyncio.run(replay(j.path, StepRunner(), lambda s: None))
    assert failures and "'false' on n1 failed (exit 1)" in failures[0]
    assert len(pending(j.path)) == 1


def test_torn_last_line_is_ignored_garbage_elsewhere_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "heal-journal.jsonl"
    p.write_text('{"op": "arm", "id": 1, "heal": [], "description": "x"}\n{"op": "hea')
    assert [e["id"] for e in pending(p)] == [1]
    p.write_text('garbage\n{"op": "arm", "id": 1, "heal": [], "description": "x"}\n')
    with pytest.raises(HealError, match=r"heal-journal.jsonl:1: not a journal entry"):
        read_entries(p)


def test_step_json_round_trip() -> None:
    s = Step("n2", {"netns": "qw-t-n2"}, ("ip", "link", "set", "dev", "eth0", "up"), (0, 1), 5.0)
    assert Step.from_json(s.to_json()) == s


# ---- crash anywhere, heal everything (real cluster) ----------------------------------------------

CRASH_SCENARIO = """\
steady_state: {for: 0.3, within: 30}
trials: 2
cooldown: 0.2
faults:
  - {kind: link, target: leader, after: 0.1, hold: 0.6}
  - {kind: partition, mode: isolate, target: follower, after: 0.2, hold: 0.5}
  - {kind: pause, target: follower, after: 0.3, hold: 0.4}
"""


def crash_plan(seed: int) -> list[tuple[str, int | float]]:
    """20 kill points spread over a run's life, drawn from `seed`: at named instants (SIGKILL from
    inside, exactly there: after a journal write, between inject steps, between heal steps, before
    and after the `healed` line, while waiting for the steady state, mid-replay of `heal`) and at
    random times (SIGKILL from outside)."""
    import random

    rng = random.Random(seed)
    plan: list[tuple[str, int | float]] = []
    # per trial (2): 3 faults armed, 11 inject steps (link 1, partition 9, pause 1), 6 heal steps
    plan += [("armed", rng.randint(1, 6)) for _ in range(2)]
    plan += [("inject-step", rng.randint(1, 22)) for _ in range(4)]
    plan += [("injected", rng.randint(1, 6))]
    plan += [("heal-step", rng.randint(1, 12)) for _ in range(3)]
    plan += [("heal-steps-done", rng.randint(1, 6)), ("healed", rng.randint(1, 6))]
    plan += [("steady-tick", rng.randint(1, 3)), ("steady-tick", rng.randint(6, 15))]
    plan += [("replay-step", rng.randint(1, 6))]
    plan += [("time", round(rng.uniform(0.5, 3.0), 2)) for _ in range(5)]
    rng.shuffle(plan)
    return plan


def left_behind(name: str) -> list[str]:
    """What a fault left in the kernel, read from the kernel: links down, quorumwatch iptables
    chains or rules, stopped server processes."""
    from quorumwatch.lab import manager
    from tests.labkit import chains_left, links_down

    state = manager.find_lab(name)
    left = [f"link down on {n}" for n in links_down(state)] + chains_left(state)
    for n in state.nodes:
        try:
            stat = Path(f"/proc/{n.pid}/stat").read_text()
        except OSError:
            left.append(f"{n.name}: server pid {n.pid} gone")
            continue
        if stat.rsplit(")", 1)[1].split()[0] == "T":
            left.append(f"{n.name}: server pid {n.pid} stopped")
    return left


@pytest.mark.lab
def test_killed_anywhere_a_run_is_healed_every_time(tmp_path: Path) -> None:
    """SIGKILL `quorumwatch run` (link + partition + pause, 2 trials) at 20 seeded points; after each,
    `quorumwatch heal` (every fifth time: the next run) restores everything, checked from the
    kernel. QW_CRASH_SEED picks another set of points."""
    import os
    import signal
    import subprocess
    import time

    from tests.labkit import QW, lab_cluster, wait_for

    seed = int(os.environ.get("QW_CRASH_SEED", "20261128"))
    scenario = tmp_path / "crash.yaml"
    scenario.write_text(CRASH_SCENARIO)
    quick = tmp_path / "quick.yaml"
    quick.write_text(
        "steady_state: {for: 0.3, within: 30}\nfaults: [{kind: pause, target: follower, hold: 0.3}]\n"
    )
    healed = 0
    with lab_cluster("etcd", 3, "k") as (state, cluster_file):
        for i, (point, at) in enumerate(crash_plan(seed)):
            where = f"seed {seed}, point {i + 1}: {point} {at}"
            run = tmp_path / f"run{i}"
            env = {**os.environ, "QUORUMWATCH_STATE": str(tmp_path / "state")}
            if point not in ("time", "replay-step"):
                env["QUORUMWATCH_CRASH_AT"] = f"{point}:{at}"
            argv = [*QW, "run", str(scenario), "--cluster", str(cluster_file), "--run-dir", str(run)]
            proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            try:
                if point == "time":
                    time.sleep(float(at))  # a kill from outside, at a random instant of the run
                    os.kill(proc.pid, signal.SIGKILL)
                elif point == "replay-step":
                    wait_for("a fault in place", lambda: left_behind(state.name), 60)
                    os.kill(proc.pid, signal.SIGKILL)
                _, err = proc.communicate(timeout=180)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            assert proc.returncode == -signal.SIGKILL, (
                f"{where}: the run ended by itself ({proc.returncode}): {err}"
            )

            heal_env = {k: v for k, v in env.items() if k != "QUORUMWATCH_CRASH_AT"}
            if point == "replay-step":  # `heal` itself killed mid-replay; then healed again
                crashed = subprocess.run(
                    [*QW, "heal", str(run)], env={**heal_env, "QUORUMWATCH_CRASH_AT": f"replay-step:{at}"},
                    capture_output=True, text=True, timeout=120, check=False,
                )  # fmt: skip
                assert crashed.returncode in (-signal.SIGKILL, 0), f"{where}: {crashed.stderr}"
            if i % 5 == 4:  # the next run against the cluster heals what is left before it starts
                nxt = [
                    *QW,
                    "run",
                    str(quick),
                    "--cluster",
                    str(cluster_file),
                    "--run-dir",
                    str(tmp_path / f"n{i}"),
                ]
                r = subprocess.run(
                    nxt, env=heal_env, capture_output=True, text=True, timeout=180, check=False
                )
                assert r.returncode in (0, 3, 5), f"{where}: {r.stderr}"
            else:
                r = subprocess.run(
                    [*QW, "heal", str(run)],
                    env=heal_env,
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
                assert r.returncode == 0 and "Traceback" not in r.stderr, f"{where}: {r.stdout} {r.stderr}"
            assert left_behind(state.name) == [], where
            again = subprocess.run(
                [*QW, "heal", str(run)], env=heal_env, capture_output=True, text=True, check=False
            )
            assert again.returncode == 0 and again.stdout.startswith("nothing to heal"), (
                f"{where}: {again.stdout}"
            )
            healed += 1
    assert healed == 20


def test_a_crash_point_kills_only_at_its_named_pass(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess

    code = (
        "from quorumwatch.faults.heal import crash_point\n"
        "for i in range(3):\n"
        "    crash_point('other'); crash_point('armed'); print(i, flush=True)\n"
    )
    env = {**os.environ, "QUORUMWATCH_CRASH_AT": "armed:2"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == -signal.SIGKILL and done.stdout.split() == ["0"]
    env.pop("QUORUMWATCH_CRASH_AT")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.split() == ["0", "1", "2"]
