# shellcheck shell=sh
# Sourced by the scripts that run Docker-in-Docker: starts dockerd through the docker:dind image's
# entrypoint and waits, with a bound, until it answers. As root, that entrypoint runs the image's dind
# wrapper, which moves every process out of the root cgroup (v2) and enables the controllers for the
# containers dockerd starts: the cgroup v2 nesting fix.
#
#   start_dockerd <seconds to wait> [dockerd flags...]    sets $dockerd_pid; dockerd's log is $DOCKERD_LOG

DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}

start_dockerd() {
    wait_seconds=$1
    shift
    dockerd-entrypoint.sh dockerd "$@" >"$DOCKERD_LOG" 2>&1 &
    dockerd_pid=$!
    waited=0
    until timeout 10 docker info >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            echo "dockerd exited before it answered; its log ends with:" >&2
            tail -n 40 "$DOCKERD_LOG" >&2
            return 1
        fi
        if [ "$waited" -ge "$wait_seconds" ]; then
            echo "dockerd did not answer within ${wait_seconds}s; its log ends with:" >&2
            tail -n 40 "$DOCKERD_LOG" >&2
            return 1
        fi
        waited=$((waited + 1))
        sleep 1
    done
}
