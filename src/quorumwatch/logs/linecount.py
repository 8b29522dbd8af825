"""Line and record-start counting over a chunk, vectorised with numpy (the scan's exact counts at
several GB/s instead of two CPython passes: docs/benchmarks.md).

Every file's report says how many lines it had and how many started no record, so the scan must
count both exactly over every byte, not only near the phrases it looks for. With numpy, one pass
finds the newlines (their positions also give each candidate line its number) and a record start
whose pattern is a fixed sequence of byte classes (glog's `[IWEF]\\d\\d\\d\\d`, golog's date) is
checked by a few gathers over the line starts. Without numpy, or for a start pattern of another
shape, the caller keeps its regex: the same counts, slower.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

try:
    import numpy as np
except ImportError:  # the regex passes do the same work
    np = None  # type: ignore[assignment]

MAX_CLASSES = 64
"""Longer start patterns are left to the regex (each class costs a gather per line)."""

_CATEGORIES: dict[Any, frozenset[int]] = {
    sre.CATEGORY_DIGIT: frozenset(range(0x30, 0x3A)),
    sre.CATEGORY_SPACE: frozenset(b" \t\n\r\f\v"),
    sre.CATEGORY_WORD: frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
}
_CATEGORIES |= {
    sre.CATEGORY_NOT_DIGIT: frozenset(range(256)) - _CATEGORIES[sre.CATEGORY_DIGIT],
    sre.CATEGORY_NOT_SPACE: frozenset(range(256)) - _CATEGORIES[sre.CATEGORY_SPACE],
    sre.CATEGORY_NOT_WORD: frozenset(range(256)) - _CATEGORIES[sre.CATEGORY_WORD],
}


def available() -> bool:
    return np is not None


def _one(op: Any, av: Any) -> frozenset[int] | None:
    """The bytes one single-byte item of a parsed bytes pattern matches; None for anything else."""
    if op is sre.LITERAL:
        return frozenset((av,))
    if op is sre.NOT_LITERAL:
        return frozenset(range(256)) - {av}
    if op is sre.ANY:
        return frozenset(range(256)) - {0x0A}
    if op is sre.IN:
        out: set[int] = set()
        negate = False
        for kind, value in av:
            if kind is sre.NEGATE:
                negate = True
            elif kind is sre.LITERAL:
                out.add(value)
            elif kind is sre.RANGE:
                out.update(range(value[0], value[1] + 1))
            elif kind is sre.CATEGORY and value in _CATEGORIES:
                out |= _CATEGORIES[value]
            else:
                return None
        return frozenset(range(256)) - out if negate else frozenset(out)
    return None


@functools.cache
def fixed_classes(pattern: bytes) -> tuple[frozenset[int], ...] | None:
    """The pattern as a fixed sequence of byte classes (what each byte of a match may be), when it
    is exactly that (literals, classes, `\\d`-like categories, `.`, fixed repeats); else None."""
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return None
    if parsed.state.flags & (re.IGNORECASE | re.DOTALL | re.VERBOSE):
        return None
    out: list[frozenset[int]] = []
    for op, av in parsed:
        if op is sre.MAX_REPEAT or op is sre.MIN_REPEAT:
            low, high, items = av
            if low != high or len(items) != 1:
                return None
            (item,) = items
            one = _one(*item)
            if one is None:
                return None
            out += [one] * low
        else:
            one = _one(op, av)
            if one is None:
                return None
            out.append(one)
        if len(out) > MAX_CLASSES:
            return None
    return tuple(out) if out else None


@functools.cache
def _tables(classes: tuple[frozenset[int], ...]) -> Any:
    """One 256-entry truth table per position of the start pattern."""
    tables = np.zeros((len(classes), 256), dtype=bool)
    for j, c in enumerate(classes):
        tables[j, list(c)] = True
    return tables


def newlines(buf: bytes | bytearray | memoryview, cut: int) -> Any:
    """Offsets of every newline in buf[:cut], ascending (a numpy array)."""
    return np.flatnonzero(np.frombuffer(buf, np.uint8, count=cut) == 0x0A)


def line_of(nl: Any, offset: int) -> int:
    """How many newlines lie before `offset` (the 0-based line of the byte at it)."""
    return int(np.searchsorted(nl, offset))


def nonstarts(
    buf: bytes | bytearray | memoryview, cut: int, nl: Any, classes: Sequence[frozenset[int]]
) -> Any:
    """Offsets of the lines of buf[:cut] after its first that do not begin with `classes` (what
    `\\n(?!START)` finds, without the newline that ends the chunk)."""
    a = np.frombuffer(buf, np.uint8, count=cut)
    starts = nl + 1
    if len(starts) and starts[-1] >= cut:
        starts = starts[:-1]
    tables = _tables(tuple(classes))
    ok = tables[0].take(a.take(starts))
    for j in range(1, len(classes)):
        ok &= tables[j].take(a.take(starts + j, mode="clip"))
    ok &= starts <= cut - len(classes)  # a line too short for a start (the chunk ends within it)
    return starts[~ok]


__all__ = ["available", "fixed_classes", "line_of", "newlines", "nonstarts"]
