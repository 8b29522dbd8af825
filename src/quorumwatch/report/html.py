"""report.html: the run as a picture people paste into incident reviews (pure: data in, page out).

One self-contained page (plotly.js inlined, no network): the verdict and harm in plain words, an
interactive timeline — a lane per node coloured by role, fault windows as labelled bands, dual-leader
windows in red (certain solid, possible hatched), leaderless windows, the logs' role changes as
markers, workload operations — the trials table and the spread of failover figures across trials.

Long runs are downsampled per lane (runs of short segments merge into "changing" segments), but the
verdict's windows are drawn from the analysis itself, never from the merged lanes, so no dual-leader
or leaderless window can disappear.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from quorumwatch.analysis.failover import FIGURES
from quorumwatch.model import Observation, Operation, Outcome, Role, Tick, Verdict
from quorumwatch.report.schema import Results

ROLE_COLOURS = {
    Role.LEADER: "#2e7d32",
    Role.FOLLOWER: "#90caf9",
    Role.CANDIDATE: "#ffb74d",
    Role.OBSERVER: "#b0bec5",
    Role.UNKNOWN: "#616161",
}
CHANGING = "#ce93d8"
RED = "#d32f2f"
SEGMENT_BUDGET = 30_000
"""Role segments drawn over all lanes at most (keeps a 24 h, 10 Hz run's page well under 25 MB)."""
TABLE_ROWS = 200
"""Trials listed in the table at most (the spread plot and results.json cover all)."""
BAND_LIMIT = 200
"""Bands across every lane (faults, proven dual leaders) up to this many; beyond, only their own
lane's bars (plotly redraws each band on every zoom; thousands would make a day's page sluggish)."""
OPERATION_BUDGET = 20_000
"""Workload markers drawn at most; lost, failed and stale operations are drawn first."""

FAULT_LANE = "faults"
DUAL_LANE = "dual leader"
LEADERLESS_LANE = "leaderless"
WORKLOAD_LANE = "workload"


@dataclass
class Segment:
    """A stretch of one node's answers with the same role and epoch (or a merged stretch)."""

    node: str
    role: Role | None
    """None for a merged "changing" segment."""
    start_ns: int
    end_ns: int
    epoch: int | None
    answers: int = 1
    max_rtt_ns: int = 0
    detail: str | None = None
    roles: dict[str, int] = field(default_factory=dict)


def segments(observations: Iterable[Observation], offset_ns: int) -> list[Segment]:
    """One node's observations (in order) as role segments on the wall clock: each answer holds
    from its send until the next answer's send."""
    out: list[Segment] = []
    for o in observations:
        start = o.send_ns + offset_ns
        detail = None
        if o.role is Role.UNKNOWN:
            detail = (o.reason.value if o.reason else "unknown") + (f": {o.detail}" if o.detail else "")
        last = out[-1] if out else None
        if last is not None:
            last.end_ns = max(last.end_ns, start)
        if last is not None and last.role is o.role and last.epoch == o.epoch and last.detail == detail:
            last.answers += 1
            last.max_rtt_ns = max(last.max_rtt_ns, o.rtt_ns)
            last.end_ns = o.recv_ns + offset_ns
            continue
        out.append(Segment(o.node, o.role, start, o.recv_ns + offset_ns, o.epoch, 1, o.rtt_ns, detail))
    return out


def downsample(segs: list[Segment], budget: int) -> list[Segment]:
    """At most about `budget` segments: the shortest neighbours merge into "changing" stretches that
    count the roles inside (hover shows them). Long segments are kept as they are."""
    if len(segs) <= budget:
        return segs
    span = segs[-1].end_ns - segs[0].start_ns
    width = span / budget  # a merged stretch covers at least this much time
    out: list[Segment] = []
    for s in segs:
        last = out[-1] if out else None
        short = s.end_ns - s.start_ns < width
        if last is not None and short and (last.role is None or last.end_ns - last.start_ns < width):
            if last.role is not None:
                last = _merged(last)
                out[-1] = last
            last.end_ns = max(last.end_ns, s.end_ns)
            last.answers += s.answers
            last.max_rtt_ns = max(last.max_rtt_ns, s.max_rtt_ns)
            key = s.role.value if s.role is not None else "changing"
            last.roles[key] = last.roles.get(key, 0) + s.answers
            continue
        out.append(s)
    return out


def _merged(s: Segment) -> Segment:
    assert s.role is not None
    return Segment(
        s.node, None, s.start_ns, s.end_ns, None, s.answers, s.max_rtt_ns, None, {s.role.value: s.answers}
    )


def _local(ns: int) -> str:
    """Wall time as plotly's date axis reads it (local time, microseconds)."""
    secs, rest = divmod(ns, 1_000_000_000)
    return dt.datetime.fromtimestamp(secs).strftime("%Y-%m-%d %H:%M:%S.") + f"{rest // 1000:06d}"


def _from_iso(text: str | None) -> int | None:
    if text is None:
        return None
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp()) * 1_000_000_000 + t.microsecond * 1000


