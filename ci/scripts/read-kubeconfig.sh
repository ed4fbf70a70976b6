#!/bin/sh
# Copies the kubeconfig a running Kind cluster service published on the state volume, with its API
# server rewritten, for `kubeconfig --local`. Only a live service counts: its heartbeat must be recent,
# since a service killed with its session leaves its files behind.
#
#   usage: read-kubeconfig.sh <state dir> <cluster name> <server> <output file>
#   exit: 0 copied; 3 the cluster is still starting (ask again); 4 no running cluster (status printed)
set -u

[ "$#" -eq 4 ] || { echo "usage: read-kubeconfig.sh <state dir> <cluster name> <server> <output file>" >&2; exit 2; }
state=$1
cluster=$2
server=$3
out=$4
# a heartbeat older than this means the service is gone (it beats every 5 s)
STALE_SECONDS=${STALE_SECONDS:-30}

status=$(cat "$state/status" 2>/dev/null || echo "none: no cluster service has run")
case $status in
    starting | creating | ready)
        age=$(($(date +%s) - $(cat "$state/heartbeat" 2>/dev/null || echo 0)))
        if [ "$age" -gt "$STALE_SECONDS" ]; then
            echo "status: $status, but its heartbeat stopped ${age}s ago: the service was killed with its session" >&2
            exit 4
        fi
        ;;
    *)
        echo "status: $status" >&2
        exit 4
        ;;
esac
if [ "$status" != ready ]; then
    echo "the cluster is $status" >&2
    exit 3
fi
cp "$state/kubeconfig" "$out" || exit 4
kubectl --kubeconfig "$out" config set-cluster "kind-$cluster" --server="$server" >/dev/null
