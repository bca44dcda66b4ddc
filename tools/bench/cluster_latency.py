#!/usr/bin/python3
"""cluster-latency: ingest-to-socket latency across two nodes through NATS JetStream.

Brings a cluster up (scripts/cluster.sh: nats-server, PostgreSQL, two nodes with
--nats), opens one socket of one channel on each node, posts N chats to node 2 at
a fixed rate (each carrying its send time, CLOCK_MONOTONIC ns), and prints, as
`name value` lines, the latency from the POST to each socket: node 2's own socket
(publish, consume on the same node) and node 1's (another node). Brings the
cluster down at the end.

    tools/bench/cluster_latency.py [--build build] [--events 500] [--rate 100]

The POSTs are sent one at a time from a thread (a new HTTP connection each), so
the figures include one HTTP request; compare the two sockets with each other and
with a single node run (--single: one node without --nats, the same client).
See docs/benchmarks.md.
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def http(url, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=15) as r:
        return r.status, json.loads(r.read() or b"{}")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] if xs else float("nan")


async def reader(url, n, out, ready):
    async with websockets.connect(url, max_size=1 << 22) as ws:
        ready.set()
        while len(out) < n:
            m = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if m.get("type") == "chat":
                out.append(time.monotonic_ns() - int(m["user"]))


def poster(node, secret, channel, n, rate, errors):
    t0 = time.monotonic()
    for i in range(n):
        due = t0 + i / rate
        d = due - time.monotonic()
        if d > 0:
            time.sleep(d)
        ev = {"channel": channel, "type": "chat", "user": str(time.monotonic_ns()),
              "message": f"m{i}", "id": f"lat-{i}"}
        try:
            st, _ = http(node + "/ingest/events", ev, token=secret)
            if st != 202:
                errors.append(st)
        except Exception as e:  # noqa: BLE001 (counted, the run goes on)
            errors.append(str(e))


async def run(env, args):
    admin = env["ADMIN"].split()
    key = subprocess.run(admin + ["license", "create", "--days", "1", "--devices", "0"],
                         check=True, capture_output=True, text=True).stdout.split()[-1]
    n1, n2 = env["NODE1_URL"], env["NODE2_URL"]
    socks = [("other_node", n1), ("same_node", n2)]
    lat = {name: [] for name, _ in socks}
    readies = {name: asyncio.Event() for name, _ in socks}
    tasks, user = [], None
    for name, node in socks:
        st, body = http(node + "/auth/login", {"license_key": key})
        user = body["user_id"]
        url = node.replace("http://", "ws://") + "/ws/" + body["ws_token"]
        tasks.append(asyncio.create_task(reader(url, args.events, lat[name], readies[name])))
    for e in readies.values():
        await e.wait()
    errors = []
    th = threading.Thread(target=poster, args=(n2, env["TTBOOST_INGEST_SECRET"], user,
                                               args.events, args.rate, errors))
    th.start()
    await asyncio.gather(*tasks)
    th.join()
    print(f"events {args.events}")
    print(f"rate_per_s {args.rate}")
    print(f"ingest_errors {len(errors)}")
    for name in ("same_node", "other_node"):
        us = [x / 1000.0 for x in lat[name]]
        for p in (50, 90, 99):
            print(f"{name}_latency_p{p}_us {pct(us, p):.0f}")
        print(f"{name}_latency_max_us {max(us):.0f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--events", type=int, default=500)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--single", action="store_true",
                    help="one node without --nats: both sockets on it (a baseline)")
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="ttb-cluster-lat.")
    env = dict(os.environ, BUILD=args.build, NATS="no" if args.single else "yes")
    subprocess.run([ROOT + "/scripts/cluster.sh", "up", d], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    try:
        cenv = {}
        with open(os.path.join(d, "cluster.env")) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                cenv[k] = v.strip('"')
        if args.single:  # nodes without --nats: both sockets on node 2
            cenv["NODE1_URL"] = cenv["NODE2_URL"]
            print("mode single")
        else:
            print("mode nats")
        la = os.getloadavg()
        print(f"machine_loadavg_at_start {la[0]:.2f}")
        asyncio.run(run(cenv, args))
    finally:
        subprocess.run([ROOT + "/scripts/cluster.sh", "down", d], env=env,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    sys.exit(main())
