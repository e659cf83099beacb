"""ICMP echoes for a whole fleet through one socket per address family (icmplib packets).

icmplib's ``async_ping`` opens a socket per burst. With raw sockets (a prober running as
root) the kernel hands *every* ICMP packet to *every* raw socket: a thousand bursts at once
means a thousand sockets each reading and dropping the others' replies, and the CPU cost
grows with the square of the fleet. The :class:`Pinger` keeps one socket per family for the
prober (unprivileged ``SOCK_DGRAM`` where ``net.ipv4.ping_group_range`` allows it, raw when
root), one reader that hands each echo reply to the echo waiting for it by identifier
and sequence, and a process-wide sequence counter so that concurrent bursts never collide.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import os
import random
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Final

from icmplib import ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import SocketPermissionError

__all__ = ["Pinger", "Unpingable"]

_ECHO: Final = {4: (8, 0), 6: (128, 129)}
"""Echo request and reply types, by IP version."""
_PAYLOAD: Final = b"vigie-prober-echo".ljust(56, b".")
"""56 bytes, as ``ping`` sends."""
_WORDS: Final = f"!{(8 + len(_PAYLOAD)) // 2}H"
_RECEIVE_BUFFER: Final = 4 * 1024 * 1024


class Unpingable(Exception):
    """ICMP cannot be sent from here in this mode (no permission, no such family)."""


@dataclass(slots=True)
class _Burst:
    """One burst's echoes in flight: when each left, the answers so far, done when all came."""

    expected: int
    done: asyncio.Future[None]
    sent: dict[tuple[int, int], float] = field(default_factory=dict)
    rtts_ms: list[float] = field(default_factory=list)

    def answered(self, key: tuple[int, int], arrived: float) -> None:
        sent_at = self.sent.pop(key, None)
        if sent_at is None:
            return  # a duplicate reply
        self.rtts_ms.append(max(arrived - sent_at, 0.0) * 1000.0)
        if len(self.rtts_ms) == self.expected and not self.done.done():
            self.done.set_result(None)


class _Channel:
    """One ICMP socket of one family and mode, and the echoes waiting for their reply.

    icmplib opens the socket (and says when the kernel refuses it); echo requests are built
    here and replies drained straight from the socket by a reader callback (every packet
    waiting, each time the socket is readable), so thousands of replies cost one callback
    each, not a coroutine and a timer each.
    """

    def __init__(self, family: int, *, privileged: bool) -> None:
        kind = ICMPv4Socket if family == 4 else ICMPv6Socket
        try:
            self.icmp = kind(privileged=privileged)
        except SocketPermissionError as exc:
            raise Unpingable(str(exc)) from None
        self.icmp.blocking = False
        self.sock: socket.socket = self.icmp.sock
        _grow_receive_buffer(self.sock)
        self.family = family
        # Linux gives raw IPv4 sockets the IP header; datagram and IPv6 sockets start at ICMP.
        self.ip_header = family == 4 and privileged
        self.echo_request, self.echo_reply = _ECHO[family]
        # A raw socket's identifier is ours; a datagram socket's is its port, set by the
        # kernel at the first send.
        self.ident: int | None = random.getrandbits(16) if privileged else None
        self.sequences = itertools.count(random.getrandbits(16))
        self.waiting: dict[tuple[int, int], _Burst] = {}
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._drain)

    def send(self, address: str, burst: _Burst) -> None:
        """One echo request to ``address``, awaited by ``burst``.

        Raises:
            OSError: the kernel refused it (no route…): it counts as unanswered.
        """
        sequence = next(self.sequences) % 65536
        ident = self.ident if self.ident is not None else 0
        packet = _echo_packet(self.echo_request, ident, sequence, checksum=self.family == 4)
        target = (address, 0) if self.family == 4 else (address, 0, 0, 0)
        sent_at = time.monotonic()
        self.sock.sendto(packet, target)
        if self.ident is None:
            self.ident = self.sock.getsockname()[1]
        key = (self.ident, sequence)
        burst.sent[key] = sent_at
        self.waiting[key] = burst

    def forget(self, burst: _Burst) -> None:
        """The burst is over: its unanswered echoes are no longer waited for."""
        for key in burst.sent:
            self.waiting.pop(key, None)

    def _drain(self) -> None:
        """Read every packet waiting; hand each echo reply to the burst waiting for it."""
        while True:
            try:
                packet = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error queued on a datagram socket: its echo times out
            arrived = time.monotonic()
            start = (packet[0] & 0x0F) * 4 if self.ip_header and packet else 0
            head = packet[start : start + 8]
            if len(head) < 8 or head[0] != self.echo_reply:
                continue  # our own requests on loopback, errors, others' traffic
            key = struct.unpack("!HH", head[4:8])
            burst = self.waiting.pop(key, None)
            if burst is not None:
                burst.answered(key, arrived)

    def close(self) -> None:
        for burst in set(self.waiting.values()):
            if not burst.done.done():
                burst.done.set_result(None)  # the burst ends with the answers it has
        self.waiting.clear()
        with contextlib.suppress(ValueError, OSError, RuntimeError):
            self.loop.remove_reader(self.sock.fileno())
        self.icmp.close()


