#!/usr/bin/python3
"""One TikTok connector per channel across the cluster (issue 14 part 3;
docs/scaling.md, "The TikTok connector: one per channel"), against the real
engines and the fake TikTok of the connector's tests (tests/tiktok/fake_tiktok.py).

    cluster_lease.py BUILD_DIR takeover|handover|shutdown|nats_pause

It starts the fake, then a cluster (scripts/cluster.sh up: nats-server,
PostgreSQL, two nodes) whose nodes use the fake's URLs and a short lease TTL
(NODE_ARGS), runs the scenario and brings everything down whatever the outcome.

  takeover  devices of one channel on both nodes: exactly one push socket at the
            fake; a chat it sends reaches the sockets on both nodes once; the other
            node's device is told where the connection runs; the holder is killed
            (SIGKILL): within TTL + TTL/3 + a few seconds the other node connects to
            the fake, its socket gets the new chats, and the lease key names it
  handover  the holder's devices leave: after the linger it releases the lease and
            the other node (devices still there, watching the key) connects within
            2 s, long before the key could have expired; the metrics count the release
  shutdown  the holder is stopped cleanly (SIGTERM): it releases its lease and the
            other node connects within 2 s, long before the key could have expired
  nats_pause nats-server is frozen (SIGSTOP) for 2 TTL: the holder cannot renew
            and stops its connector within 2 TTL/3 (+ slack), so that no two can run
            once the key expires, and the devices on both nodes are told "connecting";
            nats-server goes on (SIGCONT): one node connects again, and only one
"""
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TTL = 3  # --lease-ttl-s for both nodes (6 where a release must be told from an expiry)
LINGER = 2  # --tiktok-linger-s
HANDLE = "leasestreamer"
METRICS_TOKEN = "lease-test-metrics-token-0123456789"
ROOM = "7301000000000000042"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


class Fake:
    """The fake TikTok in a process of its own; its event lines are kept."""

    def __init__(self):
        self.p = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests/tiktok/fake_tiktok.py")],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        ready = self.p.stdout.readline().split()
        if not ready or ready[0] != "READY":
            fail(f"the fake did not start: {ready}")
        self.web = ready[1].split("=", 1)[1]
        self.ws = ready[2].split("=", 1)[1]
        self.lines = []
        self.cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cv:
                self.lines.append(ev)
                self.cv.notify_all()

    def cmd(self, **c):
        """Sends a command; returns its "done" line."""
        with self.cv:
            start = len(self.lines)
        self.p.stdin.write(json.dumps(c) + "\n")
        self.p.stdin.flush()
        return self.wait(lambda ev: ev.get("ev") == "done" and ev.get("cmd") == c["cmd"], 10, start)

    def wait(self, pred, timeout, start=0):
        end = time.monotonic() + timeout
        with self.cv:
            while True:
                for ev in self.lines[start:]:
                    if pred(ev):
                        return ev
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def count(self, name):
        with self.cv:
            return sum(1 for ev in self.lines if ev.get("ev") == name)

    def state(self):
        with self.cv:
            start = len(self.lines)
        self.p.stdin.write('{"cmd":"state"}\n')
        self.p.stdin.flush()
        return self.wait(lambda ev: ev.get("ev") == "state", 10, start)

    def stop(self):
        try:
            self.p.stdin.write('{"cmd":"quit"}\n')
            self.p.stdin.flush()
            self.p.wait(5)
        except Exception:  # noqa: BLE001 - it is going away either way
            self.p.kill()
            self.p.wait()


def kv_get(nats_url, bucket, key):
    """The lease key's value, read with the NATS protocol itself (STREAM.MSG.GET
    last by subject): the value as text, "" for none."""
    host, port = nats_url.replace("nats://", "").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), 5)
    f = s.makefile("rb")
    f.readline()  # INFO
    req = json.dumps({"last_by_subj": f"$KV.{bucket}.{key}"}).encode()
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":false}\r\n'
              b"SUB _INBOX.lease 1\r\n"
              + b"PUB $JS.API.STREAM.MSG.GET.KV_%s _INBOX.lease %d\r\n" % (bucket.encode(), len(req))
              + req + b"\r\nPING\r\n")
    while True:
        line = f.readline()
        if not line:
            fail("kv_get: connection closed")
        if line.startswith(b"MSG "):
            n = int(line.split()[-1])
            body = json.loads(f.read(n + 2)[:n])
            s.close()
            msg = body.get("message")
            return base64.b64decode(msg["data"]).decode() if msg and msg.get("data") else ""
        if line.startswith(b"-ERR"):
            fail(f"kv_get: {line!r}")


