# Sourced by the bench scripts that drive one gateway against bench/proxy.sh's nginx echo mock
# (bench/instructions.sh, bench/stream-memory.sh), from the repository's top, with MOCK and SY
# (the two ports) set. Gives BUILD; needs "PACKAGES" TOOL... (exits 2 naming what to install);
# WORK, a directory, and PIDS, processes, which the EXIT trap stops by PID and then removes;
# the mock's answers, body() and fill() as bench/proxy.sh has them; start_mock, which also
# writes $WORK/switchyard.yaml (MOCK_CPU=N pins the mock to that core); and wait_port PORT (up
# to 60 s: valgrind starts slowly).
BUILD="${SWITCHYARD_BUILD:-build/release}"
needs() {
  local packages="$1"
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null || {
      echo "$0: needs $tool (apt-get install $packages)" >&2
      exit 2
    }
  done
}
WORK="$(mktemp -d "/tmp/switchyard-$(basename "$0" .sh).XXXXXX")"
mkdir -p "$WORK/tmp"
export WORK
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
WAIT_SECONDS=60  # valgrind starts slowly
source <(sed -n '/^export JSON=/,/^fill bench\/proxy\/mock.conf/p' bench/proxy.sh | sed '$d')
start_mock() {
  fill bench/proxy/mock.conf "$MOCK" > "$WORK/mock.conf"
  fill bench/proxy/switchyard.yaml "$SY" > "$WORK/switchyard.yaml"
  ${MOCK_CPU:+taskset -c "$MOCK_CPU"} nginx -e "$WORK/mock-stderr.log" -p "$WORK" \
    -c "$WORK/mock.conf" -g 'daemon off;' &
  PIDS+=($!)
}
