#!/usr/bin/env bash
# Hedging bench (issue 10): the sim serves a model whose answers take ~60 ms but 5% take ten
# times longer; the same traffic goes through a plain route and a hedged one (bench/hedge/),
# and bench/hedge.mjs prints p50, p90, p99 and the cost per request of each. Loopback only
# (127.0.0.1:8091 and :9011); stops what it starts, by PID.
#   bench/hedge.sh [--requests N] [--concurrency C]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build --preset release --target switchyard switchyard-sim >/dev/null
BIN=build/release
RUN="$(mktemp -d)"
"$BIN/switchyard-sim" --listen 127.0.0.1:9011 --workers 1 --fleet bench/hedge/fleet.yaml >"$RUN/sim.log" 2>&1 &
SIM=$!
"$BIN/switchyard" --config bench/hedge/gateway.yaml >"$RUN/gateway.log" 2>&1 &
GW=$!
trap 'kill "$GW" "$SIM" 2>/dev/null || true; wait "$GW" "$SIM" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8091/readyz >/dev/null 2>&1 && curl -sf http://127.0.0.1:9011/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
node bench/hedge.mjs --gateway http://127.0.0.1:8091 "$@"
