"""Fault specifications as they appear in scenario files (validated data)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from quorumwatch.config import check_ifname
from quorumwatch.model import FaultKind

RoleName = Literal["leader", "follower", "minority", "majority", "random", "all"]
ROLE_TARGETS: tuple[RoleName, ...] = get_args(RoleName)


class RoleTarget(BaseModel):
    """The nodes that hold a role when the fault is injected (`{role: leader}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: RoleName
    group: str | None = None
    """A sharded cluster: the role in one group (a slot range such as `0-5460`, or `workload`:
    the group holding the workload's keys)."""

    def spelled(self) -> str | dict[str, str]:
        return self.role if self.group is None else {"role": self.role, "group": self.group}


class NodesTarget(BaseModel):
    """Named nodes (`{nodes: [n1, n2]}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    nodes: list[str] = Field(min_length=1)

    def spelled(self) -> list[str]:
        return list(self.nodes)


def _target_tag(v: Any) -> str | None:
    if isinstance(v, RoleTarget | NodesTarget):
        return "role" if isinstance(v, RoleTarget) else "nodes"
    if isinstance(v, dict):
        return "role" if "role" in v else "nodes" if "nodes" in v else None
    return None


FaultTarget = Annotated[
    Annotated[RoleTarget, Tag("role")] | Annotated[NodesTarget, Tag("nodes")],
    Discriminator(
        _target_tag,
        custom_error_type="target",
        custom_error_message="a node, a list of nodes, {role: ROLE} or {nodes: [...]}",
    ),
]
"""Which nodes a fault hits: a tagged union. The older spellings are read into it: a role name
(`leader`), a node name (`n1`), a list of names, or nothing (every node)."""


MAX_WAIT_S = 1e6
"""Longest hold, delay or wait a scenario may ask for (11.6 days): beyond it, a typo."""


class _FaultSpec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False
    )  # `.inf` hold: a fault never healed

    target: FaultTarget = RoleTarget(role="all")
    """`{role: leader | follower | minority | majority | random | all}` or `{nodes: [names]}`;
    also spelled as a role name, a node name or a list of names."""
    after: float = Field(0.0, ge=0, le=MAX_WAIT_S)
    """Seconds after the trial starts (once the steady state holds)."""
    hold: float = Field(4.0, gt=0, le=MAX_WAIT_S)
    """Seconds between inject and heal."""

    @field_validator("target", mode="before")
    @classmethod
    def _spellings(cls, v: Any) -> Any:
        if v is None:
            return {"role": "all"}
        if isinstance(v, str):
            return {"role": v} if v in ROLE_TARGETS else {"nodes": [v]}
        if isinstance(v, list):
            return {"nodes": v}
        return v


class LinkSpec(_FaultSpec):
    kind: Literal[FaultKind.LINK]
    interface: str | None = None
    """Default: each node's data_interface."""
    method: Literal["ip", "ifupdown"] = "ip"
    deadman_margin: float = Field(10.0, ge=1, le=MAX_WAIT_S)
    """Over SSH, the node brings the link back by itself after hold + this margin."""

    @field_validator("interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return None if v is None else check_ifname(v)


class PartitionSpec(_FaultSpec):
    kind: Literal[FaultKind.PARTITION]
    mode: Literal["isolate", "halves", "majority-ring", "bridge", "groups"] = "isolate"
    groups: list[list[str]] | None = None
    direction: Literal["both", "inbound", "outbound"] = "both"
    """One-way partitions are relative to the first group (the targets): inbound drops what
    reaches them, outbound what they send."""


class LossSpec(_FaultSpec):
    kind: Literal[FaultKind.LOSS]
    probability: float = Field(gt=0, le=1)
    peers: list[str] | None = None
    """Only traffic to and from these nodes; default: everything on the data interface."""


class DelaySpec(_FaultSpec):
    kind: Literal[FaultKind.DELAY]
    delay_ms: float = Field(gt=0, le=MAX_WAIT_S)
    jitter_ms: float = Field(0, ge=0, le=MAX_WAIT_S)
    interface: str | None = None

    @field_validator("interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return None if v is None else check_ifname(v)


class KillSpec(_FaultSpec):
    kind: Literal[FaultKind.KILL]


class PauseSpec(_FaultSpec):
    kind: Literal[FaultKind.PAUSE]


class CommandSpec(_FaultSpec):
    kind: Literal[FaultKind.COMMAND]
    inject: list[str] = Field(min_length=1)
    heal: list[str] = Field(min_length=1)
    local: bool = False
    """Run on this machine instead of through each target node's control channel."""


FaultSpec = Annotated[
    LinkSpec | PartitionSpec | LossSpec | DelaySpec | KillSpec | PauseSpec | CommandSpec,
    Field(discriminator="kind"),
]
