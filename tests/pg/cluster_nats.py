#!/usr/bin/python3
"""Events between two nodes through NATS JetStream, against the real engines.

Run by `tests/pg/cluster_run.sh BUILD nats SCENARIO`, which brings a cluster up (scripts/cluster.sh:
nats-server, PostgreSQL, two nodes) and passes its cluster.env's variables in
the environment:

    cluster_nats.py fanout|failover|dedup|nats_restart

  fanout        a socket on node 1 receives what node 2 ingests, and one on node 2
                what node 1 ingests, with the same seq on both nodes, also when both
                nodes ingest into the channel at the same time
  failover      node 1 is killed (SIGKILL) while a client listens there; the client
                reconnects to node 2 with ?since= and loses nothing; node 1 is started
                again and a resume there gets the same events with the same seqs
  dedup         the same ingest id posted to both nodes is delivered once
  nats_restart  nats-server is restarted; events flow again (ingest answers 503
                while it is down, and a retry with the same id is delivered once)
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import websockets

ENV = os.environ
N1, N2 = ENV["NODE1_URL"], ENV["NODE2_URL"]
SECRET = ENV["TTBOOST_INGEST_SECRET"]
DEADLINE = 10.0  # seconds an expected event may take


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def http(url, body=None, token=None, method=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def login(node, key):
    st, body = http(node + "/auth/login", {"license_key": key})
    if st != 200 or body.get("status") != "ok":
        fail(f"login on {node}: {st} {body}")
    return body["user_id"], body["ws_token"]


def ingest(node, channel, message, eid=None):
    ev = {"channel": channel, "type": "chat", "user": "tester", "message": message}
    if eid:
        ev["id"] = eid
    return http(node + "/ingest/events", ev, token=SECRET)


def ws_url(node, token, since=None):
    u = node.replace("http://", "ws://") + "/ws/" + token
    return u if since is None else u + "?since=" + str(since)


class Client:
    """One socket: its Hello, then the chats it gets (seq -> message)."""

    def __init__(self, node, token, since=None):
        self.url = ws_url(node, token, since)
        self.hello = None
        self.chats = []  # (seq, message) in arrival order
        self.gifts = []  # (seq, gift_name, count)

    async def open(self):
        self.ws = await websockets.connect(self.url, max_size=1 << 22, open_timeout=10)
        while self.hello is None:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), DEADLINE))
            if m.get("type") == "hello":
                self.hello = m
        return self

    async def until(self, pred, what):
        """Reads until pred(self) holds; fails after DEADLINE."""
        end = time.monotonic() + DEADLINE
        while not pred(self):
            left = end - time.monotonic()
            if left <= 0:
                fail(f"{what}: timed out; got {self.chats}")
            try:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except asyncio.TimeoutError:
                continue
            self.take(m)

    def take(self, m):
        if m.get("type") == "chat":
            self.chats.append((m["seq"], m["message"]))
        elif m.get("type") == "gift":
            self.gifts.append((m["seq"], m["gift_name"], m["count"]))

    async def quiet(self, seconds):
        """Reads whatever comes for a while (to see that nothing more does)."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return
            try:
                m = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except asyncio.TimeoutError:
                return
            self.take(m)

    def messages(self):
        return [msg for _, msg in self.chats]

    async def close(self):
        await self.ws.close()


def license_key():
    """A new license, logged in on both nodes (a node learns a license it never saw
    from the database on its first use: the logins make both know it)."""
    admin = ENV["ADMIN"].split()
    out = subprocess.run(admin + ["license", "create", "--days", "30", "--devices", "0"],
                         check=True, capture_output=True, text=True).stdout.strip()
    key = out.splitlines()[-1]
    login(N1, key)
    login(N2, key)
    return key


def check_seqs(chats, what):
    seqs = [s for s, _ in chats]
    if seqs != sorted(seqs) or len(set(seqs)) != len(seqs):
        fail(f"{what}: seqs not increasing: {seqs}")
    if seqs and seqs != list(range(seqs[0], seqs[0] + len(seqs))):
        fail(f"{what}: seqs not contiguous: {seqs}")


