"""Streaming log reading: 1 MB chunks, candidate lines found in one pass, only those parsed.

Measured on this machine (lab-facts.md): a per-line Python loop reads ~89 MB/s, a regex alternation
over 16 MB chunks ~200 MB/s. So we search whole chunks for any rule's pattern, cut out the matching
lines, and parse just those. Lines without a timestamp (tracebacks, glog continuations) attach to the
record before them; they are counted, never fatal.
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
import io
import itertools
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from quorumwatch.logs import linecount
from quorumwatch.logs.envelopes import Envelope, Layout, Peeled, layout, peel_all
from quorumwatch.logs.formats import FORMATS, Clock, Format, _nonstart
from quorumwatch.logs.rules import Finder, Pack

CHUNK = 1 << 20
"""Read size: small enough that the passes over a chunk (phrases, newlines, record starts) find it
still in the CPU cache (measured: 346 MB/s with 1 MB chunks, 303 MB/s with 16 MB)."""
_CREATED = re.compile(rb"Log file created at: (\d{4})/(\d\d)/(\d\d)")
_GLOG_HEADER = (b"Log file created at:", b"Running on machine:", b"Running duration", b"Log line format:")


class LogError(Exception):
    """A log file that cannot be read at all; printable as is."""


@dataclass(frozen=True, slots=True)
class Record:
    file: str
    line: int
    ts_ns: int
    message: str
    raw: str = ""
    """The whole line, for fields the message leaves out (a journald export's other fields)."""
    node: str | None = None
    """The node the line's envelope names (a compose service, a pod, a syslog host)."""


@dataclass
class FileStats:
    path: str
    format: str | None
    lines: int = 0
    records: int = 0
    without_timestamp: int = 0
    examples: list[str] = field(default_factory=list)
    first_ns: int | None = None
    events: int = 0
    """Leadership events recognised (leader_start, leader_stop, follower_start)."""
    unexamined: int = 0
    """Lines a rule's backtracking pattern could not finish within its time budget."""
    unexamined_at: int | None = None
    """The first such line's number."""
    unexamined_why: str | None = None
    envelopes: tuple[str, ...] = ()
    """What was peeled off each line, outermost first (`syslog`, `cri`, ...)."""
    relay_delays: list[int] = field(default_factory=list)
    """Envelope time minus the application's own, ns, for records that have both (bounded)."""
    last_ns: int | None = None
    """The time of the file's last record read (a leadership open at the end ends here)."""
    split: bool = False
    """Records were given to the nodes their lines name (several in one file)."""
    nearest: tuple[str, int, int] | None = None
    """For a file that gave no leadership event: the built-in pack most of whose phrases occur in its
    first messages (name, phrases found, phrases)."""
    node_spans: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per node an envelope names: its first and last record's envelope time (what the file covers
    of that node)."""

    def seen(self, ts: int | None) -> None:
        """A record at `ts` was read: the file covers at least that far."""
        if ts is not None and (self.last_ns is None or ts > self.last_ns):
            self.last_ns = ts


_READ_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a file can raise: I/O, a .gz cut short, a .gz whose data is corrupt (zlib)."""


def _open(path: Path) -> io.BufferedIOBase:
    if path.suffix == ".gz":
        return cast(io.BufferedIOBase, gzip.open(path, "rb"))
    return open(path, "rb")


def sniff(path: Path) -> bytes:
    try:
        with _open(path) as f:
            return f.read(64 << 10)
    except _READ_ERRORS as exc:
        raise LogError(f"{path}: cannot read: {exc}") from None


