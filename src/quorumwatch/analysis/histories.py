"""Histories recorded elsewhere, as register operations (pure: text lines in, `RegOp`s out).

Three shapes, each an event per line — an invocation, then its completion by the same process:
- Jepsen's test logs: `INFO  jepsen.util - 3	:invoke	:cas	[1 4]`, `:ok`, `:fail`, `:info` (the
  etcd, Knossos and Porcupine test histories); other lines are skipped;
- EDN maps, one per line: `{:process 0, :type :invoke, :f :put, :key "3", :value "x", :time 123}`
  (also inside one vector, `[{...}` to `{...}]`, as Knossos's data files hold them);
- JSON lines with the same fields: `{"process": 0, "type": "invoke", "f": "write", "key": "k",
  "value": 3, "time": 123}`; or the operations `quorumwatch history --format jsonl` writes
  (`{"type": "operation", ...}`, each whole: sent, returned, outcome), its ticks and events skipped.
An `:info` completion is an unknown outcome (Jepsen retires that process: its later operations come
under a new number); an invocation never completed is unknown too. Times are the events' `:time`
where every event has one, else their order in the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any, Literal

from quorumwatch.analysis.linearizability import Kind, RegOp, Status
from quorumwatch.model import Operation, operation_from_json

Format = Literal["jepsen-log", "edn", "jsonl"]
Model = Literal["register", "cas-register", "kv"]

_F: dict[str, Kind] = {"read": "read", "get": "read", "write": "write", "put": "write", "cas": "cas"}
_TYPES = {"invoke", "ok", "fail", "info"}
_JEPSEN = re.compile(r"^\s*INFO\s+jepsen\.util\s+-\s+(\d+)\s+:(invoke|ok|fail|info)\s+:([\w-]+)\s*(.*?)\s*$")


class HistoryError(ValueError):
    """A line that cannot be read: printable as is (file and line named)."""


def detect(first_lines: Iterable[str]) -> Format | None:
    for line in first_lines:
        text = line.strip()
        if not text:
            continue
        if _JEPSEN.match(text) or "jepsen.util" in text:
            return "jepsen-log"
        if text.startswith(("{:", "{ :", "[{:", "[{ :")):
            return "edn"
        if text.startswith("{"):
            return "jsonl"
    return None


@dataclass
class _Event:
    line: int
    process: str
    type: str
    f: Kind
    key: str
    value: Any
    time: int | None


def read_history(lines: Iterable[str], fmt: Format, model: Model, source: str) -> list[RegOp]:
    """The operations of a history file; HistoryError naming `source` and the line on bad input."""
    events: list[_Event] = []
    ours: list[Operation] = []
    vector = False
    pending: list[str] = []  # the lines of an EDN map not closed yet
    depth = began = 0
    quoted = False
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if fmt == "edn":
            text = _uncommented(text)
            if not text:
                continue
            # Knossos's data files: one EDN vector (or list) of maps, a map per line or over several
            if not events and not vector and not pending and text[:2] in ("[{", "({"):
                vector, text = True, text[1:]
            if vector and not pending and text in ("]", ")"):
                continue
            if not pending:
                began = n
            opened, quoted = _depth(text, quoted if pending else False)
            depth = depth + opened if pending else opened
            pending.append(text)
            if depth > 0:
                continue
            text = " ".join(pending)
            pending.clear()
            if vector and depth < 0 and text.endswith(("}]", "})")):
                text = text[:-1]
            n = began
        try:
            if fmt == "jsonl" and '"type"' in text and _ours(text, ours):
                continue
            ev = _event(text, fmt, model, n)
        except (ValueError, TypeError, KeyError) as exc:
            raise HistoryError(f"{source}:{n}: {exc}") from None
        if ev is not None:
            events.append(ev)
        if events and ours:
            raise HistoryError(f"{source}:{n}: invoke/complete events mixed with quorumwatch operations")
    if pending:
        raise HistoryError(f"{source}:{began}: no closing '}}' for the map that begins here")
    if ours:
        from quorumwatch.analysis.harm import register_ops

        return [replace(op, where=f"{source}: op {op.index}") for op in register_ops(ours)]
    return _pair(events, source)


def _depth(text: str, quoted: bool = False) -> tuple[int, bool]:
    """How many `{`, `[`, `(` `text` opens (negative: closes), strings skipped; and whether it ends
    inside a string (`quoted`: whether it began inside one, as a map's next line may)."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted:
            if ch in "{[(":
                depth += 1
            elif ch in "}])":
                depth -= 1
    return depth, quoted


def _uncommented(text: str) -> str:
    """A line without its `;` comment (a `;` inside a string is kept)."""
    if ";" not in text:
        return text
    quoted = False
    for i, ch in enumerate(text):
        if ch == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif ch == ";" and not quoted:
            return text[:i].rstrip()
    return text


_OURS = {"tick", "event", "finding"}
"""Lines of `history --format jsonl` that are not operations."""


def _ours(text: str, into: list[Operation]) -> bool:
    """A line of quorumwatch's own JSON lines: its operation added; True when it was one of ours."""
    try:
        doc = json.loads(text)
    except ValueError:
        return False  # the event reader says what is wrong with it
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind in _OURS:
        return True
    if kind != "operation":
        return False
    try:
        into.append(operation_from_json(doc))
    except KeyError as exc:
        raise ValueError(f"operation without {exc}") from None
    return True


def _event(text: str, fmt: Format, model: Model, n: int) -> _Event | None:
    if fmt == "jepsen-log":
        m = _JEPSEN.match(text)
        if m is None:
            return None  # Jepsen's logs hold much else
        f = _F.get(m[3])
        if f is None:
            return None
        value = parse_edn(m[4]) if m[4] else None
        return _keyed(n, m[1], m[2], f, None, value, None, model)
    if fmt == "edn":
        doc = parse_edn(text)
        if not isinstance(doc, dict):
            raise ValueError("expected an EDN map {:process ..., :type ..., :f ...}")
    else:
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise ValueError("expected a JSON object with process, type and f")
    if str(doc.get("process")).lstrip(":") == "nemesis":
        return None  # the fault injector's own events: not operations on the register
    kind = str(doc.get("type", "")).lstrip(":")
    if kind not in _TYPES:
        raise ValueError(f"type {doc.get('type')!r}: expected invoke, ok, fail or info")
    fname = str(doc.get("f", "")).lstrip(":")
    f = _F.get(fname)
    if f is None:
        raise ValueError(f"f {doc.get('f')!r}: expected read, write, cas (or get, put)")
    if "process" not in doc:
        raise ValueError("no process")
    t = doc.get("time")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int)):
        raise ValueError(f"time {t!r}: expected an integer")
    key = doc.get("key")
    return _keyed(
        n, str(doc["process"]), kind, f, None if key is None else str(key), doc.get("value"), t, model
    )


