#!/usr/bin/env bash
# clang-tidy (the project's .clang-tidy) on the .cpp files changed since a base commit, or on
# all of them; fails on any finding. Needs build/release/compile_commands.json (cmake --preset
# release; the build itself need not have run).
#
#   scripts/tidy.sh                  # files changed since the base, committed or not
#   TIDY_ALL=1 scripts/tidy.sh       # every .cpp in the compile database (src/ and tests/)
#   scripts/tidy.sh src/api/*.cpp    # these files
#
# The base is TIDY_BASE if set, else the merge-base with origin/main if there is one and it is not
# HEAD itself, else HEAD~1; with no usable base, every file is checked. A changed header stands for the .cpp files
# that include it (and its sibling .cpp). TIDY_JOBS (default 2) run at once; TIDY_TIMEOUT (default
# 900 s) caps the wall-clock time, after which the run fails and says which files it did not reach.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
build="${TIDY_BUILD:-build/release}"
jobs="${TIDY_JOBS:-2}"
cap="${TIDY_TIMEOUT:-900}"

tidy="$(command -v clang-tidy-14 || command -v clang-tidy || true)"
[ -n "$tidy" ] || { echo "tidy: clang-tidy not found (scripts/install-deps.sh)" >&2; exit 2; }
[ -f "$build/compile_commands.json" ] || {
  echo "tidy: no $build/compile_commands.json; run cmake --preset release first" >&2; exit 2; }

# The compile database, minus the precompiled header: its .gch is GCC's, which clang cannot read,
# and every check would also walk all of Beast, Asio and nlohmann/json in each file that does not
# include them itself. So a file must include what it uses. Also minus the GCC-only flags.
db="$(mktemp -d)"
trap 'rm -rf "$db"' EXIT
sed -E -e 's#-include [^ ]*/cmake_pch\.hxx##g' \
       -e 's# -(Winvalid-pch|fno-var-tracking-assignments)##g' \
  "$build/compile_commands.json" >"$db/compile_commands.json"

# Every source file the database knows, relative to the root: the candidates.
mapfile -t known < <(grep -oE '"file": *"[^"]+"' "$db/compile_commands.json" |
  sed -E 's#"file": *"##; s#"$##; s#^'"$root"'/##' | grep -E '^(src|tests)/' | sort -u)

files=()
if [ $# -gt 0 ]; then
  files=("$@")
elif [ "${TIDY_ALL:-0}" = 1 ]; then
  files=("${known[@]}")
else
  base="${TIDY_BASE:-}"
  if [ -z "$base" ]; then
    if git rev-parse -q --verify origin/main >/dev/null; then
      base="$(git merge-base HEAD origin/main || true)"
    fi
    # On origin/main itself (a CI clone), the change under test is the last commit.
    if [ -z "$base" ] || [ "$base" = "$(git rev-parse HEAD)" ]; then
      base="$(git rev-parse -q --verify 'HEAD~1' || true)"
    fi
  fi
  if [ -z "$base" ] || ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    echo "tidy: no base commit (TIDY_BASE='${TIDY_BASE:-}'); checking every file"
    files=("${known[@]}")
  else
    # Changed since the base (committed, staged or not) and new untracked files.
    mapfile -t changed < <({ git diff --name-only --diff-filter=d "$base" -- src tests include
                             git ls-files --others --exclude-standard -- src tests include; } |
                           sort -u)
    want=()
    for f in "${changed[@]}"; do
      case "$f" in
        *.cpp) want+=("$f") ;;
        *.hpp | *.h)
          want+=("${f%.*}.cpp")
          # The name it is included by: src/router/x.hpp → router/x.hpp,
          # include/switchyard/x.hpp → switchyard/x.hpp, tests/support/x.hpp → support/x.hpp.
          inc="${f#src/}"; inc="${inc#include/}"; inc="${inc#tests/}"
          mapfile -t users < <(grep -rlF --include='*.cpp' "#include \"$inc\"" src tests || true)
          want+=("${users[@]}")
          ;;
      esac
    done
    # Only what the database compiles (the fuzz targets are not in the release build).
    mapfile -t files < <(printf '%s\n' "${want[@]}" | sort -u | grep -Fxf <(printf '%s\n' "${known[@]}") || true)
    echo "tidy: ${#files[@]} file(s) changed since $(git rev-parse --short "$base")"
  fi
fi
[ ${#files[@]} -gt 0 ] || { echo "tidy: nothing to check"; exit 0; }

logs="$db/logs"
mkdir -p "$logs"
export tidy db logs
one() {  # one file; its findings go to a log of their own so parallel runs do not interleave
  local log="$logs/$(echo "$1" | tr / _).log"
  if "$tidy" -p "$db" --quiet --warnings-as-errors='*' "$1" >"$log" 2>&1; then
    rm -f "$log"
  else
    echo "tidy: findings in $1" >&2
    touch "$log.failed"
  fi
  touch "$logs/$(echo "$1" | tr / _).done"
}
export -f one

start=$(date +%s)
echo "tidy: ${#files[@]} file(s), $jobs at a time, at most ${cap}s"
rc=0
printf '%s\0' "${files[@]}" |
  timeout "$cap" xargs -0 -n1 -P"$jobs" bash -c 'one "$0"' || rc=$?
elapsed=$(( $(date +%s) - start ))

for f in "$logs"/*.log; do
  [ -e "$f" ] || continue
  [ -e "$f.failed" ] && grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$f"
done
if [ "$rc" = 124 ]; then
  echo "tidy: stopped after ${cap}s (TIDY_TIMEOUT); not checked:" >&2
  for f in "${files[@]}"; do
    [ -e "$logs/$(echo "$f" | tr / _).done" ] || echo "  $f" >&2
  done
  exit 1
fi
failed=$(find "$logs" -name '*.failed' | wc -l)
if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
  echo "tidy: $failed of ${#files[@]} file(s) have findings (${elapsed}s)" >&2
  exit 1
fi
echo "tidy: ${#files[@]} file(s) clean (${elapsed}s)"
