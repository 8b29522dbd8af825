"""A ZooKeeper-elected service, as metadata servers of distributed block stores run it.

Each participant joins with an ephemeral sequential znode; the lowest sequence number leads. It
serves its role over HTTP (`GET /status`) on the management link and writes glog-format lines to
its log file. The `--on-suspend` policy decides what the leader does when its ZooKeeper connection
is suspended:

- `stepdown` (safe): stop leading at once, before the servers can expire the session;
- `keep` (the hazard): lead until the session is reported LOST. A leader cut off from ZooKeeper
  only learns that when it reconnects, so for a while it leads next to the one elected meanwhile.

While leading it hands out IDs (`POST /ids`) from a counter whose high-water mark lives in
ZooKeeper (`/quorumwatch/ids`); a new leader starts from the stored mark. Each allocation stores
the new mark before answering. When ZooKeeper cannot be reached, a `keep` leader serves from its
local counter anyway (so a cut-off leader hands out IDs its successor hands out again), a
`stepdown` one refuses. `--fencing` makes every allocation a conditional write on the mark's
version (the fencing-token pattern): a leader whose mark was moved by a successor, or that cannot
reach ZooKeeper, refuses, whatever its policy.

It also serves a small key-value map (`PUT /kv/<key>` with the value as body, `GET /kv/<key>`:
404 when the key was never written), kept in ZooKeeper (`/quorumwatch/kv/<key>`) and cached by the
leader, which loads it when it starts leading and answers reads from the cache. A `keep` leader cut
off from ZooKeeper keeps answering from its own last state (stale reads once its successor has
taken writes) and acknowledges writes it could not store; a `stepdown` one stops leading, so it
refuses both. `--fencing` makes every write a transaction that checks the epoch znode
(`/quorumwatch/epoch`, set by each new leader) has not moved, and every read first confirms it at
ZooKeeper (after a sync): a leader that was replaced, or cannot reach ZooKeeper, refuses.

Run: python -m quorumwatch.lab.participant --name n1 --zk 10.213.1.21:2181,... --listen IP:8080 --log F
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, KazooException, NoNodeError
from kazoo.retry import KazooRetry

ELECTION = "/quorumwatch/election"
IDS = "/quorumwatch/ids"
KV = "/quorumwatch/kv"
EPOCH = "/quorumwatch/epoch"
MARK_WRITE_TIMEOUT = 0.5


class GlogWriter:
    """`Lmmdd hh:mm:ss.uuuuuu threadid file:line] msg`, after glog's `Log file created at:` header."""

    def __init__(self, path: str) -> None:
        new = not os.path.exists(path) or os.path.getsize(path) == 0
        self._f: TextIO = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - lives as long as the process
        self._lock = threading.Lock()
        if new:
            now = time.time()
            self._f.write(f"Log file created at: {time.strftime('%Y/%m/%d %H:%M:%S', time.localtime(now))}\n")
            self._f.write("Running on machine: quorumwatch-lab\n")
            self._f.write("Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n")

    def log(self, msg: str, level: str = "I", line: int = 0) -> None:
        now = time.time()
        t = time.localtime(now)
        us = int((now % 1) * 1_000_000)
        head = f"{level}{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{us:06d}"
        with self._lock:
            self._f.write(f"{head} {threading.get_native_id():>5} participant.py:{line}] {msg}\n")


@dataclass
class Status:
    role: str = "candidate"
    seq: int | None = None
    leader: str | None = None
    leader_seq: int | None = None
    session: str = "CONNECTING_STATE"