def _keyed(
    n: int, process: str, kind: str, f: Kind, key: str | None, value: Any, t: int | None, model: Model
) -> _Event:
    if key is None and model == "kv":
        # jepsen.independent: [key value]
        if not (isinstance(value, list) and len(value) == 2):
            raise ValueError(f"--model kv: value {value!r} is no [key value] pair and there is no key")
        key, value = str(value[0]), value[1]
    if f == "cas" and model == "register":
        raise ValueError("a cas in a --model register history (use cas-register)")
    return _Event(n, process, kind, f, key or "", _hashable(value), t)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _hashable(x)) for k, x in v.items()))
    return v


def _pair(events: list[_Event], source: str) -> list[RegOp]:
    timed = bool(events) and all(e.time is not None for e in events)
    pending: dict[str, tuple[_Event, int]] = {}
    out: list[RegOp] = []

    def when(e: _Event, pos: int) -> int:
        return e.time if timed and e.time is not None else pos

    for pos, e in enumerate(events):
        if e.type == "invoke":
            if e.process in pending:
                raise HistoryError(f"{source}:{e.line}: process {e.process} invokes again before its "
                                   f"invocation at line {pending[e.process][0].line} completed")  # fmt: skip
            pending[e.process] = (e, pos)
            continue
        got = pending.pop(e.process, None)
        if got is None:
            raise HistoryError(
                f"{source}:{e.line}: process {e.process} completes an operation it never invoked"
            )
        inv, at = got
        out.append(_op(len(out), inv, e, when(inv, at), when(e, pos), source))
    for inv, at in pending.values():
        out.append(_op(len(out), inv, None, when(inv, at), None, source))
    return out


