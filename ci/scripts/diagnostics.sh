#!/bin/sh
# Collects what a person needs after a failure on a live Kind cluster, into a directory for the report:
# pods of all namespaces, events by time, nodes, `describe` and current and previous logs of every pod
# that is not well (not Succeeded, and not Running with every container ready), and `kind export logs`.
# Every command has a time limit; a command that fails leaves its error in its file, and the script
# goes on: diagnostics never hide the failure they are collected for.
#
#   usage: diagnostics.sh <cluster name> <output dir>      (needs KUBECONFIG and DOCKER_HOST)
set -u

[ "$#" -eq 2 ] || { echo "usage: diagnostics.sh <cluster name> <output dir>" >&2; exit 2; }
cluster=$1
out=$2
LIMIT=${DIAGNOSTICS_COMMAND_SECONDS:-60}

mkdir -p "$out/describe" "$out/logs"
k() { timeout "$LIMIT" kubectl --request-timeout=30s "$@"; }

k get pods --all-namespaces -o wide >"$out/pods.txt" 2>&1
k get pods --all-namespaces -o json >"$out/pods.json" 2>"$out/pods.json.error" || echo '{"items": []}' >"$out/pods.json"
[ -s "$out/pods.json.error" ] || rm -f "$out/pods.json.error"
k get events --all-namespaces --sort-by=.lastTimestamp >"$out/events.txt" 2>&1
k get nodes -o wide >"$out/nodes.txt" 2>&1
k describe nodes >"$out/nodes-describe.txt" 2>&1

columns='NS:.metadata.namespace,NAME:.metadata.name,PHASE:.status.phase,READY:.status.containerStatuses[*].ready,CONTAINERS:.spec.containers[*].name,INIT:.spec.initContainers[*].name'
k get pods --all-namespaces --no-headers -o "custom-columns=$columns" 2>/dev/null |
    while read -r ns name phase ready containers init; do
        case $phase in Succeeded) continue ;; esac
        if [ "$phase" = Running ]; then
            case ",$ready," in *,false,* | *'<none>'*) ;; *) continue ;; esac
        fi
        k describe pod --namespace "$ns" "$name" >"$out/describe/${ns}_${name}.txt" 2>&1
        for container in $(echo "$containers,$init" | tr ',' ' '); do
            [ "$container" = '<none>' ] && continue
            log=$out/logs/${ns}_${name}_${container}
            k logs --namespace "$ns" "$name" --container "$container" --tail=200 >"$log.log" 2>&1
            k logs --namespace "$ns" "$name" --container "$container" --tail=200 --previous >"$log.previous.log" 2>/dev/null || rm -f "$log.previous.log"
        done
    done

timeout "$((LIMIT * 3))" kind export logs "$out/kind" --name "$cluster" >"$out/kind-export-logs.txt" 2>&1
exit 0