def _grow_receive_buffer(sock: socket.socket) -> None:
    """Room for a fleet's replies arriving at once (the kernel caps it; root may force it)."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", None), socket.SO_RCVBUF):
        if option is None:
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _RECEIVE_BUFFER)
        except OSError:
            continue
        return


def _echo_packet(kind: int, ident: int, sequence: int, *, checksum: bool) -> bytes:
    """An ICMP echo request; ICMPv6's checksum is the kernel's to fill."""
    header = struct.pack("!BBHHH", kind, 0, 0, ident, sequence)
    if not checksum:
        return header + _PAYLOAD
    total = sum(struct.unpack(_WORDS, header + _PAYLOAD))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return struct.pack("!BBHHH", kind, 0, ~total & 0xFFFF, ident, sequence) + _PAYLOAD


class Pinger:
    """The prober's ICMP: shared sockets, opened on first use, closed with :meth:`close`."""

    def __init__(self) -> None:
        self._channels: dict[tuple[int, bool], _Channel] = {}
        self._refused: set[tuple[int, bool]] = set()

    @property
    def sockets(self) -> int:
        """ICMP sockets open now (one per family and mode in use)."""
        return len(self._channels)

    def allowed(self, *, privileged: bool) -> bool:
        """Whether this mode may be tried here (raw sockets need root)."""
        return not privileged or os.geteuid() == 0

    async def burst(
        self, address: str, *, count: int, interval: float, reply_timeout: float, privileged: bool
    ) -> list[float]:
        """Send ``count`` echoes ``interval`` apart; the round-trip times (ms) of the answers.

        Answers are awaited until ``reply_timeout`` seconds after the last echo left.

        Raises:
            Unpingable: this mode is not allowed here.
            ValueError: ``address`` is not an IP literal.
        """
        family = ipaddress.ip_address(address).version
        channel = self._channel(family, privileged=privileged)
        burst = _Burst(expected=count, done=asyncio.get_running_loop().create_future())
        try:
            for n in range(count):
                if n:
                    await asyncio.sleep(interval)
                try:
                    channel.send(address, burst)
                except OSError:  # refused by the kernel (no route): unanswered
                    burst.expected -= 1
            if burst.expected == 0:
                return []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(reply_timeout):
                    await asyncio.shield(burst.done)
        finally:
            channel.forget(burst)
        return list(burst.rtts_ms)

    def _channel(self, family: int, *, privileged: bool) -> _Channel:
        key = (family, privileged)
        if key in self._refused or not self.allowed(privileged=privileged):
            raise Unpingable("raw ICMP needs root" if privileged else "ICMP not allowed")
        channel = self._channels.get(key)
        if channel is None:
            try:
                channel = self._channels[key] = _Channel(family, privileged=privileged)
            except Unpingable:
                self._refused.add(key)
                raise
        return channel

    def close(self) -> None:
        """Close every socket (echoes in flight end without an answer)."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