def _bar(
    name: str, lane: list[str], starts: list[int], ends: list[int], hover: list[str], **style: Any
) -> dict[str, Any]:
    return {
        "type": "bar",
        "orientation": "h",
        "name": name,
        "y": lane,
        "base": [_local(s) for s in starts],
        "x": [max((e - s) / 1e6, 0.5) for s, e in zip(starts, ends, strict=True)],
        "hovertext": hover,
        "hoverinfo": "text",
        "showlegend": True,
        **style,
    }


def _segment_hover(s: Segment) -> str:
    took = (s.end_ns - s.start_ns) / 1e9
    when = f"{_local(s.start_ns)[11:]} → {_local(s.end_ns)[11:]} ({took:.3f} s, {s.answers} answers)"
    if s.role is None:
        mix = ", ".join(f"{k} {v}" for k, v in sorted(s.roles.items()))
        return f"{s.node}: changing ({mix})<br>{when}<br>max round trip {s.max_rtt_ns / 1e6:.1f} ms"
    epoch = f", epoch {s.epoch}" if s.epoch is not None else ""
    error = f"<br>error: {html.escape(s.detail)}" if s.detail else ""
    return f"{s.node}: {s.role.value}{epoch}<br>{when}<br>max round trip {s.max_rtt_ns / 1e6:.1f} ms{error}"


