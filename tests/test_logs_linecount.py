"""The vectorised counts give exactly what the regexes give: lines, lines that start no record, and
each candidate's line number; a file scanned with and without numpy reports the same."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumwatch.logs import linecount, rules
from quorumwatch.logs.formats import FORMATS, _nonstart
from quorumwatch.logs.reader import FileStats, scan


@pytest.mark.parametrize(
    ("pattern", "length"),
    [
        (rb"[IWEF]\d\d\d\d", 5),
        (rb"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", 19),
        (rb'\{"t":\{"\$date":', 14),
        (rb"[^x]\w\s.", 4),
    ],
)
def test_fixed_patterns_become_byte_classes(pattern: bytes, length: int) -> None:
    classes = linecount.fixed_classes(pattern)
    assert classes is not None and len(classes) == length
    regex = re.compile(pattern)
    # each class is exactly the bytes the regex takes at that position
    for j, allowed in enumerate(classes):
        for b in (0x0A, 0x20, 0x30, 0x41, 0x49, 0x5F, 0x7B, 0xFF):
            probe = bytearray(b"".join(bytes([min(c)]) for c in classes))
            probe[j] = b
            assert (b in allowed) == (regex.fullmatch(bytes(probe)) is not None), (pattern, j, b)


@pytest.mark.parametrize(
    "pattern", [rb"\d+", rb"ab|c", rb"\d{1,9}", rb"(?i)abc", rb"^x", rb"(?:ab)?", rb".*", rb"a(?=b)", b""]
)
def test_other_patterns_stay_with_the_regex(pattern: bytes) -> None:
    assert linecount.fixed_classes(pattern) is None


def _regex_counts(buf: bytes, start: bytes) -> tuple[int, list[int]]:
    cut = len(buf)
    found = [m.end() for m in _nonstart(start).finditer(buf, 0, cut)]
    if buf.endswith(b"\n"):
        found = found[:-1]
    return buf.count(b"\n"), found


LINES = st.lists(
    st.sampled_from(["I1203 20:16:11.1 x", "W0101 00:00:00.0 y", "  at frame", "", "I12", "E99999", "garbage",
                     "I1203", "\r", "é"]),
    max_size=40,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(LINES, st.booleans())
def test_nonstarts_are_what_the_regex_finds(lines: list[str], terminated: bool) -> None:
    buf = "\n".join(lines).encode() + (b"\n" if terminated and lines else b"")
    start = FORMATS["glog"].quick
    classes = linecount.fixed_classes(start)
    assert classes is not None
    nl = linecount.newlines(buf, len(buf))
    count, expected = _regex_counts(buf, start)
    assert len(nl) == count
    assert [int(x) for x in linecount.nonstarts(buf, len(buf), nl, classes)] == expected
    for offset in range(len(buf) + 1):
        assert linecount.line_of(nl, offset) == buf.count(b"\n", 0, offset)


def test_a_file_scans_the_same_with_and_without_numpy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines, records, lines without a timestamp, their examples and every record with its line
    number, over a file of several chunks with continuations and garbage between records."""
    lines = []
    for i in range(60_000):
        lines.append(f"I1203 20:{i // 6000 % 60:02d}:{i % 60:02d}.000001 42 m.cc:1] noise {i}")
        if i % 997 == 0:
            lines.append("I1203 20:00:00.000001 42 m.cc:2] [ROLE CHANGE] I am the leader now.  seq is 1")
        if i % 1231 == 0:
            lines += ["    at a continuation", "not a record at all", "I12 short"]
    path = tmp_path / "n1.INFO"
    path.write_text("\n".join(lines) + "\nI1203 20:00:00.000002 42 m.cc:3] Start the leader role")
    pack = rules.builtin("zk-elected")

    def run() -> tuple[list[tuple[int, int, str]], FileStats]:
        stats = FileStats(str(path), None)
        found = [(r.line, r.ts_ns, r.message) for r in scan(path, pack, tz=dt.UTC, year=2022, stats=stats)]
        return found, stats

    fast, fast_stats = run()
    assert linecount.available()
    monkeypatch.setattr(linecount, "np", None)
    slow, slow_stats = run()
    assert fast == slow and len(fast) > 60
    assert fast_stats == slow_stats
    assert fast_stats.lines == len(lines) + 1 and fast_stats.without_timestamp == 3 * 49
    assert fast_stats.examples == slow_stats.examples and "not a record at all" in fast_stats.examples
