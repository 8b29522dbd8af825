"""Cluster files: valid ones load; bad ones give one line per problem with file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quorumwatch.config import (
    ConfigError,
    EtcdProbeConfig,
    NetnsControl,
    SshControl,
    dump_cluster,
    load_cluster,
    split_hostport,
)

GOOD = """\
name: prod-meta
probe:
  kind: etcd
interval: 0.2
nodes:
  - name: n1
    address: 10.0.0.1:2379
  - name: n2
    address: "[fd00::2]:2379"
    control: {netns: qw-t1-n2}
  - name: n3
    address: meta3.example:2379
    control: {ssh: {host: meta3.example, user: ops, port: 2222, key: ~/.ssh/id_ed25519}}
    data_interface: ens224
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "cluster.yaml"
    p.write_text(text)
    return p


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    c = load_cluster(write(tmp_path, GOOD))
    assert c.name == "prod-meta"
    assert isinstance(c.probe, EtcdProbeConfig)
    assert c.effective_deadline == pytest.approx(0.16)
    assert [n.name for n in c.nodes] == ["n1", "n2", "n3"]
    assert c.nodes[0].control == "local"
    assert isinstance(c.nodes[1].control, NetnsControl)
    assert c.nodes[1].host == "fd00::2" and c.nodes[1].port == 2379
    assert isinstance(c.nodes[2].control, SshControl) and c.nodes[2].control.ssh.port == 2222
    assert c.nodes[2].data_interface == "ens224"


def test_dump_round_trips(tmp_path: Path) -> None:
    c = load_cluster(write(tmp_path, GOOD))
    again = load_cluster(write(tmp_path, dump_cluster(c)))
    assert again == c


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (("kind: etcd", "kind: consul"), ":3: probe.kind"),
        (
            ("interval: 0.2", "interval: 0.2\ndeadline: 0.5"),
            "deadline 0.5 s must be shorter than the interval 0.2 s",
        ),
        (("address: 10.0.0.1:2379", "address: 10.0.0.1"), ":7: nodes[0].address: address must be host:port"),
        (("name: n1", "name: 'n1; rm -rf /'"), ":6: nodes[0].name: invalid node name"),
        (("{netns: qw-t1-n2}", "{netns: 'a b'}"), ":10: nodes[1].control.netns: invalid namespace name"),
        (("port: 2222", "prot: 2222"), ":13: nodes[2].control.ssh.prot: unknown field"),
        (("data_interface: ens224", "data_interface: 'eth0$(id)'"), ":14: nodes[2].data_interface: invalid"),
        (("name: n3", "name: n1"), "duplicate node names: n1"),
        (("interval: 0.2", "interval: -1"), ":4: interval: Input should be greater than 0"),
        (("{netns: qw-t1-n2}", "{docker: x}"), "nodes[1].control: control must be 'local'"),
    ],
)
def test_bad_files_name_file_line_and_field(tmp_path: Path, mutation: tuple[str, str], expected: str) -> None:
    old, new = mutation
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_cluster(path)
    message = str(err.value)
    assert str(path) in message
    assert expected in message
    assert "Traceback" not in message


def test_missing_required_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cluster.yaml:\d+: nodes\[0\].address: required field is missing"):
        load_cluster(write(tmp_path, "name: x\nprobe: {kind: etcd}\nnodes:\n  - name: n1\n"))


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cluster.yaml:4: invalid YAML"):
        load_cluster(write(tmp_path, "name: x\nprobe: {kind: etcd}\nnodes: [\n  - : :\n"))


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_cluster(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_cluster(tmp_path / "nope.yaml")


def test_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "cluster.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"cluster.yaml: not UTF-8 text \(byte 0\)"):
        load_cluster(p)


def test_with_timing_keeps_deadline_inside_the_tick(tmp_path: Path) -> None:
    c = load_cluster(write(tmp_path, GOOD))
    faster = c.with_timing(0.05, None)
    assert faster.interval == 0.05 and faster.effective_deadline == pytest.approx(0.04)
    slower = c.with_timing(1.0, None)
    assert slower.effective_deadline == pytest.approx(0.16)
    with pytest.raises(ConfigError, match="must be shorter"):
        c.with_timing(1.0, 5.0)


@pytest.mark.parametrize("bad", ["nohost", "h:0", "h:70000", "h:-1", "a b:1"])
def test_split_hostport_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match=r"address|port"):
        split_hostport(bad)


