#!/usr/bin/env bash
# Everything a fresh Debian 12 machine needs for quorumwatch's demo and tests:
# system packages (real etcd, ZooKeeper, Redis, iproute2, iptables) and a Python venv.
# Idempotent: re-running it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(etcd-server etcd-client zookeeper libslf4j-java liblog4j1.2-java libservlet-api-java default-jre-headless
              iproute2 iptables redis-server redis-sentinel keepalived faketime openssh-server openssh-client make
              chromium lnav prometheus systemd openssl patroni postgresql-15 ripgrep)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing system packages: ${missing[*]} (run as root, or apt-get install them)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts these as services where an init system runs; the lab starts its own.
for svc in redis-server redis-sentinel keepalived prometheus patroni postgresql; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        systemctl stop "$svc" || true
    fi
done

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.quorumwatch-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e '.[dev]'
    touch "$stamp"
fi
