#!/usr/bin/env python3
"""Heap allocations per connection and per request, in the primary and in each worker of a
running server, counted by an LD_PRELOAD counter (tools/alloc-count.c, built here with gcc).

    tools/alloc-per-connection.py [BINARY] [SERVER ARGS...]
        (default .build/release/uring-cluster, --workers 1)

After a warm-up (every buffer and table grown once), wrk -t1 -c16 runs DURATION (3) s of
Connection: close (one connection per request), then DURATION s of keep-alive; each process's
count before and after is divided by the requests wrk completed.
"""
import os, subprocess, sys, tempfile, time
from benchlib import alloc_counter, alloc_counts, wrk as wrk_run

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/release/uring-cluster"
ARGS = sys.argv[2:] or ["--workers", "1"]
DURATION = int(os.environ.get("DURATION", 3))

def wrk(port, seconds, close):
    return wrk_run(f"http://127.0.0.1:{port}/", seconds, connections=16,
                   extra=["-H", "Connection: close"] if close else [])["requests"]

with tempfile.TemporaryDirectory() as scratch:
    env, directory = alloc_counter(scratch)
    port = 18700 + os.getpid() % 200
    server = subprocess.Popen([BIN, "serve", "--port", str(port)] + ARGS, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/"], stdout=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.05)
        wrk(port, 1, True)
        wrk(port, 1, False)
        for label, close in (("connection", True), ("request (keep-alive)", False)):
            before = alloc_counts(directory)
            requests = wrk(port, DURATION, close)
            after = alloc_counts(directory)
            alone = len(after) == 1
            for pid in sorted(after):
                role = ("process" if alone else "primary") if pid == server.pid else f"worker {pid}"
                delta = after[pid] - before.get(pid, 0)
                print(f"{role:14} {delta / max(1, requests):8.3f} allocations per {label}"
                      f"  ({delta} over {requests} requests)")
    finally:
        server.terminate()
        server.wait()
