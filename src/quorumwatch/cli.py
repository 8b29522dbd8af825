"""The `quorumwatch` command line. User errors print one clear line and exit non-zero."""

from __future__ import annotations

import asyncio
import functools
import math
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from quorumwatch._version import __version__
from quorumwatch.config import ClusterConfig, ConfigError, load_cluster
from quorumwatch.model import FailOn
from quorumwatch.probes import check_access

if TYPE_CHECKING:  # imported lazily at run time: `--help` stays fast
    from collections.abc import Sequence

    from quorumwatch.logs.scan import LogRun
    from quorumwatch.session import Plan, RunResult

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BUG = 70
"""An unexpected exception (a bug, with its traceback): never the code of a handled error (EX_SOFTWARE)."""
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"quorumwatch: {message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quorumwatch")
def main() -> None:
    """Find split brain in leader-elected clusters: live, under faults, and from logs."""


def entry() -> None:
    """The `quorumwatch` command: `main`, with a traceback (a bug) told apart from a handled error by
    its exit code, so scripts can tell them apart."""
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        why = f"internal error (a bug, exit {EXIT_BUG}): please report it with the traceback above"
        click.echo(f"quorumwatch: {why}", err=True)
        sys.exit(EXIT_BUG)


class Number(click.ParamType[float]):
    """A finite number within bounds: `inf`, `nan` and `1e300` are usage errors, not a crash later."""

    name = "NUMBER"

    def __init__(self, low: float, high: float, *, above_low: bool = False) -> None:
        self.low, self.high, self.above_low = low, high, above_low

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            x = float(value)
        except (TypeError, ValueError):
            self.fail(f"{str(value)[:80]!r} is not a number", param, ctx)
        low_ok = x > self.low if self.above_low else x >= self.low
        if not (math.isfinite(x) and low_ok and x <= self.high):
            side = "above" if self.above_low else "from"
            self.fail(
                f"{str(value)[:80]!r}: expected a number {side} {self.low:g} up to {self.high:g}", param, ctx
            )
        return x


SECONDS = Number(0, 3600, above_low=True)
"""Intervals and deadlines: what a cluster file accepts."""
LONG_SECONDS = Number(0, 1e9, above_low=True)
"""Durations: up to ~31 years, and never infinite (use no --duration to run until stopped)."""


FAIL_ON_HELP = (
    "Lowest finding that fails the command: possible (default) < dual-leader < violation < harm. "
    "Findings below it exit 0; harm (data loss, duplicates, stale reads) always exits 6."
)


