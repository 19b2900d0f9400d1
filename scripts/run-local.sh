#!/usr/bin/env bash
# Runs the exporter and the archiver scraping it (`make run`, after `make build`).
# Data goes to ./data; Ctrl-C (or SIGTERM) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

EXPORTER_ADDR="${EXPORTER_ADDR:-:9110}"
ARCHIVER_ADDR="${ARCHIVER_ADDR:-:5000}"
DATA="${DATA:-./data}"

for bin in bin/exporter bin/archiver; do
  if [ ! -x "$bin" ]; then
    echo "$bin is missing: run 'make build' (or 'make run') first" >&2
    exit 1
  fi
done

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

bin/exporter --web.listen-address="$EXPORTER_ADDR" &
pids+=($!)
bin/archiver --config.file=archiver.yml --storage.path="$DATA" --web.listen-address="$ARCHIVER_ADDR" &
pids+=($!)

port() { echo "${1##*:}"; }
cat <<MSG

  exporter  http://localhost:$(port "$EXPORTER_ADDR")/metrics   http://localhost:$(port "$EXPORTER_ADDR")/snapshot
  archiver  http://localhost:$(port "$ARCHIVER_ADDR")/          (agents, files, metrics)

  The archiver scrapes the exporter every 15s (archiver.yml, deploy/targets/agents.yml).
  Once the first scrape is in (at most 15s), try:

    curl -s http://localhost:$(port "$ARCHIVER_ADDR")/api/v1/agents
    curl -s http://localhost:$(port "$ARCHIVER_ADDR")/api/v1/snapshots/127.0.0.1/latest
    curl -s "http://localhost:$(port "$ARCHIVER_ADDR")/api/v1/snapshots/127.0.0.1/\$(date -u +%F)?limit=2"

  Files: $DATA/127.0.0.1/\$(date -u +%F).jsonl     Ctrl-C stops both.

MSG

# Whichever program ends first (or a signal) stops the other.
wait -n "${pids[@]}" || true
