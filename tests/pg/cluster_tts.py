#!/usr/bin/python3
"""Speech across nodes through NATS, against the real engines.

Run by `tests/pg/cluster_run.sh BUILD tts SCENARIO`, which brings a cluster up (scripts/cluster.sh:
nats-server, PostgreSQL, two nodes with --tts-workers 0 --tts-remote 4, and a
TTS worker `ttboost-tts-worker --nats --procs 2 -v`) and passes its
cluster.env's variables in the environment, with METRICS_TOKEN:

    cluster_tts.py remote|worker_killed|serve|no_worker|nats_restart

  remote         a chat ingested on node 1: its tts_url from node 2 and from node 1
                 both give a whole Ogg Opus file, made by the TTS worker (its log),
                 counted as remote jobs by both nodes (/metrics)
  worker_killed  (the worker slowed down by TTB_TTS_WORKER_TEST_SLOW_MS) the engine
                 making a fetched speech is killed (SIGKILL): the fetch ends within a
                 few seconds, short or with an error, the failure is counted, and a
                 new fetch of the URL gets the whole file (another or a restarted engine)
  serve          the standalone worker stopped, node 2 started with --tts-serve 1:
                 node 1's speech is made by node 2's child
  no_worker      (nodes with --tts-deadline-ms 3000) no TTS worker at all: a fetch
                 answers 503 once the relay gave up (within the deadline), the failure
                 is counted; the worker started again: the same URL gives the speech
  nats_restart   nats-server restarted: once the nodes take ingest again, a chat's
                 speech is made by the worker (which reconnected) again
"""
import asyncio
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_nats import ROOT, fail, ingest, license_key, login, ws_url  # noqa: E402

ENV = os.environ
N1, N2 = ENV["NODE1_URL"], ENV["NODE2_URL"]
DIR = ENV["CLUSTER_DIR"]
DEADLINE = 15.0


def metrics(node):
    """The node's /metrics as {name: value} (no labels)."""
    u = urllib.parse.urlsplit(node)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", "/metrics", headers={"Authorization": "Bearer " + ENV["METRICS_TOKEN"]})
    r = c.getresponse()
    body = r.read().decode()
    if r.status != 200:
        fail(f"/metrics on {node}: {r.status} {body[:200]}")
    out = {}
    for line in body.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, _, v = line.partition(" ")
            out[k] = float(v)
    return out


