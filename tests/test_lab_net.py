"""Lab addressing and naming (pure), and refusal of bad names and duplicate labs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from quorumwatch.lab import manager, net
from quorumwatch.lab.system import LabError


def test_plan_uses_private_lab_subnets_and_unique_addresses() -> None:
    p = net.plan("t1", 7, ["n1", "n2", "n3"])
    data = ipaddress.ip_network(p.data_subnet)
    mgmt = ipaddress.ip_network(p.mgmt_subnet)
    assert data.is_private and mgmt.is_private and not data.overlaps(mgmt)
    addrs = [n.data_ip for n in p.nodes] + [n.mgmt_ip for n in p.nodes] + [p.host_ip]
    assert len(set(addrs)) == len(addrs)
    assert all(ipaddress.ip_address(a) in data for a in (n.data_ip for n in p.nodes))
    assert all(ipaddress.ip_address(a) in mgmt for a in (n.mgmt_ip for n in p.nodes))
    assert [n.netns for n in p.nodes] == ["qw-t1-n1", "qw-t1-n2", "qw-t1-n3"]
    assert len(p.host_if) <= 15


def test_plans_of_different_labs_do_not_overlap() -> None:
    a, b = net.plan("a", 1, ["n1"]), net.plan("b", 2, ["n1"])
    assert not ipaddress.ip_network(a.data_subnet).overlaps(ipaddress.ip_network(b.data_subnet))
    assert a.host_if != b.host_if


@pytest.mark.parametrize("name", ["T1", "a-b", "x;rm", "", "toolongname123", "1abc"])
def test_bad_lab_names(name: str) -> None:
    with pytest.raises(LabError, match="invalid lab name"):
        manager.check_lab_name(name)


def test_index_out_of_range() -> None:
    with pytest.raises(LabError):
        net.plan("x", 0, ["n1"])


def test_lab_options_of_another_kind_are_refused_before_anything_starts() -> None:
    from tests.clirun import qw_in

    r = qw_in("lab", "up", "etcd", "--synchronous", "--ttl", "20")
    assert r.returncode == 2 and "--ttl, --synchronous: for the patroni lab only" in r.stderr


def test_a_lab_its_kind_refuses_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from tests.clirun import qw_in

    if os.geteuid() != 0:
        pytest.skip("lab up checks for root first")
    monkeypatch.setenv("QUORUMWATCH_LABS", str(tmp_path / "labs"))
    r = qw_in("lab", "up", "redis-cluster", "--nodes", "2", "--name", "tiny")
    assert r.returncode == 1 and "redis-cluster needs --nodes 3 or more" in r.stderr
    assert not (tmp_path / "labs" / "tiny").exists()
