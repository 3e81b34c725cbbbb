"""Shared helpers for the benchmarks: processes, ports, /proc CPU time, wrk."""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import base64

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KOMAINU = os.path.join(ROOT, "target", "release", "komainu")
ADMIN_HOST = "otoroshi-api.oto.tools"
ADMIN_ID, ADMIN_SECRET = "bench-admin", "bench-admin-secret-0123456789"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def need(tool, hint):
    if shutil.which(tool) is None:
        sys.exit(f"{tool} is missing: {hint}")


def build_komainu():
    if os.environ.get("KOMAINU_BENCH_NO_BUILD"):
        return  # target/release/komainu as it is (e.g. built from another tree state)
    subprocess.run(["cargo", "build", "--release", "-p", "komainu"], cwd=ROOT, check=True)


def rig_arguments(parser, rounds, seconds):
    """The arguments of the proxy rig's benches (proxy_vs_nginx, floors)."""
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--seconds", type=int, default=seconds)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--binary", help="the komainu binary under test (default: build this tree's release)")


def need_rig(binary):
    """nginx and wrk on PATH, and komainu built unless `binary` names a build."""
    need("nginx", "apt-get install nginx")
    need("wrk", "apt-get install wrk")
    if not binary:
        build_komainu()


def stop(procs):
    """Terminates `procs`, then waits for each."""
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()


def medians(results, keys):
    """Per contender, the median of each of `keys` over its rounds."""
    return {name: {k: statistics.median(r[k] for r in rounds) for k in keys} for name, rounds in results.items()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def cpu_seconds(pid):
    """utime + stime of a process and its threads, from /proc."""
    return sum(user_system_seconds(pid))


def user_system_seconds(pid):
    """(utime, stime) of a process and its threads, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def nginx_conf(directory, listen, body, upstream_port=None):
    """A one-worker nginx: a static backend, or a keep-alive reverse proxy."""
    if upstream_port is None:
        location = f"return 200 '{body}';"
        upstream = ""
    else:
        location = ("proxy_pass http://backend; proxy_http_version 1.1; "
                    "proxy_set_header Connection ''; proxy_set_header Host $host;")
        upstream = f"upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}"
    conf = f"""
worker_processes 1;
daemon off;
pid {directory}/nginx-{listen}.pid;
error_log {directory}/error-{listen}.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {directory}/body;
  proxy_temp_path {directory}/proxy;
  fastcgi_temp_path {directory}/fastcgi;
  uwsgi_temp_path {directory}/uwsgi;
  scgi_temp_path {directory}/scgi;
  keepalive_requests 1000000;
  {upstream}
  server {{ listen 127.0.0.1:{listen}; location / {{ {location} }} }}
}}
"""
    path = os.path.join(directory, f"nginx-{listen}.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def start_nginx(directory, listen, cpus, upstream_port=None):
    conf = nginx_conf(directory, listen, "hello from the backend", upstream_port)
    proc = subprocess.Popen(["taskset", "-c", cpus, "nginx", "-c", conf, "-p", directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(listen)
    # The worker is the child doing the work; count master + worker.
    return proc


def nginx_pids(master):
    children = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout.split()
    return [master.pid] + [int(c) for c in children]


def start_komainu(directory, port, cpus, extra=(), threads=1, binary=None):
    """`binary`: another build (e.g. an earlier commit's) instead of this tree's."""
    env = {"PATH": os.environ.get("PATH", ""), "TOKIO_WORKER_THREADS": str(threads), "LOG_LEVEL": "warn"}
    args = ["taskset", "-c", cpus, binary or KOMAINU, f"-Dhttp.address=127.0.0.1", f"-Dhttp.port={port}",
            "-Dhttps.port=0", f"-Dapp.filedb.path={directory}/komainu-data", f"-Dadmin.clientId={ADMIN_ID}",
            f"-Dadmin.clientSecret={ADMIN_SECRET}", *extra]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def admin(port, method, path, body=None, timeout=600):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    request.add_header("Host", ADMIN_HOST)
    request.add_header("Content-Type", "application/json")
    token = base64.b64encode(f"{ADMIN_ID}:{ADMIN_SECRET}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def route(i, backend_port, host=None):
    return {
        "id": f"r{i}", "name": f"r{i}",
        "frontend": {"domains": [host or f"r{i}.bench.local"]},
        "backend": {"targets": [{"hostname": "127.0.0.1", "port": backend_port}]},
    }


def wrk(port, host, seconds, connections, cpus, script=None, headers=()):
    args = ["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    if script:
        args += ["-s", script]
    else:
        args += ["-H", f"Host: {host}"]
    for header in headers:
        args += ["-H", header]
    args.append(f"http://127.0.0.1:{port}/")
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    non2xx = int(m.group(1)) if m else 0
    latency = re.search(r"Latency\s+(\S+)", out).group(1)
    return {"requests": requests, "rps": rps, "errors": errors, "non2xx": non2xx, "latency": latency}


def tempdir():
    return tempfile.mkdtemp(prefix="komainu-bench-")
