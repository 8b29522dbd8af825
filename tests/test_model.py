"""Typed event records: what is stored is plain JSON; what is read back is a typed record, and
anything that does not fit one (a newer kind, a damaged history) is an UnknownEvent, never a crash."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from quorumwatch.model import (
    CommandRun,
    Event,
    EventBody,
    FaultHealed,
    FaultInjected,
    HealFailed,
    Note,
    SteadyChecked,
    TrialEnded,
    TrialStarted,
    UnknownEvent,
    parse_body,
)  # fmt: skip
from quorumwatch.store import HistoryFile

BODIES: list[EventBody] = [
    CommandRun("inject", 1, ("ip", "link", "set", "eth0", "down"), 0, True, 10, 20, "", ""),
    FaultInjected(1, "link", "leader", ("n1",), "link down on n1", 2, {"pairs": [["n1", "n2"]]}),
    FaultHealed(1, "link", ("n1",), "link down on n1"),
    HealFailed(1, ("ip: no such device",)),
    TrialStarted(1, 3),
    TrialEnded(1, True),
    SteadyChecked(False, "after trial 1", "L L F"),
    Note("clock offsets at the start: n1 +0.1±0.2 ms"),
]


def test_every_record_survives_the_store(tmp_path: Path) -> None:
    h = HistoryFile.create(tmp_path / "h.sqlite", ["n1"], {})
    for i, body in enumerate(BODIES):
        h.append_event(Event.of(i, 1_000 + i, "n1" if i == 0 else None, body))
    back = [e.body for e in h.events()]
    h.close()
    assert back == BODIES
    assert json.loads(json.dumps(Event.of(0, 0, None, BODIES[1]).data))["nodes"] == ["n1"]  # JSON-ready


def test_what_does_not_fit_is_unknown_not_an_error() -> None:
    assert parse_body("fault.partition.v9", {"x": 1}) == UnknownEvent("fault.partition.v9", {"x": 1})
    assert isinstance(parse_body("trial.start", {"trial": "one", "of": 3}), UnknownEvent)
    assert isinstance(parse_body("trial.end", {"trial": 1}), UnknownEvent)  # a field missing
    assert isinstance(parse_body("cmd", {"argv": "ls"}), UnknownEvent)
    assert isinstance(parse_body("note", ["not", "an", "object"]), UnknownEvent)
    assert parse_body("fault.heal", {"fault": 2}) == FaultHealed(2)  # optional fields default
    # a fault recorded without its target (older histories) is still a fault: its trial must not vanish
    old = parse_body("fault.inject", {"fault": 1, "kind": "link", "nodes": ["n1"], "trial": 1})
    assert old == FaultInjected(1, "link", None, ("n1",), "", 1)


@given(
    st.text(max_size=20),
    st.dictionaries(st.text(max_size=10), st.none() | st.integers() | st.text(max_size=5)),
)
def test_any_kind_and_data_parse_without_raising(kind: str, data: dict[str, object]) -> None:
    parse_body(kind, data)
