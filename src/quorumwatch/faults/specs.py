"""Fault specifications as they appear in scenario files (validated data)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from quorumwatch.config import check_ifname

Target = str | list[str] | None


MAX_WAIT_S = 1e6
"""Longest hold, delay or wait a scenario may ask for (11.6 days): beyond it, a typo."""


class _FaultSpec(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False
    )  # `.inf` hold: a fault never healed

    target: Target = None
    """A node name, a list of names, or leader | follower | minority | majority | random | all."""
    after: float = Field(0.0, ge=0, le=MAX_WAIT_S)
    """Seconds after the trial starts (once the steady state holds)."""
    hold: float = Field(4.0, gt=0, le=MAX_WAIT_S)
    """Seconds between inject and heal."""


class LinkSpec(_FaultSpec):
    kind: Literal["link"]
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
    kind: Literal["partition"]
    mode: Literal["isolate", "halves", "majority-ring", "bridge", "groups"] = "isolate"
    groups: list[list[str]] | None = None
    direction: Literal["both", "inbound", "outbound"] = "both"
    """One-way partitions are relative to the first group (the targets): inbound drops what
    reaches them, outbound what they send."""


class LossSpec(_FaultSpec):
    kind: Literal["loss"]
    probability: float = Field(gt=0, le=1)
    peers: list[str] | None = None
    """Only traffic to and from these nodes; default: everything on the data interface."""


class DelaySpec(_FaultSpec):
    kind: Literal["delay"]
    delay_ms: float = Field(gt=0, le=MAX_WAIT_S)
    jitter_ms: float = Field(0, ge=0, le=MAX_WAIT_S)
    interface: str | None = None

    @field_validator("interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return None if v is None else check_ifname(v)


class KillSpec(_FaultSpec):
    kind: Literal["kill"]


class PauseSpec(_FaultSpec):
    kind: Literal["pause"]


class CommandSpec(_FaultSpec):
    kind: Literal["command"]
    inject: list[str] = Field(min_length=1)
    heal: list[str] = Field(min_length=1)
    local: bool = False
    """Run on this machine instead of through each target node's control channel."""


FaultSpec = Annotated[
    LinkSpec | PartitionSpec | LossSpec | DelaySpec | KillSpec | PauseSpec | CommandSpec,
    Field(discriminator="kind"),
]
