"""The linearizability checker on literal histories: one per rule, the two methods against each other,
deadlines and bounds that give unknown (never linearizable), and the readers of foreign histories."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quorumwatch.analysis import linearizability as lin
from quorumwatch.analysis.histories import HistoryError, parse_edn, read_history
from quorumwatch.analysis.linearizability import KeyVerdict, RegOp, Status, check
from tests.clirun import qw_in

OK, FAIL, UNK = Status.OK, Status.FAIL, Status.UNKNOWN


def w(i: int, v: object, call: int, ret: int | None, status: Status = OK, key: str = "k") -> RegOp:
    return RegOp(i, key, "write", status, call, ret, v)


def r(i: int, v: object, call: int, ret: int | None, status: Status = OK, key: str = "k") -> RegOp:
    return RegOp(i, key, "read", status, call, ret, v)


def cas(i: int, old: object, new: object, call: int, ret: int | None, status: Status = OK) -> RegOp:
    return RegOp(i, "k", "cas", status, call, ret, new, expect=old)


def one(*ops: RegOp) -> lin.KeyResult:
    (k,) = check(list(ops)).keys
    return k


def test_a_read_after_its_write_is_linearizable() -> None:
    k = one(w(0, 1, 0, 10), r(1, 1, 20, 30))
    assert (k.verdict, k.method) == (KeyVerdict.LINEARIZABLE, "unique-values")


def test_a_stale_read_names_the_read_and_the_write_that_replaced_its_value() -> None:
    k = one(w(0, 1, 0, 10), w(1, 2, 20, 30), r(2, 1, 40, 50))
    assert k.verdict is KeyVerdict.VIOLATED and k.violation is not None
    assert k.violation.op.index == 2 and [x.index for x in k.violation.stale_by] == [1]
    assert k.violation.possible == (2,)
    assert k.violation.prefix == (0, 1)
    assert [(a.index, b.index) for a, b in k.stale_reads] == [(2, 1)]


def test_a_read_concurrent_with_the_next_write_may_see_the_old_value() -> None:
    assert one(w(0, 1, 0, 10), w(1, 2, 20, 60), r(2, 1, 30, 40)).verdict is KeyVerdict.LINEARIZABLE


def test_a_read_that_ends_before_its_write_began_is_impossible() -> None:
    k = one(r(0, 1, 0, 10), w(1, 1, 20, 30))
    assert k.verdict is KeyVerdict.VIOLATED and k.violation is not None and k.violation.op.index == 0


def test_the_initial_value_after_an_acknowledged_write_is_stale() -> None:
    k = one(w(0, 1, 0, 10), r(1, None, 20, 30))
    assert k.verdict is KeyVerdict.VIOLATED and k.violation is not None
    assert k.violation.op.index == 1 and k.violation.stale_by[0].index == 0


def test_an_unknown_write_may_take_effect_late_or_never() -> None:
    late = one(w(0, 1, 0, 10), w(1, 2, 20, None, UNK), r(2, 2, 1000, 1010))
    never = one(w(0, 1, 0, 10), w(1, 2, 20, None, UNK), r(2, 1, 1000, 1010))
    assert late.verdict is KeyVerdict.LINEARIZABLE and never.verdict is KeyVerdict.LINEARIZABLE
    # once seen, it cannot be undone: reading 1 again after reading 2
    back = one(w(0, 1, 0, 10), w(1, 2, 20, None, UNK), r(2, 2, 1000, 1010), r(3, 1, 1020, 1030))
    assert back.verdict is KeyVerdict.VIOLATED


def test_failed_and_unknown_reads_say_nothing_and_failed_writes_did_not_happen() -> None:
    k = one(
        w(0, 1, 0, 10), r(1, 7, 20, 30, FAIL), r(2, 8, 20, None, UNK), w(3, 2, 40, 50, FAIL), r(4, 1, 60, 70)
    )
    assert k.verdict is KeyVerdict.LINEARIZABLE and k.ops == 2


def test_a_failed_cas_means_the_value_was_not_the_expected_one() -> None:
    assert one(w(0, 1, 0, 10), cas(1, 1, 2, 20, 30, FAIL)).verdict is KeyVerdict.VIOLATED
    assert one(w(0, 1, 0, 10), cas(1, 3, 4, 20, 30, FAIL)).verdict is KeyVerdict.LINEARIZABLE
    ok = one(w(0, 1, 0, 10), cas(1, 1, 2, 20, 30), r(2, 2, 40, 50))
    assert (ok.verdict, ok.method) == (KeyVerdict.LINEARIZABLE, "search")


def test_an_unknown_cas_may_apply_or_not() -> None:
    applied = one(w(0, 1, 0, 10), cas(1, 1, 2, 20, None, UNK), r(2, 2, 40, 50))
    skipped = one(w(0, 1, 0, 10), cas(1, 1, 2, 20, None, UNK), r(2, 1, 40, 50))
    assert applied.verdict is KeyVerdict.LINEARIZABLE and skipped.verdict is KeyVerdict.LINEARIZABLE


def test_the_search_explains_where_it_stopped() -> None:
    """Values repeat, so the search decides: the read of 1 after 2 was written twice over."""
    k = one(w(0, 1, 0, 10), w(1, 2, 20, 30), w(2, 2, 40, 50), r(3, 1, 60, 70))
    assert (k.verdict, k.method) == (KeyVerdict.VIOLATED, "search") and k.violation is not None
    assert k.violation.op.index == 3 and k.violation.possible == (2,) and set(k.violation.prefix) == {0, 1, 2}


def test_keys_are_checked_apart_and_the_worst_key_decides() -> None:
    res = check([w(0, 1, 0, 10, key="a"), r(1, 1, 20, 30, key="a"),
                 w(2, 1, 0, 10, key="b"), w(3, 2, 20, 30, key="b"), r(4, 1, 40, 50, key="b")])  # fmt: skip
    assert [(k.key, k.verdict) for k in res.keys] == [
        ("a", KeyVerdict.LINEARIZABLE),
        ("b", KeyVerdict.VIOLATED),
    ]
    assert res.verdict is KeyVerdict.VIOLATED


def _hard(n: int) -> list[RegOp]:
    """n writes of unknown outcome (values repeating), all pending, then a read of a value none
    wrote: every subset of them, in every order, is tried before the read is found impossible."""
    return [w(i, i % 2, 0, None, UNK) for i in range(n)] + [r(n, 99, 2000, 2010)]


def test_a_deadline_that_runs_out_gives_unknown_never_linearizable() -> None:
    ticks = iter(range(10**9))
    res = check(_hard(12), deadline_s=5, clock=lambda: float(next(ticks)))
    (k,) = res.keys
    assert (
        k.verdict is KeyVerdict.UNKNOWN
        and "deadline" in (k.reason or "")
        and res.verdict is KeyVerdict.UNKNOWN
    )


def test_a_bounded_memo_gives_unknown() -> None:
    (k,) = check(_hard(12), max_states=50).keys
    assert k.verdict is KeyVerdict.UNKNOWN and "50 states" in (k.reason or "")


def test_one_hard_key_does_not_starve_the_others() -> None:
    """Smallest keys first under one deadline: the easy keys are decided, the hard one is unknown."""
    hard = [RegOp(op.index, "zz-hard", op.kind, op.status, op.call, op.ret, op.value) for op in _hard(16)]
    easy = [w(100, 1, 0, 10, key="a"), r(101, 1, 20, 30, key="a")]
    calls = iter(range(10**9))  # the clock advances a second each time it is read
    res = check(hard + easy, deadline_s=30, clock=lambda: float(next(calls)))
    verdicts = {k.key: k.verdict for k in res.keys}
    assert verdicts == {"a": KeyVerdict.LINEARIZABLE, "zz-hard": KeyVerdict.UNKNOWN}


def test_nothing_examined_is_unknown() -> None:
    res = check([r(0, 1, 0, 10, FAIL)])
    assert res.verdict is KeyVerdict.UNKNOWN and res.keys[0].method == "none"


@st.composite
def _histories(draw: st.DrawFn) -> list[RegOp]:
    n = draw(st.integers(1, 7))
    ops: list[RegOp] = []
    for i in range(n):
        call = draw(st.integers(0, 40))
        ret = call + draw(st.integers(1, 15))
        status = draw(st.sampled_from([OK, OK, OK, UNK, FAIL]))
        if draw(st.booleans()):
            ops.append(w(i, f"v{i}", call, None if status is UNK else ret, status))
        else:
            ops.append(r(i, draw(st.sampled_from([None] + [f"v{j}" for j in range(n)])), call, ret))
    return ops


@settings(max_examples=400, deadline=None)
@given(_histories())
def test_the_zone_test_and_the_search_agree_on_unique_value_histories(ops: list[RegOp]) -> None:
    """Two algorithms, one answer: Gibbons & Korach's zones (polynomial) and Wing & Gong's search
    (exhaustive) on every generated history with unique values."""
    kept = lin._relevant(ops)
    if not kept:
        return
    zones = lin._zones("k", kept)
    search = lin._search("k", kept, float("inf"), 10**7, lambda: 0.0)
    assert zones.verdict == search.verdict, (ops, zones, search)


# --- histories from elsewhere ---------------------------------------------------------------------

JEPSEN = """\
INFO  jepsen.util - 0	:invoke	:write	1
INFO  jepsen.util - 0	:ok	:write	1
INFO  jepsen.core - something else Jepsen logs
INFO  jepsen.util - 1	:invoke	:cas	[1 2]
INFO  jepsen.util - 2	:invoke	:read	nil
INFO  jepsen.util - 1	:info	:cas	:timed-out
INFO  jepsen.util - 2	:ok	:read	2
INFO  jepsen.util - 3	:invoke	:read	nil
INFO  jepsen.util - 3	:fail	:read	:timed-out
INFO  jepsen.util - 6	:invoke	:read	nil
INFO  jepsen.util - 6	:ok	:read	1
"""


def test_a_jepsen_log_is_read_with_info_as_unknown_and_processes_retired() -> None:
    ops = read_history(JEPSEN.splitlines(), "jepsen-log", "cas-register", "etcd.log")
    got = [(o.kind, o.status, o.value, o.expect, o.ret is None, o.where) for o in ops]
    assert got == [  # in the order they completed
        ("write", OK, 1, None, False, "etcd.log:1"),
        ("cas", UNK, 2, 1, True, "etcd.log:4"),
        ("read", OK, 2, None, False, "etcd.log:5"),
        ("read", FAIL, None, None, False, "etcd.log:8"),
        ("read", OK, 1, None, False, "etcd.log:10"),
    ]
    # the unknown cas took effect (2 was read), and then 1 is read again: no order explains it
    res = check(ops)
    assert res.verdict is KeyVerdict.VIOLATED and res.keys[0].violation is not None
    assert res.keys[0].violation.op.where == "etcd.log:10"


def test_edn_and_json_lines_with_keys_and_times() -> None:
    edn = [
        '{:process 0, :type :invoke, :f :put, :key "3", :value "x", :time 10}',
        '{:process 0, :type :ok, :f :put, :key "3", :value "x", :time 20}',
        '{:process 1, :type :invoke, :f :get, :key "3", :value nil, :time 30}',
        '{:process 1, :type :ok, :f :get, :key "3", :value "x", :time 40}',
    ]
    ops = read_history(edn, "edn", "kv", "h.edn")
    assert [(o.key, o.kind, o.value, o.call, o.ret) for o in ops] == [
        ("3", "write", "x", 10, 20), ("3", "read", "x", 30, 40)]  # fmt: skip
    jsonl = [json.dumps({"process": p, "type": t, "f": f, "key": "k", "value": v, "time": tm})
             for p, t, f, v, tm in [(0, "invoke", "write", 1, 1), (0, "ok", "write", 1, 2)]]  # fmt: skip
    (op,) = read_history(jsonl, "jsonl", "register", "h.jsonl")
    assert (op.kind, op.value, op.call, op.ret) == ("write", 1, 1, 2)
    indep = [
        "{:process 0, :type :invoke, :f :write, :value [7 1]}",
        "{:process 0, :type :ok, :f :write, :value [7 1]}",
    ]
    (op,) = read_history(indep, "edn", "kv", "h.edn")
    assert (op.key, op.value) == ("7", 1)


@pytest.mark.parametrize(
    ("lines", "fmt", "message"),
    [
        (["{:process 0, :type :bogus, :f :read}"], "edn", "h:1: type ':bogus': expected invoke, ok, fail"),
        (["{:process 0 :type"], "edn", "h:1: no closing '}'"),
        (['{"process": 0, "type": "ok", "f": "read", "value": 1}'], "jsonl",
         "h:1: process 0 completes an operation it never invoked"),
        (["not json"], "jsonl", "h:1: not JSON"),
        (["INFO  jepsen.util - 0	:invoke	:cas	[1 2]"], "jepsen-log",
         "h:1: a cas in a --model register history (use cas-register)"),
    ],
)  # fmt: skip
def test_a_malformed_line_is_one_error_naming_file_and_line(lines: list[str], fmt: str, message: str) -> None:
    with pytest.raises(HistoryError) as exc:
        read_history(lines, fmt, "register", "h")  # type: ignore[arg-type]
    assert str(exc.value).startswith(message), str(exc.value)


def test_edn_values() -> None:
    assert parse_edn('{:a [1 2.5 "s\\"q" nil true :kw] :b {:c -3N}}') == {
        "a": [1, 2.5, 's"q', None, True, ":kw"], "b": {"c": -3}}  # fmt: skip


def _qw(*args: str) -> subprocess.CompletedProcess[str]:
    return qw_in(*args)


def test_the_command_exits_0_6_1_2(tmp_path: Path) -> None:
    good = tmp_path / "good.log"
    good.write_text("".join(line + "\n" for line in JEPSEN.splitlines()[:3]))
    bad = tmp_path / "bad.log"
    bad.write_text(JEPSEN)
    junk = tmp_path / "junk.edn"
    junk.write_text("{:process 0, :type :invoke, :f :read}\n{:process 0 :type\n")
    g = _qw("linearizability", str(good))
    assert g.returncode == 0 and g.stdout.startswith("verdict: linearizable"), g.stdout + g.stderr
    b = _qw("linearizability", str(bad), "--json")
    data = json.loads(b.stdout)
    assert b.returncode == 6 and data["verdict"] == "violated"
    assert data["results"][0]["violation"]["op"]["where"] == f"{bad}:10"
    j = _qw("linearizability", str(junk))
    assert (
        j.returncode == 1
        and j.stderr.strip() == f"quorumwatch: {junk}:2: no closing '}}' for the map that begins here"
    )
    assert "Traceback" not in j.stderr
    assert _qw("linearizability", str(good), "--deadline", "0").returncode == 2
    assert _qw("linearizability", str(good), "--model", "nope").returncode == 2


@st.composite
def _cas_histories(draw: st.DrawFn) -> list[RegOp]:
    """Small register histories with repeated values, CAS and every outcome."""
    n = draw(st.integers(1, 8))
    ops: list[RegOp] = []
    values = st.sampled_from([None, 1, 2, 3])
    for i in range(n):
        call = draw(st.integers(0, 40))
        ret = call + draw(st.integers(1, 15))
        status = draw(st.sampled_from([OK, OK, OK, UNK, FAIL]))
        kind = draw(st.sampled_from(["read", "write", "cas"]))
        end = None if status is UNK else ret
        if kind == "read":
            ops.append(r(i, draw(values), call, end, status))
        elif kind == "write":
            ops.append(w(i, draw(st.sampled_from([1, 2, 3])), call, end, status))
        else:
            ops.append(cas(i, draw(values), draw(st.sampled_from([1, 2, 3])), call, end, status))
    return ops


@settings(max_examples=600, deadline=None)
@given(_cas_histories())
def test_the_two_searches_agree(ops: list[RegOp]) -> None:
    """Wing & Gong's search (Porcupine's, Knossos's) and Lowe's just-in-time one: one answer on every
    generated history with CAS, repeated values and unknown outcomes."""
    kept = lin._relevant(ops)
    if not kept:
        return
    wgl = lin._search("k", kept, float("inf"), 10**7, lambda: 0.0)
    jit = lin._jit("k", kept, float("inf"), 10**7, lambda: 0.0)
    assert wgl.verdict == jit.verdict, (ops, wgl, jit)


@st.composite
def _unique_cas_histories(draw: st.DrawFn) -> list[RegOp]:
    """Our own register workload's shape: every write and cas sets a value of its own; a cas expects
    any value (or none)."""
    n = draw(st.integers(1, 8))
    ops: list[RegOp] = []
    for i in range(n):
        call = draw(st.integers(0, 40))
        ret = call + draw(st.integers(1, 15))
        status = draw(st.sampled_from([OK, OK, OK, UNK, FAIL]))
        end = None if status is UNK else ret
        kind = draw(st.sampled_from(["read", "write", "cas"]))
        seen = st.sampled_from([None] + [f"v{j}" for j in range(n)])
        if kind == "read":
            ops.append(r(i, draw(seen), call, ret))
        elif kind == "write":
            ops.append(w(i, f"v{i}", call, end, status))
        else:
            ops.append(cas(i, draw(seen), f"v{i}", call, end, status))
    return ops


@settings(max_examples=600, deadline=None)
@given(_unique_cas_histories())
def test_unique_values_with_cas_agree_with_the_search_and_list_only_reads(ops: list[RegOp]) -> None:
    """A cas taken apart (its compare a read, its set a write) can only find real violations: the
    verdict is the exhaustive search's, and the stale reads listed are reads."""
    kept = lin._relevant(ops)
    if not kept:
        return
    (k,) = check(ops).keys
    search = lin._search("k", kept, float("inf"), 10**7, lambda: 0.0)
    assert k.verdict == search.verdict, (ops, k, search)
    assert all(rd.kind == "read" for rd, _ in k.stale_reads)
    if k.violation is not None:
        assert any(k.violation.op == op for op in ops)


