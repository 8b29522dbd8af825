"""Envelopes: each wrapper real tools put around log lines, peeled by content. The metamorphic test
wraps every fixture of every pack in every envelope (and in stacks of two) and expects the bare
answer back: the same intervals, epochs, overlaps and verdict."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from quorumwatch.logs.envelopes import BY_NAME, ENVELOPES, Peeled, layout, peel_all
from quorumwatch.logs.formats import Clock
from quorumwatch.logs.scan import run_logs
from quorumwatch.report.logs import to_json

FIX = Path(__file__).parent / "fixtures" / "logs"
CORPORA = sorted(d.name for d in FIX.iterdir() if d.is_dir() and d.name != "merged")
"""Every pack's fixtures: one directory per corpus, one subdirectory per node."""
YEAR = 2026


def _files(root: Path) -> dict[str, list[Path]]:
    return {
        d.name: sorted(p for p in d.iterdir() if p.is_file()) for d in sorted(root.iterdir()) if d.is_dir()
    }


def _answer(files: dict[str, list[Path]], time_from: str = "inner") -> dict[str, Any]:
    r = run_logs(files, None, tz=dt.UTC, year=YEAR, skew_s=0.0, offsets_s={}, time_from=time_from)
    data = to_json(r, 5.0, True)
    return {k: data[k] for k in ("verdict", "intervals", "overlaps", "anomalies", "leaderless")}


def _timed_lines(path: Path) -> list[tuple[str, int]]:
    """Each line of a bare fixture with the time of its record (continuations: the record before
    them; lines before the first record: the first record's)."""
    raw = path.read_bytes()
    lay = layout(raw[:65536], dt.UTC, YEAR)
    assert lay.format is not None and not lay.envelopes, path
    clock = Clock(dt.UTC, YEAR)
    created = [ln for ln in raw.decode().splitlines() if ln.startswith("Log file created at: ")]
    if created:
        clock.year = int(created[0][21:25])
    out: list[tuple[str, int | None]] = []
    last = None
    for line in raw.decode().splitlines():
        parsed = lay.format.parse(line.rstrip(), clock)
        last = parsed[0] if parsed else last
        out.append((line, last))
    first = next(t for _, t in out if t is not None)
    return [(line, first if t is None else t) for line, t in out]


def _iso(ns: int, digits: int = 9) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    t = dt.datetime.fromtimestamp(secs, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac:09d}"[: digits + 1] if digits else "") + "Z"


def _bsd(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, dt.UTC).strftime("%b %e %H:%M:%S")


def _parts(line: str, size: int = 40) -> list[str]:
    return [line[i : i + size] for i in range(0, len(line), size)] or [""]


Timed = list[tuple[str, int]]
Wrap = Callable[[Timed, str], Timed]


def _each(fn: Callable[[str, int, str], str | list[str]]) -> Wrap:
    def wrap(lines: Timed, node: str) -> Timed:
        out: Timed = []
        for line, ns in lines:
            got = fn(line, ns, node)
            out += [(g, ns) for g in ([got] if isinstance(got, str) else got)]
        return out

    return wrap


def _cri(line: str, ns: int, node: str) -> list[str]:
    chunks = _parts(line)
    return [f"{_iso(ns)} stdout {'F' if i == len(chunks) - 1 else 'P'} {c}" for i, c in enumerate(chunks)]


def _docker(line: str, ns: int, node: str) -> list[str]:
    chunks = _parts(line)
    return [
        json.dumps({"log": c + ("\n" if i == len(chunks) - 1 else ""), "stream": "stdout", "time": _iso(ns)})
        for i, c in enumerate(chunks)
    ]


def _csv(lines: Timed, node: str) -> Timed:
    def row(*cells: str) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(cells)
        return buf.getvalue()

    return [(row("@timestamp", "host.name", "message"), lines[0][1])] + [
        (row(_iso(ns, 3), node, line), ns) for line, ns in lines
    ]


def _loki(lines: Timed, node: str) -> Timed:
    """A Loki query answer, pretty-printed: one document of [ns, line] values under the node's pod."""
    values = [[str(ns), line] for line, ns in lines]
    doc = {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"pod": node, "app": "db"}, "values": values}]}}  # fmt: skip
    return [(t, lines[0][1]) for t in json.dumps(doc, indent=2).splitlines()]


