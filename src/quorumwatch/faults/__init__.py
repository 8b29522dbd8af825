"""Faults: what can be injected, planned as plain steps; healing lives in `faults.heal`."""

from __future__ import annotations

from quorumwatch.config import ClusterConfig
from quorumwatch.faults.base import Fault, FaultError, FaultPlan, Step, StepResult, StepRunner
from quorumwatch.faults.network import DelayFault, LinkFault, LossFault, PartitionFault
from quorumwatch.faults.process import CommandFault, KillFault, PauseFault
from quorumwatch.faults.specs import (
    CommandSpec,
    DelaySpec,
    FaultSpec,
    KillSpec,
    LinkSpec,
    LossSpec,
    PartitionSpec,
    PauseSpec,
)


def build_fault(spec: FaultSpec, cluster: ClusterConfig, chain: str) -> Fault:
    """The fault a spec describes, against a cluster. `chain` names its iptables chain, if any."""
    if isinstance(spec, LinkSpec):
        return LinkFault(spec, cluster)
    if isinstance(spec, PartitionSpec):
        return PartitionFault(spec, cluster, chain)
    if isinstance(spec, LossSpec):
        return LossFault(spec, cluster, chain)
    if isinstance(spec, DelaySpec):
        return DelayFault(spec, cluster)
    if isinstance(spec, KillSpec):
        return KillFault(spec, cluster)
    if isinstance(spec, PauseSpec):
        return PauseFault(spec, cluster)
    if isinstance(spec, CommandSpec):
        return CommandFault(spec, cluster)
    raise AssertionError(f"unhandled fault spec {spec!r}")


__all__ = ["Fault", "FaultError", "FaultPlan", "Step", "StepResult", "StepRunner", "build_fault"]
