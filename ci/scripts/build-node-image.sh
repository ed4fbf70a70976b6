#!/bin/sh
# Builds a Kind node image from the Kubernetes release binaries (kind downloads them from dl.k8s.io) and
# saves it as a docker archive. Runs in a privileged docker:dind container.
#
#   usage: build-node-image.sh <v1.38.0> <image ref> <archive path>
set -eu

[ "$#" -eq 3 ] || { echo "usage: build-node-image.sh <version> <image ref> <archive path>" >&2; exit 2; }
version=$1
ref=$2
archive=$3

. "$(dirname "$0")/dockerd.sh"

start_dockerd 60 --host=unix:///var/run/docker.sock
echo "[node-image] building $ref from the Kubernetes $version release binaries" >&2
kind build node-image "$version" --image "$ref"
mkdir -p "$(dirname "$archive")"
docker save --output "$archive" "$ref"
echo "[node-image] saved $ref to $archive" >&2
kill "$dockerd_pid" 2>/dev/null || true
wait "$dockerd_pid" || true
