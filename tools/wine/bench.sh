#!/usr/bin/env bash
# Runs the Windows process-table benchmarks under Wine:
#
#   tools/wine/bench.sh [DIR] [EXTRA_PROCESSES]
#
# DIR holds the Wine prefix (default /tmp/prexmon-wine); EXTRA_PROCESSES idle
# Windows processes are started first so the table has a realistic size
# (default 0). Wine emulates NtQuerySystemInformation through wineserver,
# so BenchmarkProcesses measures Wine more than the reader; the decoding
# alone is BenchmarkParseProcessTable.
set -euo pipefail
dir=${1:-/tmp/prexmon-wine}
extra=${2:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
export WINEPREFIX=$("$root/tools/wine/setup.sh" "$dir")
export WINEDEBUG=-all DISPLAY=
bin=$(mktemp -d)
trap 'wineserver -k 2>/dev/null || true; rm -rf "$bin"' EXIT
(cd "$root" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "$bin/collector.test.exe" ./exporter/collector)
if [ "$extra" -gt 0 ]; then
  printf 'package main\nimport "time"\nfunc main() { time.Sleep(10 * time.Minute) }\n' >"$bin/sleeper.go"
  (cd "$root" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$bin/sleeper.exe" "$bin/sleeper.go")
  wineserver -p
  for _ in $(seq "$extra"); do wine "$bin/sleeper.exe" >/dev/null 2>&1 & done
  for _ in $(seq 120); do # up to a minute for them to start
    [ "$(pgrep -fc 'sleeper\.exe' || true)" -ge "$extra" ] && break
    sleep 0.5
  done
fi
wine "$bin/collector.test.exe" -test.run '^$' -test.bench 'Processes|ParseProcessTable' -test.benchmem -test.benchtime 2s
