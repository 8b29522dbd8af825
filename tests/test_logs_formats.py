"""Log formats: real lines from the lab's etcd, zk-election and Redis, and the edge cases."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from quorumwatch.logs.formats import FORMATS, Clock, detect

UTC = dt.UTC


def ns(y: int, mo: int, d: int, h: int, mi: int, s: int, frac_ns: int = 0, tz: dt.tzinfo = UTC) -> int:
    return int(dt.datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp()) * 1_000_000_000 + frac_ns


def parse(fmt: str, line: str, year: int = 2026, tz: dt.tzinfo = UTC) -> tuple[int, str] | None:
    return FORMATS[fmt].parse(line, Clock(tz, year))


def test_glog_with_and_without_year() -> None:
    line = "I1127 02:16:21.118304 14890 participant.py:101] [ROLE CHANGE] I am the leader now.  seq is 1"
    assert parse("glog", line) == (
        ns(2026, 11, 27, 2, 16, 21, 118_304_000),
        "[ROLE CHANGE] I am the leader now.  seq is 1",
    )
    newer = "E20220804 20:15:00.456073  1234 meta.cc:77] Stopping the services of meta, this: 0x5652617e6000"
    assert parse("glog", newer, year=1999)[0] == ns(2022, 8, 4, 20, 15, 0, 456_073_000)  # type: ignore[index]


def test_glog_year_rolls_over_at_new_year() -> None:
    clock = Clock(UTC, 2022)
    dec = FORMATS["glog"].parse("I1231 23:59:59.900000 1 a.cc:1] x", clock)
    jan = FORMATS["glog"].parse("I0101 00:00:00.100000 1 a.cc:1] y", clock)
    assert dec and jan and jan[0] - dec[0] == 200_000_000


def test_zone_less_timestamps_are_read_in_the_given_zone() -> None:
    tz = dt.timezone(dt.timedelta(hours=8))
    got = parse("golog", "2022/08/04 20:15:00.456073 more than 1 leader", tz=tz)
    assert got == (ns(2022, 8, 4, 12, 15, 0, 456_073_000), "more than 1 leader")


def test_zap_json_fractions_zones_and_float_epochs() -> None:
    base = '{"level":"info","ts":"%s","msg":"8e9e05c52164694d became leader at term 5"}'
    assert parse("zap", base % "2026-11-27T02:09:49.831Z")[0] == ns(2026, 11, 27, 2, 9, 49, 831_000_000)  # type: ignore[index]
    assert parse("zap", base % "2026-11-27T02:09:49Z")[0] == ns(2026, 11, 27, 2, 9, 49)  # type: ignore[index]
    nine = parse("zap", base % "2026-11-27T02:09:49.123456789+02:00")
    assert nine and nine[0] == ns(2026, 11, 27, 0, 9, 49, 123_456_789)
    epoch = parse("zap", '{"level":"info","ts":1659644100.5,"msg":"x"}')
    assert epoch and abs(epoch[0] - 1_659_644_100_500_000_000) < 1000
    assert parse("zap", '{"ts": [1], "msg": "x"}') is None
    assert parse("zap", base % "2026-11-27T02:09:49.831+99:99") is None  # impossible offset
    assert parse("log4j", "2023-03-14 01:35:47,825+99:99 x") is None
    assert parse("zap", "{not json") is None


def test_zookeeper_log4j_with_myid_and_colons_in_thread_names() -> None:
    line = (
        "2023-03-14 01:35:47,825 [myid:2] - INFO  [QuorumPeer[myid=2](plain=0.0.0.0:2181)(secure=disabled):"
        "Leader@584] - LEADING - LEADER ELECTION TOOK - 227 MS"
    )
    got = parse("log4j", line)
    assert got and got[0] == ns(2023, 3, 14, 1, 35, 47, 825_000_000)
    assert got[1].endswith("LEADING - LEADER ELECTION TOOK - 227 MS")
    assert parse("log4j", "2023-03-14T01:35:47.825 INFO x")[0] == ns(2023, 3, 14, 1, 35, 47, 825_000_000)  # type: ignore[index]
    py = parse("log4j", "2026-11-27 02:16:21,118 INFO root: Start the leader role")
    assert py and py[1] == "INFO root: Start the leader role"


def test_capnslog() -> None:
    got = parse("capnslog", "2023-03-14 01:35:47.825302 I | raft: 8e9e05c52164694d became leader at term 2")
    assert got == (ns(2023, 3, 14, 1, 35, 47, 825_302_000), "raft: 8e9e05c52164694d became leader at term 2")


def test_redis_forms_keep_the_role_letter() -> None:
    got = parse("redis", "18957:M 27 Nov 2026 02:17:55.318 * Connecting to MASTER 10.213.1.12:6379")
    assert got == (ns(2026, 11, 27, 2, 17, 55, 318_000_000), "[role M] Connecting to MASTER 10.213.1.12:6379")
    old = parse("redis", "18957:S 27 Nov 02:17:55.318 # MASTER <-> REPLICA sync started", year=2019)
    assert old and old[0] == ns(2019, 11, 27, 2, 17, 55, 318_000_000) and old[1].startswith("[role S]")
    ancient = parse("redis", "[4018] 14 Mar 01:35:47.825 # Server started", year=2012)
    assert ancient and ancient[1] == "Server started"


def test_crlf_and_detection() -> None:
    sample = (
        b"I1127 02:16:21.118304 1 a.cc:1] one\r\nI1127 02:16:22.118304 1 a.cc:1] two\r\n  continuation\r\n"
    )
    fmt = detect(sample)
    assert fmt is not None and fmt.name == "glog"
    assert detect(b'{"level":"info","ts":"2026-11-27T02:09:49.831Z","msg":"x"}\n') is FORMATS["zap"]
    assert detect(b"\x00\x01\x02 binary \xff\xfe") is None


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(FORMATS)), st.text(max_size=200))
def test_fuzzed_lines_never_raise(fmt: str, line: str) -> None:
    got = FORMATS[fmt].parse(line, Clock(UTC, 2026))
    assert got is None or (isinstance(got[0], int) and isinstance(got[1], str))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(FORMATS)),
    st.integers(0, 9999),
    st.text(alphabet="0123456789:./-TZ ,", max_size=40),
)
def test_fuzzed_timestamps_never_raise(fmt: str, n: int, junk: str) -> None:
    for line in (f"I{junk} {n} x] y", f"{junk} msg", f'{{"ts":"{junk}","msg":"m"}}', f"{n}:M {junk} * m"):
        FORMATS[fmt].parse(line, Clock(UTC, 2026))


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(sorted(FORMATS)),
    st.integers(0, 99_999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.sampled_from([1, 2026, 9999]),
    st.one_of(st.floats(), st.integers(-(10**30), 10**30)),
)
def test_extreme_times_are_lines_without_a_time_never_errors(
    fmt: str, year: int, month: int, day: int, clock_year: int, number: float
) -> None:
    """Years 0 and 10000, month 13, day 32, NaN, infinities and 1e30 as zap's float time; a year
    without one that rolls over past 9999 (Dec 31 → Jan 1 in year 9999)."""
    import json

    d = f"{year:04d}-{month:02d}-{day:02d}"
    lines = [
        f"{d} 23:59:59,999 - INFO  [x] - LEADING", f"{d}T23:59:59.999Z [INFO]  x",
        f"{d} 23:59:59.999 I | x",
        f"{d}T23:59:59.999+14:00 m", f"<34>1 {d}T23:59:59.003-14:00 h a - - - m",
        json.dumps({"ts": number, "msg": "m"}), json.dumps({"ts": f"{d}T23:59:59.999Z", "msg": "m"}),
        json.dumps({"t": {"$date": f"{d}T23:59:59.999+00:00"}, "msg": "m"}),
        json.dumps({"__REALTIME_TIMESTAMP": str(number), "MESSAGE": "m"}),
        f"I{month:02d}{day:02d} 23:59:59.999999 1 f.go:1] m", f"{year:04d}/{month:02d}/{day:02d} 23:59:59 m",
        f"1:M {day} Dec {year} 23:59:59.999 * m", "1:M 31 Dec 23:59:59.999 * m",
        "1:M 01 Jan 00:00:00.000 * m",
        "Dec 31 23:59:59 h p: m", "Jan  1 00:00:00 h p: m",
    ]  # fmt: skip
    clock = Clock(UTC, clock_year)
    for line in lines:
        got = FORMATS[fmt].parse(line, clock)
        # a time, as datetime can hold it (years 1–9999 in any zone), or no time: never an error
        assert got is None or -62_200_000_000 * 10**9 < got[0] < 253_500_000_000 * 10**9, (fmt, line, got)
