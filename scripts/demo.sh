#!/usr/bin/env bash
# The main job on the embedded default: installs dependencies, builds, starts the simulated
# fleet (switchyard-sim) and the gateway, drives a mixed workload through the `auto` route with
# the official OpenAI SDK, prints a table, and stops both.
#   scripts/demo.sh                       # the shipped workload on config/sim-fleet.yaml
#   scripts/demo.sh --dataset ../shared/data/routerbench.jsonl   # replay its test split through
#                                         the learned router, trained on its train split (cached
#                                         in build/models/)
#   scripts/demo.sh --keep                # leave the gateway and the sim running afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
KEEP=0
DATASET=""
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --dataset) DATASET="$2"; shift ;;
    *) echo "usage: scripts/demo.sh [--dataset FILE.jsonl] [--keep]" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh
export CCACHE_BASEDIR="$PWD"
cmake --preset release >/dev/null
cmake --build --preset release

BIN=build/release
RUN="$(mktemp -d)"
if [ -z "$DATASET" ]; then
  "$BIN/switchyard-sim" --listen 127.0.0.1:9001 --workers 2 --fleet config/sim-fleet.yaml \
    >"$RUN/sim.log" 2>&1 &
  SIM=$!
  GATEWAY_CONFIG=config/switchyard.yaml
  DRIVE=(--workload bench/workloads/demo.jsonl --strongest sim-large --concurrency 8)
else
  MODELS_JSON="$(dirname "$DATASET")/models.json"
  "$BIN/switchyard-sim" --listen 127.0.0.1:9001 --workers 2 --dataset "$DATASET" --split test \
    >"$RUN/sim.log" 2>&1 &
  SIM=$!
  GATEWAY_CONFIG="$RUN/gateway.yaml"
  # The learned router, trained on the dataset's train (and validation) split, reused while it
  # is newer than the dataset and the binary.
  MODEL="build/models/$(basename "$DATASET" .jsonl).swr"
  if [ ! "$MODEL" -nt "$DATASET" ] || [ ! "$MODEL" -nt "$BIN/switchyard" ]; then
    mkdir -p build/models
    "$BIN/switchyard" train --data "$DATASET:train,validation" --out "$MODEL"
  fi
  node scripts/demo.mjs --gateway-config "$DATASET" --models-json "$MODELS_JSON" \
    --model "$MODEL" >"$GATEWAY_CONFIG"
  DRIVE=(--workload "$DATASET" --split test --models-json "$MODELS_JSON" --concurrency 32)
fi
"$BIN/switchyard" --config "$GATEWAY_CONFIG" >"$RUN/gateway.log" 2>&1 &
GW=$!
stop() { kill "$GW" "$SIM" 2>/dev/null || true; wait "$GW" "$SIM" 2>/dev/null || true; }
if [ "$KEEP" = 0 ]; then trap stop EXIT; fi

for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8080/readyz >/dev/null 2>&1 && curl -sf http://127.0.0.1:9001/healthz >/dev/null 2>&1 && break
  sleep 0.1
done
node scripts/demo.mjs --gateway http://127.0.0.1:8080 "${DRIVE[@]}"
echo "logs: $RUN (gateway access log: $RUN/gateway.log)"
if [ "$KEEP" = 1 ]; then
  echo "still running: gateway pid $GW on 127.0.0.1:8080, sim pid $SIM on 127.0.0.1:9001"
  echo "stop them with: kill $GW $SIM"
fi