def scan(
    path: Path,
    pack: Pack,
    *,
    tz: dt.tzinfo,
    year: int | None = None,
    fmt: Format | None = None,
    stats: FileStats | None = None,
    head: bytes | None = None,
    part: Part | None = None,
    lay: Layout | None = None,
    time_from: str = "inner",
    nodes: bool = False,
) -> Iterator[Record]:
    """Records of one file whose message matches some rule of `pack` (any rule; the caller decides).
    `nodes`: the caller splits the file by the node each record's envelope names.
    `head` is the file's first bytes when the caller has already read them; `part` limits the scan
    to a line-aligned byte range (line numbers then count from its start). Wrapped files (`lay`
    has envelopes) are peeled line by line; bare ones take the fast path below."""
    head = sniff(path) if head is None else head
    if lay is None:
        lay = Layout(format=fmt) if fmt is not None else layout(head, tz, year or dt.datetime.now(tz).year)
    fmt = lay.format
    if stats is not None:
        stats.format = lay.format_name
        stats.envelopes = tuple(e.name for e in lay.envelopes)
    if lay.wrapped:
        clock = _clock(head, tz, year)
        (outer,) = lay.envelopes[:1]
        if len(lay.envelopes) == 1 and outer.prefix is not None and fmt is not None and not nodes:
            yield from _scan_prefixed(path, pack, lay, outer, clock, stats, time_from)
        else:
            yield from _scan_wrapped(path, pack, lay, clock, stats, time_from)
        return
    if fmt is None:
        if stats is not None:
            stats.lines = head.count(b"\n") + (1 if head and not head.endswith(b"\n") else 0)
            stats.without_timestamp = stats.lines
            stats.examples = [_show(x) for x in head.splitlines()[:3]]
        return
    clock = part.clock if part is not None else _clock(head, tz, year)
    candidates = pack.candidates()
    vector = linecount.available()
    classes = linecount.fixed_classes(fmt.quick or fmt.start.pattern.removeprefix(b"^")) if vector else None
    line_no = 0
    # one buffer read into, the unfinished last line moved to its front: no chunk is allocated,
    # faulted in or joined to the carry (measured: ~0.25 s per GB)
    buf = bytearray(2 * CHUNK)
    have = 0  # the carried bytes at buf[:have]
    last_record: tuple[int, str] | None = None  # for continuation lines matched by a rule
    try:
        with _open(path) as f:
            if part is not None:
                f.seek(part.start)
            left = part.end - part.start if part is not None else -1
            while True:
                want = CHUNK if left < 0 else min(CHUNK, left)
                if have + want > len(buf):  # a line longer than the buffer
                    buf.extend(bytes(have + want - len(buf)))
                with memoryview(buf) as view:
                    got = f.readinto(view[have : have + want]) or 0
                left -= got if left >= 0 else 0
                size = have + got
                if not size:
                    break
                # work on buf[:cut] through bounds, not slices: a copy per chunk is measurable
                cut = buf.rfind(b"\n", 0, size) + 1 if got else size
                if cut == 0:
                    have = size
                    continue
                first_line = line_no
                pos = 0
                nl = linecount.newlines(buf, cut) if vector else None
                for hit in candidates.positions(buf, cut):
                    if hit < pos:
                        continue  # a second rule in a line already taken
                    start = buf.rfind(b"\n", 0, hit) + 1
                    end = buf.find(b"\n", hit, cut)
                    end = cut if end < 0 else end
                    if nl is not None:
                        line_no = first_line + linecount.line_of(nl, start)
                    else:
                        line_no += buf.count(b"\n", pos, start)
                    pos = end
                    # CR of CRLF files and trailing blanks are not part of the message
                    text = buf[start:end].rstrip(b" \t\r").decode("utf-8", "replace")
                    parsed = fmt.parse(text, clock)
                    if parsed is None:
                        parsed = _owner(buf, start, fmt, clock) or last_record
                        if parsed is None:
                            continue
                        parsed = (parsed[0], text)
                    last_record = parsed
                    yield Record(str(path), line_no + 1, parsed[0], parsed[1], text)
                line_no = first_line + len(nl) if nl is not None else line_no + buf.count(b"\n", pos, cut)
                # the file's last line counts even without a newline after it
                unterminated = 1 if not got and buf[cut - 1 : cut] != b"\n" else 0
                if stats is not None:
                    _count(buf, cut, line_no - first_line + unterminated, fmt, stats, nl, classes)
                    last = _owner(buf, cut + 1 if cut == size else cut, fmt, clock, 50)
                    stats.seen(last[0] if last else None)
                buf[: size - cut] = buf[cut:size]
                have = size - cut
    except _READ_ERRORS as exc:
        raise LogError(f"{path}: cannot read: {exc}") from None


