"""Workloads as validated data: what to send, how often, through which nodes, with which client.

workload:
  kind: set              # set | unique-ids | register
  rate: 50               # operations per second, in total
  route: claimed-leaders # claimed-leaders | each-node | {node: NAME}
  client: etcd           # etcd | redis | redis-cluster | postgres | http | command; default: from the probe
  # register only: writes of values unique within the run, reads (and compare-and-set) over keys
  keys: 3
  read_ratio: 0.5
  cas_ratio: 0.0
  read: linearizable     # etcd: linearizable | serializable (answered by the member alone)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from quorumwatch.config import ClusterConfig, ConfigError, Secret, _Strict, check_name, load_model
from quorumwatch.model import WorkloadKind


class RouteToNode(_Strict):
    node: str

    @field_validator("node")
    @classmethod
    def _node(cls, v: str) -> str:
        return check_name(v, "node name")


def _template(v: str) -> str:
    """Only the documented placeholders: a typo must not silently send a literal `{vaule}`."""
    for name in re.findall(r"\{([^{}]*)\}", v):
        if name not in {"value", "name", "address", "host", "port", "key", "expect"}:
            raise ValueError(
                f"unknown placeholder {{{name}}} in {v!r} (use {{value}}, {{key}}, {{expect}}, "
                "{name}, {address})"
            )
    return v


class HttpOps(_Strict):
    """A generic HTTP service: one request per operation, `{value}` (and a register's `{key}`,
    `{expect}`) filled into path and body. A register writes with `method`/`path`/`body`, reads
    with `read_method`/`read_path` (the value: the body, or `read_field` of a JSON object), and
    compares-and-sets with `cas_*`."""

    method: Literal["GET", "POST", "PUT"] = "POST"
    path: str = "/"
    body: str | None = None
    ok_status: list[int] = Field(default_factory=lambda: [200, 201, 204])
    fail_status: list[int] | None = None
    """Statuses that are a definite rejection (the operation did not happen); default: any 4xx.
    Any other status is `unknown`: the server may have acted before it failed."""
    id_field: str | None = None
    """unique-ids: the answer's JSON field holding the ID (dotted path); default: the whole body."""
    read_method: Literal["GET", "POST"] = "GET"
    read_path: str | None = None
    """set: the request that returns every element (a JSON list, or `read_field` of a JSON object);
    register: the request that reads one key."""
    read_field: str | None = None
    absent_status: list[int] = Field(default_factory=lambda: [404])
    """register: a read answered with one of these found the key empty (never written)."""
    cas_method: Literal["POST", "PUT"] = "POST"
    cas_path: str | None = None
    """register: compare-and-set `{key}` from `{expect}` (empty: the key must be absent) to
    `{value}`."""
    cas_body: str | None = None
    cas_mismatch_status: list[int] = Field(default_factory=lambda: [409, 412])
    """register: a cas answered with one of these was refused because the key held another value
    (a fact the checker uses); any other failure means it never happened."""

    @field_validator("path", "body", "read_path", "cas_path", "cas_body")
    @classmethod
    def _placeholders(cls, v: str | None) -> str | None:
        return None if v is None else _template(v)


