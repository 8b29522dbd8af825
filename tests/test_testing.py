"""quorumwatch.testing and the pytest plugin: a block passes or fails on what the cluster did
while it ran (fake etcd members here; the real zk-election lab in test_testing_lab.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from quorumwatch.model import Verdict
from quorumwatch.testing import KEPT, QuorumWatchFailure, quorum_watch
from tests.responders import EtcdLikeCluster
from tests.results_contract import read_results


def _two_leaders(c: EtcdLikeCluster) -> None:
    c.roles[0] = "L"  # n1 claims leadership in term 3 while n2 leads term 4


def test_quiet_block_passes_and_removes_its_run(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        with quorum_watch(tmp_path / "c.yaml", runs=tmp_path / "runs") as w:
            assert w.wait_leader(within=10) == "n2"
            w.wait_for(lambda t: t.index >= 5, within=10)
    assert w.result is not None and w.result.verdict is Verdict.OK and w.ticks >= 6
    assert not w.result.run_dir.exists()


def test_block_with_two_leaders_fails_and_keeps_its_run(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        runs = tmp_path / "runs"
        with (  # noqa: PT012 - the watched block is what is tested
            pytest.raises(QuorumWatchFailure) as failed,
            quorum_watch(tmp_path / "c.yaml", runs=runs, fail_on="dual-leader") as w,
        ):
            w.wait_leader(within=10)
            _two_leaders(c)
            w.wait_for(lambda t: len(t.leaders) == 2 and t.index >= 8, within=10)
    result = failed.value.result
    message = str(failed.value)
    assert result.verdict is Verdict.DUAL_LEADER and result.exit_code() == 3
    assert (
        "two leaders at once, proven" in message and "proven dual_leader: n1 + n2 (epochs 3 / 4)" in message
    )
    assert f"run kept: {result.run_dir}" in message and result.run_dir in KEPT
    assert f"report: {result.report_path}" in message and result.report_path.is_file()
    assert read_results(result.run_dir)["verdict"] == "dual_leader"


def test_fail_on_harm_lets_an_unmeasured_dual_leader_pass(tmp_path: Path) -> None:
    with EtcdLikeCluster(["L", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        with quorum_watch(tmp_path / "c.yaml", runs=tmp_path / "runs", fail_on="harm", keep=True) as w:
            w.wait_for(lambda t: t.index >= 5, within=10)
    assert w.result is not None and w.result.verdict is Verdict.DUAL_LEADER
    assert w.result.run_dir.is_dir()  # keep=True


def test_an_error_in_the_block_propagates_and_the_watch_stops(tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        with pytest.raises(KeyError, match="boom"), quorum_watch(tmp_path / "c.yaml", runs=tmp_path / "r"):
            raise KeyError("boom")
    history = [p for p in (tmp_path / "r").glob("*/*/history.sqlite") if not p.parent.is_symlink()]
    assert len(history) == 1  # recorded, then stopped: the thread is gone (pytest would hang otherwise)


def test_plugin_fixture_in_a_users_own_test_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        cluster = tmp_path / "c.yaml"
        cluster.write_text(c.cluster_yaml())
        flip = tmp_path / "flip"
        pytester.makepyfile(
            test_user=textwrap.dedent(f"""
                from pathlib import Path

                CLUSTER = {str(cluster)!r}

                def test_quiet(quorum_watch):
                    with quorum_watch(CLUSTER) as w:
                        w.wait_for(lambda t: t.index >= 4, within=10)

                def test_two_leaders(quorum_watch):
                    with quorum_watch(CLUSTER, fail_on="dual-leader") as w:
                        w.wait_for(lambda t: t.index >= 2, within=10)
                        Path({str(flip)!r}).touch()  # the outer test makes n1 claim leadership
                        w.wait_for(lambda t: len(t.leaders) == 2 and t.index >= 10, within=20)
            """)
        )
        import threading

        def flipper() -> None:
            import time

            deadline = time.monotonic() + 60
            while not flip.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            _two_leaders(c)

        t = threading.Thread(target=flipper, daemon=True)
        t.start()
        r = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
        t.join(timeout=5)
    r.assert_outcomes(passed=1, failed=1)
    out = r.stdout.str()
    assert "QuorumWatchFailure" in out and "quorumwatch: two leaders at once, proven" in out
    assert "run kept: " in out and "quorumwatch/fake/" in out