def timeline(
    nodes: Sequence[str],
    ticks: Sequence[Tick],
    results: Results,
    operations: Sequence[Operation] = (),
    lost: frozenset[str] = frozenset(),
    segment_budget: int = SEGMENT_BUDGET,
) -> dict[str, Any]:
    """The timeline figure as plotly JSON (a plain dict: no plotly Python objects, so big runs stay fast)."""
    offset = ticks[0].wall_ns - ticks[0].started_ns if ticks else 0
    per_node: dict[str, list[Observation]] = {n: [] for n in nodes}
    if results.groups:
        # a sharded cluster: a lane per group and node that leads or follows it (`n1 · 0-5460`),
        # each showing the node's role in that group
        per_node, nodes = _group_lanes(ticks, results.groups), []
    for t in ticks if not results.groups else ():
        for o in t.observations:
            per_node.setdefault(o.node, []).append(o)
    budget = max(segment_budget // max(len(per_node), 1), 100)
    lanes: dict[str, list[Segment]] = {
        n: downsample(segments(obs, offset), budget) for n, obs in per_node.items()
    }
    traces: list[dict[str, Any]] = []
    for role in (*ROLE_COLOURS, None):
        chosen = [s for segs in lanes.values() for s in segs if s.role is role]
        if not chosen:
            continue
        name = role.value if role is not None else "changing (downsampled)"
        colour = ROLE_COLOURS[role] if role is not None else CHANGING
        traces.append(
            _bar(
                name,
                [s.node for s in chosen],
                [s.start_ns for s in chosen],
                [s.end_ns for s in chosen],
                [_segment_hover(s) for s in chosen],
                marker={"color": colour},
                legendgroup="roles",
            )
        )
    shapes: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    extra_lanes: list[str] = []
    # dual-leader windows: a red band over every lane when proven, a hatched bar in their lane when possible
    for certain in (True, False):
        found = [d for d in results.dual_leaders if d.certain is certain]
        if not found:
            continue
        if DUAL_LANE not in extra_lanes:
            extra_lanes.append(DUAL_LANE)
        starts = [_from_iso(d.start) or 0 for d in found]
        ends = [_from_iso(d.end) or 0 for d in found]
        hover = [
            f"{'proven ' + d.kind if d.certain else 'possible overlap'}: {' + '.join(d.nodes)} "
            f"(epochs {d.epochs[0]} / {d.epochs[1]}){f' in {d.group}' if d.group else ''}"
            f"<br>{d.duration_s:.3f} s"
            for d in found
        ]
        pattern = {} if certain else {"pattern": {"shape": "/", "fgcolor": RED, "bgcolor": "#ffffff"}}
        traces.append(
            _bar(
                "dual leader (proven)" if certain else "dual leader (possible)",
                [DUAL_LANE] * len(found),
                starts,
                ends,
                hover,
                marker={"color": RED, **pattern, "line": {"color": RED, "width": 1}},
            )
        )
        if certain and len(found) <= BAND_LIMIT:
            for s, e in zip(starts, ends, strict=True):
                shapes.append(
                    {
                        "type": "rect",
                        "name": "dual-leader",
                        "xref": "x",
                        "yref": "paper",
                        "x0": _local(s),
                        "x1": _local(max(e, s + 1_000_000)),
                        "y0": 0,
                        "y1": 1,
                        "fillcolor": RED,
                        "opacity": 0.18,
                        "line": {"width": 0},
                        "layer": "above",
                    }
                )
    if results.leaderless:
        extra_lanes.append(LEADERLESS_LANE)
        for certain in (True, False):
            found_l = [w for w in results.leaderless if w.certain is certain]
            if not found_l:
                continue
            pattern = (
                {} if certain else {"pattern": {"shape": "x", "fgcolor": "#757575", "bgcolor": "#ffffff"}}
            )
            traces.append(
                _bar(
                    "leaderless (certain)" if certain else "leaderless (no certain leader)",
                    [LEADERLESS_LANE] * len(found_l),
                    [_from_iso(w.start) or 0 for w in found_l],
                    [_from_iso(w.end) or 0 for w in found_l],
                    [
                        f"{'no node can have led' if certain else 'no node certainly led'}"
                        f"<br>{w.duration_s:.3f} s"
                        for w in found_l
                    ],
                    marker={"color": "#757575", **pattern},
                )
            )
    # fault windows: labelled bands
    last_tick = ticks[-1].wall_ns if ticks else 0
    faults: list[tuple[int, int, str]] = []
    for trial in results.trials:
        start = _from_iso(trial.injected_at)
        if start is None:
            continue
        end = _from_iso(trial.healed_at) or last_tick
        target = trial.target if isinstance(trial.target, str) else ""
        faults.append((start, end, f"trial {trial.trial}: {trial.fault} {target} ({', '.join(trial.nodes)})"))
    if faults:
        extra_lanes.insert(0, FAULT_LANE)
        traces.append(
            _bar(
                "fault", [FAULT_LANE] * len(faults), [f[0] for f in faults], [f[1] for f in faults],
                [html.escape(f[2]) for f in faults], marker={"color": "#1565c0", "opacity": 0.5},
            )
        )  # fmt: skip
    for start, end, label in faults if len(faults) <= BAND_LIMIT else []:
        shapes.append(
            {
                "type": "rect",
                "name": "fault",
                "xref": "x",
                "yref": "paper",
                "x0": _local(start),
                "x1": _local(max(end, start + 1_000_000)),
                "y0": 0,
                "y1": 1,
                "fillcolor": "#1565c0",
                "opacity": 0.12,
                "line": {"width": 0},
                "layer": "below",
            }
        )
        annotations.append(
            {
                "x": _local(start),
                "y": 1.0,
                "xref": "x",
                "yref": "paper",
                "text": html.escape(label),
                "showarrow": False,
                "xanchor": "left",
                "yanchor": "bottom",
                "font": {"size": 11, "color": "#1565c0"},
            }
        )
    # the nodes' own logs: role changes they recorded
    logs = results.logs
    lags = getattr(logs, "detection_lags", None) or []
    if lags:
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "log: role change",
                "y": [d.node for d in lags],
                "x": [_local(_from_iso(d.logged_at) or 0) for d in lags],
                "marker": {"symbol": "diamond", "size": 9, "color": "#000000"},
                "hovertext": [_lag_hover(d.node, d.change, d.lag_s) for d in lags],
                "hoverinfo": "text",
            }
        )
    if operations:
        extra_lanes.append(WORKLOAD_LANE)
        traces += _operation_traces(operations, offset, lost)
    order = [*nodes, *[n for n in per_node if n not in nodes], *extra_lanes]
    layout = {
        "barmode": "overlay",
        "height": 160 + 38 * len(order),
        "margin": {"l": 110, "r": 20, "t": 40, "b": 90},
        "xaxis": {"type": "date", "rangeslider": {"visible": False}},
        "yaxis": {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": list(reversed(order)),
            "autorange": True,
            "fixedrange": True,
        },
        "legend": {"orientation": "h", "y": -0.12, "yanchor": "top"},
        "shapes": shapes,
        "annotations": annotations,
        "hovermode": "closest",
        "dragmode": "zoom",
    }
    return {"data": traces, "layout": layout}


