#!/usr/bin/env bash
# Offline against live (issue 10): a route's cost and quality from `switchyard eval` on recorded
# outcomes, and the same route through a running gateway in front of the sim replaying those
# outcomes (--dataset), every prompt of the split sent with the official OpenAI SDK
# (scripts/demo.mjs). The two should agree within noise: the live gateway runs the same stages
# and dispatcher, but bills tokens at list price where eval charges the recorded cost. Loopback
# only (127.0.0.1:8093 and :9021); stops what it starts, by PID.
#   bench/live-vs-offline.sh [CONFIG [DATASET [SPLIT [STRONGEST [ROUTE...]]]]]
# defaults: config/examples/routerbench-cascade.yaml ../shared/data/routerbench.jsonl test
#           gpt-4-1106-preview agree-then-gpt4 three-tiers
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG="${1:-config/examples/routerbench-cascade.yaml}"
DATASET="${2:-../shared/data/routerbench.jsonl}"
SPLIT="${3:-test}"
STRONGEST="${4:-gpt-4-1106-preview}"
shift $(($# < 4 ? $# : 4))
ROUTES=("$@")
[ ${#ROUTES[@]} -gt 0 ] || ROUTES=(agree-then-gpt4 three-tiers)
cmake --build --preset release --target switchyard switchyard-sim >/dev/null
BIN=build/release
RUN="$(mktemp -d)"
# The config's upstreams, pointed at the sim: every base_url, one listener.
{
  printf 'server:\n  listen: 127.0.0.1:8093\n  reload_poll_ms: 0\n'
  sed -E 's|^( *)base_url: .*$|\1base_url: http://127.0.0.1:9021/v1\n\1max_concurrent: 512|' "$CONFIG"
} >"$RUN/gateway.yaml"
"$BIN/switchyard-sim" --listen 127.0.0.1:9021 --workers 1 --dataset "$DATASET" --split "$SPLIT" \
  --time-scale 0.02 >"$RUN/sim.log" 2>&1 &
SIM=$!
"$BIN/switchyard" --config "$RUN/gateway.yaml" >"$RUN/gateway.log" 2>&1 &
GW=$!
trap 'kill "$GW" "$SIM" 2>/dev/null || true; wait "$GW" "$SIM" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf http://127.0.0.1:8093/readyz >/dev/null 2>&1 && curl -sf http://127.0.0.1:9021/healthz >/dev/null 2>&1 && break
  sleep 0.1
done

echo "| route | offline: quality | offline: cost vs $STRONGEST | live: quality | live: cost vs $STRONGEST |"
echo "|---|---|---|---|---|"
for route in "${ROUTES[@]}"; do
  offline=$("$BIN/switchyard" eval --config "$CONFIG" --data "$DATASET:$SPLIT" --route "$route" \
    --json --bootstrap 1 | node -e '
      const f = JSON.parse(require("fs").readFileSync(0, "utf8")).figures;
      const s = process.argv[1];
      const share = f["route.cost"].value / f[`single.${s}.cost`].value;
      console.log(`${f["route.quality"].value.toFixed(3)} | ${(100 * share).toFixed(1)}%`);
    ' "$STRONGEST")
  # "route R costs 52.0% of always-M, at mean quality 0.856 vs 0.879"
  live=$(node scripts/demo.mjs --gateway http://127.0.0.1:8093 --workload "$DATASET" \
    --split "$SPLIT" --route "$route" --strongest "$STRONGEST" --concurrency 16 |
    sed -nE 's/^route .* costs ([0-9.]+%) of .*, at mean quality ([0-9.]+) vs .*/\2 | \1/p')
  echo "| $route | $offline | $live |"
done
