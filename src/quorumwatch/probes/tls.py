"""TLS for probes and workload clients: one verified client context per setting, and failures told
as `tls: ...` reasons (a wrong CA, a missing client certificate, a plain port) rather than crashes.

Verification is never turned off implicitly: only `insecure_skip_verify: true` does it. A context
is built once per distinct setting (loading the system's trust store costs milliseconds; a cluster
of hundreds of nodes shares one).
"""

from __future__ import annotations

import functools
import os
import ssl

from quorumwatch.config import ConfigError, TlsConfig, shown

PATH_SHOWN = 400
"""A file's path is quoted whole up to this long: cut at 80, as other values are, it hid which file
(a test's temporary directory under pytest-xdist made one 85 long)."""


@functools.lru_cache(maxsize=64)
def client_context(cfg: TlsConfig) -> ssl.SSLContext:
    """The SSL context `cfg` asks for; unreadable or malformed files are a ConfigError naming them."""
    try:
        ctx = ssl.create_default_context(cafile=cfg.ca)
    except FileNotFoundError:
        raise ConfigError(f"tls.ca: {shown(cfg.ca or '', PATH_SHOWN)}: no such file") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"tls.ca: {shown(cfg.ca or '', PATH_SHOWN)}: not a PEM certificate bundle ({_why(exc)})"
        ) from None
    if cfg.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert is not None:
        for field, path in (("cert", cfg.cert), ("key", cfg.key)):
            if path is not None and not os.path.isfile(path):
                raise ConfigError(f"tls.{field}: {shown(path, PATH_SHOWN)}: no such file")
        try:
            ctx.load_cert_chain(cfg.cert, cfg.key)
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"tls.cert/key: {shown(cfg.cert, PATH_SHOWN)}: not a PEM certificate with its private key "
                f"({_why(exc)})"
            ) from None
    return ctx


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def describe(exc: ssl.SSLError) -> str:
    """One line for a failed handshake or TLS session, starting `tls: `."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"tls: certificate verify failed: {exc.verify_message or _why(exc)}"
    why = _why(exc)
    if exc.reason in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"):
        return f"tls: the node did not answer in TLS ({why}): a plain-text port?"
    if exc.reason in ("TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE"):
        # Go's servers (etcd) answer a missing client certificate with "bad certificate"
        return f"tls: the node refused our client certificate or wants one ({why}): see tls.cert, tls.key"
    return f"tls: {why}"
