"""Candidate search of rule packs: hyperscan and the plain finds agree line for line."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


@pytest.mark.parametrize(
    ("pattern", "literal"),
    [
        (r"\x41bcd leader", "bcd leader"),  # not "41bcd leader": \x41 is one character, "A"
        (r"\u00e9t\u00e9 leader", " leader"),
        (r"\101bcd leader", "bcd leader"),
        (r"\N{LATIN SMALL LETTER A}bcd leader", "bcd leader"),
        (r"(cd)\1 became leader", " became leader"),
        (r"\dbecame leader", "became leader"),
        (r"became leader", "became leader"),
    ],
)
def test_the_required_phrase_reads_escapes_whole(pattern: str, literal: str) -> None:
    import re

    assert rules.required_literal(pattern) == literal
    # and every text the pattern matches contains it (what the prefilter relies on)
    sample = {r"\x41bcd leader": "Abcd leader", r"\u00e9t\u00e9 leader": "été leader",
              r"\101bcd leader": "Abcd leader", r"\N{LATIN SMALL LETTER A}bcd leader": "abcd leader",
              r"(cd)\1 became leader": "cdcd became leader", r"\dbecame leader": "7became leader",
              r"became leader": "became leader"}[pattern]  # fmt: skip
    assert re.search(pattern, sample) and literal in sample


def _found(pack: rules.Pack, lines: list[str]) -> list[int]:
    chunk = "".join(f"I1128 10:00:00.000000 1 m.cc:1] {x}\n" for x in lines).encode()
    return _lines(chunk, pack.candidates().positions(chunk))


def test_rules_that_change_meaning_when_joined_keep_it_in_a_merged_pack() -> None:
    flags = rules.quick_pack("(?i)became leader", "(?i)stopped leading")
    backref = rules.quick_pack(r"(cd)\1 up", r"(x)y\1 down")  # numbered groups of their own
    named = rules.quick_pack(r"(?P<epoch>\d+)-(?P=epoch) up", "gone")
    unicode = rules.quick_pack(r"\N{LATIN SMALL LETTER E WITH ACUTE}lu", "fini")
    from quorumwatch.logs.forensics import role_event

    lines = ["BECAME LEADER", "noise", "cdcd up", "xyx down", "7-7 up", "élu", "cdce up", "7-8 up"]
    # a flag for the whole expression keeps its meaning joined with others (RE2 runs the join)
    assert _found(rules.merge([flags, rules.builtin("zk-elected")]), lines) == [0]
    merged = rules.merge([flags, backref, named, rules.builtin("zk-elected")])
    for pack, leading in ((merged, [0, 2, 3, 4]), (rules.merge([unicode, merged]), [0, 2, 3, 4, 5])):
        # backreferences and \N{...} have no linear-time prefilter: every line is a candidate, and
        # the rules themselves decide, each with its own groups
        assert _found(pack, lines) == list(range(len(lines)))
        events = [role_event("n1", "f", i, 0, x, pack) for i, x in enumerate(lines)]
        assert [i for i, e in enumerate(events) if e is not None] == leading
    e = role_event("n1", "f", 1, 0, "7-7 up", merged)
    assert e is not None and e.kind == "leader_start" and e.epoch == 7


def test_bad_patterns_on_the_command_line_are_config_errors_naming_the_option() -> None:
    from quorumwatch.config import ConfigError

    for start, stop, epoch, option in (
        (")", "x", None, "--leader-start"), ("x", "a{99999999999}", None, "--leader-stop"),
        ("x", "y", "(" * 10 + "a", "--epoch"),
    ):  # fmt: skip
        with pytest.raises(ConfigError, match=f"^{option}: bad regular expression"):
            rules.quick_pack(start, stop, epoch)


def test_an_epoch_pattern_without_a_named_group_uses_its_first_group() -> None:
    from quorumwatch.logs.forensics import role_event

    pack = rules.quick_pack("Became Leader", "stopped", r"term \((\d+)\)")
    e = role_event("n1", "f", 1, 0, "Became Leader term (5)", pack)
    assert e is not None and e.kind == "leader_start" and e.epoch == 5


def test_a_zxid_group_that_is_no_hex_number_gives_no_epoch_and_no_crash() -> None:
    from quorumwatch.logs.forensics import role_event

    pack = rules.quick_pack(r"(?P<zxid>\w+) leader", "stopped")
    e = role_event("n1", "f", 1, 0, "zebra leader", pack)
    assert e is not None and e.epoch is None


def _log(tmp_path: Path, body: str) -> dict[str, list[Path]]:
    f = tmp_path / "n1" / "n1.log"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(body)
    return {"n1": [f]}


def test_a_catastrophic_rule_on_a_10_mb_line_is_stopped_and_said(tmp_path: Path) -> None:
    import datetime as dt
    import time

    from quorumwatch.logs.scan import run_logs
    from quorumwatch.model import Verdict

    line = "2019-03-02 11:05:{:02d},380 - INFO  [x] - {}\n"
    files = _log(
        tmp_path,
        line.format(9, "LEADING") + line.format(10, "a" * 10_000_000 + "!") + line.format(11, "stop"),
    )
    pack = rules.quick_pack(r"(?=a)(a+)+$", "stop")
    t = time.monotonic()
    result = run_logs(files, pack, tz=dt.UTC, year=None, skew_s=0.0, offsets_s={})
    assert time.monotonic() - t < 30  # one 0.25 s budget; wide bounds for a loaded machine
    (stats,) = result.stats
    assert stats.unexamined == 1 and stats.unexamined_at == 2 and "budget" in (stats.unexamined_why or "")
    # no overlap in what was read, but a line that may say who led was not read: never ok
    assert result.forensics.verdict is Verdict.INCONCLUSIVE and result.unexamined()


def test_the_etcd_pack_reads_a_long_run_of_hex_digits_in_linear_time(tmp_path: Path) -> None:
    import datetime as dt
    import time

    from quorumwatch.logs.scan import run_logs

    zap = '{{"level":"info","ts":"2026-11-27T02:19:4{}.374Z","caller":"raft/raft.go:771","msg":"{}"}}\n'
    body = zap.format(1, "ab12" * 250_000) + zap.format(2, "361f7e1f34ab6b40 became leader at term 2")
    t = time.monotonic()
    result = run_logs(_log(tmp_path, body), None, tz=dt.UTC, year=None, skew_s=0.0, offsets_s={})
    assert time.monotonic() - t < 30  # 32 s before, for 1 MB of hex: quadratic backtracking
    assert [e.kind for e in result.forensics.events] == ["leader_start"] and not result.unexamined()


_PATTERN_ALPHABET = "ab(|)*+?{}[]^$\\.-,0123456789dDwWsSbBPN<>=!:?iLmsux'é "


@settings(max_examples=600, deadline=None)
@given(
    st.text(alphabet=_PATTERN_ALPHABET, max_size=30),
    st.text(alphabet=_PATTERN_ALPHABET, max_size=30),
    st.one_of(st.none(), st.text(alphabet=_PATTERN_ALPHABET, max_size=30)),
    st.lists(st.text(alphabet="ab()|-. 0123456789é\\", max_size=60), max_size=5),
)
def test_fuzzed_patterns_are_rules_or_one_line_errors_naming_the_option(
    start: str, stop: str, epoch: str | None, lines: list[str]
) -> None:
    """--leader-start/--leader-stop/--epoch as a hostile user types them: a pack whose rules read
    any line (or stop at their budget), or a ConfigError naming the option; never a traceback."""
    from quorumwatch.config import ConfigError
    from quorumwatch.logs.forensics import role_event
    from quorumwatch.logs.patterns import OverBudget

    if not start or not stop:
        return
    try:
        pack = rules.merge([rules.quick_pack(start, stop, epoch), rules.builtin("etcd")])
    except ConfigError as exc:
        error = str(exc)
    else:
        error = ""
        chunk = "".join(f"I1128 10:00:00.000000 1 m.cc:1] {x}\n" for x in lines).encode()
        pack.candidates().positions(chunk)
        for x in lines:
            with contextlib.suppress(OverBudget):  # counted as a line not examined by the scan
                role_event("n1", "f", 1, 0, x, pack)
    assert not error or (error.startswith("--") and "\n" not in error), error


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fuzzed_rule_files_load_or_fail_naming_the_file(data: st.DataObject) -> None:
    """Rule pack files as users write them, and break them: a pack, or one ConfigError per
    problem naming the file (and line); never a traceback."""
    import tempfile

    import yaml

    from quorumwatch.config import ConfigError

    text = st.text(alphabet=_PATTERN_ALPHABET, max_size=20)
    rule = st.fixed_dictionaries(
        {},
        optional={
            "event": st.sampled_from(
                ["leader_start", "leader_stop", "epoch", "follower_start", "crowned", 7]
            ),
            "match": st.one_of(text, st.integers(), st.none(), st.lists(text, max_size=2)),
            "prefilter": st.one_of(text, st.none()),
            "extra": text,
        },
    )
    doc = data.draw(
        st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "name": st.one_of(text, st.integers()),
                    "formats": st.lists(st.sampled_from(["glog", "zap", "nope"]), max_size=2),
                    "rules": st.one_of(st.lists(rule, max_size=4), text),
                },
            ),
            st.lists(text, max_size=2),
            text,
        )
    )
    # every draw before the file exists: a draw may end the example (hypothesis's StopTest), and a
    # file made before it would be left behind in the temporary directory
    whole = data.draw(st.booleans())
    cut = data.draw(st.integers(0, 60))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(yaml.safe_dump(doc) if whole else yaml.safe_dump(doc)[:cut])
    try:
        pack = rules.load_pack(f.name)
    except ConfigError as exc:
        problems = str(exc).splitlines()
    else:
        problems = []
        assert pack.rules and all(r.pattern is not None for r in pack.rules)
        pack.candidates().positions(b"I1128 10:00:00.000000 1 m.cc:1] became leader\n")
    finally:
        Path(f.name).unlink()
    assert all(line.startswith(f.name) for line in problems), problems


def test_same_makes_a_rule_apply_only_where_two_groups_agree(tmp_path: Path) -> None:
    """`same: [self, lost]` says what a backreference would (a leader losing its own leadership)
    and keeps the pack on RE2; a group `same` names must exist."""
    from quorumwatch.config import ConfigError
    from quorumwatch.logs.forensics import role_event

    etcd = rules.builtin("etcd")
    own = role_event("n1", "f", 1, 0, "raft.node: 8e9e lost leader 8e9e at term 3", etcd)
    other = role_event("n1", "f", 1, 0, "raft.node: 8e9e lost leader 91bc at term 3", etcd)
    assert own is not None and (own.kind, own.epoch) == ("leader_stop", 3)
    assert other is not None and (other.kind, other.data["leader"]) == ("believed_leader", "91bc")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nrules:\n  - {event: leader_stop, match: '(?P<a>\\w+) left', same: [a, b]}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*same: no group named b in match"):
        rules.load_pack(bad)
