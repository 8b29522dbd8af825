"""The Rich summary `analyze` (and `run`, `watch` at their end) print."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from quorumwatch.analysis.failover import FIGURES
from quorumwatch.model import Harm, Verdict


def harm_line(data: dict[str, Any]) -> str:
    """One line: what harm the workload shows, what each stale leader did, and the denominator.

    harm: none observed — n2 (stale, epoch 2) acknowledged 0 of 14 writes sent to it; 0 of 1,420
    acknowledged writes lost
    """
    harm = data["harm"]
    w = data.get("workload")
    parts: list[str] = []
    if w is not None and w.get("linearizability") is not None:
        return f"harm: {harm.replace('_', ' ')} — " + "; ".join([*stale_read_parts(w), data["harm_reason"]])
    if w is not None:
        noun = "writes" if w["kind"] == "set" else "ID requests"
        for win in w["dual_leader_windows"]:
            for side in win["nodes"]:
                if side["stale"]:
                    epoch = f", epoch {side['epoch']}" if side["epoch"] is not None else ""
                    parts.append(
                        f"{side['node']} (stale{epoch}) acknowledged {side['ok']:,} of {side['sent']:,} "
                        f"{noun} sent to it"
                    )
        stale = w["stale_acknowledgements"]["count"]
        if stale:
            parts.append(f"{stale:,} acknowledged by a stale leader while a newer one led")
    parts.append(data["harm_reason"])
    if w is not None and w["lost"]["since_fault_s"]:
        r = w["lost"]["since_fault_s"]
        parts.append(f"lost writes were acknowledged {r['min']:.3f}–{r['max']:.3f} s after the fault began")
    return f"harm: {harm.replace('_', ' ')} — " + "; ".join(parts)


def stale_read_parts(w: dict[str, Any]) -> list[str]:
    """Per node that served stale reads: as what, how many of its reads, how old; then the first.

    n1 (stale leader, epoch 3) served 37 of 412 reads with values overwritten 0.050–0.810 s earlier;
    first: k2 read 17 at 12:00:01.312 after write 18 was acknowledged by n2 at 12:00:01.101
    (a node that served them as more than one: `n1 (epoch 3; as not leader 30, stale leader 7)`)
    """
    stale = w["linearizability"]["stale_reads"]
    parts = []
    for node, d in stale["by_node"].items():
        epochs = d["epochs"]
        epoch = (
            f", epoch {epochs[0]}"
            if len(epochs) == 1
            else f", epochs {epochs[0]}–{epochs[-1]}"
            if epochs
            else ""
        )
        age = d["overwritten_s"]
        ages = f" with values overwritten {age['min']:.3f}–{age['max']:.3f} s earlier" if age else ""
        roles = d["served_as"]
        if len(roles) == 1:
            what = f"{next(iter(roles))}{epoch}"
        else:
            what = (
                (epoch[2:] + "; " if epoch else "")
                + "as "
                + ", ".join(f"{r} {n:,}" for r, n in roles.items())
            )
        parts.append(f"{node} ({what}) served {d['count']:,} of {d['reads']:,} reads{ages}")
    if stale["first"]:
        f = stale["first"][0]
        value = "nothing" if f["value"] is None else f["value"]
        line = f"first: {f['key']} read {value} at {_clock(f['sent_at'])}"
        by = f["overwritten_by"]
        if by is not None:
            line += (
                f" after write {by['value']} was acknowledged by {by['node']} at {_clock(by['returned_at'])}"
            )
        parts.append(line)
    return parts


def _clock(at: str | None) -> str:
    """`12:00:01.312` of an ISO time (the summary's scale; results.json has the whole time)."""
    return "?" if at is None else at[11:23]


def print_summary(data: dict[str, Any], console: Console) -> None:
    v = data["verdict"]
    console.print(f"verdict: [{Verdict(v).style}]{v}[/]")
    certain = [d for d in data["dual_leaders"] if d["certain"]]
    possible = [d for d in data["dual_leaders"] if not d["certain"]]
    for d in certain:
        console.print(
            f"  {d['kind']}: {' + '.join(d['nodes'])} (epochs {d['epochs'][0]} / {d['epochs'][1]}) "
            f"{d['start']} → {d['end']}, {d['duration_s'] * 1000:.0f} ms (certain)"
        )
    summary = data.get("possible_overlaps") or {
        "count": len(possible), "longest_s": max((d["duration_s"] for d in possible), default=None)
    }  # fmt: skip
    if summary["count"]:
        console.print(
            f"  {summary['count']} possible overlap(s) that the observations cannot rule out "
            f"(longest {summary['longest_s'] * 1000:.0f} ms)"
        )
    if data.get("advice"):
        console.print(f"  [yellow]{data['advice']}[/]")
    console.print(
        f"  ticks with more than one L: {data['multi_leader_ticks']}, "
        f"of which proven artifacts: {data['artifact_ticks']}"
    )
    lc = [w for w in data["leaderless"] if w["certain"]]
    if lc:
        console.print(
            f"  certainly leaderless: {len(lc)} window(s), longest {max(w['duration_s'] for w in lc):.3f} s"
        )
    logs = data.get("logs")
    if logs and "verdict" in logs:
        lags = [d["lag_s"] for d in logs["detection_lags"] if d["lag_s"] is not None]
        console.print(
            f"  the nodes' logs say: [{Verdict(logs['verdict']).style}]{logs['verdict']}[/]; "
            f"{len(logs['detection_lags'])} role changes logged"
            + (f", seen by the probes after {min(lags):.3f}–{max(lags):.3f} s" if lags else "")
            + (
                f"; {logs['disproved_ticks']} two-L ticks disproved by the logs"
                if logs["disproved_ticks"]
                else ""
            )
        )
    line = harm_line(data)
    style = Harm(data["harm"]).style
    head, _, rest = line.partition(" — ")
    console.print(f"[{style}]{head}[/] — {rest}")
    if data["trials"]:
        t = Table(title="failover per trial (seconds)")
        for col in (
            "trial",
            "fault",
            "old → new",
            *(f.removesuffix("_s").replace("_", " ") for f in FIGURES),
        ):
            t.add_column(col)
        for tr in data["trials"]:
            t.add_row(
                str(tr["trial"] or ""), tr["fault"], f"{tr['old_leader']} → {tr['new_leader']}",
                *("—" if tr[f] is None else f"{tr[f]:.3f}" for f in FIGURES),
            )  # fmt: skip
        console.print(t)
        s = data["summary"]
        st = Table(title=f"over {s['trials']} trials")
        for col in ("figure", "min", "p50", "p90", "p99", "max"):
            st.add_column(col)
        for f in FIGURES:
            if s.get(f):
                st.add_row(f, *(f"{s[f][k]:.3f}" for k in ("min", "p50", "p90", "p99", "max")))
        console.print(st)
