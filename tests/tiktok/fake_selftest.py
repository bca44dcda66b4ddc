#!/usr/bin/python3
"""Checks fake_tiktok.py on its own: a small client written here plays the
connector's part (ttwid, lookup, push socket, heartbeat, enter-room, acks)
with Python's protobuf and websockets, and the fake must answer as TikTok
would and flag the mistakes it is meant to flag. Exit status 0 when all is
well. Usage: fake_selftest.py [path/to/fake_tiktok.py] [--schema webcast.proto]
"""

import asyncio
import gzip
import http.client
import json
import os
import subprocess
import sys
import urllib.parse

import websockets

HERE = os.path.dirname(os.path.abspath(__file__))
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


class FakeProc:
    def __init__(self, script, schema):
        args = ["/usr/bin/python3", script] + (["--schema", schema] if schema else [])
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  bufsize=1)
        ready = self.p.stdout.readline().split()
        assert ready and ready[0] == "READY", ready
        self.web = ready[1].split("=", 1)[1]
        self.ws = ready[2].split("=", 1)[1]
        self.events = []
        self.pending = []  # seen, not yet asked for
        self.q = asyncio.Queue()

    def start_reader(self, loop):
        import threading

        def rd():
            for line in self.p.stdout:
                loop.call_soon_threadsafe(self.q.put_nowait, json.loads(line))
        threading.Thread(target=rd, daemon=True).start()

    async def next(self, ev, timeout=5.0, **match):
        """The first event named ev not yet returned (all are kept in self.events)."""
        def hit(e):
            return e["ev"] == ev and all(e.get(k) == v for k, v in match.items())
        for i, e in enumerate(self.pending):
            if hit(e):
                del self.pending[i]
                return e
        while True:
            e = await asyncio.wait_for(self.q.get(), timeout)
            self.events.append(e)
            if hit(e):
                return e
            self.pending.append(e)

    async def cmd(self, **c):
        self.p.stdin.write(json.dumps(c) + "\n")
        self.p.stdin.flush()
        return await self.next("done", cmd=c["cmd"])

    def violations(self):
        return [e for e in self.events if e["ev"] == "violation"]


def get(base, path, headers):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    body = r.read()
    return r.status, r.getheaders(), body


def ttwid_of(headers):
    for k, v in headers:
        if k.lower() == "set-cookie" and v.startswith("ttwid="):
            return v.split(";", 1)[0][6:]
    return None


def ws_url(base, room):
    params = {
        "version_code": "180800", "device_platform": "web", "cookie_enabled": "true",
        "screen_width": "1920", "screen_height": "1080", "browser_language": "en-US",
        "browser_platform": "Linux x86_64", "browser_name": "Mozilla",
        "browser_version": "5.0 (X11)", "browser_online": "true", "tz_name": "UTC",
        "app_name": "tiktok_web", "sup_ws_ds_opt": "1", "update_version_code": "2.0.0",
        "compress": "gzip", "webcast_language": "en", "ws_direct": "1", "aid": "1988",
        "live_id": "12", "app_language": "en", "client_enter": "1", "room_id": room,
        "identity": "audience", "history_comment_count": "6", "last_rtt": "150",
        "heartbeat_duration": "10000", "resp_content_type": "protobuf", "did_rule": "3"}
    return base + "/webcast/im/ws_proxy/ws_reuse_supplement/?" + urllib.parse.urlencode(params)


def lookup_path(name):
    return ("/api-live/user/room?aid=1988&app_name=tiktok_web&device_platform=web_pc&app_language=en"
            "&browser_language=en-US&region=US&user_is_login=false&uniqueId=%s&sourceType=54"
            "&staleTime=600000" % name)


