"""results.json follows the contract in docs/results.md."""

from __future__ import annotations

import json
import re

from quorumwatch._serial import iso
from quorumwatch.analysis import analyze
from quorumwatch.report.results import RESULTS_VERSION, results
from tests.test_analysis import history, link_fault_on_a

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def test_iso_utc() -> None:
    assert iso(1_659_644_100_514_593_123) == "2022-08-04T20:15:00.514593Z"


def test_contract_fields_and_types() -> None:
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    events = link_fault_on_a()
    data = json.loads(
        json.dumps(results(analyze(ticks, events), 1_785_000_000_000_000_000, {"cluster": "c"}))
    )
    assert data["version"] == RESULTS_VERSION
    assert (
        data["verdict"] in ("ok", "possible", "dual_leader", "violation") and data["verdict"] == "dual_leader"
    )
    for d in data["dual_leaders"]:
        assert set(d) >= {"nodes", "epochs", "start", "end", "duration_s", "certain"}
        assert ISO.match(d["start"]) and ISO.match(d["end"]) and d["duration_s"] >= 0
    assert any(d["certain"] and d["epochs"] == [1, 2] for d in data["dual_leaders"])
    assert isinstance(data["artifact_ticks"], int)
    for w in data["leaderless"]:
        assert set(w) >= {"start", "end", "duration_s", "certain"}
    (t,) = data["trials"]
    assert set(t) >= {
        "fault",
        "target",
        "injected_at",
        "healed_at",
        "old_leader",
        "new_leader",
        "time_to_new_leader_s",
        "leaderless_s",
        "stale_leader_s",
        "converged_after_heal_s",
    }
    assert ISO.match(t["injected_at"]) and ISO.match(t["healed_at"])
    assert (t["old_leader"], t["new_leader"], t["stale_leader_s"]) == ("a", "b", 0.19)
    s = data["summary"]
    assert s["trials"] == 1
    for figure in ("time_to_new_leader_s", "leaderless_s", "stale_leader_s", "converged_after_heal_s"):
        assert set(s[figure]) >= {"min", "p50", "p90", "p99", "max"}
