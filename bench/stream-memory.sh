#!/usr/bin/env bash
# Memory per held stream: holds N idle SSE streams through Switchyard's passthrough route (the
# nginx echo mock of bench/proxy.sh sends each stream's first event, then nothing for 10 s) and
# prints the gateway's RSS before and with every stream open, and the KB each stream adds. With
# HEAPTRACK=1 the gateway runs under heaptrack, and the allocation sites that held the most at
# the peak follow, each with the two frames above the allocator: most of a held stream is
# coroutine frames, named there by their coroutine. Heaptrack's own memory is in the RSS then.
#
#   bench/stream-memory.sh              # 2,000 streams
#   bench/stream-memory.sh 5000
#   HEAPTRACK=1 bench/stream-memory.sh
#
# Needs nginx-light (and heaptrack for HEAPTRACK=1). Every process is started here and stopped by
# its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
MOCK=18381 SY=18383
source bench/mock.sh
needs "nginx-light heaptrack" nginx perl node \
  $([ -n "${HEAPTRACK:-}" ] && echo heaptrack heaptrack_print)
STREAMS="${1:-2000}"
start_mock
if [ -n "${HEAPTRACK:-}" ]; then
  heaptrack -o "$WORK/heaptrack" "$BUILD/switchyard" --config "$WORK/switchyard.yaml" \
    > "$WORK/switchyard.log" 2>&1 &
else
  "$BUILD/switchyard" --config "$WORK/switchyard.yaml" > "$WORK/switchyard.log" 2>&1 &
fi
LAUNCHED=$!
PIDS+=($LAUNCHED)
wait_port $SY
# Under heaptrack the gateway is the launcher's child.
SY_PID="$LAUNCHED"
[ -z "${HEAPTRACK:-}" ] || SY_PID="$(pgrep -P "$LAUNCHED" -f "switchyard --config" | head -1)"
body bench-idle 1 > "$WORK/idle.json"
out="$("$BUILD/bench/load/hold" --port $SY --body "$WORK/idle.json" --streams "$STREAMS" \
         --pid "$SY_PID" --seconds 60)"
echo "$out"
node -e '
  const r = JSON.parse(process.argv[1]);
  const kb = (r.rss_all_open_mb - r.rss_before_mb) * 1024 / r.streams;
  console.log(`${r.completed} of ${r.streams} streams completed; ${kb.toFixed(1)} KB per held stream`);
' "$out"
if [ -n "${HEAPTRACK:-}" ]; then
  kill "$SY_PID"
  wait "$LAUNCHED" 2>/dev/null || true
  heaptrack_print -f "$WORK"/heaptrack.*zst --print-peaks 1 --print-allocators 0 \
      --print-temporary 0 --print-leaks 0 --peak-limit 25 -s 0 --merge-backtraces=0 2>/dev/null |
    awk '/peak memory consumed/ {size = $1; calls = $6; n = 0; next}
         /operator new|aligned_new|thread_info_base|new_allocator|std::allocator|allocator_traits/ {next}
         /_M_create|_M_mutate|_M_get_node|^ *(at|in) / {next}
         NF && size != "" && n < 2 {line[n++] = substr($0, 1, 90)}
         n == 2 && size != "" {printf "%9s over %6s calls  %s  <  %s\n", size, calls, line[0], line[1]; size = ""}'
fi