def _group_lanes(ticks: Sequence[Tick], groups: Sequence[str]) -> dict[str, list[Observation]]:
    """Per group, per node that ever leads or follows it: its observations seen in that group."""
    from quorumwatch.analysis.groups import project_observation

    lanes: dict[str, list[Observation]] = {}
    for g in groups:
        mine: dict[str, list[Observation]] = {}
        for t in ticks:
            for o in t.observations:
                mine.setdefault(o.node, []).append(project_observation(o, g))
        for node, obs in mine.items():
            if any(o.role not in (Role.OBSERVER, Role.UNKNOWN) for o in obs):
                lanes[f"{node} · {g}"] = [dataclasses.replace(o, node=f"{node} · {g}") for o in obs]
    return lanes


def _lag_hover(node: str, change: str, lag_s: float | None) -> str:
    seen = f"<br>seen by the probes {lag_s:.3f} s later" if lag_s is not None else ""
    return f"{node} log: {change}{seen}"


def _operation_traces(
    operations: Sequence[Operation], offset: int, lost: frozenset[str]
) -> list[dict[str, Any]]:
    kinds: dict[str, list[Operation]] = {"lost": [], "failed": [], "unknown": [], "acknowledged": []}
    for o in operations:
        if o.outcome is Outcome.OK:
            kinds["lost" if o.value is not None and o.value in lost else "acknowledged"].append(o)
        else:
            kinds["failed" if o.outcome is Outcome.FAIL else "unknown"].append(o)
    style = {
        "lost": {"symbol": "x", "size": 9, "color": RED},
        "failed": {"symbol": "line-ns-open", "size": 8, "color": "#424242"},
        "unknown": {"symbol": "circle-open", "size": 6, "color": "#ef6c00"},
        "acknowledged": {"symbol": "circle", "size": 4, "color": "#2e7d32"},
    }
    left = OPERATION_BUDGET
    out = []
    for kind, ops in kinds.items():
        if not ops:
            continue
        step = max(1, -(-len(ops) // max(left, 1)))
        shown = ops[::step]
        left = max(left - len(shown), 1)
        name = f"{kind} ({len(ops):,})" + (f", 1 in {step} drawn" if step > 1 else "")
        out.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "y": [WORKLOAD_LANE] * len(shown),
                "x": [_local(o.recv_ns + offset) for o in shown],
                "marker": style[kind],
                "hovertext": [
                    f"{kind}: {o.kind} {html.escape(o.value or '')} via {o.node}"
                    + (f" (epoch {o.epoch})" if o.epoch is not None else "")
                    + f"<br>round trip {(o.recv_ns - o.send_ns) / 1e6:.1f} ms"
                    + (f"<br>{html.escape(o.detail)}" if o.detail else "")
                    for o in shown
                ],
                "hoverinfo": "text",
            }
        )
    return out