WRAPS: dict[str, Wrap] = {
    "indent": _each(lambda line, ns, node: "    " + line),
    "markdown": _each(lambda line, ns, node: re.sub(r"([*_#\[\]])", r"\\\1", line)),
    "compose": _each(lambda line, ns, node: f"{node:<8}| {line}"),
    "kubectl-prefix": _each(lambda line, ns, node: f"[pod/{node}/server] {line}"),
    "kubectl-timestamps": _each(lambda line, ns, node: f"{_iso(ns)} {line}"),
    "cri": _each(_cri),
    "cri-whole": _each(lambda line, ns, node: f"{_iso(ns)} stdout F {line}"),
    "docker-json": _each(_docker),
    "syslog": _each(lambda line, ns, node: f"{_bsd(ns)} {node} app[42]: {line}"),
    "syslog-iso": _each(lambda line, ns, node: f"{_iso(ns, 6)[:-1]}+00:00 {node} app[42]: {line}"),
    "syslog5424": _each(lambda line, ns, node: f"<30>1 {_iso(ns, 6)} {node} app 42 - - {line}"),
    "journald": _each(
        lambda line, ns, node: json.dumps(
            {
                "__REALTIME_TIMESTAMP": str(ns // 1000),
                "_HOSTNAME": node,
                "SYSLOG_IDENTIFIER": "app",
                "MESSAGE": line,
            }
        )
    ),
    "json": _each(
        lambda line, ns, node: json.dumps(
            {"@timestamp": _iso(ns, 3), "log.level": "info", "message": line, "host": {"name": node}}
        )
    ),
    "logfmt": _each(
        lambda line, ns, node: (
            f"time={_iso(ns)} level=info host={node} msg={json.dumps(line, ensure_ascii=False)}"
        )
    ),
    "logcli": _each(lambda line, ns, node: f'{_iso(ns)} {{pod="{node}", app="db"}} {line}'),
    "loki-jsonl": _each(
        lambda line, ns, node: json.dumps({"labels": {"pod": node}, "line": line, "timestamp": _iso(ns)})
    ),
    "kibana-ndjson": _each(
        lambda line, ns, node: json.dumps(
            {"_index": "logs", "_source": {"@timestamp": _iso(ns, 3), "message": line}}
        )
    ),
    "csv": _csv,
    "loki-api": lambda lines, node: _loki(lines, node),
}
"""How each envelope wraps a line (name: what `layout` should call the outer envelope)."""

OUTER = {"loki-jsonl": "json", "kibana-ndjson": "json", "cri-whole": "cri"}
"""Wrappers that make another envelope's lines (CRI without parts: every line read by the prefix path)."""

STACKS = [("indent", "syslog"), ("cri", "json"), ("kubectl-prefix", "kubectl-timestamps"),
          ("docker-json", "syslog-iso"), ("syslog", "logfmt"), ("compose", "json")]  # fmt: skip
"""(outer, inner): `systemctl status` (indented journal lines), an ECS app in Kubernetes, `kubectl logs
--prefix --timestamps`, a relay inside a container, logfmt through syslog, compose of a JSON logger."""


def test_every_envelope_is_wrapped_by_the_test() -> None:
    assert {OUTER.get(n, n) for n in WRAPS} == set(BY_NAME), "an envelope without a wrapper here"


def _wrapped(tmp: Path, corpus: str | Path, wraps: list[Wrap]) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for node, paths in _files(FIX / corpus).items():
        for p in paths:
            lines = _timed_lines(p)
            for wrap in reversed(wraps):  # innermost first
                lines = wrap(lines, node)
            dest = tmp / Path(corpus).name / node / p.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text("".join(t + "\n" for t, _ in lines))
            out.setdefault(node, []).append(dest)
    return out


@pytest.mark.parametrize("corpus", CORPORA)
def test_every_fixture_in_every_envelope_gives_the_bare_answer(corpus: str, tmp_path: Path) -> None:
    bare = _answer(_files(FIX / corpus))
    assert bare["intervals"], corpus
    cases = [[n] for n in WRAPS] + [list(s) for s in STACKS]
    for case in cases:
        files = _wrapped(tmp_path / "-".join(case), corpus, [WRAPS[n] for n in case])
        head = next(iter(files.values()))[0].read_bytes()[:65536]
        bare_head = next(iter(_files(FIX / corpus).values()))[0].read_bytes()[:65536]
        # escapes change nothing in a file with nothing to escape: nothing to peel then
        expected = [OUTER.get(n, n) for n in case if n != "markdown" or head != bare_head]
        got = [e.name for e in layout(head, dt.UTC, YEAR).envelopes]
        assert got == expected, (corpus, case, got)
        assert _answer(files) == bare, (corpus, case)


def test_a_relay_delay_is_measured_and_time_from_envelope_takes_the_relays_clock(tmp_path: Path) -> None:
    """Syslog stamps each line 0.25 s after the application did: by default the application's time
    stands (and the delay is reported); with --time-from envelope every leadership moves by 0.25 s."""
    delay = 250_000_000
    shifted = _each(lambda line, ns, node: f"{_iso(ns + delay, 6)[:-1]}+00:00 {node} app[42]: {line}")
    files = {}
    for node, paths in _files(FIX / "patroni").items():
        for p in paths:
            dest = tmp_path / node / p.name
            dest.parent.mkdir(parents=True)
            dest.write_text("".join(t + "\n" for t, _ in shifted(_timed_lines(p), node)))
            files[node] = [dest]
    bare = _answer(_files(FIX / "patroni"))
    assert _answer(files) == bare
    r = run_logs(files, None, tz=dt.UTC, year=YEAR, skew_s=0.0, offsets_s={})
    (delays,) = {json.dumps(f["relay_delay"]) for f in to_json(r, 5, True)["files"]}
    assert json.loads(delays)["median_s"] == 0.25 and json.loads(delays)["max_s"] == 0.25
    late = _answer(files, "envelope")
    assert [i["duration_s"] for i in late["intervals"]] == [i["duration_s"] for i in bare["intervals"]]
    for a, b in zip(late["intervals"], bare["intervals"], strict=True):
        moved = dt.datetime.fromisoformat(a["start"]) - dt.datetime.fromisoformat(b["start"])
        assert moved == dt.timedelta(seconds=0.25)


def test_a_compose_log_of_a_whole_cluster_is_split_by_service(tmp_path: Path) -> None:
    """`docker compose logs` interleaves every service in one file: each line goes to the node its
    prefix names, giving the per-node answer without --node-from."""
    bare = _answer(_files(FIX / "etcd"))
    merged: list[tuple[int, str]] = []
    for node, paths in _files(FIX / "etcd").items():
        for line, ns in _timed_lines(paths[0]):
            merged.append((ns, f"{node:<6}| {line}"))
    path = tmp_path / "compose.log"
    path.write_text("".join(line + "\n" for _, line in sorted(merged, key=lambda x: x[0])))
    r = run_logs({"all": [path]}, None, tz=dt.UTC, year=YEAR, skew_s=0.0, offsets_s={})
    (f,) = to_json(r, 5, True)["files"]
    assert f["envelopes"] == ["compose"] and f["split_into_nodes"] is True
    got = _answer({"all": [path]})
    assert got == bare


def test_cri_partial_lines_are_joined_into_one_record() -> None:
    clock = Clock(dt.UTC, YEAR)
    lines = ["2024-05-01T10:00:00.5Z stdout P became lea", "2024-05-01T10:00:00.6Z stdout F der at term 3",
             "2024-05-01T10:00:01Z stderr F next"]  # fmt: skip
    items = [Peeled(i + 1, t, raw=t) for i, t in enumerate(lines)]
    (a, b) = list(peel_all(items, (BY_NAME["cri"],), clock))
    assert (a.line, a.text, a.lines) == (1, "became leader at term 3", 2)
    assert a.inner_ts == dt.datetime(2024, 5, 1, 10, 0, 0, 500000, dt.UTC).timestamp() * 1e9
    assert (b.line, b.text) == (3, "next")


def test_lines_an_envelope_does_not_fit_pass_through() -> None:
    """A `systemctl status` paste: the unit's header is not a journal line, and stays as it is."""
    text = [
        "● etcd.service - etcd",
        "     Loaded: loaded (/lib/systemd/system/etcd.service; enabled)",
        "Nov 14 15:52:32 h1 etcd[7]: 8e9e05c52164694d became leader at term 2",
    ]
    items = [Peeled(i + 1, t, raw=t) for i, t in enumerate(text)]
    out = list(peel_all(items, (BY_NAME["syslog"],), Clock(dt.UTC, YEAR)))
    assert [p.text for p in out] == [text[0], text[1], "8e9e05c52164694d became leader at term 2"]
    assert out[2].node == "h1" and out[0].node is None


def test_a_bare_file_is_never_peeled() -> None:
    """Formats whose lines look like an envelope's (an hclog line starts with an RFC 3339 time, capnslog
    holds a `|`) stay bare: peeling would lose their own format."""
    for corpus in CORPORA:
        for paths in _files(FIX / corpus).values():
            for p in paths:
                lay = layout(p.read_bytes()[:65536], dt.UTC, YEAR)
                assert lay.envelopes == () and lay.format is not None, p
    capnslog = b"2016-05-17 15:21:26.584311 I | raft: 8e9e05c52164694d became leader at term 2\n" * 3
    lay = layout(capnslog)
    assert lay.envelopes == () and lay.format is not None and lay.format.name == "capnslog"


def test_envelope_list_is_what_docs_name() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "logs.md").read_text()
    for env in ENVELOPES:
        assert f"`{env.name}`" in doc, env.name


