#!/bin/sh
# Run one kind-pipeline e2e smoke Job against the cluster in $KUBECONFIG.
#
#   usage: sh test/e2e/run.sh <name>        (e.g. sh test/e2e/run.sh jax)
#
# Env:
#   KUBECONFIG            required; the kind cluster to test against
#   IMAGE_<NAME>          required; image ref already loaded into the cluster,
#                         NAME = <name> upper-cased with '-' -> '_' (IMAGE_JAX=...)
#   E2E_NAMESPACE         optional, default kind-pipeline-e2e
#   E2E_TIMEOUT_SECONDS   optional, default 600
#
# Applies test/e2e/jobs/<name>.yaml (Job <name>-smoke) with the image filled in,
# waits for it, and checks its KIND_PIPELINE_RESULT log line.
# Exit: 0 passed, 1 failed (diagnostics printed), 2 usage/config error.
# Needs only kubectl and busybox-level tools (sh, sed, grep, date, sleep, tr).
set -eu
set -f # no pathname expansion anywhere: nothing here relies on globbing

POLL_SECONDS=5
REQUEST_TIMEOUT=20s # per kubectl call while polling, so a hung API server cannot stall the loop

usage() {
    echo "usage: sh test/e2e/run.sh <name>   (needs KUBECONFIG and IMAGE_<NAME>; see header)" >&2
    exit 2
}

die_usage() {
    echo "e2e: error: $*" >&2
    exit 2
}

# -- arguments and environment ------------------------------------------------

[ "$#" -eq 1 ] || usage
name=$1

# DNS-1123 label: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ; "<name>-smoke" must stay <= 63 chars.
case $name in
    '' | -* | *- | *[!a-z0-9-]*)
        die_usage "invalid name '$name': must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?\$" ;;
esac
[ "${#name}" -le 57 ] || die_usage "invalid name '$name': longer than 57 characters"