def fail_on_option(f: F) -> F:
    return click.option(
        "--fail-on",
        type=click.Choice([f.value for f in FailOn]),
        default="possible",
        show_default=True,
        help=FAIL_ON_HELP,
    )(f)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Duration(click.ParamType[float]):
    """Seconds, or a number with a unit: 90s, 30m, 12h, 7d."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip().lower()
        scale = _UNITS.get(text[-1:])
        number = text[:-1] if scale is not None else text
        try:
            seconds = float(number) * (scale or 1)
        except ValueError:
            self.fail(f"{value!r} is not a duration (e.g. 90s, 30m, 12h, 7d)", param, ctx)
        if not 0 < seconds <= 1e9:
            self.fail(f"{value!r}: must be positive and finite (at most 1e9 s)", param, ctx)
        return seconds


def _load(path: str, interval: float | None = None, deadline: float | None = None) -> ClusterConfig:
    try:
        cluster = load_cluster(path).with_timing(interval, deadline)
        check_access(cluster)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    return cluster


@main.command()
@click.argument("cluster_file", type=click.Path(dir_okay=False))
@click.option("--deadline", type=SECONDS, help="Probe deadline in seconds (default from the file).")
@click.option("--json", "as_json", is_flag=True, help="Print the answers as one JSON object.")
def check(cluster_file: str, deadline: float | None, as_json: bool) -> None:
    """Validate CLUSTER_FILE and probe each node once, printing what each answered.

    Exit 0 when every node gave a definite answer, 1 otherwise; 2 for a bad file."""
    import json

    from quorumwatch.check import check_cluster, check_json, probe_once

    cluster = _load(cluster_file, None, deadline)
    if as_json:
        data = check_json(cluster, asyncio.run(probe_once(cluster)))
        click.echo(json.dumps(data, indent=2))
        ok = bool(data["ok"])
    else:
        ok = asyncio.run(check_cluster(cluster, click.echo))
    sys.exit(EXIT_OK if ok else EXIT_ERROR)


def output_options(f: F) -> F:
    """What `watch` and `run` show, and where: the same options for both."""
    for option in reversed(_OUTPUT_OPTIONS):
        f = option(f)
    return f


_OUTPUT_OPTIONS = [
    click.option(
        "--format",
        "fmt",
        type=click.Choice(["text", "jsonl"]),
        default="text",
        show_default=True,
        help="text: one line per tick and change; jsonl: one JSON object per tick (and per fault event) on "
        "stdout (summary on stderr).",
    ),
    click.option(
        "--metrics",
        "metrics_at",
        metavar="[HOST:]PORT",
        help="Serve Prometheus metrics on HOST:PORT (host 127.0.0.1 unless given): roles, epochs, graded "
        "dual-leader time and state, leader changes, probe round trips and errors, tick lateness.",
    ),
    click.option(
        "--on-verdict",
        "on_verdict",
        metavar="CMD",
        help="Run CMD (split like a shell would, run without one) when a graded finding starts or ends; "
        "details in QUORUMWATCH_EVENT, _KIND, _CERTAIN, _NODES, _EPOCHS, _START, _END, _DURATION_S, "
        "_CLUSTER, _RUN_DIR.",
    ),
    click.option(
        "--output",
        "-o",
        "output",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="Append the lines (or JSON lines) to FILE instead of stdout; SIGHUP reopens it (log rotation).",
    ),
    click.option(
        "--keep-ticks",
        "keep_ticks",
        type=Duration(),
        metavar="DURATION",
        default="10s",
        show_default=True,
        help="Keep the last DURATION of ticks whole (for `history` replays); older ones are compacted: "
        "an answer between two identical answers of its node is dropped and counted, which changes no "
        "verdict, figure or harm (0: compact all but the last few seconds).",
    ),
    click.option(
        "--retain",
        type=Duration(),
        metavar="DURATION",
        help="Keep only the last DURATION of ticks (90s, 30m, 12h, 7d): older ones are deleted as the run "
        "goes, with a count of what they held; dual-leader findings are recorded first and always kept.",
    ),
]


@main.command()
@click.argument("cluster_files", nargs=-1, type=click.Path(dir_okay=False))
@click.option(
    "--clusters",
    "clusters_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Watch the cluster files (*.yaml, *.yml) of DIR instead, picking up files added, changed or "
    "removed on SIGHUP and every --rescan; each cluster recorded under --run-dir (default runs/) as "
    "<cluster>/<UTC time>.",
)
@click.option(
    "--shard",
    metavar="K/N",
    help="With --clusters: watch only the files whose names hash to shard K of N (0 ≤ K < N); N "
    "processes with the same DIR and N watch every file exactly once, with no coordinator.",
)
@click.option(
    "--rescan",
    type=Duration(),
    metavar="DURATION",
    default="10s",
    show_default=True,
    help="With --clusters: how often to look at DIR again (SIGHUP: at once).",
)
@click.option("--interval", type=SECONDS, help="Seconds between tick starts (default from the file).")
@click.option("--deadline", type=SECONDS, help="Per-probe deadline in seconds; must be below the interval.")
@click.option("--duration", type=LONG_SECONDS, help="Stop after this many seconds (default: until Ctrl-C).")
@click.option("--changes-only", is_flag=True, help="Print only change and warning lines.")
@click.option("--node", "only_node", help="Watch one node only (the per-node detector).")
@click.option("--live", is_flag=True, help="On a terminal, show a live table instead of lines.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Where to record the run.")
@click.option(
    "--workload",
    "workload_file",
    type=click.Path(dir_okay=False),
    help="A file with a `workload:` section (a scenario file works): operations sent through the nodes "
    "while watching, to measure harm.",
)
@output_options
@fail_on_option
def watch(
    cluster_files: tuple[str, ...],
    clusters_dir: Path | None,
    shard: str | None,
    rescan: float,
    interval: float | None,
    deadline: float | None,
    duration: float | None,
    changes_only: bool,
    only_node: str | None,
    live: bool,
    run_dir: Path | None,
    workload_file: str | None,
    fmt: str,
    metrics_at: str | None,
    on_verdict: str | None,
    output: Path | None,
    keep_ticks: float,
    retain: float | None,
    fail_on: str,
) -> None:
    """Probe every node every tick and print one quorum-matrix line per tick; analyse at the end.
    Several cluster files: each cluster on its own schedule, history and labels, in one process.

    Exit 6 harm, 4 violation, 3 dual leader, 5 possible only (see `analyze`), 0 ok; 1 errors; 2 usage
    errors (several clusters: the most severe). With a workload, the first Ctrl-C stops the operations
    and reads the set back; a second one stops at once.
    """
    from quorumwatch.session import Fleet, Outputs, Plan, SessionError, Target
    from quorumwatch.session import watch as run_session
    from quorumwatch.shards import ClusterDirectory, Shard

    if clusters_dir is not None or shard is not None:
        if clusters_dir is None:
            fail("--shard needs --clusters DIR", EXIT_USAGE)
        for flag, given in (
            ("cluster files", cluster_files or None), ("--node", only_node), ("--live", live or None),
            ("--workload", workload_file),
        ):  # fmt: skip
            if given:
                fail(
                    f"--clusters watches the cluster files of {clusters_dir}; {flag} cannot go with it",
                    EXIT_USAGE,
                )
        try:
            outputs = Outputs(
                "jsonl" if fmt == "jsonl" else "text", changes_only, output, metrics_at,
                Outputs.hook_argv(on_verdict),
            )  # fmt: skip
        except SessionError as exc:
            fail(str(exc), exc.code)
        try:
            k_of_n = Shard.parse(shard) if shard is not None else Shard()
        except ValueError as exc:
            fail(f"--shard {exc}", EXIT_USAGE)
        if not clusters_dir.is_dir():
            fail(f"--clusters {clusters_dir}: not a directory", EXIT_USAGE)
        fleet = Fleet(ClusterDirectory(clusters_dir, k_of_n, _loader(interval, deadline)), rescan)
        plan = Plan((), duration, outputs, retain, runs=run_dir or Path("runs"), keep_ticks_s=keep_ticks,
                    fleet=fleet)  # fmt: skip
        _watch_fleet(plan, fail_on)
    if not cluster_files:
        fail("give a cluster file (or --clusters DIR)", EXIT_USAGE)

    if len(cluster_files) > 1:
        for flag, given in (("--node", only_node), ("--live", live or None)):
            if given:
                fail(f"{flag} watches one cluster; give one cluster file", EXIT_USAGE)
    clusters = [_load(f, interval, deadline) for f in cluster_files]
    if only_node is not None:
        chosen = [n for n in clusters[0].nodes if n.name == only_node]
        if not chosen:
            fail(f"{cluster_files[0]}: no node named {only_node!r}", EXIT_USAGE)
        clusters[0] = clusters[0].model_copy(update={"nodes": chosen})
    workload = None
    if workload_file is not None:
        from quorumwatch.workload.spec import check_workload, load_workload

        try:
            workload = load_workload(workload_file)
            for c in clusters:  # the same operations through every cluster, each checked against it
                check_workload(workload, c, workload_file)
        except ConfigError as exc:
            fail(str(exc), EXIT_USAGE)
    # several clusters: --run-dir holds a directory per cluster
    dirs = [run_dir if len(clusters) == 1 or run_dir is None else run_dir / c.name for c in clusters]
    try:
        outputs = Outputs(
            "jsonl" if fmt == "jsonl" else "text", changes_only, output, metrics_at,
            Outputs.hook_argv(on_verdict), live,
        )  # fmt: skip
        plan = Plan(
            tuple(Target(c, d, workload) for c, d in zip(clusters, dirs, strict=True)), duration, outputs,
            retain, keep_ticks_s=keep_ticks,
        )  # fmt: skip
        results = run_session(plan, say=lambda line: click.echo(line, err=True))
    except SessionError as exc:
        fail(str(exc), exc.code)
    sys.exit(_print_results(results, fail_on))


def _loader(interval: float | None, deadline: float | None) -> Callable[[Path], ClusterConfig]:
    """How a fleet's directory reads each cluster file: validated, with the command line's timing."""

    def load(path: Path) -> ClusterConfig:
        cluster = load_cluster(str(path)).with_timing(interval, deadline)
        check_access(cluster)
        return cluster

    return load


def _watch_fleet(plan: Plan, fail_on: str) -> NoReturn:
    """`watch --clusters DIR [--shard K/N]`: this shard's clusters of DIR until stopped."""
    from quorumwatch.session import SessionError
    from quorumwatch.session import watch as run_session

    assert plan.fleet is not None
    directory, shard = plan.fleet.directory.directory, plan.fleet.directory.shard
    say = functools.partial(click.echo, err=True)
    say(f"shard {shard}: watching the cluster files of {directory} that fall to it")
    try:
        results = run_session(plan, say=say)
    except SessionError as exc:
        fail(str(exc), exc.code)
    if not results:
        fail(f"shard {shard}: no cluster of {directory} was watched: nothing examined", EXIT_ERROR)
    sys.exit(_print_results(results, fail_on))


