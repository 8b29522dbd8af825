"""Workloads: operations sent through the nodes while they are watched, to tell whether a second
leader did harm (lost acknowledged writes, duplicate IDs, stale reads of a register). Checkers live in
`analysis.harm` and `analysis.linearizability`."""

from __future__ import annotations

from quorumwatch.workload.actor import Workload, WorkloadStats
from quorumwatch.workload.clients import OpResult, ReadError, WorkloadClient, make_client
from quorumwatch.workload.spec import WorkloadSpec, check_workload, load_workload

__all__ = [
    "OpResult",
    "ReadError",
    "Workload",
    "WorkloadClient",
    "WorkloadSpec",
    "WorkloadStats",
    "check_workload",
    "load_workload",
    "make_client",
]
