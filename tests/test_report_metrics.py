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


def test_shipped_rules_pass_promtool(tmp_path: Path) -> None:
    check = subprocess.run([PROMTOOL, "check", "rules", "quorumwatch-rules.yml"], cwd=RULES,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert check.returncode == 0 and "SUCCESS: 4 rules found" in check.stdout, check.stdout + check.stderr
    tested = subprocess.run([PROMTOOL, "test", "rules", "quorumwatch-rules.test.yml"], cwd=RULES,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert tested.returncode == 0 and "SUCCESS" in tested.stdout, tested.stdout + tested.stderr


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