def _print_results(results: Sequence[RunResult], fail_on: str) -> int:
    """Each run's summary (several: one after the other); the session's exit code."""
    from quorumwatch.session import worst

    return worst([_show_result(r, fail_on=fail_on, report=True) for r in results])


def _analyze_and_exit_code(
    run: Path,
    *,
    as_json: bool = False,
    to_stderr: bool = True,
    fail_on: str = "possible",
    report: bool = False,
) -> int:
    """Analyse a finished run, print the summary, write results.json; the run's exit code."""
    from quorumwatch.session import finish
    from quorumwatch.store import HistoryError

    try:
        result = finish(run, report=report)
    except (HistoryError, OSError, sqlite3.Error) as exc:
        click.echo(f"quorumwatch: cannot analyse {run}: {exc}", err=True)
        return EXIT_ERROR
    return _show_result(result, as_json=as_json, to_stderr=to_stderr, fail_on=fail_on, report=report)


def _show_result(
    result: RunResult, *, as_json: bool = False, to_stderr: bool = True, fail_on: str = "possible",
    report: bool = False,
) -> int:  # fmt: skip
    """Print a run's summary (or its results.json); its exit code (`RunResult.exit_code`, the one
    rule: errors and interruptions are recorded with the run)."""
    from rich.console import Console

    from quorumwatch.report.summary import print_summary

    out = result.results
    if as_json:
        click.echo(out.to_json(), nl=False)
    else:
        console = Console(stderr=to_stderr, highlight=False, width=None if sys.stdout.isatty() else 140)
        print_summary(out, console)
        console.print(f"results: {result.results_path}")
        if report:
            console.print(f"report: {result.report_path}")
        for error in result.errors:
            console.print(f"run error: {error}")
        if result.interrupted:
            console.print("run interrupted: not every trial ran")
    return result.exit_code(fail_on)


