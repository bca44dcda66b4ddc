#!/usr/bin/python3
"""How many seconds of speech one ttboost-tts-worker engine makes per second.

    tools/bench/tts_engine_rate.py [WORKER] [JOBS]

Runs one worker (default build/server/ttboost-tts-worker) over its stdin/stdout
protocol (schema/ttboost/worker/tts_worker.proto), gives it JOBS (default 60)
chat-like jobs one after the other, as a node's slot would, and prints the
speech made (the duration_ms of each job's last output), the wall time and the
worker's CPU time. One engine is one process on one core, local or behind NATS
(docs/scaling.md, "Sizing").
"""
import os
import resource
import subprocess
import sys
import time

TEXTS = [
    "viewer{}: hello everyone, how is the stream going today?",
    "viewer{}: that was amazing, do it again please",
    "viewer{}: greetings from Almaty, number {} in the chat",
    "viewer{}: what game are we playing next, the one from yesterday?",
]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    return key + varint(len(payload)) + payload


def job(job_id, text):
    return (field(1, 0, job_id) + field(2, 2, b"en") + field(3, 2, text.encode())
            + field(4, 0, 32000))


def read_varint(f):
    n = shift = 0
    while True:
        b = f.read(1)
        if not b:
            raise EOFError
        n |= (b[0] & 0x7F) << shift
        shift += 7
        if not b[0] & 0x80:
            return n


def fields(msg):
    """Top-level (number, value) pairs of a protobuf message (varints and bytes)."""
    i, out = 0, []
    while i < len(msg):
        key, shift = 0, 0
        while True:
            b = msg[i]
            i += 1
            key |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, shift = 0, 0
            while True:
                b = msg[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        elif wire == 2:
            ln, shift = 0, 0
            while True:
                b = msg[i]
                i += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            v = msg[i:i + ln]
            i += ln
        else:
            raise ValueError(f"wire type {wire}")
        out.append((num, v))
    return out


def main():
    worker = sys.argv[1] if len(sys.argv) > 1 else "build/server/ttboost-tts-worker"
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    p = subprocess.Popen([worker], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdout.read(read_varint(p.stdout))  # the hello
    speech_ms = 0
    t0 = time.monotonic()
    for k in range(1, jobs + 1):
        m = job(k, TEXTS[k % len(TEXTS)].format(k, k * 7))
        p.stdin.write(varint(len(m)) + m)
        p.stdin.flush()
        while True:
            out = dict(fields(p.stdout.read(read_varint(p.stdout))))
            if out.get(5):
                if out.get(6):
                    sys.exit(f"job {k} failed: {out[6].decode()}")
                speech_ms += out.get(7, 0)
                break
    wall = time.monotonic() - t0
    p.stdin.close()
    p.wait()
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ru.ru_utime + ru.ru_stime
    print(f"{jobs} jobs, {speech_ms / 1000:.1f} s of speech in {wall:.2f} s wall, "
          f"{cpu:.2f} CPU-s: {speech_ms / 1000 / wall:.0f} s of speech per second of wall time, "
          f"{speech_ms / 1000 / cpu:.0f} per CPU-second")


if __name__ == "__main__":
    main()