class Participant:
    def __init__(
        self,
        name: str,
        hosts: str,
        policy: str,
        log: GlogWriter,
        session_timeout: float,
        advertise: str,
        fencing: bool = False,
    ) -> None:
        self.name = name
        self.policy = policy
        self.fencing = fencing
        self.id_lock = threading.Lock()
        self.next_id = 0
        self.mark_version = -1
        self.kv: dict[str, str] = {}
        """The leader's cache of the key-value map (what its reads answer)."""
        self.epoch_version = -1
        """The epoch znode's version when this node began leading (what fenced operations check)."""
        self.pending_write: Any = None
        """A mark write still unanswered. Kazoo counts every request as a heartbeat, so writes sent
        into a dead connection would keep it from ever noticing: at most one is outstanding."""
        self.log = log
        self.advertise = advertise
        self.status = Status()
        self.lock = threading.Lock()
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.znode: str | None = None
        self.zk = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry=KazooRetry(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0),
        )
        self.zk.add_listener(lambda state: self.events.put(("state", state)))

    # ---- role changes (only from the event thread) ----

    def _set(self, **kw: Any) -> None:
        with self.lock:
            for k, v in kw.items():
                setattr(self.status, k, v)

    def become_leader(self, seq: int) -> None:
        if self.status.role == "leader":
            return
        data, stat = self.zk.get(IDS)  # a successor starts from the stored mark
        with self.id_lock:
            self.next_id = int(data or b"0")
            self.mark_version = stat.version
        self.log.log(f"id mark is {self.next_id} (version {stat.version})", line=99)
        kv = {}
        for child in self.zk.get_children(KV):
            value, _ = self.zk.get(f"{KV}/{child}")
            kv[child] = value.decode()
        epoch_stat = self.zk.set(EPOCH, str(seq).encode())
        with self.id_lock:
            self.kv = kv
            self.epoch_version = epoch_stat.version
        self.log.log(f"loaded {len(kv)} keys; epoch znode version {epoch_stat.version}", line=100)
        self.log.log(f"[ROLE CHANGE] I am the leader now.  seq is {seq}", line=101)
        self._set(role="leader", leader=self.name, leader_seq=seq)
        self.log.log("Start the leader role", line=103)

    def become_follower(self, leader: str, address: str, leader_seq: int) -> None:
        if self.status.role == "leader":
            self.stop_services("lost the election")
        if self.status.role != "follower" or self.status.leader != leader:
            self.log.log(f"Leader is {address}. seq is {leader_seq}", line=110)
        if self.status.role != "follower":
            self._set(role="follower")
            self.log.log("Start the follower role", line=113)
        self._set(leader=leader, leader_seq=leader_seq)

    def stop_services(self, why: str) -> None:
        if self.status.role == "leader":
            self.log.log("Sending stopping signal to upper layer.", line=118)
            self.log.log(f"Stopping the services of meta, this: {hex(id(self))} ({why})", line=119)
            self.log.log("Stopping quorum cluster.", line=120)
        self._set(role="candidate", leader=None, leader_seq=None)

    # ---- election ----

    def allocate(self) -> tuple[int, dict[str, Any]]:
        """One new ID, as (HTTP status, answer)."""
        with self.id_lock:
            if self.status.role != "leader":
                return 503, {"error": "not leader", "node": self.name}
            n = self.next_id + 1
            stored = False
            quiet = self.pending_write is None or self.pending_write.ready()
            if self.zk.state == KazooState.CONNECTED and quiet:
                version = self.mark_version if self.fencing else -1
                try:
                    self.pending_write = self.zk.set_async(IDS, str(n).encode(), version=version)
                    stat = self.pending_write.get(timeout=MARK_WRITE_TIMEOUT)
                    self.mark_version = stat.version
                    stored = True
                except BadVersionError:
                    self.log.log(f"id mark moved by another leader: refusing id {n}", level="W", line=150)
                    return 409, {"error": "fenced: the id mark was moved by another leader"}
                except Exception as exc:  # kazoo's timeout and connection errors alike
                    self.log.log(f"cannot store id mark {n}: {type(exc).__name__}", level="W", line=153)
            if not stored and (self.fencing or self.policy != "keep"):
                return 503, {"error": "cannot reach zookeeper to store the id mark"}
            self.next_id = n
            return 200, {"id": str(n), "node": self.name, "epoch": self.status.leader_seq}

    def _reachable(self) -> bool:
        """Connected, with no write still unanswered (see `pending_write`)."""
        quiet = self.pending_write is None or self.pending_write.ready()
        return bool(self.zk.state == KazooState.CONNECTED and quiet)

    def put(self, key: str, value: str) -> tuple[int, dict[str, Any]]:
        """Store one key's value, then cache it; as (HTTP status, answer)."""
        with self.id_lock:
            if self.status.role != "leader":
                return 503, {"error": "not leader", "node": self.name}
            path = f"{KV}/{key}"
            stored = False
            if self._reachable():
                try:
                    if self.fencing:
                        t = self.zk.transaction()
                        t.check(EPOCH, self.epoch_version)
                        if key in self.kv:
                            t.set_data(path, value.encode())
                        else:
                            t.create(path, value.encode())
                        self.pending_write = t.commit_async()
                        results = self.pending_write.get(timeout=MARK_WRITE_TIMEOUT)
                        if results and isinstance(results[0], Exception):
                            self.log.log(
                                f"epoch moved by another leader: refusing {key}", level="W", line=220
                            )
                            return 409, {"error": "fenced: the epoch was moved by another leader"}
                        if any(isinstance(r, Exception) for r in results):
                            raise results[-1]
                    elif key in self.kv:
                        self.pending_write = self.zk.set_async(path, value.encode())
                        self.pending_write.get(timeout=MARK_WRITE_TIMEOUT)
                    else:
                        self.pending_write = self.zk.create_async(path, value.encode())
                        self.pending_write.get(timeout=MARK_WRITE_TIMEOUT)
                    stored = True
                except Exception as exc:  # kazoo's timeout and connection errors alike
                    self.log.log(f"cannot store {key}: {type(exc).__name__}", level="W", line=231)
            if not stored and (self.fencing or self.policy != "keep"):
                return 503, {"error": "cannot reach zookeeper to store the value"}
            self.kv[key] = value
            return 200, {"key": key, "node": self.name, "epoch": self.status.leader_seq}

    def get(self, key: str) -> tuple[int, dict[str, Any]]:
        """One key's value from the leader's cache (fenced: after confirming the epoch)."""
        with self.id_lock:
            if self.status.role != "leader":
                return 503, {"error": "not leader", "node": self.name}
            if self.fencing:
                try:
                    if not self._reachable():
                        raise ConnectionError("not connected")
                    self.zk.sync_async(EPOCH).get(timeout=MARK_WRITE_TIMEOUT)
                    stat = self.zk.exists_async(EPOCH).get(timeout=MARK_WRITE_TIMEOUT)
                except Exception as exc:
                    self.log.log(f"cannot confirm the epoch: {type(exc).__name__}", level="W", line=246)
                    return 503, {"error": "cannot confirm the epoch at zookeeper"}
                if stat is None or stat.version != self.epoch_version:
                    return 409, {"error": "fenced: the epoch was moved by another leader"}
            value = self.kv.get(key)
            doc = {"key": key, "value": value, "node": self.name, "epoch": self.status.leader_seq}
            return (200 if value is not None else 404), doc

    def join(self) -> None:
        self.zk.ensure_path(ELECTION)
        self.zk.ensure_path(IDS)
        self.zk.ensure_path(KV)
        self.zk.ensure_path(EPOCH)
        data = f"{self.name} {self.advertise}".encode()
        path = self.zk.create(f"{ELECTION}/n_", data, ephemeral=True, sequence=True)
        self.znode = path
        seq = int(path.rsplit("_", 1)[1])
        self._set(seq=seq)
        self.log.log(f"joined the election as {path}, seq is {seq}", line=131)

    def evaluate(self) -> None:
        """Lowest sequence leads. Re-arms the children watch."""
        try:
            children = self.zk.get_children(ELECTION, watch=lambda ev: self.events.put(("children", ev)))
        except (KazooException, NoNodeError) as exc:
            self.log.log(f"cannot read election children: {exc}", level="W", line=137)
            return
        if self.znode is None or self.znode.rsplit("/", 1)[1] not in children:
            # our znode is gone: the servers expired our session
            self.stop_services("my znode is gone")
            self.znode = None
            return
        lowest = min(children, key=lambda c: int(c.rsplit("_", 1)[1]))
        seq = int(lowest.rsplit("_", 1)[1])
        if f"{ELECTION}/{lowest}" == self.znode:
            self.become_leader(seq)
            return
        try:
            data, _ = self.zk.get(f"{ELECTION}/{lowest}")
            leader, _, address = data.decode().partition(" ")
        except (KazooException, NoNodeError):
            self.events.put(("children", None))
            return
        self.become_follower(leader, address, seq)

    def on_state(self, state: str) -> None:
        if state == KazooState.SUSPENDED:
            self.log.log("zookeeper session event: CONNECTED_STATE --> CONNECTING_STATE", line=160)
            self.log.log("QuorumCluster state change: Running --> Running_Connecting", line=161)
            self._set(session="CONNECTING_STATE")
            if self.policy == "stepdown":
                self.stop_services("zookeeper connection suspended")
        elif state == KazooState.LOST:
            self.log.log("zookeeper session event: CONNECTING_STATE --> EXPIRED_SESSION_STATE", line=166)
            self._set(session="EXPIRED_SESSION_STATE")
            self.stop_services("zookeeper session expired")
            self.znode = None
        elif state == KazooState.CONNECTED:
            self.log.log(f"zookeeper session event: {self.status.session} --> CONNECTED_STATE", line=171)
            self._set(session="CONNECTED_STATE")
            self.events.put(("rejoin", None))

    def run(self) -> None:
        self.log.log(f"starting participant {self.name} (on-suspend {self.policy})", line=176)
        self.zk.start(timeout=60)
        while True:
            kind, value = self.events.get()
            try:
                if kind == "state":
                    self.on_state(value)
                elif kind in ("rejoin", "children") and self.zk.connected:
                    if self.znode is None:
                        self.join()
                    self.evaluate()
            except KazooException as exc:
                self.log.log(f"zookeeper error: {type(exc).__name__}: {exc}", level="W", line=187)
                time.sleep(0.1)
                self.events.put(("rejoin", None))

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            s = self.status
            return {
                "node": self.name,
                "role": s.role,
                "seq": s.seq,
                "leader": s.leader,
                "epoch": s.leader_seq,
                "session": s.session,
            }


