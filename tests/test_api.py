"""The public API (`import quorumwatch`): async, no signal handlers, no printing unless asked; what
it records and returns is what the CLI records and prints."""

from __future__ import annotations

import asyncio
import io
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import quorumwatch
from quorumwatch import Role, Verdict
from tests.responders import EtcdLikeCluster
from tests.results_contract import read_results
from tests.test_analysis import history

LOGS = Path(__file__).resolve().parent / "fixtures" / "logs"


def test_every_public_name_resolves_and_nothing_else_is_public() -> None:
    for name in quorumwatch.__all__:
        assert getattr(quorumwatch, name) is not None, name
    assert dir(quorumwatch) == sorted(quorumwatch.__all__)
    with pytest.raises(AttributeError):
        _ = quorumwatch.no_such_name


def test_import_stays_light() -> None:
    """`import quorumwatch` loads none of the API's modules until a name is used (CLI start-up)."""
    code = "import sys, quorumwatch; print(sorted(m for m in sys.modules if m.startswith('quorumwatch')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['quorumwatch', 'quorumwatch._version']"


def test_observe_records_analyses_and_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        before = signal.getsignal(signal.SIGINT)
        result = asyncio.run(quorumwatch.observe(tmp_path / "c.yaml", duration=0.6, runs=tmp_path / "runs"))
    assert signal.getsignal(signal.SIGINT) is before  # no handler installed, none left behind
    assert capsys.readouterr() == ("", "")
    assert result.verdict is Verdict.OK and result.exit_code() == 0
    assert read_results(result.run_dir)["verdict"] == "ok" and result.results_path.is_file()
    # analysing the recorded run again gives the same typed results
    assert quorumwatch.analyze(result.run_dir) == result.results


def test_watch_in_the_background_of_a_block_with_printing(tmp_path: Path) -> None:
    async def scenario(c: EtcdLikeCluster) -> quorumwatch.Watch:
        out = io.StringIO()
        doubles: list[quorumwatch.Tick] = []
        enough = asyncio.Event()

        def seen(t: quorumwatch.Tick) -> None:
            doubles.extend([t] if len(t.leaders) == 2 else [])
            if len(doubles) >= 5:
                enough.set()

        w = quorumwatch.Watch(tmp_path / "c.yaml", runs=tmp_path / "runs", out=out, on_tick=seen)
        async with w:
            assert w.ticks >= 1 and w.recording is not None
            c.roles[0] = "L"  # something happens while we watch
            await enough.wait()
        assert "more than 1 leader appear at this tick, cnt=2" in out.getvalue()
        return w

    with EtcdLikeCluster(["F", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        w = asyncio.run(asyncio.wait_for(scenario(c), 30))
    assert w.result is not None and w.result.verdict is Verdict.DUAL_LEADER and w.result.exit_code() == 3
    assert w.result.exit_code("harm") == 0


def test_analyze_ticks_is_the_pure_analysis() -> None:
    a = quorumwatch.analyze_ticks(history({"a": "LLLLFFFF", "b": "FFFFLLLL"}, {"a": [1] * 8, "b": [2] * 8}))
    assert a.verdict in (Verdict.OK, Verdict.POSSIBLE) and {i.node for i in a.intervals} == {"a", "b"}


def test_analyze_logs_by_mapping_and_by_arguments() -> None:
    files = {n: [LOGS / "etcd" / n / f"{n}.log"] for n in ("n1", "n2", "n3")}
    by_map = quorumwatch.analyze_logs(files)
    by_args = quorumwatch.analyze_logs([f"{n}={p[0]}" for n, p in files.items()], pack="etcd")
    assert by_map.forensics.verdict is Verdict.DUAL_LEADER
    assert by_args.forensics.overlaps == by_map.forensics.overlaps
    zk = quorumwatch.analyze_logs(
        {n: [LOGS / "zookeeper-debian" / n / "zookeeper.log"] for n in ("n1", "n2", "n3")}
    )
    assert zk.forensics.verdict is Verdict.OK and [iv.node for iv in zk.forensics.intervals] == ["n2", "n3"]


def test_roles_and_verdicts_are_plain_values() -> None:
    assert Role.LEADER.letter == "L" and Verdict("dual_leader") is Verdict.DUAL_LEADER
    assert str(Verdict.DUAL_LEADER) == "dual_leader" and Verdict.INCONCLUSIVE.exit_code == 1


def test_watch_with_retention_keeps_the_last_ticks_and_every_finding(tmp_path: Path) -> None:
    async def scenario(c: EtcdLikeCluster) -> quorumwatch.Watch:
        enough = asyncio.Event()
        w = quorumwatch.Watch(tmp_path / "c.yaml", runs=tmp_path / "runs", retain=0.5, on_tick=lambda t: (
            enough.set() if w.ticks >= 25 else None))  # fmt: skip
        async with w:
            await enough.wait()
        return w

    with EtcdLikeCluster(["L", "L", "F"]) as c:
        (tmp_path / "c.yaml").write_text(c.cluster_yaml())
        w = asyncio.run(asyncio.wait_for(scenario(c), 30))
    assert w.result is not None and w.result.verdict is Verdict.DUAL_LEADER
    data = read_results(w.result.run_dir)
    assert data["retention"]["retain_s"] == 0.5 and data["retention"]["dropped"]["ticks"] > 0
    assert data["meta"]["ticks"] >= 25  # every tick counted, kept or not
    certain = [d for d in data["dual_leaders"] if d["certain"]]
    assert certain and certain[0]["start"] < data["retention"]["kept_from"]  # from the deleted ticks
