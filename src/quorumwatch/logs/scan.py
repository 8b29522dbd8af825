"""`quorumwatch logs`: node log files in, who-led-when out (the I/O around `forensics`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import glob
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from quorumwatch.config import ConfigError, check_name, shown
from quorumwatch.logs import rules
from quorumwatch.logs.envelopes import Layout, layout_cached
from quorumwatch.logs.forensics import LEADERSHIP, Forensics, RoleEvent, analyze_logs, role_event
from quorumwatch.logs.patterns import OverBudget, TextPattern, compile_text
from quorumwatch.logs.reader import (
    FileStats,
    LogError,
    Part,
    Record,
    _show,
    first_timestamp,
    parts,
    scan,
    sniff,
)
from quorumwatch.model import Verdict


@dataclass
class LogRun:
    forensics: Forensics
    stats: list[FileStats] = field(default_factory=list)
    packs: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, str] = field(default_factory=dict)
    """File path → node."""

    def unexamined(self) -> list[str]:
        """One line per file with lines a rule's pattern could not finish within its budget."""
        return [
            f"{s.path}: {s.unexamined:,} line(s) not examined, first line {s.unexamined_at}: "
            f"{s.unexamined_why}"
            for s in self.stats
            if s.unexamined
        ]

    def silent_files(self) -> list[str]:
        """One line per file that gave no leadership event: what was read (envelopes, format), what
        was tried, which pack comes nearest, and what to do."""
        out = []
        for s in self.stats:
            if s.events:
                continue
            pack = self.packs.get(s.path)
            layout = " > ".join([*s.envelopes, f"format {s.format}" if s.format else "no known format"])
            node = self.nodes.get(s.path, "?")
            head = f"{s.path} ({node}): {s.lines:,} lines, {s.records:,} records, {layout}"
            if not s.records:
                first = f" (first line: {s.examples[0]!r})" if s.examples else ""
                out.append(f"{head}: no line has a timestamp quorumwatch reads{first}")
                continue
            tried = f"pack {pack} tried" if pack else "no pack fits its format"
            if s.nearest is None:
                hint = "no built-in pack's phrases occur: name its lines with --leader-start/--leader-stop"
                hint += " or --rules"
            else:
                name, found, total = s.nearest
                hint = f"nearest pack {name}: {found} of its {total} phrases occur"
                hint += "" if name == pack else f" (try --pack {name})"
            out.append(f"{head}, no leadership event ({tried}); {hint}")
        return out


def resolve_inputs(args: Sequence[str], run_dir: Path | None) -> dict[str, list[Path]]:
    """NODE=PATH_OR_GLOB, plain paths (node: parent directory's name), or a run's collected logs."""
    files: dict[str, list[Path]] = {}
    if run_dir is not None:
        base = run_dir / "logs"
        if not base.is_dir():
            raise ConfigError(f"{run_dir}: no collected logs (expected {base}/<node>/)")
        for node_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            files[node_dir.name] = sorted(p for p in node_dir.iterdir() if p.is_file())
    for arg in args:
        node, sep, pattern = arg.partition("=")
        if not sep:
            pattern, node = arg, Path(arg).resolve().parent.name
        try:
            check_name(node, "node name")
        except ValueError as exc:
            raise ConfigError(f"{arg}: {exc}") from None
        matched = (
            sorted(Path(p) for p in glob.glob(pattern))
            if any(c in pattern for c in "*?[")
            else [Path(pattern)]
        )
        if not matched or not all(p.is_file() for p in matched):
            raise ConfigError(f"{arg}: no such log file")
        files.setdefault(node, []).extend(matched)
    if not files:
        raise ConfigError("no log files: give NODE=PATH, paths, or --run RUN_DIR")
    return files


def choose_pack(explicit: rules.Pack | None, lay: Layout) -> rules.Pack | None:
    if explicit is not None:
        return explicit
    if lay.format_name is None:
        return None
    default = lay.format.default_pack if lay.format is not None else None
    return rules.for_sample(lay.format_name, default, lay.sample)


def file_layout(head: bytes, tz: dt.tzinfo, year: int | None) -> Layout:
    return layout_cached(head, tz, year or dt.datetime.now(tz).year)


HOST = r"^(?P<node>[A-Za-z0-9][A-Za-z0-9_.-]{0,62}) "
"""`--node-from host`: the host name syslog and journald exports put before each message."""


