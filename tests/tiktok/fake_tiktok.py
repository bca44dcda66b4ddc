#!/usr/bin/python3
"""A fake TikTok LIVE for the connector's end-to-end tests (issue 10, part 5).

It follows the public web protocol as docs/tiktok.md and issue 10 describe it:

  web base (plain HTTP)
    GET /                           200 (or a redirect) with Set-Cookie: ttwid=<fresh random>
    GET /api-live/user/room?...&uniqueId=NAME
                                    TikTok-shaped JSON, scripted per user
  push socket (WebSocket)
    /webcast/im/ws_proxy/ws_reuse_supplement/?...&room_id=ID
                                    binary PushFrame messages both ways

Protobuf comes from classes that protoc generates at start-up from
schema/tiktok/webcast.proto (into a temporary directory), so the bytes on the
wire are made and read by Google's Python protobuf, not by our C code.

Run with Debian's /usr/bin/python3 (python3-websockets 10.4, python3-protobuf).
The first stdout line is

  READY web=http://127.0.0.1:P ws=ws://127.0.0.1:Q

then one compact JSON object per line for each thing it sees or does
({"ev":"lookup",...}, {"ev":"hb",...}, {"ev":"violation",...}, ...). The test
scripts it over stdin, one JSON command per line; each command is answered by
{"ev":"done","cmd":NAME,...} once it has been carried out (frames written to
the sockets), or {"ev":"bad_command",...}. See COMMANDS below.

A "violation" line means the client broke the protocol as the fake knows it
(a wrong frame type, payload_encoding other than "pb", a missing header, an
ack that matches no pushed frame, a reused ttwid, ...): tests fail on them.
"""

import argparse
import asyncio
import base64
import gzip
import http
import importlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import websockets
import websockets.server

COMMANDS = """
{"cmd":"user","name":N,"answer":A,"room_id":"7301..."}   how GET /api-live/user/room answers for N:
    live          statusCode 0, data.user.roomId = room_id, user.status 2, liveRoom.status 2
    live_user     the same without data.liveRoom (the user's status alone says live)
    offline       roomId "", status 4
    offline_zero  roomId "0", status 4
    status4       roomId = room_id (a stale room), status 4 (ended)
    unknown       statusCode 19881007 (the default for a user never set)
    error         statusCode 10011 (any other code: an error)
    http403 http429 http500   that HTTP status, an HTML body
    garbage       200 with a body that is not JSON
    empty         200 with an empty body
{"cmd":"root","status":200|302}          GET / answers 200 (default) or a redirect (cookie set either way)
{"cmd":"refuse","n":K,"msg":"DEVICE_BLOCKED","status":415}   refuse the next K handshakes
                                         (with that Handshake-Msg; "msg":"" sends none)
{"cmd":"hb_reply","on":true|false}       answer the client's heartbeats with "hb" frames (default on)
{"cmd":"chat","msg_id":I,"nickname":S,"unique_id":S,"user_id":I,"comment":S, FRAME OPTIONS}
{"cmd":"gift","msg_id":I,"nickname":S,"unique_id":S,"user_id":I,"gift_id":I,"name":S,"type":1,
              "group_id":I,"repeat_count":I,"repeat_end":0|1, FRAME OPTIONS}
{"cmd":"control","msg_id":I,"action":3, FRAME OPTIONS}
{"cmd":"other","msg_id":I,"method":"WebcastMemberMessage","payload_hex":"...", FRAME OPTIONS}
{"cmd":"push","messages":[{"kind":"chat",...},{"kind":"gift",...},...], FRAME OPTIONS}
    FRAME OPTIONS: "gzip":"header" (default: gzip, compress_type=gzip) | "magic" (gzip, no header)
                   | "none" (plain); "need_ack":true,"internal_ext":S; "log_id":I; "room_id":ID
                   (only the sockets of that room; default every open socket)
{"cmd":"frame","payload_type":S,"payload_hex":"..."}   a frame of another payload type
{"cmd":"bomb","mb":5}                    a gzip msg frame that inflates to 5 MiB of zeros
{"cmd":"big","kb":1536}                  a plain msg frame of that size (random bytes)
{"cmd":"garbage","hex":"..."}            a binary WebSocket message of these raw bytes
{"cmd":"text","data":S}                  a text WebSocket message
{"cmd":"close","code":1000}              closes every open socket ("abort":true drops the TCP connection)
{"cmd":"state"}                          {"ev":"state",...}: counts and open sockets
{"cmd":"quit"}
"""

