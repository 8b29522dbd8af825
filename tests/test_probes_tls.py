"""TLS for probes: contexts built from a user's files (clear errors when they are wrong), and real
TLS servers on loopback — verified, refused, mismatched — each a `tls: ...` reason, never a crash and
never a silent fallback to plain text. A real client-cert etcd is watched in test_probes_tls_lab.py."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest
import yaml

from quorumwatch.config import ConfigError, EtcdProbeConfig, TlsConfig, load_cluster
from quorumwatch.lab.certs import LabCerts, make_ca, make_lab_certs
from quorumwatch.model import Answer, Reason, Role
from quorumwatch.probes.etcd import EtcdProbe
from quorumwatch.probes.tls import client_context
from tests.responders import Handler, answer_of, http_response, read_http_request, serve

STATUS = b'{"header":{"member_id":"7"},"leader":"7","raftTerm":"4"}'


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> LabCerts:
    return make_lab_certs(tmp_path_factory.mktemp("tls"), {"n1": ["127.0.0.1"]})


def _server_context(certs: LabCerts, *, require_client: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(certs.ca))
    ctx.load_cert_chain(certs.servers["n1"].cert, certs.servers["n1"].key)
    ctx.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_NONE
    return ctx


async def _etcd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while await read_http_request(reader):
        writer.write(http_response(STATUS))
        await writer.drain()


def _ask(server: ssl.SSLContext | None, probe_cfg: dict[str, object], handler: Handler = _etcd) -> Answer:
    """One etcd probe answer from a scripted server, as the engine would record it."""
    from quorumwatch.config import NodeConfig

    cfg = EtcdProbeConfig.model_validate({"kind": "etcd", **probe_cfg})

    async def main() -> Answer:
        async with serve(handler, server) as port:
            return await answer_of(EtcdProbe(NodeConfig(name="n1", address=f"127.0.0.1:{port}"), cfg))

    return asyncio.run(main())


def _tls(certs: LabCerts, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "ca": str(certs.ca),
        "cert": str(certs.client.cert),
        "key": str(certs.client.key),
    }
    return {"tls": {**base, **extra}}


def test_verified_with_a_client_certificate(certs: LabCerts) -> None:
    answer = _ask(_server_context(certs, require_client=True), _tls(certs))
    assert answer.role is Role.LEADER and answer.epoch == 4


def test_server_name_override_is_what_is_verified(certs: LabCerts) -> None:
    server = _server_context(certs, require_client=False)
    assert _ask(server, _tls(certs, server_name="n1")).role is Role.LEADER  # the certificate's DNS name
    wrong = _ask(server, _tls(certs, server_name="n2"))
    assert wrong.reason is Reason.ERROR and wrong.detail is not None
    assert wrong.detail.startswith("tls: certificate verify failed") and "n2" in wrong.detail


def test_a_wrong_ca_is_a_verify_failure(certs: LabCerts, tmp_path: Path) -> None:
    other, _key = make_ca(tmp_path, "other")
    answer = _ask(_server_context(certs, require_client=False), {"tls": {"ca": str(other)}})
    assert answer.role is Role.UNKNOWN and answer.reason is Reason.ERROR
    assert answer.detail and answer.detail.startswith("tls: certificate verify failed: ")


def test_the_system_store_does_not_trust_a_private_ca(certs: LabCerts) -> None:
    # `https: true` alone verifies against the system's authorities: a lab CA is not one of them
    answer = _ask(_server_context(certs, require_client=False), {"https": True})
    assert answer.reason is Reason.ERROR and answer.detail and "certificate verify failed" in answer.detail


def test_insecure_skip_verify_only_when_spelled_out(certs: LabCerts) -> None:
    answer = _ask(_server_context(certs, require_client=False), {"tls": {"insecure_skip_verify": True}})
    assert answer.role is Role.LEADER


def test_a_missing_client_certificate_is_told(certs: LabCerts) -> None:
    # TLS 1.3: the handshake ends before the server checks; it then hangs up (Go's servers, etcd
    # among them, say "bad certificate" first: tls: ..., seen in the lab test)
    answer = _ask(_server_context(certs, require_client=True), {"tls": {"ca": str(certs.ca)}})
    assert answer.role is Role.UNKNOWN and answer.reason in (Reason.ERROR, Reason.CLOSED)
    assert answer.detail is not None and "client certificate" in answer.detail


async def _plain_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A plain HTTP server given a TLS hello: what Go's and nginx's answer, then it hangs up."""
    await reader.read(1)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


def test_tls_to_a_plain_port_never_falls_back(certs: LabCerts) -> None:
    answer = _ask(None, _tls(certs), _plain_http)
    assert answer.role is Role.UNKNOWN and answer.reason is Reason.ERROR
    assert answer.detail is not None and "did not answer in TLS" in answer.detail


def test_plain_text_to_a_tls_port_is_unknown(certs: LabCerts) -> None:
    answer = _ask(_server_context(certs, require_client=False), {})
    assert answer.role is Role.UNKNOWN and answer.reason in (Reason.GARBAGE, Reason.CLOSED, Reason.ERROR)


