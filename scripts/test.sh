#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs dependencies (Debian packages, the openai
# npm client), builds with -Werror, runs the GoogleTest suite through ctest, then the end-to-end
# tests (real binaries, the official OpenAI SDK, promtool).
#   PRESET=asan-ubsan scripts/test.sh   # the same under AddressSanitizer + UBSan
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET="${PRESET:-release}"

scripts/install-deps.sh
cmake --preset "$PRESET" >/dev/null
cmake --build --preset "$PRESET"

echo "== unit and integration tests (ctest) =="
ctest --preset "$PRESET" -j2 --timeout 180

echo "== end-to-end tests (openai SDK, promtool) =="
SWITCHYARD_BUILD="build/$PRESET" node --test tests/e2e/
