# shellcheck shell=sh
# Sourced by the scripts that run Docker-in-Docker (kind-cluster.sh, build-node-image.sh, save-node-image.sh).
#
#   evacuate_root_cgroup     call it first, before the script starts anything in the background
#   start_dockerd [dockerd flags...]
#                            starts dockerd through the docker:dind image's entrypoint and waits, at most
#                            $DOCKERD_WAIT_SECONDS (default 60), until it answers; sets $dockerd_pid.
#                            dockerd's log goes to $DOCKERD_LOG, which the caller sets: never under /tmp,
#                            where the image's dind wrapper mounts a tmpfs over whatever was written there.
#   start_dockerd_for <archive>
#                            for a script that saves an image archive: evacuates the root cgroup first, then
#                            starts a local dockerd whose log (unless $DOCKERD_LOG names one) lies beside the
#                            archive, in a directory it creates.
#
# CGROUP_ROOT (default /sys/fs/cgroup) is the cgroup v2 root, a directory in the tests.

CGROUP_ROOT=${CGROUP_ROOT:-/sys/fs/cgroup}
DOCKERD_WAIT_SECONDS=${DOCKERD_WAIT_SECONDS:-60}

# The cgroup v2 nesting fix, as the image's dind wrapper does it (moby's hack/dind): move every process
# of the root cgroup into a child, then enable every controller for the children (dockerd's containers,
# kind's nodes). The kernel refuses the second step (EBUSY) while any process is left in the root cgroup,
# so it must happen before the script forks anything that stays: the wrapper does it again when dockerd
# starts, and by then a heartbeat loop in the root cgroup would make it fail. Processes forked later
# inherit the child cgroup. Not fatal here: the wrapper's own attempt, or the cpu controller check, says
# what is wrong.
evacuate_root_cgroup() {
    [ -f "$CGROUP_ROOT/cgroup.controllers" ] || return 0
    mkdir -p "$CGROUP_ROOT/init" 2>/dev/null || :
    # one pid per write, as the kernel takes them; a process that exited meanwhile cannot be moved (the
    # write fails, and xargs with it): what matters is the write below
    xargs -rn1 <"$CGROUP_ROOT/cgroup.procs" >"$CGROUP_ROOT/init/cgroup.procs" 2>/dev/null || :
    sed -e 's/ / +/g' -e 's/^/+/' <"$CGROUP_ROOT/cgroup.controllers" >"$CGROUP_ROOT/cgroup.subtree_control" ||
        echo "[dind] could not enable the cgroup controllers ($(cat "$CGROUP_ROOT/cgroup.controllers")) for nested containers" >&2
}

start_dockerd() {
    : "${DOCKERD_LOG:?DOCKERD_LOG must name dockerd's log file, outside /tmp}"
    dockerd-entrypoint.sh dockerd "$@" >"$DOCKERD_LOG" 2>&1 &
    dockerd_pid=$!
    since=$(date +%s)
    until timeout 10 docker info >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            echo "dockerd exited before it answered; its log ends with:" >&2
            tail -n 40 "$DOCKERD_LOG" >&2
            return 1
        fi
        if [ $(($(date +%s) - since)) -ge "$DOCKERD_WAIT_SECONDS" ]; then
            echo "dockerd did not answer within ${DOCKERD_WAIT_SECONDS}s; its log ends with:" >&2
            tail -n 40 "$DOCKERD_LOG" >&2
            return 1
        fi
        sleep 1
    done
}

start_dockerd_for() {
    # First of all, before anything runs in the background (see evacuate_root_cgroup).
    evacuate_root_cgroup
    mkdir -p "$(dirname "$1")"
    DOCKERD_LOG=${DOCKERD_LOG:-$(dirname "$1")/dockerd.log}
    start_dockerd --host=unix:///var/run/docker.sock
}