def test_a_cas_that_expected_an_overwritten_value_is_named_as_the_cas() -> None:
    k = one(w(0, "a", 0, 10), w(1, "b", 20, 30), cas(2, "a", "c", 40, 50), r(3, "c", 60, 70))
    assert (k.verdict, k.method) == (KeyVerdict.VIOLATED, "unique-values") and k.violation is not None
    assert k.violation.op.kind == "cas" and k.violation.op.index == 2
    assert k.violation.reason.startswith("the compare of cas op 2: ") and k.stale_reads == ()


def test_our_own_runs_and_their_json_lines_are_histories_too(tmp_path: Path) -> None:
    from quorumwatch.model import Operation, OperationKind, Outcome
    from quorumwatch.store import HistoryFile

    def run(name: str, kind: str, ops: list[Operation]) -> Path:
        d = tmp_path / name
        d.mkdir()
        h = HistoryFile.create(d / "history.sqlite", ["a", "b"], {"workload_kind": kind})
        for o in ops:
            h.append_operation(o)
        h.close()
        return d

    ms = 1_000_000
    stale = run("stale", "register", [
        Operation(0, OperationKind.WRITE, "a", 0, 10 * ms, 0, Outcome.OK, "0", 1, None, "k"),
        Operation(1, OperationKind.WRITE, "b", 20 * ms, 30 * ms, 0, Outcome.OK, "1", 2, None, "k"),
        Operation(2, OperationKind.READ, "a", 40 * ms, 50 * ms, 0, Outcome.OK, "0", 1, None, "k"),
    ])  # fmt: skip
    got = _qw("linearizability", str(stale))
    assert got.returncode == 6 and "op 2, read '0' (ok) via a" in got.stdout, got.stderr
    lines = _qw("history", str(stale), "--format", "jsonl")
    assert lines.returncode == 0 and lines.stdout.count('"type": "operation"') == 3
    exported = tmp_path / "ops.jsonl"
    exported.write_text(lines.stdout)
    again = _qw("linearizability", str(exported), "--json")
    assert again.returncode == 6
    (k,) = json.loads(again.stdout)["results"]
    assert k["violation"]["op"]["node"] == "a" and [w["index"] for w in k["violation"]["stale_by"]] == [1]
    assert _qw("linearizability", str(stale / "history.sqlite")).returncode == 6
    # a set workload is no register; a damaged operation line names its file and line
    sets = run("set", "set", [Operation(0, OperationKind.ADD, "a", 0, 1, 0, Outcome.OK, "0")])
    wrong = _qw("linearizability", str(sets))
    assert wrong.returncode == 1 and "its workload is 'set', not a register" in wrong.stderr
    exported.write_text(lines.stdout.replace('"send_ns": 0', '"send_ns": "soon"', 1))
    bad = _qw("linearizability", str(exported))
    assert bad.returncode == 1 and f"{exported}:1: send_ns 'soon': expected an integer" in bad.stderr
    assert "Traceback" not in bad.stderr + wrong.stderr