def serve(participant: Participant, host: str, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the workload reuses its connections

        def _answer(self, status: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _key(self) -> str | None:
            key = self.path[len("/kv/") :] if self.path.startswith("/kv/") else ""
            return key if key.replace("-", "").replace("_", "").isalnum() and len(key) <= 100 else None

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            key = self._key()
            if key is not None:
                self._answer(*participant.get(key))
            elif self.path == "/status":
                self._answer(200, participant.snapshot())
            else:
                self._answer(404, {"error": "not found"})

        def do_PUT(self) -> None:
            body, key = self._body(), self._key()
            if key is None:
                self._answer(404, {"error": "not found"})
                return
            try:
                value = body.decode().strip()
            except UnicodeDecodeError:
                value = ""
            if not value:
                self._answer(400, {"error": "the value must be non-empty UTF-8"})
                return
            self._answer(*participant.put(key, value))

        def do_POST(self) -> None:
            self._body()
            if self.path != "/ids":
                self._answer(404, {"error": "not found"})
                return
            self._answer(*participant.allocate())

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--name", required=True)
    ap.add_argument("--zk", required=True, help="host:port,host:port,...")
    ap.add_argument("--listen", required=True, help="IP:PORT for GET /status")
    ap.add_argument("--advertise", help="what followers log as the leader's address (default: --listen)")
    ap.add_argument("--on-suspend", choices=["stepdown", "keep"], default="stepdown")
    ap.add_argument("--session-timeout", type=float, default=3.0)
    ap.add_argument("--fencing", action="store_true", help="allocate IDs with conditional writes")
    ap.add_argument("--log", required=True)
    args = ap.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)
    log = GlogWriter(args.log)
    p = Participant(
        args.name, args.zk, args.on_suspend, log, args.session_timeout, args.advertise or args.listen,
        args.fencing,
    )  # fmt: skip
    serve(p, host, int(port))
    try:
        p.run()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
