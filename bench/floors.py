#!/usr/bin/env python3
"""komainu against the floors of its own stack, on proxy_vs_nginx.py's rig.

Four proxies in front of the same one-worker nginx backend (core 0, with
wrk), each alone on core 1 with one worker thread, in alternating rounds:
nginx; `floor/`'s `raw` (tokio copying bytes between a client connection
and its own upstream connection: no HTTP work at all); `floor/`'s `hyper`
(hyper's HTTP/1 server and low-level client, the request forwarded as it
came: no routing, headers or metrics); and komainu's bare route. The
ratios say how much of komainu's CPU per request the runtime, hyper and
komainu's own work each take, against nginx's.
"""

import argparse
import os
import subprocess

from common import (ROOT, admin, free_port, medians, need_rig, nginx_pids, rig_arguments, route, start_komainu,
                    start_nginx, stop, tempdir, user_system_seconds, wait_port, wrk)

FLOOR_DIR = os.path.join(ROOT, "bench", "floor")
FLOOR_TARGET = os.path.join(ROOT, "target", "floor")


def build_floor():
    subprocess.run(["cargo", "build", "--release", "--manifest-path", os.path.join(FLOOR_DIR, "Cargo.toml")],
                   env={**os.environ, "CARGO_TARGET_DIR": FLOOR_TARGET}, check=True)
    return os.path.join(FLOOR_TARGET, "release", "komainu-floor")


def cpu_split(pids):
    """(user, system) seconds summed over `pids`."""
    splits = [user_system_seconds(p) for p in pids]
    return sum(u for u, _ in splits), sum(s for _, s in splits)


def start_floor(binary, mode, port, upstream_port):
    proc = subprocess.Popen(["taskset", "-c", "1", binary, mode, str(port), str(upstream_port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def main():
    parser = argparse.ArgumentParser()
    rig_arguments(parser, rounds=3, seconds=8)
    args = parser.parse_args()
    need_rig(args.binary)
    floor = build_floor()
    work = tempdir()
    backend_port = free_port()
    backend = start_nginx(work, backend_port, "0")
    ports = {name: free_port() for name in ("nginx", "raw", "hyper", "komainu")}
    nginx = start_nginx(work, ports["nginx"], "1", upstream_port=backend_port)
    raw = start_floor(floor, "raw", ports["raw"], backend_port)
    bare_hyper = start_floor(floor, "hyper", ports["hyper"], backend_port)
    komainu = start_komainu(work, ports["komainu"], "1", binary=args.binary)
    admin(ports["komainu"], "POST", "/api/routes", route(0, backend_port, host="bench.local"))
    pids = {"nginx": lambda: nginx_pids(nginx), "raw": lambda: [raw.pid], "hyper": lambda: [bare_hyper.pid],
            "komainu": lambda: [komainu.pid]}
    results = {name: [] for name in ports}
    procs = [komainu, bare_hyper, raw, nginx, backend]
    try:
        for name, port in ports.items():  # warm-up
            wrk(port, "bench.local", 2, args.connections, "0")
        for r in range(args.rounds):
            for name, port in ports.items():
                before = cpu_split(pids[name]())
                res = wrk(port, "bench.local", args.seconds, args.connections, "0")
                after = cpu_split(pids[name]())
                per_request = 1e6 / max(res["requests"], 1)
                res["user_us"] = (after[0] - before[0]) * per_request
                res["system_us"] = (after[1] - before[1]) * per_request
                res["cpu_us_per_req"] = res["user_us"] + res["system_us"]
                results[name].append(res)
                print(f"round {r + 1} {name:8} {res['rps']:>10.0f} req/s  {res['cpu_us_per_req']:6.1f} µs CPU/req "
                      f"({res['user_us']:4.1f} user, {res['system_us']:4.1f} system)  "
                      f"errors {res['errors']}  non-2xx {res['non2xx']}")
    finally:
        stop(procs)
    med = medians(results, ("rps", "cpu_us_per_req", "user_us", "system_us"))
    print()
    nginx_cpu = med["nginx"]["cpu_us_per_req"]
    for name in ports:
        print(f"{name:8} median {med[name]['rps']:>10.0f} req/s  {med[name]['cpu_us_per_req']:6.1f} µs CPU/req "
              f"({med[name]['user_us']:4.1f} user, {med[name]['system_us']:4.1f} system)  "
              f"{med[name]['cpu_us_per_req'] / nginx_cpu:4.2f}x nginx's CPU per request, "
              f"{med[name]['rps'] / med['nginx']['rps']:4.2f}x its throughput")


if __name__ == "__main__":
    main()