@main.command()
@click.argument("cluster_file", type=click.Path(dir_okay=False))
@click.option(
    "--samples", type=click.IntRange(1, 1000), default=20, show_default=True, help="Samples per node."
)
@click.option("--json", "as_json", is_flag=True, help="Print the offsets as JSON.")
def clocks(cluster_file: str, samples: int, as_json: bool) -> None:
    """Measure each node's clock offset from this machine through its control channel, NTP-style:
    the sample with the smallest round trip wins; offset ± half that round trip. Prints ready-to-use
    `logs --offset ... --skew ...` arguments."""
    import dataclasses
    import json

    from quorumwatch.offsets import ClockError, measure, offsets_args

    cluster = _load(cluster_file)
    try:
        offsets = asyncio.run(measure(cluster, samples))
    except ClockError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(o) for o in offsets], indent=2))
        return
    for o in offsets:
        click.echo(
            f"{o.node}: {o.offset_s * 1000:+.3f} ms ± {o.uncertainty_s * 1000:.3f} ms ({o.samples} samples)"
        )
    click.echo(f"logs arguments: {offsets_args(offsets)}")


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print results.json to stdout instead of the summary.")
@fail_on_option
def analyze(run_dir: Path, as_json: bool, fail_on: str) -> None:
    """Verdicts, failover metrics and harm of a recorded run; writes RUN_DIR/results.json.

    Exit 6 harm (acknowledged writes lost, duplicate IDs, stale reads), 4 violation (two leaders in
    the same epoch), 3 dual leader, 5 possible only, 0 ok (or below --fail-on); 1 errors, and, without
    a finding, a run whose fault failed or that was interrupted.
    """
    from quorumwatch.store import HistoryError, resolve_run_dir

    try:
        run = resolve_run_dir(run_dir)
    except HistoryError as exc:
        fail(str(exc))
    sys.exit(_analyze_and_exit_code(run, as_json=as_json, to_stderr=False, fail_on=fail_on))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
