"""One exit code for one run, whoever asks: the CLI's `analyze`, `RunResult.exit_code()` and the
library's result agree on recorded runs, faults failed, interrupted and harmful ones included."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from quorumwatch import api
from quorumwatch.cli import main
from quorumwatch.model import FinalRead, Operation, OperationKind, Outcome, Tick
from quorumwatch.session import RunResult, close_run, finish, outcome, worst
from quorumwatch.store import HISTORY_FILE, HistoryFile
from tests.test_analysis import history

DUAL = ({"a": "LLLLLLLFFF", "b": "FFFFLLLLLL"}, {"a": [1] * 10, "b": [2] * 10})
CALM = ({"a": "LLLLLLLLLL", "b": "FFFFFFFFFF"}, {"a": [1] * 10})


def record(run: Path, ticks: list[Tick], *, errors: tuple[str, ...] = (), interrupted: bool = False,
           lost: bool = False) -> Path:  # fmt: skip
    run.mkdir(parents=True)
    meta = {"cluster": "lit", "probe": "etcd", "interval_s": "0.1", "deadline_s": "0.08"}
    h = HistoryFile.create(run / HISTORY_FILE, ["a", "b"], meta | ({"workload_kind": "set"} if lost else {}))
    for t in ticks:
        h.append_tick(t)
    if lost:
        h.append_operation(Operation(0, OperationKind.ADD, "a", 1, 2, 0, Outcome.OK, "0"))
        h.append_final_read(FinalRead("a", 3, 4, 0, frozenset()))
    close_run(h, errors, interrupted)
    h.close()
    return run


CASES = [
    # (name, rows, errors, interrupted, harmful, fail_on, code)
    ("clean ok", CALM, (), False, False, "possible", 0),
    (
        "ok but a fault failed",
        CALM,
        ("fault link on n1: ip: RTNETLINK answers",),
        False,
        False,
        "possible",
        1,
    ),
    ("ok but interrupted", CALM, (), True, False, "possible", 1),
    (
        "dual leader and a failed fault: the finding stands",
        DUAL,
        ("steady state not reached",),
        False,
        False,
        "possible",
        3,
    ),
    ("dual leader below --fail-on, with errors", DUAL, ("x",), False, False, "violation", 1),
    ("harm and a failed fault: harm", DUAL, ("x",), True, True, "possible", 6),
    ("harm below every --fail-on", CALM, (), False, True, "harm", 6),
]


@pytest.mark.parametrize(("name", "rows", "errors", "interrupted", "harmful", "fail_on", "code"), CASES,
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_cli_and_api_exit_with_the_same_code_for_the_same_run(
    tmp_path: Path, name: str, rows: tuple[dict[str, str], dict[str, list[int | None]]],
    errors: tuple[str, ...], interrupted: bool, harmful: bool, fail_on: str, code: int,
) -> None:  # fmt: skip
    run = record(tmp_path / "run", history(*rows), errors=errors, interrupted=interrupted, lost=harmful)
    assert outcome(run) == (errors, interrupted)
    result = finish(run)
    assert result.exit_code(fail_on) == code, name
    assert (result.errors, result.interrupted) == (errors, interrupted)
    said = CliRunner().invoke(main, ["analyze", str(run), "--fail-on", fail_on])
    assert said.exit_code == code, said.output
    for error in errors:
        assert f"run error: {error}" in said.output
    assert ("run interrupted" in said.output) is interrupted
    # the library reads the same run the same way
    again = RunResult(run, api.analyze(run), *outcome(run))
    assert again.exit_code(fail_on) == code and again.failed(fail_on) is (code != 0)


def test_an_empty_history_is_inconclusive_and_exits_1_everywhere(tmp_path: Path) -> None:
    run = record(tmp_path / "run", [])
    assert finish(run).exit_code() == 1 and finish(run).verdict == "inconclusive"
    assert CliRunner().invoke(main, ["analyze", str(run)]).exit_code == 1


def test_several_runs_exit_with_the_worst_and_an_unexamined_one_outranks_a_possible() -> None:
    assert worst([0, 5, 3]) == 3 and worst([5, 1]) == 1 and worst([1, 4]) == 4 and worst([0, 6, 4]) == 6
    assert worst([]) == 0 and worst([0, 0]) == 0
