#!/usr/bin/env bash
# Runs the Windows process-table benchmarks under Wine:
#
#   tools/wine/bench.sh [DIR] [EXTRA_PROCESSES]
#
# DIR holds the Wine prefix (default /tmp/prexmon-wine); EXTRA_PROCESSES idle
# Windows processes are started first so the table has a realistic size
# (default 0). Wine emulates NtQuerySystemInformation through wineserver,
# so BenchmarkProcesses measures Wine more than the reader; the decoding
# alone is BenchmarkParseProcessTable. Then exporter.exe is started on
# 127.0.0.1:$PORT (default 39110) and the CPU time it spends on 100 scrapes
# of /metrics and of /snapshot is read from /proc (wineserver's share of
# the work is not included).
set -euo pipefail
dir=${1:-/tmp/prexmon-wine}
extra=${2:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
export WINEPREFIX=$("$root/tools/wine/setup.sh" "$dir")
export WINEDEBUG=-all DISPLAY=
bin=$(mktemp -d)
trap 'wineserver -k 2>/dev/null || true; rm -rf "$bin"' EXIT
wineserver -p # one persistent server for everything below
(cd "$root" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go test -c -o "$bin/collector.test.exe" ./exporter/collector)
if [ "$extra" -gt 0 ]; then
  printf 'package main\nimport "time"\nfunc main() { time.Sleep(10 * time.Minute) }\n' >"$bin/sleeper.go"
  (cd "$root" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$bin/sleeper.exe" "$bin/sleeper.go")
  for _ in $(seq "$extra"); do wine "$bin/sleeper.exe" >/dev/null 2>&1 & done
  disown -a # wineserver -k ends them; the shell need not report it
  for _ in $(seq 120); do # up to a minute for them to start
    [ "$(pgrep -fc 'sleeper\.exe' || true)" -ge "$extra" ] && break
    sleep 0.5
  done
fi
wine "$bin/collector.test.exe" -test.run '^$' -test.bench 'Processes|ParseProcessTable' -test.benchmem -test.benchtime 2s

port=${PORT:-39110}
(cd "$root" && GOOS=windows GOARCH=amd64 CGO_ENABLED=0 go build -o "$bin/exporter.exe" ./exporter)
wine "$bin/exporter.exe" --web.listen-address="127.0.0.1:$port" >"$bin/exporter.log" 2>&1 &
for _ in $(seq 360); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
pid=$(pgrep -f "exporter.exe --web.listen-address=127.0.0.1:$port" | head -1 || true)
if [ -z "$pid" ] || ! curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then
  echo "exporter.exe did not come up on 127.0.0.1:$port:" >&2
  cat "$bin/exporter.log" >&2
  exit 1
fi
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
for path in metrics snapshot; do
  for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$port/$path"; done # warm: first sight of every process
  t0=$(ticks); s0=$(date +%s%N)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/$path"; done
  t1=$(ticks); s1=$(date +%s%N)
  procs=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^host_processes\{/ {n += $2} END {print n}')
  echo "/$path under Wine, $procs processes: $(( (t1 - t0) * 1000 / hz / 100 )) ms CPU and $(( (s1 - s0) / 100000000 )) ms wall per request"
done