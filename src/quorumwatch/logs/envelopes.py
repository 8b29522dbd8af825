"""Envelopes: what runtimes, relays, tools and shippers wrap around an application's log line (pure).

A line as an operator has it is seldom the line the application wrote: a container runtime (CRI,
Docker json-file), a relay (syslog, journald), a tool (compose, kubectl, systemctl) or a shipper's
export (Loki, Kibana) wrapped it, often twice. An envelope takes a line apart into the text inside
and what the wrapper knew: its own time (when the relay took the line) and the node it names.
Envelopes are chosen by what a file's first lines look like (`layout`), and stack; lines an
envelope does not fit pass through unchanged (a `systemctl status` header, a stray line).
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from quorumwatch.logs.formats import (
    FORMATS,
    MAX_S,
    MIN_S,
    MONTHS,
    Clock,
    Format,
    at_ns,
    detect,
    epoch_s,
    json_object,
    zone_of,
)


@dataclass(frozen=True, slots=True)
class Peeled:
    """One record as the envelopes left it: where it starts in the file, the text inside, and what
    the envelopes said of it (times in UTC ns)."""

    line: int
    text: str
    inner_ts: int | None = None
    """The time of the innermost envelope that has one (nearest to the application)."""
    outer_ts: int | None = None
    """The time of the outermost envelope that has one (the relay that wrote the file)."""
    node: str | None = None
    """The node the innermost naming envelope names (a compose service, a pod, a host)."""
    lines: int = 1
    """Lines of the file this record took (CRI and Docker partial lines are joined)."""
    raw: str = ""
    """The record's first line as the file has it (for `--node-from field:NAME`)."""


Fields = tuple[str, int | None, str | None, bool]
"""What a line envelope reads from one line: inner text, time, node, and whether the line is a part
that the next line continues (CRI `P`, a Docker `log` without its newline)."""


@dataclass(frozen=True)
class Envelope:
    """A wrapper recognised line by line (`read` gives None for a line it does not fit)."""

    name: str
    read: Callable[[str, Clock], Fields | None]
    doc: str = ""
    distinctive: bool = True
    """No application writes lines of this shape: where it fits most lines, the file is wrapped
    (a CRI line also starts with a time log4j would read). Not so for a bare time prefix, JSON,
    logfmt, indentation or Markdown escapes, which applications' own lines share: those are peeled
    only where the lines inside read better."""
    loose: bool = False
    """Fits a file where a quarter of its lines show it (indentation, escapes: not every line has
    something to indent or escape)."""
    ties: bool = False
    """Peeled even where the lines inside read no better: Markdown escapes hide phrases from rules
    (`(VI\\_1)`, `QuorumPeer\\[myid=1\\]`) more often than they hide a format."""
    prefix: re.Pattern[bytes] | None = None
    """For an envelope that only puts a prefix before the line (a time, a relay's header): that
    prefix, so a whole chunk is searched at once and only candidate lines are read one by one
    (`reader._scan_prefixed`)."""
    quick: bytes | None = None
    """The prefix's first tokens, enough to tell its lines from others cheaply (for counting)."""

    def fits(self, items: list[Peeled], clock: Clock) -> int:
        """How many of a sample's lines this envelope takes apart."""
        return sum(self.read(p.text, clock) is not None for p in items)

    def peel(self, items: Iterable[Peeled], clock: Clock) -> Iterator[Peeled]:
        pending: list[tuple[Peeled, Fields]] = []
        for item in items:
            got = self.read(item.text, clock)
            if got is None:
                if pending:
                    yield _joined(pending)
                    pending = []
                yield item
                continue
            if not pending and not got[3]:  # a whole line, the common case: no join
                yield _inside(item, got[0], got[1], got[2], item.lines)
                continue
            pending.append((item, got))
            if not got[3] or len(pending) >= 4096:
                yield _joined(pending)
                pending = []
        if pending:
            yield _joined(pending)


