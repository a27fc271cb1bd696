#!/usr/bin/env python3
"""Static files: `uring-cluster serve --workers 0 --root DIR` (one ring, one thread) beside
nginx (one worker, sendfile on, tcp_nopush on, open_file_cache off, its default), the same
files from the same directory, both pinned to SERVER_CPU (1), wrk -t1 pinned to CLIENT_CPU
(0), keep-alive. ROUNDS (3) interleaved rounds of DURATION (4) s per server and file;
medians of req/s, of MB/s and of the server's CPU (/proc utime+stime, nginx's master and
worker together) per request and per MiB, and our ratios to nginx's.

Files: 1 KiB (64 connections), 1 MiB (16), 64 MiB (4); FILES="64MiB" picks some.

    tools/bench-files.py        (after `make build`; `make bench-files` runs both)
"""
import os, shutil, statistics, subprocess, sys, tempfile, time
from benchlib import HZ, children, nginx_conf, ticks, wrk

ROUNDS = int(os.environ.get("ROUNDS", 3))
DURATION = int(os.environ.get("DURATION", 4))
SERVER_CPU = os.environ.get("SERVER_CPU", "1")
CLIENT_CPU = os.environ.get("CLIENT_CPU", "0")
OURS = os.environ.get("OURS", ".build/release/uring-cluster")
# Extra flags for our server (PIPE_BYTES=65536 → --file-pipe-bytes 65536).
OUR_FLAGS = ["--file-pipe-bytes", os.environ["PIPE_BYTES"]] if "PIPE_BYTES" in os.environ else []
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
FILES = [("1KiB", 1 << 10, 64), ("1MiB", 1 << 20, 16), ("64MiB", 64 << 20, 4)]
# FILES=64MiB (names, space-separated) measures only those.
FILES = [f for f in FILES if f[0] in os.environ.get("FILES", "1KiB 1MiB 64MiB").split()]
NGINX_PORT = int(os.environ.get("NGINX_PORT", 18090))

def make_files(root):
    for name, size, _ in FILES:
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(size))

def start_ours(root):
    p = subprocess.Popen(["taskset", "-c", SERVER_CPU, OURS, "serve", "--workers", "0", "--port", "0", "--root", root] + OUR_FLAGS,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening on"):
        p.kill()
        sys.exit(f"uring-cluster did not start: {line!r}")
    return p, int(line.strip().rsplit(":", 1)[1])

def start_nginx(root, scratch):
    conf = os.path.join(scratch, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(scratch, NGINX_PORT, f"root {root};",
                           http="sendfile on; tcp_nopush on; default_type application/octet-stream;"))

    p = subprocess.Popen(["taskset", "-c", SERVER_CPU, NGINX, "-p", scratch, "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p, NGINX_PORT

def cpu(p):
    return ticks(p.pid) + sum(ticks(c) for c in children(p.pid))

def run(p, port, name, connections):
    url = f"http://127.0.0.1:{port}/{name}"
    wrk(url, 1, connections=connections, cpu=CLIENT_CPU)  # warm-up: page cache, connections
    t0 = cpu(p)
    r = wrk(url, DURATION, connections=connections, cpu=CLIENT_CPU)
    used = (cpu(p) - t0) / HZ
    if r["errors"] or r["non2xx"]:
        sys.exit(f"{url}: {r['errors']} socket errors, {r['non2xx']} non-2xx\n{r['output']}")
    return {"rps": r["rps"], "cpu_us": used / r["requests"] * 1e6}

def main():
    scratch = tempfile.mkdtemp(prefix="bench-files-")
    root = os.path.join(scratch, "root")
    os.makedirs(root)
    make_files(root)
    # nginx's worker runs as nobody when started by root: the tree must be readable by all.
    os.chmod(scratch, 0o755)
    os.chmod(root, 0o755)
    for name, _, _ in FILES:
        os.chmod(os.path.join(root, name), 0o644)
    ours, ours_port = start_ours(root)
    nginx, nginx_port = start_nginx(root, scratch)
    results = {(s, n): [] for s in ("ours", "nginx") for n, _, _ in FILES}
    try:
        for _ in range(ROUNDS):
            for name, size, connections in FILES:
                results[("ours", name)].append(run(ours, ours_port, name, connections))
                results[("nginx", name)].append(run(nginx, nginx_port, name, connections))
    finally:
        ours.terminate()
        nginx.terminate()
        ours.wait()
        nginx.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"# Static files, uring-cluster (--workers 0) beside nginx (1 worker, sendfile on); "
          f"{ROUNDS} rounds of {DURATION} s, medians; server on CPU {SERVER_CPU}, wrk on CPU {CLIENT_CPU}\n")
    print("| file | conns | uring-cluster req/s | MB/s | µs CPU/req | nginx req/s | MB/s | µs CPU/req | req/s ratio | CPU/byte ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, size, connections in FILES:
        o, n = results[("ours", name)], results[("nginx", name)]
        orps = statistics.median(r["rps"] for r in o)
        nrps = statistics.median(r["rps"] for r in n)
        ocpu = statistics.median(r["cpu_us"] for r in o)
        ncpu = statistics.median(r["cpu_us"] for r in n)
        print(f"| {name} | {connections} | {orps:.0f} | {orps * size / 1e6:.0f} | {ocpu:.1f} | {nrps:.0f} | "
              f"{nrps * size / 1e6:.0f} | {ncpu:.1f} | {orps / nrps:.2f} | {ocpu / ncpu:.2f} |")
    print("\nrounds (req/s, µs CPU/req):")
    for key, rows in results.items():
        print(f"  {key[0]:6} {key[1]:6} " + "  ".join(f"{r['rps']:.0f}/{r['cpu_us']:.1f}" for r in rows))

if __name__ == "__main__":
    main()
