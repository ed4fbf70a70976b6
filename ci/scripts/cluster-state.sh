#!/bin/sh
# Prints what the Kind cluster service published on the state volume, for the pipeline's errors:
# its status and heartbeat, the end of kind create cluster's output and of dockerd's log.
#
#   usage: cluster-state.sh <state dir>
set -u

state=${1:?usage: cluster-state.sh <state dir>}
if [ ! -f "$state/status" ]; then
    echo "no status: the cluster service has not run on this volume"
    exit 0
fi
printf 'status: %s\n' "$(cat "$state/status")"
if [ -f "$state/heartbeat" ]; then
    printf 'heartbeat: %ss ago\n' "$(($(date +%s) - $(cat "$state/heartbeat")))"
fi
if [ -s "$state/create.log" ]; then
    printf '\nkind create cluster (last 40 lines):\n'
    tail -n 40 "$state/create.log"
fi
if [ -s "$state/dockerd.log" ]; then
    printf '\ndockerd (last 15 lines):\n'
    tail -n 15 "$state/dockerd.log"
fi
