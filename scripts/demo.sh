#!/usr/bin/env bash
# The demo: a real 3-node etcd cluster in network namespaces, watched at 5 Hz; after 2 s its
# leader is killed (kill -9) and the matrix shows the failover. Everything is torn down at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
QW=.venv/bin/quorumwatch
LAB=demo

$QW lab down "$LAB" >/dev/null 2>&1 || true
trap '$QW lab down "$LAB" >/dev/null' EXIT
cluster=$($QW lab up etcd --name "$LAB" | tail -n 1)
echo "== cluster file: $cluster"
$QW check "$cluster"

leader=$($QW check "$cluster" | awk '$3 == "L" { print $1 }')
echo "== watching for 6 s at 5 Hz; the leader ($leader) is killed after 2 s"
(
    sleep 2
    echo "== quorumwatch lab stop $LAB $leader" >&2
    $QW lab stop "$LAB" "$leader" >/dev/null
) &
killer=$!
set +e
$QW watch "$cluster" --interval 0.2 --duration 6
status=$?
set -e
wait "$killer"
echo "== watch exited with $status (0: never more than one leader at a tick)"
echo "== replay any time with: $QW history runs/$LAB/latest"
