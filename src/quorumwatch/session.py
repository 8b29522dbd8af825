"""A session: one watch or experiment from its run directory to its result, and the one exit code.

Every entry point (`quorumwatch watch` and `run`, `api.Watch`, `api.observe`, `api.run_experiment`,
the pytest plugin) ends a run here: what stopped it early is recorded in the history beside the
ticks (`close_run`), the one analysis makes its `RunResult` (`finish`), and `RunResult.exit_code` is
the only rule for the code it exits with, so the CLI and the library say the same of the same run,
and `quorumwatch analyze RUN_DIR` says it again later.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from quorumwatch.analysis import exit_code as verdict_code
from quorumwatch.model import HARM_EXIT, Harm, Verdict
from quorumwatch.report.schema import Results
from quorumwatch.rundir import REPORT_FILE, RESULTS_FILE, analyze_run
from quorumwatch.store import HISTORY_FILE, History

EXIT_ERROR = 1
SEVERITY = (HARM_EXIT, 4, 3, EXIT_ERROR, 5, 0)
"""Exit codes, most severe first: several clusters watched exit with the worst of theirs. A cluster
that could not be examined (1) outranks another's `possible` (5): a gate must not pass on it."""

_ERRORS, _INTERRUPTED = "run_errors", "run_interrupted"
"""The history's meta keys for what stopped a run early."""


@dataclass(frozen=True)
class RunResult:
    """A finished watch or experiment: where it was recorded, what the analysis found, and what
    stopped it early."""

    run_dir: Path
    results: Results
    errors: tuple[str, ...] = ()
    """What stopped an experiment early (a fault that failed, steady state not reached)."""
    interrupted: bool = False
    """An experiment cut short by a signal (its faults healed): its trials did not all run."""

    @property
    def verdict(self) -> Verdict:
        return self.results.verdict

    @property
    def harm(self) -> Harm:
        return self.results.harm

    @property
    def results_path(self) -> Path:
        return self.run_dir / RESULTS_FILE

    @property
    def report_path(self) -> Path:
        """report.html (written unless the watch or experiment was asked not to)."""
        return self.run_dir / REPORT_FILE

    def exit_code(self, fail_on: str = "possible") -> int:
        """The code `quorumwatch run`, `watch` and `analyze` exit with, and the only rule for it:
        harm 6; else the verdict's code at or above `fail_on` (4 violation, 3 dual leader,
        5 possible) — a finding stands whatever else went wrong; else 1 when nothing was examined
        (inconclusive), a fault or steady state failed, or the run was interrupted; else 0."""
        code = verdict_code(self.verdict, self.harm, fail_on)
        if code not in (0, EXIT_ERROR):
            return code
        return EXIT_ERROR if code == EXIT_ERROR or self.errors or self.interrupted else 0

    def failed(self, fail_on: str = "possible") -> bool:
        return self.exit_code(fail_on) != 0


def worst(codes: Iterable[int]) -> int:
    """The exit code of several runs: the most severe of theirs (0 for none)."""
    return min(codes, key=SEVERITY.index, default=0)


def close_run(history: History, errors: Iterable[str] = (), interrupted: bool = False) -> None:
    """Record what stopped the run early (nothing: nothing is written), so that every later reading
    of the run directory gives the same result and exit code."""
    errors = list(errors)
    if errors:
        history.set_meta(_ERRORS, json.dumps(errors))
    if interrupted:
        history.set_meta(_INTERRUPTED, "1")


def finish(run_dir: Path, *, report: bool = False) -> RunResult:
    """The one analysis of a recorded run (results.json written, report.html too when asked) and
    its result, with what stopped it early as recorded by `close_run`. Raises what `analyze_run`
    raises (HistoryError, OSError, sqlite3.Error) when the history cannot be read."""
    _, results = analyze_run(run_dir, report=report)
    errors, interrupted = outcome(run_dir)
    return RunResult(run_dir, results, errors, interrupted)


def outcome(run_dir: Path) -> tuple[tuple[str, ...], bool]:
    """What `close_run` recorded of a run: its errors and whether it was interrupted."""
    history = History.open(run_dir / HISTORY_FILE)
    try:
        meta = history.meta()
    finally:
        history.close()
    try:
        errors = json.loads(meta.get(_ERRORS, "[]"))
    except ValueError:
        errors = [f"unreadable {_ERRORS} in the history: {meta[_ERRORS][:60]!r}"]
    if not isinstance(errors, list):
        errors = [str(errors)]
    return tuple(str(e) for e in errors), meta.get(_INTERRUPTED) == "1"


__all__ = ["EXIT_ERROR", "SEVERITY", "RunResult", "close_run", "finish", "outcome", "worst"]
