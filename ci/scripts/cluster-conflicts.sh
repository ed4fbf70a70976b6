#!/bin/sh
# Asked before a cluster service starts: does a service of the same cluster name already run on this
# engine, in a way that makes starting this one wait or collide? Every definition of the cluster has its
# own directory under the state root (its definition id), where its service publishes its status,
# heartbeat and Dagger session.
#
# - The same definition in another Dagger session holds the definition's Locked /var/lib/docker volume:
#   Dagger locks it engine-wide, without a timeout, for as long as that session runs the service
#   (core/container_exec.go lockMountedCaches; engine/server/server.go's locker). Starting would wait.
# - Another definition of the same cluster name (another config, module version or project) runs a
#   second cluster of that name on the same engine: most likely two projects sharing cluster.name.
# - The same definition in this session is this session's own service: starting it again reaches it.
#
#   usage: cluster-conflicts.sh <state root> <definition id>
#   exit: 0 nothing in the way; 5 a live service in the way (which, and its status, on stdout)
set -u

[ "$#" -eq 2 ] || { echo "usage: cluster-conflicts.sh <state root> <definition id>" >&2; exit 2; }
root=$1
definition=$2
scripts=$(dirname "$0")
. "$scripts/session.sh"

ours=$(dagger_session)
found=0
for dir in "$root"/*/; do
    [ -d "$dir" ] || continue
    dir=${dir%/}
    id=${dir##*/}
    said=$(sh "$scripts/cluster-status.sh" "$dir")
    case $? in
        0 | 3) ;;
        *) continue ;; # not running: nothing holds its volume
    esac
    theirs=$(cat "$dir/session" 2>/dev/null) || theirs=
    if [ "$id" = "$definition" ]; then
        [ "$theirs" = "$ours" ] && continue
        if [ -z "$ours" ] || [ -z "$theirs" ]; then
            echo "cannot tell which Dagger session runs definition $id ($said); starting anyway" >&2
            continue
        fi
        echo "this definition ($id) runs in another Dagger session (${said#status: })"
    else
        echo "another definition ($id) of this cluster runs (${said#status: })"
    fi
    found=1
done
[ "$found" -eq 0 ] || exit 5