def test_command_probe_regex_checked(tmp_path: Path) -> None:
    text = GOOD.replace("kind: etcd", "kind: command\n  argv: [x]\n  leader_regex: '(unclosed'")
    with pytest.raises(ConfigError, match=r"probe\.leader_regex: bad regular expression"):
        load_cluster(write(tmp_path, text))


HOSTILE_YAML = {
    "unknown tag": ("name: !foo x\n", "cluster.yaml:1: cannot read 'x': could not determine a constructor"),
    "bad timestamp": ("interval: !!timestamp 2020-13-45\n", ":1: cannot read '2020-13-45': month"),
    "bad bool": ("interval: !!bool maybe\n", "cluster.yaml:1: cannot read 'maybe': not a valid bool"),
    "mapping as key": ("? {a: 1}\n: 2\n", "cluster.yaml:1: a key must be a plain value"),
    "5,000 digits": ("interval: " + "9" * 5000 + "\n", "cannot read '9999"),
    "nested 10,000 deep": ("x: " + "[" * 10000 + "]" * 10000 + "\n", "cluster.yaml: nested too deeply"),
    "nested 100 deep": ("x: " + "[" * 100 + "]" * 100 + "\n", "nested more than 64 levels deep"),
    "name with a newline": (GOOD.replace("name: n1", 'name: "n1\\n"'), "invalid node name 'n1\\n'"),
    "address with a newline": (GOOD.replace("10.0.0.1:2379", '"10.0.0.1:2379\\n"'), "must be host:port"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE_YAML))
def test_hostile_yaml_is_a_one_line_error_naming_file_and_line(tmp_path: Path, case: str) -> None:
    text, expected = HOSTILE_YAML[case]
    with pytest.raises(ConfigError) as err:
        load_cluster(write(tmp_path, text if text.startswith("name") else text + GOOD.split("\n", 1)[1]))
    assert expected in str(err.value), str(err.value)
    assert all(len(line) < 400 for line in str(err.value).splitlines())


def test_merge_keys_are_read_as_yaml_defines_them(tmp_path: Path) -> None:
    text = "name: m\nx-probe: &p {kind: etcd}\nprobe:\n  <<: *p\n"
    text += "nodes:\n  - {name: n1, address: '127.0.0.1:1'}\n"
    with pytest.raises(ConfigError, match=r"cluster.yaml:2: x-probe: unknown field"):
        load_cluster(write(tmp_path, text))  # the anchor's holder is unknown; the merge itself worked
    c = load_cluster(
        write(tmp_path, text.replace("x-probe: &p {kind: etcd}\nprobe:\n  <<: *p", "probe: &p {kind: etcd}"))
    )
    assert c.probe.kind == "etcd"


def test_devices_fifos_and_huge_files_are_refused_without_reading_them(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    for path, expected in ((Path("/dev/zero"), "not a regular file"), (fifo, "not a regular file")):
        with pytest.raises(ConfigError, match=expected):
            load_cluster(path)  # a FIFO would block forever, /dev/zero never end
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (5 << 20))
    with pytest.raises(ConfigError, match="larger than 4 MB"):
        load_cluster(big)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_cluster(bad)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzzed_cluster_files_load_or_fail_with_a_config_error(tmp_path: Path, data: st.DataObject) -> None:
    """Random text, and a good file with random cuts, insertions and YAML punctuation: either a
    cluster or a ConfigError, never another exception."""
    base = data.draw(st.sampled_from([GOOD, ""]))
    pieces = st.sampled_from([
        "!", "!!", "&a", "*a", "<<: ", "? ", "- ", "{", "}", "[", "]", ": ", "\n", "  ", "!!binary ",
        "!!float ", ".inf", "1e999", "\t", "\x00", "\ufeff", "'", '"', "#",
    ])  # fmt: skip
    text = base
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 8))
        insert = data.draw(st.one_of(pieces, st.text(max_size=12)))
        text = text[:at] + insert + text[at + cut :]
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_cluster(path)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)) and len(message.splitlines()[0]) < 400, message


