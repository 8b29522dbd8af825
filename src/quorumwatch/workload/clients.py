"""Workload clients: one operation through one node, and the final read of the whole set.

A register's read answers the value (None: the key held nothing) in `OpResult.value`; a read that
does not answer a value says nothing about the register, whatever its outcome.

Each client says what it learned and nothing more: `ok` (the node acknowledged), `fail` (a definite
rejection: the node refused before acting, or the request never reached it), `unknown` (anything
after which the operation may still have happened). The runner bounds every call with an absolute
deadline; a cancelled call leaves no half-used connection behind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from quorumwatch.config import (
    EtcdProbeConfig,
    HttpProbeConfig,
    NodeConfig,
    ProbeConfig,
    RedisAccess,
    RedisClusterProbeConfig,
    RedisProbeConfig,
    TlsConfig,
    reveal,
)
from quorumwatch.model import COMPARE_FAILED, Outcome, WorkloadKind, excerpt
from quorumwatch.probes.transport import HttpConnection, connection
from quorumwatch.workload.spec import CommandOps, HttpOps, PostgresOps, WorkloadSpec


@dataclass(frozen=True, slots=True)
class OpResult:
    outcome: Outcome
    value: str | None = None
    """unique-ids: the ID answered; register reads: the value read (None: the key was empty)."""
    epoch: int | None = None
    detail: str | None = None
    node: str | None = None
    """The node that answered, when the client was redirected to another (Redis Cluster's MOVED)."""


class ReadError(Exception):
    """The final read failed; the message says why (printable)."""


class WorkloadClient(Protocol):
    """Sends workload operations through nodes. One per run; connections are its own business."""

    async def add(self, node: NodeConfig, element: str) -> OpResult: ...

    async def new_id(self, node: NodeConfig) -> OpResult: ...

    async def read_all(self, node: NodeConfig) -> frozenset[str]: ...

    async def write(self, node: NodeConfig, key: str, value: str) -> OpResult: ...

    async def read(self, node: NodeConfig, key: str) -> OpResult: ...

    async def cas(self, node: NodeConfig, key: str, expect: str | None, value: str) -> OpResult: ...

    async def aclose(self) -> None: ...


def _field(doc: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(doc, dict) or part not in doc:
            raise KeyError(dotted)
        doc = doc[part]
    return doc


class _HttpPool:
    """Idle keep-alive connections per node; an operation takes one, or opens one."""

    def __init__(self, max_response: int = 1 << 20, tls: TlsConfig | None = None) -> None:
        self._idle: dict[tuple[str, int], list[HttpConnection]] = {}
        self._max = max_response
        self._tls = tls

    @asynccontextmanager
    async def connection(self, host: str, port: int) -> AsyncIterator[HttpConnection]:
        idle = self._idle.setdefault((host, port), [])
        conn = idle.pop() if idle else connection(host, port, self._tls, max_response=self._max)
        try:
            yield conn
        except BaseException:
            await conn.aclose()
            raise
        idle.append(conn)

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                await c.aclose()
        self._idle.clear()


class EtcdClient:
    """etcd v3 through its JSON gateway: a put per element under `<prefix>/<run>/`, a linearizable
    range read (paged) at the end. The put's answer carries the node's raft term: the epoch."""

    # gRPC codes etcd returns before proposing anything: the write did not happen
    DEFINITE: ClassVar[dict[int, str]] = {
        3: "invalid argument",
        7: "permission denied",
        8: "too many requests",
        16: "unauthenticated",
    }

    def __init__(self, spec: WorkloadSpec, run: str, tls: TlsConfig | None = None) -> None:
        self._base = f"{spec.prefix}/{run}/"
        self._pool = _HttpPool(max_response=64 << 20, tls=tls)
        self._serializable = spec.read == "serializable"

    async def _post(self, node: NodeConfig, path: str, doc: dict[str, Any]) -> tuple[int, bytes] | None:
        """One gateway call; None when the connection was refused (nothing was sent)."""
        try:
            async with self._pool.connection(node.host, node.port) as conn:
                resp = await conn.request("POST", path, json.dumps(doc).encode())
        except ConnectionRefusedError:
            return None
        return resp.status, resp.body

    async def write(self, node: NodeConfig, key: str, value: str) -> OpResult:
        got = await self._post(
            node, "/v3/kv/put", {"key": self._b64(self._base + key), "value": self._b64(value)}
        )
        return (
            OpResult(Outcome.FAIL, detail="connection refused") if got is None else self.interpret_put(*got)
        )

    async def read(self, node: NodeConfig, key: str) -> OpResult:
        doc = {"key": self._b64(self._base + key), "serializable": self._serializable}
        got = await self._post(node, "/v3/kv/range", doc)
        return (
            OpResult(Outcome.FAIL, detail="connection refused") if got is None else self.interpret_range(*got)
        )

    async def cas(self, node: NodeConfig, key: str, expect: str | None, value: str) -> OpResult:
        k = self._b64(self._base + key)
        compare: dict[str, Any] = (
            {"key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"}
            if expect is None
            else {"key": k, "target": "VALUE", "result": "EQUAL", "value": self._b64(expect)}
        )
        doc = {"compare": [compare], "success": [{"request_put": {"key": k, "value": self._b64(value)}}]}
        got = await self._post(node, "/v3/kv/txn", doc)
        return (
            OpResult(Outcome.FAIL, detail="connection refused") if got is None else self.interpret_txn(*got)
        )

    @classmethod
    def interpret_range(cls, status: int, body: bytes) -> OpResult:
        """The value one range answer read (pure); None when the key is absent."""
        got = cls._answered(status, body)
        if isinstance(got, OpResult):
            return got
        doc, epoch = got
        try:
            kvs = doc.get("kvs") or []
            value = base64.b64decode(kvs[0].get("value", ""), validate=True).decode() if kvs else None
        except (ValueError, TypeError, AttributeError, IndexError):
            return OpResult(Outcome.UNKNOWN, detail=f"HTTP {status}: {excerpt(body)!r}")
        return OpResult(Outcome.OK, value, epoch)

    @classmethod
    def interpret_txn(cls, status: int, body: bytes) -> OpResult:
        """Outcome of one compare-and-set answer (pure): `succeeded` absent is false in proto3 JSON,
        a definite "the value was not the expected one"."""
        got = cls._answered(status, body)
        if isinstance(got, OpResult):
            return got
        doc, epoch = got
        if doc.get("succeeded") is True:
            return OpResult(Outcome.OK, epoch=epoch)
        return OpResult(Outcome.FAIL, epoch=epoch, detail=COMPARE_FAILED)

    @classmethod
    def _answered(cls, status: int, body: bytes) -> tuple[dict[str, Any], int | None] | OpResult:
        """A gateway answer's document and raft term (the epoch) when it is a success; else the
        outcome it means (unreadable: unknown; an error: as `_error` sorts it)."""
        try:
            doc = json.loads(body)
        except ValueError:
            return OpResult(Outcome.UNKNOWN, detail=f"HTTP {status}: {excerpt(body)!r}")
        if status == 200 and isinstance(doc, dict) and isinstance(doc.get("header"), dict):
            term = doc["header"].get("raft_term")
            return doc, int(term) if str(term).isdigit() else None
        return cls._error(status, doc)

    @classmethod
    def _error(cls, status: int, doc: Any) -> OpResult:
        code = doc.get("code") if isinstance(doc, dict) else None
        message = str(doc.get("message") or doc.get("error") or "") if isinstance(doc, dict) else ""
        outcome = Outcome.FAIL if code in cls.DEFINITE else Outcome.UNKNOWN
        return OpResult(outcome, detail=f"HTTP {status}: {excerpt(message, 100)}")

    @staticmethod
    def _b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode()

    async def add(self, node: NodeConfig, element: str) -> OpResult:
        return await self.write(node, element, element)

    @classmethod
    def interpret_put(cls, status: int, body: bytes) -> OpResult:
        """Outcome of one put answer (pure)."""
        got = cls._answered(status, body)
        return got if isinstance(got, OpResult) else OpResult(Outcome.OK, epoch=got[1])

    async def new_id(self, node: NodeConfig) -> OpResult:
        raise NotImplementedError("the etcd client serves the set workload only")

    async def read_all(self, node: NodeConfig) -> frozenset[str]:
        start, end = self._base, self._base[:-1] + chr(ord(self._base[-1]) + 1)
        out: set[str] = set()
        key = start
        while True:
            body = json.dumps(
                {"key": self._b64(key), "range_end": self._b64(end), "keys_only": True, "limit": 10_000}
            ).encode()
            try:
                async with self._pool.connection(node.host, node.port) as conn:
                    resp = await conn.request("POST", "/v3/kv/range", body)
                doc = json.loads(resp.body)
                if resp.status != 200:
                    raise ReadError(f"range on {node.name}: HTTP {resp.status}: {excerpt(resp.body)}")
                keys = [base64.b64decode(kv["key"]).decode() for kv in doc.get("kvs", [])]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ReadError(f"range on {node.name}: {type(exc).__name__}: {exc}") from None
            out.update(k[len(self._base) :] for k in keys)
            if not doc.get("more") or not keys:
                return frozenset(out)
            key = keys[-1] + "\x00"

    async def aclose(self) -> None:
        await self._pool.aclose()


class RedisClient:
    """Redis: SADD of each element to the set `<prefix>:<run>`, SMEMBERS at the end. Redis refuses
    writes it will not do (READONLY on a replica, NOREPLICAS under min-replicas-to-write) before
    acting: those are definite failures."""

    CAS = (
        "local v = redis.call('GET', KEYS[1]) "
        "if (ARGV[1] == '' and not v) or v == ARGV[2] then redis.call('SET', KEYS[1], ARGV[3]) return 1 end "
        "return 0"
    )
    """Compare-and-set as one script (Redis runs a script atomically): ARGV[1] non-empty: the key
    must hold ARGV[2]; empty: the key must be absent."""

    def __init__(self, spec: WorkloadSpec, run: str, access: RedisAccess | None = None) -> None:
        self._key = f"{spec.prefix}:{run}"
        self._access = access
        self._clients: dict[str, Any] = {}

    def _client(self, node: NodeConfig) -> Any:
        from quorumwatch.probes.redis import redis_client

        if node.name not in self._clients:
            self._clients[node.name] = redis_client(node.host, node.port, self._access, decode_responses=True)
        return self._clients[node.name]

    async def add(self, node: NodeConfig, element: str) -> OpResult:
        return await self._call(node, "SADD", self._key, element)

    async def write(self, node: NodeConfig, key: str, value: str) -> OpResult:
        return await self._call(node, "SET", f"{self._key}:{key}", value)

    async def read(self, node: NodeConfig, key: str) -> OpResult:
        return await self._call(node, "GET", f"{self._key}:{key}")

    async def cas(self, node: NodeConfig, key: str, expect: str | None, value: str) -> OpResult:
        flag = "" if expect is None else "1"
        return await self._call(node, "EVAL", self.CAS, 1, f"{self._key}:{key}", flag, expect or "", value)

    async def _call(self, node: NodeConfig, *command: Any) -> OpResult:
        """One command; its answer as the value for GET, 0 from the CAS script as a definite fail."""
        import redis.exceptions as rex

        try:
            answer = await self._client(node).execute_command(*command)
        except rex.ResponseError as exc:
            # redis-py strips the error's code from the classes it maps: put it back
            code = _ERROR_CODES.get(type(exc).__name__)
            return OpResult(Outcome.FAIL, detail=excerpt(f"{code} {exc}" if code else str(exc), 100))
        except rex.AuthenticationError:  # refused before any command: the write did not happen
            return OpResult(Outcome.FAIL, detail="authentication failed")
        except rex.ConnectionError as exc:
            refused = isinstance(exc.__cause__, ConnectionRefusedError) or "refused" in str(exc).lower()
            return OpResult(Outcome.FAIL if refused else Outcome.UNKNOWN, detail=excerpt(str(exc), 100))
        except (rex.RedisError, OSError) as exc:
            return OpResult(Outcome.UNKNOWN, detail=excerpt(f"{type(exc).__name__}: {exc}", 100))
        if command[0] == "GET":
            return OpResult(Outcome.OK, None if answer is None else str(answer))
        if command[0] == "SMEMBERS":
            return OpResult(Outcome.OK, json.dumps(sorted(str(m) for m in answer)))
        if command[0] == "EVAL" and answer != 1:
            return OpResult(Outcome.FAIL, detail=COMPARE_FAILED)
        return OpResult(Outcome.OK)

    async def new_id(self, node: NodeConfig) -> OpResult:
        raise NotImplementedError("the redis client serves the set workload only")

    async def read_all(self, node: NodeConfig) -> frozenset[str]:
        import redis.exceptions as rex

        try:
            members = await self._client(node).smembers(self._key)
        except (rex.RedisError, OSError) as exc:
            raise ReadError(f"SMEMBERS on {node.name}: {exc}") from None
        return frozenset(str(m) for m in members)

    async def aclose(self) -> None:
        for c in self._clients.values():
            await c.aclose()
        self._clients.clear()


class PostgresClient:
    """PostgreSQL through psycopg 3: the set is a table of elements, the register a table of keys,
    created by the run (`<prefix>_<run>`). Each operation is a transaction; where it failed says
    what is known: anything refused before COMMIT was sent (`read_only_sql_transaction` on a
    replica, `admin_shutdown` of a demoting primary, a connection that never opened) rolled back, a
    definite `fail`; a COMMIT whose answer never came (the connection died, the deadline passed, a
    synchronous commit cancelled) may have committed, so it is `unknown`."""

    def __init__(self, spec: WorkloadSpec, run: str, ops: PostgresOps | None = None) -> None:
        self._ops = ops or PostgresOps()
        self._table = f"{spec.prefix}_{run}"[:63]  # PostgreSQL's identifier limit
        self._register = spec.kind is WorkloadKind.REGISTER
        self._idle: dict[str, list[Any]] = {}
        self._created = False
        self._creating = asyncio.Lock()
        self._password: str | None = None

    async def _connect(self, node: NodeConfig) -> Any:
        import psycopg

        if self._password is None and self._ops.password is not None:
            self._password = reveal(self._ops.password, "workload.postgres.password")
        kwargs: dict[str, Any] = {
            "host": node.host, "port": self._ops.port, "dbname": self._ops.dbname, "user": self._ops.user,
            # libpq's own bound is whole seconds, at least 2; the operation's deadline cuts it shorter
            "connect_timeout": max(2, math.ceil(self._ops.connect_timeout)),
            "application_name": "quorumwatch",
        }  # fmt: skip
        if self._password is not None:
            kwargs["password"] = self._password
        return await psycopg.AsyncConnection.connect(**kwargs)

    @asynccontextmanager
    async def _conn(self, node: NodeConfig) -> AsyncIterator[Any]:
        idle = self._idle.setdefault(node.name, [])
        conn = idle.pop() if idle else await self._connect(node)
        try:
            yield conn
        except BaseException:
            # cancelled or failed mid-transaction: the connection's state is unknown; drop it
            conn.pgconn.finish()
            raise
        from psycopg import pq

        if conn.closed or conn.broken or conn.info.transaction_status is not pq.TransactionStatus.IDLE:
            conn.pgconn.finish()  # left inside a failed transaction (a refusal): never reused
        else:
            idle.append(conn)

    async def _tx(self, node: NodeConfig, sql: Any, args: tuple[Any, ...], *, rows: bool = False) -> OpResult:
        """One statement in its own transaction, outcome by where it stopped. `rows`: answer the
        first column of the first row (a read) or whether a row changed (a cas)."""
        import psycopg
        from psycopg import errors
        from psycopg import sql as q

        table = q.Identifier(self._table)
        try:
            async with self._conn(node) as conn:
                committing = False
                try:
                    if not self._created:
                        await self._create(conn, table)
                    async with conn.cursor() as cur:
                        await cur.execute(q.SQL(sql).format(table=table), args)
                        answer = (await cur.fetchone()) if rows and cur.description else None
                        changed = cur.rowcount
                    committing = True
                    await conn.commit()
                except errors.ReadOnlySqlTransaction:
                    return OpResult(Outcome.FAIL, detail="read-only: not the primary")
                except errors.AdminShutdown as exc:
                    if committing:
                        return OpResult(Outcome.UNKNOWN, detail=excerpt(f"during commit: {exc}", 100))
                    return OpResult(Outcome.FAIL, detail=excerpt(f"before commit: {exc}", 100))
                except psycopg.OperationalError as exc:
                    what = "during commit" if committing else "before commit"
                    outcome = Outcome.UNKNOWN if committing else Outcome.FAIL
                    return OpResult(outcome, detail=excerpt(f"{what}: {exc}", 100))
                except psycopg.Error as exc:
                    if committing:
                        return OpResult(Outcome.UNKNOWN, detail=excerpt(f"during commit: {exc}", 100))
                    await conn.rollback()
                    return OpResult(Outcome.FAIL, detail=excerpt(f"{type(exc).__name__}: {exc}", 100))
        except psycopg.OperationalError as exc:  # no connection: nothing was sent
            return OpResult(Outcome.FAIL, detail=excerpt(f"connect: {exc}", 100))
        if rows and answer is not None:
            return OpResult(Outcome.OK, None if answer[0] is None else str(answer[0]))
        if rows and sql.startswith("SELECT"):
            return OpResult(Outcome.OK, None)  # no row: the key was never written
        if rows and changed == 0:
            return OpResult(Outcome.FAIL, detail=COMPARE_FAILED)
        return OpResult(Outcome.OK)

    async def _create(self, conn: Any, table: Any) -> None:
        """The run's table, once, in its own transaction. One at a time: concurrent `CREATE TABLE
        IF NOT EXISTS` of one name collide in PostgreSQL's catalog (a unique violation)."""
        from psycopg import sql as q

        columns = "key text PRIMARY KEY, value text" if self._register else "element text PRIMARY KEY"
        async with self._creating:
            if self._created:
                return
            await conn.execute(q.SQL("CREATE TABLE IF NOT EXISTS {} (" + columns + ")").format(table))
            await conn.commit()
            self._created = True

    async def add(self, node: NodeConfig, element: str) -> OpResult:
        return await self._tx(node, "INSERT INTO {table} (element) VALUES (%s)", (element,))

    async def write(self, node: NodeConfig, key: str, value: str) -> OpResult:
        sql = "INSERT INTO {table} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = %s"
        return await self._tx(node, sql, (key, value, value))

    async def read(self, node: NodeConfig, key: str) -> OpResult:
        return await self._tx(node, "SELECT value FROM {table} WHERE key = %s", (key,), rows=True)

    async def cas(self, node: NodeConfig, key: str, expect: str | None, value: str) -> OpResult:
        if expect is None:
            sql = "INSERT INTO {table} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"
            return await self._tx(node, sql, (key, value), rows=True)
        sql = "UPDATE {table} SET value = %s WHERE key = %s AND value = %s"
        return await self._tx(node, sql, (value, key, expect), rows=True)

    async def new_id(self, node: NodeConfig) -> OpResult:
        raise NotImplementedError("the postgres client serves the set and register workloads")

    async def read_all(self, node: NodeConfig) -> frozenset[str]:
        import psycopg
        from psycopg import sql as q

        try:
            async with self._conn(node) as conn, conn.cursor() as cur:
                await cur.execute(q.SQL("SELECT element FROM {}").format(q.Identifier(self._table)))
                rows = await cur.fetchall()
                await conn.rollback()
        except psycopg.errors.UndefinedTable:
            return frozenset()  # no write ever created it
        except psycopg.Error as exc:
            raise ReadError(f"SELECT on {node.name}: {excerpt(str(exc), 100)}") from None
        return frozenset(str(r[0]) for r in rows)

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                await conn.close()
        self._idle.clear()


_ERROR_CODES = {
    "MovedError": "MOVED", "AskError": "ASK", "ClusterDownError": "CLUSTERDOWN", "TryAgainError": "TRYAGAIN",
}  # fmt: skip


class RedisClusterClient(RedisClient):
    """Redis Cluster: every key of the run shares one hash tag, `{<prefix>:<run>}`, so the whole
    workload lives in one slot and so in one group (the slot range holding it), whose leader the
    actor sends to. A `MOVED` or `ASK` answer is followed to the node it names (up to 3 times, each
    follow in the operation's detail, the answering node recorded). `CLUSTERDOWN` and `TRYAGAIN`
    are refusals before acting: definite failures."""

    FOLLOWS = 3

    def __init__(
        self, spec: WorkloadSpec, run: str, nodes: list[NodeConfig], access: RedisAccess | None = None
    ) -> None:
        super().__init__(spec, run, access)
        from redis.crc import key_slot

        self._key = "{" + f"{spec.prefix}:{run}" + "}"
        self.group_slot = key_slot(self._key.encode())
        """The one slot every key of the run hashes to."""
        self._by_address: dict[str, NodeConfig] = {}
        for n in nodes:
            self._by_address[n.address] = n
            if n.data_address is not None:
                self._by_address[f"{n.data_address}:{n.port}"] = n

    async def _call(self, node: NodeConfig, *command: Any) -> OpResult:
        """The command at `node`, then wherever MOVED/ASK send it."""
        import redis.exceptions as rex

        follows: list[str] = []
        asking = False
        for _ in range(self.FOLLOWS + 1):
            if asking:
                with contextlib.suppress(rex.RedisError, OSError):
                    await self._client(node).execute_command("ASKING")
            result = await super()._call(node, *command)
            moved = _redirect(result)
            if moved is None:
                if follows:
                    detail = "; ".join([*follows, *([result.detail] if result.detail else [])])
                    return dataclasses.replace(result, detail=detail, node=node.name)
                return result
            how, address = moved
            target = self._by_address.get(address)
            if target is None:
                return OpResult(
                    Outcome.FAIL, detail=f"{how} to {address}, a node the cluster file does not name"
                )
            follows.append(f"{how} {node.name} → {target.name}")
            node, asking = target, how == "ASK"
        return OpResult(Outcome.FAIL, detail=excerpt("; ".join(follows) + ": too many redirections", 100))

    async def read_all(self, node: NodeConfig) -> frozenset[str]:
        result = await self._call(node, "SMEMBERS", self._key)
        if result.outcome is not Outcome.OK or result.value is None:
            raise ReadError(f"SMEMBERS on {result.node or node.name}: {result.detail}")
        return frozenset(json.loads(result.value))


def _redirect(result: OpResult) -> tuple[str, str] | None:
    """(`MOVED`|`ASK`, host:port) of a refused command that names another node."""
    d = result.detail or ""
    if result.outcome is Outcome.FAIL and (d.startswith("MOVED ") or d.startswith("ASK ")):
        parts = d.split()
        if len(parts) >= 3:
            return parts[0], parts[2]
    return None


class _OneRequestPerOperation:
    """Clients of a user's own service: an add and an ID request are the same call, `{value}` filled
    in (empty for IDs); the answer's body is the ID."""

    async def _op(self, node: NodeConfig, value: str, want_id: bool) -> OpResult:
        raise NotImplementedError

    async def add(self, node: NodeConfig, element: str) -> OpResult:
        return await self._op(node, element, want_id=False)

    async def new_id(self, node: NodeConfig) -> OpResult:
        return await self._op(node, "", want_id=True)


class HttpClient(_OneRequestPerOperation):
    """A user's own HTTP service: one request per operation, status codes sorted into outcomes."""

    def __init__(self, ops: HttpOps, tls: TlsConfig | None = None) -> None:
        self._ops = ops
        self._pool = _HttpPool(max_response=64 << 20, tls=tls)

    def outcome(self, status: int) -> Outcome:
        if status in self._ops.ok_status:
            return Outcome.OK
        fail = self._ops.fail_status
        if (fail is None and 400 <= status < 500) or (fail is not None and status in fail):
            return Outcome.FAIL
        return Outcome.UNKNOWN

    async def _send(
        self, node: NodeConfig, method: str, path: str, body: str | None, value: str,
        extra: dict[str, str] | None = None,
    ) -> Any:  # fmt: skip
        from quorumwatch.probes.command import expand_argv

        path = expand_argv([path], node, value, extra)[0]
        data = None if body is None else expand_argv([body], node, value, extra)[0].encode()
        async with self._pool.connection(node.host, node.port) as conn:
            return await conn.request(method, path, data)

    async def _status_only(
        self, node: NodeConfig, method: str, path: str, body: str | None, value: str, extra: dict[str, str]
    ) -> OpResult:
        try:
            resp = await self._send(node, method, path, body, value, extra)
        except ConnectionRefusedError:
            return OpResult(Outcome.FAIL, detail="connection refused")
        outcome = self.outcome(resp.status)
        return OpResult(
            outcome, detail=None if outcome is Outcome.OK else f"HTTP {resp.status}: {excerpt(resp.body)}"
        )

    async def write(self, node: NodeConfig, key: str, value: str) -> OpResult:
        o = self._ops
        return await self._status_only(node, o.method, o.path, o.body, value, {"key": key})

    async def cas(self, node: NodeConfig, key: str, expect: str | None, value: str) -> OpResult:
        o = self._ops
        assert o.cas_path is not None
        extra = {"key": key, "expect": expect or ""}
        try:
            resp = await self._send(node, o.cas_method, o.cas_path, o.cas_body, value, extra)
        except ConnectionRefusedError:
            return OpResult(Outcome.FAIL, detail="connection refused")
        if resp.status in o.cas_mismatch_status:
            return OpResult(Outcome.FAIL, detail=COMPARE_FAILED)
        outcome = self.outcome(resp.status)
        return OpResult(
            outcome, detail=None if outcome is Outcome.OK else f"HTTP {resp.status}: {excerpt(resp.body)}"
        )

    async def read(self, node: NodeConfig, key: str) -> OpResult:
        assert self._ops.read_path is not None
        try:
            resp = await self._send(node, self._ops.read_method, self._ops.read_path, None, "", {"key": key})
        except ConnectionRefusedError:
            return OpResult(Outcome.FAIL, detail="connection refused")
        return self.interpret_read(resp.status, resp.body)

    def interpret_read(self, status: int, body: bytes) -> OpResult:
        """The value one read answered (pure): the body, or `read_field` of it (JSON null: empty)."""
        if status in self._ops.absent_status:
            return OpResult(Outcome.OK, None)
        outcome = self.outcome(status)
        if outcome is not Outcome.OK:
            return OpResult(outcome, detail=f"HTTP {status}: {excerpt(body)}")
        try:
            text = body.decode()
            got = _field(json.loads(text), self._ops.read_field) if self._ops.read_field else text.strip()
        except (ValueError, KeyError, UnicodeDecodeError):
            return OpResult(Outcome.UNKNOWN, detail=f"no value in the answer: {excerpt(body)!r}")
        return OpResult(Outcome.OK, None if got is None else str(got))

    async def _op(self, node: NodeConfig, value: str, want_id: bool) -> OpResult:
        try:
            resp = await self._send(node, self._ops.method, self._ops.path, self._ops.body, value)
        except ConnectionRefusedError:
            return OpResult(Outcome.FAIL, detail="connection refused")
        outcome = self.outcome(resp.status)
        if outcome is not Outcome.OK:
            return OpResult(outcome, detail=f"HTTP {resp.status}: {excerpt(resp.body)}")
        if not want_id:
            return OpResult(Outcome.OK)
        try:
            got = resp.body.decode().strip()
            if self._ops.id_field:
                got = str(_field(json.loads(got), self._ops.id_field))
        except (ValueError, KeyError, UnicodeDecodeError):
            # acknowledged, but we cannot tell which ID: it may have been handed out
            return OpResult(Outcome.UNKNOWN, detail=f"no ID in the answer: {excerpt(resp.body)!r}")
        return OpResult(Outcome.OK, value=got)

    async def read_all(self, node: NodeConfig) -> frozenset[str]:
        assert self._ops.read_path is not None
        try:
            resp = await self._send(node, self._ops.read_method, self._ops.read_path, None, "")
            doc = json.loads(resp.body)
            if resp.status != 200:
                raise ReadError(f"read on {node.name}: HTTP {resp.status}")
            items = _field(doc, self._ops.read_field) if self._ops.read_field else doc
        except (OSError, ValueError, KeyError) as exc:
            raise ReadError(f"read on {node.name}: {type(exc).__name__}: {exc}") from None
        if not isinstance(items, list):
            raise ReadError(f"read on {node.name}: expected a JSON list of elements")
        return frozenset(str(i) for i in items)

    async def aclose(self) -> None:
        await self._pool.aclose()


class CommandClient(_OneRequestPerOperation):
    """A user's own command per operation, through the node's control channel."""

    def __init__(self, ops: CommandOps) -> None:
        from quorumwatch.executors import Executor

        self._ops = ops
        self._executors: dict[str, Executor] = {}

    async def _run(
        self, node: NodeConfig, argv: list[str], value: str, extra: dict[str, str] | None = None
    ) -> Any:
        from quorumwatch.executors import executor_for
        from quorumwatch.probes.command import expand_argv

        if node.name not in self._executors:
            self._executors[node.name] = executor_for(node)
        return await self._executors[node.name].run(expand_argv(argv, node, value, extra))

    async def _register_op(
        self, node: NodeConfig, argv: list[str], value: str, extra: dict[str, str], reads: bool,
        compares: bool = False,
    ) -> OpResult:  # fmt: skip
        try:
            done = await self._run(node, argv, value, extra)
        except FileNotFoundError:
            return OpResult(Outcome.FAIL, detail=f"command not found: {argv[0]}")
        if reads and done.returncode in self._ops.absent_exit_codes:
            return OpResult(Outcome.OK, None)
        if compares and done.returncode in self._ops.cas_mismatch_exit_codes:
            return OpResult(Outcome.FAIL, detail=COMPARE_FAILED)
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            outcome = Outcome.FAIL if done.returncode in self._ops.fail_exit_codes else Outcome.UNKNOWN
            return OpResult(
                outcome, detail=f"exit {done.returncode}" + (f": {excerpt(err[-1])}" if err else "")
            )
        return OpResult(Outcome.OK, done.stdout.decode("utf-8", "replace").strip() if reads else None)

    async def write(self, node: NodeConfig, key: str, value: str) -> OpResult:
        return await self._register_op(node, self._ops.argv, value, {"key": key}, reads=False)

    async def read(self, node: NodeConfig, key: str) -> OpResult:
        assert self._ops.read_argv is not None
        return await self._register_op(node, self._ops.read_argv, "", {"key": key}, reads=True)

    async def cas(self, node: NodeConfig, key: str, expect: str | None, value: str) -> OpResult:
        assert self._ops.cas_argv is not None
        extra = {"key": key, "expect": expect or ""}
        return await self._register_op(node, self._ops.cas_argv, value, extra, reads=False, compares=True)

    async def _op(self, node: NodeConfig, value: str, want_id: bool) -> OpResult:
        try:
            done = await self._run(node, self._ops.argv, value)
        except FileNotFoundError:
            return OpResult(Outcome.FAIL, detail=f"command not found: {self._ops.argv[0]}")
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            outcome = Outcome.FAIL if done.returncode in self._ops.fail_exit_codes else Outcome.UNKNOWN
            return OpResult(
                outcome, detail=f"exit {done.returncode}" + (f": {excerpt(err[-1])}" if err else "")
            )
        got = done.stdout.decode("utf-8", "replace").strip()
        if want_id and not got:
            return OpResult(Outcome.UNKNOWN, detail="exit 0 but no ID printed")
        return OpResult(Outcome.OK, value=got if want_id else None)

    async def read_all(self, node: NodeConfig) -> frozenset[str]:
        assert self._ops.read_argv is not None
        try:
            done = await self._run(node, self._ops.read_argv, "")
        except (FileNotFoundError, OSError) as exc:
            raise ReadError(f"read command on {node.name}: {exc}") from None
        if done.returncode != 0:
            raise ReadError(f"read command on {node.name}: exit {done.returncode}")
        return frozenset(
            line.strip() for line in done.stdout.decode("utf-8", "replace").splitlines() if line.strip()
        )

    async def aclose(self) -> None:
        for ex in self._executors.values():
            await ex.aclose()
        self._executors.clear()


def make_client(
    kind: str,
    spec: WorkloadSpec,
    run: str,
    probe: ProbeConfig | None = None,
    nodes: list[NodeConfig] | None = None,
) -> WorkloadClient:
    """The client for `kind`, reaching the nodes as the cluster's probe does (TLS, user, password)."""
    if kind == "etcd":
        return EtcdClient(spec, run, probe.tls_settings if isinstance(probe, EtcdProbeConfig) else None)
    if kind == "redis":
        return RedisClient(spec, run, probe if isinstance(probe, RedisProbeConfig) else None)
    if kind == "redis-cluster":
        assert nodes is not None
        return RedisClusterClient(
            spec, run, nodes, probe if isinstance(probe, RedisClusterProbeConfig) else None
        )
    if kind == "postgres":
        return PostgresClient(spec, run, spec.postgres)
    if kind == "http":
        assert spec.http is not None
        return HttpClient(spec.http, probe.tls_settings if isinstance(probe, HttpProbeConfig) else None)
    assert spec.command is not None
    return CommandClient(spec.command)