def report(run_dir: Path) -> None:
    """Write RUN_DIR/report.html: the run as one self-contained page (no network needed to open it) —
    verdict and harm in words, a timeline with a lane per node, fault bands and dual-leader windows,
    the trials and their failover figures. `run` and `watch` write it themselves.

    Exit 0 when written; 1 errors."""
    from quorumwatch.session import finish
    from quorumwatch.store import HistoryError, resolve_run_dir

    try:
        result = finish(resolve_run_dir(run_dir), report=True)
    except (HistoryError, OSError, sqlite3.Error) as exc:
        fail(f"cannot write the report of {run_dir}: {exc}")
    click.echo(result.report_path)


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--changes-only", is_flag=True, help="Print only change and warning lines (text format).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "jsonl", "csv"]), default="text", show_default=True,
    help="text: the lines `watch` prints; jsonl: one object per tick and event, then one per workload "
    "operation; csv: one row per observation.",
)  # fmt: skip
def history(run_dir: Path, changes_only: bool, fmt: str) -> None:
    """Print the ticks (and fault events) recorded in RUN_DIR, as `watch` printed them or as data.

    Exit 0 (a replay judges nothing: `analyze` gives the verdict); 1 errors.
    """
    from quorumwatch.rundir import replay
    from quorumwatch.store import HistoryError, resolve_run_dir

    try:
        for line in replay(resolve_run_dir(run_dir), fmt, changes_only=changes_only):  # type: ignore[arg-type]
            click.echo(line, nl=False)
    except HistoryError as exc:
        fail(str(exc))


