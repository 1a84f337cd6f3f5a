#!/usr/bin/env bash
# Installs every build, test and demo dependency from Debian 12 packages (and, from npm, the
# official `openai` client for the end-to-end test and the Kubernetes schemas and Dockerfile
# linter for deploy/). Idempotent; run as root or with sudo.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(build-essential cmake ninja-build ccache pkg-config git curl openssl ca-certificates
      libboost1.81-dev nlohmann-json3-dev libyaml-cpp-dev libspdlog-dev libfmt-dev
      prometheus-cpp-dev libssl-dev libgtest-dev libgmock-dev prometheus nodejs npm
      libre2-dev libbenchmark-dev libhiredis-dev redis-server libsimdjson-dev libmimalloc-dev
      clang-14 libfuzzer-14-dev libclang-rt-14-dev  # the asan-ubsan and fuzz presets
      clang-tidy-14                                 # scripts/tidy.sh
      kubernetes-client)                            # kubectl kustomize, for deploy/
missing=()
for p in "${PKGS[@]}"; do
  # node may come from another source on dev machines; only install Debian's when absent.
  if [ "$p" = nodejs ] && command -v node >/dev/null; then continue; fi
  if [ "$p" = npm ] && command -v npm >/dev/null; then continue; fi
  # Likewise kubectl (Debian's is 1.20, with kustomize v2.0.3; deploy/kubernetes renders on both).
  if [ "$p" = kubernetes-client ] && command -v kubectl >/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The official OpenAI SDK, for tests/e2e (pinned in tests/e2e/package.json).
here="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -d "$here/tests/e2e/node_modules/openai" ]; then
  (cd "$here/tests/e2e" && npm install --no-audit --no-fund --loglevel=error)
fi
# The Kubernetes schemas and the Dockerfile linter, for deploy/validate.mjs (pinned in
# deploy/package.json); again when the lockfile is newer than the installed tree.
if [ ! -f "$here/deploy/node_modules/.package-lock.json" ] ||
   [ "$here/deploy/package-lock.json" -nt "$here/deploy/node_modules/.package-lock.json" ]; then
  (cd "$here/deploy" && npm install --no-audit --no-fund --loglevel=error)
fi
