#!/bin/sh
# Builds the archiver of this work tree with exporter/snapshot.CheckRaw
# replaced by tools/archiverload/fastcheck.CheckRaw, in a throw-away copy
# (the tree itself is not touched), for an A/B load run:
#   tools/archiverload/whatif-fastcheck.sh /tmp/archiver-fastcheck
#   go run ./tools/archiverload --archiver-bin=/tmp/archiver-fastcheck
set -eu
out=${1:?usage: $0 OUTPUT-BINARY}
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
root=$(git rev-parse --show-toplevel)
copy=$(mktemp -d)
trap 'rm -rf "$copy"' EXIT
cd "$root"
git ls-files -z | xargs -0 cp --parents -t "$copy"
cp -r archiver "$copy"/
cd "$copy"
grep -q 'snapshot\.CheckRaw(body)' archiver/scrape/loop.go
sed -i 's/snapshot\.CheckRaw(body)/fastcheck.CheckRaw(body)/' archiver/scrape/loop.go
if ! grep -q 'snapshot\.' archiver/scrape/loop.go; then
	sed -i 's#^\t"github.com/prexmon/prexmon/exporter/snapshot"$#\t"github.com/prexmon/prexmon/tools/archiverload/fastcheck"#' archiver/scrape/loop.go
else
	sed -i 's#^\t"github.com/prexmon/prexmon/exporter/snapshot"$#&\n\t"github.com/prexmon/prexmon/tools/archiverload/fastcheck"#' archiver/scrape/loop.go
fi
go build -o "$out" ./archiver
echo "built $out (fastcheck) from $(git -C "$root" rev-parse --short HEAD)"