case $0 in
    */*) script_dir=${0%/*} ;;
    *) script_dir=. ;;
esac
job_file=$script_dir/jobs/$name.yaml
[ -f "$job_file" ] || die_usage "no job manifest for '$name' (expected $job_file)"
# shellcheck disable=SC2016 # the literal placeholder is meant
grep -F -q '${IMAGE}' "$job_file" || die_usage "$job_file has no \${IMAGE} placeholder"

[ -n "${KUBECONFIG:-}" ] || die_usage "KUBECONFIG is not set"
case $KUBECONFIG in
    *:*) ;; # a list of files: leave it to kubectl
    *) [ -r "$KUBECONFIG" ] || die_usage "KUBECONFIG file '$KUBECONFIG' is not readable" ;;
esac
command -v kubectl >/dev/null 2>&1 || die_usage "kubectl not found in PATH"

name_upper=$(printf '%s' "$name" | tr 'abcdefghijklmnopqrstuvwxyz-' 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_')
image_var=IMAGE_$name_upper
# Safe: image_var is built only from the validated name ([A-Z0-9_]).
eval "image=\${$image_var:-}"
[ -n "$image" ] || die_usage "$image_var is not set (the image ref to test, e.g. $image_var=kind-pipeline/$name:<tag>)"
# Image reference characters only: [registry[:port]/]repo[:tag][@sha256:digest]
case $image in
    -* | *[!A-Za-z0-9._/:@-]*) die_usage "$image_var='$image' is not a valid image reference" ;;
esac

ns=${E2E_NAMESPACE:-kind-pipeline-e2e}
case $ns in
    '' | -* | *- | *[!a-z0-9-]*) die_usage "invalid E2E_NAMESPACE '$ns': must be a DNS-1123 label" ;;
esac
[ "${#ns}" -le 63 ] || die_usage "invalid E2E_NAMESPACE '$ns': longer than 63 characters"

timeout=${E2E_TIMEOUT_SECONDS:-600}
case $timeout in
    '' | 0* | *[!0-9]*) die_usage "E2E_TIMEOUT_SECONDS must be a positive integer (no leading zeros), got '$timeout'" ;;
esac
[ "${#timeout}" -le 6 ] || die_usage "E2E_TIMEOUT_SECONDS must be at most 999999, got '$timeout'"

job=$name-smoke
selector=job-name=$job
job_applied=0
started=$(date +%s)

log() {
    echo "e2e $name: $*"
}

diagnostics() {
    echo "---- kubectl get pods -n $ns -l $selector -o wide"
    kubectl get pods -n "$ns" -l "$selector" -o wide 2>&1 || true
    echo "---- kubectl describe job $job -n $ns"
    kubectl describe job "$job" -n "$ns" 2>&1 || true
    echo "---- kubectl describe pods -n $ns -l $selector"
    kubectl describe pods -n "$ns" -l "$selector" 2>&1 || true
    echo "---- kubectl logs -n $ns -l $selector --all-containers --tail=200"
    kubectl logs -n "$ns" -l "$selector" --all-containers=true --prefix=true --tail=200 2>&1 || true
    echo "---- kubectl get events -n $ns --sort-by=.lastTimestamp (last 50)"
    kubectl get events -n "$ns" --sort-by=.lastTimestamp 2>&1 | tail -n 50 || true
    echo "----"
}

fail() {
    {
        echo "e2e $name: FAILED: $*"
        if [ "$job_applied" -eq 1 ]; then
            diagnostics
            echo "e2e $name: FAILED: $*"
        fi
    } >&2
    exit 1
}

log "image=$image namespace=$ns timeout=${timeout}s manifest=$job_file"

# -- namespace, cleanup, apply -------------------------------------------------

# Idempotent; retried because parallel runs may race to create the namespace.
tries=0
until kubectl create namespace "$ns" --dry-run=client -o yaml | kubectl apply -f - >/dev/null; do
    tries=$((tries + 1))
    [ "$tries" -lt 3 ] || fail "could not create namespace $ns (is the cluster in KUBECONFIG reachable?)"
    sleep 2
done

# Foreground cascade: also wait for the old Job's pods, so that the job-name
# selector below only ever sees pods of the Job applied by this run.
kubectl delete job "$job" -n "$ns" --ignore-not-found=true --cascade=foreground --wait=true --timeout=120s >/dev/null \
    || fail "could not delete leftover job $job in $ns"

# Escape sed replacement specials (\ & and the | delimiter). The validated image
# ref cannot contain them, but do not rely on that here.
image_sed=$(printf '%s\n' "$image" | sed -e 's/[\\&|]/\\&/g')
# shellcheck disable=SC2016 # the literal placeholder is meant
applied=$(sed -e 's|\${IMAGE}|'"$image_sed"'|g' "$job_file" | kubectl apply -n "$ns" -f - -o name) \
    || fail "kubectl apply of $job_file failed"
job_applied=1
[ "$applied" = "job.batch/$job" ] \
    || fail "$job_file must define exactly one Job named $job, kubectl applied: $(echo "$applied" | tr '\n' ' ')"
log "applied job/$job"

# -- wait ------------------------------------------------------------------------

deadline=$((started + timeout))
last_state=
last_print=0
while :; do
    now=$(date +%s)
    # "<succeeded>/<failed>/<Type>:<Reason>;..." (only conditions with status True)
    st=$(kubectl get job "$job" -n "$ns" --request-timeout="$REQUEST_TIMEOUT" \
        -o jsonpath='{.status.succeeded}/{.status.failed}/{range .status.conditions[?(@.status=="True")]}{.type}:{.reason};{end}' 2>/dev/null) \
        || st=//
    succeeded=${st%%/*}
    rest=${st#*/}
    failed=${rest%%/*}
    conditions=${rest#*/}

    case ";$conditions" in
        *";Complete:"* | *";SuccessCriteriaMet:"*) succeeded=${succeeded:-1} ;;
    esac
    if [ "${succeeded:-0}" -ge 1 ] 2>/dev/null; then
        break
    fi
    if [ "${failed:-0}" -ge 1 ] 2>/dev/null; then
        fail "job $job failed (failed pods: $failed, conditions: ${conditions:-none})"
    fi
    case ";$conditions" in
        *";Failed:"* | *";FailureTarget:"*) fail "job $job failed (conditions: $conditions)" ;;
    esac

    # Pod states that will never recover on their own: fail now, not at the deadline.
    waiting=$(kubectl get pods -n "$ns" -l "$selector" --request-timeout="$REQUEST_TIMEOUT" \
        -o jsonpath='{.items[*].status.containerStatuses[*].state.waiting.reason}' 2>/dev/null) || waiting=
    for reason in $waiting; do
        case $reason in
            ErrImageNeverPull | ImagePullBackOff | ErrImagePull | CreateContainerConfigError | InvalidImageName)
                fail "pod cannot start: $reason (image $image; was it loaded into the kind cluster?)" ;;
        esac
    done

    if [ "$now" -ge "$deadline" ]; then
        fail "timed out after ${timeout}s waiting for job $job (succeeded=${succeeded:-0} failed=${failed:-0} waiting=${waiting:-none})"
    fi

    phases=$(kubectl get pods -n "$ns" -l "$selector" --request-timeout="$REQUEST_TIMEOUT" -o jsonpath='{.items[*].status.phase}' 2>/dev/null) || phases=
    state="pods=[${phases:-none}] waiting=[${waiting:-none}]"
    if [ "$state" != "$last_state" ] || [ $((now - last_print)) -ge 30 ]; then
        log "waiting ($((now - started))s) $state"
        last_state=$state
        last_print=$now
    fi
    sleep "$POLL_SECONDS"
done

# -- check the result line ---------------------------------------------------------

logs=$(kubectl logs -n "$ns" "job/$job" --all-containers=true 2>&1) \
    || fail "job $job succeeded but its logs could not be read: $logs"
echo "---- logs of job/$job"
printf '%s\n' "$logs"
echo "----"

result=$(printf '%s\n' "$logs" | grep "^KIND_PIPELINE_RESULT framework=$name " | tail -n 1) || result=
[ -n "$result" ] || fail "no 'KIND_PIPELINE_RESULT framework=$name' line in the logs of job $job"
case " $result " in
    *" status=improved "*) ;;
    *) fail "training did not improve the loss: $result" ;;
esac

echo "$result"
finished=$(date +%s)
log "PASSED ($((finished - started))s)"
