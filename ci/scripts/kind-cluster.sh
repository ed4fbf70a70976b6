#!/bin/sh
# The Kind cluster service: runs as a privileged docker:dind service. Starts dockerd, creates the Kind
# cluster from the generated kind config, publishes its state on the state volume, and stays in the
# foreground, beating a heartbeat, until the service is stopped.
#
# Env: CLUSTER_NAME, NODE_IMAGE, KIND_CONFIG, STATE_DIR (a cache volume readers mount too);
#      NODE_IMAGE_ARCHIVE (a built node image to load instead of pulling NODE_IMAGE);
#      CGROUP_ROOT (default /sys/fs/cgroup); HEARTBEAT_SECONDS (default 5).
# State: status (starting | creating | ready | failed: <why> | stopped), heartbeat (epoch seconds,
#        rewritten while the service lives: Dagger kills a session's services without notice, so readers
#        tell a live service by its heartbeat; see cluster-status.sh), create.log (kind create cluster's
#        output), dockerd.log, kubeconfig (while ready).
set -eu

: "${CLUSTER_NAME:?}" "${NODE_IMAGE:?}" "${KIND_CONFIG:?}" "${STATE_DIR:?}"
CGROUP_ROOT=${CGROUP_ROOT:-/sys/fs/cgroup}
HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS:-5}
DOCKERD_LOG=$STATE_DIR/dockerd.log
# kind create cluster failures worth one more try: a node that did not boot within kind's 30s
FLAKY='could not find a log line that matches'

log() { printf '[cluster] %s\n' "$*" >&2; }
status() { printf '%s\n' "$*" >"$STATE_DIR/status"; }
fail() {
    log "FAILED: $*"
    status "failed: $*"
    exit 1
}
beat() {
    while :; do
        date +%s >"$STATE_DIR/heartbeat.new"
        mv "$STATE_DIR/heartbeat.new" "$STATE_DIR/heartbeat"
        sleep "$HEARTBEAT_SECONDS"
    done
}
# Whatever ends the script (set -e included) leaves a status that says so, and no kubeconfig.
# shellcheck disable=SC2317 # invoked by the EXIT trap
on_exit() {
    code=$?
    set +e
    kill "$beat_pid" 2>/dev/null
    rm -f "$STATE_DIR/kubeconfig"
    case $(cat "$STATE_DIR/status" 2>/dev/null) in
        failed:* | stopped) ;;
        *) status "failed: the service script exited with code $code" ;;
    esac
}
# A graceful stop (Dagger may also kill the service outright: then the heartbeat stops).
# shellcheck disable=SC2317 # invoked by the TERM and INT traps
on_term() {
    status stopped
    kill "$kind_pid" "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    exit 0
}

dockerd_pid=
kind_pid=
mkdir -p "$STATE_DIR"
status starting
beat &
beat_pid=$!
trap on_exit EXIT
trap on_term TERM INT
rm -f "$STATE_DIR/kubeconfig" "$STATE_DIR/create.log"

# kind's known issue "too many open files": the nodes' kubelets need more inotify watches and instances.
sysctl -w fs.inotify.max_user_watches=524288 >/dev/null 2>&1 || log "could not raise fs.inotify.max_user_watches"
sysctl -w fs.inotify.max_user_instances=512 >/dev/null 2>&1 || log "could not raise fs.inotify.max_user_instances"

. "$(dirname "$0")/dockerd.sh"
start_dockerd 60 --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false || fail "dockerd did not start (see $DOCKERD_LOG)"

if [ -f "$CGROUP_ROOT/cgroup.controllers" ] && ! grep -qw cpu "$CGROUP_ROOT/cgroup.controllers"; then
    fail "no cpu cgroup controller reaches this container (controllers: $(cat "$CGROUP_ROOT/cgroup.controllers")); Kind nodes cannot run here"
fi

if [ -n "${NODE_IMAGE_ARCHIVE:-}" ]; then
    log "loading the built node image $NODE_IMAGE"
    docker load --input "$NODE_IMAGE_ARCHIVE" >&2 || fail "docker load of $NODE_IMAGE_ARCHIVE failed"
elif docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    log "node image $NODE_IMAGE is cached"
else
    log "pulling $NODE_IMAGE"
    docker pull "$NODE_IMAGE" >&2 || fail "docker pull $NODE_IMAGE failed"
fi

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    log "deleting the leftover cluster $CLUSTER_NAME"
    kind delete cluster --name "$CLUSTER_NAME" >&2 || fail "could not delete the leftover cluster $CLUSTER_NAME"
fi

attempt=1
while :; do
    status creating
    log "creating $CLUSTER_NAME from $NODE_IMAGE (attempt $attempt)"
    # in the background, so that a stopping service is not kept waiting for kind
    kind create cluster --name "$CLUSTER_NAME" --image "$NODE_IMAGE" --config "$KIND_CONFIG" --wait 5m >"$STATE_DIR/create.log" 2>&1 &
    kind_pid=$!
    if wait "$kind_pid"; then
        break
    fi
    cat "$STATE_DIR/create.log" >&2
    if [ "$attempt" -eq 1 ] && grep -q "$FLAKY" "$STATE_DIR/create.log"; then
        log "known flaky failure ($FLAKY): deleting the cluster and trying once more"
        kind delete cluster --name "$CLUSTER_NAME" >&2 || true
        attempt=2
        continue
    fi
    fail "kind create cluster failed (attempt $attempt); its output is in $STATE_DIR/create.log"
done

kind get kubeconfig --name "$CLUSTER_NAME" >"$STATE_DIR/kubeconfig.new" || fail "kind get kubeconfig failed"
mv "$STATE_DIR/kubeconfig.new" "$STATE_DIR/kubeconfig"
status ready
log "$CLUSTER_NAME is ready"
wait "$dockerd_pid" || true
fail "dockerd exited; the cluster is gone (see $DOCKERD_LOG)"
