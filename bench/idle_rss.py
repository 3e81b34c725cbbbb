#!/usr/bin/env python3
"""RSS of an idle komainu holding N routes (target: 100 routes <= 15 MB).

A fresh komainu (embedded store, one worker thread unless --threads) gets
N routes through the admin API, serves each once (so the route runtimes and
the upstream pool exist), then sits idle for a few seconds before its RSS
is read from /proc.
"""

import argparse
import time
import urllib.request

from common import (admin, build_komainu, free_port, route, rss_mib, start_komainu, start_nginx, tempdir)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--routes", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds idle before reading RSS")
    parser.add_argument("--binary", help="the komainu binary (default: build this tree's release)")
    args = parser.parse_args()
    if not args.binary:
        build_komainu()
    work = tempdir()
    backend_port, port = free_port(), free_port()
    backend = start_nginx(work, backend_port, "0")
    komainu = start_komainu(work, port, "1", threads=args.threads, binary=args.binary)
    try:
        started = rss_mib(komainu.pid)
        for i in range(args.routes):
            admin(port, "POST", "/api/routes", route(i, backend_port))
        time.sleep(1)  # the state is rebuilt after the writes
        for i in range(args.routes):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": f"r{i}.bench.local"})
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        time.sleep(args.idle)
        print(f"RSS at start {started:.1f} MiB; with {args.routes} routes, each served once, "
              f"then {args.idle:.0f} s idle: {rss_mib(komainu.pid):.1f} MiB (target <= 15 MB)")
    finally:
        for p in (komainu, backend):
            p.terminate()
        for p in (komainu, backend):
            p.wait()


if __name__ == "__main__":
    main()