def test_a_markdown_escaped_redis_paste_still_shows_its_roles(tmp_path: Path) -> None:
    """Pasted through Markdown, a Redis log's level marks became `\\*` and `\\#`: the role letters are
    read again once the escapes are peeled."""
    bare = (FIX / "redis" / "n1" / "n1.log").read_text()
    pasted = tmp_path / "n1" / "n1.log"
    pasted.parent.mkdir()
    pasted.write_text(re.sub(r"([*#_])", r"\\\1", bare))
    r = run_logs({"n1": [pasted]}, None, tz=dt.UTC, year=YEAR, skew_s=0.0, offsets_s={})
    (f,) = to_json(r, 5, True)["files"]
    assert (f["envelopes"], f["format"], f["pack"]) == (["markdown"], "redis", "redis-sentinel")
    assert _answer({"n1": [pasted]}) == _answer({"n1": [FIX / "redis" / "n1" / "n1.log"]})


VERSIONS = [
    c
    for c in yaml.safe_load((FIX / "versions.yaml").read_text())
    # an excerpt that is itself wrapped (klog behind an ISO time, a relay's header) has no bare form
    if not any(layout(t.encode(), dt.UTC, YEAR).envelopes for t in c["logs"].values())
]


@pytest.mark.parametrize("case", VERSIONS, ids=[c["case"][:50] for c in VERSIONS])
def test_every_version_excerpt_in_every_envelope_gives_the_bare_answer(
    case: dict[str, Any], tmp_path: Path
) -> None:
    """The excerpts of each system's versions (tests/fixtures/logs/versions.yaml) too: the new packs'
    and wording's, wrapped in each envelope, read as they read bare."""
    bare_dir = tmp_path / "bare"
    for node, text in case["logs"].items():
        (bare_dir / node).mkdir(parents=True)
        (bare_dir / node / "server.log").write_text(text.rstrip("\n") + "\n")
    bare = _answer(_files(bare_dir))
    for name, wrap in WRAPS.items():
        files = _wrapped(tmp_path / name, bare_dir, [wrap])
        assert _answer(files) == bare, (case["case"], name)


