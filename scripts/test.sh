#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies (Debian packages, the openai
# npm client), builds with -Werror, runs the GoogleTest suite through ctest, the end-to-end tests
# (real binaries, the official OpenAI SDK, promtool), then the GoogleTest suite again under
# AddressSanitizer + UBSan (+ LeakSanitizer), and a bounded soak of the sanitized gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_BASEDIR="$PWD"  # cache hits across clones in different folders

scripts/install-deps.sh

for preset in release asan-ubsan; do
  echo "== build: $preset =="
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
done

echo "== unit and integration tests (ctest, release) =="
ctest --preset release -j2 --timeout 180

echo "== end-to-end tests (openai SDK, promtool) =="
SWITCHYARD_BUILD=build/release node --test tests/e2e/

echo "== unit and integration tests (ctest, asan-ubsan) =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --preset asan-ubsan -j2 --timeout 300

echo "== soak: 3000 mixed requests, client aborts, flaky upstream (asan-ubsan) =="
bench/soak.sh build/asan-ubsan
