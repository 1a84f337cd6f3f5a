#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies (Debian packages, the openai
# npm client), builds the release binaries and benchmarks with -Werror and runs the end-to-end
# tests on them (real binaries, the official OpenAI SDK, promtool) and the deploy/ checks
# (Kubernetes manifests, the Dockerfile, the Grafana dashboard), runs the GoogleTest suite
# through ctest under AddressSanitizer + UBSan (+ LeakSanitizer), its integration tests under
# ThreadSanitizer (a bounded soak too: several workers, real SIGHUP reloads and SIGTERM drains),
# and finally every libFuzzer target for a bounded time. clang-tidy checks the files the change
# touches before anything is built. The GoogleTest suite is not also built at -O2: the sanitizer
# builds run every test with stricter checks, and a third build of it cost CI 4 minutes
# (`ctest --preset release` still runs it locally).
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache hit 5% of these compiles (the precompiled header differs per build) and its own work
# made a fresh-clone build slower, so it is off here unless SWITCHYARD_CCACHE=1.
[ "${SWITCHYARD_CCACHE:-0}" = 1 ] || export CCACHE_DISABLE=1
export CCACHE_BASEDIR="$PWD"  # cache hits across clones in different folders
export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"

# Each phase's title, and when the next begins, how long it took (CI must stay well under 30 min).
phase() {
  [ -n "${phase_name:-}" ] && echo "   ($phase_name: $((SECONDS - phase_start)) s)"
  phase_name="$1"
  phase_start=$SECONDS
  [ -n "$1" ] && echo "== $1 =="
  return 0
}
trap 'phase ""; echo "== total: $SECONDS s =="' EXIT

phase "install dependencies"
scripts/install-deps.sh

phase "layering: #include rules (scripts/check-layers.sh)"
scripts/check-layers.sh

phase "clang-tidy: the files this change touches (scripts/tidy.sh; TIDY_ALL=1 for all)"
cmake --preset release >/dev/null
TIDY_TIMEOUT="${TIDY_TIMEOUT:-600}" scripts/tidy.sh

phase "build: release (binaries and benchmarks)"
cmake --build --preset release --target switchyard switchyard-sim switchyard_benches
for preset in asan-ubsan tsan; do
  phase "build: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
done

phase "end-to-end tests (openai SDK, promtool)"
SWITCHYARD_BUILD=build/release node --test tests/e2e/

phase "deploy: Kubernetes manifests, the Dockerfile, the Grafana dashboard"
# Every overlay of deploy/kubernetes through kubectl kustomize, each object against the
# Kubernetes schemas (unknown fields refused), docs/deploy.md's rules, --validate-config on each
# embedded config; docker/Dockerfile linted and checked against the release build;
# deploy/grafana/switchyard.json's queries against docs/metrics.md and a gateway's /metrics under
# traffic, and through Debian's prometheus, scraping it on loopback: each must return data.
SWITCHYARD_BUILD=build/release node --test deploy/

phase "unit and integration tests (ctest, asan-ubsan)"
# The Health tests time sim episodes to the second: they run one at a time, after the rest, so
# that no other test takes their CPU (two at once under TSan once missed a 5% share by half).
health='^Health\.'
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --preset asan-ubsan -j2 --timeout 300 -E "$health"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --preset asan-ubsan -j1 --timeout 300 -R "$health"

phase "soak: 3000 mixed requests, client aborts, flaky upstream (asan-ubsan)"
bench/soak.sh build/asan-ubsan

phase "unit and integration tests (ctest, tsan)"
ctest --preset tsan -j2 --timeout 300 -E "$health"  # TSAN_OPTIONS comes from the test preset
ctest --preset tsan -j1 --timeout 300 -R "$health"

phase "soak (tsan)"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
bench/soak.sh build/tsan

phase "fuzz: each target 10 s (clang 14, libFuzzer + ASan + UBSan)"
scripts/fuzz.sh 10
