#!/bin/sh
# Prints what the Kind cluster service published on the state volume, for the pipeline's errors:
# whether it is alive and ready, the end of kind create cluster's output and of dockerd's log.
#
#   usage: cluster-state.sh <state dir>
set -u

state=${1:?usage: cluster-state.sh <state dir>}
sh "$(dirname "$0")/cluster-status.sh" "$state"
if [ -s "$state/create.log" ]; then
    printf '\nkind create cluster (last 40 lines):\n'
    tail -n 40 "$state/create.log"
fi
if [ -s "$state/dockerd.log" ]; then
    printf '\ndockerd (last 15 lines):\n'
    tail -n 15 "$state/dockerd.log"
fi
exit 0