class Fetch:
    """GET of a tts_url, read as it streams: the bytes, how it ended, when."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        self.conn.request("GET", u.path)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.data = b""
        self.error = None

    def read_some(self):
        """Reads what comes next: False once the response ended (whole or not)."""
        try:
            b = self.resp.read1(65536)
        except Exception as e:  # an incomplete chunked body: the speech failed mid-way
            self.error = repr(e)
            return False
        if not b:
            return False
        self.data += b
        return True

    def read_all(self):
        while self.read_some():
            pass
        return self


def ogg_pages(data):
    """The header_type flags of the Ogg pages in data (raises on a bad page)."""
    flags, off = [], 0
    while off < len(data):
        if data[off:off + 4] != b"OggS" or len(data) < off + 27:
            raise ValueError(f"no Ogg page at {off}")
        nseg = data[off + 26]
        segs = data[off + 27:off + 27 + nseg]
        if len(segs) < nseg:
            raise ValueError("a cut page header")
        end = off + 27 + nseg + sum(segs)
        if end > len(data):
            raise ValueError("a cut page")
        flags.append(data[off + 5])
        off = end
    return flags


def check_whole(data, what):
    """A whole Ogg Opus file: OpusHead first, pages to the end, the last one EOS."""
    if len(data) < 2000:
        fail(f"{what}: only {len(data)} bytes")
    if data[:4] != b"OggS" or b"OpusHead" not in data[:100]:
        fail(f"{what}: not Ogg Opus: {data[:40]!r}")
    try:
        flags = ogg_pages(data)
    except ValueError as e:
        fail(f"{what}: {e}")
    if not flags[-1] & 4:
        fail(f"{what}: the last page is not the end of the stream")


async def chat_urls(message, retry_s=0):
    """Sockets on both nodes, a chat ingested on node 1: (url on node 1, url on node 2).
    An ingest answered 503 is tried again for retry_s."""
    key = license_key()
    user, tok1 = login(N1, key)
    _, tok2 = login(N2, key)
    socks = [await websockets.connect(ws_url(n, t), max_size=1 << 22, open_timeout=10)
             for n, t in ((N1, tok1), (N2, tok2))]
    for ws in socks:  # the hello first
        while json.loads(await asyncio.wait_for(ws.recv(), DEADLINE)).get("type") != "hello":
            pass
    end = time.monotonic() + retry_s
    while True:
        st, body = ingest(N1, user, message, eid="tts-chat")
        if st == 202:
            break
        if st != 503 or time.monotonic() > end:
            fail(f"ingest: {st} {body}")
        time.sleep(0.2)
    urls = []
    for ws in socks:
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), DEADLINE))
            if m.get("type") == "chat":
                break
        if not m.get("tts_url"):
            fail(f"a chat without tts_url: {m}")
        urls.append(m["tts_url"])
        await ws.close()
    if not urls[0].startswith(N1) or not urls[1].startswith(N2):
        fail(f"each node's socket should get its own node's URL: {urls}")
    return urls


def tts_log():
    with open(os.path.join(DIR, "tts.log")) as f:
        return f.read()


async def remote():
    before = [metrics(N1), metrics(N2)]
    for i, m in enumerate(before):
        if m.get("ttboost_tts_workers") != 4:
            fail(f"node {i + 1}: ttboost_tts_workers {m.get('ttboost_tts_workers')} (want 4 slots)")
    u1, u2 = await chat_urls("speech made on another machine, heard on both nodes")
    jobs0 = tts_log().count("bytes of text")
    t0 = time.monotonic()
    f2 = Fetch(u2).read_all()
    t2 = time.monotonic() - t0
    if f2.status != 200 or f2.error:
        fail(f"node 2 {u2}: {f2.status} {f2.error}")
    check_whole(f2.data, "from node 2")
    f1 = Fetch(u1).read_all()
    if f1.status != 200 or f1.error:
        fail(f"node 1 {u1}: {f1.status} {f1.error}")
    check_whole(f1.data, "from node 1")
    # made by the worker: two jobs in its log, a remote job on each node
    end = time.monotonic() + 5
    while tts_log().count("bytes of text") < jobs0 + 2 and time.monotonic() < end:
        time.sleep(0.1)
    if tts_log().count("bytes of text") < jobs0 + 2:
        fail(f"the TTS worker's log does not show the two jobs:\n{tts_log()}")
    for i, (node, b) in enumerate(zip((N1, N2), before)):
        m = metrics(node)
        if m.get("ttboost_tts_remote_jobs_total", 0) < b.get("ttboost_tts_remote_jobs_total", 0) + 1:
            fail(f"node {i + 1}: ttboost_tts_remote_jobs_total did not grow: {m}")
        if m.get("ttboost_tts_syntheses_total", 0) < 1:
            fail(f"node {i + 1}: no synthesis counted")
    # the second fetch of each is the file now (the cache of the node)
    again = Fetch(u2).read_all()
    if again.data != f2.data:
        fail("node 2 served a different file the second time")
    print(f"remote: {len(f2.data)} bytes from node 2 ({t2:.2f} s), {len(f1.data)} from node 1, "
          f"made by the TTS worker over NATS")


def engine_doing_a_job():
    """The pid of the engine whose last job (TTS worker log, -v) has not ended."""
    started, ended = {}, {}
    for m in re.finditer(r"\[(\d+)\] engine: job (\d+): (.*)", tts_log()):
        pid, job, rest = int(m.group(1)), m.group(2), m.group(3)
        if rest.startswith("ended"):
            ended[pid] = job
        else:
            started[pid] = job
    busy = [p for p, j in started.items() if ended.get(p) != j]
    return busy[0] if busy else None


async def worker_killed():
    u1, _ = await chat_urls("a long chat message, said slowly, so that its engine can be killed "
                            "while it speaks, one two three four five six seven eight nine ten")
    fails0 = metrics(N1).get("ttboost_tts_failures_total", 0)
    f = Fetch(u1)
    if f.status != 200:
        fail(f"fetch: {f.status}")
    f.read_some()  # the speech is under way
    pid = None
    end = time.monotonic() + 5
    while pid is None and time.monotonic() < end:
        pid = engine_doing_a_job()
        if pid is None:
            time.sleep(0.05)
    if pid is None:
        fail(f"no engine is doing the job:\n{tts_log()}")
    os.kill(pid, 9)
    t_kill = time.monotonic()
    f.read_all()
    took = time.monotonic() - t_kill
    if took > 8:
        fail(f"the fetch took {took:.1f} s to end after the engine was killed")
    whole = True
    try:
        check_whole_quiet(f.data)
    except ValueError:
        whole = False
    if whole and not f.error:
        fail("the fetch ended whole although its engine was killed mid-way")
    end = time.monotonic() + 5
    while metrics(N1).get("ttboost_tts_failures_total", 0) < fails0 + 1:
        if time.monotonic() > end:
            fail(f"the failure is not counted: {metrics(N1)}")
        time.sleep(0.1)
    # the supervisor restarted the engine; a new fetch makes it whole
    end = time.monotonic() + 10
    while f"engine {pid} was killed (signal 9): restarted" not in tts_log():
        if time.monotonic() > end:
            fail(f"the supervisor did not restart engine {pid}:\n{tts_log()}")
        time.sleep(0.1)
    g = Fetch(u1).read_all()
    if g.status != 200 or g.error:
        fail(f"the fetch after the kill: {g.status} {g.error}")
    check_whole(g.data, "the fetch after the kill")
    print(f"worker_killed: engine {pid} killed; the fetch ended {took:.2f} s later with "
          f"{len(f.data)} bytes ({f.error or 'short'}); the next fetch: {len(g.data)} bytes, whole")


def check_whole_quiet(data):
    if len(data) < 100 or data[:4] != b"OggS":
        raise ValueError("not Ogg")
    if not ogg_pages(data)[-1] & 4:
        raise ValueError("no end of stream")


async def serve():
    subprocess.run([ROOT + "/scripts/cluster.sh", "stop-tts", DIR], check=True,
                   stdout=subprocess.DEVNULL)
    m2 = metrics(N2)
    if m2.get("ttboost_tts_serving") != 1:
        fail(f"node 2: ttboost_tts_serving {m2.get('ttboost_tts_serving')} (want 1)")
    u1, _ = await chat_urls("node two serves the cluster's speech")
    f = Fetch(u1).read_all()
    if f.status != 200 or f.error:
        fail(f"node 1 {u1}: {f.status} {f.error}")
    check_whole(f.data, "from node 1, made by node 2's child")
    print(f"serve: standalone worker stopped; node 1's speech ({len(f.data)} bytes) made by "
          f"node 2's --tts-serve child")


async def no_worker():
    subprocess.run([ROOT + "/scripts/cluster.sh", "stop-tts", DIR], check=True,
                   stdout=subprocess.DEVNULL)
    u1, _ = await chat_urls("nobody makes this speech at first")
    fails0 = metrics(N1).get("ttboost_tts_failures_total", 0)
    t0 = time.monotonic()
    f = Fetch(u1).read_all()
    took = time.monotonic() - t0
    if f.status != 503:
        fail(f"with no worker: {f.status} ({len(f.data)} bytes), want 503")
    if took < 2.0 or took > 6.0:
        fail(f"with no worker the fetch ended after {took:.2f} s (the relay waits 2.5 s)")
    if metrics(N1).get("ttboost_tts_failures_total", 0) < fails0 + 1:
        fail("the failure is not counted")
    subprocess.run([ROOT + "/scripts/cluster.sh", "restart-tts", DIR], check=True,
                   stdout=subprocess.DEVNULL)
    g = Fetch(u1).read_all()
    if g.status != 200 or g.error:
        fail(f"after the worker came back: {g.status} {g.error}")
    check_whole(g.data, "after the worker came back")
    print(f"no_worker: 503 after {took:.2f} s with no worker; {len(g.data)} bytes once it is back")


async def nats_restart():
    subprocess.run([ROOT + "/scripts/cluster.sh", "restart-nats", DIR], check=True,
                   stdout=subprocess.DEVNULL)
    u1, u2 = await chat_urls("spoken after nats-server came back", retry_s=20)
    for u in (u1, u2):
        f = Fetch(u).read_all()
        if f.status != 200 or f.error:
            fail(f"{u} after the restart: {f.status} {f.error}")
        check_whole(f.data, f"{u} after the restart")
    if "nats: reconnected" not in tts_log():
        fail(f"the TTS worker did not say it reconnected:\n{tts_log()}")
    print("nats_restart: speech made by the worker again on both nodes after nats-server restarted")


if __name__ == "__main__":
    tests = {"remote": remote, "worker_killed": worker_killed, "serve": serve,
             "no_worker": no_worker, "nats_restart": nats_restart}
    if len(sys.argv) != 2 or sys.argv[1] not in tests:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(tests[sys.argv[1]]())