@pytest.mark.parametrize(
    ("field", "content", "message"),
    [
        ("ca", None, "tls.ca: '{path}': no such file"),
        ("ca", "not a certificate\n", "tls.ca: '{path}': not a PEM certificate bundle"),
        ("cert", None, "tls.cert: '{path}': no such file"),
        ("cert", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "tls.cert/key: '{path}'"),
    ],
)
def test_unusable_files_are_one_line_errors(
    certs: LabCerts, tmp_path: Path, field: str, content: str | None, message: str
) -> None:
    path = tmp_path / f"{field}.pem"
    if content is not None:
        path.write_text(content)
    settings = {
        "ca": str(certs.ca),
        "cert": str(certs.client.cert),
        "key": str(certs.client.key),
        field: str(path),
    }
    if field == "cert":
        settings.pop("key")
    with pytest.raises(ConfigError) as err:
        client_context(TlsConfig.model_validate(settings))
    assert str(err.value).startswith(message.format(path=path)) and "\n" not in str(err.value)


def test_a_key_that_is_not_the_certificates(certs: LabCerts) -> None:
    other = certs.servers["n1"].key
    with pytest.raises(ConfigError, match=r"^tls.cert/key: .*key values mismatch"):
        client_context(TlsConfig(ca=str(certs.ca), cert=str(certs.client.cert), key=str(other)))


@pytest.mark.parametrize(
    ("probe", "message"),
    [
        ({"kind": "etcd", "https": False, "tls": {"ca": "x"}}, "tls options given with https: false"),
        ({"kind": "etcd", "tls": {"key": "k.pem"}}, "key given without cert"),
        (
            {"kind": "http", "tls": {"insecure_skip_verify": True, "ca": "x"}},
            "insecure_skip_verify verifies nothing",
        ),
        ({"kind": "etcd", "tls": {"server_name": "a b"}}, "server_name must be a host name"),
        ({"kind": "etcd", "tls": {"verify": False}}, "verify"),
    ],
)
def test_contradictory_settings_are_refused_at_load(
    tmp_path: Path, probe: dict[str, object], message: str
) -> None:
    f = tmp_path / "c.yaml"
    f.write_text(
        yaml.safe_dump({"name": "c", "probe": probe, "nodes": [{"name": "n1", "address": "127.0.0.1:1"}]})
    )
    with pytest.raises(ConfigError, match=message):
        load_cluster(f)


def test_https_true_without_files_uses_the_system_store() -> None:
    cfg = EtcdProbeConfig.model_validate({"kind": "etcd", "https": True})
    assert cfg.tls_settings == TlsConfig()
    assert EtcdProbeConfig.model_validate({"kind": "etcd"}).tls_settings is None
    ctx = client_context(TlsConfig())
    assert ctx.verify_mode is ssl.CERT_REQUIRED and ctx.check_hostname


@pytest.mark.lab
def test_a_client_cert_etcd_lab_is_watched_and_written_through(tmp_path: Path) -> None:
    """`lab up etcd --tls`: etcd requires client certificates; the lab's cluster file carries them,
    `watch` (with a workload writing through the leaders) sees one leader and no unknown after the
    first tick; a wrong CA or no client certificate gives a `tls: ...` reason on every node."""
    from tests.labkit import lab_cluster, qw
    from tests.results_contract import read_results

    with lab_cluster("etcd", 3, "tls", ("--tls",)) as (_state, cluster_file):
        doc = yaml.safe_load(cluster_file.read_text())
        assert set(doc["probe"]["tls"]) >= {"ca", "cert", "key"}
        w = tmp_path / "w.yaml"
        w.write_text("workload: {kind: set, rate: 20}\n")
        run = tmp_path / "run"
        r = qw("watch", str(cluster_file), "--duration", "3", "--workload", str(w), "--run-dir", str(run))
        assert r.returncode == 0, r.stderr
        data = read_results(run)
        assert data["workload"]["total"]["ok"] >= 20 and data["workload"]["final_read"]["ok"]
        assert data["harm"] == "none_observed"
        from quorumwatch.store import HistoryFile

        h = HistoryFile.open(run / "history.sqlite")
        try:
            later = [o for t in h.ticks() if t.index > 0 for o in t.observations]
        finally:
            h.close()
        assert later and all(o.reason is None for o in later), {o.detail for o in later if o.reason}
        assert sum(1 for o in later if o.role is Role.LEADER) >= len(later) // 3 - 3

        other, _ = make_ca(tmp_path, "other")
        for change, expect in (
            ({"ca": str(other)}, "tls: certificate verify failed"),
            ({"cert": None, "key": None}, "client certificate"),
        ):
            tls = {k: v for k, v in {**doc["probe"]["tls"], **change}.items() if v is not None}
            f = tmp_path / "changed.yaml"
            f.write_text(yaml.safe_dump({**doc, "probe": {**doc["probe"], "tls": tls}}))
            c = qw("check", str(f), "--json")
            assert c.returncode == 1, c.stderr
            nodes = json.loads(c.stdout)["nodes"]
            assert all(n["role"] == "unknown" and expect in n["detail"] for n in nodes), nodes