def _inside(item: Peeled, text: str, ts: int | None, node: str | None, lines: int) -> Peeled:
    """What an envelope leaves of a record: its text, its time and node beside the outer ones."""
    return Peeled(
        item.line,
        text,
        item.inner_ts if ts is None else ts,
        item.outer_ts if item.outer_ts is not None else ts,
        node or item.node,
        lines,
        item.raw,
    )


def _joined(parts: list[tuple[Peeled, Fields]]) -> Peeled:
    first, (_, ts, node, _) = parts[0]
    return _inside(first, "".join(f[0] for _, f in parts), ts, node, sum(p.lines for p, _ in parts))


# --- times as envelopes write them -------------------------------------------------------------

_ISO = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9})\d*)?(Z|[+-]\d\d:?\d\d)?$")


def iso_ns(text: str, clock: Clock) -> int | None:
    """RFC 3339 / ISO 8601 (`2024-05-01T10:00:00.123456789Z`, `2024-05-01 10:00:00,123`); None
    otherwise. Zone-less times are read in the caller's zone."""
    m = _ISO.match(text.strip())
    return at_ns(m, 7, zone_of(m[8], clock.tz)) if m else None


def number_ns(value: float) -> int | None:
    """Seconds, milliseconds, microseconds or nanoseconds since the epoch, told apart by size."""
    if value != value or value in (float("inf"), float("-inf")):
        return None
    for scale in (1, 1e3, 1e6, 1e9):
        if abs(value) < 1e11 * scale:
            s = value / scale
            return round(s * 1e9) if MIN_S <= s <= MAX_S else None
    return None


def _time_value(value: Any, clock: Clock) -> int | None:
    if isinstance(value, dict):
        value = value.get("$date", value.get("$numberLong"))
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return number_ns(float(value))
    if isinstance(value, str):
        if value.isdigit():
            return number_ns(float(value))
        return iso_ns(value, clock)
    return None


# --- line envelopes ------------------------------------------------------------------------------

_INDENT = re.compile(r"^[ \t]+(?=\S)")


def _indent(line: str, clock: Clock) -> Fields | None:
    m = _INDENT.match(line)
    return (line[m.end() :], None, None, False) if m else None


_MD_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])")


_MD_SPECIAL = re.compile(r"(?<!\\)[*_#\[\]]")


@dataclass(frozen=True)
class MarkdownEnvelope(Envelope):
    """Fits a sample that has escapes and whose lines show no special character unescaped: what a
    Markdown escaper leaves (a bare log with a stray `\\_` has plain `_` and `[` elsewhere)."""

    def fits(self, items: list[Peeled], clock: Clock) -> int:
        if not any(_MD_ESCAPE.search(p.text) for p in items):
            return 0
        return sum(_MD_SPECIAL.search(p.text) is None for p in items)


def _markdown(line: str, clock: Clock) -> Fields | None:
    """A line pasted through Markdown, its punctuation escaped (`1:M 27 Nov ... \\* Ready`)."""
    if "\\" not in line:
        return None
    text, n = _MD_ESCAPE.subn(r"\1", line)
    return (text, None, None, False) if n else None


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_COMPOSE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,62}) *\| ?(.*)$")


def _compose(line: str, clock: Clock) -> Fields | None:
    """`docker compose logs`: `etcd1  | <line>` (v1) or `etcd-1  | <line>` (v2), colours optional."""
    if "|" not in line:
        return None
    m = _COMPOSE.match(_ANSI.sub("", line) if "\x1b" in line else line)
    return (m[2], None, m[1], False) if m else None


_KUBECTL_PREFIX = re.compile(r"^\[pod/([A-Za-z0-9][A-Za-z0-9_.-]{0,252})/[^\]\s]+\] (.*)$")


def _kubectl_prefix(line: str, clock: Clock) -> Fields | None:
    """`kubectl logs --prefix`: `[pod/etcd-0/etcd] <line>`."""
    m = _KUBECTL_PREFIX.match(line)
    return (m[2], None, m[1], False) if m else None