def test_a_huge_bad_value_is_quoted_cut_short(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_cluster(write(tmp_path, GOOD.replace("name: n1", "name: " + "x" * 1_000_000 + "!")))
    assert "invalid node name 'xxxx" in str(err.value) and "…'" in str(err.value)
    assert max(len(line) for line in str(err.value).splitlines()) < 400


def _redis_file(tmp_path: Path, password: object) -> Path:
    import yaml

    f = tmp_path / "r.yaml"
    probe = {"kind": "redis", "username": "probe", "password": password}
    f.write_text(
        yaml.safe_dump({"name": "r", "probe": probe, "nodes": [{"name": "n1", "address": "127.0.0.1:1"}]})
    )
    return f


def test_a_literal_secret_is_never_shown_nor_written(tmp_path: Path) -> None:
    from quorumwatch.config import REDACTED, dump_cluster, reveal

    c = load_cluster(_redis_file(tmp_path, "hunter2-literal"))
    assert "hunter2" not in repr(c) and "hunter2" not in str(c.probe)
    assert "hunter2" not in dump_cluster(c) and REDACTED in dump_cluster(c)
    assert reveal(c.probe.password, "probe.password") == "hunter2-literal"  # type: ignore[union-attr,arg-type]


@pytest.mark.parametrize(
    ("password", "env", "content", "expect"),
    [
        ({"env": "QW_TEST_SECRET"}, "from-env", None, "from-env"),
        ({"file": "{dir}/pw"}, None, "from-file\n", "from-file"),
        ({"file": "{dir}/pw"}, None, "two\nlines\n\n", "two\nlines\n"),
    ],
)
def test_secrets_from_the_environment_or_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: dict[str, str], env: str | None,
    content: str | None, expect: str,
) -> None:  # fmt: skip
    from quorumwatch.config import dump_cluster, reveal

    if env is not None:
        monkeypatch.setenv("QW_TEST_SECRET", env)
    if content is not None:
        (tmp_path / "pw").write_text(content)
    ref = {k: v.format(dir=tmp_path) for k, v in password.items()}
    c = load_cluster(_redis_file(tmp_path, ref))
    assert reveal(c.probe.password, "probe.password") == expect  # type: ignore[union-attr,arg-type]
    assert expect.strip() not in dump_cluster(c) and next(iter(ref.values())) in dump_cluster(c)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        (
            {"env": "QW_TEST_UNSET_SECRET"},
            "probe.password: environment variable QW_TEST_UNSET_SECRET is not set",
        ),
        ({"file": "/nonexistent/pw"}, "probe.password: cannot read '/nonexistent/pw'"),
    ],
)
def test_a_secret_that_cannot_be_read_is_a_one_line_error(
    tmp_path: Path, password: object, message: str
) -> None:
    from tests.labkit import qw

    r = qw("check", str(_redis_file(tmp_path, password)))
    assert r.returncode == 2 and r.stderr.startswith(f"quorumwatch: {message}") and r.stderr.count("\n") == 1


@pytest.mark.parametrize("password", [["x"], {"env": "A", "file": "B"}, {"env": "1BAD"}, {"vault": "x"}, 5])
def test_malformed_secrets_are_refused_in_one_line(tmp_path: Path, password: object) -> None:
    with pytest.raises(ConfigError) as err:
        load_cluster(_redis_file(tmp_path, password))
    text = str(err.value)
    assert (
        "probe.password" in text and "\n" not in text and ("secret is a string" in text or "variable" in text)
    )


def test_a_run_directory_holds_no_literal_secret(tmp_path: Path) -> None:
    from tests.labkit import qw

    run = tmp_path / "run"
    r = qw("watch", str(_redis_file(tmp_path, "hunter2-literal")), "--duration", "0.5", "--run-dir", str(run))
    assert r.returncode == 1 and "verdict: inconclusive" in r.stderr, r.stderr  # every node refused
    written = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in written} >= {"cluster.yaml", "results.json", "history.sqlite"}
    assert not [p.name for p in written if b"hunter2" in p.read_bytes()]
    assert "hunter2" not in r.stdout + r.stderr