def metric(node, name):
    import urllib.request
    req = urllib.request.Request(node + "/metrics")
    req.add_header("Authorization", "Bearer " + METRICS_TOKEN)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            text = r.read().decode()
    except Exception as e:  # noqa: BLE001
        fail(f"metrics of {node}: {e}")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def up(build, fake, ttl):
    d = tempfile.mkdtemp(prefix="ttb-cluster-lease.")
    tok = os.path.join(d, "metrics.token")
    with open(tok, "w") as f:
        f.write(METRICS_TOKEN + "\n")
    env = dict(os.environ, BUILD=build,
               NODE_ARGS=f"--tiktok-web {fake.web} --tiktok-ws {fake.ws} --tiktok-lookup-s 1 "
                         f"--tiktok-linger-s {LINGER} --lease-ttl-s {ttl} "
                         f"--metrics-token-file {tok}")
    r = subprocess.run([os.path.join(ROOT, "scripts/cluster.sh"), "up", d], env=env,
                       stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        down(build, d)
        fail("cluster.sh up failed")
    for line in open(os.path.join(d, "cluster.env")):
        k, _, v = line.rstrip("\n").partition("=")
        os.environ[k] = v.strip('"')
    return d


def down(build, d, show_logs=False):
    if show_logs:
        for f in ("node1.log", "node2.log"):
            p = os.path.join(d, f)
            if os.path.exists(p):
                print(f"--- {p} (tail)", file=sys.stderr)
                print("".join(open(p).readlines()[-40:]), file=sys.stderr)
    if os.path.exists(os.path.join(d, "cluster.env")):
        subprocess.run([os.path.join(ROOT, "scripts/cluster.sh"), "down", d],
                       env=dict(os.environ, BUILD=build), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    shutil.rmtree(d, ignore_errors=True)


def holder_of(d):
    """Which node's log says it acquired the lease last (1 or 2; 0: none)."""
    best, who = -1.0, 0
    for n in (1, 2):
        p = os.path.join(d, f"node{n}.log")
        if os.path.exists(p) and "lease: " in open(p).read():
            for line in open(p):
                if ": acquired (revision" in line:
                    rev = float(line.rsplit(" ", 1)[1].rstrip(")\n"))
                    if rev > best:
                        best, who = rev, n
    return who


async def scenario(name, d, fake):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import cluster_nats as cn  # noqa: E402 - reads the cluster's URLs from the environment

    class Dev(cn.Client):
        """A client that also keeps the Status messages."""

        def __init__(self, node, token):
            super().__init__(node, token)
            self.statuses = []

        def take(self, m):
            if m.get("type") == "status":
                self.statuses.append(m)
            super().take(m)

    nodes = {1: cn.N1, 2: cn.N2}
    key = cn.license_key()
    user, tok1 = cn.login(cn.N1, key)
    _, tok2 = cn.login(cn.N2, key)
    st, body = cn.http(cn.N1 + "/me/tiktok", {"username": HANDLE}, token=tok1, method="PUT")
    if st != 200:
        fail(f"PUT /me/tiktok: {st} {body}")
    fake.cmd(cmd="user", name=HANDLE, answer="live", room_id=ROOM)
    a = await Dev(cn.N1, tok1).open()
    b = await Dev(cn.N2, tok2).open()
    devs = {1: a, 2: b}
    if not fake.wait(lambda ev: ev.get("ev") == "ws_connect", 15):
        fail("no node connected to the fake TikTok")
    # a few renewals and retries later, still one connection (a node learns a handle
    # set on another node within 5 s: app.c TIKTOK_SYNC_TICKS)
    await a.quiet(max(TTL * 1.5, 6.5))
    await b.quiet(0.1)
    stt = fake.state()
    if fake.count("ws_connect") != 1 or len(stt["conns"]) != 1:
        fail(f"{fake.count('ws_connect')} push sockets were opened, {len(stt['conns'])} open; want 1")
    holder = holder_of(d)
    if holder == 0:
        fail("no node logged the lease acquired")
    other = 3 - holder
    value = kv_get(os.environ["NATS_URL"], "ttb_lease", user)
    if nodes[holder] not in value:
        fail(f"the lease key does not name node {holder} ({nodes[holder]}): {value!r}")
    # the holder's device sees live; the other's is told where it runs
    await devs[holder].until(lambda c: any(s.get("tiktok") == "live" for s in c.statuses),
                             "the holder's device: live")
    await devs[other].until(lambda c: any(nodes[holder] in s.get("message", "") for s in c.statuses),
                            "the other node's device: where the connection runs")
    fake.cmd(cmd="chat", msg_id=1001, nickname="Ann", unique_id="ann", user_id=5, comment="lease one")
    await a.until(lambda c: "lease one" in c.messages(), "node 1: the chat from TikTok")
    await b.until(lambda c: "lease one" in c.messages(), "node 2: the chat from TikTok")
    await a.quiet(1)
    await b.quiet(0.1)
    if a.messages().count("lease one") != 1 or b.messages().count("lease one") != 1:
        fail(f"the chat was not delivered once: {a.messages()} / {b.messages()}")
    if metric(nodes[holder], "ttboost_lease_held") != 1 or metric(nodes[other], "ttboost_lease_held") != 0:
        fail("ttboost_lease_held is not 1 on the holder and 0 on the other node")

    if name == "takeover":
        pid = int(os.environ[f"NODE{holder}_PID"])
        opened = fake.count("ws_connect")
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        ev = fake.wait(lambda e: e.get("ev") == "ws_connect", TTL + TTL / 3 + 6,
                       start=len(fake.lines))
        took = time.monotonic() - t0
        if ev is None or fake.count("ws_connect") != opened + 1:
            fail(f"node {other} did not connect to TikTok within {TTL + TTL / 3 + 6:.0f} s")
        print(f"takeover: node {other} connected {took:.1f} s after node {holder} was killed "
              f"(TTL {TTL} s)")
        if holder_of(d) != other:
            fail(f"node {other} did not log the lease acquired")
        value = kv_get(os.environ["NATS_URL"], "ttb_lease", user)
        if nodes[other] not in value:
            fail(f"the lease key does not name node {other} after the takeover: {value!r}")
        fake.cmd(cmd="chat", msg_id=1002, nickname="Bob", unique_id="bob", user_id=6, comment="lease two")
        await devs[other].until(lambda c: "lease two" in c.messages(), "the chat after the takeover")
        await devs[other].quiet(1)
        if devs[other].messages().count("lease two") != 1:
            fail(f"the chat after the takeover was not delivered once: {devs[other].messages()}")
        if metric(nodes[other], "ttboost_lease_acquired_total") != 1:
            fail("ttboost_lease_acquired_total is not 1 on the node that took over")
    elif name == "shutdown":
        pid = int(os.environ[f"NODE{holder}_PID"])
        opened = fake.count("ws_connect")
        t0 = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        ev = await asyncio.to_thread(fake.wait, lambda e: e.get("ev") == "ws_connect", TTL + 5,
                                     len(fake.lines))  # the loop answers the node's close meanwhile
        took = time.monotonic() - t0
        if ev is None or fake.count("ws_connect") != opened + 1:
            fail(f"node {other} did not connect after node {holder} stopped")
        print(f"shutdown: node {other} connected {took:.1f} s after node {holder} was told to stop "
              f"(TTL {TTL} s)")
        if took > 2:  # an expiry takes 2 TTL/3 at least
            fail(f"the takeover took {took:.1f} s: the stopping node did not release its lease")
        await devs[other].until(lambda c: any(s.get("tiktok") == "live" and nodes[holder] not in
                                              s.get("message", "") for s in c.statuses[-1:]),
                                "the device of the node that took over: live, here")
    elif name == "nats_pause":
        nats_pid = int(os.environ["NATS_PID"])
        start = len(fake.lines)
        opened = fake.count("ws_connect")
        t0 = time.monotonic()
        os.kill(nats_pid, signal.SIGSTOP)
        try:
            ev = await asyncio.to_thread(fake.wait, lambda e: e.get("ev") == "ws_close",
                                         TTL * 2 / 3 + 3, start)
            took = time.monotonic() - t0
            if ev is None:
                fail("the holder kept its push socket while it could not renew its lease")
            print(f"nats_pause: the holder closed its push socket {took:.1f} s after NATS froze "
                  f"(TTL {TTL} s)")
            if fake.count("ws_connect") != opened:
                fail("a node connected to TikTok while NATS was frozen")
            # neither node's devices are told any more that the connection is live
            for n in (1, 2):
                await devs[n].until(lambda c: c.statuses and c.statuses[-1].get("tiktok") ==
                                    "connecting" and "Waiting" in c.statuses[-1].get("message", ""),
                                    f"node {n}'s device while NATS is frozen: connecting")
            await asyncio.sleep(max(0.0, TTL * 2 - (time.monotonic() - t0)))
            if fake.count("ws_connect") != opened:
                fail("a node connected to TikTok while NATS was frozen")
        finally:
            os.kill(nats_pid, signal.SIGCONT)
        ev = await asyncio.to_thread(fake.wait, lambda e: e.get("ev") == "ws_connect", TTL + 8,
                                     start)
        if ev is None:
            fail("no node connected to TikTok again once NATS was back")
        await asyncio.sleep(TTL * 1.5)
        stt = fake.state()
        if fake.count("ws_connect") != opened + 1 or len(stt["conns"]) != 1:
            fail(f"after NATS came back: {fake.count('ws_connect') - opened} push sockets opened, "
                 f"{len(stt['conns'])} open; want 1")
        fake.cmd(cmd="chat", msg_id=1004, nickname="Di", unique_id="di", user_id=8, comment="lease four")
        await a.until(lambda c: "lease four" in c.messages(), "node 1: the chat after NATS came back")
        await b.until(lambda c: "lease four" in c.messages(), "node 2: the chat after NATS came back")
    else:  # handover: the holder's devices leave, the lease is released, not expired
        opened = fake.count("ws_connect")
        await devs[holder].close()
        t0 = time.monotonic()
        ev = await asyncio.to_thread(fake.wait, lambda e: e.get("ev") == "ws_connect",
                                     LINGER + TTL / 3 + 5, len(fake.lines))
        took = time.monotonic() - t0
        if ev is None or fake.count("ws_connect") != opened + 1:
            fail(f"node {other} did not connect within the linger + TTL/3 + 5 s")
        print(f"handover: node {other} connected {took:.1f} s after the holder's last device left "
              f"(linger {LINGER} s, TTL {TTL} s)")
        if took > LINGER + 2:  # an expiry takes LINGER + 2 TTL/3 at least
            fail(f"the handover took {took:.1f} s: the lease was not released")
        if fake.wait(lambda e: e.get("ev") == "ws_close", 5) is None:
            fail("the old holder's push socket was not closed")
        stt = fake.state()
        if len(stt["conns"]) != 1:
            fail(f"{len(stt['conns'])} push sockets open after the handover; want 1")
        if metric(nodes[holder], "ttboost_lease_released_total") != 1 or \
                metric(nodes[holder], "ttboost_lease_errors_total") != 0:
            fail("ttboost_lease_released_total is not 1 on the old holder, or a KV call failed")
        if metric(nodes[holder], "ttboost_lease_held") != 0 or metric(nodes[other], "ttboost_lease_held") != 1:
            fail("ttboost_lease_held did not move to the other node")
        fake.cmd(cmd="chat", msg_id=1003, nickname="Cy", unique_id="cy", user_id=7, comment="lease three")
        await devs[other].until(lambda c: "lease three" in c.messages(), "the chat after the handover")
    stt = fake.state()
    if stt.get("violation"):
        fail(f"the fake saw {stt['violation']} protocol violations")


def main():
    global TTL
    if len(sys.argv) != 3 or sys.argv[2] not in ("takeover", "handover", "shutdown", "nats_pause"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    build, name = os.path.abspath(sys.argv[1]), sys.argv[2]
    fake = Fake()
    d = None
    ok = False
    try:
        if name in ("handover", "shutdown"):
            TTL = 6
        d = up(build, fake, TTL)
        asyncio.run(scenario(name, d, fake))
        ok = True
    finally:
        if d:
            down(build, d, show_logs=not ok)
        fake.stop()
    print(f"cluster_lease {name}: ok")


if __name__ == "__main__":
    main()
