"""The Rich summary `analyze` (and `run`, `watch` at their end) print, read from the typed results
(`report.schema.Results`: the results.json a run writes, as its model)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from quorumwatch.analysis.failover import FIGURES
from quorumwatch.model import Verdict
from quorumwatch.report.schema import LogsOut, Results, WorkloadOut


def harm_line(r: Results) -> str:
    """One line: what harm the workload shows, what each stale leader did, and the denominator.

    harm: none observed — n2 (stale, epoch 2) acknowledged 0 of 14 writes sent to it; 0 of 1,420
    acknowledged writes lost
    """
    harm = r.harm.value.replace("_", " ")
    w = r.workload
    parts: list[str] = []
    if w is not None and w.linearizability is not None:
        return f"harm: {harm} — " + "; ".join([*stale_read_parts(w), r.harm_reason])
    if w is not None:
        noun = "writes" if w.kind == "set" else "ID requests"
        for win in w.dual_leader_windows:
            for side in win.nodes:
                if side.stale:
                    epoch = f", epoch {side.epoch}" if side.epoch is not None else ""
                    parts.append(
                        f"{side.node} (stale{epoch}) acknowledged {side.ok:,} of {side.sent:,} "
                        f"{noun} sent to it"
                    )
        stale = w.stale_acknowledgements.count
        if stale:
            parts.append(f"{stale:,} acknowledged by a stale leader while a newer one led")
    if w is not None and w.lost.by_node:
        parts.extend(lost_parts(w))
    parts.append(r.harm_reason)
    if w is not None and w.lost.since_fault_s is not None and not w.lost.by_node:
        since = w.lost.since_fault_s
        parts.append(f"lost writes were acknowledged {since.min:.3f}–{since.max:.3f} s after the fault began")
    return f"harm: {harm} — " + "; ".join(parts)


def lost_parts(w: WorkloadOut) -> list[str]:
    """Per node whose acknowledged writes were lost: as what it acknowledged them, when, and who led
    next. A node that led alone and whose successor lacks its writes "acted alone after losing its
    lease", whether or not two leaders ever overlapped.

    n2 (epoch 1) acted alone after losing its lease: 51 of its 159 acknowledged writes lost,
    acknowledged 0.034–2.529 s after the fault began, before any second leader (n1 led from 11.478 s)
    """
    parts = []
    for node, d in w.lost.by_node.items():
        epoch = _epochs(d.epochs)
        when = (
            f", acknowledged {d.since_fault_s.min:.3f}–{d.since_fault_s.max:.3f} s after the fault began"
            if d.since_fault_s is not None
            else ""
        )
        count = f"{d.count:,} of its {d.acknowledged:,} acknowledged writes lost"
        if set(d.served_as) == {"alone"}:
            nxt = ""
            if d.successor is not None:
                at = (
                    f" from {d.successor_since_fault_s:.3f} s after the fault"
                    if d.successor_since_fault_s is not None
                    else ""
                )
                nxt = f" ({d.successor} led{at})"
            who = f"{node} ({epoch})" if epoch else node
            parts.append(
                f"{who} acted alone after losing its lease: {count}{when}, before any second leader{nxt}"
            )
            continue
        roles = ", ".join(f"{role} {n:,}" for role, n in d.served_as.items())
        parts.append(f"{node} ({epoch + '; ' if epoch else ''}as {roles}): {count}{when}")
    return parts


def stale_read_parts(w: WorkloadOut) -> list[str]:
    """Per node that served stale reads: as what, how many of its reads, how old; then the first.

    n1 (stale leader, epoch 3) served 37 of 412 reads with values overwritten 0.050–0.810 s earlier;
    first: k2 read 17 at 12:00:01.312 after write 18 was acknowledged by n2 at 12:00:01.101
    (a node that served them as more than one: `n1 (epoch 3; as not leader 30, stale leader 7)`)
    """
    assert w.linearizability is not None
    stale = w.linearizability.stale_reads
    parts = []
    for node, d in stale.by_node.items():
        epoch = f", {_epochs(d.epochs)}" if d.epochs else ""
        age = d.overwritten_s
        ages = f" with values overwritten {age.min:.3f}–{age.max:.3f} s earlier" if age else ""
        roles = d.served_as
        if len(roles) == 1:
            what = f"{next(iter(roles))}{epoch}"
        else:
            what = (
                (epoch[2:] + "; " if epoch else "")
                + "as "
                + ", ".join(f"{role} {n:,}" for role, n in roles.items())
            )
        parts.append(f"{node} ({what}) served {d.count:,} of {d.reads:,} reads{ages}")
    if stale.first:
        f = stale.first[0]
        value = "nothing" if f.value is None else f.value
        line = f"first: {f.key} read {value} at {_clock(f.sent_at)}"
        by = f.overwritten_by
        if by is not None:
            line += f" after write {by.value} was acknowledged by {by.node} at {_clock(by.returned_at)}"
        parts.append(line)
    return parts


def sentinels_line(r: Results) -> str:
    """What the sentinels named against the nodes' own roles (each state's longest stretch named):

    sentinels: agreed with the nodes 41.2 s; two masters 6.1 s (sentinels named n2 while n1, n2
    said master), masterless 1.3 s, disagreeing 0.4 s
    """
    assert r.sentinels is not None
    s = r.sentinels
    words = {"two_masters": "two masters", "masterless": "masterless", "disagree": "disagreeing",
             "unknown": "unanswered"}  # fmt: skip
    parts = []
    for state in ("two_masters", "masterless", "disagree", "unknown"):
        took = s.by_state_s.get(state)
        if not took:
            continue
        first = max((w for w in s.windows if w.state == state), key=lambda w: w.duration_s, default=None)
        what = ""
        if first is not None and state == "two_masters":
            named = sorted({n for n in first.named.values() if n is not None})
            what = f" (sentinels named {', '.join(named)} while {', '.join(first.masters)} said master)"
        elif first is not None and state == "masterless":
            named = sorted({n for n in first.named.values() if n is not None})
            what = f" (sentinels named {', '.join(named)}, which did not say master)"
        parts.append(f"{words[state]} {took:.3f} s{what}")
    agreed = s.by_state_s.get("agree", 0.0)
    return f"sentinels: agreed with the nodes {agreed:.3f} s" + ("; " + ", ".join(parts) if parts else "")


def _epochs(epochs: list[int]) -> str:
    """`epoch 3`, `epochs 3–5`, or nothing."""
    if not epochs:
        return ""
    return f"epoch {epochs[0]}" if len(epochs) == 1 else f"epochs {epochs[0]}–{epochs[-1]}"


def _clock(at: str | None) -> str:
    """`12:00:01.312` of an ISO time (the summary's scale; results.json has the whole time)."""
    return "?" if at is None else at[11:23]


def print_summary(r: Results, console: Console) -> None:
    v = r.verdict
    console.print(f"verdict: [{Verdict(v).style}]{v.value}[/]")
    if r.groups:
        judged = f"; the workload judged in {r.harm_group}" if r.harm_group else ""
        console.print(f"  {len(r.groups)} groups, each with its own leader: {', '.join(r.groups)}{judged}")
    for d in (d for d in r.dual_leaders if d.certain):
        where = f" in group {d.group}" if d.group is not None else ""
        console.print(
            f"  {d.kind}{where}: {' + '.join(d.nodes)} (epochs {d.epochs[0]} / {d.epochs[1]}) "
            f"{d.start} → {d.end}, {d.duration_s * 1000:.0f} ms (certain)"
        )
    possible = r.possible_overlaps
    if possible.count:
        longest = (possible.longest_s or 0) * 1000
        console.print(
            f"  {possible.count} possible overlap(s) that the observations cannot rule out "
            f"(longest {longest:.0f} ms)"
        )
    if r.advice:
        console.print(f"  [yellow]{r.advice}[/]")
    console.print(
        f"  ticks with more than one L: {r.multi_leader_ticks}, of which proven artifacts: {r.artifact_ticks}"
    )
    lc = [w for w in r.leaderless if w.certain]
    if lc:
        console.print(
            f"  certainly leaderless: {len(lc)} window(s), longest {max(w.duration_s for w in lc):.3f} s"
        )
    if isinstance(r.logs, LogsOut):
        _logs_line(r.logs, console)
    if r.sentinels is not None:
        console.print(f"  {sentinels_line(r)}")
    line = harm_line(r)
    head, _, rest = line.partition(" — ")
    console.print(f"[{r.harm.style}]{head}[/] — {rest}")
    if r.trials:
        t = Table(title="failover per trial (seconds)")
        grouped = any(tr.group is not None for tr in r.trials)
        for col in (
            "trial",
            *(["group"] if grouped else []),
            "fault",
            "old → new",
            *(f.removesuffix("_s").replace("_", " ") for f in FIGURES),
        ):
            t.add_column(col)
        for tr in r.trials:
            t.add_row(
                str(tr.trial or ""), *([tr.group or ""] if grouped else []), tr.fault,
                f"{tr.old_leader} → {tr.new_leader}",
                *("—" if (x := getattr(tr, f)) is None else f"{x:.3f}" for f in FIGURES),
            )  # fmt: skip
        console.print(t)
        for tr in r.trials:
            if tr.skipped_ticks:
                console.print(
                    f"  [yellow]trial {tr.trial or ''} disturbed[/]: this machine stalled, the engine "
                    f"skipped {tr.skipped_ticks:,} ticks (one began {tr.max_lateness_s:.3f} s late); "
                    "its figures are less exact"
                )
        s = r.summary
        st = Table(title=f"over {s.trials} trials")
        for col in ("figure", "min", "p50", "p90", "p99", "max"):
            st.add_column(col)
        for f in FIGURES:
            spread = getattr(s, f)
            if spread is not None:
                st.add_row(f, *(f"{getattr(spread, k):.3f}" for k in ("min", "p50", "p90", "p99", "max")))
        console.print(st)


def _logs_line(logs: LogsOut, console: Console) -> None:
    lags = [d.lag_s for d in logs.detection_lags if d.lag_s is not None]
    console.print(
        f"  the nodes' logs say: [{logs.verdict.style}]{logs.verdict.value}[/]; "
        f"{len(logs.detection_lags)} role changes logged"
        + (f", seen by the probes after {min(lags):.3f}–{max(lags):.3f} s" if lags else "")
        + (f"; {logs.disproved_ticks} two-L ticks disproved by the logs" if logs.disproved_ticks else "")
    )