def test_a_lone_surrogate_inside_a_json_envelope_is_read_not_raised(tmp_path: Path) -> None:
    """Docker's `log` or an ECS `message` may hold an escaped lone surrogate (`\\ud800`): the record
    is read with it replaced, and the leadership beside it still counts."""
    p = tmp_path / "n1" / "etcd.log"
    p.parent.mkdir()
    lines = [
        {"log": '{"level":"info","ts":"2024-05-01T10:00:00Z","msg":"bad \\ud800 byte"}\n', "stream": "stderr",
         "time": "2024-05-01T10:00:00Z"},
        {"log": '{"level":"info","ts":"2024-05-01T10:00:01Z","msg":"8e9e05c52164694d became leader at term 2 '
                '\\ud800"}\n', "stream": "stderr", "time": "2024-05-01T10:00:01Z"},
    ]  # fmt: skip
    p.write_text("".join(json.dumps(x) + "\n" for x in lines))
    data = _answer({"n1": [p]})
    assert [(i["node"], i["epoch"]) for i in data["intervals"]] == [("n1", 2)]


def test_a_systemctl_status_paste_is_read_under_its_unit_header(tmp_path: Path) -> None:
    """`systemctl status etcd`: six lines of unit header, then the journal's lines: the syslog
    envelope fits a minority of the lines and is peeled all the same (no application writes that
    shape); the header passes through as lines without a time."""
    p = tmp_path / "n1" / "status.txt"
    p.parent.mkdir()
    z = '{"level":"info","ts":"2026-12-03T08:00:%s","msg":"%s"}'
    p.write_text(
        "● etcd.service - etcd key-value store\n"
        "     Loaded: loaded (/lib/systemd/system/etcd.service; enabled; vendor preset: enabled)\n"
        "     Active: active (running) since Thu 2026-12-03 08:00:00 UTC; 2h ago\n"
        "   Main PID: 1234 (etcd)\n     CGroup: /system.slice/etcd.service\n"
        "             └─1234 /usr/bin/etcd\n\n"
        f"Dec 03 08:00:01 h1 etcd[1234]: {z % ('01.100Z', '8e9e05c52164694d became leader at term 2')}\n"
        f"Dec 03 08:00:09 h1 etcd[1234]: {z % ('09.500Z', '8e9e05c52164694d became follower at term 3')}\n"
    )
    r = run_logs({"n1": [p]}, None, tz=dt.UTC, year=YEAR, skew_s=0.0, offsets_s={})
    data = to_json(r, 5, True)
    (f,) = data["files"]
    assert (f["envelopes"], f["format"], f["pack"]) == (["syslog"], "zap", "etcd")
    assert [(i["epoch"], i["start"], i["end"]) for i in data["intervals"]] == [
        (2, "2026-12-03T08:00:01.100000Z", "2026-12-03T08:00:09.500000Z")]  # fmt: skip


