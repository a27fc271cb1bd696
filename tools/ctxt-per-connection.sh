#!/usr/bin/env bash
# Context switches per connection in the primary and in the worker, under connection-per-
# request load: tools/ctxt-per-connection.sh [BINARY] [SERVE ARGS...]
# Server pinned to CPU 1, `wrk -t1 -c64 -d5s -H "Connection: close"` pinned to CPU 0. The
# counts are /proc/PID/status's voluntary (the process waited: a wake-up) and involuntary
# (preempted) switches, divided by the requests wrk completed.
set -u
BIN=${1:-.build/release/uring-cluster}; shift || true
taskset -c 1 "$BIN" serve --port 0 --workers 1 "$@" > /tmp/ctxt.out 2>/dev/null & sp=$!
for _ in $(seq 100); do grep -q listening /tmp/ctxt.out && break; sleep 0.05; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' /tmp/ctxt.out | head -1)
wp=$(cat /proc/$sp/task/$sp/children | awk '{print $1}')
switches() { awk '/^voluntary_ctxt_switches/{v=$2} /^nonvoluntary_ctxt_switches/{n=$2} END{print v, n}' /proc/$1/status; }
read -r pv0 pn0 < <(switches $sp); read -r wv0 wn0 < <(switches $wp)
out=$(taskset -c 0 wrk -t1 -c64 -d5s -H "Connection: close" http://127.0.0.1:$port/ 2>&1)
read -r pv1 pn1 < <(switches $sp); read -r wv1 wn1 < <(switches $wp)
kill -TERM $sp; wait $sp 2>/dev/null
reqs=$(echo "$out" | awk '/requests in/ {print $1}')
python3 - "$reqs" $((pv1-pv0)) $((pn1-pn0)) $((wv1-wv0)) $((wn1-wn0)) "$*" <<'PY'
import sys
r, pv, pn, wv, wn, args = int(sys.argv[1]), *map(int, sys.argv[2:6]), sys.argv[6]
print(f"[{args or 'round-robin'}] {r} connections: primary {pv/r:.3f} voluntary + {pn/r:.3f} involuntary switches per connection, "
      f"worker {wv/r:.3f} + {wn/r:.3f}")
PY
