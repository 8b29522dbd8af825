"""Cluster files: YAML validated with pydantic, errors that name the file, the field and the line.

A cluster is nodes + one probe kind + tick interval + per-probe deadline. The deadline must be
shorter than the interval: a deadline longer than the tick lets a stale answer ("L" from a node that
already stepped down) masquerade as the present, the flaw that made home-made detectors cry wolf.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}\Z")
HOSTPORT_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d{1,5})\Z")


class ConfigError(Exception):
    """A user error in a file: the message is complete and printable as is (no traceback)."""


def shown(value: str, limit: int = 80) -> str:
    """A user's value as an error message quotes it: whole when short, cut when long (a 10 MB name
    must not make a 10 MB line)."""
    return repr(value if len(value) <= limit else value[:limit] + "…")


def check_name(value: str, what: str = "name") -> str:
    """Names end up in argv lists and file names: keep them to a safe alphabet."""
    if not NAME_RE.match(value):
        raise ValueError(f"invalid {what} {shown(value)}: use letters, digits, '_', '.', '-' (max 63)")
    return value


def check_ifname(value: str) -> str:
    if not IFNAME_RE.match(value):
        raise ValueError(f"invalid interface name {shown(value)}: letters, digits, '_.@-', at most 15")
    return value


def node_seconds(text: str) -> tuple[str, float]:
    """`NODE=SECONDS` (`--offset`, `--clock-offset`); ValueError for anything else, inf and nan too."""
    node, sep, value = text.partition("=")
    seconds = float(value) if sep and node else float("nan")
    if not math.isfinite(seconds):
        raise ValueError(f"{shown(text)}: expected NODE=SECONDS")
    return node, seconds


def split_hostport(address: str) -> tuple[str, int]:
    m = HOSTPORT_RE.match(address)
    if not m:
        raise ValueError(f"address must be host:port, got {shown(address)}")
    port = int(m["port"])
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {shown(address)}")
    return (m["v6"] or m["host"]), port


class _Strict(BaseModel):
    # `.inf` or `.nan` as an interval, hold or delay would be accepted and then wait forever
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# ---- control channels -------------------------------------------------------------------------


class NetnsControl(_Strict):
    netns: str

    @field_validator("netns")
    @classmethod
    def _ns(cls, v: str) -> str:
        return check_name(v, "namespace name")


class SshTarget(_Strict):
    host: str
    user: str | None = None
    port: int = Field(22, ge=1, le=65535)
    key: str | None = None
    known_hosts: str | None = None
    """Path to a known_hosts file; default: the user's. Host keys are always checked."""

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        return check_name(v, "ssh host")

    @field_validator("user")
    @classmethod
    def _user(cls, v: str | None) -> str | None:
        return None if v is None else check_name(v, "ssh user")


class SshControl(_Strict):
    ssh: SshTarget


def _control_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "Local"
    if isinstance(value, dict):
        return "Ssh" if "ssh" in value else "Netns" if "netns" in value else None
    if isinstance(value, SshControl):
        return "Ssh"
    return "Netns" if isinstance(value, NetnsControl) else None


Control = Annotated[
    Annotated[Literal["local"], Tag("Local")]
    | Annotated[NetnsControl, Tag("Netns")]
    | Annotated[SshControl, Tag("Ssh")],
    Discriminator(
        _control_tag,
        custom_error_type="control",
        custom_error_message="control must be 'local', {netns: NAME} or {ssh: {host, user, port, key}}",
    ),
]


# ---- secrets and TLS ---------------------------------------------------------------------------

ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\Z")


class SecretRef(_Strict):
    """A secret kept out of the cluster file: the value of an environment variable, or a file's
    content (one trailing newline dropped), read when the probes start."""

    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")
        if self.env is not None and not ENV_RE.match(self.env):
            raise ValueError(f"not an environment variable name: {shown(self.env)}")
        return self


def _secret(value: Any) -> SecretStr | SecretRef:
    """One message for every malformed secret (pydantic's union errors would be two, and cryptic)."""
    if isinstance(value, (SecretStr, SecretRef)):
        return value
    if isinstance(value, str):
        return SecretStr(value)
    if isinstance(value, dict) and len(value) == 1 and all(isinstance(v, str) for v in value.values()):
        try:
            return SecretRef.model_validate(value)
        except ValidationError as exc:  # SecretRef's own message, said once; else the general one
            first = exc.errors()[0]
            if first["type"] == "value_error":
                raise ValueError(first["msg"].removeprefix("Value error, ")) from None
    raise ValueError("a secret is a string, {env: NAME} or {file: PATH}")


