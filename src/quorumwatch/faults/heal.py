"""Where faults are healed after the fact: the heal journal and its replay.

Before a fault is injected, its heal steps are appended to the run's `heal-journal.jsonl` and
fsynced; once healed, a `healed` line follows. Whatever is armed and not healed — because the
process was killed, the machine lost power, a heal step failed — is replayed by `quorumwatch heal`
and automatically at the start of the next run against the same cluster (open journals are listed
in a small registry under the state directory).
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quorumwatch.faults.base import FaultPlan, Step, StepRunner, step_failure

JOURNAL_FILE = "heal-journal.jsonl"

CRASH_ENV = "QUORUMWATCH_CRASH_AT"
_passes: dict[str, int] = {}


def crash_point(name: str) -> None:
    """A named instant in a run's life (`armed`, `inject-step`, `injected`, `heal-step`,
    `heal-steps-done`, `healed`, `steady-tick`, `replay-step`) where the crash test has the process
    SIGKILL itself, as a power cut or `kill -9` at exactly that instant would: with
    QUORUMWATCH_CRASH_AT=NAME:N, at the N-th pass. Unset (always, outside that test), it does nothing."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    want, _, nth = spec.partition(":")
    if want != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if str(_passes[name]) == (nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)


def state_dir() -> Path:
    return Path(os.environ.get("QUORUMWATCH_STATE", "/var/tmp/quorumwatch/state"))


class HealJournal:
    """Append-only, fsynced record of armed and healed faults for one run."""

    def __init__(self, path: Path, cluster: str) -> None:
        self.path = path
        self.cluster = cluster
        self._next = 1 + max((e["id"] for e in read_entries(path) if e.get("op") == "arm"), default=0)

    def arm(self, plan: FaultPlan) -> int:
        """Record a fault's heal before it is injected; returns its id."""
        fid = self._next
        self._next += 1
        self._register()
        self._append(
            {
                "op": "arm",
                "id": fid,
                "kind": plan.kind,
                "nodes": list(plan.nodes),
                "description": plan.description,
                "heal": [s.to_json() for s in plan.heal],
                "wall": time.time(),
            }
        )
        return fid

    def healed(self, fid: int) -> None:
        self._append({"op": "healed", "id": fid, "wall": time.time()})
        if not pending(self.path):
            self._unregister()

    def _append(self, entry: dict[str, Any]) -> None:
        new = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if new:
            dfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def _registry_file(self) -> Path:
        return state_dir() / "open-journals" / f"{self.cluster}--{self.path.parent.name}.path"

    def _register(self) -> None:
        reg = self._registry_file()
        reg.parent.mkdir(parents=True, exist_ok=True)
        reg.write_text(str(self.path.resolve()), encoding="utf-8")

    def _unregister(self) -> None:
        self._registry_file().unlink(missing_ok=True)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Journal lines; a torn last line (crash mid-write) is ignored, other garbage is an error."""
    if not path.exists():
        return []
    entries = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            if i == len(lines):
                continue
            raise HealError(f"{path}:{i}: not a journal entry") from None
        if not isinstance(entry, dict):
            raise HealError(f"{path}:{i}: not a journal entry")
        entries.append(entry)
    return entries


def pending(path: Path) -> list[dict[str, Any]]:
    entries = read_entries(path)
    healed = {e["id"] for e in entries if e.get("op") == "healed"}
    return [e for e in entries if e.get("op") == "arm" and e["id"] not in healed]


class HealError(Exception):
    """A journal that cannot be read or fully healed; printable as is."""


async def replay(path: Path, runner: StepRunner, say: Callable[[str], None]) -> list[str]:
    """Run the heal steps of every armed, unhealed fault (newest first). Returns failures."""
    failures: list[str] = []
    todo = pending(path)
    cluster = _cluster_of(path)
    journal = HealJournal(path, cluster)
    for entry in reversed(todo):
        ok = True
        say(f"healing {entry['description']} (armed in {path.parent})")
        for raw in entry["heal"]:
            step = Step.from_json(raw)
            result = await runner.run(step)
            crash_point("replay-step")
            say(
                f"running cmd: '{step.shown()}'"
                + (f" on {step.node}" if step.node else "")
                + f" -> exit {result.returncode}"
            )
            if not result.ok:
                ok = False
                failures.append(step_failure(result))
        if ok:
            journal.healed(entry["id"])
    if not pending(path):
        journal._unregister()
    return failures


def _cluster_of(path: Path) -> str:
    for reg in open_journals():
        if reg[1] == path.resolve():
            return reg[0]
    return path.parent.parent.name


def open_journals(cluster: str | None = None) -> list[tuple[str, Path]]:
    """(cluster, journal path) of every run that armed faults not yet known to be healed."""
    reg = state_dir() / "open-journals"
    if not reg.is_dir():
        return []
    out = []
    for f in sorted(reg.glob("*.path")):
        name = f.name.split("--", 1)[0]
        if cluster is None or name == cluster:
            out.append((name, Path(f.read_text(encoding="utf-8").strip())))
    return out


def forget_missing() -> None:
    """Drop registry entries whose run directory is gone (nothing left to replay there)."""
    reg = state_dir() / "open-journals"
    for f in reg.glob("*.path") if reg.is_dir() else []:
        if not Path(f.read_text(encoding="utf-8").strip()).exists():
            f.unlink(missing_ok=True)
