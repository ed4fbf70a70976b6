#!/bin/sh
# Tells whether the Kind cluster service that publishes on a state volume is alive and ready. Readers use
# it without binding the service, so asking never starts one. A service killed with its session leaves
# its files behind: only a recent heartbeat counts as alive.
#
#   usage: cluster-status.sh <state dir>
#   prints the status; exit: 0 ready, 3 still starting or creating (ask again), 4 not running
set -u

state=${1:?usage: cluster-status.sh <state dir>}
# a heartbeat older than this means the service is gone (it beats every 5 s)
STALE_SECONDS=${STALE_SECONDS:-30}

status=$(cat "$state/status" 2>/dev/null) || status="none: no cluster service has run on this volume"
case $status in
    starting | creating | ready) ;;
    *)
        echo "status: $status"
        exit 4
        ;;
esac
beat=$(cat "$state/heartbeat" 2>/dev/null) || beat=
case $beat in
    '' | *[!0-9]*)
        echo "status: $status, without a heartbeat: the service is not running"
        exit 4
        ;;
esac
age=$(($(date +%s) - beat))
if [ "$age" -gt "$STALE_SECONDS" ]; then
    echo "status: $status, but its heartbeat stopped ${age}s ago: the service was killed with its session"
    exit 4
fi
echo "status: $status"
[ "$status" = ready ] || exit 3