_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)"
_STAMP_G = r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)"
"""An RFC 3339 time as groups 1-8 (year ... second, fraction, zone): read in the same match as the
line around it (one regex a line, not two)."""


_SECONDS: dict[tuple[str, str], int | None] = {}
"""Epoch seconds of an RFC 3339 time's whole-second part and zone (every line of a wrapped file has
one; lines of one second share it)."""


def _stamp_ns(m: re.Match[str], clock: Clock) -> int | None:
    key = (m.string[m.start(1) : m.end(6)], m[8])
    secs = _SECONDS.get(key, -1)
    if secs == -1:
        tz = zone_of(m[8], clock.tz)
        secs = None if tz is None else epoch_s(m[1], m[2], m[3], m[4], m[5], m[6], tz)
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        _SECONDS[key] = secs
    if secs is None:
        return None
    frac = m[7]
    return secs * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


_CRI = re.compile(rf"^{_STAMP_G} (?:stdout|stderr) (?P<tag>[PF])(?: (?P<rest>.*))?$")


def _cri(line: str, clock: Clock) -> Fields | None:
    """Kubernetes nodes' container logs: `<RFC 3339 nano> stdout F <line>`; `P` marks a part of a
    long line that the next one continues."""
    m = _CRI.match(line)
    if not m:
        return None
    ts = _stamp_ns(m, clock)
    return None if ts is None else (m["rest"] or "", ts, None, m["tag"] == "P")


_KUBECTL_TS = re.compile(rf"^{_STAMP_G} (?P<rest>.*)$")


def _kubectl_ts(line: str, clock: Clock) -> Fields | None:
    """`kubectl logs --timestamps`: `<RFC 3339 nano> <line>`."""
    m = _KUBECTL_TS.match(line)
    if not m:
        return None
    ts = _stamp_ns(m, clock)
    return None if ts is None else (m["rest"], ts, None, False)


