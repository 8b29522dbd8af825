"""A ZooKeeper-elected service, as metadata servers of distributed block stores run it.

Each participant joins with an ephemeral sequential znode; the lowest sequence number leads. It
serves its role over HTTP (`GET /status`) on the management link and writes glog-format lines to
its log file. The `--on-suspend` policy decides what the leader does when its ZooKeeper connection
is suspended:

- `stepdown` (safe): stop leading at once, before the servers can expire the session;
- `keep` (the hazard): lead until the session is reported LOST. A leader cut off from ZooKeeper
  only learns that when it reconnects, so for a while it leads next to the one elected meanwhile.

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
from kazoo.exceptions import KazooException, NoNodeError
from kazoo.retry import KazooRetry

ELECTION = "/quorumwatch/election"


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
        self, name: str, hosts: str, policy: str, log: GlogWriter, session_timeout: float, advertise: str
    ) -> None:
        self.name = name
        self.policy = policy
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

    def join(self) -> None:
        self.zk.ensure_path(ELECTION)
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
        def do_GET(self) -> None:
            if self.path != "/status":
                self.send_error(404)
                return
            body = json.dumps(participant.snapshot()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

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
    ap.add_argument("--log", required=True)
    args = ap.parse_args(argv)
    host, port = args.listen.rsplit(":", 1)
    log = GlogWriter(args.log)
    p = Participant(
        args.name, args.zk, args.on_suspend, log, args.session_timeout, args.advertise or args.listen
    )
    serve(p, host, int(port))
    try:
        p.run()
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
