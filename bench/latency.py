#!/usr/bin/env python3
"""Latency at a fixed rate: komainu vs nginx in front of the same backend.

First nginx's peak (wrk, closed loop) is measured; then an open-loop load
generator (`oha -q`, with latency correction so a slow answer does not hide
the requests it delayed) sends a fixed share of that rate (default 50%) to
each proxy in alternating rounds, and the p50 / p99 / max latencies are
printed with komainu's p99 against nginx's (target <= 1.0).

Needs oha (`cargo install oha`), nginx and wrk. Proxies on core 1, the
backend and the load on core 0.
"""

import argparse
import json
import statistics
import subprocess

from common import (admin, build_komainu, free_port, need, route, start_komainu, start_nginx, tempdir, wrk)


def oha(port, host, rate, seconds, connections):
    out = subprocess.run(["taskset", "-c", "0", "oha", "-z", f"{seconds}s", "-q", str(rate), "-c",
                          str(connections), "--latency-correction", "--no-tui", "--output-format", "json",
                          "-H", f"Host: {host}", f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    latency = result["metrics"]["latency_ms"]
    return {"p50": latency["p50"], "p99": latency["p99"], "max": latency["max"],
            "rps": result["summary"]["requestsPerSec"], "success": result["summary"]["successRate"]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--share", type=float, default=0.5, help="share of nginx's peak rate")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    need("nginx", "apt-get install nginx")
    need("wrk", "apt-get install wrk")
    need("oha", "cargo install oha")
    build_komainu()
    work = tempdir()
    backend_port, nginx_port, komainu_port = free_port(), free_port(), free_port()
    backend = start_nginx(work, backend_port, "0")
    proxy = start_nginx(work, nginx_port, "1", upstream_port=backend_port)
    komainu = start_komainu(work, komainu_port, "1")
    try:
        admin(komainu_port, "POST", "/api/routes", route(0, backend_port, host="bench.local"))
        peak = wrk(nginx_port, "bench.local", args.seconds, args.connections, "0")["rps"]
        rate = int(peak * args.share)
        print(f"nginx peak {peak:.0f} req/s; open-loop rate {rate} req/s ({args.share:.0%})")
        rows = {"nginx": [], "komainu": []}
        for _ in range(args.rounds):
            for name, port in (("nginx", nginx_port), ("komainu", komainu_port)):
                rows[name].append(oha(port, "bench.local", rate, args.seconds, args.connections))
        for name, results in rows.items():
            med = {k: statistics.median(r[k] for r in results) for k in ("p50", "p99", "max", "rps", "success")}
            print(f"{name:<8} p50 {med['p50']:.3f} ms  p99 {med['p99']:.3f} ms  max {med['max']:.1f} ms  "
                  f"{med['rps']:.0f} req/s  success {med['success']:.4f}")
        ratio = statistics.median(r["p99"] for r in rows["komainu"]) / statistics.median(
            r["p99"] for r in rows["nginx"])
        print(f"p99 komainu / nginx: {ratio:.2f} (target <= 1.0)")
    finally:
        for proc in (komainu, proxy, backend):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
