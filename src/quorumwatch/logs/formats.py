"""Log line formats: recognising a record's first line and reading its timestamp (pure).

Each format knows a cheap bytes regex for "this line starts a record" (used to count and attach
continuation lines) and a parser turning a record's first line into (UTC ns, message). Zone-less
timestamps are read in the given zone; formats without a year take it from the caller (glog's
`Log file created at:` header, or --year) and roll over at Dec 31 → Jan 1.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1
    )
}


@dataclass
class Clock:
    """Per-file state for formats that omit the year: the current year and the last month seen."""

    tz: dt.tzinfo
    year: int
    last_month: int = 0

    def month_year(self, month: int) -> int:
        # logs only go forward: a month smaller than the last one is the next year (Dec 31 → Jan 1)
        if month < self.last_month:
            self.year += 1
        self.last_month = month
        return self.year


MIN_S = dt.datetime(1, 1, 2, tzinfo=dt.UTC).timestamp()
MAX_S = dt.datetime(9999, 12, 30, tzinfo=dt.UTC).timestamp()
"""Numeric timestamps outside these (years 1–9999, as datetime) are garbage, not times."""


def _ns(t: dt.datetime, frac: str | None) -> int:
    digits = (frac or "").ljust(9, "0")[:9]
    return int(t.timestamp()) * 1_000_000_000 + int(digits or 0)


def at_ns(m: re.Match[str], frac: int, tz: dt.tzinfo | None) -> int | None:
    """UTC ns from groups 1–6 (year … second) and a fraction group; None for impossible dates
    or zones."""
    if tz is None:
        return None
    secs = epoch_s(m[1], m[2], m[3], m[4], m[5], m[6], tz)
    if secs is None:
        return None
    digits = (m[frac] or "").ljust(9, "0")[:9]
    return secs * 1_000_000_000 + int(digits or 0)


@functools.lru_cache(maxsize=4096)
def epoch_s(y: str, mo: str, d: str, h: str, mi: str, s: str, tz: dt.tzinfo) -> int | None:
    """Whole seconds since the epoch of a wall time in a zone; lines of one second share it (a
    wrapped file has a time on every line: one datetime per second instead of one per line)."""
    try:
        return int(dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz).timestamp())
    except (ValueError, OverflowError):
        return None


def zone_of(text: str | None, default: dt.tzinfo) -> dt.tzinfo | None:
    """`Z`, `+02:00` or `+0200`; the given default when the timestamp names no zone; None for an
    impossible offset (`+99:99`), so the line counts as unparsed instead of raising."""
    if not text:
        return default
    if text == "Z":
        return dt.UTC
    try:
        return dt.datetime.strptime(text.replace(":", ""), "%z").tzinfo
    except ValueError:
        return None


def _local(clock: Clock, y: int, mo: int, d: int, h: int, mi: int, s: int) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=clock.tz)


Parsed = tuple[int, str] | None


def _stamped(
    pattern: re.Pattern[str], message: int, zone: int | None = None
) -> Callable[[str, Clock], Parsed]:
    """The parser of a format whose groups 1–7 are year … fraction, `message` the message's group
    and `zone` (if any) the zone's; zone-less times are read in the caller's zone."""

    def parse(line: str, clock: Clock) -> Parsed:
        m = pattern.match(line)
        ns = at_ns(m, 7, zone_of(m[zone], clock.tz) if zone else clock.tz) if m else None
        return None if m is None or ns is None else (ns, m[message] or "")

    return parse


@functools.cache
def _nonstart(start: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"\n(?!" + start + rb")")


@dataclass(frozen=True)
class Format:
    name: str
    start: re.Pattern[bytes]
    """Matches (with re.M) at the beginning of a line that starts a record."""
    parse: Callable[[str, Clock], Parsed]
    default_pack: str | None

    quick: bytes = b""
    """The first tokens of a record start, enough to tell records from continuations cheaply."""

    @property
    def nonstart(self) -> re.Pattern[bytes]:
        """A newline not followed by a record start (a continuation or garbage line)."""
        return _nonstart(self.quick or self.start.pattern.removeprefix(b"^"))


_GLOG = re.compile(r"^([IWEF])(\d{4})?(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9}) +\d+ [^\]]*\] ?(.*)$")


def _glog(line: str, clock: Clock) -> Parsed:
    m = _GLOG.match(line)
    if not m:
        return None
    mo, d = int(m[3]), int(m[4])
    y = int(m[2]) if m[2] else clock.month_year(mo)
    try:
        return _ns(_local(clock, y, mo, d, int(m[5]), int(m[6]), int(m[7])), m[8]), m[9]
    except ValueError:
        return None


_GOLOG = re.compile(r"^(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? (.*)$")


_golog = _stamped(_GOLOG, 8)


_ISO_COMMA = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)[,.](\d{1,9})(Z|[+-]\d\d:?\d\d)?(?: (.*))?$"
)


_iso_comma = _stamped(_ISO_COMMA, 9, zone=8)


_CAPNS = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9}) ([A-Z]) \| (.*)$")


_capnslog = _stamped(_CAPNS, 9)


_RFC3339 = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{0,9}))?(Z|[+-]\d\d:\d\d)$")


def json_object(line: str) -> dict[str, Any] | None:
    """A line that is one JSON object; None for anything else."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _zap(line: str, clock: Clock) -> Parsed:
    doc = json_object(line)
    if doc is None:
        return None
    ts, msg = doc.get("ts"), doc.get("msg", "")
    if not isinstance(msg, str):
        msg = str(msg)
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        # seconds since the epoch; NaN, infinities and times outside years 1–9999 are no time
        return (round(ts * 1e9), msg) if MIN_S <= ts <= MAX_S else None
    if not isinstance(ts, str):
        return None
    m = _RFC3339.match(ts)
    ns = at_ns(m, 7, zone_of(m[8], clock.tz)) if m else None
    return None if ns is None else (ns, msg)


