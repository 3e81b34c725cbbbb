#!/usr/bin/env python3
"""Cost of many routes: throughput, state rebuild time and RSS of komainu
with 1, 10 000 and 100 000 routes (each on its own host, requests spread at
random over all of them). komainu gets core 1, the backend and wrk core 0.
"""

import argparse
import os
import time

from common import (admin, build_komainu, free_port, need, route, rss_mib, start_komainu, start_nginx,
                    tempdir, wrk)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="1,10000,100000")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    need("nginx", "apt-get install nginx")
    need("wrk", "apt-get install wrk")
    build_komainu()
    work = tempdir()
    backend_port = free_port()
    backend = start_nginx(work, backend_port, "0")
    rows = []
    try:
        for count in (int(c) for c in args.counts.split(",")):
            port = free_port()
            node_dir = os.path.join(work, f"n{count}")
            os.makedirs(node_dir)
            komainu = start_komainu(node_dir, port, "1", extra=["-Dadmin.maxBodySize=268435456"])
            try:
                routes = [route(i, backend_port) for i in range(count)]
                started = time.time()
                admin(port, "POST", "/api/otoroshi.json", {"routes": routes})
                import_s = time.time() - started
                health = admin(port, "GET", "/.well-known/otoroshi/monitoring/health")
                build_ms = health["state"]["build_ms"]
                script = os.path.join(node_dir, "hosts.lua")
                with open(script, "w") as f:
                    f.write(f'request = function() return wrk.format(nil, "/", {{Host = "r" .. math.random(0, {count - 1}) .. ".bench.local"}}) end\n')
                wrk(port, "", 2, args.connections, "0", script)
                res = wrk(port, "", args.seconds, args.connections, "0", script)
                rss = rss_mib(komainu.pid)
                rows.append((count, res["rps"], build_ms, import_s, rss, res["errors"] + res["non2xx"]))
                print(f"{count:>7} routes  {res['rps']:>9.0f} req/s  state build {build_ms:8.1f} ms  "
                      f"import {import_s:6.2f} s  RSS {rss:7.1f} MiB  errors+non-2xx {res['errors'] + res['non2xx']}")
            finally:
                komainu.terminate()
                komainu.wait()
    finally:
        backend.terminate()
        backend.wait()
    base = rows[0][1]
    print()
    for count, rps, build_ms, _, rss, _ in rows:
        print(f"{count:>7} routes: throughput {rps / base:.2f} of 1 route (target >= 0.90), "
              f"state build {build_ms:.0f} ms (target < 1000 ms), RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
