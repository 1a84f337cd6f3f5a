#!/usr/bin/env bash
# Checks that every #include in src/ and include/ respects the layering (a grep, well under a
# second). The CMake targets link in the same order (CMakeLists.txt):
#
#   core → api, config, metrics → upstream → router → server → src/main.cpp
#   core → store → server
#   core → api, config → sim → src/sim/main.cpp
#
# A folder may include its own headers, the public headers in include/switchyard/ and those of
# the layers below it; nothing in src/ includes tests/. Exits non-zero with file:line and the
# rule for every include that breaks it.
#
#   scripts/check-layers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# What each place may include, besides itself and switchyard/ (the public headers).
# Keep in step with the switchyard_layer() calls in CMakeLists.txt.
declare -A allowed=(
  [core]=""
  [api]="core"
  [config]="core"
  [metrics]="core"
  [upstream]="core api config metrics"
  [router]="core api config metrics upstream"
  [store]="core"
  [server]="core api config metrics upstream router store"
  [dataset]="core"
  [offline]="core api config metrics upstream router dataset"
  [sim]="core api config dataset"
  [main]="core api config metrics upstream router store server dataset offline"  # src/main.cpp
  [sim_main]="core api config dataset sim"                          # src/sim/main.cpp
  [switchyard]=""                                           # include/switchyard/
  [pch]=""                                                  # src/pch.hpp: third-party only
)
# The top-level folders of src/ and include/ a project header can come from.
known="core api config metrics upstream router store server dataset offline sim switchyard"

grep -rnE --include='*.cpp' --include='*.hpp' --include='*.h' \
  '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]' src include |
{
  fail=0
  while IFS= read -r hit; do
    file="${hit%%:*}"
    rest="${hit#*:}"
    line="${rest%%:*}"
    text="${rest#*:}"
    # The included path, and whether it was written "..." or <...>.
    if [[ "$text" =~ \#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]]; then
      inc="${BASH_REMATCH[1]}"; quoted=1
    elif [[ "$text" =~ \#[[:space:]]*include[[:space:]]*\<([^\>]+)\> ]]; then
      inc="${BASH_REMATCH[1]}"; quoted=0
    else
      continue
    fi
    case "$file" in
      src/main.cpp) from=main ;;
      src/sim/main.cpp) from=sim_main ;;
      src/pch.hpp) from=pch ;;
      include/switchyard/*) from=switchyard ;;
      src/*/*) from="${file#src/}"; from="${from%%/*}" ;;
      *) from="" ;;
    esac
    if [ -z "$from" ] || [ -z "${allowed[$from]+set}" ]; then
      echo "$file:$line: src/${from:-?}/ is not a known layer (add it here and in CMakeLists.txt)"
      fail=1
      continue
    fi
    top="${inc%%/*}"
    if [ "$quoted" = 1 ] && [[ "$inc" == ../* || "$inc" == */../* || "$inc" == ./* ]]; then
      echo "$file:$line: #include \"$inc\": a relative path hides the layer; write it from src/"
      fail=1
    elif [[ "$top" == tests || "$top" == support ]]; then
      echo "$file:$line: #include \"$inc\": nothing in src/ or include/ may include the tests"
      fail=1
    elif [ "$inc" = "$top" ] || [[ " $known " != *" $top "* ]]; then
      # Not a project header: a standard or third-party one (<boost/...>), or a same-folder
      # file included without its folder, which the project does not do.
      if [ "$quoted" = 1 ]; then
        echo "$file:$line: #include \"$inc\": project headers are named from src/ (\"layer/file.hpp\")"
        fail=1
      fi
    else
      self="$from"
      [ "$from" = sim_main ] && self=sim
      if [ "$top" != "$self" ] && [ "$top" != switchyard ] &&
         [[ " ${allowed[$from]} " != *" $top "* ]]; then
        echo "$file:$line: #include \"$inc\": ${file%/*}/ must not include $top/ (may include: ${allowed[$from]:-nothing but itself} and switchyard/)"
        fail=1
      fi
    fi
  done
  if [ "$fail" != 0 ]; then
    echo "check-layers: include rules broken (see scripts/check-layers.sh and docs/hacking.md)" >&2
    exit 1
  fi
}
echo "check-layers: every #include in src/ and include/ respects the layers"
