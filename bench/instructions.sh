#!/usr/bin/env bash
# Instructions per request through the gateway, counted by callgrind: a figure that, unlike CPU
# time on a shared VM, is the same from run to run, so that a change to the data path can be
# measured by itself. Starts the nginx echo mock of bench/proxy.sh and the gateway (or nginx,
# the proxy it is compared with) under valgrind, sends warm-up requests, zeroes the counters,
# sends 2,000 more (bench/load/pace, 200 a second over 8 connections) and prints the proxy's
# instructions (all threads) per request.
#
#   bench/instructions.sh            # passthrough JSON: the model "bench", a 1 KB prompt
#   bench/instructions.sh bench-sse  # passthrough, an 8-event stream
#   bench/instructions.sh full-json  # the full route (cache miss, classifier, scorer, single)
#   bench/instructions.sh nginx      # nginx as bench/proxy.sh runs it, for the same JSON request
#   bench/instructions.sh nginx-sse  # nginx, the same 8-event stream
#   KB=16 bench/instructions.sh      # the same with a 16 KB prompt (KB: its size, 1 by default)
#   CALLGRIND_OUT=/tmp/sse.out bench/instructions.sh bench-sse  # keeps the profile, for
#                                    # callgrind_annotate --inclusive=yes /tmp/sse.out
#
# Models are those of bench/proxy/switchyard.yaml; a model whose name has "sse" streams. nginx
# runs in one process (master_process off) with bench/proxy.sh's configuration. Callgrind counts
# user-space instructions: the kernel's share (system calls) is not in the figure, for either.
# Needs valgrind and nginx-light. Every process is started here and stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
MOCK=18281 SY=18283
source bench/mock.sh
needs "valgrind nginx-light" valgrind callgrind_control nginx node perl
MODEL="${1:-bench}"
STREAM=0
[[ "$MODEL" == *sse* ]] && STREAM=1
start_mock
URL_PATH=/v1/chat/completions
if [[ "$MODEL" == nginx* ]]; then
  fill bench/proxy/nginx.conf "$SY" > "$WORK/nginx.conf"
  URL_PATH="/$([ "$STREAM" = 1 ] && echo sse || echo json)/v1/chat/completions"
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    nginx -e "$WORK/nginx-stderr.log" -p "$WORK" -c "$WORK/nginx.conf" \
    -g 'daemon off; master_process off;' > "$WORK/nginx.log" 2>&1 &
else
  valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out" \
    "$BUILD/switchyard" --config "$WORK/switchyard.yaml" > "$WORK/switchyard.log" 2>&1 &
fi
SY_PID=$!
PIDS+=($SY_PID)
wait_port $SY
body "${MODEL/nginx/bench}" "$STREAM" "${KB:-1}" > "$WORK/body.json"  # the same bytes for nginx
pace() {
  "$BUILD/bench/load/pace" --port $SY --path "$URL_PATH" --body "$WORK/body.json" --rate 200 \
    --connections 8 --seconds "$1"
}
pace 3 > /dev/null  # warm-up: pools, caches, allocator
callgrind_control -z $SY_PID > /dev/null
run="$(pace 10)"
callgrind_control -d $SY_PID > /dev/null
sleep 1
out="$(ls -t "$WORK"/callgrind.out* | head -1)"
ir="$(grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}')"
ok="$(node -e "console.log(JSON.parse(process.argv[1]).ok)" "$run")"
echo "$MODEL: $((ir / ok)) instructions per request ($ok requests)"
[ -z "${CALLGRIND_OUT:-}" ] || cp "$out" "$CALLGRIND_OUT"