_REDIS = re.compile(
    r"^(?:(\d+):([XCSM])|\[(\d+)\]) (\d\d?) ([A-Z][a-z]{2})(?: (\d{4}))? "
    r"(\d\d):(\d\d):(\d\d)\.(\d{1,6}) ([.\-*#]) (.*)$"
)


def _redis(line: str, clock: Clock) -> Parsed:
    m = _REDIS.match(line)
    if not m or m[5] not in MONTHS:
        return None
    mo = MONTHS[m[5]]
    y = int(m[6]) if m[6] else clock.month_year(mo)
    try:
        t = _local(clock, y, mo, int(m[4]), int(m[7]), int(m[8]), int(m[9]))
    except ValueError:
        return None
    role = m[2] or ""
    # the role letter is part of what happened (M: master, S: replica), so it stays in the message
    return _ns(t, m[10]), (f"[role {role}] " if role else "") + m[12]


_HCLOG = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{1,9})(Z|[+-]\d\d:?\d\d) \[([A-Z]+)\] +(.*)$"
)


_hclog = _stamped(_HCLOG, 10, zone=8)
"""HashiCorp's hclog (Consul, Nomad, Vault): `2021-05-11T15:55:18.773+0200 [INFO]  msg`."""


_BRACKETED = re.compile(
    r"^\[(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)[,.](\d{1,9})(Z|[+-]\d\d:?\d\d)?\] ?(.*)$"
)


_bracketed = _stamped(_BRACKETED, 9, zone=8)
"""Kafka's `[2024-03-28 09:22:25,425] INFO ...`, Elasticsearch's `[2021-04-14T16:22:49,915][INFO ]...`."""