UA_NEEDLE = "Mozilla/5.0"
TIKTOK = "https://www.tiktok.com"

# The push socket's query parameters that every attempt must carry, with the
# value when it is fixed (None: present, any value).
WS_PARAMS = {
    "version_code": "180800", "device_platform": "web", "cookie_enabled": "true",
    "screen_width": None, "screen_height": None, "browser_language": None,
    "browser_platform": None, "browser_name": None, "browser_version": None,
    "browser_online": None, "tz_name": None, "app_name": "tiktok_web",
    "sup_ws_ds_opt": "1", "update_version_code": None, "compress": "gzip",
    "webcast_language": None, "ws_direct": "1", "aid": "1988", "live_id": "12",
    "app_language": None, "client_enter": "1", "room_id": None, "identity": "audience",
    "history_comment_count": None, "last_rtt": None, "heartbeat_duration": None,
    "resp_content_type": "protobuf", "did_rule": "3",
}
LOOKUP_PARAMS = {"aid": "1988", "app_name": "tiktok_web", "device_platform": "web_pc",
                 "app_language": "en", "browser_language": "en-US", "region": "US",
                 "user_is_login": "false", "uniqueId": None, "sourceType": "54",
                 "staleTime": "600000"}


def emit(ev, **kw):
    d = {"ev": ev}
    d.update(kw)
    sys.stdout.write(json.dumps(d, separators=(",", ":"), ensure_ascii=False) + "\n")
    sys.stdout.flush()


VIOLATIONS = [0]


def ttwid_in(cookie):
    """The ttwid of a Cookie header ("" when absent)."""
    for part in cookie.split(";"):
        part = part.strip()
        if part.startswith("ttwid="):
            return part[6:]
    return ""


def violation(what, **kw):
    VIOLATIONS[0] += 1
    emit("violation", what=what, **kw)


def load_pb(schema):
    """protoc --python_out into a temporary dir; returns the webcast_pb2 module."""
    out = tempfile.mkdtemp(prefix="fake-tiktok-pb-")
    inc = os.path.dirname(os.path.dirname(os.path.abspath(schema)))  # .../schema
    rel = os.path.relpath(os.path.abspath(schema), inc)
    subprocess.run(["protoc", "-I", inc, "--python_out=" + out, rel], check=True)
    sys.path.insert(0, out)
    mod = importlib.import_module(rel[:-len(".proto")].replace("/", ".") + "_pb2")
    return mod


