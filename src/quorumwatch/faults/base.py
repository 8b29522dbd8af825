"""The Fault boundary: every fault is planned as plain steps (argv on a node's control channel), so
its heal can be written to the journal before injection and replayed by `quorumwatch heal` after a
crash without the scenario, the cluster file or this process."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import TypeAdapter

from quorumwatch.config import Control
from quorumwatch.executors import Executor, executor_for_control

_CONTROL = TypeAdapter(Control)


class FaultError(Exception):
    """A fault cannot be planned, injected or healed; the message is printable as is."""


@dataclass(frozen=True, slots=True)
class Step:
    """One command on one node. `ok` lists exit codes that count as success (heals accept the
    codes that mean "already healed")."""

    node: str | None
    control: Any
    """A control spec as in cluster files ("local", {"netns": ...}, {"ssh": {...}}), JSON-able."""
    argv: tuple[str, ...]
    ok: tuple[int, ...] = (0,)
    timeout: float = 30.0

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "control": self.control,
            "argv": list(self.argv),
            "ok": list(self.ok),
            "timeout": self.timeout,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Step:
        return Step(data["node"], data["control"], tuple(data["argv"]), tuple(data["ok"]), data["timeout"])

    def shown(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True, slots=True)
class StepResult:
    step: Step
    returncode: int
    stdout: str
    stderr: str
    started_ns: int
    ended_ns: int

    @property
    def ok(self) -> bool:
        return self.returncode in self.step.ok


@dataclass(frozen=True)
class FaultPlan:
    """What a fault will do: inject steps, heal steps (journaled first), and for display."""

    kind: str
    nodes: tuple[str, ...]
    description: str
    inject: tuple[Step, ...]
    heal: tuple[Step, ...]
    verify: tuple[Step, ...] = ()
    """Read-only checks after heal; their stdout must not contain `verify_absent`."""
    verify_absent: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Fault(Protocol):
    """A kind of fault, aimed at resolved nodes. Planning may run read-only commands (a pid lookup);
    inject and heal are the plan's steps, both idempotent."""

    kind: str

    async def preflight(self, runner: StepRunner) -> None:
        """Check before the experiment starts that this fault can run here (tools, kernel)."""
        ...

    async def plan(self, nodes: list[str], runner: StepRunner) -> FaultPlan: ...


class StepRunner:
    """Runs steps through executors, one executor (and SSH connection) per control channel."""

    def __init__(self) -> None:
        self._executors: dict[str, Executor] = {}

    def _executor(self, control: Any) -> Executor:
        key = repr(control)
        if key not in self._executors:
            self._executors[key] = executor_for_control(_CONTROL.validate_python(control))
        return self._executors[key]

    async def run(self, step: Step) -> StepResult:
        loop = asyncio.get_running_loop()
        started = int(loop.time() * 1e9)
        try:
            async with asyncio.timeout(step.timeout):
                done = await self._executor(step.control).run(list(step.argv))
            code, out, err = done.returncode, done.stdout, done.stderr
        except TimeoutError:
            code, out, err = 124, b"", f"timed out after {step.timeout:g} s".encode()
        except FileNotFoundError as exc:
            code, out, err = 127, b"", f"command not found: {exc.filename or step.argv[0]}".encode()
        except OSError as exc:
            code, out, err = 255, b"", str(exc).encode()
        return StepResult(
            step,
            code,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            started,
            int(loop.time() * 1e9),
        )

    async def check(self, step: Step) -> StepResult:
        """Run a step that must succeed; FaultError naming the node and command otherwise."""
        result = await self.run(step)
        if not result.ok:
            raise FaultError(step_failure(result))
        return result

    async def aclose(self) -> None:
        for ex in self._executors.values():
            with contextlib.suppress(Exception):  # best effort: the commands already ran
                await ex.aclose()
        self._executors.clear()


def step_failure(result: StepResult) -> str:
    err = (result.stderr or result.stdout).strip().splitlines()
    where = f" on {result.step.node}" if result.step.node else ""
    return (
        f"'{result.step.shown()}'{where} failed (exit {result.returncode}): {err[-1] if err else 'no output'}"
    )
