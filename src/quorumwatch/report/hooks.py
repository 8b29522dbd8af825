"""`watch --on-verdict CMD`: run a command (an argv, never a shell) when a graded finding starts or
ends, with the details in environment variables. Commands run beside the ticks (never delaying
them) and are waited for — then ended by pid — when the watch stops."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

from quorumwatch._serial import iso
from quorumwatch.analysis.online import Change


def finding_env(c: Change, cluster: str, wall_offset_ns: int, run_dir: str) -> dict[str, str]:
    """The variables a hook sees: QUORUMWATCH_EVENT (started/ended), _KIND, _CERTAIN (1/0), _NODES,
    _EPOCHS (comma-separated, empty when unknown), _START, _END (ISO UTC), _DURATION_S, _CLUSTER,
    _RUN_DIR."""
    return {
        "QUORUMWATCH_EVENT": c.what,
        "QUORUMWATCH_KIND": c.kind,
        "QUORUMWATCH_CERTAIN": "1" if c.certain else "0",
        "QUORUMWATCH_NODES": ",".join(c.nodes),
        "QUORUMWATCH_EPOCHS": ",".join("" if e is None else str(e) for e in c.epochs),
        "QUORUMWATCH_START": iso(c.start + wall_offset_ns),
        "QUORUMWATCH_END": iso(c.end + wall_offset_ns),
        "QUORUMWATCH_DURATION_S": f"{(c.end - c.start) / 1e9:.6f}",
        "QUORUMWATCH_CLUSTER": cluster,
        "QUORUMWATCH_RUN_DIR": run_dir,
    }


class Hooks:
    """Starts the hook per finding; `close` waits for those still running, then ends them by pid."""

    def __init__(self, argv: list[str], cluster: str, run_dir: str) -> None:
        self.argv = argv
        self.cluster = cluster
        self.run_dir = run_dir
        self.running: list[subprocess.Popen[bytes]] = []
        self.failed: list[str] = []

    def fire(self, c: Change, wall_offset_ns: int) -> None:
        env = {**os.environ, **finding_env(c, self.cluster, wall_offset_ns, self.run_dir)}
        try:
            proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.failed.append(f"--on-verdict {self.argv[0]}: {exc}")
            return
        self.running = [p for p in self.running if p.poll() is None] + [proc]

    def close(self, grace_s: float = 10.0) -> None:
        deadline = time.monotonic() + grace_s
        for p in self.running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(deadline - time.monotonic(), 0.0))
            if p.poll() is None:
                p.kill()
                p.wait()
        self.running = []


__all__ = ["Hooks", "finding_env"]