def test_cri_parts_after_the_first_megabyte_hand_over_to_the_joining_path(tmp_path: Path) -> None:
    """A CRI file read chunk by chunk by its prefix: where a split line (`P` parts) first appears, two
    megabytes in, the rest is read line by line and the parts joined; line numbers run on."""
    cri = "2024-05-01T10:00:0{}.000000000Z stdout {} {}\n".format
    zap = '{{"level":"info","ts":"2024-05-01T10:00:0{}Z","msg":"{}"}}'.format
    noise = cri(0, "F", "x" * 100)
    n = (2 << 20) // len(noise)
    head = noise * n
    leader = zap(5, "8e9e05c52164694d became leader at term 7")
    follower = zap(9, "8e9e05c52164694d became follower at term 8")
    tail = cri(5, "P", leader[:50]) + cri(5, "F", leader[50:]) + cri(9, "F", follower)
    first = cri(0, "F", zap(0, "starting"))
    p = tmp_path / "n1" / "etcd.log"
    p.parent.mkdir()
    p.write_text(first + head + tail)
    r = run_logs({"n1": [p]}, None, tz=dt.UTC, year=YEAR, skew_s=0.0, offsets_s={})
    data = to_json(r, 5, True)
    (f,) = data["files"]
    assert f["envelopes"] == ["cri"] and f["lines"] == n + 4
    assert [(i["epoch"], i["start"], i["end"]) for i in data["intervals"]] == [
        (7, "2024-05-01T10:00:05Z", "2024-05-01T10:00:09Z")]  # fmt: skip
    assert [e["line"] for e in data["timeline"]] == [n + 2, n + 4]
