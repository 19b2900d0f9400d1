#!/usr/bin/env bash
# build-promtool.sh MODULE_VERSION OUTPUT: builds promtool of that
# github.com/prometheus/prometheus module version (Prometheus 3.5.0 is
# v0.305.0) into OUTPUT. `go install ...@version` refuses the module (its
# go.mod has a replace directive), so this builds it from a throwaway
# module that requires it and repeats the replace.
set -euo pipefail
mod=$1 out=$2
num=${mod#v0.}; num=${num%%.*}   # v0.305.0 -> 305 -> Prometheus 3.5.0
version=$(( 10#$num / 100 )).$(( 10#$num % 100 )).${mod##*.}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
export GOWORK=off GOFLAGS=-mod=mod
go mod init promtool-build >/dev/null 2>&1
# The one replace directive of github.com/prometheus/prometheus' go.mod.
go mod edit -replace github.com/fsnotify/fsnotify@v1.8.0=github.com/fsnotify/fsnotify@v1.7.0
go get "github.com/prometheus/prometheus/cmd/promtool@$mod" 2>&1 | grep -v '^go: \(downloading\|added\|upgraded\)' || true
mkdir -p "$(dirname "$out")"
start=$(date +%s)
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-s -w -X github.com/prometheus/common/version.Version=$version -X github.com/prometheus/common/version.Branch=$mod" \
  -o "$out.tmp" github.com/prometheus/prometheus/cmd/promtool
mv "$out.tmp" "$out"
echo "built $out ($("$out" --version 2>&1 | sed -n 1p)) in $(( $(date +%s) - start ))s"