OPERATIONS_SHOWN = 1_500
"""Operations of the violated key drawn at most around the violation (the nearest ones)."""


def operations_view(
    ticks: Sequence[Tick],
    results: Results,
    operations: Sequence[Operation],
    stale: frozenset[int] = frozenset(),
) -> dict[str, Any] | None:
    """The operations of the first violated key around its violation, a bar per operation from send
    to return in a lane per serving node, under the nodes' role lanes (Porcupine's picture, with
    who led): stale reads red, the first operation no order explains outlined. None when no key
    was violated."""
    w = results.workload
    lz = w.linearizability if w is not None else None
    if lz is None or not lz.violations:
        return None
    v = lz.violations[0]
    offset = ticks[0].wall_ns - ticks[0].started_ns if ticks else 0
    at = (_from_iso(v.operation.sent_at) or 0) - offset  # monotonic, as operations are
    firsts = [at, *((_from_iso(x.sent_at) or 0) - offset for x in v.stale_by)]
    lo, hi = min(firsts) - 1_000_000_000, at + 500_000_000
    mine = [o for o in operations if o.key == v.key and o.recv_ns >= lo and o.send_ns <= hi]
    mine = sorted(mine, key=lambda o: abs(o.send_ns - at))[:OPERATIONS_SHOWN]
    mine.sort(key=lambda o: o.send_ns)
    if mine:
        lo, hi = min(lo, mine[0].send_ns), max(hi, max(o.recv_ns for o in mine))
    nodes = sorted({o.node for o in mine})
    traces: list[dict[str, Any]] = []
    role_lanes: dict[str, list[Observation]] = {}
    for t in ticks:
        for ob in t.observations:
            if ob.recv_ns >= lo and ob.send_ns <= hi:
                role_lanes.setdefault(ob.node, []).append(ob)
    segs = {n: segments(obs, offset) for n, obs in role_lanes.items()}
    for role in ROLE_COLOURS:
        chosen = [sg for lane in segs.values() for sg in lane if sg.role is role]
        if chosen:
            traces.append(
                _bar(role.value, [sg.node for sg in chosen], [sg.start_ns for sg in chosen],
                     [sg.end_ns for sg in chosen], [_segment_hover(sg) for sg in chosen],
                     marker={"color": ROLE_COLOURS[role]}, legendgroup="roles")
            )  # fmt: skip
    groups: dict[str, list[Operation]] = {}
    for o in mine:
        if o.index in stale:
            name = "stale read"
        elif o.outcome is Outcome.UNKNOWN:
            name = "unknown outcome"
        elif o.outcome is Outcome.FAIL:
            name = "failed"
        else:
            name = o.kind
        groups.setdefault(name, []).append(o)
    colours = {"write": "#1565c0", "read": "#2e7d32", "cas": "#6a1b9a", "stale read": RED,
               "unknown outcome": "#ef6c00", "failed": "#9e9e9e"}  # fmt: skip
    lanes = [f"{v.key} via {n}" for n in nodes]
    for name, ops in groups.items():
        ends = [hi if o.outcome is Outcome.UNKNOWN else o.recv_ns for o in ops]  # may take effect later
        colour = colours.get(name, "#424242")
        first = [o.index == v.operation.index for o in ops]
        outline = {
            "color": ["#000000" if f else colour for f in first],
            "width": [3 if f else 0 for f in first],
        }
        traces.append(
            _bar(
                name, [f"{v.key} via {o.node}" for o in ops], [o.send_ns + offset for o in ops],
                [e + offset for e in ends], [_op_hover(o) for o in ops],
                text=[_op_label(o) for o in ops], textposition="inside", insidetextanchor="middle",
                marker={"color": colour, "opacity": 0.85, "line": outline},
            )
        )  # fmt: skip
    order = [*sorted(segs), *lanes]
    return {
        "data": traces,
        "layout": {
            "barmode": "overlay",
            "height": 160 + 38 * len(order),
            "margin": {"l": 110, "r": 20, "t": 30, "b": 90},
            "xaxis": {"type": "date", "range": [_local(lo + offset), _local(hi + offset)]},
            "yaxis": {"type": "category", "categoryorder": "array", "categoryarray": list(reversed(order)),
                      "fixedrange": True},
            "legend": {"orientation": "h", "y": -0.12, "yanchor": "top"},
            "hovermode": "closest",
        },
    }  # fmt: skip


