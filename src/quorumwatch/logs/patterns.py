"""Regular expressions that cannot hang a scan: RE2 (linear time, no backtracking) for every pattern
it accepts — the built-in packs and nearly all users' — and, for the few it refuses (backreferences,
lookarounds, `\\N{...}`, `\\u` escapes), the `regex` engine with a time budget per search.

Python's `re` backtracks: `(a+)+$` on a line of 40 `a` never ends, and the etcd pack's
`[0-9a-f]+ became` is quadratic on a long run of hex digits (one 100 KB line: 32 s). A search that
runs past the budget raises `OverBudget`; the scan counts that line as not examined (and says so),
it does not wait.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import re2
import regex

BUDGET_S = 0.25
"""Longest one search of a backtracking pattern may take (one line, one rule)."""


class Match(Protocol):
    def group(self, name: str | int, /) -> Any: ...

    def groupdict(self) -> dict[str, Any]: ...

    def start(self) -> int: ...


class TextPattern(Protocol):
    """What rules use of a compiled pattern (both engines offer it)."""

    @property
    def pattern(self) -> str: ...

    @property
    def groupindex(self) -> Mapping[str, int]: ...

    @property
    def groups(self) -> int: ...

    def search(self, text: str) -> Match | None: ...


class OverBudget(Exception):
    """A backtracking pattern ran past its budget on one line."""

    def __init__(self, pattern: str) -> None:
        super().__init__(f"pattern {pattern[:80]!r} ran past its {BUDGET_S:g} s budget")
        self.pattern = pattern


def _options(*, latin1: bool = False) -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    if latin1:
        options.encoding = re2.Options.Encoding.LATIN1  # bytes match byte for byte
    return options


class _Budgeted:
    """A `regex` pattern whose searches stop after BUDGET_S."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self.pattern: str = compiled.pattern
        self.groupindex: Mapping[str, int] = compiled.groupindex
        self.groups: int = compiled.groups

    def search(self, text: str) -> Match | None:
        try:
            m: Match | None = self._compiled.search(text, timeout=BUDGET_S)
        except TimeoutError:
            raise OverBudget(self.pattern) from None
        return m


@functools.lru_cache(maxsize=1024)
def compile_text(pattern: str) -> TextPattern:
    """The pattern on RE2 when it takes it, else budgeted; ValueError (printable) when Python's `re`
    refuses it: patterns mean what they mean in Python (RE2 would read `a{99999999999}` as text)."""
    with warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError, ValueError, MemoryError) as exc:
            # OverflowError: `a{99999999999}`; RecursionError: groups nested thousands deep
            raise ValueError(str(exc) or type(exc).__name__) from None
    if warned:
        # Python warns where its own reading will change (`[[:alpha:]]`: a set to Python 3.11, a
        # POSIX class to RE2, to `regex` and to later Pythons): no engine can be trusted to mean
        # what the user meant, so say so
        raise ValueError(f"ambiguous, {warned[0].message} (escape the character or write it out)")
    try:
        compiled: TextPattern = re2.compile(pattern, _options())
        return compiled
    except re2.error:
        pass
    try:
        return _Budgeted(regex.compile(pattern))
    except (regex.error, OverflowError, RecursionError, ValueError, MemoryError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None


class LinePositions:
    """Finds, in raw bytes, where a bytes pattern matches, line by line (multi-line mode), on RE2."""

    def __init__(self, pattern: str) -> None:
        self._compiled = re2.compile(b"(?m)" + pattern.encode(), _options(latin1=True))

    def starts(self, chunk: bytes | bytearray, end: int) -> Iterator[int]:
        for m in self._compiled.finditer(chunk, 0, end):
            yield m.start()


def line_positions(pattern: str) -> LinePositions | None:
    """None when RE2 cannot take the pattern as bytes (the caller then takes every line)."""
    try:
        return LinePositions(pattern)
    except (re2.error, UnicodeEncodeError):
        return None
