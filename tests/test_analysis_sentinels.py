"""The sentinels' view against the nodes' roles, on literal views and recorded events."""

from __future__ import annotations

import json

import pytest

from quorumwatch.analysis import History, analyze
from quorumwatch.analysis.sentinels import sentinel_state, sentinel_windows
from quorumwatch.model import Event, SentinelView
from quorumwatch.report.results import results
from quorumwatch.report.summary import sentinels_line
from tests.results_contract import validate
from tests.test_analysis import MS, history


@pytest.mark.parametrize(
    ("named", "masters", "state"),
    [
        ({"s1": "n1", "s2": "n1"}, ["n1"], "agree"),
        ({"s1": "n1", "s2": None}, ["n1"], "agree"),  # one unanswered sentinel is no disagreement
        ({"s1": "n1", "s2": "n2"}, ["n1"], "disagree"),
        ({"s1": "n2", "s2": "n2"}, ["n1"], "masterless"),  # named, but n2 does not say master
        ({"s1": "n2"}, [], "masterless"),
        ({"s1": "n2", "s2": "n2"}, ["n1", "n2"], "two_masters"),  # n1 still says master
        ({"s1": None, "s2": None}, ["n1"], "unknown"),
    ],
)
def test_the_state_of_one_tick(named: dict[str, str | None], masters: list[str], state: str) -> None:
    assert sentinel_state(named, masters) == state


def view(t_ms: int, state: str, named: dict[str, str | None], masters: tuple[str, ...]) -> Event:
    return Event.of(t_ms * MS, 0, None, SentinelView(state, dict(named), masters, t_ms // 100))


def test_recorded_views_become_windows_results_and_a_summary_line() -> None:
    events = [
        view(0, "agree", {"s1": "n1", "s2": "n1"}, ("n1",)),
        view(300, "two_masters", {"s1": "n2", "s2": "n2"}, ("n1", "n2")),
        view(700, "agree", {"s1": "n2", "s2": "n2"}, ("n2",)),
    ]
    # the stored form reads back as the same records
    again = [Event(e.mono_ns, e.wall_ns, e.node, e.kind, json.loads(json.dumps(e.data))) for e in events]
    assert [e.body for e in again] == [e.body for e in events]
    windows = sentinel_windows(again, 1000 * MS)
    assert [(w.state, w.start // MS, w.end // MS) for w in windows] == [
        ("agree", 0, 300), ("two_masters", 300, 700), ("agree", 700, 1000)
    ]  # fmt: skip
    ticks = history({"n1": "LLLLLLLFFF", "n2": "FFFLLLLLLL"})
    out = results(analyze(History(ticks, again)), 0)
    data = validate(json.loads(out.to_json()))
    s = data["sentinels"]
    assert s["count"] == 1 and s["by_state_s"]["two_masters"] == 0.4
    assert s["windows"][0]["named"] == {"s1": "n2", "s2": "n2"} and s["windows"][0]["masters"] == ["n1", "n2"]
    assert sentinels_line(out).startswith("sentinels: agreed with the nodes ")
    assert "two masters 0.400 s (sentinels named n2 while n1, n2 said master)" in sentinels_line(out)
    # a run without sentinels has no such section
    assert "sentinels" not in json.loads(results(analyze(History(ticks)), 0).to_json())