BATCH = 4096
"""Peeled records searched at once: one buffer for the candidate finder, as on bare files."""
MAX_DELAYS = 100_000


def _file_lines(f: io.BufferedIOBase, counter: list[int]) -> Iterator[Peeled]:
    """A file's lines as records with nothing peeled yet, numbered on from counter[0], which counts
    them. Chunks end at a newline, so each decodes whole (no character is cut)."""
    n = counter[0]
    carry = b""
    while True:
        data = f.read(CHUNK)
        buf = carry + data if carry else data
        if not data:
            break
        cut = buf.rfind(b"\n") + 1
        carry = buf[cut:]
        if not cut:
            continue
        for text in buf[: cut - 1].decode("utf-8", "replace").split("\n"):
            n += 1
            text = text.removesuffix("\r")
            yield Peeled(n, text, raw=text)
    if carry:
        n += 1
        text = carry.decode("utf-8", "replace").removesuffix("\r")
        yield Peeled(n, text, raw=text)
    counter[0] = n


def _batches(items: Iterator[Peeled]) -> Iterator[list[Peeled]]:
    return iter(lambda: list(itertools.islice(items, BATCH)), [])


def _scan_wrapped(
    path: Path,
    pack: Pack,
    lay: Layout,
    clock: Clock,
    stats: FileStats | None,
    time_from: str,
    start: tuple[int, int] = (0, 0),
) -> Iterator[Record]:
    """Records of a wrapped file: envelopes peeled, then the same candidate search as bare files
    run over each batch of inner lines. A record's time is the application's own (the inner
    format's) where it has one, else the envelope's; `time_from="envelope"` prefers the relay's.
    `start`: the byte offset and line number to begin at (where the prefix path handed over)."""
    finder: Finder = pack.candidates()
    fmt = lay.format
    counter = [start[1]]
    last: int | None = None
    try:
        with _open(path) as f:
            if start[0]:
                f.seek(start[0])
            # the envelopes' clock is their own: a relay's months must not roll the format's year
            env_clock = Clock(clock.tz, clock.year)
            for batch in _batches(peel_all(_file_lines(f, counter), lay.envelopes, env_clock)):
                encoded = [p.text.encode("utf-8", "replace") for p in batch]
                if stats is not None:
                    _count_wrapped(batch, encoded, fmt, stats)
                starts = list(itertools.accumulate((len(b) + 1 for b in encoded), initial=0))
                buf = b"\n".join(encoded)
                taken = -1
                for hit in finder.positions(buf):
                    i = bisect.bisect_right(starts, hit) - 1
                    if i <= taken or i >= len(batch):
                        continue
                    taken = i
                    p = batch[i]
                    text = p.text.rstrip(" \t\r")
                    parsed = fmt.parse(text, clock) if fmt is not None else None
                    own = parsed[0] if parsed is not None else None
                    ts = _record_time(p.inner_ts, p.outer_ts, own, time_from)
                    if ts is None:
                        ts = _owner_wrapped(batch, i, fmt, clock, time_from) or last
                    if ts is None:
                        continue
                    _relay_delay(stats, p.outer_ts, own)
                    last = ts
                    if stats is not None:
                        stats.seen(ts)
                    message = parsed[1] if parsed is not None else text
                    yield Record(str(path), p.line, ts, message, p.raw, p.node)
                if stats is not None and batch:
                    stats.seen(_owner_wrapped(batch, len(batch), fmt, clock, time_from, 50))
    except _READ_ERRORS as exc:
        raise LogError(f"{path}: cannot read: {exc}") from None
    if stats is not None:
        stats.lines += counter[0] - start[1]


