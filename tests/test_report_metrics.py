"""Prometheus metrics of a watch, and the shipped alert rules: unit-tested by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from quorumwatch.analysis import History, analyze
from quorumwatch.analysis.online import OnlineAnalysis
from quorumwatch.report.metrics import WatchMetrics
from tests.test_analysis import history

RULES = Path(__file__).resolve().parent.parent / "contrib" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def _fed(rows: dict[str, str], epochs: dict[str, list[int | None]]) -> WatchMetrics:
    m, grader = WatchMetrics(), OnlineAnalysis()
    m.start("meta", list(rows))
    for t in history(rows, epochs):
        grader.feed(t)
        m.observe("meta", t, grader.active, grader.leaderless.total_ns)
    return m


def test_graded_dual_leader_time_and_state() -> None:
    m = _fed({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    get = m.registry.get_sample_value
    # proven from a's... b's first receive (410 ms) to a's last send (600 ms)
    assert get(
        "quorumwatch_dual_leader_seconds_total", {"cluster": "meta", "certainty": "certain"}
    ) == pytest.approx(0.19)
    assert get("quorumwatch_dual_leader_active", {"cluster": "meta", "certainty": "certain"}) == 0  # over
    assert get("quorumwatch_leaders", {"cluster": "meta"}) == 1
    assert get("quorumwatch_leader_changes_total", {"cluster": "meta"}) == 1  # a, then b agreed
    assert (
        get("quorumwatch_node_role", {"cluster": "meta", "node": "a", "quorumwatch_node_role": "follower"})
        == 1
    )
    assert get("quorumwatch_node_epoch", {"cluster": "meta", "node": "b"}) == 2
    assert get("quorumwatch_ticks_total", {"cluster": "meta"}) == 10
    assert get("quorumwatch_violation_active", {"cluster": "meta"}) == 0


def test_a_cluster_no_longer_watched_leaves_no_series() -> None:
    """A fleet's removed file: its series go (a stale dual_leader_active would page for a cluster
    nobody watches); the other cluster's stay, and the count of clusters watched follows."""
    m = _fed({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL"}, {"a": [1] * 10, "b": [2] * 10})
    m.start("kv", ["a", "b"])
    for t in history({"a": "LLL", "b": "FFX"}, {"a": [1] * 3}):
        m.observe("kv", t, [], {True: 0, False: 0})
    get = m.registry.get_sample_value
    assert get("quorumwatch_clusters_watched") == 2
    assert get("quorumwatch_probe_errors_total", {"cluster": "kv", "node": "b", "reason": "timeout"}) == 1
    m.forget("meta")
    assert get("quorumwatch_clusters_watched") == 1
    names = {s.name for f in m.registry.collect() for s in f.samples if s.labels.get("cluster") == "meta"}
    assert names == set()
    assert get("quorumwatch_ticks_total", {"cluster": "kv"}) == 3
    assert get("quorumwatch_probe_errors_total", {"cluster": "kv", "node": "b", "reason": "timeout"}) == 1


def test_errors_by_reason_and_leaderless_time() -> None:
    """Leaderless time is results.json's: a may have led until its first follower answer came
    back (410 ms), so [410, 500] ms (the last send) is certain as the ticks come; b then leads,
    proven from 610 ms, which makes [100, 610] ms (no node certainly leader) final."""
    rows = {"a": "LLXXFFFFF", "b": "FFFFFFLLL"}
    epochs: dict[str, list[int | None]] = {"a": [1] * 9, "b": [2] * 9}
    m = _fed(rows, epochs)
    get = m.registry.get_sample_value
    assert get("quorumwatch_probe_errors_total", {"cluster": "meta", "node": "a", "reason": "timeout"}) == 2
    possible = get("quorumwatch_leaderless_seconds_total", {"cluster": "meta", "certainty": "possible"})
    certain = get("quorumwatch_leaderless_seconds_total", {"cluster": "meta", "certainty": "certain"})
    assert possible == pytest.approx(0.51) and certain == pytest.approx(0.09)
    windows = analyze(History(history(rows, epochs))).leaderless
    assert (certain, possible) == pytest.approx(
        tuple(sum(w.duration_ns for w in windows if w.certain is c) / 1e9 for c in (True, False))
    )
    assert get("quorumwatch_probe_rtt_seconds_count", {"cluster": "meta", "node": "b"}) == 9


@pytest.mark.parametrize(("rules", "count"), [("quorumwatch-rules", 4), ("quorumwatch-fleet-rules", 7)])
def test_shipped_rules_pass_promtool(rules: str, count: int) -> None:
    check = subprocess.run([PROMTOOL, "check", "rules", f"{rules}.yml"], cwd=RULES,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert check.returncode == 0 and f"SUCCESS: {count} rules found" in check.stdout, (
        check.stdout + check.stderr
    )
    tested = subprocess.run([PROMTOOL, "test", "rules", f"{rules}.test.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


def test_fleet_rule_tests_can_fail(tmp_path: Path) -> None:
    """A fleet count that counted series instead of clusters (two shards' copies of one) fails them."""
    rules = (RULES / "quorumwatch-fleet-rules.yml").read_text()
    wrong = rules.replace(
        "count(count by (cluster) (quorumwatch_ticks_total) > 1)", "count(quorumwatch_ticks_total)"
    )
    assert wrong != rules
    (tmp_path / "quorumwatch-fleet-rules.yml").write_text(wrong)
    shutil.copy(RULES / "quorumwatch-fleet-rules.test.yml", tmp_path)
    tested = subprocess.run([PROMTOOL, "test", "rules", "quorumwatch-fleet-rules.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert tested.returncode != 0 and "clusters_watched_twice" in tested.stdout + tested.stderr


def test_promtool_catches_a_wrong_expectation(tmp_path: Path) -> None:
    """The rule tests can fail: the same tests against a rule that never fires do."""
    rules = (RULES / "quorumwatch-rules.yml").read_text()
    (tmp_path / "quorumwatch-rules.yml").write_text(rules.replace('certainty="certain"', 'certainty="never"'))
    shutil.copy(RULES / "quorumwatch-rules.test.yml", tmp_path)
    tested = subprocess.run([PROMTOOL, "test", "rules", "quorumwatch-rules.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert (
        tested.returncode != 0 and "alertname: QuorumwatchDualLeaderCertain" in tested.stdout + tested.stderr
    )
