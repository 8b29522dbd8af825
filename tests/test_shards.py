"""Shards of a fleet: every file to exactly one shard, the same on every process, few moves when N
grows; a directory read as it changes; a fleet session over scripted members that follows it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from quorumwatch.config import ClusterConfig, load_cluster
from quorumwatch.model import Tick, Verdict
from quorumwatch.session import Fleet, Plan, RunResult, watch_async
from quorumwatch.shards import ClusterDirectory, Shard, cluster_files, shard_of
from tests.responders import EtcdLikeCluster

NAMES = [f"cluster-{i:04d}.yaml" for i in range(2000)]


@pytest.mark.parametrize("text", ["0/1", "3/4", " 1 / 2 "])
def test_shard_parses_k_of_n(text: str) -> None:
    k, n = (int(x) for x in text.split("/"))
    assert Shard.parse(text) == Shard(k, n) and str(Shard(k, n)) == f"{k}/{n}"


@pytest.mark.parametrize("text", ["2/2", "1/0", "-1/3", "a/b", "1", "1/2/3", ""])
def test_a_shard_that_is_not_k_of_n_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="K"):
        Shard.parse(text)


def test_every_file_falls_to_exactly_one_shard_and_they_share_the_load() -> None:
    for n in (1, 2, 3, 8):
        owners = [[k for k in range(n) if Shard(k, n).owns(name)] for name in NAMES]
        assert all(len(o) == 1 for o in owners)
        sizes = [sum(o == [k] for o in owners) for k in range(n)]
        assert min(sizes) > 0.7 * len(NAMES) / n and max(sizes) < 1.3 * len(NAMES) / n, sizes


def test_adding_a_shard_moves_only_the_files_that_go_to_it() -> None:
    for n in (1, 2, 5):
        before = {name: shard_of(name, n) for name in NAMES}
        after = {name: shard_of(name, n + 1) for name in NAMES}
        moved = [name for name in NAMES if before[name] != after[name]]
        assert all(after[name] == n for name in moved)
        assert 0.6 * len(NAMES) / (n + 1) < len(moved) < 1.4 * len(NAMES) / (n + 1)


def test_the_same_shards_in_another_process_with_another_hash_seed() -> None:
    code = "from quorumwatch.shards import shard_of; print([shard_of(f'c{i}.yaml', 4) for i in range(200)])"
    seen = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2")
    }  # fmt: skip
    assert seen == {str([shard_of(f"c{i}.yaml", 4) for i in range(200)])}


def cluster_file(path: Path, name: str, port: int = 1, interval: float = 0.1) -> Path:
    path.write_text(
        f"name: {name}\nprobe: {{kind: etcd}}\ninterval: {interval}\nnodes:\n"
        f"  - {{name: n1, address: '127.0.0.1:{port}'}}\n"
    )
    return path


def load(path: Path) -> ClusterConfig:
    return load_cluster(str(path))


def test_a_directory_is_read_as_it_changes(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        cluster_file(tmp_path / f"{name}.yaml", name)
    cluster_file(tmp_path / ".editing.yaml", "hidden")
    (tmp_path / "notes.txt").write_text("not a cluster")
    (tmp_path / "bad.yml").write_text("name: [\n")
    directory = ClusterDirectory(tmp_path, Shard(), load)
    first = directory.scan()
    assert sorted(first.clusters) == ["a.yaml", "b.yaml", "c.yaml"] and first.others == 0
    assert len(first.errors) == 1 and "bad.yml" in first.errors[0]
    assert [p.name for p in cluster_files(tmp_path)] == ["a.yaml", "b.yaml", "bad.yml", "c.yaml"]
    # a broken file is said once per version of it, not on every look
    assert directory.scan().errors == ()
    (tmp_path / "c.yaml").unlink()
    cluster_file(tmp_path / "b.yaml", "b", interval=0.5)
    cluster_file(tmp_path / "d.yaml", "a")  # the name a.yaml's cluster has
    (tmp_path / "bad.yml").write_text("name: still [\n")
    second = directory.scan()
    assert sorted(second.clusters) == ["a.yaml", "b.yaml"]
    assert second.clusters["b.yaml"].interval == 0.5
    assert len(second.errors) == 2
    assert any("d.yaml" in e and "already watched from a.yaml" in e for e in second.errors)


def test_a_shard_reads_only_its_files(tmp_path: Path) -> None:
    names = [f"c{i}" for i in range(40)]
    for name in names:
        cluster_file(tmp_path / f"{name}.yaml", name)
    scans = [ClusterDirectory(tmp_path, Shard(k, 3), load).scan() for k in range(3)]
    seen = [name for s in scans for name in s.clusters]
    assert sorted(seen) == sorted(f"{n}.yaml" for n in names)
    assert all(s.others == 40 - len(s.clusters) for s in scans)


def test_a_fleet_session_follows_its_directory(tmp_path: Path) -> None:
    """Files added are watched, removed ones end their runs, a changed one starts a new run; every
    run is analysed, and a removed cluster is no longer probed."""
    clusters = tmp_path / "clusters"
    clusters.mkdir()
    ticks: list[tuple[str, float]] = []
    said: list[str] = []

    async def until(what: str, cond: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not cond():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {said[-5:]}"
            await asyncio.sleep(0.02)

    with EtcdLikeCluster(["L", "F"] * 3, size=2) as fake:

        def add(name: str, group: int, interval: float = 0.1) -> None:
            (clusters / f"{name}.yaml").write_text(fake.cluster_yaml(interval, 0.05, name, group))

        def on_tick(cluster: str, _tick: Tick) -> None:
            ticks.append((cluster, time.monotonic()))

        async def scenario() -> list[RunResult]:
            stop = asyncio.Event()
            plan = Plan((), runs=tmp_path / "runs", report=False,
                        fleet=Fleet(ClusterDirectory(clusters, Shard(), load), rescan_s=0.2))  # fmt: skip
            task = asyncio.create_task(watch_async(plan, say=said.append, stop=stop, on_tick=on_tick))
            add("c1", 0)
            add("c2", 1)
            await until("c1 and c2 watched", lambda: {c for c, _ in ticks} >= {"c1", "c2"})
            add("c3", 2)
            await until("c3 watched", lambda: "c3" in {c for c, _ in ticks})
            (clusters / "c1.yaml").unlink()
            await until("c1's run ended", lambda: any(s.startswith("c1: ") and " ticks," in s for s in said))
            ended = time.monotonic()
            add("c2", 1, interval=0.2)
            await until("c2's second run", lambda: sum(s.startswith("c2: recording to") for s in said) == 2)
            mark = len(ticks)
            await until("c2 ticking again", lambda: [c for c, _ in ticks[mark:]].count("c2") > 2)
            stop.set()
            results = await task
            assert not [t for c, t in ticks if c == "c1" and t > ended]
            return results

        results = asyncio.run(scenario())
    assert any("c1.yaml is gone" in s for s in said) and any("c2.yaml changed" in s for s in said)
    runs = sorted(r.run_dir.parent.name for r in results)
    assert runs == ["c1", "c2", "c2", "c3"]
    assert all(r.verdict is Verdict.OK for r in results)
    assert len({r.run_dir for r in results}) == 4
