"""Clock offsets: the NTP-style estimate on literal samples, bad clock answers, the run's
clocks.json as logs apply it, and a real node whose clock is shifted with faketime."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path

import pytest

from quorumwatch.config import NodeConfig
from quorumwatch.offsets import (
    ClockError,
    ClockOffset,
    best_sample,
    load_for_logs,
    measure_node,
    offsets_args,
    parse_clock,
    save,
)
from tests.labkit import lab_cluster, qw, run_example
from tests.results_contract import read_results

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
S = 1_000_000_000


def test_the_sample_with_the_smallest_round_trip_wins() -> None:
    samples = [(0, 5 * S, 2 * S), (10 * S, 13_500_000_000, 10_200_000_000), (20 * S, 25 * S, 21 * S)]
    offset, uncertainty = best_sample(samples)
    assert offset == pytest.approx(3.4) and uncertainty == pytest.approx(0.1)


def test_clock_answers_are_exact_or_a_clear_error() -> None:
    assert parse_clock(b"1795864569.480666769\n", "n1") == 1_795_864_569_480_666_769
    for bad in (b"", b"nan", b"Sat Nov 28", b"1e30", b"-5"):
        with pytest.raises(ClockError, match=r"^n1: clock command printed .*not seconds since the epoch"):
            parse_clock(bad, "n1")


def test_measuring_a_local_command_clock(tmp_path: Path) -> None:
    shifted = NodeConfig(
        name="n1",
        address="127.0.0.1:1",
        clock=[sys.executable, "-c", "import time; print(f'{time.time() + 2.5:.9f}')"],
    )
    o = asyncio.run(measure_node(shifted, 5))
    assert abs(o.offset_s - 2.5) <= o.uncertainty_s + 1e-6 and o.samples == 5
    broken = NodeConfig(name="n2", address="127.0.0.1:1", clock=[sys.executable, "-c", "print('noon')"])
    with pytest.raises(ClockError, match="n2: clock command printed 'noon'"):
        asyncio.run(measure_node(broken, 1))
    missing = NodeConfig(name="n3", address="127.0.0.1:1", clock=["/nonexistent/clock"])
    with pytest.raises(ClockError, match="n3: clock command not found"):
        asyncio.run(measure_node(missing, 1))


@pytest.mark.timing  # a 0.3 s sample timeout: an interpreter's start-up beside other tests outlasted it
def test_a_clock_command_that_hangs_is_ended_not_waited_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from quorumwatch import offsets

    monkeypatch.setattr(offsets, "SAMPLE_TIMEOUT_S", 0.3)
    flag = tmp_path / "hung-once"
    # hangs on the first sample only, then answers: the hung sample is skipped
    once = NodeConfig(name="n1", address="127.0.0.1:1", clock=[sys.executable, "-c", (
        f"import os, time, pathlib; p = pathlib.Path({str(flag)!r});\n"
        "if not p.exists(): p.touch(); time.sleep(60)\n"
        "print(f'{time.time():.9f}')")])  # fmt: skip
    t = time.monotonic()
    o = asyncio.run(measure_node(once, 3))
    assert o.samples == 2 and abs(o.offset_s) <= o.uncertainty_s + 1e-6
    hung = NodeConfig(name="n2", address="127.0.0.1:1", clock=["sleep", "60"])
    with pytest.raises(ClockError, match=r"n2: clock command sleep gave no answer within 0.3 s \(2 tries\)"):
        asyncio.run(measure_node(hung, 2))
    assert time.monotonic() - t < 30  # both ended at their deadlines, not after 60 s


def test_run_measurements_become_offsets_and_skew(tmp_path: Path) -> None:
    path = tmp_path / "clocks.json"
    save(
        path,
        {
            "start": [ClockOffset("n1", 0.001, 0.003, 10), ClockOffset("n2", 1.50, 0.002, 10)],
            "end": [ClockOffset("n1", -0.001, 0.004, 10), ClockOffset("n2", 1.52, 0.002, 10)],
        },
    )
    offsets, skew = load_for_logs(path)
    assert offsets == pytest.approx({"n1": 0.0, "n2": 1.51})
    assert skew == pytest.approx(2 * 0.004 + 0.02)  # both uncertainties, plus the drift seen
    assert offsets_args([ClockOffset("n2", 1.5, 0.002, 10)]) == "--offset n2=+1.5000 --skew 0.0040"
    path.write_text('{"start": [{"node": "n1"}]}')
    with pytest.raises(ClockError, match="malformed entry"):
        load_for_logs(path)


@pytest.mark.lab
def test_a_faketime_shifted_node_is_measured_and_its_logs_aligned(tmp_path: Path) -> None:
    """n2 runs 1.5 s ahead (its participant under faketime). `clocks` finds that within its own
    uncertainty; `run` keeps the measurements; the overlap `logs --run` finds with them matches the
    one found with the true offsets."""
    extra = ("--on-suspend", "keep", "--clock-offset", "n2=1.5")
    with lab_cluster("zk-election", 3, "c", extra) as (_state, cluster_file):
        r = qw("clocks", str(cluster_file), "--json")
        assert r.returncode == 0, r.stderr
        measured = {o["node"]: o for o in json.loads(r.stdout)}
        assert abs(measured["n2"]["offset_s"] - 1.5) <= measured["n2"]["uncertainty_s"]
        for n in ("n1", "n3"):
            assert abs(measured[n]["offset_s"]) <= measured[n]["uncertainty_s"]
        t = run_example(EXAMPLES / "zk-election-leader-link-down.yaml", cluster_file, tmp_path / "run")
    kept = json.loads((t.run / "clocks.json").read_text())
    assert set(kept) == {"start", "end"}
    for o in (o for when in kept.values() for o in when if o["node"] == "n2"):
        assert abs(o["offset_s"] - 1.5) <= o["uncertainty_s"]
    with_measured = qw("logs", "--run", str(t.run), "--json")
    assert "applying clock offsets measured by the run" in with_measured.stderr
    truth = qw("logs", "--run", str(t.run), "--json", "--offset", "n2=1.5", "--offset", "n1=0")
    a, b = json.loads(with_measured.stdout), json.loads(truth.stdout)
    _, skew = load_for_logs(t.run / "clocks.json")
    ma = [o for o in a["overlaps"] if o["certain"]]
    mb = [o for o in b["overlaps"] if o["certain"]]
    assert len(ma) == len(mb) == 1 and ma[0]["nodes"] == mb[0]["nodes"]

    def ts(x: str) -> float:
        return dt.datetime.fromisoformat(x.replace("Z", "+00:00")).timestamp()

    for key in ("start", "end"):
        assert abs(ts(ma[0][key]) - ts(mb[0][key])) <= skew + 0.01
    assert read_results(t.run)["logs"]["clock_offsets_s"]["n2"] == pytest.approx(1.5, abs=0.02)
