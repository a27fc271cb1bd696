#!/usr/bin/env bash
# Installs what building, testing and benchmarking need, only when it is missing:
# Debian's liburing-dev (the io_uring library and header), wrk (the load generator),
# systemd, HAProxy and iproute2 (for tests);
# with the argument `bench`, also nginx, the peer the benchmarks compare against.
# Uses sudo when not root. Safe to run again: it does nothing when all is present.
set -euo pipefail

missing=()
[ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# The tests: systemd-socket-activate (the socket unit's test), HAProxy and ip (the
# multi-host test in network namespaces).
[ -x /usr/bin/systemd-socket-activate ] || missing+=(systemd)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || missing+=(haproxy)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || missing+=(iproute2)
if [ "${1:-}" = bench ]; then
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: missing ${missing[*]} and no apt-get here; install them with your package manager" >&2
  exit 1
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