async def main():
    script = os.path.join(HERE, "fake_tiktok.py")
    schema = None
    args = sys.argv[1:]
    if args and not args[0].startswith("--"):
        script = args.pop(0)
    if args[:1] == ["--schema"]:
        schema = args[1]
    sys.path.insert(0, os.path.dirname(script))
    import fake_tiktok  # the same protoc route, for this client's own frames
    pb = fake_tiktok.load_pb(schema or os.path.join(HERE, "..", "..", "schema", "tiktok",
                                                    "webcast.proto"))
    f = FakeProc(script, schema)
    f.start_reader(asyncio.get_running_loop())
    ref = {"User-Agent": UA, "Referer": "https://www.tiktok.com/"}

    # ttwid
    st, hd, _ = get(f.web, "/", {"User-Agent": UA})
    tw = ttwid_of(hd)
    check(st == 200 and tw, "GET / gives a ttwid")
    e = await f.next("root")
    check(e["ttwid"] == tw, "root event names the ttwid")

    # lookups
    await f.cmd(cmd="user", name="alice", answer="live", room_id="7301000000000000001")
    st, _, body = get(f.web, lookup_path("alice"), dict(ref, Cookie="ttwid=" + tw))
    js = json.loads(body)
    check(st == 200 and js["statusCode"] == 0 and js["data"]["user"]["roomId"] == "7301000000000000001"
          and js["data"]["liveRoom"]["status"] == 2, "live lookup")
    e = await f.next("lookup")
    check(e["user"] == "alice" and e["cookie"] == "ttwid=" + tw, "lookup event")
    for answer, want in (("unknown", 19881007), ("http403", 403), ("http500", 500),
                         ("garbage", "bad"), ("empty", "bad"), ("offline", "")):
        await f.cmd(cmd="user", name="bob", answer=answer, room_id="7301000000000000002")
        st, _, body = get(f.web, lookup_path("bob"), dict(ref, Cookie="ttwid=" + tw))
        if isinstance(want, int) and want >= 1000:
            check(json.loads(body)["statusCode"] == want, answer)
        elif isinstance(want, int):
            check(st == want, answer)
        elif want == "bad":
            try:
                json.loads(body)
                check(False, answer + " is not JSON")
            except ValueError:
                pass
        else:
            check(json.loads(body)["data"]["user"]["roomId"] == "", answer)
    check(not f.violations(), "no violation so far: %s" % f.violations())
    get(f.web, lookup_path("bob"), ref)
    await f.next("violation", what="lookup_no_ttwid")
    f.events = [e for e in f.events if e["ev"] != "violation"]

    # a refused handshake
    await f.cmd(cmd="refuse", n=1)
    room = "7301000000000000001"
    hdrs = {"Cookie": "ttwid=" + tw, "Referer": "https://www.tiktok.com/",
            "Accept-Language": "en-US,en;q=0.9"}
    try:
        async with websockets.connect(ws_url(f.ws, room), extra_headers=hdrs,
                                      origin="https://www.tiktok.com", user_agent_header=UA):
            check(False, "the refused handshake was accepted")
    except websockets.InvalidStatusCode as ex:
        check(ex.status_code == 415 and ex.headers.get("Handshake-Msg") == "DEVICE_BLOCKED",
              "refusal carries Handshake-Msg")
    await f.next("ws_refused")

    # a proper session with a fresh ttwid
    _, hd, _ = get(f.web, "/", {"User-Agent": UA})
    tw2 = ttwid_of(hd)
    hdrs["Cookie"] = "ttwid=" + tw2
    async with websockets.connect(ws_url(f.ws, room), extra_headers=hdrs,
                                  origin="https://www.tiktok.com", user_agent_header=UA) as ws:
        await f.next("ws_connect")
        await ws.send(pb.PushFrame(payload_encoding="pb", payload_type="hb",
                                   payload=pb.Heartbeat(room_id=int(room)).SerializeToString())
                      .SerializeToString())
        await ws.send(pb.PushFrame(payload_encoding="pb", payload_type="im_enter_room",
                                   payload=pb.ImEnterRoom(room_id=int(room), live_id=12,
                                                          identity="audience",
                                                          filter_welcome_msg="0")
                                   .SerializeToString()).SerializeToString())
        await f.next("hb")
        e = await f.next("enter")
        check(e["after_hb"] and e["room_id"] == room, "enter after hb")
        types = set()
        for _ in range(2):
            fr = pb.PushFrame()
            fr.ParseFromString(await asyncio.wait_for(ws.recv(), 5))
            types.add(fr.payload_type)
        check(types == {"hb", "im_enter_room_resp"}, "hb reply and enter response: %s" % types)

        async def one_msg():
            fr = pb.PushFrame()
            fr.ParseFromString(await asyncio.wait_for(ws.recv(), 5))
            check(fr.payload_type == "msg", "msg frame")
            p = fr.payload
            gz = fr.headers.get("compress_type") == "gzip" or p[:2] == b"\x1f\x8b"
            if gz:
                p = gzip.decompress(p)
            res = pb.FetchResult()
            res.ParseFromString(p)
            return fr, res, gz

        await f.cmd(cmd="chat", msg_id=11, nickname="Ann", unique_id="ann", comment="hi there",
                    need_ack=True, internal_ext="ext-1")
        fr, res, gz = await one_msg()
        check(gz and fr.headers["compress_type"] == "gzip", "gzip with header")
        check(res.need_ack and res.internal_ext == "ext-1", "need_ack")
        m = res.messages[0]
        chat = pb.WebcastChatMessage()
        chat.ParseFromString(m.payload)
        check(m.method == "WebcastChatMessage" and m.msg_id == 11 and chat.comment == "hi there"
              and chat.user.nickname == "Ann" and chat.user.unique_id == "ann"
              and chat.common.room_id == int(room), "chat content")
        check(fr.log_id > 2 ** 53, "log ids above 2^53")
        await ws.send(pb.PushFrame(log_id=fr.log_id, payload_encoding="pb", payload_type="ack",
                                   payload=b"ext-1").SerializeToString())
        e = await f.next("ack")
        check(e["ok"] and e["log_id"] == str(fr.log_id), "ack accepted")

        await f.cmd(cmd="gift", msg_id=12, nickname="", unique_id="bo", group_id=99,
                    repeat_count=3, repeat_end=1, gzip="magic")
        fr, res, gz = await one_msg()
        g = pb.WebcastGiftMessage()
        g.ParseFromString(res.messages[0].payload)
        check(gz and "compress_type" not in fr.headers, "gzip by magic only")
        check(g.repeat_count == 3 and g.repeat_end == 1 and g.group_id == 99 and g.gift.type == 1
              and g.gift.name == "Rose", "gift content")
        await f.cmd(cmd="control", msg_id=13, action=3, gzip="none")
        fr, res, gz = await one_msg()
        c = pb.WebcastControlMessage()
        c.ParseFromString(res.messages[0].payload)
        check(not gz and c.action == 3, "plain control")
        await f.cmd(cmd="garbage", hex="0a0b0c")
        check(await asyncio.wait_for(ws.recv(), 5) == b"\x0a\x0b\x0c", "garbage bytes")

        # mistakes the fake must flag
        await ws.send(pb.PushFrame(log_id=5, payload_encoding="pb", payload_type="ack",
                                   payload=b"x").SerializeToString())
        await f.next("violation", what="ack_unexpected")
        await ws.send(pb.PushFrame(payload_encoding="json", payload_type="hb",
                                   payload=pb.Heartbeat(room_id=int(room)).SerializeToString())
                      .SerializeToString())
        await f.next("violation", what="payload_encoding")
        await ws.send(pb.PushFrame(payload_encoding="pb", payload_type="nonsense")
                      .SerializeToString())
        await f.next("violation", what="payload_type")
        await f.cmd(cmd="close", code=1000)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed:
            pass
        await f.next("ws_close", by="fake")

    # the same ttwid again is flagged
    try:
        async with websockets.connect(ws_url(f.ws, room), extra_headers=hdrs,
                                      origin="https://www.tiktok.com", user_agent_header=UA):
            pass
    except websockets.WebSocketException:
        pass
    await f.next("violation", what="ws_ttwid_reused")
    await f.cmd(cmd="quit")
    f.p.wait(5)
    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        sys.exit(1)
    print("fake_tiktok self-test: ok")


if __name__ == "__main__":
    asyncio.run(main())
