#!/usr/bin/env bash
# The main job on the embedded default: installs dependencies, builds, starts the simulated
# fleet (switchyard-sim) and the gateway with config/switchyard.yaml, drives a small mixed
# workload through them with the official OpenAI SDK, prints what happened, and stops both.
#   scripts/demo.sh --keep    # leave the gateway and the sim running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release

BIN=build/release
LOG="$(mktemp -d)"
"$BIN/switchyard-sim" --listen 127.0.0.1:9001 >"$LOG/sim.log" 2>&1 &
SIM=$!
"$BIN/switchyard" --config config/switchyard.yaml >"$LOG/gateway.log" 2>&1 &
GW=$!
stop() { kill "$GW" "$SIM" 2>/dev/null || true; wait "$GW" "$SIM" 2>/dev/null || true; }
if [ "$KEEP" = 0 ]; then trap stop EXIT; fi

for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8080/readyz >/dev/null 2>&1 && break
  sleep 0.1
done
node scripts/demo.mjs http://127.0.0.1:8080/v1
echo "logs: $LOG (access log: $LOG/gateway.log)"
if [ "$KEEP" = 1 ]; then
  echo "still running: gateway pid $GW on 127.0.0.1:8080, sim pid $SIM on 127.0.0.1:9001"
  echo "stop them with: kill $GW $SIM"
fi
