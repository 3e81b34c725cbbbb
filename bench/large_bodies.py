#!/usr/bin/env python3
"""Large bodies and HTTP/2: komainu vs nginx as the proxy in front of one backend.

- a 100 MiB download and a 100 MiB upload through each proxy (curl, core 0),
  streamed (nginx buffers responses in memory only, 8 x 64 KiB, and streams
  uploads, as komainu does), alternating rounds; prints MB/s, the ratio
  (target >= 0.90) and the proxy's CPU time per MiB;
- HTTP/2 with prior knowledge (h2c) from h2load to each proxy, which speaks
  HTTP/1.1 to the backend; prints requests/s and CPU per request.

The backend nginx (core 0) serves the file and discards uploads; the proxy
under test gets core 1.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess

from common import (build_komainu, cpu_seconds, free_port, need, nginx_pids, route, start_komainu, tempdir,
                    wait_port, admin)

HOST = "big.local"
MIB = 1024 * 1024


def nginx(directory, name, cpus, server):
    conf = f"""
worker_processes 1;
daemon off;
pid {directory}/{name}.pid;
error_log {directory}/{name}-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {directory}/{name}-body;
  proxy_temp_path {directory}/{name}-proxy;
  fastcgi_temp_path {directory}/{name}-fastcgi;
  uwsgi_temp_path {directory}/{name}-uwsgi;
  scgi_temp_path {directory}/{name}-scgi;
  keepalive_requests 1000000;
  client_max_body_size 0;
  {server}
}}
"""
    path = os.path.join(directory, f"{name}.conf")
    with open(path, "w") as f:
        f.write(conf)
    return subprocess.Popen(["taskset", "-c", cpus, "nginx", "-c", path, "-p", directory],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def curl(cpus, args):
    out = subprocess.run(["taskset", "-c", cpus, "curl", "-sS", "-o", "/dev/null", "-H", f"Host: {HOST}", *args],
                         capture_output=True, text=True, check=True).stdout
    status, speed = out.split()
    if status != "200":
        raise SystemExit(f"curl got {status}")
    return float(speed)


def transfer(port, pids, kind, file):
    before = sum(cpu_seconds(p) for p in pids())
    if kind == "download":
        speed = curl("0", ["-w", "%{http_code} %{speed_download}", f"http://127.0.0.1:{port}/big"])
    else:
        speed = curl("0", ["-w", "%{http_code} %{speed_upload}", "-X", "POST", "--data-binary", f"@{file}",
                           f"http://127.0.0.1:{port}/upload"])
    used = sum(cpu_seconds(p) for p in pids()) - before
    return speed / 1e6, used * 1000 / 100  # MB/s, ms of CPU per MiB


def h2load(port, requests, streams):
    out = subprocess.run(["taskset", "-c", "0", "h2load", "-n", str(requests), "-c", "16", "-m", str(streams),
                          "-H", f":authority: {HOST}", f"http://127.0.0.1:{port}/small"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    ok = int(re.search(r"(\d+) succeeded", out).group(1))
    return rps, requests - ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--h2-requests", type=int, default=100000)
    parser.add_argument("--h2-streams", type=int, default=10, help="concurrent streams per connection")
    args = parser.parse_args()
    need("nginx", "apt-get install nginx")
    need("curl", "apt-get install curl")
    build_komainu()
    work = tempdir()
    big = os.path.join(work, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(MIB) * 100)
    # nginx's worker runs as an unprivileged user: it must read the file.
    os.chmod(work, 0o755)
    os.chmod(big, 0o644)

    backend_port, nginx_port, nginx_h2_port, komainu_port = free_port(), free_port(), free_port(), free_port()
    backend = nginx(work, "backend", "0", f"""server {{ listen 127.0.0.1:{backend_port};
      location = /big {{ alias {big}; }}
      location = /upload {{ return 200 'ok'; }}
      location = /small {{ return 200 'hello from the backend'; }} }}""")
    proxy = nginx(work, "proxy", "1", f"""upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 256; }}
      server {{ listen 127.0.0.1:{nginx_port}; listen 127.0.0.1:{nginx_h2_port} http2;
        location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection '';
                      proxy_set_header Host $host; proxy_request_buffering off; client_body_buffer_size 64k;
                      proxy_buffers 8 64k; proxy_max_temp_file_size 0; }} }}""")
    wait_port(backend_port)
    wait_port(nginx_port)
    komainu = start_komainu(work, komainu_port, "1")
    admin(komainu_port, "POST", "/api/routes", route(0, backend_port, host=HOST))
    contenders = {
        "nginx": (nginx_port, lambda: nginx_pids(proxy)),
        "komainu": (komainu_port, lambda: [komainu.pid]),
    }
    try:
        for kind in ("download", "upload"):
            results = {name: [] for name in contenders}
            for _ in range(args.rounds):
                for name, (port, pids) in contenders.items():
                    results[name].append(transfer(port, pids, kind, big))
            for name, rows in results.items():
                print(f"{kind:>8} 100 MiB via {name:<8} {statistics.median(r[0] for r in rows):8.0f} MB/s  "
                      f"CPU {statistics.median(r[1] for r in rows):6.2f} ms/MiB")
            ratio = statistics.median(r[0] for r in results["komainu"]) / statistics.median(
                r[0] for r in results["nginx"])
            print(f"{kind:>8}: komainu at {ratio:.2f} of nginx's throughput (target >= 0.90)")
        if shutil.which("h2load") is None:
            print("h2load is missing (apt-get install nghttp2-client): HTTP/2 skipped")
            return
        # nginx 1.22 speaks h2c only on a port of its own; komainu tells by the preface.
        h2_ports = {"nginx": nginx_h2_port, "komainu": komainu_port}
        for name, (_, pids) in contenders.items():
            port = h2_ports[name]
            h2load(port, 2000, args.h2_streams)  # warm-up
            before = sum(cpu_seconds(p) for p in pids())
            rps, failed = h2load(port, args.h2_requests, args.h2_streams)
            used = sum(cpu_seconds(p) for p in pids()) - before
            print(f"h2c via {name:<8} {rps:9.0f} req/s  CPU {used * 1e6 / args.h2_requests:6.1f} µs/request  "
                  f"failed {failed}")
    finally:
        for proc in (komainu, proxy, backend):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
