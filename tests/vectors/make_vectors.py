#!/usr/bin/python3
"""Test vectors of the TTBoost v1 schema: for every case below, NAME.pb holds
the protobuf bytes made by protobuf's reference implementation (Python, from
`protoc --python_out` on schema/), and NAME.json the TTBoost JSON of the same
message, written by this script's own implementation of the mapping
(docs/protocol/json.md). The C codecs of both flavours are tested against
both files in both directions (tests/codec/test_vectors.c).

    /usr/bin/python3 tests/vectors/make_vectors.py          # write the files
    /usr/bin/python3 tests/vectors/make_vectors.py --check  # compare, exit 1 on a difference

--check also decodes every committed .pb with the Python classes, which is
what an integrator in another language does with the schema.
Needs protoc and Debian's python3-protobuf (run with /usr/bin/python3).
"""
import base64
import collections
import importlib
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCHEMA = os.path.join(ROOT, "schema")


def load_modules(tmp):
    protos = ["ttboost/options.proto"] + sorted(
        "ttboost/v1/" + f for f in os.listdir(os.path.join(SCHEMA, "ttboost/v1")) if f.endswith(".proto"))
    subprocess.run(["protoc", "-I", SCHEMA, "-I", "/usr/include", "--python_out", tmp] + protos, check=True)
    sys.path.insert(0, tmp)
    mods = {}
    for name in ["auth", "tts", "events", "ingest", "trace"]:
        mods[name] = importlib.import_module("ttboost.v1.%s_pb2" % name)
    opts = importlib.import_module("ttboost.options_pb2")
    return mods, opts


# ---------------------------------------------------------------- the mapping

def to_json(msg, opts):
    """TTBoost JSON of msg: an ordered dict, per docs/protocol/json.md."""
    from google.protobuf.descriptor import FieldDescriptor as FD
    d = collections.OrderedDict()
    desc = msg.DESCRIPTOR
    flat = None
    for o in desc.oneofs:
        if o.GetOptions().Extensions[opts.json_discriminator]:
            flat = o
    if flat is not None:
        which = msg.WhichOneof(flat.name)
        if which:
            f = desc.fields_by_name[which]
            tag = f.GetOptions().Extensions[opts.json_tag] or f.name
            d[flat.GetOptions().Extensions[opts.json_discriminator]] = tag
            d.update(to_json(getattr(msg, which), opts))

    def value(f, v):
        if f.type == FD.TYPE_MESSAGE:
            return to_json(v, opts)
        if f.type == FD.TYPE_BYTES:
            return base64.b64encode(v).decode("ascii")
        if f.type == FD.TYPE_ENUM:
            ev = f.enum_type.values_by_number.get(v)
            return ev.name if ev else v
        if f.type == FD.TYPE_BOOL:
            return bool(v)
        return v

    for f in desc.fields:
        if flat is not None and f.containing_oneof is flat:
            continue
        if f.containing_oneof is not None:
            if msg.WhichOneof(f.containing_oneof.name) == f.name:
                d[f.name] = value(f, getattr(msg, f.name))
            continue
        if f.label == FD.LABEL_REPEATED:
            d[f.name] = [value(f, v) for v in getattr(msg, f.name)]
            continue
        if f.type == FD.TYPE_MESSAGE:
            if msg.HasField(f.name):
                d[f.name] = value(f, getattr(msg, f.name))
            continue
        v = getattr(msg, f.name)
        if f.GetOptions().Extensions[opts.json_omit_default] and v == f.default_value:
            continue
        d[f.name] = value(f, v)
    return d


