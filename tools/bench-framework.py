#!/usr/bin/env python3
"""The framework beside Hummingbird 2, route by route: Examples/web-routes (one ring, one
thread) and Benchmarks/HummingbirdPeer's hummingbird-routes (one event-loop thread), each
pinned to SERVER_CPU (1), wrk -t1 -c64 keep-alive pinned to CLIENT_CPU (0). ROUNDS (3)
interleaved rounds of DURATION (5) s per server and route; medians of req/s and of the
server's CPU per request (/proc utime+stime), and our ratio to Hummingbird's.

Routes: hello (GET /, ours synchronous), async (GET /async, ours an async handler; every
Hummingbird handler is async), json (GET /json), param (GET /users/42), echo (POST /echo
with a 64 KiB body).

ALLOCS=1 instead counts heap allocations per request of our server on each route (the
LD_PRELOAD counter, tools/alloc-count.c), after a warm-up.

    tools/bench-framework.py     (after `make bench-framework` has built both servers)
"""
import os, statistics, subprocess, sys, tempfile, time
from benchlib import alloc_counter, alloc_counts, ticks, wrk

ROUNDS = int(os.environ.get("ROUNDS", 3))
DURATION = int(os.environ.get("DURATION", 5))
SERVER_CPU = os.environ.get("SERVER_CPU", "1")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "0")
OURS = os.environ.get("OURS", ".build/release/web-routes")
HUMMINGBIRD = os.environ.get("HUMMINGBIRD", "Benchmarks/HummingbirdPeer/.build/release/hummingbird-routes")
ROUTES = os.environ.get("ROUTES", "hello async json param echo").split()
PATHS = {"hello": "/", "async": "/async", "json": "/json", "param": "/users/42", "echo": "/echo"}

# A POST of 64 KiB, the same body every request.
ECHO_LUA = """wrk.method = "POST"
wrk.body = string.rep("x", 65536)
wrk.headers["Content-Type"] = "application/octet-stream"
"""

def start(binary, env=None):
    p = subprocess.Popen(["taskset", "-c", SERVER_CPU, binary, "--port", "0"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, env=env)
    line = p.stdout.readline()
    if not line.startswith("listening on"):
        p.kill()
        sys.exit(f"{binary} did not start: {line!r}")
    time.sleep(0.3)
    return p, int(line.strip().rsplit(":", 1)[1])

def load(port, route, scratch, duration):
    extra = []
    if route == "echo":
        script = os.path.join(scratch, "echo.lua")
        with open(script, "w") as f:
            f.write(ECHO_LUA)
        extra = ["-s", script]
    return wrk(f"http://127.0.0.1:{port}{PATHS[route]}", duration, cpu=CLIENT_CPU, extra=extra)

def measure(binary, scratch):
    p, port = start(binary)
    rows = {}
    try:
        for route in ROUTES:
            load(port, route, scratch, 1)  # warm-up
            t0 = ticks(p.pid)
            r = load(port, route, scratch, DURATION)
            t1 = ticks(p.pid)
            rows[route] = (r["rps"], (t1 - t0) / os.sysconf("SC_CLK_TCK") * 1e6 / max(1, r["requests"]),
                           r["errors"] + r["non2xx"])
    finally:
        p.terminate()
        p.wait()
    return rows

def allocations():
    with tempfile.TemporaryDirectory() as scratch:
        env, directory = alloc_counter(scratch)
        p, port = start(OURS, env)
        try:
            for route in ROUTES:
                load(port, route, scratch, 1)
                before = alloc_counts(directory).get(p.pid, 0)
                r = load(port, route, scratch, DURATION)
                after = alloc_counts(directory).get(p.pid, 0)
                print(f"{route:6} {(after - before) / max(1, r['requests']):8.3f} allocations per request"
                      f"  ({after - before} over {r['requests']} requests)")
        finally:
            p.terminate()
            p.wait()

if os.environ.get("ALLOCS"):
    allocations()
    sys.exit(0)

servers = [("uring-cluster", OURS)]
if os.path.exists(HUMMINGBIRD):
    servers.append(("hummingbird", HUMMINGBIRD))
else:
    print(f"({HUMMINGBIRD} is not built: `make bench-framework` builds it; measuring ours alone)")
results = {}
with tempfile.TemporaryDirectory() as scratch:
    for r in range(ROUNDS):
        for name, binary in servers:
            for route, row in measure(binary, scratch).items():
                results.setdefault((name, route), []).append(row)
                print(f"round {r + 1} {name:14} {route:6} {row[0]:10.0f} req/s {row[1]:7.2f} us/req errors {row[2]}",
                      flush=True)

print("\nmedians")
for route in ROUTES:
    medians = {}
    for name, _ in servers:
        rows = results[(name, route)]
        medians[name] = (statistics.median(x[0] for x in rows), statistics.median(x[1] for x in rows),
                         sum(x[2] for x in rows))
        rps, cpu, errors = medians[name]
        print(f"{route:6} {name:14} {rps:10.0f} req/s {cpu:7.2f} us/req errors {errors}")
    if len(medians) == 2:
        ours, theirs = medians["uring-cluster"], medians["hummingbird"]
        print(f"{route:6} {'ratio':14} {ours[0] / theirs[0]:10.2f}x req/s {theirs[1] / ours[1]:6.2f}x less CPU per request")
