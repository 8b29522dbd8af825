"""Scenario files: an experiment as validated data (Chaos Toolkit style).

cluster: ../labs/t1/cluster.yaml     # a path (relative to this file) or an inline cluster
interval: 0.1
steady_state: {leaders: 1, for: 2, within: 30}
faults:
  - {kind: link, target: leader, after: 1, hold: 4}
trials: 3
cooldown: 2
workload: {kind: set, rate: 50}       # optional: did a second leader do harm?
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field

from quorumwatch.config import ClusterConfig, ConfigError, _Strict, check_deadline, load_cluster, load_model
from quorumwatch.faults.specs import MAX_WAIT_S, FaultSpec
from quorumwatch.workload.spec import WorkloadSpec, check_workload


class SteadyState(_Strict):
    """Must hold before the first trial and again after each trial's faults are healed."""

    leaders: int = Field(1, ge=0)
    """Exactly this many nodes answer leader; every other node answers follower or observer."""
    hold_for: float = Field(2.0, ge=0, le=MAX_WAIT_S, alias="for")
    within: float = Field(30.0, gt=0, le=MAX_WAIT_S)


class Scenario(_Strict):
    name: str | None = None
    cluster: str | ClusterConfig | None = None
    interval: float | None = Field(None, gt=0, le=3600)
    deadline: float | None = Field(None, gt=0, le=3600)
    steady_state: SteadyState = SteadyState()
    faults: list[FaultSpec] = Field(min_length=1)
    trials: int = Field(1, ge=1, le=10_000)
    cooldown: float = Field(2.0, ge=0, le=MAX_WAIT_S)
    seed: int | None = None
    workload: WorkloadSpec | None = None
    """Operations sent through the nodes while faults come and go, to measure harm."""


def load_scenario(
    path: str | Path, cluster_override: str | Path | None = None
) -> tuple[Scenario, ClusterConfig]:
    """The scenario and the cluster it runs against (`--cluster` wins over the file's)."""
    p = Path(path)
    scenario = load_model(p, Scenario, "faults")
    if cluster_override is not None:
        cluster = load_cluster(cluster_override)
    elif isinstance(scenario.cluster, ClusterConfig):
        cluster = scenario.cluster
    elif isinstance(scenario.cluster, str):
        cluster = load_cluster(p.parent / scenario.cluster)
    else:
        raise ConfigError(f"{p}: no cluster: name one in the file (cluster: PATH) or pass --cluster FILE")
    interval = scenario.interval or cluster.interval
    deadline = scenario.deadline
    try:
        cluster = cluster.with_timing(interval, deadline)
        check_deadline(cluster.interval, cluster.effective_deadline, ConfigError)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    names = {n.name for n in cluster.nodes}
    for i, spec in enumerate(scenario.faults):
        from quorumwatch.faults.specs import ROLE_TARGETS, NodesTarget

        bad = [t for t in spec.target.nodes if t not in names] if isinstance(spec.target, NodesTarget) else []
        if bad:
            raise ConfigError(
                f"{p}: faults[{i}].target: unknown node or role {bad[0]!r} "
                f"(nodes: {', '.join(sorted(names))}; roles: {', '.join(ROLE_TARGETS)})"
            )
        groups = getattr(spec, "groups", None) or []
        seen: set[str] = set()
        for g, group in enumerate(groups):
            for name in group:
                if name not in names:
                    raise ConfigError(f"{p}: faults[{i}].groups[{g}]: unknown node {name!r}")
                if name in seen:
                    raise ConfigError(f"{p}: faults[{i}].groups[{g}]: node {name!r} is in two groups")
                seen.add(name)
    if scenario.steady_state.leaders > len(cluster.nodes):
        raise ConfigError(
            f"{p}: steady_state.leaders: {scenario.steady_state.leaders} leaders among "
            f"{len(cluster.nodes)} nodes can never hold"
        )
    if scenario.workload is not None:
        check_workload(scenario.workload, cluster, str(p))
    return scenario, cluster


def dump_scenario(scenario: Scenario, cluster: ClusterConfig) -> str:
    """The scenario as run: cluster inlined, so the run directory is self-contained."""
    data = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["cluster"] = cluster.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
