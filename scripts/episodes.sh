#!/usr/bin/env bash
# The health check of issue 9, as a user would run it: the sim (config/sim-fleet.yaml) plays an
# outage, an error burst and a latency spike on one model behind a gateway config, while
# scripts/episodes.mjs sends steady traffic and reads the traffic shares, failures, breakers
# and budgets from /metrics once a second. Uses 127.0.0.1:8080 and :9001; stops what it starts.
#   scripts/episodes.sh                                   # the default config; sim-nano suffers
#   scripts/episodes.sh --config config/examples/latency-slo.yaml --model sim-medium
#   scripts/episodes.sh --config config/examples/budgets.yaml --model sim-large --key sk-demo-team
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=config/switchyard.yaml
MODEL=sim-nano
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) CONFIG="$2"; shift ;;
    --model) MODEL="$2"; shift ;;
    --key|--header|--seconds|--rate|--concurrency) EXTRA+=("$1" "$2"); shift ;;
    *) echo "usage: scripts/episodes.sh [--config FILE] [--model NAME] [--key KEY] [--header 'NAME: VALUE']" >&2; exit 2 ;;
  esac
  shift
done
SCHEDULE="$MODEL:outage:20:35,$MODEL:error_burst:55:85,$MODEL:latency_spike:105:125"

cmake --build --preset release >/dev/null
BIN=build/release
RUN="$(mktemp -d)"
# The shipped fleet with the schedule added to the suffering model.
sed "s/^  - name: $MODEL\$/&\n    episodes:\n      - {type: outage, start_s: 20, end_s: 35}\n      - {type: error_burst, start_s: 55, end_s: 85, error_rate: 0.5}\n      - {type: latency_spike, start_s: 105, end_s: 125, factor: 6}/" \
  config/sim-fleet.yaml >"$RUN/fleet.yaml"
grep -q "start_s: 105" "$RUN/fleet.yaml" || { echo "no model $MODEL in config/sim-fleet.yaml" >&2; exit 2; }
"$BIN/switchyard" --config "$CONFIG" >"$RUN/gateway.log" 2>&1 &
GW=$!
"$BIN/switchyard-sim" --listen 127.0.0.1:9001 --workers 1 --fleet "$RUN/fleet.yaml" >"$RUN/sim.log" 2>&1 &
SIM=$!
trap 'kill "$GW" "$SIM" 2>/dev/null || true; wait "$GW" "$SIM" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8080/readyz >/dev/null 2>&1 && curl -sf http://127.0.0.1:9001/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
node scripts/episodes.mjs --gateway http://127.0.0.1:8080 --workload bench/workloads/demo.jsonl \
  --seconds 150 --episodes "$SCHEDULE" "${EXTRA[@]}"
echo "logs: $RUN"
