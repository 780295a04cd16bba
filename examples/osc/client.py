"""A small OSC client for `timbrespace serve` (needs python-osc).

Replies (`/pong`, `/info/...`, `/error`) go back to the port a message came from, so this client
sends and receives on one UDP socket.

Usage:
    python examples/osc/client.py info
    python examples/osc/client.py send /gain -6
    python examples/osc/client.py send /bias 3 1.5
    python examples/osc/client.py send /play kick 100
    python examples/osc/client.py sweep /ab --from 0 --to 1 --seconds 4
    python examples/osc/client.py sweep /feedback/freq --from 100 --to 4000 --seconds 8
    python examples/osc/client.py sweep /bias --prefix 3 --from -2 --to 2
    python examples/osc/client.py --host 127.0.0.1 --port 9000 send /ping
"""

from __future__ import annotations

import argparse
import socket
import sys
import time

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

RATE = 50.0
"""Messages per second of a sweep."""


def parse_value(text: str) -> int | float | str:
    """`3` -> 3, `1.5` -> 1.5, anything else stays a string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def build(address: str, args: list) -> bytes:
    builder = OscMessageBuilder(address=address)
    for value in args:
        builder.add_arg(value)
    return builder.build().dgram


def receive(sock: socket.socket, seconds: float, only_errors: bool = False) -> int:
    """Print the replies that arrive within `seconds`; returns how many `/error` replies."""
    errors = 0
    end = time.monotonic() + seconds
    while True:
        sock.settimeout(max(0.0, end - time.monotonic()))  # 0: only what already arrived
        try:
            data, _ = sock.recvfrom(65536)
        except (TimeoutError, BlockingIOError):
            break
        try:
            message = OscMessage(data)
        except Exception:  # a bundle or garbage: not something the engine sends
            continue
        if message.address == "/error":
            errors += 1
        if message.address == "/error" or not only_errors:
            print(message.address, *message.params)
    return errors


def sweep(sock, target, address: str, prefix: list, low: float, high: float, seconds: float):
    steps = max(1, round(seconds * RATE))
    start = time.monotonic()
    for step in range(steps + 1):
        value = low + (high - low) * step / steps
        sock.sendto(build(address, [*prefix, value]), target)
        receive(sock, 0.0, only_errors=True)
        delay = start + (step + 1) / RATE - time.monotonic()
        if delay > 0 and step < steps:
            time.sleep(delay)
    return receive(sock, 0.3, only_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="engine address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9000, help="engine OSC port (default 9000)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="send /info and print every reply for 0.5 s")
    send = commands.add_parser("send", help="send one message, print any /error within 0.3 s")
    send.add_argument("address", help="OSC address, e.g. /gain")
    send.add_argument("args", nargs=argparse.REMAINDER, help="arguments (numbers or strings)")
    ramp = commands.add_parser("sweep", help=f"send a value ramp at {RATE:g} messages/s")
    ramp.add_argument("address", help="OSC address, e.g. /ab")
    ramp.add_argument("--from", dest="low", type=float, required=True, help="first value")
    ramp.add_argument("--to", dest="high", type=float, required=True, help="last value")
    ramp.add_argument("--seconds", type=float, default=4.0, help="ramp length (default 4)")
    ramp.add_argument(
        "--prefix",
        "--prefix-args",
        dest="prefix",
        nargs="*",
        default=[],
        help="arguments before the value (e.g. the dimension of /bias)",
    )
    options = parser.parse_args(argv)

    target = (options.host, options.port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        if options.command == "info":
            sock.sendto(build("/info", []), target)
            receive(sock, 0.5)
            return 0
        if options.command == "send":
            args = [parse_value(word) for word in options.args]
            sock.sendto(build(options.address, args), target)
            return 1 if receive(sock, 0.3) else 0
        prefix = [parse_value(word) for word in options.prefix]
        errors = sweep(
            sock, target, options.address, prefix, options.low, options.high, options.seconds
        )
        return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