def _scan_prefixed(
    path: Path, pack: Pack, lay: Layout, env: Envelope, clock: Clock, stats: FileStats | None, time_from: str
) -> Iterator[Record]:
    """Records of a file whose one envelope only puts a prefix before each line (CRI `F` lines, a
    syslog relay's RFC 3339 header, `kubectl --timestamps`). The prefix leaves the phrases as they
    are, so the candidate search runs on the raw chunk as on a bare file (where a rule's prefilter is
    anchored at the line's start, on the chunk with its prefixes cut by one substitution); only
    candidate lines are taken apart. A CRI chunk holding `P` parts (lines the runtime split) hands the
    rest of the file to the line-by-line path, which joins them."""
    assert env.prefix is not None and env.quick is not None and lay.format is not None
    fmt, prefix = lay.format, env.prefix
    finder = pack.candidates()
    # a prefilter anchored at the line's start (Redis' role letter) would miss behind the prefix
    anchored = any("^" in r.prefilter.replace("[^", "") for r in pack.rules)
    nonstart = _nonstart(env.quick)
    env_clock = Clock(clock.tz, clock.year)
    line_no = 0
    offset = 0
    last: int | None = None
    carry = b""

    def inner(raw: bytes) -> tuple[str, int | None, tuple[int, str] | None, int | None]:
        """A raw line's inner text, envelope time, the application's own (time, message), and the
        record's time as `time_from` chooses it."""
        text = raw.rstrip(b"\r").decode("utf-8", "replace")
        got = env.read(text, env_clock)
        text = (got[0] if got is not None else text).rstrip(" \t\r")
        env_ts = got[1] if got is not None else None
        parsed = fmt.parse(text, clock)
        return text, env_ts, parsed, _record_time(env_ts, env_ts, parsed[0] if parsed else None, time_from)

    try:
        with _open(path) as f:
            while True:
                data = f.read(CHUNK)
                buf = carry + data if carry else data
                if not buf:
                    break
                cut = buf.rfind(b"\n") + 1 if data else len(buf)
                if cut == 0:
                    carry = buf
                    continue
                carry = buf[cut:] if cut < len(buf) else b""
                chunk = buf[:cut]
                if env.name == "cri" and (b" stdout P" in chunk or b" stderr P" in chunk):
                    yield from _scan_wrapped(path, pack, lay, clock, stats, time_from, (offset, line_no))
                    return
                lines = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
                if stats is not None:
                    # lines the envelope did not wrap: no time of their own (what the line path counts)
                    odd = len(nonstart.findall(chunk)) - (1 if chunk.endswith(b"\n") else 0)
                    odd += 0 if re.match(env.quick, chunk) else 1
                    stats.lines += lines
                    stats.records += lines - odd
                    stats.without_timestamp += odd
                searched = prefix.sub(b"", chunk) if anchored else chunk
                raw_lines: list[bytes] | None = None
                pos = k = 0
                for hit in finder.positions(searched):
                    if hit < pos:
                        continue
                    begin = searched.rfind(b"\n", 0, hit) + 1
                    end = searched.find(b"\n", hit)
                    end = len(searched) if end < 0 else end
                    k += searched.count(b"\n", pos, begin)
                    pos = end
                    raw_lines = chunk.split(b"\n") if raw_lines is None else raw_lines
                    text, env_ts, parsed, ts = inner(raw_lines[k])
                    back = k
                    while ts is None and back > 0 and k - back < 200:  # a continuation: its record's time
                        back -= 1
                        ts = inner(raw_lines[back])[3]
                    ts = ts if ts is not None else last
                    if ts is None:
                        continue
                    _relay_delay(stats, env_ts, parsed[0] if parsed else None)
                    last = ts
                    raw = raw_lines[k].rstrip(b"\r").decode("utf-8", "replace")
                    yield Record(str(path), line_no + k + 1, ts, parsed[1] if parsed else text, raw)
                if stats is not None:
                    tail_at = chunk.rfind(b"\n", 0, len(chunk) - 1) + 1
                    stats.seen(inner(chunk[tail_at:].rstrip(b"\n"))[3])
                line_no += lines
                offset += len(chunk)
    except _READ_ERRORS as exc:
        raise LogError(f"{path}: cannot read: {exc}") from None


def _record_time(inner: int | None, outer: int | None, own: int | None, time_from: str) -> int | None:
    """A wrapped record's time: the application's own (`own`, from the inner format) where it has
    one, else the innermost envelope's (`inner`); with `time_from="envelope"`, the outermost
    envelope's (`outer`) first."""
    if time_from == "envelope":
        env = outer if outer is not None else inner
        return env if env is not None else own
    if own is not None:
        return own
    return inner if inner is not None else outer


