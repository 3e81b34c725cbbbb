#!/usr/bin/env python3
"""Memory of a worker: RSS of an idle worker holding 100 and 100 000 routes
(synced from a leader on the embedded store), and, with --soak-seconds, RSS
at the start and end of steady load through the worker.

Targets (issue "Performance"): 100 routes <= 15 MB, 100 000 routes <= 300 MB,
no growth over a 10-minute soak (--soak-seconds 600).
"""

import argparse
import os
import subprocess
import time

from common import (ADMIN_ID, ADMIN_SECRET, KOMAINU, admin, build_komainu, free_port, need, route, rss_mib,
                    start_komainu, start_nginx, tempdir, wait_port, wrk)

PREFIX = os.environ.get("KOMAINU_PREFIX", "").split()
MB = 1_000_000 / 1_048_576  # MiB per MB, the targets are in MB


def start_worker(directory, leader_port, port, threads):
    env = {"PATH": os.environ.get("PATH", ""), "LOG_LEVEL": "warn", "TOKIO_WORKER_THREADS": str(threads)}
    args = ["taskset", "-c", "1", *PREFIX, KOMAINU, "-Dhttp.address=127.0.0.1", f"-Dhttp.port={port}", "-Dhttps.port=0",
            "-Dcluster.mode=worker", f"-Dcluster.leader.urls.0=http://127.0.0.1:{leader_port}",
            f"-Dcluster.leader.clientId={ADMIN_ID}", f"-Dcluster.leader.clientSecret={ADMIN_SECRET}",
            f"-Dcluster.worker.dbpath={directory}/worker-state"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return proc


def serves(port, host):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_served(port, host, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if serves(port, host):
            return
        time.sleep(0.05)
    raise SystemExit(f"the worker never served {host}")


def rss_split(pid):
    """(anonymous, file-backed) resident MiB, from /proc/PID/status."""
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        name, _, rest = line.partition(":")
        if name in ("RssAnon", "RssFile"):
            fields[name] = int(rest.split()[0]) / 1024
    return fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0)


def drop_page_cache():
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as caches:
            caches.write("3\n")
    except OSError as error:
        raise SystemExit(f"--cold-cache needs root to write /proc/sys/vm/drop_caches: {error}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="100,100000")
    parser.add_argument("--threads", type=int, default=1, help="worker threads of the worker")
    parser.add_argument("--soak-seconds", type=int, default=0, help="steady load after the last count")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cold-cache", action="store_true",
                        help="drop the page cache before each worker starts (root): the binary's code pages "
                             "the kernel maps around each fault depend on what the cache holds")
    args = parser.parse_args()
    need("nginx", "apt-get install nginx")
    need("wrk", "apt-get install wrk")
    build_komainu()
    work = tempdir()
    backend_port = free_port()
    backend = start_nginx(work, backend_port, "0")
    try:
        for count in (int(c) for c in args.counts.split(",")):
            node_dir = os.path.join(work, f"n{count}")
            os.makedirs(node_dir)
            leader_port = free_port()
            leader = start_komainu(node_dir, leader_port, "0", threads=2,
                                   extra=["-Dcluster.mode=leader", "-Dadmin.maxBodySize=268435456"])
            worker = None
            try:
                admin(leader_port, "POST", "/api/otoroshi.json",
                      {"routes": [route(i, backend_port) for i in range(count)]})
                port = free_port()
                if args.cold_cache:
                    drop_page_cache()
                worker = start_worker(node_dir, leader_port, port, args.threads)
                wait_served(port, f"r{count - 1}.bench.local")
                time.sleep(5)
                early = rss_mib(worker.pid)
                # The allocator hands freed pages back over the next seconds
                # (the state build's transient memory): idle means settled.
                time.sleep(25)
                rss = rss_mib(worker.pid)
                anon, files = rss_split(worker.pid)
                print(f"{count:>7} routes: idle worker RSS {rss:7.1f} MiB = {rss / MB:7.1f} MB "
                      f"(5 s after the first served request: {early:.1f} MiB); "
                      f"anonymous {anon:.1f} MiB, file-backed {files:.1f} MiB (the binary's code and data)")
                if args.soak_seconds and count == int(args.counts.split(",")[-1]):
                    soak(port, count, args, node_dir, worker)
            finally:
                for proc in (worker, leader):
                    if proc is not None:
                        proc.terminate()
                        proc.wait()
    finally:
        backend.terminate()
        backend.wait()


def soak(port, count, args, node_dir, worker):
    script = os.path.join(node_dir, "hosts.lua")
    with open(script, "w") as f:
        f.write(f'request = function() return wrk.format(nil, "/", {{Host = "r" .. math.random(0, {count - 1}) '
                f'.. ".bench.local"}}) end\n')
    wrk(port, "", 10, args.connections, "0", script)  # warm-up: pools and caches reach their size
    start = rss_mib(worker.pid)
    res = wrk(port, "", args.soak_seconds, args.connections, "0", script)
    end = rss_mib(worker.pid)
    print(f"soak {args.soak_seconds} s at {res['rps']:.0f} req/s: RSS {start:.1f} MiB after warm-up, "
          f"{end:.1f} MiB at the end ({end - start:+.1f} MiB), errors+non-2xx {res['errors'] + res['non2xx']}")


if __name__ == "__main__":
    main()
