"""results.json follows the contract in docs/results.md."""

from __future__ import annotations

import json
import re

import jsonschema
import pydantic
import pytest

from quorumwatch._serial import iso
from quorumwatch.analysis import History, RunMeta, analyze
from quorumwatch.model import WorkloadKind
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
        json.loads(
            results(analyze(History(ticks, events)), 1_785_000_000_000_000_000, {"cluster": "c"}).to_json()
        )
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
    good = json.loads(results(analyze(History(ticks)), 0).to_json())
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
    out = results(analyze(History(ticks, link_fault_on_a())), 10**18, {"cluster": "c"})
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
    a = analyze(History(ticks))
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


def test_a_register_run_lists_its_stale_reads_by_node_and_the_summary_names_the_first() -> None:
    from quorumwatch.model import Operation, OperationKind, Outcome
    from quorumwatch.report.summary import harm_line

    # a leads epoch 1 and keeps claiming it; b leads epoch 2 from 400 ms: both certain from 410 to 600
    ticks = history({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL", "c": "FFFFFFFFFF"}, {"a": [1] * 10, "b": [2] * 10})
    ms = 1_000_000

    def o(i: int, node: str, kind: str, value: str | None, t: int, **kw: str) -> Operation:
        return Operation(i, OperationKind(kind), node, t * ms, (t + 5) * ms, 0, Outcome.OK, value,
                         2 if node == "b" else 1, None, kw.get("key", "k1"))  # fmt: skip

    ops = [
        o(0, "a", "write", "0", 100),
        o(1, "b", "write", "1", 420),
        o(2, "a", "read", "0", 480),
        o(3, "a", "read", "0", 520),
        o(4, "b", "read", "1", 530),
        o(5, "b", "write", "5", 540, key="k2"),
    ]
    a = analyze(History(ticks, operations=ops, meta=RunMeta(workload=WorkloadKind.REGISTER)))
    data = validate(json.loads(results(a, 1_785_000_000_000_000_000).to_json()))
    assert data["harm"] == "stale_reads" and data["workload"]["kind"] == "register"
    lz = data["workload"]["linearizability"]
    assert (lz["verdict"], lz["reads"], lz["keys"]) == (
        "violated",
        3,
        {"checked": 2, "linearizable": 1, "violated": 1, "unknown": 0},
    )
    (v,) = lz["violations"]
    assert (v["key"], v["operation"]["index"], v["method"]) == ("k1", 2, "unique-values")
    assert [w["index"] for w in v["stale_by"]] == [1] and v["possible_values"] == ["1"]
    st = lz["stale_reads"]
    assert st["count"] == 2 and list(st["by_node"]) == ["a"]
    assert st["by_node"]["a"] == {
        "count": 2, "reads": 2, "served_as": {"stale leader": 2}, "epochs": [1],
        "overwritten_s": {"min": 0.055, "max": 0.095},
    }  # fmt: skip
    first = st["first"][0]
    assert (first["served_as"], first["certain"], first["newer_leader"], first["newer_epoch"]) == (
        "stale leader",
        True,
        "b",
        2,
    )
    line = harm_line(Results.model_validate(data))
    assert line == (
        "harm: stale reads — a (stale leader, epoch 1) served 2 of 2 reads with values overwritten "
        f"0.055–0.095 s earlier; first: k1 read 0 at {first['sent_at'][11:23]} after write 1 was "
        f"acknowledged by b at {first['overwritten_by']['returned_at'][11:23]}; 2 of 3 reads returned "
        "values already overwritten (1 of 2 keys not linearizable)"
    )
    assert data["workload"]["final_read"] is None


def test_writes_lost_by_a_leader_acting_alone_name_it_its_successor_and_no_dual_leader() -> None:
    """The Patroni pattern: the cut-off primary commits alone, demotes, a replica is promoted later
    without those writes; no two leaders ever overlapped."""
    from quorumwatch.model import FinalRead, Operation, OperationKind, Outcome
    from quorumwatch.report.summary import harm_line

    ticks = history({"a": "LLLLCCCCFFFF", "b": "FFFFCCCCLLLL"}, {"a": [1] * 12, "b": [2] * 12})
    ms = 1_000_000

    def add(i: int, node: str, t: int) -> Operation:
        return Operation(i, OperationKind.ADD, node, t * ms, (t + 5) * ms, 0, Outcome.OK, str(i), 1)

    ops = [add(0, "a", 50), add(1, "a", 170), add(2, "a", 250), add(3, "b", 900)]
    kept = FinalRead("b", 1100 * ms, 1101 * ms, 0, frozenset({"0", "3"}))
    a = analyze(
        History(
            ticks, link_fault_on_a(), operations=ops, final_read=kept, meta=RunMeta(workload=WorkloadKind.SET)
        )
    )
    out = results(a, 1_785_000_000_000_000_000)
    data = validate(json.loads(out.to_json()))
    assert data["verdict"] == "ok" and data["harm"] == "data_loss"
    assert data["workload"]["lost"]["by_node"] == {
        "a": {
            "count": 2, "acknowledged": 3, "served_as": {"alone": 2}, "epochs": [1],
            "since_fault_s": {"min": 0.025, "max": 0.105}, "successor": "b",
            "successor_at": iso(1_785_000_000_000_000_000 + 810 * ms), "successor_since_fault_s": 0.66,
        }
    }  # fmt: skip
    line = harm_line(out)
    assert line.startswith(
        "harm: data loss — a (epoch 1) acted alone after losing its lease: 2 of its 3 acknowledged writes "
        "lost, acknowledged 0.025–0.105 s after the fault began, before any second leader (b led from "
        "0.660 s after the fault)"
    )
    assert "dual leader" not in line
