#!/usr/bin/env python3
"""Several komainu builds on the bare route, alternating, with their CPU per
request split into user and system time.

The rig of proxy_vs_nginx.py (backend and wrk on core 0, the proxy under
test on core 1, one worker thread) without nginx as a proxy: for telling
apart builds that differ by one change each. The split shows whether a
change saved work in komainu itself (user) or in the kernel (system).
"""

import argparse
import statistics

from common import admin, free_port, route, start_komainu, start_nginx, tempdir, user_system_seconds, wrk


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binaries", nargs="+", help="komainu binaries, each built from one commit")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    work = tempdir()
    backend_port = free_port()
    backend = start_nginx(work, backend_port, "0")
    builds = []
    try:
        for binary in args.binaries:
            port = free_port()
            proc = start_komainu(tempdir(), port, "1", binary=binary)
            builds.append((binary, port, proc))
            admin(port, "POST", "/api/routes", route(0, backend_port, host="bench.local"))
        for _, port, _ in builds:  # warm-up
            wrk(port, "bench.local", 2, args.connections, "0")
        results = {binary: [] for binary, _, _ in builds}
        for r in range(args.rounds):
            for binary, port, proc in builds:
                before = user_system_seconds(proc.pid)
                res = wrk(port, "bench.local", args.seconds, args.connections, "0")
                after = user_system_seconds(proc.pid)
                per_request = [(a - b) / max(res["requests"], 1) * 1e6 for a, b in zip(after, before)]
                results[binary].append((*per_request, res["rps"], res["errors"] + res["non2xx"]))
                print(f"round {r + 1} {binary}: {res['rps']:.0f} req/s, user {per_request[0]:.1f} µs, "
                      f"system {per_request[1]:.1f} µs per request")
    finally:
        for _, _, proc in builds:
            proc.terminate()
        backend.terminate()
    print()
    first = None
    for binary, rows in results.items():
        user = statistics.median(r[0] for r in rows)
        system = statistics.median(r[1] for r in rows)
        total = statistics.median(r[0] + r[1] for r in rows)
        first = first or total
        print(f"{binary}: median user {user:.1f} + system {system:.1f} = {total:.1f} µs CPU/request "
              f"({total / first:.2f} of the first), {statistics.median(r[2] for r in rows):.0f} req/s, "
              f"errors + non-2xx {sum(r[3] for r in rows)}")


if __name__ == "__main__":
    main()