@dataclass(frozen=True)
class NodeFrom:
    """Which node a record of a merged file belongs to: the node its envelope names (a syslog host,
    a compose service, a pod), the group `node` of a pattern searched in its message, or a field of a
    JSON line (`field:_MACHINE_ID` in a journald export)."""

    pattern: TextPattern | None = None
    field: str | None = None
    envelope: bool = False

    def node_of(self, rec: Record) -> str | None:
        if self.envelope and rec.node:
            return rec.node
        if self.pattern is not None:
            m = self.pattern.search(rec.message)
            node = m.group("node") if m else None
            return node if isinstance(node, str) and node else None
        try:
            value = json.loads(rec.raw).get(self.field)
        except (ValueError, AttributeError):
            return None
        return value if isinstance(value, str) and value else None


def node_from(spec: str | None) -> NodeFrom | None:
    """`--node-from host`, `field:NAME` or a regular expression with a group `node`; ConfigError
    otherwise."""
    if spec is None:
        return None
    if spec == "host":
        return NodeFrom(compile_text(HOST), envelope=True)
    if spec.startswith("field:") and spec[6:]:
        return NodeFrom(field=spec[6:])
    try:
        pattern = compile_text(spec)
    except ValueError as exc:
        raise ConfigError(f"--node-from {shown(spec)}: bad regular expression: {exc}") from None
    if "node" not in pattern.groupindex:
        raise ConfigError(
            f"--node-from {shown(spec)}: needs a named group (?P<node>...), 'host' or 'field:NAME'"
        )
    return NodeFrom(pattern)


def _scan_one(
    node: str,
    path: Path,
    head: bytes,
    explicit: rules.Pack | None,
    tz: dt.tzinfo,
    year: int | None,
    split: NodeFrom | None = None,
    part: Part | None = None,
    time_from: str = "inner",
) -> tuple[list[RoleEvent], FileStats, str | None]:
    """One file's (or one part's) role events and counts (in a worker process when there are
    several). With `split` (lines of several nodes merged in one file), each record's node is the one
    `split` names; records it names none for stay with the file's node. Without it, a file whose
    envelopes name several nodes (a compose or kubectl log of a whole cluster) is split by them."""
    lay = file_layout(head, tz, year)
    pack = choose_pack(explicit, lay)
    stats = FileStats(str(path), lay.format_name, envelopes=tuple(e.name for e in lay.envelopes))
    if pack is None:
        stats.lines = head.count(b"\n") + (1 if head and not head.endswith(b"\n") else 0)
        stats.examples = [_show(x) for x in head.splitlines()[:3]]
        return [], stats, None
    if split is None and len(lay.nodes) > 1:
        split = NodeFrom(envelope=True)
    stats.split = split is not None
    events = []
    records = scan(
        path, pack, tz=tz, year=year, stats=stats, head=head, part=part, lay=lay, time_from=time_from,
        nodes=split is not None,
    )  # fmt: skip
    for rec in records:
        try:
            named = split.node_of(rec) if split is not None else None
            ev = role_event(named or node, rec.file, rec.line, rec.ts_ns, rec.message, pack)
        except OverBudget as exc:
            stats.unexamined += 1
            if stats.unexamined_at is None:
                stats.unexamined_at, stats.unexamined_why = rec.line, str(exc)
            continue
        if ev is not None:
            events.append(ev)
            stats.events += ev.kind in LEADERSHIP
    if not stats.events:
        stats.nearest = rules.nearest(lay.sample)
    return events, stats, pack.name


def _join(
    results: list[tuple[list[RoleEvent], FileStats, str | None]],
) -> tuple[list[RoleEvent], FileStats, str | None]:
    """One file's result from its parts': counts added, line numbers continued."""
    if len(results) == 1:
        return results[0]
    events: list[RoleEvent] = []
    first = results[0][1]
    stats = FileStats(first.path, first.format, envelopes=first.envelopes, split=first.split)
    for evs, st, _ in results:
        events += [dataclasses.replace(e, line=e.line + stats.lines) for e in evs]
        if st.unexamined_at is not None and stats.unexamined_at is None:
            stats.unexamined_at, stats.unexamined_why = st.unexamined_at + stats.lines, st.unexamined_why
        stats.unexamined += st.unexamined
        stats.lines += st.lines
        stats.records += st.records
        stats.without_timestamp += st.without_timestamp
        stats.events += st.events
        stats.examples += st.examples[: 3 - len(stats.examples)]
        stats.relay_delays += st.relay_delays
        stats.seen(st.last_ns)
    return events, stats, results[0][2]


