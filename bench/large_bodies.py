#!/usr/bin/env python3
"""Large bodies and HTTP/2: komainu vs nginx as the proxy in front of one backend.

- a 100 MiB download and a 100 MiB upload through each proxy (curl, core 0),
  streamed (nginx buffers responses in memory only, 8 x 64 KiB, and streams
  uploads, as komainu does), alternating rounds; prints MB/s, the ratio
  (target >= 0.90) and the proxy's CPU time per MiB;
- HTTP/2 from h2load to each proxy, which speaks HTTP/1.1 to the backend:
  with prior knowledge (h2c) and over TLS chosen by ALPN (h2, one
  self-signed certificate made with openssl for both); prints requests/s
  and CPU per request.

The backend nginx (core 0) serves the file and reads each upload whole
(into memory) before it answers, as an upload endpoint does: a backend that
answers first lets nginx, as the proxy, drop the rest of the body instead of
forwarding it, and the two proxies would not do the same work. The proxy
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


def h2load(port, requests, streams, scheme="http"):
    out = subprocess.run(["taskset", "-c", "0", "h2load", "-n", str(requests), "-c", "16", "-m", str(streams),
                          "-H", f":authority: {HOST}", f"{scheme}://127.0.0.1:{port}/small"],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    ok = int(re.search(r"(\d+) succeeded", out).group(1))
    return rps, requests - ok


def self_signed(directory):
    """A self-signed certificate for HOST (openssl), as (cert path, key path)."""
    cert, key = os.path.join(directory, "tls.crt"), os.path.join(directory, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}"], check=True, capture_output=True)
    os.chmod(key, 0o644)  # nginx's worker reads it as an unprivileged user
    return cert, key


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--h2-requests", type=int, default=100000)
    parser.add_argument("--h2-streams", type=int, default=10, help="concurrent streams per connection")
    args = parser.parse_args()
    need("nginx", "apt-get install nginx")
    need("curl", "apt-get install curl")
    need("openssl", "apt-get install openssl")
    build_komainu()
    work = tempdir()
    big = os.path.join(work, "big")
    with open(big, "wb") as f:
        f.write(os.urandom(MIB) * 100)
    # nginx's worker runs as an unprivileged user: it must read the file.
    os.chmod(work, 0o755)
    os.chmod(big, 0o644)

    backend_port, nginx_port, nginx_h2_port, komainu_port = free_port(), free_port(), free_port(), free_port()
    nginx_tls_port, komainu_tls_port = free_port(), free_port()
    cert, key = self_signed(work)
    backend = nginx(work, "backend", "0", f"""server {{ listen 127.0.0.1:{backend_port};
      location = /big {{ alias {big}; }}
      location = /upload {{ client_body_buffer_size 128m; proxy_pass_request_body off;
                            proxy_set_header Content-Length ''; proxy_pass http://127.0.0.1:{backend_port}/ok; }}
      location = /ok {{ return 200 'ok'; }}
      location = /small {{ return 200 'hello from the backend'; }} }}""")
    proxy = nginx(work, "proxy", "1", f"""upstream backend {{ server 127.0.0.1:{backend_port}; keepalive 256; }}
      server {{ listen 127.0.0.1:{nginx_port}; listen 127.0.0.1:{nginx_h2_port} http2;
        listen 127.0.0.1:{nginx_tls_port} ssl http2; ssl_certificate {cert}; ssl_certificate_key {key};
        location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection '';
                      proxy_set_header Host $host; proxy_request_buffering off; client_body_buffer_size 64k;
                      proxy_buffers 8 64k; proxy_max_temp_file_size 0; }} }}""")
    wait_port(backend_port)
    wait_port(nginx_port)
    komainu = start_komainu(work, komainu_port, "1", extra=[f"-Dhttps.port={komainu_tls_port}"])
    admin(komainu_port, "POST", "/api/routes", route(0, backend_port, host=HOST))
    admin(komainu_port, "POST", "/api/certificates",
          {"id": "bench-tls", "name": HOST, "chain": open(cert).read(), "privateKey": open(key).read()})
    wait_port(komainu_tls_port)
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
        modes = {
            "h2c": ("http", {"nginx": nginx_h2_port, "komainu": komainu_port}),
            "h2 (ALPN)": ("https", {"nginx": nginx_tls_port, "komainu": komainu_tls_port}),
        }
        for mode, (scheme, ports) in modes.items():
            rates = {}
            for name, (_, pids) in contenders.items():
                port = ports[name]
                h2load(port, 2000, args.h2_streams, scheme)  # warm-up
                before = sum(cpu_seconds(p) for p in pids())
                rps, failed = h2load(port, args.h2_requests, args.h2_streams, scheme)
                used = sum(cpu_seconds(p) for p in pids()) - before
                rates[name] = rps
                print(f"{mode} via {name:<8} {rps:9.0f} req/s  CPU {used * 1e6 / args.h2_requests:6.1f} "
                      f"µs/request  failed {failed}")
            print(f"{mode}: komainu at {rates['komainu'] / rates['nginx']:.2f} of nginx's requests/s")
    finally:
        for proc in (komainu, proxy, backend):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