def _op_label(o: Operation) -> str:
    v = "∅" if o.value is None else o.value
    if o.kind == "cas":
        return f"cas {'∅' if o.expect is None else o.expect}→{v}"
    return f"{'w' if o.kind == 'write' else 'r'} {v}"


def _op_hover(o: Operation) -> str:
    took = f"{(o.recv_ns - o.send_ns) / 1e6:.1f} ms" if o.outcome is not Outcome.UNKNOWN else "no answer"
    epoch = f" (epoch {o.epoch})" if o.epoch is not None else ""
    detail = f"<br>{html.escape(o.detail)}" if o.detail else ""
    return f"op {o.index}: {html.escape(_op_label(o))} via {o.node}{epoch}: {o.outcome.value}, {took}{detail}"


def spread(results: Results) -> dict[str, Any] | None:
    """Failover figures across trials as one box per figure (all points shown)."""
    traces = []
    for name in FIGURES:
        values = [v for t in results.trials if (v := getattr(t, name)) is not None]
        if values:
            traces.append(
                {
                    "type": "box",
                    "name": name.removesuffix("_s").replace("_", " "),
                    "y": values,
                    "boxpoints": "all",
                    "jitter": 0.3,
                    "pointpos": 0,
                    "hoverinfo": "y",
                }
            )
    if not traces:
        return None
    return {
        "data": traces,
        "layout": {
            "height": 320,
            "showlegend": False,
            "yaxis": {"title": {"text": "seconds"}},
            "margin": {"l": 60, "r": 20, "t": 20, "b": 40},
        },
    }


def _verdict_words(r: Results) -> str:
    words = {
        Verdict.OK: "One leader at a time: no overlap of leaderships was possible.",
        Verdict.POSSIBLE: "Two leaders may have overlapped; the probes can neither prove nor rule it out.",
        Verdict.DUAL_LEADER: "Two nodes led at the same time, proven by their own answers.",
        Verdict.VIOLATION: "Two nodes led in the same epoch at once: the election's own guarantee broke.",
        Verdict.INCONCLUSIVE: "Inconclusive: nothing observed said who led.",
    }
    return words[r.verdict]


def _trials_table(r: Results) -> str:
    if not r.trials:
        return "<p>No faults were injected (a watch).</p>"
    head = [
        "trial",
        "fault",
        "nodes",
        "old leader",
        "new leader",
        *[f.removesuffix("_s").replace("_", " ") + " (s)" for f in FIGURES],
    ]
    rows = []
    for t in r.trials[:TABLE_ROWS]:
        cells = [
            t.trial,
            t.fault,
            ", ".join(t.nodes),
            t.old_leader,
            t.new_leader,
            *[getattr(t, f) for f in FIGURES],
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in cells) + "</tr>")
    return (
        "<table class='trials'><thead><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + (
            f"<p>… and {len(r.trials) - TABLE_ROWS:,} more trials (results.json lists all).</p>"
            if len(r.trials) > TABLE_ROWS
            else ""
        )
    )


def _cell(c: object) -> str:
    return "—" if c is None else f"{c:.3f}" if isinstance(c, float) else str(c)


