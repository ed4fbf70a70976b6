#!/bin/sh
# The Kind cluster service: runs as a privileged docker:dind service. Starts dockerd, creates the Kind
# cluster from the generated kind config, publishes its state on the state volume, and stays in the
# foreground, beating a heartbeat, until the service is stopped.
#
# Env: CLUSTER_NAME, NODE_IMAGE, KIND_CONFIG, STATE_DIR (this definition's directory on the state volume,
#      which readers mount too: <state root>/<definition id>);
#      NODE_IMAGE_ARCHIVE (a built node image to load instead of pulling NODE_IMAGE);
#      CGROUP_ROOT (default /sys/fs/cgroup); HEARTBEAT_SECONDS (default 5: readers call a heartbeat older
#      than 30 s stale, see cluster-status.sh); DOCKERD_WAIT_SECONDS (default 60); RESOLV_CONF.
# State: status (starting | creating | ready | failed: <why> | stopped; replaced whole, never written in
#        place), heartbeat (epoch seconds, rewritten while the service lives: Dagger kills a session's
#        services without notice, so readers tell a live service by its heartbeat; see cluster-status.sh),
#        session (the Dagger session running the service, see session.sh), create.log (kind create
#        cluster's output), dockerd.log, kubeconfig (while ready).
set -eu

: "${CLUSTER_NAME:?}" "${NODE_IMAGE:?}" "${KIND_CONFIG:?}" "${STATE_DIR:?}"
scripts=$(dirname "$0")
. "$scripts/dockerd.sh"
. "$scripts/session.sh"

# First of all, before anything runs in the background (see dockerd.sh).
evacuate_root_cgroup

HEARTBEAT_SECONDS=${HEARTBEAT_SECONDS:-5}
DOCKERD_LOG=$STATE_DIR/dockerd.log
# kind create cluster failures worth one more try: a node that did not boot within kind's 30s
FLAKY='could not find a log line that matches'

log() { printf '[cluster] %s\n' "$*" >&2; }
# Replaced whole by a rename, so that a reader never sees a status empty or half written.
publish() {
    printf '%s\n' "$2" >"$STATE_DIR/$1.new"
    mv "$STATE_DIR/$1.new" "$STATE_DIR/$1"
}
status() { publish status "$*"; }
fail() {
    log "FAILED: $*"
    status "failed: $*"
    exit 1
}
beat() {
    while :; do
        publish heartbeat "$(date +%s)"
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
# A graceful stop (Service.stop; the end of a session kills instead: then the heartbeat stops).
# shellcheck disable=SC2317 # invoked by the TERM and INT traps
on_term() {
    status stopped
    kill "$kind_pid" "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    exit 0
}
# Dagger kills a session's services (core/services.go StopSessionServices), so this daemon may find the
# last run's nodes on its volume, restarted by their restart policy, with their volumes and network:
# remove everything kind left (this daemon runs this cluster definition only).
remove_leftovers() {
    containers=$(docker ps --all --quiet --filter label=io.x-k8s.kind.cluster) || return 1
    if [ -n "$containers" ]; then
        log "removing kind's leftover containers: $(echo "$containers" | tr '\n' ' ')"
        # shellcheck disable=SC2086 # one container id per word; --volumes: their anonymous volumes too
        docker rm --force --volumes $containers >&2 || return 1
    fi
    volumes=$(docker volume ls --quiet --filter label=io.x-k8s.kind.cluster) || return 1
    if [ -n "$volumes" ]; then
        log "removing kind's leftover volumes"
        # shellcheck disable=SC2086 # one volume name per word
        docker volume rm --force $volumes >&2 || return 1
    fi
    if docker network inspect kind >/dev/null 2>&1; then
        log "removing kind's leftover network"
        docker network rm kind >&2 || return 1
    fi
}

dockerd_pid=
kind_pid=
mkdir -p "$STATE_DIR"
publish session "$(dagger_session)"
status starting
beat &
beat_pid=$!
trap on_exit EXIT
trap on_term TERM INT
rm -f "$STATE_DIR/kubeconfig" "$STATE_DIR/create.log"

# kind's known issue "too many open files": the nodes' kubelets need more inotify watches and instances.
# These are kernel-wide settings: they change the engine host's limits for every process on it.
sysctl -w fs.inotify.max_user_watches=524288 >/dev/null 2>&1 || log "could not raise fs.inotify.max_user_watches"
sysctl -w fs.inotify.max_user_instances=512 >/dev/null 2>&1 || log "could not raise fs.inotify.max_user_instances"

start_dockerd --host=unix:///var/run/docker.sock --host=tcp://0.0.0.0:2375 --tls=false || fail "dockerd did not start (see $DOCKERD_LOG)"

if [ -f "$CGROUP_ROOT/cgroup.controllers" ] && ! grep -qw cpu "$CGROUP_ROOT/cgroup.controllers"; then
    fail "no cpu cgroup controller reaches this container (controllers: $(cat "$CGROUP_ROOT/cgroup.controllers")); Kind nodes cannot run here"
fi

remove_leftovers || fail "could not remove kind's leftover containers, volumes or network"

if [ -n "${NODE_IMAGE_ARCHIVE:-}" ]; then
    log "loading the built node image $NODE_IMAGE"
    docker load --input "$NODE_IMAGE_ARCHIVE" >&2 || fail "docker load of $NODE_IMAGE_ARCHIVE failed"
elif docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
    log "node image $NODE_IMAGE is cached"
else
    log "pulling $NODE_IMAGE"
    docker pull "$NODE_IMAGE" >&2 || fail "docker pull $NODE_IMAGE failed"
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

# the kubeconfig first: a reader that sees `ready` finds it
kind get kubeconfig --name "$CLUSTER_NAME" >"$STATE_DIR/kubeconfig.new" || fail "kind get kubeconfig failed"
mv "$STATE_DIR/kubeconfig.new" "$STATE_DIR/kubeconfig"
status ready
log "$CLUSTER_NAME is ready"
wait "$dockerd_pid" || true
fail "dockerd exited; the cluster is gone (see $DOCKERD_LOG)"
