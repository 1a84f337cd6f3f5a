#!/usr/bin/env bash
# Switchyard against nginx, side by side, on loopback (issue 11). Prints one table: for the mock
# upstream alone, nginx as a reverse proxy, Switchyard passing a concrete model through, and
# Switchyard on a full route (cache miss, classifier, scorer, single dispatcher), each measure of
# each scenario, and each proxy's ratio to nginx.
#
#   bench/proxy.sh                 # about 5 minutes; BENCH_SECONDS=N per scenario (default 10)
#   BENCH_STREAMS=0 bench/proxy.sh # skip holding 10,000 idle streams
#   BENCH_TARGETS="nginx switchyard" bench/proxy.sh   # some of mock, nginx, switchyard, full
#   BENCH_ROUNDS=5 bench/proxy.sh  # then 4 more rounds of the CPU scenarios, targets in turn
#
# Debian packages only: wrk, nginx-light (whose echo module makes the mock: a chat completion at
# once, or after 50 ms; 8 SSE events at once, or an idle stream), taskset. The proxy under test
# runs on core 0, the mock and the load generators on core 1. Scenarios: JSON at 32 and 256
# connections, with 16 KB and 128 KB prompts at 32, and SSE at 32 (wrk, closed loop); 200 and
# 2,000 requests per second over 64 connections (bench/load/pace, open loop: latency from each
# request's scheduled time, missed send slots counted), and the first SSE event at 200 per
# second (pace --first-byte); 256 connections against the 50 ms mock. CPU per request is the proxy's
# utime + stime (/proc) over the requests answered; RSS is sampled every 200 ms. Then
# bench/load/hold holds BENCH_STREAMS idle streams through each proxy at once and reports RSS and
# whether all complete. Every process is started here and stopped by its PID; only 127.0.0.1.
# CPU time on a shared VM moves by a quarter from minute to minute: with BENCH_ROUNDS, the CPU
# scenarios (JSON at 32 and 256 connections, SSE) run again for each proxy in turn, and the table
# adds each proxy's median ratio to nginx over the rounds, nginx measured in the same round.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${SWITCHYARD_BUILD:-build/release}"
SECS="${BENCH_SECONDS:-10}"
STREAMS="${BENCH_STREAMS:-10000}"
ROUNDS="${BENCH_ROUNDS:-1}"
case "$ROUNDS" in
  '' | *[!0-9]* | 0) echo "bench/proxy.sh: BENCH_ROUNDS must be 1 or more" >&2; exit 2 ;;
esac
ROUND=1
TARGETS="${BENCH_TARGETS:-mock nginx switchyard full}"
for tool in wrk nginx taskset node perl; do
  command -v "$tool" >/dev/null || {
    echo "bench/proxy.sh: needs $tool (apt-get install wrk nginx-light)" >&2
    exit 2
  }
done
for bin in switchyard bench/load/pace bench/load/hold; do
  [ -x "$BUILD/$bin" ] || {
    echo "bench/proxy.sh: no $BUILD/$bin (cmake --build --preset release)" >&2
    exit 2
  }
done
ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# A proxy holds two descriptors per stream, the client's and the upstream's: past half the limit,
# less a reserve, no proxy can hold them all (Switchyard refuses the rest at once, as its
# server.max_connections defaults to that), so the test holds at most that many.
if [ "$(ulimit -n)" != unlimited ] && [ "$STREAMS" -gt $((($(ulimit -n) - 256) / 2)) ]; then
  echo "bench/proxy.sh: $(ulimit -n) descriptors hold $((($(ulimit -n) - 256) / 2)) streams" \
    "through a proxy, not $STREAMS: holding that many" >&2
  STREAMS=$((($(ulimit -n) - 256) / 2))
fi

WORK="$(mktemp -d /tmp/switchyard-bench.XXXXXX)"
mkdir -p "$WORK/tmp"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

MOCK=18181 NGINX=18182 SY=18183
for port in $MOCK $NGINX $SY; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench/proxy.sh: port $port is taken" >&2
    exit 2
  fi
done

