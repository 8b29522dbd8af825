"""Patterns that cannot hang a scan: RE2 where it can, a time budget where it cannot, Python's
meaning either way."""

from __future__ import annotations

import time

import pytest

from quorumwatch.logs import patterns, rules
from quorumwatch.logs.patterns import OverBudget, compile_text, line_positions


def test_linear_patterns_run_on_re2_and_keep_their_groups() -> None:
    p = compile_text(r"(?P<self>[0-9a-f]+) became leader at term (?P<epoch>\d+)")
    assert not isinstance(p, patterns._Budgeted)  # on RE2: no search of it can run long
    m = p.search("x 8e9e became leader at term 12")
    assert m is not None and m.group("epoch") == "12" and m.groupdict() == {"self": "8e9e", "epoch": "12"}
    assert dict(p.groupindex) == {"self": 1, "epoch": 2} and p.groups == 2


@pytest.mark.parametrize(
    "pattern", [r"(cd)\1 up", r"(?P<e>\d+)-(?P=e)", r"(?=a)b", r"\N{LATIN SMALL LETTER A}x", r"x\Z"]
)
def test_what_re2_refuses_runs_budgeted_with_python_meaning(pattern: str) -> None:
    import re

    p = compile_text(pattern)
    assert isinstance(p, patterns._Budgeted)
    for text in ("cdcd up", "cdce up", "7-7", "7-8", "ab", "b", "ax", "x"):
        assert bool(p.search(text)) == bool(re.search(pattern, text)), (pattern, text)


@pytest.mark.parametrize("pattern", [")", "a{99999999999}", "(" * 10 + "a", "(?P<x>a)(?P<x>b)"])
def test_what_python_refuses_is_refused(pattern: str) -> None:
    # RE2 would read `a{99999999999}` as plain text: patterns mean what they mean in Python
    with pytest.raises(ValueError, match=r".+"):
        compile_text(pattern)


def test_a_catastrophic_pattern_stops_at_its_budget() -> None:
    p = compile_text(r"(?=a)(a+)+$")  # the lookahead keeps it off RE2; (a+)+$ backtracks 2^n
    t = time.monotonic()
    with pytest.raises(OverBudget, match="ran past its"):
        p.search("a" * 10_000_000 + "!")
    assert time.monotonic() - t < 20  # the budget is 0.25 s; bounds wide enough for a loaded machine


def test_line_positions_are_line_starts_of_matches_in_raw_bytes() -> None:
    lp = line_positions(r"[0-9a-f]+ became")
    assert lp is not None
    chunk = b"x\n" + b"ab12" * 2_500_000 + b"\nff became\n"  # 10 MB of hex: linear, no backtracking
    assert list(lp.starts(chunk, len(chunk))) == [len(chunk) - len(b"ff became\n")]
    assert line_positions(r"(a)\1") is None  # the caller then takes every line


def test_every_built_in_pack_is_linear() -> None:
    for name in rules.BUILTIN:
        pack = rules.builtin(name)
        assert not any(isinstance(r.pattern, patterns._Budgeted) for r in pack.rules), name
        assert all(isinstance(x, patterns.LinePositions) for x in pack.candidates().regexes), name


def test_a_pattern_whose_meaning_python_says_will_change_is_refused_not_warned() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning reaches the user
        with pytest.raises(ValueError, match=r"^ambiguous, Possible nested set at position 1"):
            compile_text("[[:alpha:]]+x")  # a set to Python 3.11, a POSIX class to RE2 and regex
    escaped = r"\[[:alpha:]]+x"  # one meaning: "[", one of ":alph", "]"s, "x"
    assert compile_text(escaped).search("[a]]x") is not None and compile_text(escaped).search("[b]x") is None
