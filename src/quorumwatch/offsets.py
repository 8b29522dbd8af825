"""Clock offsets of nodes, measured NTP-style through each node's control channel.

One sample: note this machine's wall clock (t0), ask the node for its wall clock (T, the node's
`clock` command), note the wall clock again (t1). The node's clock read T at some instant inside
[t0, t1], so offset = T − (t0 + t1)/2 within ± (t1 − t0)/2. Of many samples the one with the
smallest round trip wins: its uncertainty is the smallest. A node whose clock runs 1.5 s ahead has
offset +1.5 s, which is what `logs --offset` subtracts from its log times.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from quorumwatch.config import ClusterConfig, NodeConfig
from quorumwatch.executors import Executor, executor_for

DEFAULT_CLOCK = ["date", "+%s.%N"]
CLOCKS_FILE = "clocks.json"


class ClockError(Exception):
    """A node's clock could not be read; printable."""


@dataclass(frozen=True, slots=True)
class ClockOffset:
    node: str
    offset_s: float
    """The node's clock minus this machine's."""
    uncertainty_s: float
    """Half the round trip of the best sample: the true offset lies within offset ± this."""
    samples: int


def best_sample(samples: list[tuple[int, int, int]]) -> tuple[float, float]:
    """(offset, uncertainty) in seconds from (t0, node time, t1) samples in ns (pure)."""
    t0, t, t1 = min(samples, key=lambda s: s[2] - s[0])
    return (t - (t0 + t1) / 2) / 1e9, (t1 - t0) / 2e9


def parse_clock(text: bytes, node: str) -> int:
    """Seconds since the epoch as printed (`1795864569.480666769`) → ns; exact, no float rounding."""
    raw = text.decode("utf-8", "replace").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ClockError(f"{node}: clock command printed {raw[:40]!r}, not seconds since the epoch") from None
    if not value.is_finite() or not 0 < value < 10**11:
        raise ClockError(f"{node}: clock command printed {raw[:40]!r}, not seconds since the epoch")
    return int(value * 1_000_000_000)


SAMPLE_TIMEOUT_S = 5.0
"""One clock sample may take this long; a command that hangs (a stuck faketime, a dead SSH link) is
ended and the sample skipped, so `clocks` and `run` never wait on it forever."""


async def measure_node(node: NodeConfig, samples: int, executor: Executor | None = None) -> ClockOffset:
    argv = node.clock or DEFAULT_CLOCK
    own = executor is None
    ex = executor or executor_for(node)
    got: list[tuple[int, int, int]] = []
    stuck = 0
    try:
        for _ in range(samples):
            t0 = time.time_ns()
            try:
                async with asyncio.timeout(SAMPLE_TIMEOUT_S):
                    done = await ex.run(argv)
            except TimeoutError:
                stuck += 1  # the command (and its process group) was ended by pid; try the next sample
                continue
            t1 = time.time_ns()
            if done.returncode != 0:
                err = done.stderr.decode("utf-8", "replace").strip().splitlines()
                raise ClockError(
                    f"{node.name}: clock command {argv[0]} exited {done.returncode}"
                    + (f": {err[-1][:120]}" if err else "")
                )
            got.append((t0, parse_clock(done.stdout, node.name), t1))
    except FileNotFoundError:
        raise ClockError(f"{node.name}: clock command not found: {argv[0]}") from None
    finally:
        if own:
            await ex.aclose()
    if not got:
        raise ClockError(
            f"{node.name}: clock command {argv[0]} gave no answer within {SAMPLE_TIMEOUT_S:g} s "
            f"({stuck} tries)"
        )
    offset, uncertainty = best_sample(got)
    return ClockOffset(node.name, offset, uncertainty, len(got))


async def measure(cluster: ClusterConfig, samples: int = 20) -> list[ClockOffset]:
    """Every node, concurrently; ClockError names the first node that failed."""
    return list(await asyncio.gather(*(measure_node(n, samples) for n in cluster.nodes)))


def offsets_args(offsets: list[ClockOffset]) -> str:
    """Ready-to-use `logs` arguments: `--offset n1=+0.0012 ... --skew S`."""
    parts = [f"--offset {o.node}={o.offset_s:+.4f}" for o in offsets]
    skew = 2 * max((o.uncertainty_s for o in offsets), default=0.0)
    return " ".join([*parts, f"--skew {skew:.4f}"])


def save(path: Path, measured: dict[str, list[ClockOffset]]) -> None:
    """`clocks.json` of a run: the offsets measured at its start and end."""
    data = {when: [asdict(o) for o in offs] for when, offs in measured.items()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_for_logs(path: Path) -> tuple[dict[str, float], float]:
    """Offsets to apply to a run's logs and the skew they leave: per node the mean of the start and
    end measurements; the skew covers both uncertainties and any drift between them (pure but for
    the read)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClockError(f"{path}: unreadable clock measurements ({exc})") from None
    per_node: dict[str, list[tuple[float, float]]] = {}
    for offs in data.values():
        for o in offs if isinstance(offs, list) else []:
            try:
                per_node.setdefault(str(o["node"]), []).append(
                    (float(o["offset_s"]), float(o["uncertainty_s"]))
                )
            except (KeyError, TypeError, ValueError):
                raise ClockError(f"{path}: malformed entry {str(o)[:80]}") from None
    offsets = {n: sum(v for v, _ in xs) / len(xs) for n, xs in per_node.items()}
    spread = [max(v for v, _ in xs) - min(v for v, _ in xs) for xs in per_node.values()]
    unc = [u for xs in per_node.values() for _, u in xs]
    # two nodes' corrected clocks may disagree by both their uncertainties plus half their drift
    skew = 2 * max(unc, default=0.0) + max(spread, default=0.0)
    return offsets, skew
