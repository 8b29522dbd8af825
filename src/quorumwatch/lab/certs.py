"""Certificates for TLS labs (`lab up etcd --tls`): a private CA, a server certificate per node
naming its addresses, one client certificate; made with the `openssl` command, valid 30 days.

The files live in the lab's directory and go with it at `lab down`. Elliptic-curve keys: each
takes milliseconds to make.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from quorumwatch.lab.system import LabError, require_programs

DAYS = "30"


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class LabCerts:
    ca: Path
    servers: dict[str, Pair]
    client: Pair


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)
    except subprocess.CalledProcessError as exc:
        why = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise LabError(f"openssl {args[0]}: {why[-1] if why else f'exit {exc.returncode}'}") from None


def _key_and_request(directory: Path, name: str, subject: str) -> tuple[Path, Path]:
    key, csr = directory / f"{name}.key", directory / f"{name}.csr"
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={subject}",
    )  # fmt: skip
    return key, csr


def make_ca(directory: Path, name: str = "ca") -> tuple[Path, Path]:
    """A self-signed CA: (certificate, key)."""
    require_programs(["openssl"])
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", str(key), "-out", str(cert), "-days", DAYS, "-subj", f"/CN=quorumwatch lab {name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return cert, key


def issue(directory: Path, ca: tuple[Path, Path], name: str, *, server_ips: list[str] | None = None) -> Pair:
    """A certificate signed by `ca`: for a server (named by its addresses and `name`), or a client."""
    key, csr = _key_and_request(directory, name, name)
    ext = directory / f"{name}.ext"
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature"]
    if server_ips is not None:
        alt = ",".join([*(f"IP:{ip}" for ip in server_ips), f"DNS:{name}"])
        lines += [f"subjectAltName={alt}", "extendedKeyUsage=serverAuth,clientAuth"]
    else:
        lines.append("extendedKeyUsage=clientAuth")
    ext.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cert = directory / f"{name}.pem"
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(ca[0]), "-CAkey", str(ca[1]), "-CAcreateserial",
        "-out", str(cert), "-days", DAYS, "-extfile", str(ext),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return Pair(cert, key)


def make_lab_certs(directory: Path, servers: dict[str, list[str]]) -> LabCerts:
    """A CA, a certificate for each server (by name: its IP addresses), and a client's."""
    ca = make_ca(directory)
    pairs = {name: issue(directory, ca, name, server_ips=ips) for name, ips in servers.items()}
    return LabCerts(ca[0], pairs, issue(directory, ca, "client"))
