"""The studio's live link: every latent the studio renders is also sent to a running engine
(`timbrespace serve BUNDLE`) as OSC over UDP, so a slider move is heard there at once.

    link = LiveLink()
    link.configure("127.0.0.1:9000", on=True)
    link.push(z, one_shot=True)      # `/latent frames v…` then `/trigger 100`
    link.status()                    # {"on": True, "engine": "127.0.0.1:9000", "sent": 1, …}

The engine is an IP literal or `localhost` (no name is looked up while rendering), on this
machine or a local network: a public address is refused, so the studio cannot be made to send
datagrams to hosts on the internet. Sending never
blocks or fails a render: a refused datagram (no route, buffer full…) is recorded in
`last_error`. A latent over `MAX_NUMBERS` numbers is sent with fewer, evenly spaced frames (the
engine refuses datagrams over 24 KiB).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from typing import Any

import torch

from timbrespace.engine.addresses import MAX_REST
from timbrespace.engine.osc import DEFAULT_HOST, DEFAULT_PORT, build_message
from timbrespace.studio.errors import StudioError

__all__ = ["DEFAULT_ENGINE", "MAX_NUMBERS", "LiveLink", "engine_latent", "parse_engine"]

DEFAULT_ENGINE = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
MAX_NUMBERS = MAX_REST
"""Most latent values one `/latent` carries (frames × latent_dim)."""
TRIGGER_VELOCITY = 100.0


def parse_engine(text: str) -> tuple[str, tuple[str, int], socket.AddressFamily]:
    """`"127.0.0.1:9000"`, `"localhost:9000"` or `"[::1]:9000"` → (the address as shown, the
    socket address, its family); StudioError (400) naming `engine` otherwise."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise StudioError(f"engine: {text!r} is not host:port (e.g. {DEFAULT_ENGINE})")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise StudioError(f"engine: port {port_text!r} is not a number in 1…65535")
    port = int(port_text)
    bracketed = host.startswith("[") and host.endswith("]")
    name = host[1:-1] if bracketed else host
    if name.lower() == "localhost" and not bracketed:
        return f"localhost:{port}", ("127.0.0.1", port), socket.AF_INET
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        raise StudioError(
            f"engine: host {host!r} is not an IP address or localhost (e.g. {DEFAULT_ENGINE})"
        ) from None
    if ip.version == 6 and not bracketed:
        raise StudioError(f"engine: write an IPv6 address in brackets: [{name}]:{port}")
    if ip.version == 4 and bracketed:
        raise StudioError(f"engine: {host!r}: only IPv6 addresses take brackets")
    if ip.is_unspecified or ip.is_multicast:
        raise StudioError(f"engine: {name} is not the address of one machine")
    if not (ip.is_loopback or ip.is_private):
        raise StudioError(
            f"engine: {name} is a public address; the studio sends only to this machine or a "
            "local network (127.x, 10.x, 172.16–31.x, 192.168.x, fc00::/7)"
        )
    if ip.version == 6:
        return f"[{ip}]:{port}", (str(ip), port), socket.AF_INET6
    return f"{ip}:{port}", (str(ip), port), socket.AF_INET


def engine_latent(z: torch.Tensor, limit: int = MAX_NUMBERS) -> tuple[int, list[float]]:
    """`z [1, dim, frames]` → (frames, `z[0].flatten()` as floats, dimension-major), with its
    frames thinned to evenly spaced ones when frames × dim would exceed `limit`."""
    values = torch.as_tensor(z).detach().float().reshape(z.shape[-2], z.shape[-1])
    dim, frames = values.shape
    if dim > limit:
        raise ValueError(f"a latent of {dim} dimensions does not fit one /latent ({limit} numbers)")
    if dim * frames > limit:
        keep = limit // dim
        picks = torch.linspace(0, frames - 1, keep).round().long()
        values = values[:, picks]
    return int(values.shape[1]), [float(v) for v in values.flatten().tolist()]


class LiveLink:
    """Whether the studio drives an engine, where, and what was sent (thread-safe)."""

    def __init__(self, engine: str = DEFAULT_ENGINE) -> None:
        self.lock = threading.Lock()
        self.on = False
        self.engine, self.address, self.family = parse_engine(engine)
        self.sent = 0
        """Latents sent since the studio started."""
        self.last_error: str | None = None
        self.sock: socket.socket | None = None

    def configure(self, engine: str | None = None, *, on: bool) -> dict[str, Any]:
        """Turn the link on or off, at `engine` if given (validated first: a bad address
        changes nothing). Returns the status."""
        parsed = None if engine is None else parse_engine(engine)
        with self.lock:
            if parsed is not None and parsed[1:] != (self.address, self.family):
                self.engine, self.address, self.family = parsed
                self.last_error = None
                self._close()
            elif parsed is not None:
                self.engine = parsed[0]
            if not on:
                self._close()
            elif not self.on:
                self.last_error = None
            self.on = on
            return self._status()

    def status(self) -> dict[str, Any]:
        """`{"on", "engine", "sent", "last_error"}` (see API.md `/api/live`)."""
        with self.lock:
            return self._status()

    def _status(self) -> dict[str, Any]:
        return {
            "on": self.on,
            "engine": self.engine,
            "sent": self.sent,
            "last_error": self.last_error,
        }

    def push(self, z: torch.Tensor, *, one_shot: bool) -> None:
        """While on, send `/latent` for `z [1, dim, frames]` (and `/trigger 100` for a one-shot
        model). Never raises and never waits: a failure is kept in `last_error`."""
        if not self.on:
            return
        try:
            frames, values = engine_latent(z)
            datagrams = [build_message("/latent", [frames, *values])]
            if one_shot:
                datagrams.append(build_message("/trigger", [TRIGGER_VELOCITY]))
        except (ValueError, TypeError, OverflowError) as error:
            with self.lock:
                self.last_error = f"cannot send this latent: {error}"
            return
        with self.lock:
            if not self.on:
                return
            try:
                if self.sock is None:
                    self.sock = socket.socket(self.family, socket.SOCK_DGRAM)
                    self.sock.setblocking(False)
                for datagram in datagrams:
                    self.sock.sendto(datagram, self.address)
            except OSError as error:
                self.last_error = f"sending to {self.engine}: {error.strerror or error}"
                self._close()
                return
            self.sent += 1
            self.last_error = None

    def close(self) -> None:
        with self.lock:
            self.on = False
            self._close()

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
