#!/bin/sh
# Builds a Kind node image from the Kubernetes release binaries (kind downloads them from dl.k8s.io) and
# saves it as a docker archive. Runs in a privileged docker:dind container.
#
#   usage: build-node-image.sh <v1.38.0> <image ref> <archive path>
#   dockerd's log: $DOCKERD_LOG, by default dockerd.log beside the archive (never under /tmp, where the
#   image's dind wrapper mounts a tmpfs that hides what was written there before it)
set -eu

[ "$#" -eq 3 ] || { echo "usage: build-node-image.sh <version> <image ref> <archive path>" >&2; exit 2; }
version=$1
ref=$2
archive=$3

. "$(dirname "$0")/dockerd.sh"
start_dockerd_for "$archive"
echo "[node-image] building $ref from the Kubernetes $version release binaries" >&2
kind build node-image "$version" --image "$ref"
docker save --output "$archive" "$ref"
echo "[node-image] saved $ref to $archive" >&2
kill "$dockerd_pid" 2>/dev/null || true
wait "$dockerd_pid" || true
