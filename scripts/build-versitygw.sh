#!/usr/bin/env bash
# build-versitygw.sh [OUTPUT]: builds versitygw v1.8.0 (an Apache-2.0 S3
# gateway; its posix backend serves a directory) into OUTPUT, by default
# ~/.cache/prexmon/versitygw-v1.8.0, where archiver/store's S3 end-to-end
# test looks for it. About three minutes on two cores.
set -euo pipefail
version=v1.8.0
out=${1:-$HOME/.cache/prexmon/versitygw-$version}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
GOBIN=$tmp GOFLAGS=-mod=mod CGO_ENABLED=0 go install -trimpath "github.com/versity/versitygw/cmd/versitygw@$version"
mkdir -p "$(dirname "$out")"
mv "$tmp/versitygw" "$out"
echo "built $out in $(( $(date +%s) - start ))s"
