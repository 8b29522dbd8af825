"""results.json follows the contract in docs/results.md."""

from __future__ import annotations

import json
import re

import jsonschema
import pydantic
import pytest

from quorumwatch._serial import iso
from quorumwatch.analysis import analyze
from quorumwatch.report.results import RESULTS_VERSION, results
from quorumwatch.report.schema import Results, schema_text
from tests.results_contract import SCHEMA_FILE, validate
from tests.test_analysis import history, link_fault_on_a

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z$")


def test_iso_utc() -> None:
    assert iso(1_659_644_100_514_593_123) == "2022-08-04T20:15:00.514593Z"


def test_contract_fields_and_types() -> None:
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    events = link_fault_on_a()
    data = validate(
        json.loads(results(analyze(ticks, events), 1_785_000_000_000_000_000, {"cluster": "c"}).to_json())
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


def test_shipped_schema_is_the_models_schema() -> None:
    """docs/results.schema.json is generated from the pydantic models: regenerate it with
    `.venv/bin/python -c "from quorumwatch.report.schema import schema_text; print(schema_text(), end='')"
    > docs/results.schema.json` when a model changes."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()


def test_schema_rejects_what_the_contract_forbids() -> None:
    ticks = history({"a": "LLLFFF", "b": "FFFLLL"}, {"a": [1] * 6, "b": [2] * 6})
    good = json.loads(results(analyze(ticks), 0).to_json())
    validate(good)
    assert "logs" not in good  # absent, not null, when the run collected none
    for broken in (
        {**good, "verdict": "fine"},
        {**good, "harm": "none"},
        {**good, "surprise": 1},
        {k: v for k, v in good.items() if k != "trials"},
        {**good, "dual_leaders": [{"nodes": ["a"], "epochs": [1], "start": "x", "end": "y",
                                   "duration_s": 1, "certain": True, "kind": "dual_leader"}]},
    ):  # fmt: skip
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)
        with pytest.raises(pydantic.ValidationError):
            Results.model_validate(broken)


def test_results_round_trip_through_the_model() -> None:
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL"}, {"a": [1] * 10, "b": [2] * 10})
    out = results(analyze(ticks, link_fault_on_a()), 10**18, {"cluster": "c"})
    again = Results.model_validate_json(out.to_json())
    assert again == out and again.verdict.exit_code == 3
    assert any(d.certain and d.kind == "dual_leader" for d in again.dual_leaders)


def test_possible_overlaps_beyond_the_listing_cap_are_counted_and_the_longest_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dataclasses

    from quorumwatch.analysis import Overlap
    from quorumwatch.report import results as results_module

    monkeypatch.setattr(results_module, "LISTED_POSSIBLE", 2)
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    a = analyze(ticks)
    ms = 1_000_000
    possible = [Overlap(("a", "c"), (None, None), k * 100 * ms, k * 100 * ms + d * ms, False) for k, d in
                enumerate((5, 40, 10, 30))]  # fmt: skip
    a = dataclasses.replace(a, overlaps=tuple(sorted([*a.overlaps, *possible], key=lambda o: o.start)))
    data = validate(json.loads(results(a, 0).to_json()))
    every = [o for o in a.overlaps if not o.certain]
    longest = sorted(every, key=lambda o: o.duration_ns)[-2:]
    listed = [d for d in data["dual_leaders"] if not d["certain"]]
    assert len(every) > 2 and [d["start"] for d in listed] == [
        iso(o.start) for o in sorted(longest, key=lambda o: o.start)
    ]
    assert (
        sum(d["certain"] for d in data["dual_leaders"]) == sum(o.certain for o in a.overlaps) > 0
    )  # never capped
    assert data["possible_overlaps"] == {
        "count": len(every), "listed": 2, "total_s": round(sum(o.duration_ns for o in every) / 1e9, 6),
        "longest_s": max(o.duration_ns for o in every) / 1e9,
    }  # fmt: skip