def _op(index: int, inv: _Event, done: _Event | None, call: int, ret: int | None, source: str) -> RegOp:
    status = Status.UNKNOWN if done is None or done.type == "info" else Status(done.type)
    where = f"{source}:{inv.line}"
    ret = None if status is Status.UNKNOWN else ret
    if done is not None and done.f != inv.f:
        raise HistoryError(
            f"{source}:{done.line}: completes a {done.f} for an invoked {inv.f} (line {inv.line})"
        )
    if inv.f == "read":
        value = done.value if done is not None and status is Status.OK else None
        return RegOp(index, inv.key, "read", status, call, ret, value, process=inv.process, where=where)
    if inv.f == "write":
        return RegOp(index, inv.key, "write", status, call, ret, inv.value, process=inv.process, where=where)
    pair = inv.value
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise HistoryError(f"{source}:{inv.line}: cas value {pair!r}: expected [expected new]")
    return RegOp(
        index, inv.key, "cas", status, call, ret, pair[1], expect=pair[0], process=inv.process, where=where
    )


# --- a small EDN reader: what Jepsen histories hold ---------------------------------------------

_TOKEN = re.compile(r'(?:[\s,]|;[^\n]*)*(?:([{}\[\]()])|("(?:[^"\\]|\\.)*")|([^\s,;{}\[\]()"]+))?', re.S)
"""EDN's tokens; commas are whitespace, `;` starts a comment to the end of the line."""


def parse_edn(text: str) -> Any:
    """Maps, vectors and lists, strings, integers, floats, nil, true/false, keywords (kept as their
    name, `:ok` -> "ok" for values of `:type` and `:f`, `:timed-out` -> ":timed-out" elsewhere)."""
    tokens = [t for t in _tokens(text)]
    value, pos = _value(tokens, 0)
    if pos != len(tokens):
        raise ValueError(f"unexpected {tokens[pos][1]!r} after the value")
    return value


def _tokens(text: str) -> Iterable[tuple[str, str]]:
    pos = 0
    text = text.rstrip().rstrip(",")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read {text[pos : pos + 20]!r}")
        pos = m.end()
        if m.lastindex is None:
            continue  # only whitespace and comments were left
        if m[1]:
            yield ("punct", m[1])
        elif m[2]:
            yield ("string", m[2])
        elif m[3]:
            yield ("atom", m[3])


def _value(tokens: list[tuple[str, str]], pos: int) -> tuple[Any, int]:
    if pos >= len(tokens):
        raise ValueError("the value ends too soon")
    kind, tok = tokens[pos]
    if kind == "string":
        return json.loads(tok), pos + 1
    if kind == "atom":
        return _atom(tok), pos + 1
    close = {"{": "}", "[": "]", "(": ")"}.get(tok)
    if close is None:
        raise ValueError(f"unexpected {tok!r}")
    items: list[Any] = []
    pos += 1
    while pos < len(tokens) and tokens[pos] != ("punct", close):
        item, pos = _value(tokens, pos)
        items.append(item)
    if pos >= len(tokens):
        raise ValueError(f"no closing {close!r}")
    if tok == "{":
        if len(items) % 2:
            raise ValueError("a map with an odd number of forms")
        keys = [str(k).lstrip(":") if isinstance(k, str) else k for k in items[::2]]
        if not all(isinstance(k, Hashable) for k in keys):
            raise ValueError("a map key that is no value")
        return dict(zip(keys, items[1::2], strict=True)), pos + 1
    return items, pos + 1


def _atom(tok: str) -> Any:
    if tok == "nil":
        return None
    if tok in ("true", "false"):
        return tok == "true"
    if re.fullmatch(r"[+-]?\d+N?", tok):
        return int(tok.rstrip("N"))
    if re.fullmatch(r"[+-]?\d+\.\d*(?:[eE][+-]?\d+)?M?|[+-]?\d+[eE][+-]?\d+", tok):
        return float(tok.rstrip("M"))
    return tok  # keywords and symbols keep their text (`:ok`)


__all__ = ["Format", "HistoryError", "Model", "detect", "parse_edn", "read_history"]