_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data: blob:; font-src data:"
)
"""Nothing may be fetched: the page works offline, and a stray request would fail here first."""

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#212121}
h1{font-size:20px;margin:0 0 4px} .meta{color:#616161;font-size:13px;margin-bottom:16px}
.verdict{font-size:18px;padding:10px 14px;border-radius:6px;margin:8px 0}
.v-ok{background:#e8f5e9}.v-possible,.v-inconclusive{background:#fff8e1}.v-dual_leader,.v-violation{background:#ffebee}
.harm{font-size:15px;margin:6px 0 14px}.harm-bad{color:#b71c1c;font-weight:600}
table.trials{border-collapse:collapse;font-size:13px}
table.trials td,table.trials th{border:1px solid #e0e0e0;padding:3px 8px}
ul.overlaps{font-size:14px}
"""


def page(
    results: Results,
    figure: dict[str, Any],
    plotly_js: str,
    title: str,
    operations: dict[str, Any] | None = None,
) -> str:
    """The whole page: text first (readable without scripts), then the figures."""
    r = results
    overlaps = "".join(
        f"<li>{html.escape('proven ' + d.kind if d.certain else 'possible overlap')}: "
        f"{html.escape(' + '.join(d.nodes))} "
        f"(epochs {d.epochs[0]} / {d.epochs[1]}), {html.escape(d.start)} → {html.escape(d.end)}, "
        f"{d.duration_s:.3f} s</li>"
        for d in r.dual_leaders[:50]
    )
    total = len(r.dual_leaders) - r.possible_overlaps.listed + r.possible_overlaps.count
    more = (
        f"<li>… and {total - 50:,} more (in results.json: every proven one, the longest possible)</li>"
        if total > 50
        else ""
    )
    harm_cls = "harm harm-bad" if r.harm.harmful else "harm"
    box = spread(r)
    data = {"timeline": figure, "spread": box, "operations": operations}
    lz = r.workload.linearizability if r.workload is not None else None
    ops_head = ""
    if operations is not None and lz is not None and lz.violations:
        v = lz.violations[0]
        ops_head = (
            f'<h2 style="font-size:16px">Operations of {html.escape(v.key)} around its first violation</h2>'
            f"<p>{html.escape(v.reason)}. Outlined: op {v.operation.index}, the first that no order of "
            "the key's operations explains; red: reads of values already overwritten.</p>"
            '<div id="operations"></div>'
        )
    meta = r.meta
    about = (
        f"cluster {meta.cluster}, {meta.probe} probe, interval {meta.interval_s:g} s, deadline "
        f"{meta.deadline_s:g} s, {meta.ticks:,} ticks, observed {r.observed.start} → {r.observed.end} "
        f"(largest round trip {r.observed.max_rtt_s * 1000:.1f} ms)"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<style>{_STYLE}</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="meta">{html.escape(about)}</div>
<div class="verdict v-{r.verdict.value}" id="verdict">
<b>{html.escape(r.verdict.value)}</b> — {html.escape(_verdict_words(r))}</div>
<div class="{harm_cls}" id="harm">
harm: <b>{html.escape(r.harm.value.replace("_", " "))}</b> — {html.escape(r.harm_reason)}</div>
{f'<ul class="overlaps">{overlaps}{more}</ul>' if overlaps else ""}
{f"<p>{html.escape(r.advice)}</p>" if r.advice else ""}
<p style="font-size:13px;color:#616161">{r.multi_leader_ticks:,} ticks showed more than one L;
{r.artifact_ticks:,} of them provably an artifact of sampling.
Timeline in local time (the list above is UTC). Drag to zoom, double-click to reset; hover for
epoch, round trip and errors.</p>
<div id="timeline"></div>
{ops_head}
<h2 style="font-size:16px">Trials</h2>
{_trials_table(r)}
{'<h2 style="font-size:16px">Failover across trials</h2><div id="spread"></div>' if box else ""}
<script>{plotly_js}</script>
<script id="qw-data" type="application/json">{_script_json(data)}</script>
<script>
(function() {{
  var data = JSON.parse(document.getElementById("qw-data").textContent);
  var config = {{displaylogo: false, responsive: true, scrollZoom: true}};
  var done = [Plotly.newPlot("timeline", data.timeline.data, data.timeline.layout, config)];
  if (data.spread) done.push(Plotly.newPlot("spread", data.spread.data, data.spread.layout, config));
  if (data.operations && document.getElementById("operations"))
    done.push(Plotly.newPlot("operations", data.operations.data, data.operations.layout, config));
  Promise.all(done).then(function() {{ document.body.setAttribute("data-rendered", "yes"); }});
}})();
</script>
</body></html>
"""


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element (no `</script>` can end it early)."""
    return (
        json.dumps(data, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


__all__ = ["downsample", "operations_view", "page", "segments", "spread", "timeline"]