def _relay_delay(stats: FileStats | None, envelope: int | None, own: int | None) -> None:
    """Note how much later the relay stamped a record than the application did (bounded)."""
    if (
        stats is not None
        and envelope is not None
        and own is not None
        and len(stats.relay_delays) < MAX_DELAYS
    ):
        stats.relay_delays.append(envelope - own)


def _owner_wrapped(
    batch: list[Peeled], i: int, fmt: Format | None, clock: Clock, time_from: str, back: int = 200
) -> int | None:
    """The time of the record a continuation line belongs to: the nearest earlier timed line."""
    for p in reversed(batch[max(0, i - back) : i]):
        parsed = fmt.parse(p.text.rstrip(" \t\r"), clock) if fmt is not None else None
        ts = _record_time(p.inner_ts, p.outer_ts, parsed[0] if parsed is not None else None, time_from)
        if ts is not None:
            return ts
    return None


def _count_wrapped(batch: list[Peeled], encoded: list[bytes], fmt: Format | None, stats: FileStats) -> None:
    spans = stats.node_spans
    for p, b in zip(batch, encoded, strict=True):
        timed = p.inner_ts is not None or p.outer_ts is not None
        if p.node is not None and timed:
            t = p.inner_ts if p.inner_ts is not None else p.outer_ts
            assert t is not None
            lo, hi = spans.get(p.node, (t, t))
            spans[p.node] = (min(lo, t), max(hi, t))
        if timed or (fmt is not None and fmt.start.match(b)):
            stats.records += 1
        else:
            stats.without_timestamp += p.lines
            if b.strip() and not _plausible(b) and len(stats.examples) < 3:
                stats.examples.append(_show(p.raw.encode("utf-8", "replace")))


@dataclass(frozen=True, slots=True)
class Part:
    """A line-aligned byte range of a big file, scanned on its own core, with the clock state
    (year, last month) its first record is read in."""

    start: int
    end: int
    clock: Clock


SPLIT_MIN = 32 << 20
"""Files smaller than this are not worth splitting."""


