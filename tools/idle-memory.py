#!/usr/bin/env python3
"""Memory per idle keep-alive connection: opens N connections to a server, sends one GET on
each and reads its response, then holds them all idle and reports how the server's
processes grew (RSS and anonymous memory, from /proc/PID/smaps_rollup).

    tools/idle-memory.py PORT N PID [PID...]

IDLE_SECONDS (default 3) is how long they sit idle before the measurement: a server may give
an idle connection's buffers back after a while (uring-cluster after 1 s).

The client needs N descriptors (`ulimit -n`), and so does the server (one worker here)."""
import os, resource, socket, sys, time

def memory(pids):
    rss = anon = 0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"): rss += int(line.split()[1])
                elif line.startswith("Anonymous:"): anon += int(line.split()[1])
    return rss, anon

def main():
    port, n, pids = int(sys.argv[1]), int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    before = memory(pids)
    conns = []
    request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request)
        conns.append(s)
    for s in conns:
        got = b""
        while b"hello world\n" not in got:
            chunk = s.recv(4096)
            if not chunk: raise SystemExit(f"connection closed before its response")
            got += chunk
    time.sleep(float(os.environ.get("IDLE_SECONDS", "3")))
    after = memory(pids)
    still_open = sum(1 for s in conns if s.fileno() >= 0)
    print(f"{n} idle connections ({still_open} open): RSS +{after[0] - before[0]} kB, "
          f"anonymous +{after[1] - before[1]} kB; per connection "
          f"{(after[0] - before[0]) * 1024 / n:.0f} B RSS, {(after[1] - before[1]) * 1024 / n:.0f} B anonymous")
    for s in conns: s.close()

main()