# What the mock answers, and the 1 KB requests.
export WORK
export JSON='{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":250,"completion_tokens":9,"total_tokens":259}}'
chunk() {
  printf 'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench","choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":%s}]}\\n\\n' "$1" "$2"
}
export FIRST; FIRST="$(chunk 'Hello' null)"
export SSE=""
for w in ' there,' ' how' ' can' ' I' ' help' ' you' ' today'; do SSE+="$(chunk "$w" null)"; done
SSE+="$(chunk '?' '"stop"')"
SSE+='data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"bench","choices":[],"usage":{"prompt_tokens":250,"completion_tokens":8,"total_tokens":258}}\n\ndata: [DONE]\n\n'
SENTENCE='Summarise the following note for a colleague in two sentences. '
body() {  # model, stream[, KB: the body's size, 1 by default]
  local kb=${3:-1} filler=""
  for _ in $(seq $(((kb * 1024 - 170) / ${#SENTENCE}))); do filler+="$SENTENCE"; done
  printf '{"model":"%s","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"%s Note {n}: the quarterly figures are in."}]%s}' \
    "$1" "$filler" "$([ "$2" = 1 ] && echo ',"stream":true')"
}
fill() {  # template → stdout, with the ports and texts in place
  PORT="$2" perl -pe 's/\@WORK\@/$ENV{WORK}/g; s/\@PORT\@/$ENV{PORT}/g; s/\@MOCK\@/'"$MOCK"'/g;
                      s/\@JSON\@/$ENV{JSON}/g; s/\@SSE\@/$ENV{SSE}/g; s/\@FIRST\@/$ENV{FIRST}/g' "$1"
}
wait_port() {  # port; up to WAIT_SECONDS (10 by default)
  for _ in $(seq $((${WAIT_SECONDS:-10} * 10))); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$0: nothing listens on $1" >&2
  exit 1
}

fill bench/proxy/mock.conf $MOCK > "$WORK/mock.conf"
fill bench/proxy/nginx.conf $NGINX > "$WORK/nginx.conf"
fill bench/proxy/switchyard.yaml $SY > "$WORK/switchyard.yaml"
taskset -c 1 nginx -e "$WORK/mock-stderr.log" -p "$WORK" -c "$WORK/mock.conf" -g 'daemon off;' &
PIDS+=($!)
taskset -c 0 nginx -e "$WORK/nginx-stderr.log" -p "$WORK" -c "$WORK/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
PIDS+=($NGINX_PID)
taskset -c 0 "$BUILD/switchyard" --config "$WORK/switchyard.yaml" > "$WORK/switchyard.log" 2>&1 &
SY_PID=$!
PIDS+=($SY_PID)
wait_port $MOCK; wait_port $NGINX; wait_port $SY
MOCK_PID="$(cat "$WORK/mock.pid")"

# The processes that serve for a target: nginx's master and its worker, or Switchyard.
pids_of() { echo "$1 $(ps -o pid= --ppid "$1" | tr '\n' ' ')"; }
cpu_ticks() {  # utime + stime of every pid
  local sum=0
  for p in $1; do
    read -r -a f < "/proc/$p/stat"
    sum=$((sum + f[13] + f[14]))
  done
  echo $sum
}
rss_kb() {
  local sum=0
  for p in $1; do sum=$((sum + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done
  echo $sum
}
HZ="$(getconf CLK_TCK)"
RESULTS="$WORK/results.jsonl"

# measure TARGET SCENARIO PIDS command...: runs the load, prints a JSON line into RESULTS.
measure() {
  local target=$1 scenario=$2 pids=$3
  shift 3
  local idle before out after
  idle="$(rss_kb "$pids")"
  (while :; do rss_kb "$pids"; sleep 0.2; done) > "$WORK/rss" 2>/dev/null &
  local sampler=$!
  before="$(cpu_ticks "$pids")"
  out="$("$@")"
  after="$(cpu_ticks "$pids")"
  kill $sampler; wait $sampler 2>/dev/null || true
  printf '{"target":"%s","scenario":"%s","round":%s,"cpu_s":%s,"rss_idle_kb":%s,"rss_load_kb":%s,"run":%s}\n' \
    "$target" "$scenario" "$ROUND" "$(awk "BEGIN { print ($after - $before) / $HZ }")" "$idle" \
    "$(sort -n "$WORK/rss" | tail -1)" "$out" >> "$RESULTS"
  echo "  $target $scenario (round $ROUND): $out" >&2
}
run_wrk() {  # connections path body
  printf '%s' "$3" > "$WORK/wrk-body.json"  # a file: the environment holds 128 KB at most
  BENCH_PATH="$2" BENCH_BODY="$WORK/wrk-body.json" taskset -c 1 wrk -t1 -c"$1" -d"${SECS}s" \
    --timeout 10s \
    -s bench/proxy/wrk.lua "http://127.0.0.1:$PORT" | tail -1
}
run_pace() {  # rate path body [pace options]
  printf '%s' "$3" > "$WORK/body.json"
  taskset -c 1 "$BUILD/bench/load/pace" --port "$PORT" --path "$2" --body "$WORK/body.json" \
    --rate "$1" --connections 64 --seconds "$SECS" "${@:4}"
}

# target NAME PORT PIDS PATH-PREFIX MODEL-JSON MODEL-SSE MODEL-SLOW
target() {
  local name=$1 pids=$3 prefix=$4
  PORT=$2
  local json sse slow
  json="$(body "$5" 0)" sse="$(body "$6" 1)" slow="$(body "$7" 0)"
  echo "$name" >&2
  SECS=2 run_wrk 32 "${prefix/@/json}" "$json" > /dev/null  # warm-up
  measure "$name" json32 "$pids" run_wrk 32 "${prefix/@/json}" "$json"
  # 256 connections before the large prompts, whose buffers the allocator keeps for a while: the
  # RSS under that load is a target of its own.
  measure "$name" json256 "$pids" run_wrk 256 "${prefix/@/json}" "$json"
  if [ "$ROUND" -gt 1 ]; then
    measure "$name" sse32 "$pids" run_wrk 32 "${prefix/@/sse}" "$sse"
    return
  fi
  measure "$name" json32_16k "$pids" run_wrk 32 "${prefix/@/json}" "$(body "$5" 0 16)"
  measure "$name" json32_128k "$pids" run_wrk 32 "${prefix/@/json}" "$(body "$5" 0 128)"
  measure "$name" sse32 "$pids" run_wrk 32 "${prefix/@/sse}" "$sse"
  measure "$name" ttft200 "$pids" run_pace 200 "${prefix/@/sse}" "$sse" --first-byte
  measure "$name" paced200 "$pids" run_pace 200 "${prefix/@/json}" "$json"
  measure "$name" paced2000 "$pids" run_pace 2000 "${prefix/@/json}" "$json"
  measure "$name" slow256 "$pids" run_wrk 256 "${prefix/@/slow}" "$slow"
}

echo "bench/proxy.sh: ${SECS} s per scenario; results in $RESULTS" >&2
run_target() {  # TARGET
  local api=/v1/chat/completions
  case $1 in
    mock) target mock $MOCK "$(pids_of "$MOCK_PID")" "/@$api" bench bench bench ;;
    nginx) target nginx $NGINX "$(pids_of "$NGINX_PID")" "/@$api" bench bench bench ;;
    switchyard) target switchyard $SY "$SY_PID" "$api" bench bench-sse bench-slow ;;
    full) target full $SY "$SY_PID" "$api" full-json full-sse full-slow ;;
    *) echo "bench/proxy.sh: unknown target $1" >&2; exit 2 ;;
  esac
}
for ROUND in $(seq "$ROUNDS"); do
  for t in $TARGETS; do
    [ "$t" = mock ] && [ "$ROUND" -gt 1 ] && continue  # the later rounds are for ratios to nginx
    run_target "$t"
  done
done

if [ "$STREAMS" -gt 0 ]; then
  body bench-idle 1 > "$WORK/idle.json"
  for t in nginx switchyard; do
    [[ " $TARGETS " == *" $t "* ]] || continue
    if [ $t = nginx ]; then
      port=$NGINX path=/idle/v1/chat/completions pid="$(ps -o pid= --ppid "$NGINX_PID" | head -1)"
    else
      port=$SY path=/v1/chat/completions pid=$SY_PID
    fi
    echo "holding $STREAMS idle streams through $t" >&2
    out="$(taskset -c 1 "$BUILD/bench/load/hold" --port "$port" --path "$path" \
             --body "$WORK/idle.json" --streams "$STREAMS" --pid $pid --seconds 90 || true)"
    echo "  $out" >&2
    printf '{"target":"%s","scenario":"hold","run":%s}\n' "$t" "$out" >> "$RESULTS"
  done
fi

node bench/proxy/table.mjs "$RESULTS"
[ -z "${BENCH_KEEP:-}" ] || cp "$RESULTS" "${BENCH_KEEP}"