@main.command()
@click.argument("scenario_file", type=click.Path(dir_okay=False))
@click.option(
    "--cluster", "cluster_file", type=click.Path(dir_okay=False), help="Overrides the scenario's cluster."
)
@click.option("--trials", type=click.IntRange(1, 10_000), help="Overrides the scenario's trial count.")
@click.option("--run-dir", type=click.Path(file_okay=False, path_type=Path), help="Where to record the run.")
@click.option("--changes-only", is_flag=True, help="Print only change, warning and fault lines.")
@output_options
@fail_on_option
def run(
    scenario_file: str,
    cluster_file: str | None,
    trials: int | None,
    run_dir: Path | None,
    changes_only: bool,
    fmt: str,
    metrics_at: str | None,
    on_verdict: str | None,
    output: Path | None,
    keep_ticks: float,
    retain: float | None,
    fail_on: str,
) -> None:
    """Run an experiment: watch the cluster while faults are injected and healed, trial after trial,
    with the scenario's workload (if any) sending operations through the nodes all along.

    Exit as `analyze` (6 harm, 4 violation, 3 dual leader, 5 possible, 0 ok); without a finding, 1 when
    a fault or steady state failed or the run was interrupted (faults are healed first).
    """
    from quorumwatch.scenario import load_scenario
    from quorumwatch.session import Outputs, Plan, SessionError, Target
    from quorumwatch.session import watch as run_session

    try:
        scenario, cluster = load_scenario(scenario_file, cluster_file)
        check_access(cluster)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    try:
        outputs = Outputs(
            "jsonl" if fmt == "jsonl" else "text",
            changes_only,
            output,
            metrics_at,
            Outputs.hook_argv(on_verdict),
        )
        plan = Plan(
            (Target(cluster, run_dir, scenario.workload),),
            None,
            outputs,
            retain,
            scenario=scenario,
            trials=trials,
            keep_ticks_s=keep_ticks,
        )
        results = run_session(plan, say=lambda line: click.echo(line, err=True))
    except SessionError as exc:
        fail(str(exc), exc.code)
    sys.exit(_print_results(results, fail_on))


@main.command()
@click.argument("run_dir", type=click.Path(path_type=Path), required=False)
def heal(run_dir: Path | None) -> None:
    """Replay the heal journal of RUN_DIR (or of every run with faults left armed) after a crash."""
    from quorumwatch.faults import StepRunner
    from quorumwatch.faults.heal import (
        JOURNAL_FILE,
        HealError,
        forget_missing,
        open_journals,
        pending,
        replay,
    )

    if run_dir is not None:
        journal = run_dir / JOURNAL_FILE if run_dir.is_dir() else run_dir
        if not journal.is_file() and (run_dir / "cluster.yaml").is_file():
            # a run stopped (or killed) before its first fault: the journal is written before any
            click.echo(f"nothing to heal (no fault was armed in {run_dir})")
            return
        if not journal.is_file():
            fail(f"{run_dir}: no {JOURNAL_FILE} here")
        journals = [journal]
    else:
        forget_missing()
        journals = [path for _, path in open_journals()]

    async def replay_all() -> list[str]:
        runner = StepRunner()
        failures: list[str] = []
        try:
            for j in journals:
                failures += await replay(j, runner, click.echo)
        finally:
            await runner.aclose()
        return failures

    try:
        todo = sum(len(pending(j)) for j in journals)
        if todo == 0:
            click.echo("nothing to heal")
            return
        failures = asyncio.run(replay_all())
    except HealError as exc:
        fail(str(exc))
    for f in failures:
        click.echo(f"quorumwatch: heal failed: {f}", err=True)
    if failures:
        sys.exit(EXIT_ERROR)
    click.echo(f"healed {todo} fault(s)")


