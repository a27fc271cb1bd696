#!/usr/bin/env bash
# `make fuzz`: builds each libFuzzer target (Fuzz/*.swift with the HTTP1 sources, in
# .build-fuzz, never part of the package build) and runs it from the committed seed corpus,
# bounded by FUZZ_SECONDS per target (default 60) or FUZZ_RUNS executions. Prints the
# executions per target; exits non-zero on any crash, hang or sanitizer report (the input
# is saved as .build-fuzz/crash-*).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:-}
swiftc=${SWIFTC:-swiftc}
mkdir -p .build-fuzz
status=0
for target in ${FUZZ_TARGETS:-head lifecycle files proxy}; do
  case $target in
    head) source="Fuzz/FuzzHead.swift Tests/HTTP1Tests/ReferenceHeadParser.swift" ;;
    lifecycle) source=Fuzz/FuzzLifecycle.swift ;;
    proxy) source=Fuzz/FuzzProxy.swift ;;
    files) source="Fuzz/FuzzFiles.swift Sources/StaticFiles/RequestPath.swift Sources/StaticFiles/FilePlan.swift" ;;
  esac
  binary=.build-fuzz/fuzz-$target
  # (The linker's "Cannot export local symbol" warnings are harmless and left out.)
  if ! "$swiftc" -parse-as-library -sanitize=fuzzer,address -O -module-name HTTP1 -D FUZZING \
       Sources/HTTP1/*.swift $source -o "$binary" > .build-fuzz/build-$target.log 2>&1; then
    grep -v "Cannot export local symbol" .build-fuzz/build-$target.log | head -20
    echo "fuzz $target: the target does not build"
    exit 1
  fi
  # New inputs go to a working corpus; the committed seeds are only read.
  work=.build-fuzz/corpus-$target
  mkdir -p "$work"
  bound=(-max_total_time="$seconds")
  [ -n "$runs" ] && bound=(-runs="$runs")
  log=.build-fuzz/fuzz-$target.log
  if "$binary" "${bound[@]}" -timeout=10 -rss_limit_mb=2048 -artifact_prefix=.build-fuzz/ \
       "$work" "Fuzz/corpus/$target" > "$log" 2>&1; then
    done_line=$(grep -a "^Done " "$log" | tail -1)
    echo "fuzz $target: ${done_line#Done } with no crash, hang or sanitizer report"
  else
    echo "fuzz $target: FAILED (see $log)"
    grep -a -E "invariant broken|ERROR|Fatal|timeout" "$log" | head -5 || true
    status=1
  fi
done
exit $status