def dumps(d):
    return json.dumps(d, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------- the vectors

LONG_USER = "ж" * 64                  # 128 bytes: the bound of user
LONG_MESSAGE = "🔥" * 256             # 1024 bytes: the bound of message
LONG_URL = "https://server.com/tts/" + "a" * (512 - 23)
U64_MAX = 2**64 - 1
U32_MAX = 2**32 - 1

# (name, module, message, proto3-JSON form as protobuf's json_format reads it)
VECTORS = [
    ("login_request", "auth", "LoginRequest", {"license_key": "TTB-7Q2M-K9XD-4RPA-WZ3H-8N6C"}),
    ("login_request_device", "auth", "LoginRequest",
     {"license_key": "TTB-7Q2M-K9XD-4RPA-WZ3H-8N6C", "device_id": "pixel-8-3f2a"}),
    ("login_request_empty", "auth", "LoginRequest", {}),
    ("login_response", "auth", "LoginResponse",
     {"status": "ok", "user_id": "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f",
      "ws_token": "b71c9e42-58d3-4a0f-8e6b-c2d94f1a7e05"}),
    ("logout_response", "auth", "LogoutResponse", {"status": "ok"}),
    ("error_response", "auth", "ErrorResponse",
     {"status": "error", "error": "unknown_key", "message": "This license key is not known. Check it and try again."}),
    ("tts_request_ru", "tts", "TtsRequest", {"text": "Аружан: Привет всем!"}),
    ("tts_request_kk", "tts", "TtsRequest", {"text": "Сәлеметсіз бе! Қалайсыз?", "voice": "kk"}),
    ("tts_response", "tts", "TtsResponse", {"url": "http://127.0.0.1:8080/tts/5d41402abc4b2a76b9719d911017c592.ogg"}),
    ("chat_spec", "events", "ServerMessage",
     {"seq": "1", "chat": {"user": "Aruka", "message": "Привет!", "tts_url": "https://server.com/tts/abc123.mp3"}}),
    ("chat_kazakh", "events", "ServerMessage",
     {"seq": "2", "chat": {"user": "Әсел", "message": "Сәлем, қалайсың? Ұлы дала!", "tts_url": ""}}),
    ("chat_emoji", "events", "ServerMessage",
     {"seq": "3", "chat": {"user": "Ａｒｕｋａ✨", "message": "🔥🔥 лайк 👍🏽 👨‍👩‍👧", "tts_url": "https://x/tts/e.ogg"}}),
    ("chat_escapes", "events", "ServerMessage",
     {"seq": "4", "chat": {"user": "q\"uote\\back/slash",
                           "message": "line1\nline2\ttab\r\u0001\u001f\u007f\b\f end", "tts_url": ""}}),
    ("chat_empty", "events", "ServerMessage", {"chat": {}}),
    ("chat_max", "events", "ServerMessage",
     {"seq": str(U64_MAX), "chat": {"user": LONG_USER, "message": LONG_MESSAGE, "tts_url": LONG_URL}}),
    ("gift_spec", "events", "ServerMessage",
     {"seq": "5", "gift": {"gift_name": "Rose", "count": 5, "sound_url": "https://server.com/sounds/rose.mp3"}}),
    ("gift_user", "events", "ServerMessage",
     {"seq": "6", "gift": {"gift_name": "Lion", "count": 1, "sound_url": "https://x/sounds/lion.ogg", "user": "Дархан"}}),
    ("gift_zero", "events", "ServerMessage", {"seq": "7", "gift": {"gift_name": "Rose", "count": 0}}),
    ("gift_max", "events", "ServerMessage",
     {"seq": str(U64_MAX), "gift": {"gift_name": "Universe", "count": U32_MAX, "sound_url": "https://x/s.ogg"}}),
    ("audio_frame", "events", "ServerMessage",
     {"audio": {"event_seq": "1", "index": 0, "packet": base64.b64encode(bytes(range(0, 256, 3))).decode(),
                "last": False, "sample_rate": 48000, "channels": 1, "frame_duration_us": 20000,
                "pre_skip": 312, "duration_ms": 1460}}),
    ("audio_frame_max", "events", "ServerMessage",
     {"audio": {"event_seq": str(U64_MAX), "index": U32_MAX,
                "packet": base64.b64encode(bytes((i * 7) & 0xFF for i in range(1275))).decode(),
                "last": True, "sample_rate": 48000, "channels": 2, "frame_duration_us": 60000,
                "pre_skip": 0, "duration_ms": U32_MAX}}),
    ("hello", "events", "ServerMessage",
     {"hello": {"last_seq": "41", "first_seq": "1", "resume_gap": False, "server_time_ms": "1795936245123",
                "protocol_version": 1, "heartbeat_interval_ms": 10000}}),
    ("hello_gap", "events", "ServerMessage",
     {"hello": {"last_seq": "5000", "first_seq": "3977", "resume_gap": True, "server_time_ms": "1795936245123",
                "protocol_version": 1, "heartbeat_interval_ms": 10000, "missed": "976"}}),
    ("hello_speech_wanted", "events", "ServerMessage",
     {"hello": {"last_seq": "41", "first_seq": "1", "resume_gap": False, "server_time_ms": "1795936245123",
                "protocol_version": 1, "heartbeat_interval_ms": 10000, "speech_wanted": True}}),
    ("stream_error", "events", "ServerMessage",
     {"error": {"error": "slow_consumer", "message": "You fell too far behind; reconnect with ?since=41."}}),
    ("pong", "events", "ServerMessage", {"pong": {"client_time_ms": "1795936245000", "server_time_ms": "1795936245123"}}),
    ("status_live", "events", "ServerMessage",
     {"status": {"tiktok": "live", "room_id": "7301234567890123456", "username": "aruka.live"}}),
    ("status_waiting", "events", "ServerMessage",
     {"status": {"tiktok": "waiting", "room_id": "", "username": "aruka.live",
                 "message": "@aruka.live is not live now; looking again in 30 s."}}),
    ("status_off", "events", "ServerMessage", {"status": {"tiktok": "off"}}),
    ("client_ack", "events", "ClientMessage", {"ack": {"seq": "41"}}),
    ("client_settings", "events", "ClientMessage",
     {"settings": {"tts_enabled": True, "gifts_enabled": False, "audio_frames": True, "profanity_filter": True}}),
    ("client_settings_off", "events", "ClientMessage", {"settings": {}}),
    ("client_ping", "events", "ClientMessage", {"ping": {"client_time_ms": "1795936245000"}}),
    ("client_settings_on_request", "events", "ClientMessage",
     {"settings": {"tts_enabled": True, "gifts_enabled": True, "audio_frames": True, "profanity_filter": False,
                   "speech_on_request": True}}),
    ("client_speech_wanted", "events", "ClientMessage", {"speech_wanted": {"seq": "41"}}),
    ("client_speech_wanted_max", "events", "ClientMessage", {"speech_wanted": {"seq": str(U64_MAX)}}),
    ("client_speech_wanted_lead", "events", "ClientMessage", {"speech_wanted": {"seq": "42", "lead_ms": 2400}}),
    ("ingest_chat", "ingest", "IngestEvent",
     {"channel": "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f", "chat": {"user": "Aruka", "message": "Привет!"}}),
    ("ingest_chat_kk", "ingest", "IngestEvent",
     {"channel": "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f",
      "chat": {"user": "Нұрлан", "message": "Жақсы эфир! 🎉", "user_id": "6812739046123"}}),
    ("ingest_gift", "ingest", "IngestEvent",
     {"channel": "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f", "gift": {"user": "Aruka", "gift_name": "Rose", "count": 1}}),
    ("ingest_gift_streak", "ingest", "IngestEvent",
     {"channel": "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f",
      "gift": {"user": "Aruka", "gift_name": "Rose", "count": 1, "user_id": "6812739046123", "gift_id": "5655",
               "repeat_count": 7, "repeat_end": True, "diamond_count": 1}}),
    ("ingest_chat_id", "ingest", "IngestEvent",
     {"channel": "3f8e2b6c-1d4a-4c5e-9f7b-2a6d8c0e1b3f", "chat": {"user": "Aruka", "message": "Привет!"},
      "id": "tt:7301234567890123456"}),
    ("ingest_response_ok", "ingest", "IngestResponse", {"status": "ok", "accepted": 3}),
    ("ingest_response_duplicates", "ingest", "IngestResponse", {"status": "ok", "accepted": 3, "duplicates": 2}),
    ("ingest_response_partial", "ingest", "IngestResponse",
     {"status": "partial", "accepted": 2,
      "errors": [{"index": 1, "error": "invalid", "message": "count: expected an integer, got a string"},
                 {"index": 3, "error": "unknown_channel", "message": "No such channel."}]}),
    ("trace_header", "trace", "TraceHeader",
     {"version": 1, "created_us": "1795936245123456", "source": "make-demo-trace", "note": "демо"}),
    ("trace_ingest", "trace", "TraceRecord",
     {"time_us": "1500000", "direction": "DIRECTION_INGEST",
      "ingest": {"channel": "demo", "gift": {"user": "Aruka", "gift_name": "Rose", "count": 1,
                                              "repeat_count": 2}}}),
    ("trace_server", "trace", "TraceRecord",
     {"time_us": "1502000", "direction": "DIRECTION_SERVER_TO_CLIENT",
      "server": {"seq": "9", "chat": {"user": "Aruka", "message": "Hi!", "tts_url": "http://h/tts/x.ogg"}}}),
    ("trace_client", "trace", "TraceRecord",
     {"time_us": "1503000", "direction": "DIRECTION_CLIENT_TO_SERVER", "client": {"ack": {"seq": "9"}}}),
    ("trace_tiktok", "trace", "TraceRecord",
     {"time_us": "1504000", "direction": "DIRECTION_TIKTOK",
      "tiktok": {"frame": base64.b64encode(bytes([0x08, 0x01, 0x10, 0x02, 0x3a, 0x02, 0x68, 0x62])).decode(),
                 "room_id": "7301234567890123456", "more": False}}),
    ("tiktok_settings", "auth", "TiktokSettings", {"username": "@Aruka.Live"}),
    ("tiktok_info", "auth", "TiktokInfo",
     {"username": "aruka.live", "state": "live", "room_id": "7301234567890123456", "message": ""}),
    ("overlay_token_request", "auth", "OverlayTokenRequest", {"note": "OBS: main scene"}),
    ("overlay_token_created", "auth", "OverlayTokenCreated",
     {"id": "3", "token": "TTO-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "hint": "TTO-ABCD",
      "url": "http://127.0.0.1:8080/overlay/#token=TTO-ABCDEFGHIJKLMNOPQRSTUVWXYZ"}),
    ("overlay_token_list", "auth", "OverlayTokenList",
     {"tokens": [{"id": "3", "hint": "TTO-ABCD", "note": "OBS", "created": "1796578411"},
                 {"id": "4", "hint": "TTO-EFGH", "note": "", "created": "1796578412"}]}),
    ("overlay_token_revoke", "auth", "OverlayTokenRevoke", {"id": "3"}),
]


def build(mods, opts):
    from google.protobuf import json_format
    out = []
    for name, mod, typ, form in VECTORS:
        cls = getattr(mods[mod], typ)
        msg = json_format.ParseDict(form, cls(), ignore_unknown_fields=False)
        pb = msg.SerializeToString(deterministic=True)
        js = dumps(to_json(msg, opts)) + "\n"
        out.append((name, typ, pb, js.encode("utf-8"), cls))
    return out


def main():
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        mods, opts = load_modules(tmp)
        vecs = build(mods, opts)
        index = "".join("%s %s\n" % (name, typ) for name, typ, _, _, _ in vecs).encode()
        files = {"index.txt": index}
        for name, typ, pb, js, cls in vecs:
            files[name + ".pb"] = pb
            files[name + ".json"] = js
        bad = 0
        for fname, data in sorted(files.items()):
            path = os.path.join(HERE, fname)
            if check:
                try:
                    with open(path, "rb") as f:
                        have = f.read()
                except FileNotFoundError:
                    have = None
                if have != data:
                    print("stale: tests/vectors/%s" % fname)
                    bad += 1
            else:
                with open(path, "wb") as f:
                    f.write(data)
        if check:
            # what an integrator does: decode the committed bytes with protoc's Python output
            for name, typ, pb, js, cls in vecs:
                with open(os.path.join(HERE, name + ".pb"), "rb") as f:
                    m = cls.FromString(f.read())
                if dumps(to_json(m, opts)).encode() + b"\n" != js:
                    print("mismatch: %s.pb does not decode to %s.json" % (name, name))
                    bad += 1
            print("%d vectors checked, %d problems" % (len(vecs), bad))
            sys.exit(1 if bad else 0)
        print("wrote %d vectors to tests/vectors/" % len(vecs))


if __name__ == "__main__":
    main()