def _coverage(
    work: list[tuple[str, Path]],
    results: list[tuple[list[RoleEvent], FileStats, str | None]],
    firsts: dict[Path, int | None],
) -> dict[str, tuple[int | None, int | None]]:
    """Each node's first and last record over its files. A file split among nodes by its lines
    covers each node as far as its envelopes name it; split by a pattern in the messages, only the
    node's own events bound it."""
    out: dict[str, tuple[int | None, int | None]] = {}

    def widen(node: str, first: int | None, last: int | None) -> None:
        lo, hi = out.get(node, (None, None))
        out[node] = (
            first if lo is None else lo if first is None else min(lo, first),
            last if hi is None else hi if last is None else max(hi, last),
        )

    for (node, path), (_, stats, _) in zip(work, results, strict=True):
        if not stats.split:
            widen(node, firsts[path], stats.last_ns)
        for named, (first, last) in stats.node_spans.items():
            if stats.split:
                widen(named, first, last)
    return out


def _size(path: Path, part: Part | None) -> int:
    if part is not None:
        return part.end - part.start
    try:
        return path.stat().st_size
    except OSError:
        return 0


def run_logs(
    files: dict[str, list[Path]],
    explicit: rules.Pack | None,
    *,
    tz: dt.tzinfo,
    year: int | None,
    skew_s: float,
    offsets_s: dict[str, float],
    jobs: int = 1,
    split: NodeFrom | None = None,
    progress: Callable[[int, int], None] | None = None,
    time_from: str = "inner",
) -> LogRun:
    """Scan every file (in `jobs` processes: each file, or each part of a big one, streams on its
    own core) and analyse. `progress(bytes_done, bytes_total)` is told as each piece finishes."""
    out = LogRun(analyze_logs({}))
    heads = {path: sniff(path) for paths in files.values() for path in paths}
    layouts = {path: file_layout(head, tz, year) for path, head in heads.items()}
    firsts = {path: first_timestamp(head, tz, year, layouts[path]) for path, head in heads.items()}
    # rotated files in the order they were written
    work = [
        (node, path)
        for node, paths in files.items()
        for path in sorted(paths, key=lambda p: (firsts[p] or 0, str(p)))
    ]
    # a big bare file is cut into line-aligned parts so that `jobs` cores share it too
    pieces: list[tuple[int, Part | None]] = []
    for i, (_, path) in enumerate(work):
        lay = layouts[path]
        fmt = lay.format if jobs > 1 and not lay.wrapped else None
        cut = parts(path, heads[path], fmt, jobs, tz, year) if fmt is not None else []
        pieces += [(i, p) for p in cut] if len(cut) > 1 else [(i, None)]
    args = [
        (work[i][0], work[i][1], heads[work[i][1]], explicit, tz, year, split, part, time_from)
        for i, part in pieces
    ]
    sizes = [_size(work[i][1], part) for i, part in pieces]
    total, finished = sum(sizes), 0
    if progress is not None:
        progress(0, total)
    if jobs > 1 and len(pieces) > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(jobs, len(pieces))) as pool:
            futures = [pool.submit(_scan_one, *a) for a in args]
            at = {f: k for k, f in enumerate(futures)}
            for f in as_completed(futures):
                finished += sizes[at[f]]
                if progress is not None:
                    progress(finished, total)
            done = [f.result() for f in futures]
    else:
        done = []
        for a, size in zip(args, sizes, strict=True):
            done.append(_scan_one(*a))
            finished += size
            if progress is not None:
                progress(finished, total)
    results = [_join([r for (i, _), r in zip(pieces, done, strict=True) if i == k]) for k in range(len(work))]
    # with a split, only the nodes the lines name are nodes; a merged file's own name is not one
    events: dict[str, list[RoleEvent]] = {}
    for (node, _path), (_, stats, _) in zip(work, results, strict=True):
        if split is None and not stats.split:
            events.setdefault(node, [])
    for (node, path), (evs, stats, pack_name) in zip(work, results, strict=True):
        for ev in evs:
            events.setdefault(ev.node, []).append(ev)
        out.stats.append(stats)
        out.nodes[str(path)] = node
        if pack_name:
            out.packs[str(path)] = pack_name
    out.forensics = analyze_logs(
        events,
        skew_ns=round(skew_s * 1e9),
        offsets_ns={n: round(v * 1e9) for n, v in offsets_s.items()},
        covered_ns=_coverage(work, results, firsts),
    )
    if out.forensics.verdict is Verdict.OK and out.unexamined():
        # a line no rule could finish reading may have said who led: no "ok" over it
        out.forensics = dataclasses.replace(out.forensics, verdict=Verdict.INCONCLUSIVE)
    return out


__all__ = ["LogError", "LogRun", "resolve_inputs", "run_logs"]
