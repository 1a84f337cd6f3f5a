#!/usr/bin/env bash
# System calls per request through the gateway, or through nginx with bench/proxy.sh's
# configuration (in one process, master_process off, so that perf follows the one serving),
# counted by perf on the kernel's syscalls:sys_enter_* tracepoints for the proxy's PID (they need
# no hardware counters, which this VM lacks). The proxy runs on core 0, the nginx echo mock of
# bench/proxy.sh and wrk on core 1; after 2 s of warm-up, 8 s of wrk at 32 connections (C=N for
# another count) on bench/proxy.sh's 1 KB request. With PTI on, each call costs about 1 us
# before it does any work: a few a request are a visible share of the CPU per request. perf
# slows each traced call, so this counts; bench/proxy.sh measures the time.
#
#   bench/syscalls.sh            # passthrough JSON: the model "bench"
#   bench/syscalls.sh bench-sse  # passthrough, an 8-event stream
#   bench/syscalls.sh full-json  # the full route
#   bench/syscalls.sh nginx      # nginx, the same JSON request (nginx-sse: the stream)
#   PROFILE=1 bench/syscalls.sh  # instead, where the time goes: perf's cpu-clock samples of the
#                                # proxy during the same load, the top 40 functions (TOP=N for
#                                # N), user and kernel, each a share of the samples
#
# Needs linux-perf, wrk and nginx-light. Every process is started here and stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")/.."
MOCK=18285 SY=18287
source bench/mock.sh
needs "linux-perf wrk nginx-light nodejs" perf wrk nginx taskset node perl
MODEL="${1:-bench}"
STREAM=0
[[ "$MODEL" == *sse* ]] && STREAM=1
MOCK_CPU=1 start_mock
URL_PATH=/v1/chat/completions
if [[ "$MODEL" == nginx* ]]; then
  fill bench/proxy/nginx.conf "$SY" > "$WORK/nginx.conf"
  URL_PATH="/$([ "$STREAM" = 1 ] && echo sse || echo json)/v1/chat/completions"
  taskset -c 0 nginx -e "$WORK/nginx-stderr.log" -p "$WORK" -c "$WORK/nginx.conf" \
    -g 'daemon off; master_process off;' > "$WORK/nginx.log" 2>&1 &
else
  taskset -c 0 "$BUILD/switchyard" --config "$WORK/switchyard.yaml" > "$WORK/switchyard.log" 2>&1 &
fi
SY_PID=$!
PIDS+=("$SY_PID")
wait_port $SY
body "${MODEL/nginx/bench}" "$STREAM" "${KB:-1}" > "$WORK/body.json"  # the same bytes for nginx
load() {
  BENCH_PATH="$URL_PATH" BENCH_BODY="$WORK/body.json" taskset -c 1 wrk -t1 -c"${C:-32}" \
    -d"$1s" --timeout 10s -s bench/proxy/wrk.lua "http://127.0.0.1:$SY" | tail -1
}
load 2 > /dev/null  # warm-up: pools, caches, allocator
if [ -n "${PROFILE:-}" ]; then
  perf record -F 2000 -e cpu-clock -p $SY_PID -o "$WORK/perf.data" 2> /dev/null &
  PERF=$!
  sleep 0.5
  run="$(load 8)"
  kill -INT $PERF
  wait $PERF || true
  echo "$MODEL, wrk -c${C:-32}: $(node -e "console.log(JSON.parse(process.argv[1]).requests)" \
    "$run") requests; share of the proxy's cpu-clock samples:"
  perf report -i "$WORK/perf.data" --no-children --sort sym --stdio 2> /dev/null |
    grep -E '^ +[0-9.]+%' | head -"${TOP:-40}" | cut -c1-150
  exit 0
fi
events=raw_syscalls:sys_enter
for call in recvfrom recvmsg read sendmsg sendto writev write epoll_wait epoll_ctl ioctl \
  getsockopt futex timerfd_settime accept4 connect close; do
  events+=",syscalls:sys_enter_$call"
done
perf stat -x, -e "$events" -e syscalls:sys_exit_recvfrom --filter 'ret == -11' -p $SY_PID \
  -o "$WORK/perf.txt" &
PERF=$!
sleep 0.5  # perf attaches before the counted load starts
run="$(load 8)"
kill -INT $PERF
wait $PERF || true
grep -q '^[0-9].*raw_syscalls:sys_enter' "$WORK/perf.txt" || {
  echo "bench/syscalls.sh: perf counted nothing:" >&2
  cat "$WORK/perf.txt" >&2
  exit 1
}
requests="$(node -e "console.log(JSON.parse(process.argv[1]).requests)" "$run")"
echo "$MODEL, wrk -c${C:-32}: $requests requests; system calls per request:"
awk -F, -v n="$requests" '$3 ~ /sys_/ && $1 ~ /^[0-9]/ && $1 + 0 > 0 {
  name = $3; sub(/^.*sys_enter_?/, "", name)
  if ($3 ~ /sys_exit_recvfrom/) name = "recvfrom that found nothing (EAGAIN)"
  if (name == "") name = "all"
  printf "  %-40s %6.2f\n", name, $1 / n
}' "$WORK/perf.txt"
