"""Scenario files: validation with places, cluster by path or inline, --cluster override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quorumwatch.config import ConfigError
from quorumwatch.faults.specs import LinkSpec, NodesTarget, PartitionSpec, RoleTarget
from quorumwatch.scenario import dump_scenario, load_scenario

CLUSTER = """\
name: c1
probe: {kind: etcd}
interval: 0.2
nodes:
  - {name: n1, address: "10.0.0.1:2379"}
  - {name: n2, address: "10.0.0.2:2379"}
  - {name: n3, address: "10.0.0.3:2379"}
"""

SCENARIO = """\
cluster: cluster.yaml
interval: 0.1
steady_state: {leaders: 1, for: 2, within: 20}
faults:
  - kind: link
    target: leader
    after: 1
    hold: 4
  - {kind: partition, mode: halves, target: n2, hold: 3}
trials: 3
cooldown: 1
"""


LEADER = "target: leader"


def files(tmp_path: Path, scenario: str = SCENARIO) -> Path:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    (tmp_path / "s.yaml").write_text(scenario)
    return tmp_path / "s.yaml"


def test_load_with_relative_cluster_and_timing(tmp_path: Path) -> None:
    s, c = load_scenario(files(tmp_path))
    assert c.name == "c1" and c.interval == 0.1 and c.effective_deadline == pytest.approx(0.08)
    assert isinstance(s.faults[0], LinkSpec) and s.faults[0].hold == 4
    assert isinstance(s.faults[1], PartitionSpec) and s.faults[1].mode == "halves"
    assert s.steady_state.hold_for == 2 and s.trials == 3


def test_cluster_override_and_inline_round_trip(tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(CLUSTER.replace("name: c1", "name: c2"))
    s, c = load_scenario(files(tmp_path), other)
    assert c.name == "c2"
    (tmp_path / "asrun.yaml").write_text(dump_scenario(s, c))
    s2, c2 = load_scenario(tmp_path / "asrun.yaml")
    assert c2 == c and s2.faults == s.faults


@pytest.mark.parametrize(
    ("spelled", "target"),
    [
        ("leader", RoleTarget(role="leader")),
        ("{role: leader}", RoleTarget(role="leader")),
        ("n2", NodesTarget(nodes=["n2"])),
        ("[n1, n3]", NodesTarget(nodes=["n1", "n3"])),
        ("{nodes: [n1, n3]}", NodesTarget(nodes=["n1", "n3"])),
        ("null", RoleTarget(role="all")),
    ],
)
def test_a_target_is_a_role_or_nodes_however_it_is_spelled(
    tmp_path: Path, spelled: str, target: object
) -> None:
    """The tagged union, with the older spellings (a role, a node, a list, nothing) read into it;
    a scenario written back (scenario.yaml of a run) reads the same."""
    s, c = load_scenario(files(tmp_path, SCENARIO.replace("target: leader", f"target: {spelled}", 1)))
    assert s.faults[0].target == target
    (tmp_path / "asrun.yaml").write_text(dump_scenario(s, c))
    assert load_scenario(tmp_path / "asrun.yaml")[0].faults[0].target == target


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("kind: link", "kind: earthquake"), ":5: faults[0].kind: unknown kind 'earthquake'"),
        (("hold: 4", "hold: -4"), ":8: faults[0].hold: Input should be greater than 0"),
        (("target: leader", "target: n7"), "faults[0].target: unknown node or role 'n7'"),
        (
            ("target: leader", "target: {nodes: [n1, leader]}"),
            "faults[0].target: unknown node or role 'leader'",
        ),
        (("target: leader", "target: {role: king}"), ":6: faults[0].target.role: Input should be 'leader'"),
        (
            ("target: leader", "target: {node: n1}"),
            ":6: faults[0].target: a node, a list of nodes, {role: ROLE}",
        ),
        (
            ("target: leader", "target: {nodes: []}"),
            "faults[0].target.nodes: List should have at least 1 item",
        ),
        (("trials: 3", "trials: 0"), ":10: trials: Input should be greater than or equal to 1"),
        (
            ("kind: link\n", "kind: link-down\n"),
            "faults[0].kind: unknown kind 'link-down'; choose one of 'link', 'partition', 'loss', 'delay', "
            "'kill', 'pause', 'command'",
        ),
        (("mode: halves", "mode: quarters"), "faults[1].mode"),
        (
            ("kind: link\n", "kind: link\n    interface: 'eth0;reboot'\n"),
            "faults[0].interface: invalid interface name",
        ),
        (("hold: 4", "hold: .inf"), ":8: faults[0].hold: Input should be a finite number"),
        (("after: 1", "after: .nan"), ":7: faults[0].after: Input should be a finite number"),
        (("cooldown: 1", "cooldown: .inf"), ":11: cooldown: Input should be a finite number"),
        (("for: 2", "for: .inf"), "steady_state.for: Input should be a finite number"),
        (("leaders: 1", "leaders: 99"), "steady_state.leaders: 99 leaders among 3 nodes can never hold"),
        (
            ("mode: halves", "mode: groups, groups: [[n1, n9], [n2]]"),
            "faults[1].groups[0]: unknown node 'n9'",
        ),
        (
            ("mode: halves", "mode: groups, groups: [[n1, n2], [n2]]"),
            "faults[1].groups[1]: node 'n2' is in two",
        ),
    ],
)
def test_bad_scenarios(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in SCENARIO
    with pytest.raises(ConfigError) as err:
        load_scenario(files(tmp_path, SCENARIO.replace(old, new, 1)))
    assert expected in str(err.value)
    assert str(tmp_path / "s.yaml") in str(err.value)


def test_no_cluster_anywhere(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("faults: [{kind: kill}]\n")
    with pytest.raises(ConfigError, match="no cluster"):
        load_scenario(p)


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.yaml")))
def test_shipped_examples_validate(tmp_path: Path, example: str) -> None:
    (tmp_path / "cluster.yaml").write_text(CLUSTER)
    s, c = load_scenario(EXAMPLES / example, tmp_path / "cluster.yaml")
    import yaml

    # the leader (of the group the workload writes, in a sharded cluster)
    group = "workload" if "redis-cluster" in example else None
    assert s.faults and s.faults[0].target == RoleTarget(role="leader", group=group)

    # the scenario's probe interval where it sets one (fast systems), else the cluster file's
    assert c.interval == yaml.safe_load((EXAMPLES / example).read_text()).get("interval", 0.2)


def test_examples_are_the_four_promised() -> None:
    assert {p.name for p in EXAMPLES.glob("*.yaml")} >= {
        "etcd-leader-link-down.yaml",
        "zookeeper-leader-link-down.yaml",
        "zk-election-leader-link-down.yaml",
        "redis-master-isolate.yaml",
    }


def _numbers() -> st.SearchStrategy[object]:
    return st.one_of(
        st.floats(0.01, 50), st.integers(1, 5),  # often valid, so reloading is tested often
        st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30),
        st.sampled_from([0, 1e9, 3600, 3600.0001, 1e6, 1e6 + 1, -0.0, ".inf"]), st.text(max_size=5),
    )  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_scenarios_load_and_reload_or_fail_naming_the_file(
    tmp_path: Path, data: st.DataObject
) -> None:
    """Any scenario that loads runs as saved: its copy in a run directory loads back equal (an
    interval of 1e9 once loaded and then its own copy did not); any other is one ConfigError."""
    import yaml

    # half the cases from plausible numbers and each kind's own fields, so that reloading is
    # tested often; the other half anything
    plausible = data.draw(st.booleans())
    n = st.one_of(st.floats(0.01, 1e6), st.integers(1, 5)) if plausible else _numbers()
    kind = data.draw(st.sampled_from(["link", "partition", "pause", "kill", "loss", "delay"]))
    own: dict[str, dict[str, st.SearchStrategy[Any]]] = {
        "link": {"deadman_margin": n}, "pause": {}, "kill": {},
        "partition": {"mode": st.sampled_from(["isolate", "halves", "groups", "x"]),
                      "groups": st.lists(st.lists(st.sampled_from(["n1", "n2", "n3", "n4"]), max_size=3),
                                         max_size=3)},
        "loss": {"probability": st.floats(0.01, 1) if plausible else n},
        "delay": {"delay_ms": n, "jitter_ms": n},
    }  # fmt: skip
    fields = own[kind] if plausible else {k: v for d in own.values() for k, v in d.items()}
    mandatory: dict[str, st.SearchStrategy[Any]] = {"kind": st.just(kind)}
    mandatory |= {k: fields.pop(k) for k in ("probability", "delay_ms") if plausible and k in fields}
    targets = ["leader", "n1", "all", ["n1", "n2"]] + ([] if plausible else ["n9", 5])
    fault = data.draw(
        st.fixed_dictionaries(
            mandatory,
            optional={"after": n, "hold": n, "target": st.sampled_from(targets), **fields},
        )
    )
    scenario = data.draw(
        st.fixed_dictionaries(
            {"cluster": st.just("cluster.yaml"), "faults": st.just([fault])},
            optional={
                "interval": n, "deadline": n, "cooldown": n, "trials": n, "seed": n,
                "steady_state": st.fixed_dictionaries({}, optional={"leaders": n, "for": n, "within": n}),
            },
        )
    )  # fmt: skip
    text = yaml.safe_dump(scenario)
    try:
        s, c = load_scenario(files(tmp_path, text))
    except ConfigError as exc:  # one line per problem, each naming the file
        problems = str(exc).splitlines()
        assert all(line.startswith(str(tmp_path)) for line in problems), problems
        return
    event("loaded")
    (tmp_path / "asrun.yaml").write_text(dump_scenario(s, c))
    s2, c2 = load_scenario(tmp_path / "asrun.yaml")
    assert c2 == c and s2.faults == s.faults and s2.steady_state == s.steady_state
