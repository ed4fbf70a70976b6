#!/bin/sh
# Copies the kubeconfig that a live, ready Kind cluster service published on the state volume, with its
# API server rewritten, for `kubeconfig --local`.
#
#   usage: read-kubeconfig.sh <state dir> <cluster name> <server> <output file>
#   exit: 0 copied; 3 the cluster is still starting (ask again); 4 no running cluster (status on stderr);
#         anything else: the copy failed (message on stderr)
set -eu

[ "$#" -eq 4 ] || { echo "usage: read-kubeconfig.sh <state dir> <cluster name> <server> <output file>" >&2; exit 2; }
state=$1
cluster=$2
server=$3
out=$4

status=$(sh "$(dirname "$0")/cluster-status.sh" "$state") || {
    code=$?
    echo "$status" >&2
    exit "$code"
}
cp "$state/kubeconfig" "$out"
kubectl --kubeconfig "$out" config set-cluster "kind-$cluster" --server="$server" >/dev/null
