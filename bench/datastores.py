#!/usr/bin/env python3
"""Admin write latency and cluster state export time on each datastore.

For each backend (embedded, redis, postgresql) a release leader starts on a
fresh root, then:
  - write latency: N sequential `POST /api/routes` (one route each), p50/p99,
    on a near-empty state, then the median of N/4 more once 10 000 routes are
    in (each admin write also rebuilds the node's state before answering);
  - import: 10 000 routes in one `POST /api/otoroshi.json`;
  - export: `GET /api/cluster/state` right after a write (the cache is
    invalidated, so each call is a full build from the datastore), best/median.
Redis and PostgreSQL are the machine's servers (REDIS_URL, PG_URI or the
defaults 127.0.0.1:6379 / :5432); each run uses its own storageRoot and
removes it afterwards.

    python3 bench/datastores.py [--routes 10000] [--writes 200] [--exports 5]
"""

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (ADMIN_HOST, ADMIN_ID, ADMIN_SECRET, admin, build_komainu, free_port,  # noqa: E402
                    route, start_komainu, tempdir)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")
PG_URI = os.environ.get("PG_URI", "postgresql://postgres@127.0.0.1:5432/postgres")


def backend_args(name, root):
    if name == "embedded":
        return []
    if name == "redis":
        return ["-Dapp.storage=redis", f"-Dapp.redis.url={REDIS_URL}", f"-Dapp.storageRoot={root}"]
    return ["-Dapp.storage=postgresql", f"-Dapp.pg.uri={PG_URI}", f"-Dapp.storageRoot={root}"]


def cleanup(name, root):
    if name == "redis":
        host_port = REDIS_URL.split("://", 1)[1].split("/")[0].split("@")[-1]
        host, _, port = host_port.partition(":")
        keys = subprocess.run(["redis-cli", "-h", host, "-p", port or "6379", "--scan", "--pattern", f"*{root}*"],
                              capture_output=True, text=True).stdout.split()
        for i in range(0, len(keys), 500):
            subprocess.run(["redis-cli", "-h", host, "-p", port or "6379", "UNLINK", *keys[i:i + 500]],
                           capture_output=True)
    elif name == "postgresql":
        subprocess.run(["psql", PG_URI, "-qc", f"DROP SCHEMA IF EXISTS {root} CASCADE"], capture_output=True)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def timed_export(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    import base64
    token = base64.b64encode(f"{ADMIN_ID}:{ADMIN_SECRET}".encode()).decode()
    started = time.perf_counter()
    conn.request("GET", "/api/cluster/state", headers={"Host": ADMIN_HOST, "Authorization": f"Basic {token}"})
    response = conn.getresponse()
    body = response.read()
    took = time.perf_counter() - started
    assert response.status == 200, response.status
    return took * 1000, len(body)


def run(name, args):
    root = f"bench_{random.getrandbits(40):010x}"
    directory = tempdir()
    port = free_port()
    proc = start_komainu(directory, port, "0-1", ["-Dcluster.mode=leader", *backend_args(name, root)], threads=2)
    try:
        writes = []
        for i in range(args.writes):
            started = time.perf_counter()
            admin(port, "POST", "/api/routes", route(f"w{i}", 9))
            writes.append((time.perf_counter() - started) * 1000)
        routes = [route(i, 9) for i in range(args.routes)]
        started = time.perf_counter()
        admin(port, "POST", "/api/otoroshi.json", {"routes": routes})
        imported = (time.perf_counter() - started) * 1000
        # Writes once the state is big: each one also rebuilds that state.
        big_writes = []
        for i in range(max(1, args.writes // 4)):
            started = time.perf_counter()
            admin(port, "POST", "/api/routes", route(f"b{i}", 9))
            big_writes.append((time.perf_counter() - started) * 1000)
        exports, size = [], 0
        for i in range(args.exports):
            admin(port, "POST", "/api/routes", route(f"x{i}", 9))
            took, size = timed_export(port)
            exports.append(took)
        return {
            "write_p50": statistics.median(writes), "write_p99": percentile(writes, 99),
            "big_write_p50": statistics.median(big_writes),
            "import": imported, "export_best": min(exports), "export_median": statistics.median(exports),
            "size_kib": size / 1024,
        }
    finally:
        proc.terminate()
        proc.wait()
        cleanup(name, root)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=int, default=10000)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--exports", type=int, default=5)
    parser.add_argument("--backends", default="embedded,redis,postgresql")
    args = parser.parse_args()
    build_komainu()
    results = {name: run(name, args) for name in args.backends.split(",")}
    print(f"\n{args.routes} routes imported; {args.writes} single writes; {args.exports} exports after a write\n")
    print(f"{'backend':<12}{'write p50':>11}{'write p99':>11}{'write@10k':>11}{'import':>11}{'export best':>13}"
          f"{'export med':>12}{'size':>10}")
    for name, r in results.items():
        print(f"{name:<12}{r['write_p50']:>9.2f}ms{r['write_p99']:>9.2f}ms{r['big_write_p50']:>9.1f}ms"
              f"{r['import']:>9.0f}ms"
              f"{r['export_best']:>11.0f}ms{r['export_median']:>10.0f}ms{r['size_kib']:>7.0f}KiB")
    base = results.get("embedded")
    if base:
        for name, r in results.items():
            print(f"{name}: write p50 {r['write_p50'] / base['write_p50']:.2f}x embedded, "
                  f"export {r['export_median'] / base['export_median']:.2f}x embedded")


if __name__ == "__main__":
    main()
