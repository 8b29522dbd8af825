"""pytest plugin (entry point `pytest11`): the `quorum_watch` fixture, runs under the test's tmp_path,
and a closing list of the run directories kept for failed blocks. Imports nothing heavy until used."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from quorumwatch.testing import WatchedBlock


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("quorumwatch")
    group.addoption(
        "--quorumwatch-keep",
        action="store_true",
        help="keep the run directories of passing quorum_watch blocks too (failing ones are always kept)",
    )


@pytest.fixture
def quorum_watch(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[..., AbstractContextManager[WatchedBlock]]:
    """`with quorum_watch(cluster, fail_on="dual-leader"): ...` — the block fails the test when the
    cluster had a (possible, proven, same-epoch) second leader or harm while it ran."""
    from quorumwatch.testing import quorum_watch as watch

    keep = bool(request.config.getoption("quorumwatch_keep"))

    def factory(cluster: Any, **options: Any) -> AbstractContextManager[WatchedBlock]:
        options.setdefault("runs", tmp_path / "quorumwatch")
        options.setdefault("keep", keep)
        return watch(cluster, **options)

    return factory


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    import sys

    testing = sys.modules.get("quorumwatch.testing")
    kept = getattr(testing, "KEPT", []) if testing is not None else []
    if kept:
        terminalreporter.section("quorumwatch")
        for run in kept:
            report = Path(run) / "report.html"
            terminalreporter.write_line(
                f"run kept: {run}" + (f" (report: {report})" if report.exists() else "")
            )
