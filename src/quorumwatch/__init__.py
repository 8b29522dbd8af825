"""quorumwatch: find split brain in leader-elected clusters — live, under faults, and from logs.

The public API (docs/api.md) is what `__all__` lists; everything else is internal. Names load on
first use, so `import quorumwatch` (and the CLI's start-up) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from quorumwatch._version import __version__

if TYPE_CHECKING:
    from quorumwatch.analysis import Analysis as Analysis
    from quorumwatch.api import RunResult as RunResult
    from quorumwatch.api import Watch as Watch
    from quorumwatch.api import analyze as analyze
    from quorumwatch.api import analyze_logs as analyze_logs
    from quorumwatch.api import analyze_ticks as analyze_ticks
    from quorumwatch.api import observe as observe
    from quorumwatch.api import run_experiment as run_experiment
    from quorumwatch.config import ClusterConfig as ClusterConfig
    from quorumwatch.config import ConfigError as ConfigError
    from quorumwatch.config import load_cluster as load_cluster
    from quorumwatch.lab.api import Lab as Lab
    from quorumwatch.logs.scan import LogRun as LogRun
    from quorumwatch.model import Event as Event
    from quorumwatch.model import FailOn as FailOn
    from quorumwatch.model import Harm as Harm
    from quorumwatch.model import Observation as Observation
    from quorumwatch.model import Operation as Operation
    from quorumwatch.model import Role as Role
    from quorumwatch.model import Tick as Tick
    from quorumwatch.model import Verdict as Verdict
    from quorumwatch.report.schema import Results as Results
    from quorumwatch.scenario import Scenario as Scenario
    from quorumwatch.scenario import load_scenario as load_scenario
    from quorumwatch.workload.spec import WorkloadSpec as WorkloadSpec
    from quorumwatch.workload.spec import load_workload as load_workload

_WHERE = {
    "Analysis": "quorumwatch.analysis",
    "RunResult": "quorumwatch.api",
    "Watch": "quorumwatch.api",
    "analyze": "quorumwatch.api",
    "analyze_logs": "quorumwatch.api",
    "analyze_ticks": "quorumwatch.api",
    "observe": "quorumwatch.api",
    "run_experiment": "quorumwatch.api",
    "ClusterConfig": "quorumwatch.config",
    "ConfigError": "quorumwatch.config",
    "load_cluster": "quorumwatch.config",
    "Lab": "quorumwatch.lab.api",
    "LogRun": "quorumwatch.logs.scan",
    "Event": "quorumwatch.model",
    "FailOn": "quorumwatch.model",
    "Harm": "quorumwatch.model",
    "Observation": "quorumwatch.model",
    "Operation": "quorumwatch.model",
    "Role": "quorumwatch.model",
    "Tick": "quorumwatch.model",
    "Verdict": "quorumwatch.model",
    "Results": "quorumwatch.report.schema",
    "Scenario": "quorumwatch.scenario",
    "load_scenario": "quorumwatch.scenario",
    "WorkloadSpec": "quorumwatch.workload.spec",
    "load_workload": "quorumwatch.workload.spec",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'quorumwatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