@main.command()
@click.argument("inputs", nargs=-1)
@click.option(
    "--run", "run_dir", type=click.Path(file_okay=False, path_type=Path), help="Use the logs a run collected."
)
@click.option(
    "--pack", "packs", multiple=True, help="Built-in rule pack (see --list-packs); default: chosen per file."
)
@click.option("--list-packs", is_flag=True, help="List the built-in rule packs, their formats and events.")
@click.option(
    "--node-from",
    help="Split merged files into nodes: 'host' (syslog, journald exports), 'field:NAME' (a journald "
    "field, e.g. field:_MACHINE_ID) or a regex with a group (?P<node>...) searched in each message.",
)
@click.option(
    "--time-from",
    type=click.Choice(["inner", "envelope"]),
    default="inner",
    show_default=True,
    help="Wrapped lines (syslog, journald, CRI, Docker, ...): the application's own timestamp, or the "
    "envelope's (the relay's) where both exist.",
)
@click.option(
    "--rules", "rule_files", multiple=True, type=click.Path(dir_okay=False), help="Rule pack file (YAML)."
)
@click.option("--leader-start", help="Regex: this node became leader.")
@click.option("--leader-stop", help="Regex: this node stopped leading.")
@click.option("--epoch", "epoch_re", help="Regex with a group `epoch` (or the first group).")
@click.option(
    "--skew",
    type=Number(0, 86400),
    default=0.0,
    show_default=True,
    help="Clock uncertainty between any two nodes (s).",
)
@click.option(
    "--offset", "offsets", multiple=True, help="NODE=SECONDS: that node's clock runs ahead by this much."
)
@click.option("--tz", "tz_name", help="Zone for timestamps without one (default: this machine's).")
@click.option(
    "--year",
    type=click.IntRange(1, 9999),
    help="Year for formats without one (default: the file header, else this year).",
)
@click.option(
    "--context", type=Number(0, 1e6), default=5.0, show_default=True, help="Timeline seconds around overlaps."
)
@click.option("--all", "show_all", is_flag=True, help="Show the whole timeline.")
@click.option(
    "--timeline", "timeline_only", is_flag=True,
    help="Print only the merged timeline of every role event, one line each (for lnav: "
    "contrib/lnav/quorumwatch.json, or grep).",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--jobs", type=click.IntRange(1, 64), help="Files scanned in parallel (default: the number of cores)."
)
def logs(
    inputs: tuple[str, ...],
    run_dir: Path | None,
    packs: tuple[str, ...],
    rule_files: tuple[str, ...],
    leader_start: str | None,
    leader_stop: str | None,
    epoch_re: str | None,
    skew: float,
    offsets: tuple[str, ...],
    tz_name: str | None,
    year: int | None,
    context: float,
    show_all: bool,
    timeline_only: bool,
    as_json: bool,
    jobs: int | None,
    list_packs: bool,
    node_from: str | None,
    time_from: str,
) -> None:
    """Rebuild who led when from node logs: NODE=PATH_OR_GLOB ..., plain paths (node = parent
    directory), or --run RUN_DIR. Exit 0 ok, 3 dual leader, 4 same-epoch overlap, 5 possible only."""
    import datetime as dt
    import json
    import zoneinfo

    from quorumwatch.logs import rules
    from quorumwatch.logs.scan import LogError, resolve_inputs, run_logs
    from quorumwatch.logs.scan import node_from as split_by
    from quorumwatch.report.logs import render, timeline_lines, to_json

    if list_packs:
        for name in rules.BUILTIN:
            pack = rules.builtin(name)
            click.echo(f"{name}  (formats: {', '.join(pack.formats) or 'any'})")
            if pack.systems:
                click.echo(f"  for: {', '.join(pack.systems)}")
            for rule in pack.rules:
                click.echo(f"  {rule.event:<15} {rule.pattern.pattern}")
        return

    try:
        tz: dt.tzinfo = (
            zoneinfo.ZoneInfo(tz_name) if tz_name else (dt.datetime.now().astimezone().tzinfo or dt.UTC)
        )
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        fail(f"--tz: unknown time zone {tz_name!r}", EXIT_USAGE)
    from quorumwatch.config import node_seconds

    offs: dict[str, float] = {}
    for o in offsets:
        try:
            node, offs_s = node_seconds(o)
        except ValueError:
            offs_s = math.inf
        if not abs(offs_s) <= 1e9:
            fail(f"--offset {o[:80]!r}: expected NODE=SECONDS, |SECONDS| ≤ 1e9", EXIT_USAGE)
        offs[node] = offs_s
    if bool(leader_start) != bool(leader_stop):
        fail("--leader-start and --leader-stop go together", EXIT_USAGE)
    if run_dir is not None and not offs:
        from quorumwatch.offsets import CLOCKS_FILE, ClockError, load_for_logs

        measured = run_dir / CLOCKS_FILE
        if measured.is_file():
            try:
                offs, extra_skew = load_for_logs(measured)
            except ClockError as exc:
                fail(str(exc))
            skew += extra_skew
            click.echo(
                f"applying clock offsets measured by the run ({measured}); skew {skew:.4f} s", err=True
            )
    try:
        chosen = [rules.builtin(p) for p in packs] + [rules.load_pack(f) for f in rule_files]
        if leader_start and leader_stop:
            chosen.append(rules.quick_pack(leader_start, leader_stop, epoch_re))
        explicit = rules.merge(chosen) if chosen else None
        files = resolve_inputs(inputs, run_dir)
        from quorumwatch.report.progress import bytes_progress

        with bytes_progress("scanning logs") as progress:
            result = run_logs(
                files, explicit, tz=tz, year=year, skew_s=skew, offsets_s=offs,
                jobs=jobs or os.cpu_count() or 1, split=split_by(node_from), progress=progress,
                time_from=time_from,
            )  # fmt: skip
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
    except LogError as exc:
        fail(str(exc))
    from quorumwatch.store import HISTORY_FILE

    if run_dir is not None and (run_dir / HISTORY_FILE).is_file():
        result = _per_group(result, run_dir / HISTORY_FILE, skew)
    if as_json:
        click.echo(json.dumps(to_json(result, context, show_all), indent=2))
    elif timeline_only:
        for line in timeline_lines(result.forensics):
            click.echo(line)
    else:
        render(result, context, show_all, click.echo)
    sys.exit(result.forensics.verdict.exit_code)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option(
    "--model",
    type=click.Choice(["register", "cas-register", "kv"]),
    default="cas-register",
    show_default=True,
    help="register: read/write; cas-register: and compare-and-set; kv: one register per key "
    "(a `:key`, or jepsen.independent's [key value]).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "jepsen-log", "edn", "jsonl"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--deadline", type=Number(0, 86400, above_low=True), default=60.0, show_default=True,
    help="Seconds for the whole check; a key not decided by then is unknown.",
)  # fmt: skip
@click.option(
    "--failed-cas", type=click.Choice(["compared", "ignored"]), default="compared", show_default=True,
    help="compared: a failed cas found another value (Porcupine; Jepsen's etcd client); ignored: it "
    "did nothing and says nothing (Knossos). A key violated only under `compared` is marked.",
)  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def linearizability(
    files: tuple[str, ...], model: str, fmt: str, deadline: float, failed_cas: str, as_json: bool
) -> None:
    """Check histories for linearizability, key by key: Jepsen logs, EDN maps, JSON lines (Jepsen's
    events, or the operations `history --format jsonl` writes), and quorumwatch run directories (or
    their history.sqlite) of a register workload.
    Exit 0 linearizable, 6 not linearizable, 1 unknown (deadline) or unreadable, 2 usage."""
    import json

    from quorumwatch.analysis.linearizability import KeyVerdict
    from quorumwatch.model import HARM_EXIT
    from quorumwatch.report.linearizability import render, to_json
    from quorumwatch.rundir import RunDirError, check_linearizability

    try:
        result = check_linearizability(files, fmt, model, deadline, failed_cas)  # type: ignore[arg-type]
    except RunDirError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(to_json(result), indent=2))
    else:
        render(result, click.echo)
    code = {KeyVerdict.LINEARIZABLE: EXIT_OK, KeyVerdict.VIOLATED: HARM_EXIT}.get(result.verdict, EXIT_ERROR)
    sys.exit(code)


def _register_lab() -> None:
    from quorumwatch.lab.cli import lab

    main.add_command(lab)


_register_lab()


def _per_group(result: LogRun, history_path: Path, skew_s: float) -> LogRun:
    """A sharded cluster's run: its logs judged per group, by what the run's probes saw each node
    lead (log lines name no slot range)."""
    import dataclasses

    from quorumwatch.logs.joined import regroup
    from quorumwatch.store import HistoryError, HistoryFile

    try:
        history = HistoryFile.open(history_path)
        try:
            ticks = list(history.ticks())
        finally:
            history.close()
    except HistoryError as exc:
        fail(str(exc))
    regrouped = regroup(result.forensics, ticks, round(skew_s * 1e9))
    if regrouped is not result.forensics:
        click.echo(
            "a sharded cluster: its logs judged per group, by what the run's probes saw each node lead",
            err=True,
        )
    return dataclasses.replace(result, forensics=regrouped)
