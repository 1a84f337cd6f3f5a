#!/usr/bin/env bash
# Bounded soak of the gateway against a flaky simulated fleet, all on 127.0.0.1: 3000 mixed
# requests from 64 clients, some aborted mid-flight. Fails if the gateway stops answering,
# reports a sanitizer error (ASan, LSan, UBSan, TSan), or does not drain and exit 0 on SIGTERM.
#   bench/soak.sh [BUILD_DIR]      # default build/release; CI runs it on build/asan-ubsan
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build/release}"
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }
SIM_PORT=$(free_port)
GW_PORT=$(free_port)
RUN="$(mktemp -d)"
sed "s/127.0.0.1:9001/127.0.0.1:$SIM_PORT/; s/127.0.0.1:8080/127.0.0.1:$GW_PORT/" \
  config/switchyard.yaml >"$RUN/gateway.yaml"
"$BUILD/switchyard-sim" --listen "127.0.0.1:$SIM_PORT" --fleet bench/soak-fleet.yaml >"$RUN/sim.log" 2>&1 &
SIM=$!
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" "$BUILD/switchyard" --config "$RUN/gateway.yaml" \
  --workers 2 >"$RUN/gateway.log" 2>&1 &
GW=$!
trap 'kill $SIM $GW 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$GW_PORT/readyz" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$SIM_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
node bench/soak.mjs "http://127.0.0.1:$GW_PORT" 3000 64
curl -sf "http://127.0.0.1:$GW_PORT/healthz" >/dev/null
kill -TERM "$GW"
status=0
wait "$GW" || status=$?
kill "$SIM" 2>/dev/null || true
REPORT="ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|runtime error:"
if [ "$status" -ne 0 ] || grep -qE "$REPORT" "$RUN/gateway.log" "$RUN/sim.log"; then
  echo "soak FAILED (gateway exit $status); logs: $RUN/gateway.log $RUN/sim.log" >&2
  grep -E "Sanitizer|runtime error" -A20 "$RUN/gateway.log" "$RUN/sim.log" | head -60 >&2 || true
  exit 1
fi
echo "soak passed: gateway answered throughout, drained and exited 0 ($(grep -c '^access' "$RUN/gateway.log") requests logged)"
rm -rf "$RUN"