class CommandOps(_Strict):
    """A command per operation, run through the node's control channel; exit 0 means ok."""

    argv: list[str] = Field(min_length=1)
    fail_exit_codes: list[int] = Field(default_factory=lambda: [1])
    """Exit codes that are a definite rejection; any other non-zero exit is `unknown`."""
    read_argv: list[str] | None = Field(None, min_length=1)
    """set: prints every element, one per line; register: prints the key's value."""
    absent_exit_codes: list[int] = Field(default_factory=list)
    """register: a read exiting with one of these found the key empty."""
    cas_argv: list[str] | None = Field(None, min_length=1)
    """register: compare-and-set (`{expect}` empty: the key must be absent)."""
    cas_mismatch_exit_codes: list[int] = Field(default_factory=list)
    """register: a cas exiting with one of these found another value (a fact the checker uses); any
    other failure means it never happened."""

    @field_validator("argv", "read_argv", "cas_argv")
    @classmethod
    def _placeholders(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [_template(a) for a in v]


class PostgresOps(_Strict):
    """PostgreSQL (a Patroni cluster's nodes): each node's PostgreSQL at the probe address's host.
    The run creates its table; a set inserts rows, a register upserts and selects them."""

    port: int = Field(5432, ge=1, le=65535)
    dbname: str = "postgres"
    user: str = "postgres"
    password: Secret | None = None
    """A literal or `{env: VAR}` / `{file: PATH}`; none: the server's own rule (trust, .pgpass)."""
    connect_timeout: float = Field(2.0, gt=0, le=600)
    """Seconds to open a connection; past it the operation failed (it never reached the server)."""


class FinalReadSpec(_Strict):
    within: float = Field(30.0, gt=0, le=3600)
    """Seconds to wait, after the workload stops, for one agreed leader to read from."""
    timeout: float = Field(5.0, gt=0, le=600)


class WorkloadSpec(_Strict):
    kind: WorkloadKind
    rate: float = Field(50.0, gt=0, le=10_000)
    route: Literal["claimed-leaders", "each-node"] | RouteToNode = "claimed-leaders"
    client: Literal["etcd", "redis", "redis-cluster", "postgres", "http", "command"] | None = None
    timeout: float = Field(1.0, gt=0, le=600)
    """Per operation: past this the outcome is `unknown` (it may still take effect)."""
    prefix: str = "quorumwatch"
    """etcd: keys `<prefix>/<run>/<n>`; Redis: the set `<prefix>:<run>`; a register's keys:
    `<prefix>/<run>/k<i>` (etcd), `<prefix>:<run>:k<i>` (Redis), `k<i>` (`{key}` elsewhere)."""
    keys: int = Field(3, ge=1, le=100_000)
    """register: how many keys (each checked on its own)."""
    read_ratio: float = Field(0.5, ge=0, le=1)
    """register: the share of operations that read."""
    cas_ratio: float = Field(0.0, ge=0, le=1)
    """register: the share that compare-and-set (from the last value this run saw of the key)."""
    read: Literal["linearizable", "serializable"] = "linearizable"
    """register, etcd: `serializable` reads are answered by the member alone, without the leader."""
    seed: int = 1
    """register: which operation and key each slot gets (the same seed, the same sequence)."""
    http: HttpOps | None = None
    command: CommandOps | None = None
    postgres: PostgresOps | None = None
    final_read: FinalReadSpec = FinalReadSpec()

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_./:-]{1,100}", v):
            raise ValueError(f"prefix {v!r}: letters, digits and '_./:-', at most 100")
        return v

    @model_validator(mode="after")
    def _client_fits(self) -> WorkloadSpec:
        if self.client == "http" and self.http is None:
            raise ValueError("client http needs an `http:` section (method, path, ...)")
        if self.client == "command" and self.command is None:
            raise ValueError("client command needs a `command:` section (argv, ...)")
        if self.kind == "unique-ids" and self.client in ("etcd", "redis", "redis-cluster", "postgres"):
            raise ValueError(f"unique-ids needs an http or command client, not {self.client}")
        if self.read_ratio + self.cas_ratio > 1:
            raise ValueError(f"read_ratio {self.read_ratio:g} + cas_ratio {self.cas_ratio:g} is more than 1")
        extra = sorted({"keys", "read_ratio", "cas_ratio", "read"} & self.model_fields_set)
        if self.kind != "register" and extra:
            raise ValueError(f"{', '.join(extra)}: for kind register only")
        return self

    def client_for(self, cluster: ClusterConfig) -> str:
        """The client kind: as given, else the cluster's probe kind when that is a client kind."""
        if self.client is not None:
            return self.client
        kind = cluster.probe.kind
        if kind in ("etcd", "redis", "redis-cluster") and self.kind in ("set", "register"):
            return kind
        if kind == "patroni" and self.kind in ("set", "register"):
            return "postgres"
        if kind == "http" and self.http is not None:
            return "http"
        if kind == "command" and self.command is not None:
            return "command"
        raise ConfigError(
            f"workload: no client for probe kind {kind!r}; "
            "set `client:` (etcd, redis, redis-cluster, postgres, http, command)"
        )


def check_workload(spec: WorkloadSpec, cluster: ClusterConfig, source: str) -> str:
    """Cross-checks against the cluster; the client kind to use. ConfigError names the file."""
    try:
        client = spec.client_for(cluster)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    if isinstance(spec.route, RouteToNode) and spec.route.node not in {n.name for n in cluster.nodes}:
        raise ConfigError(
            f"{source}: workload.route.node: no node named {spec.route.node!r} "
            f"(nodes: {', '.join(n.name for n in cluster.nodes)})"
        )
    if spec.kind == "set" and client == "http" and spec.http and spec.http.read_path is None:
        raise ConfigError(f"{source}: workload.http.read_path: a set needs a request that reads it back")
    if spec.kind == "set" and client == "command" and spec.command and spec.command.read_argv is None:
        raise ConfigError(f"{source}: workload.command.read_argv: a set needs a command that reads it back")
    if spec.kind == "register":
        if spec.read != "linearizable" and client != "etcd":
            raise ConfigError(f"{source}: workload.read: {spec.read} reads are an etcd client's choice")
        if client == "http" and spec.http:
            if spec.read_ratio and spec.http.read_path is None:
                raise ConfigError(f"{source}: workload.http.read_path: a register's reads need a request")
            if spec.cas_ratio and spec.http.cas_path is None:
                raise ConfigError(f"{source}: workload.http.cas_path: cas_ratio needs a request")
        if client == "command" and spec.command:
            if spec.read_ratio and spec.command.read_argv is None:
                raise ConfigError(f"{source}: workload.command.read_argv: a register's reads need a command")
            if spec.cas_ratio and spec.command.cas_argv is None:
                raise ConfigError(f"{source}: workload.command.cas_argv: cas_ratio needs a command")
    return client


class _WorkloadSection(_Strict):
    # other top-level keys are allowed: a scenario file can serve as the workload file
    model_config = ConfigDict(extra="ignore", frozen=True)
    workload: WorkloadSpec


def load_workload(path: str | Path) -> WorkloadSpec:
    """`watch --workload FILE`: the `workload:` section of a file (a scenario file works too)."""
    return load_model(path, _WorkloadSection, "a workload section").workload