REDACTED = "**********"


def _dump_secret(value: SecretStr | SecretRef) -> str | dict[str, str]:
    if isinstance(value, SecretStr):
        return REDACTED
    return value.model_dump(exclude_none=True)


Secret = Annotated[SecretStr | SecretRef, PlainValidator(_secret), PlainSerializer(_dump_secret)]
"""A literal (never printed, never written: copies of the file say `**********`) or a reference,
which copies keep (a variable's name or a file's path is not the secret)."""


def reveal(secret: Secret, what: str) -> str:
    """The secret's value; a missing variable or unreadable file is a ConfigError naming `what`."""
    import os

    if isinstance(secret, SecretStr):
        return secret.get_secret_value()
    if secret.env is not None:
        value = os.environ.get(secret.env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {secret.env} is not set")
        return value
    assert secret.file is not None
    try:
        text = Path(secret.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{what}: cannot read {shown(secret.file)}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    return text[:-1] if text.endswith("\n") else text


class TlsConfig(_Strict):
    """TLS to the node. Verification is on unless `insecure_skip_verify: true` is spelled out."""

    ca: str | None = None
    """PEM bundle of the certificate authorities to trust (default: the system's)."""
    cert: str | None = None
    """PEM client certificate, for servers that require one (etcd --client-cert-auth)."""
    key: str | None = None
    """PEM private key of `cert` (default: read from the `cert` file)."""
    server_name: str | None = None
    """The name to send (SNI) and to verify the server's certificate against (default: the host)."""
    insecure_skip_verify: bool = False

    @field_validator("server_name")
    @classmethod
    def _server_name(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^[A-Za-z0-9_.:-]{1,253}\Z", v):
            raise ValueError(f"server_name must be a host name or address, got {shown(v)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> TlsConfig:
        if self.key is not None and self.cert is None:
            raise ValueError("tls: key given without cert")
        if self.insecure_skip_verify and (self.ca is not None or self.server_name is not None):
            raise ValueError("tls: insecure_skip_verify verifies nothing: drop ca and server_name, or it")
        return self


class _TlsOptions(_Strict):
    https: bool | None = None
    """Speak TLS (default: when `tls` is given)."""
    tls: TlsConfig | None = None

    @model_validator(mode="after")
    def _tls(self) -> _TlsOptions:
        if self.https is False and self.tls is not None:
            raise ValueError("tls options given with https: false")
        return self

    @property
    def tls_settings(self) -> TlsConfig | None:
        """What TLS to speak, or None for plain text."""
        if self.tls is not None:
            return self.tls
        return TlsConfig() if self.https else None


# ---- probes -----------------------------------------------------------------------------------


def http_path(v: str) -> str:
    """A request path as an HTTP probe sends it: from `/`, no whitespace (it goes on the request line)."""
    if not v.startswith("/") or any(c in v for c in " \r\n"):
        raise ValueError(f"path must start with '/' and contain no spaces: {shown(v)}")
    return v


class EtcdProbeConfig(_TlsOptions):
    kind: Literal["etcd"]
    path: str = "/v3/maintenance/status"


class ZookeeperProbeConfig(_Strict):
    kind: Literal["zookeeper"]
    command: Literal["srvr", "mntr"] = "srvr"


class RedisAccess(_Strict):
    username: str | None = None
    """ACL user (Redis 6+); default: the `default` user."""
    password: Secret | None = None
    tls: TlsConfig | None = None

    @property
    def tls_settings(self) -> TlsConfig | None:
        """What TLS to speak, or None for plain text (as the HTTP probes' property says)."""
        return self.tls


class RedisProbeConfig(RedisAccess):
    kind: Literal["redis"]
    sentinels: list[str] = Field(default_factory=list)
    """Sentinels (`host:port`) to ask, every tick, which master they name
    (`SENTINEL get-master-addr-by-name master_name`), beside the nodes' own roles."""
    master_name: str = "mymaster"

    @field_validator("sentinels")
    @classmethod
    def _sentinels(cls, v: list[str]) -> list[str]:
        for address in v:
            split_hostport(address)
        return v


class RedisClusterProbeConfig(RedisAccess):
    """Redis Cluster: per node `CLUSTER INFO` and `CLUSTER NODES`; each slot range a master owns is
    a group it leads (its configEpoch the epoch), a replica follows its master's."""

    kind: Literal["redis-cluster"]


class HttpProbeConfig(_TlsOptions):
    """Generic HTTP: leader by status code, or by a JSON field (dotted path) equal to a value."""

    kind: Literal["http"]
    method: Literal["GET", "POST"] = "GET"
    path: str = "/"
    body: str | None = None
    leader_status: list[int] = Field(default_factory=lambda: [200])
    follower_status: list[int] = Field(default_factory=list)
    """Status codes that mean follower; empty: any other status from a working server."""
    json_field: str | None = None
    leader_value: Any = True
    role_values: dict[str, Literal["leader", "follower", "candidate", "observer"]] | None = None
    """Map the json_field's value to a role (e.g. {leader: leader, looking: candidate}); values not
    listed are unknown. Without it: leader_value means leader, anything else follower."""
    epoch_field: str | None = None
    leader_id_field: str | None = None

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return http_path(v)


class PatroniProbeConfig(_TlsOptions):
    """Patroni's REST API (`/patroni`, port 8008 by default): role, PostgreSQL's state, timeline."""

    kind: Literal["patroni"]
    path: str = "/patroni"

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return http_path(v)


_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


class MetricsProbeConfig(_TlsOptions):
    """A node's Prometheus exposition: leader when a sample equals a value (etcd's
    `etcd_server_is_leader 1`); the epoch, when given, from another sample."""

    kind: Literal["metrics"]
    path: str = "/metrics"
    leader_metric: str
    leader_labels: dict[str, str] = Field(default_factory=dict)
    """Labels the sample must carry (`{name: kube-controller-manager}`): exactly one must match."""
    leader_value: float = 1.0
    epoch_metric: str | None = None
    epoch_labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("leader_metric", "epoch_metric")
    @classmethod
    def _metric(cls, v: str | None) -> str | None:
        if v is not None and not _METRIC_NAME.fullmatch(v):
            raise ValueError(f"not a Prometheus metric name: {shown(v)}")
        return v

    @field_validator("leader_labels", "epoch_labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not _LABEL_NAME.fullmatch(k)]
        if bad:
            raise ValueError(f"not a Prometheus label name: {shown(bad[0])}")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return http_path(v)


class CommandProbeConfig(_Strict):
    """Run an argv through the node's control channel. `{name}`, `{address}`, `{host}`, `{port}`
    inside arguments are replaced by the node's values (each argument stays one argument)."""

    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)
    leader_exit_code: int = 0
    follower_exit_code: int = 1
    """Without patterns: these exit codes mean leader / follower; any other is unknown."""
    leader_regex: str | None = None
    follower_regex: str | None = None
    epoch_regex: str | None = None

    @field_validator("leader_regex", "follower_regex", "epoch_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"bad regular expression {shown(v)}: {exc}") from None
        return v


ProbeConfig = Annotated[
    EtcdProbeConfig
    | ZookeeperProbeConfig
    | RedisProbeConfig
    | RedisClusterProbeConfig
    | HttpProbeConfig
    | PatroniProbeConfig
    | MetricsProbeConfig
    | CommandProbeConfig,
    Field(discriminator="kind"),
]


# ---- nodes and cluster ------------------------------------------------------------------------


class ServerConfig(_Strict):
    """How to reach the node's server process, for kill and pause faults. Commands run through
    `control` (default: the node's own control channel)."""

    pid: list[str] | None = Field(None, min_length=1)
    """Prints the server's pid (e.g. [cat, /run/etcd.pid])."""
    kill: list[str] | None = Field(None, min_length=1)
    """Kills the server hard; default: `kill -9 <pid>`."""
    start: list[str] | None = Field(None, min_length=1)
    """(Re)starts the server; must succeed when it is already running."""
    control: Control | None = None


class NodeConfig(_Strict):
    name: str
    address: str
    """host:port of the management path the probe uses."""
    control: Control = "local"
    data_interface: str | None = None
    """The interface that carries cluster traffic (what link faults cut)."""
    data_address: str | None = None
    """The node's IP on the data network (what partitions and loss match on)."""
    server: ServerConfig | None = None
    logs: list[str] = Field(default_factory=list)
    """The node's log files (paths on the node), collected into the run directory at the end."""
    clock: list[str] | None = Field(None, min_length=1)
    """Prints the node's wall clock as seconds since the epoch (default `date +%s.%N`), run through
    `control` to measure its offset (`quorumwatch clocks`, and at the start and end of `run`)."""

    @field_validator("data_address")
    @classmethod
    def _data_address(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                ipaddress.ip_address(v)
            except ValueError:
                raise ValueError(f"data_address must be an IP address, got {shown(v)}") from None
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "node name")

    @field_validator("address")
    @classmethod
    def _address(cls, v: str) -> str:
        split_hostport(v)
        return v

    @field_validator("data_interface")
    @classmethod
    def _ifname(cls, v: str | None) -> str | None:
        return None if v is None else check_ifname(v)

    @property
    def host(self) -> str:
        return split_hostport(self.address)[0]

    @property
    def port(self) -> int:
        return split_hostport(self.address)[1]


class ClusterConfig(_Strict):
    name: str
    probe: ProbeConfig
    interval: float = Field(0.1, gt=0, le=3600)
    deadline: float | None = Field(None, gt=0)
    """Per-probe deadline in seconds; default 0.8 × interval."""
    nodes: list[NodeConfig] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "cluster name")

    @model_validator(mode="after")
    def _check(self) -> ClusterConfig:
        names = [n.name for n in self.nodes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate node names: {', '.join(dup)}")
        check_deadline(self.interval, self.effective_deadline)
        return self

    @property
    def effective_deadline(self) -> float:
        return self.deadline if self.deadline is not None else round(self.interval * 0.8, 6)

    def with_timing(self, interval: float | None, deadline: float | None) -> ClusterConfig:
        """Apply command-line overrides. A new interval without a deadline keeps the file's
        deadline only while it still fits inside the tick; otherwise it becomes 0.8 × interval."""
        new_interval = interval if interval is not None else self.interval
        if deadline is None:
            deadline = min(self.effective_deadline, round(new_interval * 0.8, 6))
        if not (0 < new_interval <= 3600 and 0 < deadline <= 3600):
            raise ConfigError("interval and deadline must be above 0 and at most 3600 s")
        check_deadline(new_interval, deadline, error=ConfigError)
        return self.model_copy(update={"interval": new_interval, "deadline": deadline})


def check_deadline(interval: float, deadline: float, error: type[Exception] = ValueError) -> None:
    if deadline >= interval:
        raise error(
            f"deadline {deadline:g} s must be shorter than the interval {interval:g} s: a probe answer "
            "older than the tick would show a leader that may already have stepped down"
        )


# ---- loading with line numbers ----------------------------------------------------------------


@dataclass(frozen=True)
class _Located:
    data: Any
    lines: dict[tuple[str | int, ...], int]


MAX_DEPTH = 64
"""Nesting deeper than this is no configuration (and would exhaust the parser's recursion)."""


def _compose(text: str, source: str) -> _Located:
    """Parse YAML keeping the line of every mapping key and sequence item, for error messages."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to be a configuration") from None
    lines: dict[tuple[str | int, ...], int] = {}
    merger = yaml.SafeLoader("")

    def walk(node: yaml.Node | None, path: tuple[str | int, ...]) -> Any:
        if node is None:
            return None
        line = node.start_mark.line + 1
        if len(path) > MAX_DEPTH:
            raise ConfigError(f"{source}:{line}: nested more than {MAX_DEPTH} levels deep")
        lines[path] = line
        if isinstance(node, yaml.MappingNode):
            try:
                merger.flatten_mapping(node)  # `<<: *anchor` merge keys, as YAML 1.1 defines them
            except yaml.YAMLError as exc:
                raise ConfigError(f"{source}:{line}: {getattr(exc, 'problem', None) or exc}") from None
            out: dict[Any, Any] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise ConfigError(f"{source}:{k.start_mark.line + 1}: a key must be a plain value")
                key = _scalar(k, source)
                lines[(*path, key)] = k.start_mark.line + 1
                out[key] = walk(v, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [walk(item, (*path, i)) for i, item in enumerate(node.value)]
        return _scalar(node, source)

    try:
        return _Located(walk(root, ()), lines)
    finally:
        merger.dispose()


def _scalar(node: yaml.Node, source: str) -> Any:
    """One value, as the safe loader reads it; a value it cannot read is a one-line error (unknown
    tags, `!!timestamp 2020-13-45`, `!!bool maybe`, integers of thousands of digits)."""
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except Exception as exc:  # PyYAML's constructors fail in many ways on odd values: all the user's to fix
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, KeyError):  # the safe loader's lookup of `!!bool maybe`
            problem = f"not a valid {node.tag.rsplit(':', 1)[-1]}"
        value = str(node.value) if isinstance(node, yaml.ScalarNode) else node.tag
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ConfigError(
            f"{source}:{node.start_mark.line + 1}: cannot read {shown!r}: {problem[:120]}"
        ) from None
    finally:
        loader.dispose()


def format_validation_error(exc: ValidationError, source: str, located: _Located) -> str:
    """One line per problem: `file:line: field.path: message`."""
    out = []
    for err in exc.errors():
        loc = _data_path(located.data, err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx", {})
            loc = (*loc, str(ctx.get("discriminator", "'kind'")).strip("'"))
            got = f"unknown kind {ctx['tag']!r}" if "tag" in ctx else "missing"
            # an enum's tags come as reprs (`<FaultKind.LINK: 'link'>`): the file spells the value
            tags = re.sub(r"<\w+\.\w+: ('[^']*')>", r"\1", str(ctx.get("expected_tags", "")))
            msg = f"{got}; choose one of {tags}"
        line = None
        for cut in range(len(loc), -1, -1):
            line = located.lines.get(tuple(loc[:cut]))
            if line is not None:
                break
        field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top)"
        where = f"{source}:{line}" if line else source
        out.append(f"{where}: {field}: {msg}")
    return "\n".join(out)


def _data_path(data: Any, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the union tags pydantic puts in error locations ("NetnsControl", "etcd"), keeping
    only the parts that exist in the user's document."""
    path: list[str | int] = []
    cur = data
    for part in loc:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        elif isinstance(cur, dict) and cur.get("kind") == part:
            continue  # the tag of a tagged union (probe or fault kind), not a field
        elif isinstance(cur, dict) and isinstance(part, str) and part not in cur and not _is_tag(part):
            path.append(part)  # a missing or unknown field: name it, stop descending
            cur = None
            continue
        else:
            continue
        path.append(part)
    return tuple(path)


def _is_tag(part: str) -> bool:
    return part.startswith(("literal[", "function-")) or part[:1].isupper() or part in _PROBE_KINDS


_PROBE_KINDS = {"etcd", "zookeeper", "redis", "http", "patroni", "metrics", "command"}


M = TypeVar("M", bound=BaseModel)


MAX_CONFIG_BYTES = 4 << 20
"""A configuration larger than this is not one (`/dev/zero` given as a cluster file)."""


def read_config_text(p: Path) -> str:
    """The text of a configuration file: a regular file (a FIFO would block, a device never end),
    at most MAX_CONFIG_BYTES, UTF-8; else a one-line ConfigError."""
    try:
        if not p.exists():
            raise ConfigError(f"{p}: no such file")
        if not p.is_file():
            raise ConfigError(f"{p}: not a regular file")
        with p.open("rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_CONFIG_BYTES >> 20} MB: not a configuration file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None


def load_model(path: str | Path, model: type[M], what: str, context: dict[str, Any] | None = None) -> M:
    """Read a YAML file into a validated model; ConfigError naming file, line and field."""
    p = Path(path)
    text = read_config_text(p)
    located = _compose(text, str(p))
    if not isinstance(located.data, dict):
        raise ConfigError(f"{p}: expected a mapping with {what}")
    try:
        return model.model_validate(located.data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p), located)) from None


def load_cluster(path: str | Path) -> ClusterConfig:
    """Read and validate a cluster file, raising ConfigError with a printable message."""
    return load_model(path, ClusterConfig, "name, probe and nodes")


def dump_cluster(cluster: ClusterConfig) -> str:
    """YAML for a cluster, as `lab up` writes it; loads back to an equal config."""
    data = cluster.model_dump(mode="json", exclude_none=True)
    return yaml.safe_dump(data, sort_keys=False)