_LOGCLI = re.compile(rf"^{_STAMP_G} (?P<labels>\{{[^}}]*\}}) ?(?P<rest>.*)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_NODE_LABELS = ("pod", "instance", "host", "hostname", "node", "container", "service_name", "job")


def _logcli(line: str, clock: Clock) -> Fields | None:
    """Loki's `logcli query` default output: `<time> {pod="etcd-0", ...} <line>`."""
    m = _LOGCLI.match(line)
    if not m:
        return None
    ts = _stamp_ns(m, clock)
    labels = dict(_LABEL.findall(m["labels"]))
    node = next((labels[k] for k in _NODE_LABELS if labels.get(k)), None)
    return None if ts is None else (m["rest"], ts, node, False)


_TAG = r"(?:[A-Za-z_][^\s\[\]:]{0,63}(?:\[\d{1,10}\])?: ?)"
_SYSLOG = re.compile(
    rf"^(?:<\d{{1,3}}>)?([A-Z][a-z]{{2}}) +(\d\d?) (\d\d):(\d\d):(\d\d)(?:\.(\d{{1,9}}))? (\S+) {_TAG}?(.*)$"
)


def _syslog(line: str, clock: Clock) -> Fields | None:
    """RFC 3164 syslog and `journalctl` short output: `Nov 14 15:52:32 host tag[pid]: <line>` (no
    year: the clock's, rolling over at New Year)."""
    m = _SYSLOG.match(line)
    if not m or m[1] not in MONTHS:
        return None
    mo = MONTHS[m[1]]
    secs = epoch_s(str(clock.month_year(mo)), str(mo), m[2], m[3], m[4], m[5], clock.tz)
    if secs is None:
        return None
    frac = (m[6] or "").ljust(9, "0")
    return m[8], secs * 1_000_000_000 + int(frac), m[7], False


_SYSLOG_ISO = re.compile(rf"^(?:<\d{{1,3}}>)?{_STAMP_G} (?P<host>\S+) {_TAG}(?P<rest>.*)$")


def _syslog_iso(line: str, clock: Clock) -> Fields | None:
    """rsyslog's RFC 3339 header and `journalctl -o short-iso[-precise]`:
    `2024-05-01T10:00:00.123456+00:00 host tag[pid]: <line>`."""
    m = _SYSLOG_ISO.match(line)
    if not m:
        return None
    ts = _stamp_ns(m, clock)
    return None if ts is None else (m["rest"], ts, m["host"], False)


_SYSLOG5424 = re.compile(
    rf"^<\d{{1,3}}>1 ({_STAMP}|-) (\S+) (\S+) \S+ \S+ (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(.*)$"
)


def _syslog5424(line: str, clock: Clock) -> Fields | None:
    """RFC 5424: `<34>1 2003-10-11T22:14:15.003Z host app procid msgid [sd] <line>`."""
    m = _SYSLOG5424.match(line)
    if not m:
        return None
    ts = None if m[1] == "-" else iso_ns(m[1], clock)
    host = None if m[2] == "-" else m[2]
    return m[4].removeprefix("\ufeff"), ts, host, False


_TIME_KEYS = ("@timestamp", "timestamp", "time", "ts", "t", "date", "datetime", "asctime", "timeMillis",
              "__REALTIME_TIMESTAMP", "_time")  # fmt: skip
_MESSAGE_KEYS = ("message", "msg", "log", "MESSAGE", "line", "@message", "textPayload", "_msg")
_NODE_KEYS = ("kubernetes.pod_name", "kubernetes.pod.name", "labels.pod", "pod", "host.name", "hostname",
              "host", "_HOSTNAME", "container_name", "container.name", "node", "instance")  # fmt: skip


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    """A key, or a dotted path into nested objects (ECS `host.name` comes either way)."""
    if dotted in doc:
        return doc[dotted]
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _json_doc(line: str) -> dict[str, Any] | None:
    doc = json_object(line) if line.startswith("{") else None
    if doc is None:
        return None
    source = doc.get("_source")  # an Elasticsearch / Kibana hit
    return source if isinstance(source, dict) else doc


def _fields_of(doc: Mapping[str, Any], clock: Clock, partial: bool = False) -> Fields | None:
    msg = next((v for k in _MESSAGE_KEYS if isinstance(v := _get(doc, k), str)), None)
    if msg is None:
        return None
    ts = next((t for k in _TIME_KEYS if (t := _time_value(_get(doc, k), clock)) is not None), None)
    node = next((v for k in _NODE_KEYS if isinstance(v := _get(doc, k), str) and v), None)
    return msg, ts, node, partial


def _docker(line: str, clock: Clock) -> Fields | None:
    """Docker's json-file driver: `{"log":"<line>\\n","stream":"stdout","time":"..."}`; a `log`
    without its newline is a part of a long line that the next record continues."""
    doc = _json_doc(line)
    if doc is None or not isinstance(doc.get("log"), str) or "stream" not in doc:
        return None
    text: str = doc["log"]
    partial = not text.endswith("\n")
    return text.removesuffix("\n").removesuffix("\r"), _time_value(doc.get("time"), clock), None, partial


def _journald(line: str, clock: Clock) -> Fields | None:
    """`journalctl -o json` exports: the time journald received the line (`__REALTIME_TIMESTAMP`,
    µs), MESSAGE, and the host that sent it."""
    doc = _json_doc(line)
    if doc is None or "__REALTIME_TIMESTAMP" not in doc:
        return None
    message = doc.get("MESSAGE")
    if not isinstance(message, str):
        return None  # binary messages come as byte arrays: nothing a rule could read
    host = doc.get("_HOSTNAME")
    return (
        message,
        _time_value(doc["__REALTIME_TIMESTAMP"], clock),
        host if isinstance(host, str) else None,
        False,
    )


def _json(line: str, clock: Clock) -> Fields | None:
    """JSON lines of any logger or shipper (ECS, logrus, bunyan, pino, Python json loggers, Loki's
    `logcli -o jsonl`, Elasticsearch hits, journald's `-o json`): message and time found by name."""
    doc = _json_doc(line)
    return None if doc is None else _fields_of(doc, clock)


_LOGFMT_PAIR = re.compile(r'([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
_LOGFMT_START = re.compile(r"^(?:[A-Za-z_][\w.\-]*=)")


def _logfmt(line: str, clock: Clock) -> Fields | None:
    """logfmt: `time=2024-05-01T10:00:00Z level=info msg="became leader" node=n1`."""
    if not _LOGFMT_START.match(line) or ("msg=" not in line and "message=" not in line):
        return None
    doc: dict[str, str] = {}
    for key, value in _LOGFMT_PAIR.findall(line):
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        doc[key] = value
    return _fields_of(doc, clock)


@dataclass
class _Columns:
    """A CSV export's header (Kibana's Discover, Elasticsearch SQL): which column holds what."""

    time: int | None = None
    message: int | None = None
    node: int | None = None


def _csv_row(line: str) -> list[str] | None:
    try:
        rows = list(csv.reader([line]))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None


_LOKI_STREAM = re.compile(r'"stream"\s*:\s*(\{[^{}]*\})')
_LOKI_VALUE = re.compile(r'\[\s*"(\d{1,20})"\s*,\s*"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class LokiEnvelope(Envelope):
    """A Loki query's JSON answer (`/loki/api/v1/query_range`, `logcli --output=raw` of the API):
    `{"data": {"resultType": "streams", "result": [{"stream": {labels}, "values": [["<ns>", "<line>"],
    ...]}]}}`, one document, pretty-printed or not. Read as a stream of tokens, so a file of any size
    needs no more memory than a line; each value is a record (its number: the value's place)."""

    def fits(self, items: list[Peeled], clock: Clock) -> int:
        text = "\n".join(p.text for p in items)
        looks = '"resultType"' in text and '"streams"' in text and _LOKI_VALUE.search(text)
        return len(items) if looks else 0

    def peel(self, items: Iterable[Peeled], clock: Clock) -> Iterator[Peeled]:
        buf = ""
        node: str | None = None
        n = 0
        for item in items:
            buf += item.text + "\n"
            pos = 0
            while True:
                stream, value = _LOKI_STREAM.search(buf, pos), _LOKI_VALUE.search(buf, pos)
                if stream is not None and (value is None or stream.start() < value.start()):
                    try:
                        labels = json.loads(stream[1])
                    except ValueError:
                        labels = {}
                    found = [labels.get(k) for k in _NODE_LABELS if isinstance(labels.get(k), str)]
                    node = found[0] if found else None
                    pos = stream.end()
                    continue
                if value is None:
                    break
                try:
                    line = json.loads(f'"{value[2]}"')
                except ValueError:
                    line = value[2]
                ts = number_ns(float(value[1]))
                n += 1
                for part in line.split("\n"):
                    yield Peeled(n, part.removesuffix("\r"), ts, ts, node, 1, part)
                pos = value.end()
            # keep what may be the start of a token cut by the line's end
            buf = buf[pos:][-65536:] if pos else buf[-65536:]


@dataclass(frozen=True)
class CsvEnvelope(Envelope):
    """A CSV export with a header naming a time and a message column."""

    def fits(self, items: list[Peeled], clock: Clock) -> int:
        row = _csv_row(items[0].text) if items else None
        return len(items) if row is not None and _header(row) is not None else 0

    def peel(self, items: Iterable[Peeled], clock: Clock) -> Iterator[Peeled]:
        cols: _Columns | None = None
        for item in items:
            row = _csv_row(item.text)
            if cols is None and row is not None:
                cols = _header(row)
                if cols is not None:
                    continue
            if cols is None or row is None or cols.message is None or len(row) <= cols.message:
                yield item
                continue
            ts = (
                _time_value(row[cols.time], clock) if cols.time is not None and cols.time < len(row) else None
            )
            node = (
                row[cols.node] if cols.node is not None and cols.node < len(row) and row[cols.node] else None
            )
            yield Peeled(
                item.line,
                row[cols.message],
                ts if ts is not None else item.inner_ts,
                item.outer_ts if item.outer_ts is not None else ts,
                node or item.node,
                item.lines,
                item.raw,
            )


def _header(row: list[str]) -> _Columns | None:
    names = [c.strip().strip('"').lower() for c in row]

    def col(keys: tuple[str, ...]) -> int | None:
        return next((names.index(k.lower()) for k in keys if k.lower() in names), None)

    cols = _Columns(col(_TIME_KEYS), col(_MESSAGE_KEYS), col(_NODE_KEYS))
    return cols if cols.message is not None and cols.time is not None else None


def _whole(line: str, clock: Clock) -> Fields | None:
    """No line alone says it: a CSV export is read against its header, Loki's answer as a document."""
    return None


_STAMP_QUICK = rb"\d{4}-\d\d-\d\dT"
"""The first tokens of an RFC 3339 time: enough to tell a time-prefixed line from another."""


def _prefix(before: bytes, after: bytes) -> re.Pattern[bytes]:
    """A line prefix of the form `<before><RFC 3339 time><after>`, for the prefix path."""
    return re.compile(rb"^" + before + _STAMP.encode() + after, re.M)


ENVELOPES: tuple[Envelope, ...] = (
    Envelope(
        "cri",
        _cri,
        "Kubernetes container logs (CRI): `<time> stdout F <line>`, P parts joined",
        prefix=_prefix(b"", rb" (?:stdout|stderr) F(?: |$)"),
        quick=_STAMP_QUICK,
    ),
    Envelope("docker-json", _docker, 'Docker json-file: `{"log": ..., "stream": ..., "time": ...}`'),
    Envelope("journald", _journald, "journalctl -o json: `__REALTIME_TIMESTAMP`, `_HOSTNAME`, `MESSAGE`"),
    Envelope("syslog5424", _syslog5424, "RFC 5424 syslog: `<pri>1 <time> <host> <app> ...`"),
    Envelope(
        "syslog-iso",
        _syslog_iso,
        "RFC 3339 syslog header, journalctl -o short-iso",
        prefix=_prefix(rb"(?:<\d{1,3}>)?", rb" \S+ " + _TAG.encode()),
        quick=rb"(?:<\d{1,3}>)?" + _STAMP_QUICK,
    ),
    Envelope(
        "syslog", _syslog, "RFC 3164 syslog, journalctl and systemctl status: `Mon DD hh:mm:ss host tag:`"
    ),
    Envelope("logcli", _logcli, 'Loki logcli output: `<time> {pod="..."} <line>`'),
    Envelope("kubectl-prefix", _kubectl_prefix, "kubectl logs --prefix: `[pod/NAME/CONTAINER] <line>`"),
    Envelope("compose", _compose, "docker compose logs: `service  | <line>`"),
    Envelope(
        "kubectl-timestamps",
        _kubectl_ts,
        "kubectl logs --timestamps: `<time> <line>`",
        distinctive=False,
        prefix=_prefix(b"", b" "),
        quick=_STAMP_QUICK,
    ),
    Envelope(
        "json",
        _json,
        "JSON lines (ECS, logrus, bunyan, pino, journald, Loki jsonl, Elasticsearch hits)",
        distinctive=False,
    ),
    Envelope("logfmt", _logfmt, "logfmt: `time=... level=... msg=...`", distinctive=False),
    LokiEnvelope("loki-api", _whole, "Loki's query API JSON (`query_range`): streams of [ns, line] values"),
    CsvEnvelope("csv", _whole, "CSV exports (Kibana, Elasticsearch) with time and message columns"),
    Envelope(
        "indent",
        _indent,
        "leading spaces or tabs (Consul, Nomad consoles, pastes)",
        distinctive=False,
        loose=True,
    ),
    MarkdownEnvelope(
        "markdown", _markdown, "Markdown-escaped pastes (`\\*`, `\\_`, `\\#`)", distinctive=False, ties=True
    ),
)
"""In the order ties are broken (the more specific first)."""

BY_NAME = {e.name: e for e in ENVELOPES}


def peel_all(lines: Iterable[Peeled], envelopes: tuple[Envelope, ...], clock: Clock) -> Iterator[Peeled]:
    """The records once every envelope of a layout (outermost first) has been taken off."""
    out: Iterable[Peeled] = lines
    for env in envelopes:
        out = env.peel(out, clock)
    return iter(out)


# --- choosing by content -------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """How a file's lines are made: envelopes to peel (outermost first), then the application's
    format (None: the messages carry no time of their own; the envelope's is the record's)."""

    envelopes: tuple[Envelope, ...] = ()
    format: Format | None = None
    sample: bytes = b""
    """The file's first lines as the envelopes leave them, for choosing a rule pack."""
    nodes: frozenset[str] = frozenset()
    """The nodes the envelopes name in those lines."""

    @property
    def format_name(self) -> str | None:
        """The format as files and JSON name it: `plain` for messages timed by an envelope."""
        if self.format is not None:
            return self.format.name
        return "plain" if self.envelopes else None

    @property
    def wrapped(self) -> bool:
        return bool(self.envelopes)

    def describe(self) -> str:
        return " > ".join([e.name for e in self.envelopes] + [self.format_name or "no known format"])


SAMPLE_LINES = 400
MAX_DEPTH = 3


def _lines(head: bytes) -> list[Peeled]:
    text = head.decode("utf-8", "replace")
    raw = text.splitlines()
    if head and not head.endswith((b"\n", b"\r")) and len(raw) > 1:
        raw = raw[:-1]  # the sample's last line may be cut short
    return [Peeled(i + 1, line, raw=line) for i, line in enumerate(raw[: SAMPLE_LINES * 4]) if line.strip()][
        :SAMPLE_LINES
    ]


_HEADERS = {"glog": ("Log file created at:", "Running on machine:", "Running duration", "Log line format:")}
"""Lines a format writes that are not records (glog's file header): read by it all the same."""


def _timed(items: list[Peeled], fmt: Format | None, clock: Clock, wary: bool = True) -> tuple[int, int]:
    """(lines with a time, lines the format reads) among peeled records: counted in the file's lines
    (a record joined from parts counts them all), so that layouts compare on the same lines. `wary`:
    a line that is an envelope's (`_enveloped`) is not counted as the format's (not needed where no
    envelope fits: then nothing competes)."""
    timed = formatted = 0
    headers = _HEADERS.get(fmt.name, ()) if fmt is not None else ()
    for p in items:
        stamped = p.inner_ts is not None
        if headers and p.text.startswith(headers):
            formatted += p.lines
            timed += stamped * p.lines
            continue
        own = fmt is not None and fmt.start.match(p.text.encode("utf-8", "replace")) is not None
        timed += (own or stamped) * p.lines
        if own and fmt is not None and wary:
            own = not _enveloped(p.text, fmt, clock)
        formatted += own * p.lines
    return timed, formatted


def _enveloped(text: str, fmt: Format, clock: Clock) -> bool:
    """A line a format reads that is an envelope's all the same: its message is itself a line some
    format reads (an envelope's time in front: `kubectl --timestamps`), or an envelope no
    application writes fits it (log4j reads an RFC 3339 syslog line by its time)."""
    parsed = fmt.parse(text, Clock(clock.tz, clock.year))
    inside = parsed[1].encode("utf-8", "replace") if parsed else b""
    if any(f.start.match(inside) for f in FORMATS.values()):
        return True
    return any(e.distinctive and e.read(text, Clock(clock.tz, clock.year)) is not None for e in ENVELOPES)


def _detect_format(items: list[Peeled]) -> Format | None:
    return detect("\n".join(p.text for p in items).encode("utf-8", "replace"))


def _depth(envs: tuple[Envelope, ...]) -> tuple[int, int]:
    """How far a layout peels, for breaking ties toward the deeper one: indentation earns no credit
    (pretty-printed JSON is indented too), and costs a little."""
    free = sum(e.loose and not e.ties for e in envs)
    return len(envs) - free, -free


def _fit(env: Envelope, items: list[Peeled], clock: Clock) -> bool:
    """Whether an envelope fits enough of a sample's lines to be tried: half of them, or a quarter
    for a shape no application writes (a `systemctl status` paste is half unit header) and for
    indentation and escapes."""
    fit = env.fits(items, clock)
    return fit * 2 >= len(items) or ((env.loose or env.distinctive) and fit * 4 >= len(items))


@functools.lru_cache(maxsize=64)
def layout_cached(head: bytes, tz: dt.tzinfo, year: int) -> Layout:
    """`layout` once per file head (the scan and the ordering of rotated files both ask)."""
    return layout(head, tz, year)


def layout(head: bytes, tz: dt.tzinfo = dt.UTC, year: int = 2000) -> Layout:
    """The layout that gives the most lines a time; among those, one whose application format reads
    nearly as many lines as any (within 80 %: a glog file's header lines are the application's but
    no glog records), the one with the most envelopes: a format that also reads a wrapped line
    (log4j takes `kubectl --timestamps` lines by their prefix) is not the application's, and the
    inner time is the one it wrote. A bare file stays bare: peeling it leaves lines its own format
    no longer reads."""
    items = _lines(head)
    if not items:
        return Layout()
    found: list[tuple[int, int, tuple[Envelope, ...], Format | None, list[Peeled]]] = []

    def visit(envs: tuple[Envelope, ...], cur: list[Peeled], parent: tuple[int, int] | None) -> None:
        clock = Clock(tz, year)
        fitting = (
            [] if len(envs) >= MAX_DEPTH else [e for e in ENVELOPES if e not in envs and _fit(e, cur, clock)]
        )
        fmt = _detect_format(cur)
        timed, formatted = _timed(cur, fmt, clock, wary=bool(fitting or envs))
        # a shape applications share earns its place only by reading more (escapes: no less); an
        # envelope inside it may still
        score = (timed, formatted)
        shared = bool(envs) and not envs[-1].distinctive and parent is not None
        worse = parent is not None and (score < parent or (score == parent and not envs[-1].ties))
        if not (shared and worse) and (fmt is not None or envs) and timed:
            found.append((timed, formatted, envs, fmt, cur))
        for env in fitting:
            peeled = list(env.peel(cur, Clock(tz, year)))
            if peeled != cur:
                visit((*envs, env), peeled, score)

    visit((), items, None)
    if not found:
        return Layout()
    if any(c[2] and c[2][0].distinctive for c in found):
        found = [c for c in found if c[2]]
    most = max(c[0] for c in found)
    best = [c for c in found if c[0] == most]
    read = max(c[1] for c in best)
    # max() keeps the first of equals: the envelopes' order breaks the last ties
    _, _, envs, fmt, peeled = max(best, key=lambda c: (c[1] * 5 >= read * 4, *_depth(c[2]), c[1]))
    if not envs:
        return Layout((), fmt, head)
    return Layout(
        envs,
        fmt,
        "\n".join(p.text for p in peeled).encode("utf-8", "replace"),
        frozenset(p.node for p in peeled if p.node),
    )


__all__ = ["BY_NAME", "ENVELOPES", "Envelope", "Layout", "Peeled", "iso_ns", "layout", "peel_all"]
