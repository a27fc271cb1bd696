#!/usr/bin/env python3
"""Round-robin's hand-off, side by side: nginx (1 worker), uring-cluster alone, round-robin
through the ring and by message, reuseport, each with and without direct descriptors where
that applies. Server pinned to SERVER_CPU (1), wrk -t1 -c64 pinned to CLIENT_CPU (0);
ROUNDS (3) interleaved rounds of DURATION (5) s per configuration and scenario (keep-alive,
and connection per request). Prints each round and the medians: req/s, server CPU per
request (all processes, /proc utime+stime), and the primary's share per request.
Scenarios: keepalive, churn (Connection: close), pipelined (16 GET / per write, wrk's
Lua pipelining).

    tools/bench-handoff.py [BINARY]      (default .build/release/uring-cluster)
Environment: CONFIGS="name name ..." to pick some, SCENARIOS="keepalive churn", OLD=binary
to add an earlier build's alone, round-robin and reuseport.
"""
import os, re, statistics, subprocess, sys, tempfile, time
from benchlib import HZ, children, nginx_conf, ticks, wrk

BIN = sys.argv[1] if len(sys.argv) > 1 else ".build/release/uring-cluster"
ROUNDS = int(os.environ.get("ROUNDS", 3))
DURATION = int(os.environ.get("DURATION", 5))
SERVER_CPU = os.environ.get("SERVER_CPU", "1")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "0")

CONFIGS = [
    ("nginx", None),
    ("alone", ["--workers", "0"]),
    ("alone-fd", ["--workers", "0", "--no-direct-descriptors"]),
    ("rr-ring", ["--workers", "1"]),
    ("rr-message", ["--workers", "1", "--handoff", "message"]),
    ("rr-message-fd", ["--workers", "1", "--no-direct-descriptors"]),
    ("reuseport", ["--workers", "1", "--mode", "reuseport"]),
    ("reuseport-fd", ["--workers", "1", "--mode", "reuseport", "--no-direct-descriptors"]),
]
pick = os.environ.get("CONFIGS", "").split()
if pick:
    CONFIGS = [c for c in CONFIGS if c[0] in pick]
# OLD=path adds that binary's round-robin and reuseport (a build before this change).
OLD = os.environ.get("OLD")
if OLD:
    CONFIGS += [("old-alone", ["--workers", "0"], OLD), ("old-rr", ["--workers", "1"], OLD),
                ("old-reuseport", ["--workers", "1", "--mode", "reuseport"], OLD)]
# EXTRA="name:ENV=VALUE:args..." adds a configuration of BIN run with one environment variable.
for extra in os.environ.get("EXTRA", "").split():
    name, env, *rest = extra.split(":")
    CONFIGS.append((name, rest[0].split(",") if rest else [], BIN, env))
CONFIGS = [c if len(c) == 4 else (c + (BIN,) if len(c) == 2 else c) + (None,) for c in CONFIGS]
SCENARIOS = os.environ.get("SCENARIOS", "keepalive churn").split()


# 16 requests per write; formatted in init(), after wrk has set the Host header.
PIPELINE_LUA = """local batch
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format(nil, "/") end
  batch = table.concat(r)
end
request = function() return batch end
"""

def start(args, port, scratch, binary, env):
    if args is None:
        conf = os.path.join(scratch, "nginx.conf")
        open(conf, "w").write(nginx_conf(scratch, port, 'location / { default_type text/plain; return 200 "hello world\\n"; }', master=False))
        p = subprocess.Popen(["taskset", "-c", SERVER_CPU, "nginx", "-p", scratch, "-c", conf],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        environment = dict(os.environ)
        if env:
            key, value = env.split("=", 1)
            environment[key] = value
        p = subprocess.Popen(["taskset", "-c", SERVER_CPU, binary, "serve", "--port", str(port)] + args,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    for _ in range(200):
        if subprocess.run(["curl", "-sf", f"http://127.0.0.1:{port}/"], stdout=subprocess.DEVNULL).returncode == 0:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    return p

def run(name, args, binary, env, scenario, port):
    with tempfile.TemporaryDirectory() as scratch:
        p = start(args, port, scratch, binary, env)
        try:
            kids = children(p.pid)
            t0p, t0k = ticks(p.pid), sum(ticks(k) for k in kids)
            hdr = ["-H", "Connection: close"] if scenario == "churn" else []
            if scenario == "pipelined":
                script = os.path.join(scratch, "pipeline.lua")
                with open(script, "w") as f:
                    f.write(PIPELINE_LUA)
                hdr = ["-s", script]
            result = wrk(f"http://127.0.0.1:{port}/", DURATION, cpu=CLIENT_CPU, extra=hdr)
            t1p, t1k = ticks(p.pid), sum(ticks(k) for k in kids)
        finally:
            p.terminate()
            p.wait()
    reqs, rps, errors = result["requests"], result["rps"], result["errors"]
    total = (t1p - t0p + t1k - t0k) / HZ * 1e6 / max(1, reqs)
    primary = (t1p - t0p) / HZ * 1e6 / max(1, reqs) if kids else 0.0
    return rps, total, primary, errors

results = {}
port = 18500
for scenario in SCENARIOS:
    for r in range(ROUNDS):
        for name, args, binary, env in CONFIGS:
            port += 1
            rps, total, primary, errors = run(name, args, binary, env, scenario, port)
            results.setdefault((scenario, name), []).append((rps, total, primary, errors))
            print(f"{scenario:9} round {r + 1} {name:14} {rps:10.0f} req/s {total:6.2f} us/req"
                  f" (primary {primary:5.2f}) errors {errors}", flush=True)

print("\nmedians")
for scenario in SCENARIOS:
    base = None
    for name, _, _, _ in CONFIGS:
        rows = results[(scenario, name)]
        rps = statistics.median(x[0] for x in rows)
        total = statistics.median(x[1] for x in rows)
        primary = statistics.median(x[2] for x in rows)
        errors = sum(x[3] for x in rows)
        print(f"{scenario:9} {name:14} {rps:10.0f} req/s {total:6.2f} us/req (primary {primary:5.2f}) errors {errors}")
