"""Rule packs: YAML lists of regular expressions that turn log messages into role events.

Events: leader_start, leader_stop, follower_start, epoch (a capture group `epoch`), session
transitions, believed_leader. Built-in packs live in `logs/packs/`; users add their own files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from quorumwatch.config import ConfigError, load_model

EventKind = Literal["leader_start", "leader_stop", "follower_start", "epoch", "session", "believed_leader"]


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    event: EventKind
    match: str
    """Regular expression searched in the message (the line after its timestamp)."""
    prefilter: str | None = None
    """Regular expression on the raw line that finds candidates; default: derived from match."""

    @field_validator("match", "prefilter")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"bad regular expression {v!r}: {exc}") from None
        return v


class PackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Rule:
    event: EventKind
    pattern: re.Pattern[str]
    pack: str
    prefilter: str


@dataclass(frozen=True)
class Pack:
    name: str
    rules: tuple[Rule, ...]

    def candidates(self) -> re.Pattern[bytes]:
        """One bytes alternation of every rule, to find candidate lines in big chunks quickly."""
        return re.compile("|".join(f"(?:{r.prefilter})" for r in self.rules).encode(), re.M)


def prefilter_of(pattern: str) -> str:
    """A rule's pattern usable on raw lines: anchors refer to the message, which starts after the
    timestamp, and group names may repeat across rules."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern.removeprefix("^"))


BUILTIN = ("zk-elected", "etcd", "zookeeper", "redis-sentinel")


def _compile(spec: PackSpec) -> Pack:
    return Pack(
        spec.name,
        tuple(
            Rule(r.event, re.compile(r.match), spec.name, r.prefilter or prefilter_of(r.match))
            for r in spec.rules
        ),
    )


def builtin(name: str) -> Pack:
    if name not in BUILTIN:
        raise ConfigError(f"no built-in rule pack {name!r} (built-ins: {', '.join(BUILTIN)})")
    path = resources.files("quorumwatch.logs") / "packs" / f"{name}.yaml"
    with resources.as_file(path) as p:
        return _compile(load_model(p, PackSpec, "name and rules"))


def load_pack(path: str | Path) -> Pack:
    return _compile(load_model(path, PackSpec, "name and rules"))


def quick_pack(leader_start: str, leader_stop: str, epoch: str | None = None) -> Pack:
    """--leader-start/--leader-stop/--epoch without a file."""
    specs = [
        RuleSpec(event="leader_start", match=leader_start),
        RuleSpec(event="leader_stop", match=leader_stop),
    ]
    if epoch:
        specs.append(RuleSpec(event="epoch", match=epoch))
    return _compile(PackSpec(name="command-line", rules=specs))


def merge(packs: list[Pack]) -> Pack:
    return Pack("+".join(p.name for p in packs), tuple(r for p in packs for r in p.rules))
