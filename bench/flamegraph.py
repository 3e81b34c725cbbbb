#!/usr/bin/env python3
"""A CPU flame graph of komainu proxying the bare route of proxy_vs_nginx.py.

The same rig (a one-worker nginx backend and wrk on core 0, komainu alone
on core 1 with one worker thread); `perf record` samples komainu while wrk
runs, and inferno turns the stacks into an SVG. Needs `perf` (linux-perf)
and inferno (`cargo install inferno`).
"""

import argparse
import os
import subprocess
import threading

from common import (ROOT, free_port, need, route, start_komainu, start_nginx, tempdir, wrk,
                    admin)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True, help="the SVG to write")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--binary", help="another komainu build (default: this tree's release build)")
    parser.add_argument("--title", default="komainu, bare route, 1 KiB-class answers")
    args = parser.parse_args()
    for tool, hint in [("nginx", "apt-get install nginx"), ("wrk", "apt-get install wrk"),
                       ("perf", "apt-get install linux-perf"),
                       ("inferno-flamegraph", "cargo install inferno")]:
        need(tool, hint)
    if not args.binary:
        # The release build has no symbols; the profiling profile is the same
        # code with them.
        subprocess.run(["cargo", "build", "--profile", "profiling", "-p", "komainu"], cwd=ROOT, check=True)
        args.binary = os.path.join(ROOT, "target", "profiling", "komainu")
    work = tempdir()
    backend_port, komainu_port = free_port(), free_port()
    backend = start_nginx(work, backend_port, "0")
    komainu = start_komainu(work, komainu_port, "1", binary=args.binary)
    data = os.path.join(work, "perf.data")
    try:
        admin(komainu_port, "POST", "/api/routes", route(0, backend_port, host="bench.local"))
        wrk(komainu_port, "bench.local", 2, args.connections, "0")  # warm-up
        load = threading.Thread(target=wrk, args=(komainu_port, "bench.local", args.seconds + 2,
                                                  args.connections, "0"))
        load.start()
        # DWARF unwinding: the release build has no frame pointers.
        subprocess.run(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-p", str(komainu.pid),
                        "-o", data, "--", "sleep", str(args.seconds)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load.join()
    finally:
        for p in (komainu, backend):
            p.terminate()
        for p in (komainu, backend):
            p.wait()
    script = subprocess.run(["perf", "script", "-i", data], check=True, capture_output=True).stdout
    folded = subprocess.run(["inferno-collapse-perf"], input=script, check=True, capture_output=True).stdout
    svg = subprocess.run(["inferno-flamegraph", "--title", args.title], input=folded, check=True,
                         capture_output=True).stdout
    with open(args.out, "wb") as f:
        f.write(svg)
    with open(os.path.splitext(args.out)[0] + ".folded", "wb") as f:
        f.write(folded)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
