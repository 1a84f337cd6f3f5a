#!/usr/bin/env bash
# Builds the `fuzz` preset (clang 14, libFuzzer + ASan + UBSan) and runs every target in
# tests/fuzz for N seconds (default 30), one per core at a time (FUZZ_JOBS), on a copy of its
# seed corpus, so the repository's corpus is never modified. Exits non-zero if any target
# crashed, leaked, hung, ran out of memory or had a sanitizer report; reproducers land in
# build/fuzz/crashes/<target>/.
#
#   scripts/fuzz.sh [seconds-per-target]
#   build/fuzz/tests/fuzz/fuzz_request build/fuzz/crashes/fuzz_request/crash-…   # replay one
#
# FUZZ_CONFIGURE_ARGS is passed to `cmake --preset fuzz`, e.g. "-DSWITCHYARD_WERROR=OFF" to fuzz
# while clang still warns about something in src/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export CCACHE_BASEDIR="$PWD"

seconds="${1:-30}"
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;; esac
jobs_max="${FUZZ_JOBS:-$(nproc)}"
case "$jobs_max" in '' | *[!0-9]* | 0) echo "$0: FUZZ_JOBS must be 1 or more" >&2; exit 2 ;; esac

# shellcheck disable=SC2086  # FUZZ_CONFIGURE_ARGS is a list of words
cmake --preset fuzz ${FUZZ_CONFIGURE_ARGS:-} >/dev/null || exit 1
cmake --build --preset fuzz || exit 1

build=build/fuzz
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

mapfile -t targets < <(grep -v '^$' "$build/fuzz-targets.txt")

# One target's run, its exit status in $build/$t.rc.
fuzz_one() {
  local t="$1" work="$build/corpus-work/$1" crashes="$build/crashes/$1"
  rm -rf "$work" "$build/$t.rc"  # no status from a run before
  mkdir -p "$work" "$crashes"
  cp -R "tests/fuzz/corpus/$t/." "$work/"
  local dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=("-dict=tests/fuzz/dict/$t.dict")
  # -max_len: the largest seed (100k-element messages, ~300 KB) must not be truncated.
  "$build/tests/fuzz/$t" "$work" "${dict[@]}" \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=524288 \
    -print_final_stats=1 -artifact_prefix="$crashes/" >"$build/$t.log" 2>&1
  echo $? >"$build/$t.rc"
}

# One target per core at a time (each fuzzer is one process on one core), reported in order.
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n; done
  fuzz_one "$t" &
done
wait

failed=()
for t in "${targets[@]}"; do
  log="$build/$t.log"
  crashes="$build/crashes/$t"
  rc="$(cat "$build/$t.rc" 2>/dev/null || echo 1)"
  echo "== fuzz: $t (${seconds}s) =="
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs|stat::(number_of_executed_units|new_units_added|peak_rss_mb))' \
    "$log" | sed 's/^/  /'
  if [ "$rc" != 0 ]; then  # an empty or unreadable status fails too
    echo "FAIL: $t (exit $rc); log: $log; reproducers: $crashes/" >&2
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY:|Test unit written' \
      "$log" | head -20 | sed 's/^/  /' >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s each without a finding"