def _mongodb(line: str, clock: Clock) -> Parsed:
    """MongoDB 4.4+ structured logs: `{"t":{"$date":"…"},…,"msg":"…","attr":{…}}`; the message is
    msg followed by attr as compact JSON, so rules can match state names and terms."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("t"), dict):
        return None
    ts = doc["t"].get("$date")
    m = _RFC3339.match(ts.replace("+0000", "Z")) if isinstance(ts, str) else None
    ns = at_ns(m, 7, zone_of(m[8], clock.tz)) if m else None
    if ns is None:
        return None
    msg = str(doc.get("msg", ""))
    attr = doc.get("attr")
    if attr is not None:
        msg += " " + json.dumps(attr, separators=(",", ":"), sort_keys=True)
    return ns, msg


_CTIME = re.compile(
    r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) +(\d\d?) (\d\d):(\d\d):(\d\d) (\d{4}): (.*)$"
)


def _ctime(line: str, clock: Clock) -> Parsed:
    """keepalived's console log: `Sat Sep 16 19:04:05 2023: (VI_1) Entering MASTER STATE`."""
    m = _CTIME.match(line)
    if not m or m[1] not in MONTHS:
        return None
    try:
        t = _local(clock, int(m[6]), MONTHS[m[1]], int(m[2]), int(m[3]), int(m[4]), int(m[5]))
    except ValueError:
        return None
    return _ns(t, None), m[7]


_HADOOP = re.compile(r"^(\d\d)/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:[,.](\d{1,3}))? (.*)$")


def _hadoop(line: str, clock: Clock) -> Parsed:
    """Hadoop's console layout `%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m%n` (two-digit year, read as
    20yy; some sites add `,SSS`): `16/11/01 12:00:00 INFO ha.ZKFailoverController: ...`."""
    m = _HADOOP.match(line)
    if not m:
        return None
    try:
        t = _local(clock, 2000 + int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6]))
    except ValueError:
        return None
    return _ns(t, (m[7] or "").ljust(3, "0") if m[7] else None), m[8]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "glog",
            re.compile(rb"^[IWEF]\d{4}(?:\d{4})? \d\d:\d\d:\d\d\.\d", re.M),
            _glog,
            "zk-elected",
            rb"[IWEF]\d\d\d\d",
        ),
        Format("golog", re.compile(rb"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d", re.M), _golog, "zk-elected"),
        Format("zap", re.compile(rb'^\{.*"ts":', re.M), _zap, "etcd"),
        Format("mongodb", re.compile(rb'^\{"t":\{"\$date":', re.M), _mongodb, "mongodb"),
        Format(
            "hclog",
            re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(?:Z|[+-]\d\d:?\d\d) \[[A-Z]+\] ", re.M),
            _hclog,
            "hashicorp-raft",
        ),
        Format(
            "bracketed",
            re.compile(rb"^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d", re.M),
            _bracketed,
            None,
        ),
        Format(
            "ctime",
            re.compile(
                rb"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} +\d\d? \d\d:\d\d:\d\d \d{4}: ", re.M
            ),
            _ctime,
            "keepalived",
        ),
        Format(
            "capnslog",
            re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [A-Z] \| ", re.M),
            _capnslog,
            "etcd",
        ),
        Format(
            "log4j",
            re.compile(rb"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d{1,9}(?:Z|[+-]\d\d:?\d\d)?(?: |$)", re.M),
            _iso_comma,
            "zookeeper",
        ),
        Format("hadoop", re.compile(rb"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d", re.M), _hadoop, "hdfs-zkfc"),
        Format(
            "redis",
            re.compile(rb"^(?:\d+:[XCSM]|\[\d+\]) \d\d? [A-Z][a-z]{2} ", re.M),
            _redis,
            "redis-sentinel",
        ),
    )
}
"""log4j covers ZooKeeper's log4j/logback lines and Python logging's default asctime."""


def detect(sample: bytes) -> Format | None:
    """The format whose record starts match most lines of a sample (ties: the order above: the
    more specific formats, hclog before log4j, come first)."""
    best: tuple[int, Format] | None = None
    for f in FORMATS.values():
        n = len(f.start.findall(sample))
        if n and (best is None or n > best[0]):
            best = (n, f)
    return best[1] if best else None
