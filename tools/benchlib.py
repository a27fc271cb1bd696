"""What the benchmark scripts in tools/ share: a process's CPU time, its children, one wrk
run and what it printed, and the LD_PRELOAD allocation counter (alloc-count.c)."""
import os, re, subprocess

HZ = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))

def ticks(pid):
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0

def children(pid):
    try:
        return [int(x) for x in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []

def wrk(url, duration, connections=64, cpu=None, extra=()):
    """One bounded wrk -t1 run: requests, req/s, socket errors and non-2xx/3xx responses."""
    pin = ["taskset", "-c", cpu] if cpu is not None else []
    out = subprocess.run(pin + ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", *extra, url],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.search(r"(\d+) requests in", out)
    if not m:
        raise RuntimeError(f"wrk printed no result for {url}:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(m.group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "errors": sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "output": out,
    }

def nginx_conf(directory, port, server, http="", master=True):
    """An nginx.conf for one worker in the foreground, its files under `directory`, no access
    log, keep-alive without a request limit, serving `server` (the server block's body) on
    127.0.0.1:`port`; `http` adds directives to the http block; master=False runs the
    worker as the only process."""
    return f"""worker_processes 1;
daemon off;
{"" if master else "master_process off;"}
pid {directory}/nginx.pid;
error_log {directory}/error.log crit;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path {directory}/body; proxy_temp_path {directory}/proxy; fastcgi_temp_path {directory}/fastcgi;
  uwsgi_temp_path {directory}/uwsgi; scgi_temp_path {directory}/scgi;
  {http}
  server {{ listen 127.0.0.1:{port}; {server} }}
}}
"""

def alloc_counter(scratch):
    """Builds the counter into `scratch`; returns the environment that turns it on for a
    process and its children, and the directory their counts appear in."""
    library = os.path.join(scratch, "alloc-count.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", library, os.path.join(HERE, "alloc-count.c")], check=True)
    directory = os.path.join(scratch, "counts")
    os.makedirs(directory, exist_ok=True)
    return dict(os.environ, ALLOC_COUNT_DIR=directory, LD_PRELOAD=library), directory

def alloc_counts(directory):
    """Allocations so far, by pid."""
    out = {}
    for name in os.listdir(directory):
        with open(os.path.join(directory, name), "rb") as f:
            out[int(name)] = int.from_bytes(f.read(8), "little")
    return out
