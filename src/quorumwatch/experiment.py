"""The fault schedule of a scenario: trials that inject and heal faults while the probes watch.

Order of business: heal what earlier runs against this cluster left armed; preflight every fault
(tools, kernel support) before touching anything; wait for the steady state; then per trial inject
each fault at its `after`, heal it after its `hold`, and wait for the steady state again. Every
fault's heal is journaled (fsync) before its inject. Heal runs when a fault's hold ends, when the
schedule is cut short (a signal, a failed actor, a cancelled task: `heal_all`), and a kill -9 leaves
the journal for `quorumwatch heal`.

An `Experiment` is one actor of a run (`watcher.watch(..., schedule=...)`, as the session drives it):
it reads the ticks from the run's feed and records its events; the engine, the workload, the output
and signals are the session's.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quorumwatch.config import ClusterConfig
from quorumwatch.engine import TickFeed
from quorumwatch.faults import Fault, FaultError, FaultPlan, StepResult, StepRunner, build_fault
from quorumwatch.faults.base import step_failure
from quorumwatch.faults.heal import JOURNAL_FILE, HealJournal, crash_point, open_journals, replay
from quorumwatch.faults.targets import resolve
from quorumwatch.model import (
    CommandRun,
    Event,
    EventBody,
    FaultFailed,
    FaultHealed,
    FaultInjected,
    HealFailed,
    Note,
    Role,
    SteadyChecked,
    Tick,
    TrialEnded,
    TrialStarted,
)
from quorumwatch.offsets import ClockOffset
from quorumwatch.scenario import Scenario, SteadyState
from quorumwatch.store import HistoryFile


class ExperimentError(Exception):
    """The experiment could not go on (steady state never reached, a fault failed); printable."""


@dataclass
class TrialRecord:
    index: int
    faults: list[dict[str, Any]] = field(default_factory=list)
    converged: bool | None = None


@dataclass
class ExperimentResult:
    trials: list[TrialRecord]
    errors: list[str]
    interrupted: bool = False


def steady(tick: Tick, spec: SteadyState) -> bool:
    roles = [o.role for o in tick.observations]
    return roles.count(Role.LEADER) == spec.leaders and all(
        r in (Role.LEADER, Role.FOLLOWER, Role.OBSERVER) for r in roles
    )


class Experiment:
    """The schedule of one run (see the module): `drive` the trials, `heal_all` whatever is armed,
    `wind_down` once the probes stopped. What went wrong is kept in `errors`, never raised past
    the run."""

    def __init__(
        self,
        scenario: Scenario,
        cluster: ClusterConfig,
        history: HistoryFile,
        run_dir: Path,
        *,
        trials: int | None = None,
        show: Callable[[Event], None] = lambda event: None,
    ) -> None:
        self.scenario = scenario
        self.cluster = cluster
        self.history = history
        self.run_dir = run_dir
        self.trials = trials or scenario.trials
        self.show = show
        """Each event, once recorded: the session shows it as its lines are shown."""
        self.rng = random.Random(scenario.seed)
        self.run_id = secrets.token_hex(4)
        self.journal = HealJournal(run_dir / JOURNAL_FILE, cluster.name)
        self.runner = StepRunner()
        self.feed = TickFeed()
        self.active: dict[int, FaultPlan] = {}
        self.errors: list[str] = []
        self.records: list[TrialRecord] = []
        self.interrupted = False
        self._chains = 0
        self._record_error: str | None = None
        self._clocks: dict[str, list[ClockOffset]] = {}
        self.workload_slot: int | None = None

    # ---- output and history ----

    def _now(self) -> tuple[int, int]:
        return int(asyncio.get_running_loop().time() * 1e9), time.time_ns()

    def event(self, body: EventBody, node: str | None = None) -> None:
        mono, wall = self._now()
        ev = Event.of(mono, wall, node, body)
        try:
            self.history.append_event(ev)
        except sqlite3.Error as exc:
            # Healing must go on when the history cannot be written (a full disk): say it once.
            if self._record_error is None:
                self._record_error = f"recording to {self.history.path} failed: {exc}"
                self.show(
                    Event.of(
                        mono, wall, None, Note(f"quorumwatch: {self._record_error} (events are still shown)")
                    )
                )
        self.show(ev)

    def _record_step(self, phase: str, fid: int, result: StepResult) -> None:
        self.event(
            CommandRun(
                phase, fid, tuple(result.step.argv), result.returncode, result.ok, result.started_ns,
                result.ended_ns, result.stdout[-2000:], result.stderr[-2000:],
            ),
            result.step.node,
        )  # fmt: skip

    # ---- faults ----

    def _in_group(self, tick: Tick, group: str) -> Tick:
        """The tick seen in one group of a sharded cluster (`workload`: the group holding the
        workload's slot), for a `{role: ..., group: ...}` target."""
        from quorumwatch.analysis.groups import group_holding, named_groups, project_tick

        names = named_groups(tick.observations)
        if group == "workload":
            if self.workload_slot is None:
                raise FaultError(
                    "target group 'workload': no workload with a slot runs (a Redis Cluster workload)"
                )
            found = group_holding(tick, self.workload_slot)
            if found is None:
                raise FaultError(
                    f"target group 'workload': no node leads a range holding slot {self.workload_slot}"
                )
            group = found
        elif group not in names:
            raise FaultError(
                f"target group {group!r}: no node names it (groups: {', '.join(names) or 'none'})"
            )
        return project_tick(tick, group)

    def _new_fault(self, index: int) -> Fault:
        self._chains += 1
        spec = self.scenario.faults[index]
        return build_fault(spec, self.cluster, f"quorumwatch-{self.run_id}-{self._chains}")

    async def _inject(self, fault: Fault, index: int, trial: TrialRecord) -> int:
        spec = self.scenario.faults[index]
        last = self.feed.last
        group = getattr(spec.target, "group", None)
        if last is not None and group is not None:
            last = self._in_group(last, group)
        roles = {o.node: o.role for o in last.observations} if last else {}
        names = [n.name for n in self.cluster.nodes]
        nodes = resolve(spec.target, names, roles, self.rng)
        plan = await fault.plan(nodes, self.runner)
        fid = self.journal.arm(plan)  # fsynced before anything is touched
        crash_point("armed")
        self.active[fid] = plan
        self.event(
            FaultInjected(
                fid,
                plan.kind,
                spec.target.spelled(),
                tuple(plan.nodes),
                plan.description,
                trial.index,
                plan.details,
            )
        )
        trial.faults.append(
            {
                "id": fid,
                "kind": plan.kind,
                "target": spec.target.spelled(),
                "nodes": list(plan.nodes),
                "description": plan.description,
            }
        )
        for step in plan.inject:
            result = await self.runner.run(step)
            crash_point("inject-step")
            self._record_step("inject", fid, result)
            if not result.ok:
                raise FaultError(f"inject of {plan.description} failed: {step_failure(result)}")
        crash_point("injected")
        return fid

    async def _heal(self, fid: int) -> None:
        plan = self.active.get(fid)
        if plan is None:
            return
        failed = []
        for step in plan.heal:
            result = await self.runner.run(step)
            crash_point("heal-step")
            self._record_step("heal", fid, result)
            if not result.ok:
                failed.append(step_failure(result))
        for step in plan.verify:
            result = await self.runner.run(step)
            if plan.verify_absent and plan.verify_absent in result.stdout:
                failed.append(
                    f"after heal, '{step.shown()}' on {step.node} still shows {plan.verify_absent!r}"
                )
        if failed:
            self.event(HealFailed(fid, tuple(failed)))
            raise FaultError(
                f"heal of {plan.description} failed: {failed[0]} "
                f"(the journal keeps it: run 'quorumwatch heal {self.run_dir}')"
            )
        crash_point("heal-steps-done")
        self.journal.healed(fid)
        crash_point("healed")
        del self.active[fid]
        self.event(FaultHealed(fid, plan.kind, tuple(plan.nodes), plan.description))

    async def heal_all(self) -> None:
        """Heal every fault this run has armed, newest first; keep going past failures."""
        for fid in sorted(self.active, reverse=True):
            try:
                await self._heal(fid)
            except FaultError as exc:
                self.errors.append(str(exc))

    # ---- steady state and trials ----

    async def wait_steady(self, what: str) -> bool:
        spec = self.scenario.steady_state
        loop = asyncio.get_running_loop()
        deadline = loop.time() + spec.within
        since: int | None = None
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    tick = await self.feed.next()
                    crash_point("steady-tick")
                    if not steady(tick, spec):
                        since = None
                        continue
                    since = tick.started_ns if since is None else since
                    if tick.started_ns - since >= spec.hold_for * 1e9:
                        self.event(SteadyChecked(True, what))
                        return True
        except TimeoutError:
            last = self.feed.last
            matrix = " ".join(o.role.letter for o in last.observations) if last else "no ticks"
            self.event(SteadyChecked(False, what, matrix))
            return False

    async def _fault_task(self, index: int, fault: Fault, t0: float, trial: TrialRecord) -> None:
        spec = self.scenario.faults[index]
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, t0 + spec.after - loop.time()))
        try:
            fid = await self._inject(fault, index, trial)
        except FaultError as exc:
            self.errors.append(str(exc))
            self.event(FaultFailed(str(exc)))
            return
        await asyncio.sleep(spec.hold)
        await self._heal(fid)

    async def trial(self, k: int) -> TrialRecord:
        record = TrialRecord(k)
        self.records.append(record)
        self.event(TrialStarted(k, self.trials))
        t0 = asyncio.get_running_loop().time()
        faults = [self._new_fault(i) for i in range(len(self.scenario.faults))]
        try:
            async with asyncio.TaskGroup() as tg:
                for i, fault in enumerate(faults):
                    tg.create_task(self._fault_task(i, fault, t0, record))
        except* FaultError as group:
            for exc in group.exceptions:
                self.errors.append(str(exc))
        record.converged = await self.wait_steady(f"after trial {k}")
        self.event(TrialEnded(k, record.converged))
        return record

    async def drive(self, feed: TickFeed) -> None:
        """The trials, reading the run's ticks from `feed`; raises ExperimentError or FaultError
        when the schedule cannot go on (`heal_all` is the caller's, whatever ends it)."""
        self.feed = feed
        for _, path in open_journals(self.cluster.name):
            if path.resolve() == (self.run_dir / JOURNAL_FILE).resolve():
                continue
            failures = await replay(path, self.runner, lambda s: self.event(Note(s)))
            if failures:
                raise ExperimentError(
                    f"leftover faults from {path.parent} could not be healed: {failures[0]}"
                )
        for i in range(len(self.scenario.faults)):
            await self._new_fault(i).preflight(self.runner)
        await self.measure_clocks("start")
        ss = self.scenario.steady_state
        if not await self.wait_steady("before the first trial"):
            raise ExperimentError(
                f"steady state ({ss.leaders} leader(s) for {ss.hold_for:g} s) "
                f"not reached within {ss.within:g} s"
            )
        for k in range(1, self.trials + 1):
            await self.trial(k)
            if self.errors:
                raise ExperimentError(self.errors[0])
            if k < self.trials and self.scenario.cooldown:
                await asyncio.sleep(self.scenario.cooldown)

    def stopped(self, actor: str, exc: BaseException) -> None:
        """Another actor of the run failed: the schedule is cut short with that actor's error (not
        with a later symptom such as "steady state not reached")."""
        why = f"recording to {self.history.path} failed: {exc}" if isinstance(exc, sqlite3.Error) else exc
        self.errors.append(f"{actor} stopped: {why}")

    def ended(self, task: asyncio.Task[None]) -> None:
        """The schedule's own task is over: keep its error, if any (a cancelled one has none)."""
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ExperimentError | FaultError):
            if str(exc) not in self.errors:
                self.errors.append(str(exc))
        elif exc is not None:
            raise exc

    async def wind_down(self) -> None:
        """Once the probes stopped: the clocks measured again, the nodes' logs collected."""
        try:
            if self._clocks:
                await self.measure_clocks("end")
            await self.collect_logs()
        finally:
            await self.runner.aclose()

    def result(self) -> ExperimentResult:
        return ExperimentResult(self.records, self.errors, self.interrupted)

    async def measure_clocks(self, when: str) -> None:
        """Each node's clock offset, kept in clocks.json for `logs --run` and `analyze` to apply.
        Only nodes with logs to align are measured; a failure is a note, not the end of the run."""
        from quorumwatch.offsets import CLOCKS_FILE, ClockError, measure_node, save

        nodes = [n for n in self.cluster.nodes if n.logs]
        if not nodes:
            return
        try:
            async with asyncio.timeout(30):
                got = list(await asyncio.gather(*(measure_node(n, 10) for n in nodes)))
        except (ClockError, OSError, TimeoutError) as exc:
            self.event(Note(f"clock offsets not measured at the {when}: {exc}"))
            return
        self._clocks[when] = got
        save(self.run_dir / CLOCKS_FILE, self._clocks)
        shown = ", ".join(f"{o.node} {o.offset_s * 1000:+.1f}±{o.uncertainty_s * 1000:.1f} ms" for o in got)
        self.event(Note(f"clock offsets at the {when}: {shown}"))

    async def collect_logs(self) -> None:
        """Copy each node's log files into the run directory (lab and local: copy; ssh: fetch)."""
        from quorumwatch.executors import fetch_files

        for node in self.cluster.nodes:
            if not node.logs:
                continue
            dest = self.run_dir / "logs" / node.name
            try:
                copied = await fetch_files(node, dest)
            except (OSError, FaultError) as exc:
                self.event(Note(f"could not collect logs of {node.name}: {exc}"), node.name)
                continue
            if not copied:
                shutil.rmtree(dest, ignore_errors=True)