KNOSSOS_SHAPED = """; a vector of maps, as Knossos's data files hold them
[{:process 0, :type :invoke, :f :write, :value 1}
 {:process 0, :type :ok, :f :write, :value 1}
 {:process :nemesis, :type :info, :f :start, :value nil}
 {:process 1,
  :type :invoke,
  :f :cas, :value [2 3]}   ; the register holds 1: this cas cannot succeed
 {:process 1, :type :fail, :f :cas, :value [2 3]}
 {:process 2, :type :invoke, :f :cas, :value [1 2]}
 {:process 2, :type :fail, :f :cas, :value [1 2]} ; failed, though 1 was there: not a compare
 {:process 3, :type :invoke, :f :read, :value nil}
 {:process 3, :type :ok, :f :read, :value 1}]
"""


def test_knossos_shaped_files_and_the_two_readings_of_a_failed_cas(tmp_path: Path) -> None:
    ops = read_history(KNOSSOS_SHAPED.splitlines(), "edn", "cas-register", "k.edn")
    assert [(o.kind, o.status, o.where) for o in ops] == [
        ("write", OK, "k.edn:2"), ("cas", FAIL, "k.edn:5"), ("cas", FAIL, "k.edn:9"),
        ("read", OK, "k.edn:11"),
    ]  # fmt: skip
    # read as Porcupine does, the second cas says 1 was not there: impossible
    (k,) = check(ops, recheck=True).keys
    assert k.verdict is KeyVerdict.VIOLATED and k.failed_cas_matters
    # read as Knossos does, failed operations say nothing
    assert check(ops, failed_cas="ignored").verdict is KeyVerdict.LINEARIZABLE
    f = tmp_path / "k.edn"
    f.write_text(KNOSSOS_SHAPED)
    said = _qw("linearizability", str(f))
    assert said.returncode == 6 and "with failed cas ignored (Knossos's reading" in said.stdout
    assert _qw("linearizability", str(f), "--failed-cas", "ignored").returncode == 0
    f.write_text(KNOSSOS_SHAPED.replace(":value [1 2]}\n", ":value [1 2]\n", 1))
    broken = _qw("linearizability", str(f))
    assert broken.returncode == 1 and "k.edn:9: " in broken.stderr and "Traceback" not in broken.stderr