def parts(path: Path, head: bytes, fmt: Format, k: int, tz: dt.tzinfo, year: int | None) -> list[Part]:
    """Up to k ranges of a plain file, each starting at a record start (never inside a record
    and its continuation lines). Formats without a year carry it across: a range starting in a
    month before the previous range's starts in the next year (ranges span less than a year)."""
    size = path.stat().st_size
    if k < 2 or size < SPLIT_MIN or path.suffix == ".gz":
        return [Part(0, size, _clock(head, tz, year))]
    first = _clock(head, tz, year)
    bounds = [0]
    with open(path, "rb") as f:
        for i in range(1, k):
            f.seek(size * i // k)
            window = f.read(1 << 20)
            pos = window.find(b"\n")
            while 0 <= pos < len(window) - 1 and not fmt.start.match(window, pos + 1):
                pos = window.find(b"\n", pos + 1)
            at = size * i // k + pos + 1 if pos >= 0 and pos < len(window) - 1 else None
            if at is not None and at > bounds[-1]:
                bounds.append(at)
    bounds.append(size)
    out = []
    year_now, month_before = first.year, _month(path, 0, fmt, first)
    for lo, hi in itertools.pairwise(bounds):
        month = _month(path, lo, fmt, Clock(tz, year_now)) if lo else month_before
        if month is not None and month_before is not None and month < month_before:
            year_now += 1
        out.append(Part(lo, hi, Clock(tz, year_now, 0 if lo == 0 else (month or 0))))
        month_before = month if month is not None else month_before
    return out


def _month(path: Path, at: int, fmt: Format, clock: Clock) -> int | None:
    """The month of the record starting at byte `at`, as the format reads it."""
    with open(path, "rb") as f:
        f.seek(at)
        line = f.readline(1 << 16)
    parsed = fmt.parse(line.rstrip(b" \t\r\n").decode("utf-8", "replace"), Clock(clock.tz, clock.year))
    if parsed is None:
        return None
    return dt.datetime.fromtimestamp(parsed[0] / 1e9, tz=clock.tz).month


def _owner(
    chunk: bytes | bytearray, start: int, fmt: Format, clock: Clock, back: int = 200
) -> tuple[int, str] | None:
    """The record a continuation line belongs to: the nearest earlier line with a timestamp."""
    end = start
    for _ in range(back):
        if end <= 0:
            return None
        prev = chunk.rfind(b"\n", 0, end - 1) + 1
        parsed = fmt.parse(chunk[prev : end - 1].rstrip(b" \t\r").decode("utf-8", "replace"), clock)
        if parsed is not None:
            return parsed
        end = prev
    return None


def _count(
    buf: bytes | bytearray, cut: int, lines: int, fmt: Format, stats: FileStats, nl: Any = None,
    classes: tuple[frozenset[int], ...] | None = None,
) -> None:  # fmt: skip
    """Lines that start no record, at C speed: with the chunk's newlines (`nl`) and a start
    pattern of fixed byte classes, numpy checks the line starts (`linecount`); else the regex tries
    only after newlines. Also once on the chunk's first line, which no newline precedes: a file's
    stray first lines are examples too."""
    odd_at: Any = None
    if nl is not None and classes is not None:
        odd_at = linecount.nonstarts(buf, cut, nl, classes)
        odd = len(odd_at)
    else:
        odd = len(fmt.nonstart.findall(buf, 0, cut)) - (1 if cut and buf[cut - 1 : cut] == b"\n" else 0)
    first_odd = not fmt.start.match(buf, 0, cut)
    odd += first_odd
    stats.lines += lines
    stats.records += lines - odd
    stats.without_timestamp += odd
    if not odd or len(stats.examples) >= 3:
        return
    if odd_at is not None:
        after: Iterator[int] = (int(x) for x in odd_at)
    else:
        after = (m.end() for m in fmt.nonstart.finditer(buf, 0, cut))
    starts = itertools.chain([0] if first_odd else [], after)
    for at in starts:
        end = buf.find(b"\n", at, cut)
        raw = buf[at : cut if end < 0 else end].rstrip(b"\r")
        if raw and not _plausible(raw):
            stats.examples.append(_show(raw))
            if len(stats.examples) >= 3:
                break


def _plausible(raw: bytes | bytearray) -> bool:
    """A line without a timestamp that belongs where it is: a continuation (indented), glog's
    file header."""
    return raw[:1].isspace() or raw.startswith(_GLOG_HEADER)


def _show(raw: bytes | bytearray) -> str:
    text = raw[:120].decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "." for c in text)


def _clock(head: bytes, tz: dt.tzinfo, year: int | None) -> Clock:
    """The year for formats without one: glog's `Log file created at:` header, else --year, else now."""
    created = _CREATED.search(head)
    return Clock(tz, int(created[1]) if created else (year or dt.datetime.now(tz).year))


def first_timestamp(head: bytes, tz: dt.tzinfo, year: int | None, lay: Layout | None = None) -> int | None:
    """When a file's first record was written (to put rotated files in order), from its head."""
    clock = _clock(head, tz, year)
    lay = lay or layout(head, tz, clock.year)
    fmt = lay.format
    if lay.wrapped:
        lines = (
            Peeled(i + 1, t, raw=t) for i, t in enumerate(head.decode("utf-8", "replace").splitlines()[:2000])
        )
        for p in peel_all(lines, lay.envelopes, clock):
            parsed = fmt.parse(p.text.rstrip(" \t\r"), clock) if fmt is not None else None
            ts = parsed[0] if parsed else (p.inner_ts if p.inner_ts is not None else p.outer_ts)
            if ts is not None:
                return ts
        return None
    if fmt is None:
        return None
    for raw in head.splitlines()[:2000]:
        parsed = fmt.parse(raw.rstrip(b" \t\r").decode("utf-8", "replace"), clock)
        if parsed:
            return parsed[0]
    return None


__all__ = ["FORMATS", "FileStats", "LogError", "Part", "Record", "first_timestamp", "parts", "scan"]
