"""An OSC flood from another process: `python tests/osc_flood.py HOST PORT SECONDS RATE [WAIT]`
waits WAIT seconds (default 0: the caller starts its audio clock meanwhile, not while it forks
this process), then sends RATE datagrams per second for SECONDS (malformed ones and one valid `/drywet 0.5` in turn),
reads every reply, and prints JSON: sent, replies, error replies."""

from __future__ import annotations

import json
import socket
import sys
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

VALID = "/drywet"


def build_message(address: str, args: list) -> bytes:
    """As `timbrespace.engine.osc.build_message`, without importing timbrespace (and torch): the
    sender stays a light process that does not compete with the engine while it starts."""
    builder = OscMessageBuilder(address=address)
    for value in args:
        builder.add_arg(value)
    return builder.build().dgram


def garbage() -> list[bytes]:
    """Datagrams the engine must refuse without stopping, then one valid message."""
    big = build_message("/curve", [0, 1.0] + [0.5] * 12_000)  # ~60 KiB, too many numbers
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(OscMessage(build_message("/curve", [0, 1.0] + [0.5] * 12_900)))
    return [
        b"\x00\x01garbage",
        b"#bundle\x00" + b"\xff" * 40,
        build_message("/nope", [1.0]),
        build_message("/bias", ["x", 1.0]),
        build_message("/bias", [1]),
        build_message("/bias", [1, float("nan")]),
        build_message("/gain", [float("inf")]),
        build_message("/gain", [1e9]),
        build_message("/plane", [0.5]),
        build_message("/note", [60, 100]),  # not a one-shot model
        build_message("/corner", [1, "no_such_sound.wav"]),
        big,
        bundle.build().dgram,  # a 64 KiB bundle
        build_message(VALID, [0.5]),
    ]


def flood(host: str, port: int, seconds: float, rate: float) -> dict:
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    client.setblocking(False)
    datagrams = garbage()
    replies: list[bytes] = []

    def drain() -> None:
        try:
            while True:
                replies.append(client.recv(65536))
        except BlockingIOError:
            pass

    sent = 0
    began = time.perf_counter()
    while (elapsed := time.perf_counter() - began) < seconds:
        while sent < rate * elapsed:
            client.sendto(datagrams[sent % len(datagrams)], (host, port))
            sent += 1
        drain()
        time.sleep(0.001)
    time.sleep(0.5)
    drain()
    client.close()
    errors = sum(1 for reply in replies if reply.startswith(b"/error"))
    return {"sent": sent, "replies": len(replies), "errors": errors, "kinds": len(datagrams)}


if __name__ == "__main__":
    host, port, seconds, rate = (
        sys.argv[1],
        int(sys.argv[2]),
        float(sys.argv[3]),
        float(sys.argv[4]),
    )
    time.sleep(float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
    print(json.dumps(flood(host, port, seconds, rate)))
