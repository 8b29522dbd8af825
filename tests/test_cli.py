"""The command line as users run it: a real `quorumwatch` process against scripted servers."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from quorumwatch.store import HistoryFile
from tests.clirun import qw_in
from tests.responders import EtcdLikeCluster
from tests.results_contract import read_results

QW = [sys.executable, "-m", "quorumwatch"]


def qw(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QW, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


def test_version_and_help_everywhere() -> None:
    v = qw("--version")
    assert v.returncode == 0 and "quorumwatch, version" in v.stdout
    for cmd in (
        ["watch"],
        ["check"],
        ["history"],
        ["lab"],
        ["lab", "up"],
        ["lab", "down"],
        ["lab", "status"],
        ["lab", "stop"],
        ["lab", "start"],
    ):
        r = qw_in(*cmd, "--help")
        assert r.returncode == 0, cmd
        assert "Usage:" in r.stdout


def test_bad_cluster_file_is_usage_error_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "name: x\nprobe: {kind: etcd}\ninterval: 0.1\ndeadline: 0.2\nnodes:\n  - {name: a, address: nope}\n"
    )
    r = qw_in("watch", str(bad), "--duration", "1")
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert f"{bad}:6: nodes[0].address: address must be host:port" in r.stderr
    assert "deadline" not in r.stdout


def test_deadline_not_below_interval_is_refused(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw_in("watch", str(f), "--interval", "1", "--deadline", "5", "--duration", "1")
    assert r.returncode == 2
    assert "deadline 5 s must be shorter than the interval 1 s" in r.stderr


def test_watch_prints_matrix_lines_records_history_and_replays_them(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "hang"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw("watch", str(f), "--duration", "1.0", "--run-dir", str(tmp_path / "run"))
    # n3 never answers: it might have been leader next to n2, and the verdict says so
    assert r.returncode == 5, r.stderr
    results = read_results(tmp_path / "run")
    assert results["verdict"] == "possible"
    assert results["dual_leaders"] and not any(d["certain"] for d in results["dual_leaders"])
    assert {tuple(d["nodes"]) for d in results["dual_leaders"]} == {("n2", "n3")}
    lines = r.stdout.splitlines()
    matrices = [s for s in lines if "quorum matrix:" in s]
    assert 5 <= len(matrices) <= 11  # 10 on schedule; fewer only if a stalled machine skipped ticks
    assert all(s.endswith("quorum matrix: [F L X]") for s in matrices)
    replay = qw("history", str(tmp_path / "run"))
    assert replay.returncode == 0
    assert replay.stdout.splitlines() == lines
    h = HistoryFile.open(tmp_path / "run" / "history.sqlite")
    ticks = list(h.ticks())
    assert len(ticks) == len(matrices)
    assert all(
        t.observations[2].reason is not None and t.observations[2].reason.value == "timeout" for t in ticks
    )


def test_two_leaders_exit_3_and_default_run_dir(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw("watch", str(f), "--duration", "0.5", cwd=tmp_path)
    assert r.returncode == 3  # dual_leader: certainly two leaders, in different epochs
    assert "more than 1 leader appear at this tick, cnt=2: n1 (epoch 3), n2 (epoch 4)" in r.stdout
    assert "verdict: dual_leader" in r.stderr
    # graded live, as soon as two answers each prove it: the second tick
    lines = r.stdout.splitlines()
    proven = [i for i, s in enumerate(lines) if "dual leader (certain since" in s]
    assert proven and lines[proven[0]].endswith("s so far): n1 (epoch 3), n2 (epoch 4)")
    assert sum("quorum matrix" in s for s in lines[: proven[0]]) == 1  # after tick 0's matrix, in tick 1
    latest = tmp_path / "runs" / "fake" / "latest"
    assert (latest / "history.sqlite").is_file() and (latest / "cluster.yaml").is_file()
    # a replay judges nothing: exit 3 means a proven dual leader, and only `analyze` proves it
    replay = qw("history", str(tmp_path / "runs" / "fake"), "--format", "jsonl")
    assert replay.returncode == 0, replay.stderr
    ticks = [json.loads(x) for x in replay.stdout.splitlines()]
    assert ticks and all(t["type"] == "tick" and t["leaders"] == ["n1", "n2"] for t in ticks)
    assert [n["epoch"] for n in ticks[0]["nodes"]][:2] == [3, 4] and ticks[0]["matrix"] == "LLF"
    table = qw("history", str(tmp_path / "runs" / "fake"), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert table.returncode == 0 and len(rows) == 3 * len(ticks)
    assert [(r["node"], r["role"], r["epoch"]) for r in rows[:3]] == [
        ("n1", "leader", "3"),
        ("n2", "leader", "4"),
        ("n3", "follower", "3"),
    ]


def test_node_option_watches_one_node(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw(
            "watch",
            str(f),
            "--node",
            "n2",
            "--duration",
            "0.3",
            "--changes-only",
            "--run-dir",
            str(tmp_path / "r"),
        )
        missing = qw("watch", str(f), "--node", "n9", "--duration", "0.3")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].endswith("n2 is leader initially: false (follower, epoch 3)")
    assert "quorum matrix" not in r.stdout and "n1" not in r.stdout
    assert missing.returncode == 2 and "no node named 'n9'" in missing.stderr


def test_check_reports_each_node_and_fails_on_unknown(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "hang"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw("check", str(f))
        j = qw("check", str(f), "--json")
    assert r.returncode == 1
    out = r.stdout.splitlines()
    assert any(s.startswith("n2") and "L leader" in s and "epoch 4" in s for s in out)
    assert any(s.startswith("n3") and "X unknown" in s and "timeout" in s for s in out)
    data = json.loads(j.stdout)
    assert j.returncode == 1 and data["ok"] is False and data["leaders"] == ["n2"]
    assert [(n["node"], n["role"], n["reason"]) for n in data["nodes"]] == [
        ("n1", "follower", None),
        ("n2", "leader", None),
        ("n3", "unknown", "timeout"),
    ]


@contextlib.contextmanager
def running_watch(args: list[str]) -> Iterator[subprocess.Popen[str]]:
    """`quorumwatch watch ARGS` as a process with pipes, killed (by pid) if the block leaves it running."""
    proc = subprocess.Popen([*QW, "watch", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def interrupted_watch(args: list[str], ticks: int, sig: int = signal.SIGINT) -> tuple[int, str, str]:
    """`quorumwatch watch ARGS` sent SIGINT (or `sig`) once `ticks` matrix lines were printed: (exit
    code, stdout after them, stderr)."""
    with running_watch(args) as proc:
        assert proc.stdout is not None
        seen = 0
        deadline = time.monotonic() + 30
        while seen < ticks and time.monotonic() < deadline:
            if "quorum matrix" in proc.stdout.readline():
                seen += 1
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def test_kill_9_loses_at_most_the_tick_being_written(tmp_path: Path) -> None:
    """Every tick is committed before it is printed: after SIGKILL the history holds at least every
    tick that was shown, opens cleanly (WAL recovery) and analyses."""
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        code, _, _ = interrupted_watch([str(f), "--run-dir", str(tmp_path / "r")], 8, signal.SIGKILL)
        assert code == -signal.SIGKILL
        h = HistoryFile.open(tmp_path / "r" / "history.sqlite")
        ticks = list(h.ticks())
        h.close()
        assert len(ticks) >= 8 and [t.index for t in ticks] == list(range(len(ticks)))
        r = qw("analyze", str(tmp_path / "r"))
    assert r.returncode == 0 and read_results(tmp_path / "r")["meta"]["ticks"] == len(ticks)


def test_sigint_stops_cleanly_with_history_kept(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        code, _, err = interrupted_watch([str(f), "--run-dir", str(tmp_path / "r")], 5)
    assert code == 0
    assert "Traceback" not in err
    assert len(list(HistoryFile.open(tmp_path / "r" / "history.sqlite").ticks())) >= 5


def test_history_of_a_non_run_is_one_line_error(tmp_path: Path) -> None:
    r = qw_in("history", str(tmp_path))
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and "not a run directory" in r.stderr


@pytest.mark.parametrize(
    "args", [["watch"], ["lab", "up", "mysql"], ["watch", "x.yaml", "--interval", "abc"]]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert qw_in(*args).returncode == 2


@pytest.mark.parametrize(("keep", "code", "harm"), [(True, 0, "none observed"), (False, 6, "data loss")])
def test_watch_with_a_workload_reports_harm_and_exits_6_on_lost_writes(
    tmp_path: Path, keep: bool, code: int, harm: str
) -> None:
    with EtcdLikeCluster(["L", "F", "F"], keep_writes=keep) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        w = tmp_path / "w.yaml"
        w.write_text("workload: {kind: set, rate: 50}\n")
        r = qw("watch", str(f), "--duration", "1", "--workload", str(w), "--run-dir", str(tmp_path / "r"))
    assert r.returncode == code, r.stderr
    assert re.search(r"final read from n1: \d+ elements", r.stdout)
    assert re.search(r"workload: \d+ operations: \d+ ok, 0 failed, 0 unknown", r.stdout)
    assert f"harm: {harm} — " in r.stderr
    data = read_results(tmp_path / "r")
    w_ = data["workload"]
    assert data["harm"] == harm.replace(" ", "_") and w_["kind"] == "set" and w_["total"]["ok"] >= 20
    assert w_["lost"]["count"] == (0 if keep else w_["total"]["ok"] - w_["final_read"]["elements"])
    assert data["meta"]["workload_client"] == "etcd" and data["meta"]["workload_rate"] == 50.0
    # analyze recomputes the same from the history; --fail-on never hides harm
    a = qw("analyze", str(tmp_path / "r"), "--fail-on", "violation", "--json")
    assert a.returncode == code and json.loads(a.stdout)["workload"] == w_


def test_fail_on_sets_the_lowest_finding_that_fails(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw("watch", str(f), "--duration", "0.5", "--run-dir", str(tmp_path / "r"), "--fail-on", "harm")
    assert r.returncode == 0, r.stderr  # a dual leader, but no harm measured: below --fail-on harm
    assert "harm: not measured — no workload ran" in r.stderr
    assert qw("analyze", str(tmp_path / "r")).returncode == 3
    assert qw("analyze", str(tmp_path / "r"), "--fail-on", "dual-leader").returncode == 3
    assert qw("analyze", str(tmp_path / "r"), "--fail-on", "violation").returncode == 0
    bad = qw("analyze", str(tmp_path / "r"), "--fail-on", "sometimes")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_ctrl_c_during_a_workload_stops_operations_and_reads_the_set_back(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        w = tmp_path / "w.yaml"
        w.write_text("workload: {kind: set, rate: 50}\n")
        code, out, err = interrupted_watch(
            [str(f), "--workload", str(w), "--run-dir", str(tmp_path / "r")], 10
        )
    assert code == 0, err
    assert "Traceback" not in err
    assert re.search(r"final read from n1: \d+ elements", out)
    h = HistoryFile.open(tmp_path / "r" / "history.sqlite")
    try:
        ops = list(h.operations())
        reads = h.final_reads()
    finally:
        h.close()
    assert ops and reads and reads[0].values is not None
    acked = {o.value for o in ops if o.outcome.value == "ok"}
    assert acked and acked <= reads[0].values  # every acknowledged write was read back
    assert "harm: none observed — 0 of" in err


def test_watch_format_jsonl_is_one_object_per_tick(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw("watch", str(f), "--duration", "0.6", "--format", "jsonl", "--run-dir", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert rows and all(t["type"] == "tick" and t["cluster"] == "fake" for t in rows)
    assert all(t["leaders"] == ["n2"] and t["matrix"] == "FLF" for t in rows)
    assert [t["index"] for t in rows] == list(range(len(rows)))
    assert "verdict: ok" in r.stderr  # the summary stays off stdout


def test_watch_format_jsonl_carries_graded_findings(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw("watch", str(f), "--duration", "0.6", "--format", "jsonl", "--run-dir", str(tmp_path / "r"))
    assert r.returncode == 3, r.stderr
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    found = [x for x in rows if x["type"] == "finding"]
    # possible from the first tick (one answer each), proven at the second
    assert [(x["event"], x["kind"]) for x in found[:2]] == [
        ("started", "possible"),
        ("started", "dual_leader"),
    ]
    assert (found[1]["certain"], found[1]["nodes"], found[1]["epochs"]) == (True, ["n1", "n2"], [3, 4])
    assert [x["type"] for x in rows[: rows.index(found[1])]] == ["tick", "finding", "tick"]


def test_on_verdict_runs_a_command_with_the_finding_in_its_environment(tmp_path: Path) -> None:
    out = tmp_path / "hooks"
    out.mkdir()
    script = (
        "import json, os, uuid; d = {k: v for k, v in os.environ.items() if k.startswith('QUORUMWATCH_')}; "
        f"open(os.path.join({str(out)!r}, uuid.uuid4().hex), 'w').write(json.dumps(d))"
    )
    with EtcdLikeCluster(["L", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        cmd = f"{sys.executable} -c {shlex.quote(script)}"
        r = qw("watch", str(f), "--duration", "0.6", "--on-verdict", cmd, "--run-dir", str(tmp_path / "r"))
    assert r.returncode == 3, r.stderr
    seen = [json.loads(p.read_text()) for p in out.iterdir()]  # every hook had finished: watch waits for them
    proven = [d for d in seen if d["QUORUMWATCH_CERTAIN"] == "1" and d["QUORUMWATCH_EVENT"] == "started"]
    assert len(proven) == 1
    d = proven[0]
    assert (d["QUORUMWATCH_KIND"], d["QUORUMWATCH_NODES"], d["QUORUMWATCH_EPOCHS"]) == (
        "dual_leader",
        "n1,n2",
        "3,4",
    )
    assert d["QUORUMWATCH_CLUSTER"] == "fake" and d["QUORUMWATCH_RUN_DIR"].endswith("/r")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", d["QUORUMWATCH_START"])


def test_on_verdict_bad_command_is_a_usage_error(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw_in("watch", str(f), "--duration", "0.3", "--on-verdict", "'unclosed")
    assert r.returncode == 2 and "--on-verdict: No closing quotation" in r.stderr


def test_several_clusters_in_one_process(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as a, EtcdLikeCluster(["L", "L", "F"]) as b:
        (tmp_path / "a.yaml").write_text(a.cluster_yaml().replace("name: fake", "name: alpha"))
        (tmp_path / "b.yaml").write_text(b.cluster_yaml().replace("name: fake", "name: beta"))
        r = qw("watch", "a.yaml", "b.yaml", "--duration", "0.6", cwd=tmp_path)
        jl = qw("watch", "a.yaml", "b.yaml", "--duration", "0.4", "--format", "jsonl", cwd=tmp_path)
        bad = qw("watch", "a.yaml", "b.yaml", "--node", "n1", cwd=tmp_path)
    assert r.returncode == 3, r.stderr  # the worst of ok (alpha) and dual leader (beta)
    lines = r.stdout.splitlines()
    assert any(s.startswith("[alpha] ") and s.endswith("quorum matrix: [F L F]") for s in lines)
    assert any(s.startswith("[beta] ") and "dual leader (certain since" in s for s in lines)
    assert not any(s.startswith("[alpha] ") and "dual leader" in s for s in lines)
    for name, verdict in (("alpha", "ok"), ("beta", "dual_leader")):
        assert read_results(tmp_path / "runs" / name / "latest")["verdict"] == verdict
    rows = [json.loads(x) for x in jl.stdout.splitlines()]
    assert {x["cluster"] for x in rows} == {"alpha", "beta"}
    assert bad.returncode == 2 and "--node watches one cluster" in bad.stderr


def test_several_clusters_take_a_workload_hooks_and_a_run_dir_each(tmp_path: Path) -> None:
    with (
        EtcdLikeCluster(["L", "F", "F"], keep_writes=True) as a,
        EtcdLikeCluster(["F", "L"], keep_writes=True) as b,
    ):
        (tmp_path / "a.yaml").write_text(a.cluster_yaml().replace("name: fake", "name: alpha"))
        (tmp_path / "b.yaml").write_text(b.cluster_yaml().replace("name: fake", "name: beta"))
        (tmp_path / "w.yaml").write_text("workload: {kind: set, rate: 40}\n")
        hook = tmp_path / "hook.sh"
        hook.write_text('#!/bin/sh\necho "$QUORUMWATCH_CLUSTER" >> ' + str(tmp_path / "fired") + "\n")
        hook.chmod(0o755)
        r = qw("watch", "a.yaml", "b.yaml", "--duration", "1", "--workload", "w.yaml", "--run-dir", "runs2",
               "--on-verdict", str(hook), cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    for name, leader in (("alpha", "n1"), ("beta", "n2")):
        data = read_results(tmp_path / "runs2" / name)
        w = data["workload"]
        assert data["harm"] == "none_observed" and w["kind"] == "set" and w["total"]["ok"] >= 10, name
        assert w["final_read"]["node"] == leader and w["lost"]["count"] == 0
    assert "alpha: recording to " in r.stderr and "beta: recording to " in r.stderr
    assert not (tmp_path / "fired").exists()  # no finding started or ended: no hook ran


def test_watch_retain_drops_old_ticks_and_keeps_the_dual_leader_they_showed(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        cmd = [*QW, "watch", str(f), "--duration", "4", "--retain", "1s", "--changes-only"]
        with subprocess.Popen(
            [*cmd, "--run-dir", str(tmp_path / "r")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as p:
            assert p.stdout is not None
            for line in p.stdout:  # proven dual leader: now let n2 step down
                if "dual leader (certain since" in line:
                    c.roles[1] = "F"
                    break
            out, err = p.communicate(timeout=30)
    assert p.returncode == 3, err
    assert "ended after" in out
    res = read_results(tmp_path / "r")
    kept = HistoryFile.open(tmp_path / "r" / "history.sqlite")
    try:
        first_kept = next(iter(kept.ticks())).index
        dropped = kept.dropped()
    finally:
        kept.close()
    assert first_kept > 0 and dropped  # the dual leader's ticks are gone from the history...
    retention = res["retention"]
    assert retention["retain_s"] == 1.0 and retention["dropped"]["ticks"] == first_kept
    assert retention["dropped"]["multi_leader_ticks"] >= 2 and retention["recorded_findings"] >= 1
    # ...yet the verdict, the window and the counts cover the whole watch
    assert res["verdict"] == "dual_leader"
    certain = [d for d in res["dual_leaders"] if d["certain"]]
    assert certain and certain[0]["nodes"] == ["n1", "n2"] and certain[0]["end"] < retention["kept_from"]
    assert res["multi_leader_ticks"] >= retention["dropped"]["multi_leader_ticks"]
    assert res["meta"]["ticks"] == first_kept + sum(
        1 for _ in HistoryFile.open(tmp_path / "r" / "history.sqlite").ticks()
    )


def test_retain_must_be_a_duration(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw_in("watch", str(f), "--duration", "0.3", "--retain", "soon")
    assert r.returncode == 2 and "'soon' is not a duration" in r.stderr and "Traceback" not in r.stderr


def test_sighup_reopens_the_output_file_and_no_line_is_lost_or_doubled(tmp_path: Path) -> None:
    from tests.labkit import wait_for

    log, rotated = tmp_path / "watch.jsonl", tmp_path / "watch.jsonl.1"

    def ticks_in(path: Path) -> list[int]:
        if not path.exists():
            return []
        lines = path.read_text().splitlines()
        return [json.loads(x)["index"] for x in lines if x.endswith("}") and '"type": "tick"' in x]

    with EtcdLikeCluster(["F", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        args = [str(f), "--format", "jsonl", "--output", str(log), "--run-dir", str(tmp_path / "r")]
        with running_watch(args) as p:
            wait_for("ticks in the output file", lambda: len(ticks_in(log)) >= 3, 20)
            log.rename(rotated)  # what logrotate does, then it signals
            p.send_signal(signal.SIGHUP)
            wait_for("ticks in the reopened file", lambda: len(ticks_in(log)) >= 3, 20)
            p.send_signal(signal.SIGINT)
            out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out == ""  # everything went to the file
    before, after = ticks_in(rotated), ticks_in(log)
    assert before and after
    assert before + after == list(range(len(before) + len(after)))  # none lost, none twice


def test_sighup_without_an_output_file_does_not_stop_a_watch(tmp_path: Path) -> None:
    from tests.labkit import wait_for

    with EtcdLikeCluster(["F", "L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        with running_watch([str(f), "--run-dir", str(tmp_path / "r")]) as p:
            assert p.stdout is not None
            wait_for("a first line", p.stdout.readline, 20)
            p.send_signal(signal.SIGHUP)
            wait_for("a line after SIGHUP", p.stdout.readline, 20)
            assert p.poll() is None
            p.send_signal(signal.SIGINT)
            _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err


def test_output_file_that_cannot_be_opened_is_a_usage_error(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "F"]) as c:
        f = tmp_path / "c.yaml"
        f.write_text(c.cluster_yaml())
        r = qw_in("watch", str(f), "--duration", "0.3", "--output", str(tmp_path / "no" / "such" / "dir.log"))
    assert r.returncode == 2 and "No such file or directory" in r.stderr and "Traceback" not in r.stderr


def test_history_and_analyze_of_a_damaged_run_say_where_without_a_traceback(tmp_path: Path) -> None:
    import sqlite3

    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        r = qw("watch", str(tmp_path / "c.yaml"), "--duration", "0.6", "--run-dir", str(tmp_path / "r"))
    assert r.returncode == 0, r.stderr
    (tmp_path / "r" / "results.json").unlink()
    db = sqlite3.connect(tmp_path / "r" / "history.sqlite")
    db.execute("UPDATE observations SET role = 'emperor' WHERE tick = 2")
    db.commit()
    db.close()
    hist = qw("history", str(tmp_path / "r"))
    ana = qw("analyze", str(tmp_path / "r"))
    for res in (hist, ana):
        assert res.returncode == 1 and "Traceback" not in res.stderr
        assert "corrupt history at tick 2" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert len(hist.stdout.splitlines()) >= 2  # what could be read was printed first
    assert not (tmp_path / "r" / "results.json").exists()


def test_a_bug_exits_70_with_its_traceback_and_handled_errors_do_not() -> None:
    code = (
        "import quorumwatch.cli as cli\n"
        "def boom(*a, **k):\n    raise KeyError('a bug')\n"
        "cli.main.main = boom\n"
        "cli.entry()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 70 and "Traceback" in r.stderr and "KeyError: 'a bug'" in r.stderr
    assert r.stderr.rstrip().endswith("please report it with the traceback above")
    handled = qw("analyze", "/nonexistent-run")  # the installed entry point, as scripts run it
    assert handled.returncode in (1, 2) and "Traceback" not in handled.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["watch", "{f}", "--interval", "inf"], ["watch", "{f}", "--interval", "nan"],
        ["watch", "{f}", "--deadline", "nan"], ["watch", "{f}", "--duration", "inf"],
        ["watch", "{f}", "--interval", "1e300"], ["watch", "{f}", "--retain", "infd"],
        ["check", "{f}", "--deadline", "-1"], ["logs", "{f}", "--skew", "nan"],
        ["logs", "{f}", "--skew", "inf"], ["logs", "{f}", "--context", "1e308"],
        ["logs", "{f}", "--year", "99999999999999999999"], ["logs", "{f}", "--year", "0"],
        ["logs", "{f}", "--offset", "n1=1e300"], ["logs", "{f}", "--offset", "n1=nan"],
    ],
)  # fmt: skip
def test_numbers_out_of_any_sense_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("name: c\nprobe: {kind: etcd}\nnodes: [{name: n1, address: '127.0.0.1:1'}]\n")
    r = qw_in(*(a.format(f=f) for a in args))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if "rror" in line or line.startswith("quorumwatch:")]
    assert len(errors) == 1 and len(errors[0]) < 200, r.stderr  # click's usage lines, then one error


SHELLY = ["a;reboot", "$(id)", "`id`", "a b", "a|b", "a&b", "n1\n", "../etc", "-rf", "a>b", "*"]


@pytest.mark.parametrize("name", SHELLY)
def test_names_with_shell_metacharacters_are_refused_before_anything_runs(tmp_path: Path, name: str) -> None:
    """Cluster, node and lab names reach command lines, iptables chains and paths: one pattern,
    checked at load; a clear one-line error, exit 2, and nothing started."""
    import yaml

    for field in ("cluster", "node"):
        doc = {"name": "c", "probe": {"kind": "etcd"}, "nodes": [{"name": "n1", "address": "127.0.0.1:1"}]}
        if field == "cluster":
            doc["name"] = name
        else:
            doc["nodes"][0]["name"] = name  # type: ignore[index]
        f = tmp_path / "c.yaml"
        f.write_text(yaml.safe_dump(doc))
        r = qw_in("check", str(f))
        assert r.returncode == 2 and f"invalid {field} name" in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    if os.geteuid() == 0:  # the lab checks its name before it touches the network
        r = qw_in("lab", "up", "etcd", "--name", name)
        assert r.returncode != 0 and "invalid lab name" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_run_takes_the_watch_output_options_jsonl_metrics_and_an_output_file(tmp_path: Path) -> None:
    """`run --format jsonl --metrics`: ticks and the fault's events as JSON lines, a metrics endpoint
    while the trials go, the same session underneath as `watch`."""
    import urllib.request

    scenario = tmp_path / "s.yaml"
    step = f"[{sys.executable}, -c, 'pass']"
    scenario.write_text(
        "steady_state: {leaders: 1, for: 0.2, within: 10}\n"
        f"faults:\n  - {{kind: command, local: true, inject: {step}, heal: {step}, after: 0.1, hold: 1.5}}\n"
        "trials: 1\ncooldown: 0.1\n"
    )
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        base = ["run", str(scenario), "--cluster", str(tmp_path / "c.yaml"), "--format", "jsonl"]
        argv = [*QW, *base, "--run-dir", str(tmp_path / "r"), "--metrics", "127.0.0.1:0"]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as p:
            assert p.stderr is not None
            address = None
            for line in p.stderr:
                if m := re.search(r"metrics on (http://127\.0\.0\.1:\d+/metrics)", line):
                    address = m.group(1)
                    break
            assert address is not None
            deadline = time.monotonic() + 20
            scraped = ""
            while "quorumwatch_node_role" not in scraped or 'cluster="fake"' not in scraped:
                assert time.monotonic() < deadline, scraped[-500:]
                with contextlib.suppress(OSError):
                    scraped = urllib.request.urlopen(address, timeout=2).read().decode()
            out, err = p.communicate(timeout=60)
        filed = qw(*base, "--run-dir", str(tmp_path / "r2"), "-o", str(tmp_path / "lines.jsonl"))
    assert p.returncode == 0, err
    rows = [json.loads(line) for line in out.splitlines()]  # every line on stdout is JSON
    kinds = {r["kind"] for r in rows if r["type"] == "event"}
    assert {"fault.inject", "fault.heal"} <= kinds and sum(r["type"] == "tick" for r in rows) >= 10
    assert all(r.get("cluster") == "fake" for r in rows)
    assert read_results(tmp_path / "r")["trials"][0]["fault"] == "command"
    assert filed.returncode == 0 and filed.stdout == "", filed.stderr
    written = [json.loads(line) for line in (tmp_path / "lines.jsonl").read_text().splitlines()]
    assert {"tick", "event"} <= {r["type"] for r in written}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["watch", "--shard", "0/2"], "--shard needs --clusters"),
        (["watch", "--clusters", "{d}", "--shard", "2/2"], "below N"),
        (["watch", "--clusters", "{d}", "--shard", "x"], "is not K/N"),
        (["watch", "--clusters", "{d}", "{d}/c.yaml"], "cluster files cannot go with it"),
        (["watch", "--clusters", "{d}", "--live"], "--live cannot go with it"),
        (["watch", "--clusters", "{d}", "--workload", "{d}/c.yaml"], "--workload cannot go with it"),
        (["watch", "--clusters", "{d}/nowhere"], "not a directory"),
        (["watch", "--clusters", "{d}/c.yaml"], "is a file"),
        (["watch", "--clusters", "{d}", "--rescan", "0"], "must be positive"),
    ],
)  # fmt: skip
def test_fleet_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args: list[str], says: str) -> None:
    (tmp_path / "c.yaml").write_text(
        "name: c\nprobe: {kind: etcd}\nnodes: [{name: n1, address: '127.0.0.1:1'}]\n"
    )
    r = qw_in(*(a.format(d=tmp_path) for a in args))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith(("quorumwatch:", "Error:"))]
    assert len(errors) == 1 and says in errors[0], r.stderr


def test_a_shard_with_nothing_to_watch_exits_1_saying_so(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: [\n")
    r = qw_in("watch", "--clusters", str(tmp_path), "--duration", "0.3", "--run-dir", str(tmp_path / "runs"))
    assert r.returncode == 1, r.stderr
    assert "broken.yaml" in r.stderr and "no cluster of" in r.stderr and "nothing examined" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_fleet_watch_records_each_cluster_of_its_shard(tmp_path: Path) -> None:
    """Two shards of one directory: each records only its own clusters, together all of them, and
    exits with the worst of its runs (a dual leader: 3)."""
    d = tmp_path / "clusters"
    d.mkdir()
    with EtcdLikeCluster(["L", "F", "L", "L", "L", "F", "L", "F"], size=2) as c:
        for g in range(4):
            (d / f"c{g}.yaml").write_text(c.cluster_yaml(0.1, 0.05, f"c{g}", g))
        codes = [
            qw_in("watch", "--clusters", str(d), "--shard", f"{k}/2", "--duration", "1", "--changes-only",
                  "--run-dir", str(tmp_path / f"shard{k}")).returncode
            for k in range(2)
        ]  # fmt: skip
    recorded = [{p.name for p in (tmp_path / f"shard{k}").iterdir()} for k in range(2)]
    assert recorded[0].isdisjoint(recorded[1]) and recorded[0] | recorded[1] == {"c0", "c1", "c2", "c3"}
    owner = next(k for k in range(2) if "c1" in recorded[k])  # c1: two members that both say leader
    assert codes[owner] == 3 and codes[1 - owner] == 0