class Fake:
    def __init__(self, pb):
        self.pb = pb
        self.users = {}          # name -> (answer, room_id)
        self.root_status = 200
        self.refuse_left = 0
        self.refuse_msg = "DEVICE_BLOCKED"
        self.refuse_status = 415
        self.hb_reply = True
        self.issued = set()      # ttwid values handed out
        self.used = set()        # ttwid values a push socket attempt carried
        self.rooms = set()       # room ids handed out as live
        self.conns = {}          # id -> Conn
        self.next_conn = 0
        self.next_log = 7301000000000000000  # above 2^53 on purpose
        self.next_seq = 1
        self.counts = {"root": 0, "lookup": 0, "ws_attempt": 0, "ws_open": 0, "refused": 0,
                       "hb": 0, "enter": 0, "ack": 0}

    # ---------------------------------------------------------------- web base

    def ttwid(self):
        v = "1%7C" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=") + \
            "%7C" + str(int(time.time())) + "%7C" + secrets.token_hex(32)
        self.issued.add(v)
        return v

    async def http_conn(self, reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, _ = lines[0].split(" ", 2)
        except ValueError:
            writer.close()
            return
        hdr = {}
        for ln in lines[1:]:
            if ":" in ln:
                k, v = ln.split(":", 1)
                hdr[k.strip().lower()] = v.strip()
        status, headers, body = self.web(method, target, hdr)
        reason = http.HTTPStatus(status).phrase
        out = "HTTP/1.1 %d %s\r\n" % (status, reason)
        for k, v in headers:
            out += "%s: %s\r\n" % (k, v)
        out += "Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
        writer.write(out.encode("latin-1") + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        writer.close()

    def web(self, method, target, hdr):
        u = urllib.parse.urlsplit(target)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        cookie = hdr.get("cookie", "")
        ua = hdr.get("user-agent", "")
        if method != "GET":
            violation("web_method", method=method, path=u.path)
            return 405, [], b""
        if UA_NEEDLE not in ua:
            violation("web_user_agent", path=u.path, user_agent=ua)
        if u.path == "/":
            self.counts["root"] += 1
            v = self.ttwid()
            emit("root", cookie=cookie, ttwid=v)
            headers = [("Content-Type", "text/html; charset=utf-8"),
                       ("Set-Cookie", "tt_csrf_token=%s; path=/; SameSite=Lax; Secure; HttpOnly"
                        % secrets.token_hex(8)),
                       ("Set-Cookie", "ttwid=%s; Path=/; Domain=tiktok.com; Max-Age=31536000; "
                        "HttpOnly; Secure; SameSite=None" % v),
                       ("Set-Cookie", "tt_chain_token=%s; path=/; Max-Age=15552000"
                        % secrets.token_hex(8))]
            if self.root_status in (301, 302, 303, 307, 308):
                headers.append(("Location", "/explore"))
                return self.root_status, headers, b""
            return 200, headers, b"<!DOCTYPE html><html><body>fake tiktok</body></html>"
        if u.path == "/api-live/user/room":
            return self.lookup(q, hdr, cookie)
        violation("web_path", path=u.path)
        emit("web_other", path=u.path)
        return 404, [("Content-Type", "text/plain")], b"not found"

    def lookup(self, q, hdr, cookie):
        self.counts["lookup"] += 1
        name = q.get("uniqueId", "")
        for k, want in LOOKUP_PARAMS.items():
            if k not in q or (want is not None and q[k] != want):
                violation("lookup_param", param=k, got=q.get(k))
        if not hdr.get("referer", "").startswith(TIKTOK):
            violation("lookup_referer", got=hdr.get("referer", ""))
        ttwid = ttwid_in(cookie)
        if not ttwid:
            violation("lookup_no_ttwid", cookie=cookie)
        elif ttwid not in self.issued:
            violation("lookup_unknown_ttwid", ttwid=ttwid)
        answer, room = self.users.get(name.lower(), ("unknown", ""))
        emit("lookup", user=name, cookie=cookie, answer=answer, room_id=room)
        js = [("Content-Type", "application/json; charset=utf-8")]

        def user(room_id, st):
            return {"id": "6800000000000000001", "uniqueId": name, "nickname": name.title(),
                    "roomId": room_id, "secUid": "MS4wLjABAAAA" + name, "status": st}

        if answer in ("live", "live_user"):
            d = {"user": user(room, 2)}
            if answer == "live":
                d["liveRoom"] = {"status": 2, "title": "fake live", "startTime": int(time.time()),
                                 "liveRoomStats": {"userCount": 17}}
            body = {"data": d, "extra": {"now": int(time.time() * 1000)}, "message": "",
                    "statusCode": 0}
        elif answer in ("offline", "offline_zero", "status4"):
            rid = {"offline": "", "offline_zero": "0", "status4": room}[answer]
            body = {"data": {"user": user(rid, 4), "liveRoom": {"status": 4}}, "message": "",
                    "statusCode": 0}
        elif answer == "unknown":
            body = {"data": {}, "message": "user_not_found", "statusCode": 19881007}
        elif answer == "error":
            body = {"data": {}, "message": "params_error", "statusCode": 10011}
        elif answer.startswith("http"):
            st = int(answer[4:])
            return st, [("Content-Type", "text/html")], b"<html><body>blocked</body></html>"
        elif answer == "garbage":
            return 200, js, b"<html>this is not json {\"statusCode\":0"
        elif answer == "empty":
            return 200, js, b""
        else:
            body = {"statusCode": 10000, "message": "fake: unknown answer " + answer}
        return 200, js, json.dumps(body).encode()

    # ------------------------------------------------------------ push socket

    def process_request(self, path, headers):
        """Runs before the upgrade: refusals and the checks of the request."""
        u = urllib.parse.urlsplit(path)
        if u.path != "/webcast/im/ws_proxy/ws_reuse_supplement/":
            violation("ws_path", path=u.path)
            return http.HTTPStatus.NOT_FOUND, [], b"not found\n"
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        self.counts["ws_attempt"] += 1
        cookie = headers.get("Cookie", "")
        ttwid = ttwid_in(cookie)
        if not ttwid:
            violation("ws_no_ttwid", cookie=cookie)
        elif ttwid not in self.issued:
            violation("ws_unknown_ttwid", ttwid=ttwid)
        elif ttwid in self.used:
            violation("ws_ttwid_reused", ttwid=ttwid)
        self.used.add(ttwid)
        for k, want in WS_PARAMS.items():
            if k not in q or (want is not None and q[k] != want):
                violation("ws_param", param=k, got=q.get(k))
        if q.get("room_id", "") not in self.rooms:
            violation("ws_room", room_id=q.get("room_id", ""))
        for h in ("Origin", "Referer"):
            if not headers.get(h, "").startswith(TIKTOK):
                violation("ws_header", header=h, got=headers.get(h, ""))
        if UA_NEEDLE not in headers.get("User-Agent", ""):
            violation("ws_header", header="User-Agent", got=headers.get("User-Agent", ""))
        if not headers.get("Accept-Language"):
            violation("ws_header", header="Accept-Language", got="")
        if self.refuse_left > 0:
            self.refuse_left -= 1
            self.counts["refused"] += 1
            emit("ws_refused", room_id=q.get("room_id", ""), cookie=cookie, msg=self.refuse_msg,
                 status=self.refuse_status)
            hdrs = [("Handshake-Msg", self.refuse_msg), ("Handshake-Status", "403")] \
                if self.refuse_msg else []
            return http.HTTPStatus(self.refuse_status), hdrs, b""
        return None

    async def ws_conn(self, ws):
        self.next_conn += 1
        cid = self.next_conn
        u = urllib.parse.urlsplit(ws.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        conn = Conn(cid, ws, q.get("room_id", ""))
        self.conns[cid] = conn
        self.counts["ws_open"] += 1
        emit("ws_connect", conn=cid, room_id=conn.room, cookie=ws.request_headers.get("Cookie", ""),
             subprotocol=ws.subprotocol or "", query=u.query)
        code = None
        try:
            async for data in ws:
                self.client_frame(conn, data)
        except websockets.ConnectionClosed:
            pass
        finally:
            code = ws.close_code
            del self.conns[cid]
            emit("ws_close", conn=cid, room_id=conn.room, code=code,
                 by="fake" if conn.closing else "client")

    def client_frame(self, conn, data):
        pb = self.pb
        if isinstance(data, str):
            violation("text_frame", conn=conn.id)
            return
        f = pb.PushFrame()
        try:
            f.ParseFromString(data)
        except Exception as e:  # noqa: BLE001 - any decode failure is the client's
            violation("frame_decode", conn=conn.id, error=str(e), hex=data[:64].hex())
            return
        if f.payload_encoding != "pb":
            violation("payload_encoding", conn=conn.id, got=f.payload_encoding,
                      payload_type=f.payload_type)
        t = f.payload_type
        conn.frames += 1
        if t == "hb":
            hb = pb.Heartbeat()
            try:
                hb.ParseFromString(f.payload)
            except Exception:  # noqa: BLE001
                violation("hb_decode", conn=conn.id)
                return
            self.counts["hb"] += 1
            conn.hbs += 1
            emit("hb", conn=conn.id, room_id=str(hb.room_id), n=conn.hbs)
            if str(hb.room_id) != conn.room:
                violation("hb_room", conn=conn.id, got=str(hb.room_id), want=conn.room)
            if self.hb_reply:
                r = pb.PushFrame(payload_encoding="pb", payload_type="hb",
                                 payload=pb.Heartbeat(room_id=hb.room_id).SerializeToString())
                conn.send(r.SerializeToString())
        elif t == "im_enter_room":
            e = pb.ImEnterRoom()
            try:
                e.ParseFromString(f.payload)
            except Exception:  # noqa: BLE001
                violation("enter_decode", conn=conn.id)
                return
            self.counts["enter"] += 1
            conn.enters += 1
            emit("enter", conn=conn.id, room_id=str(e.room_id), live_id=e.live_id,
                 identity=e.identity, after_hb=conn.hbs > 0)
            if conn.hbs == 0:
                violation("enter_before_hb", conn=conn.id)
            if str(e.room_id) != conn.room:
                violation("enter_room", conn=conn.id, got=str(e.room_id), want=conn.room)
            if e.live_id != 12 or e.identity != "audience":
                violation("enter_fields", conn=conn.id, live_id=e.live_id, identity=e.identity)
            resp = pb.FetchResult(cursor="c-%d" % conn.id, fetch_interval=1000,
                                  now=int(time.time() * 1000), is_first=True,
                                  heartbeat_duration=10000)
            conn.send(pb.PushFrame(seq_id=self.seq(), log_id=self.log(), payload_encoding="pb",
                                   payload_type="im_enter_room_resp",
                                   payload=resp.SerializeToString()).SerializeToString())
        elif t == "ack":
            self.counts["ack"] += 1
            want = conn.pending.pop(f.log_id, None)
            ok = want is not None and want.encode() == f.payload
            emit("ack", conn=conn.id, log_id=str(f.log_id), payload=f.payload.decode("utf-8", "replace"),
                 ok=ok)
            if want is None:
                violation("ack_unexpected", conn=conn.id, log_id=str(f.log_id))
            elif not ok:
                violation("ack_payload", conn=conn.id, log_id=str(f.log_id),
                          got=f.payload.decode("utf-8", "replace"), want=want)
        else:
            violation("payload_type", conn=conn.id, got=t)

    def seq(self):
        self.next_seq += 1
        return self.next_seq

    def log(self):
        self.next_log += 7
        return self.next_log

    # ------------------------------------------------------------ pushes

    def user_pb(self, m):
        u = self.pb.User(id=int(m.get("user_id", 6800000000000000000 + len(m.get("unique_id", "")))),
                         nickname=m.get("nickname", ""), unique_id=m.get("unique_id", ""))
        return u

    def message(self, m, room):
        pb = self.pb
        kind = m.get("kind", "chat")
        mid = int(m.get("msg_id", 0))
        methods = {"chat": "WebcastChatMessage", "gift": "WebcastGiftMessage",
                   "control": "WebcastControlMessage"}
        method = m.get("method", methods.get(kind, "WebcastMemberMessage"))
        common = pb.Common(method=method, msg_id=mid, room_id=int(room or 0),
                           create_time=int(time.time() * 1000))
        if kind == "chat":
            p = pb.WebcastChatMessage(common=common, user=self.user_pb(m),
                                      comment=m.get("comment", ""), content_language="en")
        elif kind == "gift":
            gtype = int(m.get("type", 1))
            gid = int(m.get("gift_id", 5655))
            gift = pb.Gift(id=gid, name=m.get("name", "Rose"), type=gtype, combo=gtype == 1,
                           diamond_count=int(m.get("diamonds", 1)),
                           describe="sent " + m.get("name", "Rose"))
            p = pb.WebcastGiftMessage(common=common, gift_id=gid,
                                      repeat_count=int(m.get("repeat_count", 1)),
                                      combo_count=int(m.get("repeat_count", 1)),
                                      user=self.user_pb(m),
                                      to_user=pb.User(id=1, nickname="Streamer", unique_id="streamer"),
                                      repeat_end=int(m.get("repeat_end", 0)),
                                      group_id=int(m.get("group_id", 0)), gift=gift,
                                      log_id=str(m.get("gift_log_id", "")))
        elif kind == "control":
            p = pb.WebcastControlMessage(common=common, action=int(m.get("action", 3)),
                                         tips=m.get("tips", "The LIVE has ended"))
        else:
            return pb.Message(method=method, payload=bytes.fromhex(m.get("payload_hex", "")),
                              msg_id=mid)
        return pb.Message(method=method, payload=p.SerializeToString(), msg_id=mid)

    def targets(self, c):
        room = c.get("room_id")
        return [x for x in self.conns.values() if room is None or x.room == str(room)]

    def push(self, c, msgs):
        pb = self.pb
        sent = []
        for conn in self.targets(c):
            fr = pb.FetchResult(messages=[self.message(m, conn.room) for m in msgs],
                                cursor="c-%d-%d" % (conn.id, self.next_seq),
                                fetch_interval=1000, now=int(time.time() * 1000),
                                heartbeat_duration=10000)
            ext = c.get("internal_ext", "")
            if c.get("need_ack"):
                fr.need_ack = True
                fr.internal_ext = ext or "internal_src:webcast|wss_push_room_id:%s|wss_push_did:0" % conn.room
            payload = fr.SerializeToString()
            mode = c.get("gzip", "header")
            headers = {}
            if mode == "header":
                payload = gzip.compress(payload)
                headers["compress_type"] = "gzip"
            elif mode == "magic":
                payload = gzip.compress(payload)
            elif mode == "none":
                headers["compress_type"] = "none"
            log_id = int(c.get("log_id", 0)) or self.log()
            frame = pb.PushFrame(seq_id=self.seq(), log_id=log_id, service=5, method=8,
                                 payload_encoding="pb", payload_type="msg", payload=payload)
            for k, v in headers.items():
                frame.headers[k] = v
            frame.headers["im-cursor"] = fr.cursor
            if fr.need_ack:
                conn.pending[log_id] = fr.internal_ext
            conn.send(frame.SerializeToString())
            sent.append({"conn": conn.id, "log_id": str(log_id)})
        return sent

    async def command(self, c):
        name = c.get("cmd")
        extra = {}
        if name == "user":
            answer = c.get("answer", "live")
            room = str(c.get("room_id", ""))
            self.users[c["name"].lower().lstrip("@")] = (answer, room)
            if answer in ("live", "live_user") and room:
                self.rooms.add(room)
        elif name == "root":
            self.root_status = int(c.get("status", 200))
        elif name == "refuse":
            self.refuse_left = int(c.get("n", 1))
            self.refuse_msg = c.get("msg", "DEVICE_BLOCKED")
            self.refuse_status = int(c.get("status", 415))
        elif name == "hb_reply":
            self.hb_reply = bool(c.get("on", True))
        elif name in ("chat", "gift", "control", "other"):
            m = dict(c)
            m["kind"] = name
            extra["sent"] = self.push(c, [m])
        elif name == "push":
            extra["sent"] = self.push(c, c.get("messages", []))
        elif name == "frame":
            n = 0
            for conn in self.targets(c):
                conn.send(self.pb.PushFrame(seq_id=self.seq(), log_id=self.log(),
                                            payload_encoding="pb",
                                            payload_type=c.get("payload_type", "xyz"),
                                            payload=bytes.fromhex(c.get("payload_hex", "")))
                          .SerializeToString())
                n += 1
            extra["n"] = n
        elif name == "bomb":
            # a msg frame whose gzip payload inflates to mb MiB of zeros
            data = gzip.compress(b"\0" * (int(c.get("mb", 5)) << 20), 9)
            n = 0
            for conn in self.targets(c):
                fr = self.pb.PushFrame(seq_id=self.seq(), log_id=self.log(), payload_encoding="pb",
                                       payload_type="msg", payload=data)
                fr.headers["compress_type"] = "gzip"
                conn.send(fr.SerializeToString())
                n += 1
            extra["n"] = n
            extra["bytes"] = len(data)
        elif name == "big":
            # a msg frame of kb KiB (an "other" message of random bytes, plain)
            pad = secrets.token_bytes(int(c.get("kb", 1536)) << 10)
            fr = self.pb.FetchResult(messages=[self.pb.Message(method="WebcastMemberMessage",
                                                               payload=pad, msg_id=1)])
            n = 0
            for conn in self.targets(c):
                conn.send(self.pb.PushFrame(seq_id=self.seq(), log_id=self.log(),
                                            payload_encoding="pb", payload_type="msg",
                                            payload=fr.SerializeToString()).SerializeToString())
                n += 1
            extra["n"] = n
        elif name == "garbage":
            n = 0
            for conn in self.targets(c):
                conn.send(bytes.fromhex(c.get("hex", "ffffffffffffffffff0a")))
                n += 1
            extra["n"] = n
        elif name == "text":
            for conn in self.targets(c):
                conn.send(c.get("data", "hello"))
        elif name == "close":
            conns = self.targets(c)
            for conn in conns:
                conn.closing = True
                if c.get("abort"):
                    conn.ws.transport.abort()
                else:
                    await conn.ws.close(code=int(c.get("code", 1000)), reason="fake closes")
            extra["n"] = len(conns)
        elif name == "state":
            emit("state", conns=[{"conn": x.id, "room_id": x.room, "hb": x.hbs} for x in
                                 self.conns.values()], **dict(self.counts, violation=VIOLATIONS[0]))
        elif name == "quit":
            emit("done", cmd=name)
            raise SystemExit(0)
        else:
            emit("bad_command", got=c)
            return
        # let the writes reach the sockets before saying done
        for conn in list(self.conns.values()):
            await conn.flush()
        emit("done", cmd=name, **extra)


class Conn:
    def __init__(self, cid, ws, room):
        self.id = cid
        self.ws = ws
        self.room = room
        self.hbs = 0
        self.enters = 0
        self.frames = 0
        self.pending = {}   # log_id -> internal_ext awaiting an ack
        self.closing = False
        self.tasks = []

    def send(self, data):
        self.tasks.append(asyncio.ensure_future(self._send(data)))

    async def _send(self, data):
        try:
            await self.ws.send(data)
        except websockets.ConnectionClosed:
            pass

    async def flush(self):
        t, self.tasks = self.tasks, []
        if t:
            await asyncio.gather(*t, return_exceptions=True)


class Protocol(websockets.server.WebSocketServerProtocol):
    """Echoes the first subprotocol the client offers, if any."""

    def select_subprotocol(self, client_subprotocols, server_subprotocols):
        return client_subprotocols[0] if client_subprotocols else None


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--schema", default=os.path.join(here, "..", "..", "schema", "tiktok",
                                                     "webcast.proto"))
    ap.add_argument("--help-commands", action="store_true")
    a = ap.parse_args()
    if a.help_commands:
        print(COMMANDS)
        return
    fake = Fake(load_pb(a.schema))
    web = await asyncio.start_server(fake.http_conn, "127.0.0.1", 0)
    wsrv = await websockets.serve(fake.ws_conn, "127.0.0.1", 0,
                                  process_request=fake.process_request,
                                  create_protocol=Protocol, compression=None,
                                  ping_interval=None, max_size=1 << 20)
    wport = web.sockets[0].getsockname()[1]
    sport = next(iter(wsrv.sockets)).getsockname()[1]
    print("READY web=http://127.0.0.1:%d ws=ws://127.0.0.1:%d" % (wport, sport), flush=True)

    loop = asyncio.get_running_loop()
    q = asyncio.Queue()

    def reader():
        for line in sys.stdin:
            loop.call_soon_threadsafe(q.put_nowait, line)
        loop.call_soon_threadsafe(q.put_nowait, None)

    threading.Thread(target=reader, daemon=True).start()
    while True:
        line = await q.get()
        if line is None:
            break
        line = line.strip()
        if not line:
            continue
        try:
            c = json.loads(line)
        except ValueError:
            emit("bad_command", got=line)
            continue
        try:
            await fake.command(c)
        except SystemExit:
            break
        except Exception as e:  # noqa: BLE001 - report, keep serving
            emit("bad_command", got=c, error=repr(e))
    wsrv.close()
    web.close()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
