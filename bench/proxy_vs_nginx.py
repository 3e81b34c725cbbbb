#!/usr/bin/env python3
"""komainu vs nginx as a reverse proxy in front of the same backend.

The backend is a one-worker nginx answering a static 200 (core 0), wrk runs
on core 0 too, and the proxy under test gets core 1 to itself. nginx and
komainu alternate for several rounds in one go; each round measures
throughput and the proxy's CPU time per request (utime+stime from /proc).
"""

import argparse

from common import (admin, cpu_seconds, free_port, medians, need_rig, nginx_pids, rig_arguments, route,
                    start_komainu, start_nginx, stop, tempdir, wrk)


P = "cp:otoroshi.next.plugins."
FIVE_PLUGINS = [
    ("AdditionalHeadersIn", {"headers": {"x-bench-in": "1"}}),
    ("AdditionalHeadersOut", {"headers": {"x-bench-out": "1"}}),
    ("Cors", {"allow_origin": "https://app.local", "allow_methods": ["GET"]}),
    ("IpAddressAllowedList", {"addresses": ["127.0.0.0/8"]}),
    ("ApikeyCalls", {}),
]


def plugin(name, config):
    return {"plugin": P + name, "enabled": True, "config": config}


def main():
    parser = argparse.ArgumentParser()
    rig_arguments(parser, rounds=3, seconds=10)
    parser.add_argument("--threads", type=int, default=1, help="komainu worker threads (nginx has 1 worker)")
    parser.add_argument("--baseline", help="a komainu binary built from an earlier commit: its bare route "
                                           "runs as one more contender, for an A/B in one run")
    args = parser.parse_args()
    need_rig(args.binary)
    work = tempdir()

    backend_port, nginx_port, komainu_port = free_port(), free_port(), free_port()
    backend = start_nginx(work, backend_port, "0")
    proxy_nginx = start_nginx(work, nginx_port, "1", upstream_port=backend_port)
    komainu = start_komainu(work, komainu_port, "1", threads=args.threads, binary=args.binary)
    admin(komainu_port, "POST", "/api/routes", route(0, backend_port, host="bench.local"))
    # The same route with the five plugins issue 13 budgets at +10% CPU.
    with_plugins = route(1, backend_port, host="plugins.local")
    with_plugins["plugins"] = [plugin(name, config) for name, config in FIVE_PLUGINS]
    admin(komainu_port, "POST", "/api/routes", with_plugins)
    # The same route doing what the nginx proxy does: no forwarding or
    # Otoroshi headers (listing one of the three, disabled, turns off the
    # three a route otherwise runs implicitly).
    no_headers = route(2, backend_port, host="noheaders.local")
    no_headers["plugins"] = [dict(plugin("SendOtoroshiHeadersBack", {}), enabled=False)]
    admin(komainu_port, "POST", "/api/routes", no_headers)
    admin(komainu_port, "POST", "/api/apikeys",
          {"clientId": "bench", "clientSecret": "bench-secret", "authorizedEntities": ["route_r1"]})
    key = ("Otoroshi-Client-Id: bench", "Otoroshi-Client-Secret: bench-secret", "Origin: https://app.local")
    procs = {
        "nginx": (nginx_port, "bench.local", (), lambda: nginx_pids(proxy_nginx)),
        "komainu": (komainu_port, "bench.local", (), lambda: [komainu.pid]),
        "plugins": (komainu_port, "plugins.local", key, lambda: [komainu.pid]),
        "noheaders": (komainu_port, "noheaders.local", (), lambda: [komainu.pid]),
    }
    others = [komainu, proxy_nginx, backend]
    if args.baseline:
        baseline_port = free_port()
        baseline = start_komainu(tempdir(), baseline_port, "1", threads=args.threads, binary=args.baseline)
        others.insert(0, baseline)
        admin(baseline_port, "POST", "/api/routes", route(0, backend_port, host="bench.local"))
        procs["baseline"] = (baseline_port, "bench.local", (), lambda: [baseline.pid])
    results = {name: [] for name in procs}
    try:
        for name, (port, host, headers, _) in procs.items():  # warm-up
            wrk(port, host, 2, args.connections, "0", headers=headers)
        for r in range(args.rounds):
            for name, (port, host, headers, pids) in procs.items():
                before = sum(cpu_seconds(p) for p in pids())
                res = wrk(port, host, args.seconds, args.connections, "0", headers=headers)
                res["cpu_us_per_req"] = (sum(cpu_seconds(p) for p in pids()) - before) / max(res["requests"], 1) * 1e6
                results[name].append(res)
                print(f"round {r + 1} {name:8} {res['rps']:>10.0f} req/s  {res['cpu_us_per_req']:6.1f} µs CPU/req  "
                      f"latency {res['latency']:>8}  errors {res['errors']}  non-2xx {res['non2xx']}")
    finally:
        stop(others)

    med = medians(results, ("rps", "cpu_us_per_req"))
    bad = sum(r["errors"] + r["non2xx"] for rs in results.values() for r in rs)
    print()
    for name in procs:
        print(f"{name:8} median {med[name]['rps']:>10.0f} req/s  {med[name]['cpu_us_per_req']:6.1f} µs CPU/req")
    print(f"ratio komainu/nginx: throughput {med['komainu']['rps'] / med['nginx']['rps']:.2f} (target >= 1.0), "
          f"CPU per request {med['komainu']['cpu_us_per_req'] / med['nginx']['cpu_us_per_req']:.2f} (target <= 1.0), "
          f"errors + non-2xx: {bad}")
    print(f"ratio five plugins/bare route: CPU per request "
          f"{med['plugins']['cpu_us_per_req'] / med['komainu']['cpu_us_per_req']:.2f} (target <= 1.10), "
          f"throughput {med['plugins']['rps'] / med['komainu']['rps']:.2f}")
    print(f"ratio komainu without the forwarding and Otoroshi headers (nginx's work)/nginx: CPU per request "
          f"{med['noheaders']['cpu_us_per_req'] / med['nginx']['cpu_us_per_req']:.2f}, "
          f"throughput {med['noheaders']['rps'] / med['nginx']['rps']:.2f}")
    if "baseline" in med:
        print(f"ratio this build/baseline (bare route): CPU per request "
              f"{med['komainu']['cpu_us_per_req'] / med['baseline']['cpu_us_per_req']:.2f} (target <= 1.0), "
              f"throughput {med['komainu']['rps'] / med['baseline']['rps']:.2f}")


if __name__ == "__main__":
    main()
