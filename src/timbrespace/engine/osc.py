"""The engine's OSC server (UDP, python-osc's parser and builder): every datagram is parsed,
every message checked against the address space (`engine.addresses`) and the model
(`Engine.check`) before it reaches the audio worker; a bad one gets one `/error` reply
(`address`, `reason`) sent back to its sender, at most `reply_rate` replies per second per sender
(the rest are counted, not sent). Nothing a client sends stops the server: a malformed packet is
answered like a bad message. Binds 127.0.0.1 unless told otherwise.

Bundles are applied as they arrive (their time tags are not waited for).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from timbrespace.engine.addresses import AddressError, parse_message
from timbrespace.engine.core import Engine

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "OscServer", "build_message"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9000
MAX_DATAGRAM = 65536
ACCEPTED_DATAGRAM = 24 * 1024
"""Datagrams longer than this (bytes) are refused unparsed: parsing 60 KiB of arguments takes
python-osc ~10 ms, and no message of the address space needs more (4096 numbers ≈ 20 KiB)."""
MAX_SENDERS = 1024
"""Senders whose reply budget is remembered (the oldest are forgotten first)."""


def _not_pythonosc(record: logging.LogRecord) -> bool:
    """python-osc logs a warning per unparsable part of a bundle on the root logger: a flood of
    garbage would flood the log (each bad datagram is answered with `/error` instead)."""
    return "pythonosc" not in record.pathname


def build_message(address: str, args: list[Any]) -> bytes:
    """One OSC message as bytes (ints as int32, floats as float32, strings, booleans)."""
    builder = OscMessageBuilder(address=address)
    for value in args:
        builder.add_arg(value)
    return builder.build().dgram


@dataclass
class _Budget:
    tokens: float
    stamp: float


@dataclass
class OscCounts:
    datagrams: int = 0
    messages: int = 0
    accepted: int = 0
    bad: int = 0
    error_replies: int = 0
    suppressed_replies: int = 0


class OscServer:
    """Serve `engine` over OSC on `host`:`port` (port 0: any free port, see `port`);
    `yield_to`: see the attribute."""

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        reply_rate: float = 100.0,
        yield_to: threading.Event | None = None,
    ) -> None:
        self.engine = engine
        self.reply_rate = float(reply_rate)
        self.yield_to = yield_to
        """An event (`Runner.idle`) waited for before each datagram: the server steps aside
        while the audio worker renders."""
        self.counts = OscCounts()
        self._budgets: OrderedDict[Any, _Budget] = OrderedDict()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        try:
            self._socket.bind((host, port))
        except OSError as error:
            self._socket.close()
            raise OSError(f"cannot listen for OSC on {host}:{port}: {error.strerror}") from None
        self._socket.settimeout(0.2)
        self.host, self.port = self._socket.getsockname()[:2]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        logging.getLogger().addFilter(_not_pythonosc)
        self._thread = threading.Thread(target=self._serve, name="osc-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._socket.close()
        logging.getLogger().removeFilter(_not_pythonosc)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._socket.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            if self.yield_to is not None:
                self.yield_to.wait(0.05)
            self.handle(data, sender)

    def handle(self, data: bytes, sender: Any) -> None:
        """One datagram from `sender` (never raises)."""
        self.counts.datagrams += 1
        received = time.perf_counter()
        if len(data) > ACCEPTED_DATAGRAM:
            self._refuse(
                sender, "/", f"datagram of {len(data)} bytes (at most {ACCEPTED_DATAGRAM})"
            )
            return
        try:
            messages = [timed.message for timed in OscPacket(data).messages]
        except Exception as error:  # python-osc raises more than ParseError on some garbage
            self._refuse(sender, "/", f"malformed OSC packet ({type(error).__name__})")
            return
        if not messages:
            self._refuse(sender, "/", "malformed OSC packet (a bundle without messages)")
            return
        for message in messages:
            self.counts.messages += 1
            try:
                address, params = str(message.address), list(message.params)
            except Exception as error:
                self._refuse(sender, "/", f"malformed OSC message ({type(error).__name__})")
                continue
            self._message(address, params, sender, received)

    def _message(self, address: str, params: list[Any], sender: Any, received: float) -> None:
        try:
            command = parse_message(address, params, received)
            if address == "/ping":
                self._send(sender, "/pong", [])
            elif address == "/info":
                for reply, args in self.engine.info():
                    self._send(sender, reply, args)
            else:
                self.engine.submit(self.engine.check(command))
            self.counts.accepted += 1
        except AddressError as error:
            self._refuse(sender, address, str(error))
        except Exception as error:  # a bug must not stop the server: answer it
            self._refuse(sender, address, f"internal error: {type(error).__name__}: {error}")

    def _refuse(self, sender: Any, address: str, reason: str) -> None:
        self.counts.bad += 1
        if self._spend(sender):
            self.counts.error_replies += 1
            self._send(sender, "/error", [address[:200], reason[:500]])
        else:
            self.counts.suppressed_replies += 1

    def _spend(self, sender: Any) -> bool:
        """Take one reply from `sender`'s budget (a token bucket of `reply_rate` per second)."""
        now = time.monotonic()
        budget = self._budgets.pop(sender, None) or _Budget(self.reply_rate, now)
        budget.tokens = min(self.reply_rate, budget.tokens + (now - budget.stamp) * self.reply_rate)
        budget.stamp = now
        self._budgets[sender] = budget
        while len(self._budgets) > MAX_SENDERS:
            self._budgets.popitem(last=False)
        if budget.tokens < 1.0:
            return False
        budget.tokens -= 1.0
        return True

    def _send(self, sender: Any, address: str, args: list[Any]) -> None:
        with contextlib.suppress(OSError):  # a reply that cannot be sent (sender gone) is dropped
            self._socket.sendto(build_message(address, args), sender)
