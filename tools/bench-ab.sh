#!/usr/bin/env bash
# Two builds of uring-cluster side by side: tools/bench-ab.sh OLD_BINARY NEW_BINARY.
# Server pinned to CPU 1, wrk -t1 -c64 pinned to CPU 0, ROUNDS (3) interleaved rounds of DUR
# (5) seconds for each scenario; prints req/s and the server's CPU per request (primary and
# workers, from /proc) for each round. Used for BENCHMARKS.md section 6.
# OLD_ARGS and NEW_ARGS add flags to one side (the same binary twice, with and without
# --access-log, measures the log's cost: BENCHMARKS.md section 14).
set -u
OLD=$1; NEW=$2; ROUNDS=${ROUNDS:-3}; DUR=${DUR:-5}
cpu_ticks() { local t=0; for p in "$@"; do read -r -a f < /proc/$p/stat 2>/dev/null || continue; t=$((t + f[13] + f[14])); done; echo $t; }
run() { # binary mode(args) close(0/1)
  local bin=$1; shift; local close=$1; shift
  taskset -c 1 "$bin" serve --port 0 "$@" > /tmp/ab.out 2>/dev/null & local sp=$!
  for _ in $(seq 100); do grep -q listening /tmp/ab.out && break; sleep 0.05; done
  local port; port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' /tmp/ab.out | head -1)
  local pids="$sp $(cat /proc/$sp/task/$sp/children 2>/dev/null)"
  local t0; t0=$(cpu_ticks $pids)
  local hdr=(); [ "$close" = 1 ] && hdr=(-H "Connection: close")
  local out; out=$(taskset -c 0 wrk -t1 -c64 -d${DUR}s "${hdr[@]}" http://127.0.0.1:$port/ 2>&1)
  local t1; t1=$(cpu_ticks $pids)
  kill -TERM $sp; wait $sp 2>/dev/null
  local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  local rps; rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  local hz; hz=$(getconf CLK_TCK)
  python3 -c "print(f'{float($rps):10.0f} req/s  {($t1-$t0)/$hz*1e6/max(1,$reqs):6.2f} us/req')"
}
# SCENARIOS picks some by name (e.g. SCENARIOS="churn churn-rr").
for scenario in "keepalive 0 --workers 0" "churn 1 --workers 0" "keepalive-rr 0 --workers 1" "churn-rr 1 --workers 1"; do
  set -- $scenario; name=$1; close=$2; shift 2
  [ -n "${SCENARIOS:-}" ] && [[ " $SCENARIOS " != *" $name "* ]] && continue
  for r in $(seq $ROUNDS); do
    echo "$name round $r old: $(run $OLD $close "$@" ${OLD_ARGS:-})"
    echo "$name round $r new: $(run $NEW $close "$@" ${NEW_ARGS:-})"
  done
done