async def fanout():
    key = license_key()
    user, tok1 = login(N1, key)
    _, tok2 = login(N2, key)
    a = await Client(N1, tok1).open()
    b = await Client(N2, tok2).open()
    sent = []
    for i in range(10):
        node = N2 if i % 2 == 0 else N1  # both nodes ingest, interleaved
        st, body = ingest(node, user, f"m{i}", eid=f"fan-{i}")
        if st != 202:
            fail(f"ingest m{i} on {node}: {st} {body}")
        sent.append(f"m{i}")
    await a.until(lambda c: len(c.chats) >= 10, "node 1 socket")
    await b.until(lambda c: len(c.chats) >= 10, "node 2 socket")
    if a.messages() != sent or b.messages() != sent:
        fail(f"order: node 1 {a.messages()}, node 2 {b.messages()}, sent {sent}")
    if a.chats != b.chats:
        fail(f"the nodes disagree on seqs: {a.chats} / {b.chats}")
    check_seqs(a.chats, "fanout")
    # both nodes ingest into the channel at the same time: each seq is given once
    # (the loser of a race re-reads the channel's last message and publishes again)
    errors = []

    def post_many(node, tag):
        for i in range(20):
            st, body = ingest(node, user, f"{tag}{i}", eid=f"race-{tag}{i}")
            if st != 202:
                errors.append((node, st, body))

    threads = [threading.Thread(target=post_many, args=(n, t)) for n, t in ((N1, "x"), (N2, "y"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail(f"concurrent ingest: {errors[:3]}")
    await a.until(lambda c: len(c.chats) >= 50, "node 1 socket, concurrent ingest")
    await b.until(lambda c: len(c.chats) >= 50, "node 2 socket, concurrent ingest")
    if a.chats != b.chats:
        fail(f"concurrent ingest: the nodes disagree: {a.chats[10:]} / {b.chats[10:]}")
    check_seqs(a.chats, "concurrent ingest")
    for tag in ("x", "y"):  # each node's own events in the order it took them
        mine = [m for m in a.messages() if m[0] == tag]
        if mine != [f"{tag}{i}" for i in range(20)]:
            fail(f"concurrent ingest: {tag} events out of order or lost: {mine}")
    # a gift (not a streak: out at once), its id posted to both nodes: once, on both
    gift = {"channel": user, "type": "gift", "gift_name": "Rose", "count": 3, "user": "g",
            "id": "fan-gift"}
    for node in (N2, N1):
        st, body = http(node + "/ingest/events", gift, token=SECRET)
        if st != 202:
            fail(f"gift on {node}: {st} {body}")
    await a.until(lambda c: len(c.gifts) >= 1, "gift on node 1")
    await b.until(lambda c: len(c.gifts) >= 1, "gift on node 2")
    await a.quiet(0.5)
    want = [(a.chats[-1][0] + 1, "Rose", 3)]
    if a.gifts != want or b.gifts != want:
        fail(f"gift: node 1 {a.gifts}, node 2 {b.gifts}, want {want}")
    # a third socket resumes on node 1 from the middle: the rest, same seqs
    mid = a.chats[4][0]
    c = await Client(N1, tok1, since=mid).open()
    await c.until(lambda x: len(x.chats) >= len(a.chats) - 5 and x.gifts, "resume on node 1")
    if c.hello.get("resume_gap") or c.chats != a.chats[5:] or c.gifts != a.gifts:
        fail(f"resume from {mid}: hello {c.hello}, got {c.chats}")
    for x in (a, b, c):
        await x.close()
    print(f"fanout: 10 chats ingested on both nodes reached both, seqs {a.chats[0][0]}.."
          f"{a.chats[9][0]} on both; 2 x 20 posted to both nodes at once: seqs 11..50 once each, "
          f"the same on both; a gift posted to both nodes arrived once, seq {want[0][0]}")


async def failover():
    key = license_key()
    user, tok1 = login(N1, key)
    _, tok2 = login(N2, key)
    a = await Client(N1, tok1).open()
    for i in range(5):
        st, body = ingest(N2, user, f"before{i}", eid=f"fo-a{i}")
        if st != 202:
            fail(f"ingest: {st} {body}")
    await a.until(lambda c: len(c.chats) >= 5, "node 1 before the kill")
    last = a.chats[-1][0]
    os.kill(int(ENV["NODE1_PID"]), signal.SIGKILL)  # node 1 dies with the socket open
    # while the client is away, more events come (on node 2)
    for i in range(5):
        st, body = ingest(N2, user, f"during{i}", eid=f"fo-b{i}")
        if st != 202:
            fail(f"ingest: {st} {body}")
    b = await Client(N2, tok2, since=last).open()
    if b.hello.get("resume_gap"):
        fail(f"resume on node 2 from {last}: gap: {b.hello}")
    for i in range(3):
        st, body = ingest(N2, user, f"after{i}", eid=f"fo-c{i}")
        if st != 202:
            fail(f"ingest: {st} {body}")
    await b.until(lambda c: len(c.chats) >= 8, "node 2 after the failover")
    want = [f"during{i}" for i in range(5)] + [f"after{i}" for i in range(3)]
    if b.messages() != want:
        fail(f"after the failover: got {b.messages()}, want {want}")
    check_seqs(a.chats + b.chats, "failover")
    await b.close()
    # node 1 comes back (same data dir): it reads the stream at start, so a client
    # resumes there too, from before the kill, with the same seqs
    subprocess.run([ROOT + "/scripts/cluster.sh", "restart-node", ENV["CLUSTER_DIR"], "1"],
                   check=True, stdout=subprocess.DEVNULL)
    n1 = cluster_env()["NODE1_URL"]
    _, tok3 = login(n1, key)
    c = await Client(n1, tok3, since=a.chats[1][0]).open()
    await c.until(lambda c: len(c.chats) >= 11, "resume on the restarted node 1")
    if c.hello.get("resume_gap") or c.chats != a.chats[2:] + b.chats:
        fail(f"resume on the restarted node 1: hello {c.hello}, got {c.chats}")
    await c.close()
    print(f"failover: node 1 killed after seq {last}; node 2 resumed with ?since={last}: "
          f"{len(b.chats)} events, none lost, seqs {b.chats[0][0]}..{b.chats[-1][0]}; "
          f"node 1 restarted resumes from {a.chats[1][0]} with the same seqs")


async def dedup():
    key = license_key()
    user, tok1 = login(N1, key)
    a = await Client(N1, tok1).open()
    for i in range(3):
        for k, node in enumerate((N1, N2, N2, N1)):  # each id four times, on both nodes
            st, body = ingest(node, user, f"d{i}", eid=f"dup-{i}")
            if st != 202:
                fail(f"ingest: {st} {body}")
            # the answer says so too: the first is new, the others duplicates
            if body.get("duplicates", 0) != (0 if k == 0 else 1):
                fail(f"ingest answer {k} of dup-{i} on {node}: {body}")
    st, body = ingest(N2, user, "end", eid="dup-end")
    await a.until(lambda c: "end" in c.messages(), "dedup end marker")
    await a.quiet(1.0)
    if a.messages() != ["d0", "d1", "d2", "end"]:
        fail(f"dedup: got {a.messages()}")
    check_seqs(a.chats, "dedup")
    await a.close()
    print("dedup: 3 ids posted 4 times each to both nodes: each delivered once")


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cluster_env():
    env = {}
    with open(os.path.join(ENV["CLUSTER_DIR"], "cluster.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    return env


def restart_nats():
    subprocess.run([ROOT + "/scripts/cluster.sh", "restart-nats", ENV["CLUSTER_DIR"]], check=True,
                   stdout=subprocess.DEVNULL)


def stop_nats():
    os.kill(int(ENV["NATS_PID"]), signal.SIGKILL)


async def nats_restart():
    key = license_key()
    user, tok1 = login(N1, key)
    a = await Client(N1, tok1).open()
    st, body = ingest(N2, user, "r0", eid="rs-0")
    if st != 202:
        fail(f"ingest: {st} {body}")
    await a.until(lambda c: len(c.chats) >= 1, "before the restart")
    # nats-server down: the ingest says 503 (retry), nothing is delivered twice
    stop_nats()
    time.sleep(0.5)
    st, body = ingest(N2, user, "r1", eid="rs-1")
    if st != 503:
        fail(f"ingest while NATS is down: {st} {body} (want 503)")
    gift = {"channel": user, "type": "gift", "gift_name": "Rose", "count": 1, "id": "rs-g"}
    st, body = http(N1 + "/ingest/events", gift, token=SECRET)
    if st != 503:
        fail(f"gift ingest while NATS is down: {st} {body} (want 503)")
    restart_nats()
    # events flow again once the nodes reconnected and read the stream again
    # (each node reconnects on its own backoff: 503 until it has; retries keep the id)
    t0 = time.monotonic()
    for node, msg, eid in ((N2, "r1", "rs-1"), (N1, "r2", "rs-2")):
        while True:
            st, body = ingest(node, user, msg, eid=eid)
            if st == 202:
                break
            if st != 503 or time.monotonic() - t0 > 20:
                fail(f"ingest {msg} on {node} after the restart: {st} {body}")
            time.sleep(0.2)
    await a.until(lambda c: len(c.chats) >= 3, "after the restart")
    await a.quiet(0.5)
    if a.messages() != ["r0", "r1", "r2"]:
        fail(f"after the restart: got {a.messages()}")
    check_seqs(a.chats, "nats_restart")
    await a.close()
    print(f"nats_restart: nats-server killed and restarted; the socket on node 1 got "
          f"{a.messages()} with seqs {[s for s, _ in a.chats]}")


if __name__ == "__main__":
    tests = {"fanout": fanout, "failover": failover, "dedup": dedup, "nats_restart": nats_restart}
    if len(sys.argv) != 2 or sys.argv[1] not in tests:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(tests[sys.argv[1]]())
