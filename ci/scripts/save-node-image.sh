#!/bin/sh
# Saves a node image kind publishes as a docker archive (`node-image archive` of a published version):
# pulls it by its pinned digest and saves it under its tag, since an image loaded from an archive has no
# registry digest to be found by. Runs in a privileged docker:dind container.
#
#   usage: save-node-image.sh <image ref: kindest/node:v1.37.0@sha256:…> <archive path>
#   dockerd's log: $DOCKERD_LOG, by default dockerd.log beside the archive (never under /tmp, see dockerd.sh)
set -eu

[ "$#" -eq 2 ] || { echo "usage: save-node-image.sh <image ref> <archive path>" >&2; exit 2; }
ref=$1
archive=$2
tag=${ref%@*}

. "$(dirname "$0")/dockerd.sh"
start_dockerd_for "$archive"
echo "[node-image] pulling $ref" >&2
docker pull "$ref"
[ "$tag" = "$ref" ] || docker tag "$ref" "$tag"
docker save --output "$archive" "$tag"
echo "[node-image] saved $tag to $archive" >&2
kill "$dockerd_pid" 2>/dev/null || true
wait "$dockerd_pid" || true
