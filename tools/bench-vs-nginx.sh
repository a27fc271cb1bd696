#!/usr/bin/env bash
# Keep-alive hello world: one `uring-cluster serve` process beside nginx (1 worker), side by
# side in one run. Both servers are pinned to one CPU and wrk to another; rounds alternate
# (uring, nginx, uring, nginx, ...) and the report gives each round, the medians and the
# ratio. Server CPU per request comes from /proc/PID/stat (utime+stime) over each run.
# Loopback only; every wrk run is bounded by -d.
#
# Environment: ROUNDS (5), DURATION seconds per run (5), CONNECTIONS (64),
# SERVER_CPU (1), CLIENT_CPU (0), BIN (.build/release/uring-cluster).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
BIN=${BIN:-.build/release/uring-cluster}
URING_PORT=${URING_PORT:-18080}
NGINX_PORT=${NGINX_PORT:-18081}
TICK=$(getconf CLK_TCK)

command -v wrk >/dev/null || { echo "bench: wrk is missing (make setup installs it)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "bench: $BIN is missing (make build)" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || NGINX=""

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

taskset -c "$SERVER_CPU" "$BIN" serve --workers 0 --host 127.0.0.1 --port "$URING_PORT" >"$work/uring.out" 2>&1 &
uring_pid=$!
pids+=("$uring_pid")

nginx_pid=""
if [ -n "$NGINX" ]; then
  mkdir -p "$work/nginx/logs"
  cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log crit;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { default_type text/plain; return 200 "hello world\n"; }
  }
}
CONF
  taskset -c "$SERVER_CPU" "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  nginx_pid=$!
  pids+=("$nginx_pid")
else
  echo "bench: nginx not installed; measuring uring-cluster alone (apt-get install nginx-light to compare)" >&2
fi

# Wait until both answer.
for _ in $(seq 1 100); do
  ok=1
  curl -sf "http://127.0.0.1:$URING_PORT/" >/dev/null || ok=0
  [ -z "$nginx_pid" ] || curl -sf "http://127.0.0.1:$NGINX_PORT/" >/dev/null || ok=0
  [ $ok = 1 ] && break
  sleep 0.1
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One run: prints "req/s cpu_us_per_request errors"
run() {
  local pid=$1 port=$2 before after out rps reqs errs
  before=$(cpu_ticks "$pid")
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/")
  after=$(cpu_ticks "$pid")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  errs=$(awk '/Socket errors/ {gsub(",",""); print $4+$6+$8+$10; found=1} END {if (!found) print 0}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5; found=1} END {if (!found) print 0}' <<<"$out")
  awk -v t="$((after - before))" -v hz="$TICK" -v n="$reqs" -v r="$rps" -v e="$((errs + non2xx))" \
    'BEGIN { printf "%.0f %.2f %d\n", r, t * 1e6 / hz / n, e }'
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

echo "# uring-cluster vs nginx, keep-alive hello world"
echo
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), Linux $(uname -r)"
echo "- servers pinned to CPU $SERVER_CPU, wrk pinned to CPU $CLIENT_CPU: \`wrk -t1 -c$CONNECTIONS -d${DURATION}s\`, $ROUNDS interleaved rounds"
echo
echo "| round | uring-cluster req/s | µs CPU/req | nginx req/s | µs CPU/req |"
echo "|---|---|---|---|---|"
: >"$work/u" ; : >"$work/n"
for r in $(seq 1 "$ROUNDS"); do
  u=$(run "$uring_pid" "$URING_PORT"); echo "$u" >>"$work/u"
  if [ -n "$nginx_pid" ]; then n=$(run "$nginx_pid" "$NGINX_PORT"); echo "$n" >>"$work/n"; else n="- - -"; fi
  read -r ur uc ue <<<"$u"; read -r nr nc ne <<<"$n"
  echo "| $r | $ur | $uc | $nr | $nc |"
  [ "$ue" = 0 ] || echo "bench: uring-cluster round $r had $ue errors" >&2
done
um=$(cut -d' ' -f1 "$work/u" | median); uc=$(cut -d' ' -f2 "$work/u" | median)
if [ -n "$nginx_pid" ]; then
  nm=$(cut -d' ' -f1 "$work/n" | median); nc=$(cut -d' ' -f2 "$work/n" | median)
  echo "| **median** | **$um** | **$uc** | **$nm** | **$nc** |"
  echo
  awk -v a="$um" -v b="$nm" -v c="$uc" -v d="$nc" 'BEGIN { printf "throughput ratio uring-cluster / nginx: %.2f; CPU per request ratio: %.2f\n", a / b, c / d }'
else
  echo "| **median** | **$um** | **$uc** | - | - |"
fi
