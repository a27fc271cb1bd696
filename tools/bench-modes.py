#!/usr/bin/env python3
"""The three distribution modes side by side (an interim script until cluster-bench).

For each round, for each configuration (mode x worker count), in the same order every
round: start `uring-cluster serve`, run wrk keep-alive then connection-per-request
(`-H "Connection: close"`), read /stats, stop the server. Reports medians over rounds of
requests/s, socket errors + non-2xx, the per-worker connection counts of the last round,
and in round-robin mode the primary's CPU time per accepted connection. Loopback only;
every wrk run is bounded by -d. Usage: tools/bench-modes.py [--rounds 3] [--duration 4]
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--duration", type=int, default=4)
ap.add_argument("--connections", type=int, default=64)
ap.add_argument("--workers", default="2,8")
ap.add_argument("--bin", default=".build/release/uring-cluster")
args = ap.parse_args()

TICK = os.sysconf("SC_CLK_TCK")
modes = ["round-robin", "shared", "reuseport"]
configs = [(m, int(w)) for w in args.workers.split(",") for m in modes]
scenarios = [("keepalive", []), ("churn", ["-H", "Connection: close"])]

def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK

def stats(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as r:
        return json.load(r)

def wrk(port, extra):
    out = subprocess.run(["wrk", "-t1", f"-c{args.connections}", f"-d{args.duration}s", *extra,
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=args.duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    errs = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, reqs, errs + (int(non2xx.group(1)) if non2xx else 0)

results = {}
for rnd in range(args.rounds):
    for mode, workers in configs:
        p = subprocess.Popen([args.bin, "serve", "--port", "0", "--workers", str(workers), "--mode", mode],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        port = int(line.rsplit(":", 1)[1])
        for name, extra in scenarios:
            before = stats(port)
            cpu0 = cpu_seconds(p.pid)
            rps, reqs, errs = wrk(port, extra)
            cpu1 = cpu_seconds(p.pid)
            after = stats(port)
            conns = [a["connections"] - b["connections"] for a, b in zip(after["workers"], before["workers"])]
            accepted = sum(conns)
            r = results.setdefault((mode, workers, name), {"rps": [], "errors": [], "primary_us": [], "conns": None})
            r["rps"].append(rps)
            r["errors"].append(errs)
            if mode == "round-robin" and accepted > 0:
                r["primary_us"].append((cpu1 - cpu0) * 1e6 / accepted)
            r["conns"] = sorted(conns, reverse=True)
            print(f"round {rnd + 1}: {mode:12} x{workers} {name:9} {rps:10.0f} req/s  errors {errs}  conns {r['conns']}",
                  file=sys.stderr, flush=True)
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)

print(f"| mode | workers | scenario | req/s median (min–max) | errors | connections per worker (last round) | top-2 share | primary µs CPU / accepted conn |")
print("|---|---|---|---|---|---|---|---|")
for (mode, workers, name), r in results.items():
    c = r["conns"]
    share = f"{100 * sum(c[:2]) / sum(c):.0f}%" if sum(c) else "-"
    prim = f"{statistics.median(r['primary_us']):.1f}" if r["primary_us"] else "-"
    print(f"| {mode} | {workers} | {name} | {statistics.median(r['rps']):.0f} ({min(r['rps']):.0f}–{max(r['rps']):.0f}) "
          f"| {sum(r['errors'])} | {c} | {share} | {prim} |")
