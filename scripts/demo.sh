#!/usr/bin/env bash
# The demo: a real 3-node etcd cluster in network namespaces; the classic experiment — cut the
# leader's data link for 4 s, 3 trials — while every node is probed every 100 ms. Prints what
# happened (role changes, double leaders, every command run) and tears everything down at exit.
set -euo pipefail
cd "$(dirname "$0")/.."
QW=.venv/bin/quorumwatch
LAB=demo

$QW lab down "$LAB" >/dev/null 2>&1 || true
trap '$QW lab down "$LAB" >/dev/null' EXIT
cluster=$($QW lab up etcd --name "$LAB" | tail -n 1)
echo "== cluster file: $cluster"
$QW check "$cluster"
echo "== quorumwatch run examples/etcd-leader-link-down.yaml --cluster $cluster --changes-only"
set +e
$QW run examples/etcd-leader-link-down.yaml --cluster "$cluster" --changes-only
status=$?
set -e
case $status in
    0) echo "== exit 0: never more than one leader at a tick" ;;
    3) echo "== exit 3: some ticks showed two leaders (the isolated old leader had not yet stepped down)" ;;
    *) echo "== exit $status: the experiment failed (see above); faults were healed" ;;
esac
echo "== full replay: $QW history runs/$LAB/latest"
