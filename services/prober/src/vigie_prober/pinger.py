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
from typing import Final

from icmplib import ICMPRequest, ICMPv4Socket, ICMPv6Socket
from icmplib.exceptions import ICMPLibError, SocketPermissionError

__all__ = ["Pinger", "Unpingable"]

_ECHO_REPLY: Final = {4: 0, 6: 129}
_RECEIVE_BUFFER: Final = 4 * 1024 * 1024


class Unpingable(Exception):
    """ICMP cannot be sent from here in this mode (no permission, no such family)."""


class _Channel:
    """One ICMP socket of one family and mode, and the echoes waiting for their reply.

    icmplib builds and sends the requests; replies are drained straight from the socket by a
    reader callback (every packet waiting, each time the socket is readable), so a burst of
    thousands of replies never waits on a coroutine per packet.
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
        # Linux gives raw IPv4 sockets the IP header; datagram and IPv6 sockets start at ICMP.
        self.ip_header = family == 4 and privileged
        self.echo_reply = _ECHO_REPLY[family]
        self.ident = random.getrandbits(16)  # raw sockets: ours; datagram ones: the kernel's
        self.sequences = itertools.count(random.getrandbits(16))
        self.waiting: dict[tuple[int, int], asyncio.Future[float]] = {}
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._drain)

    async def echo(self, address: str, reply_timeout: float) -> float | None:
        """One echo to ``address``: its round-trip time in ms, or None when none came."""
        request = ICMPRequest(
            destination=address, id=self.ident, sequence=next(self.sequences) % 65536
        )
        self.icmp.send(request)  # non-blocking; a datagram socket's id is set by the kernel
        key = (request.id, request.sequence)
        arrival: asyncio.Future[float] = self.loop.create_future()
        self.waiting[key] = arrival
        try:
            received = await asyncio.wait_for(arrival, reply_timeout)
        except TimeoutError:
            return None
        finally:
            self.waiting.pop(key, None)
        sent_at: float = request.time
        return max(received - sent_at, 0.0) * 1000.0

    def _drain(self) -> None:
        """Read every packet waiting; hand each echo reply to the echo waiting for it."""
        while True:
            try:
                packet = self.sock.recv(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error queued on a datagram socket: its echo times out
            arrived = time.time()
            start = (packet[0] & 0x0F) * 4 if self.ip_header and packet else 0
            head = packet[start : start + 8]
            if len(head) < 8 or head[0] != self.echo_reply:
                continue  # our own requests on loopback, errors, others' traffic
            ident, sequence = struct.unpack("!HH", head[4:8])
            arrival = self.waiting.get((ident, sequence))
            if arrival is not None and not arrival.done():
                arrival.set_result(arrived)

    def close(self) -> None:
        for arrival in self.waiting.values():
            arrival.cancel()
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

        Raises:
            Unpingable: this mode is not allowed here.
            ValueError: ``address`` is not an IP literal.
        """
        family = ipaddress.ip_address(address).version
        channel = self._channel(family, privileged=privileged)
        echoes = []
        for n in range(count):
            if n:
                await asyncio.sleep(interval)
            echoes.append(asyncio.ensure_future(self._one(channel, address, reply_timeout)))
        answers = await asyncio.gather(*echoes)
        return [rtt for rtt in answers if rtt is not None]

    async def _one(self, channel: _Channel, address: str, reply_timeout: float) -> float | None:
        try:
            return await channel.echo(address, reply_timeout)
        except ICMPLibError:  # refused by the kernel (no route): no answer
            return None

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
