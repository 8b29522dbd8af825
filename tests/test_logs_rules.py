"""Candidate search of rule packs: hyperscan and the plain finds agree line for line."""

from __future__ import annotations

import pytest

from quorumwatch.logs import rules


def _lines(chunk: bytes, positions: list[int]) -> list[int]:
    return sorted({chunk.count(b"\n", 0, p) for p in positions})


def test_hyperscan_and_the_finds_find_the_same_candidate_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    pack = rules.builtin("zk-elected")
    messages = [
        b"noise", b"Start the leader role", b"noise", b"Leader is 10.0.0.1:8200. seq is 3",
        b"Stopping quorum cluster.", b"zookeeper session event: A --> B", b"Start the follower role",
    ]  # fmt: skip
    chunk = b"".join(
        b"I1128 10:00:%02d.000000 1 m.cc:1] %s\n" % (i % 60, msg) for i, msg in enumerate(messages * 50)
    )
    finder = pack.candidates()
    assert rules._literal_database(finder.literals) is not None  # the wheel's hyperscan is there
    end = chunk.index(b"\n", len(chunk) // 2) + 1
    fast, fast_end = _lines(chunk, finder.positions(chunk)), _lines(chunk, finder.positions(chunk, end))
    monkeypatch.setattr(rules, "_literal_database", lambda literals: None)
    plain = _lines(chunk, finder.positions(chunk))
    assert fast == plain and len(fast) == 250
    # up to `end` only
    assert (
        fast_end
        == [n for n in plain if n < chunk.count(b"\n", 0, end)]
        == _lines(chunk, finder.positions(chunk, end))
    )
