#!/usr/bin/env python3
"""Propagation from a leader to its workers.

One leader and three workers (release build, pollEvery left at its 10 s
default). For each of a series of admin writes (a new route on its own host),
the time from the leader's answer until every worker serves that route; then
the size of the state export and the time for a worker to take 10 000 routes;
then the leader's CPU time per 304 answer.
"""

import argparse
import base64
import gzip
import http.client
import os
import statistics
import subprocess
import threading
import time

from common import (ADMIN_HOST, ADMIN_ID, ADMIN_SECRET, KOMAINU, admin, build_komainu, cpu_seconds, free_port,
                    route, start_komainu, start_nginx, tempdir, wait_port)

AUTH = "Basic " + base64.b64encode(f"{ADMIN_ID}:{ADMIN_SECRET}".encode()).decode()


def start_worker(leader_port, port):
    env = {"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "warn"}
    args = [KOMAINU, "-Dhttp.address=127.0.0.1", f"-Dhttp.port={port}", "-Dhttps.port=0", "-Dcluster.mode=worker",
            f"-Dcluster.leader.urls.0=http://127.0.0.1:{leader_port}",
            f"-Dcluster.leader.clientId={ADMIN_ID}", f"-Dcluster.leader.clientSecret={ADMIN_SECRET}"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def status(port, host, path="/"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_served(port, host, out, key, deadline_s=30):
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_s:
        if status(port, host) == 200:
            out[key] = time.perf_counter()
            return
        time.sleep(0.002)
    out[key] = None


def export_size(leader_port, gzip_ok):
    conn = http.client.HTTPConnection("127.0.0.1", leader_port, timeout=60)
    headers = {"Host": ADMIN_HOST, "Authorization": AUTH}
    if gzip_ok:
        headers["Accept-Encoding"] = "gzip"
    conn.request("GET", "/api/cluster/state", headers=headers)
    response = conn.getresponse()
    body = response.read()
    etag = response.getheader("ETag")
    plain = gzip.decompress(body) if response.getheader("Content-Encoding") == "gzip" else body
    conn.close()
    return len(body), len(plain), etag


def cpu_per_304(leader, leader_port, etag, count):
    conn = http.client.HTTPConnection("127.0.0.1", leader_port, timeout=10)
    headers = {"Host": ADMIN_HOST, "Authorization": AUTH, "If-None-Match": etag, "Accept-Encoding": "gzip"}
    before = cpu_seconds(leader.pid)
    statuses = set()
    for _ in range(count):
        conn.request("GET", "/api/cluster/state", headers=headers)
        response = conn.getresponse()
        response.read()
        statuses.add(response.status)
    used = cpu_seconds(leader.pid) - before
    conn.close()
    return used / count * 1e6, statuses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--writes", type=int, default=100)
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--compression", type=int, default=4)
    args = parser.parse_args()
    build_komainu()
    work = tempdir()
    backend_port = free_port()
    backend = start_nginx(work, backend_port, "0")
    leader_port = free_port()
    leader = start_komainu(work, leader_port, "0-1", threads=2,
                           extra=[f"-Dcluster.mode=leader", f"-Dcluster.compression={args.compression}",
                                  "-Dadmin.maxBodySize=268435456"])
    workers = [(port, start_worker(leader_port, port)) for port in (free_port(), free_port(), free_port())]
    try:
        time.sleep(1.0)
        delays = []
        for i in range(args.writes):
            host = f"p{i}.bench.local"
            admin(leader_port, "POST", "/api/routes", route(f"p{i}", backend_port, host=host))
            written = time.perf_counter()
            seen = {}
            threads = [threading.Thread(target=wait_served, args=(port, host, seen, port)) for port, _ in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if any(v is None for v in seen.values()):
                print(f"write {i}: a worker never served the route")
                continue
            delays.append((max(seen.values()) - written) * 1000)
        delays.sort()
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(f"propagation over {len(delays)} writes to 3 workers: p50 {statistics.median(delays):.1f} ms, "
              f"p99 {p99:.1f} ms, max {delays[-1]:.1f} ms (target p99 < 500 ms; Otoroshi: up to ~20 s)")

        routes = [route(f"bulk{i}", backend_port) for i in range(args.routes)]
        admin(leader_port, "POST", "/api/otoroshi.json", {"routes": routes})
        imported = time.perf_counter()
        seen = {}
        threads = [threading.Thread(target=wait_served, args=(port, f"rbulk{args.routes - 1}.bench.local", seen, port))
                   for port, _ in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        applied = [(v - imported) * 1000 for v in seen.values() if v is not None]
        size_gz, size_plain, etag = export_size(leader_port, True)
        print(f"{args.routes} routes: export {size_plain / 1024:.0f} KiB plain, {size_gz / 1024:.0f} KiB on the wire "
              f"(compression {args.compression}); import to every worker serving: max {max(applied):.0f} ms")
        per_304, statuses = cpu_per_304(leader, leader_port, etag, 2000)
        print(f"leader CPU per 304 answer: {per_304:.1f} µs (statuses {sorted(statuses)})")
    finally:
        for _, proc in workers:
            proc.terminate()
        leader.terminate()
        backend.terminate()
        for p in [leader, backend] + [w for _, w in workers]:
            p.wait()


if __name__ == "__main__":
    main()
