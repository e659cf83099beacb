"""The runbook's first layer: is the router reachable? A burst of ICMP echoes, like a technician.

ICMP goes out through an unprivileged ICMP socket where the kernel allows it
(``net.ipv4.ping_group_range``), through a raw socket when the prober runs as root, and when
neither is possible a TCP connect to the SSH port stands in: the result says which method
answered, so a verdict never claims a ping that did not happen.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from vigie_prober.pinger import Pinger, Unpingable

__all__ = ["Method", "Reachability", "probe_reachability", "summarise"]

DEFAULT_COUNT: Final = 5
"""Five echoes, as the technician's ``ping`` sends."""


class Method(StrEnum):
    """How reachability was measured."""

    ICMP = "icmp"
    """Unprivileged ICMP socket."""
    ICMP_RAW = "icmp-raw"
    """Raw ICMP socket (root)."""
    TCP = "tcp"
    """No ICMP possible here: a TCP connect to the SSH port stands in."""


@dataclass(frozen=True, slots=True)
class Reachability:
    """The figures of one burst: loss and round-trip times in milliseconds."""

    ok: bool
    method: Method
    sent: int
    received: int
    loss_percent: float
    rtt_min_ms: float | None
    rtt_avg_ms: float | None
    rtt_max_ms: float | None
    rtt_mdev_ms: float | None
    detail: str


def summarise(method: Method, sent: int, rtts_ms: list[float], *, target: str) -> Reachability:
    """Turn the round-trip times of the answers into the figures a technician reads."""
    received = len(rtts_ms)
    loss = 100.0 if sent == 0 else round(100.0 * (sent - received) / sent, 1)
    if not rtts_ms:
        return _lost(method, sent, f"{target}: no answer")
    low, avg, high = min(rtts_ms), statistics.fmean(rtts_ms), max(rtts_ms)
    mdev = statistics.pstdev(rtts_ms) if received > 1 else 0.0
    low, avg, high, mdev = (round(v, 3) for v in (low, avg, high, mdev))
    detail = (
        f"{target}: {sent} sent, {received} received, {loss:g}% loss, "
        f"rtt min/avg/max/mdev = {low}/{avg}/{high}/{mdev} ms ({method.value})"
    )
    return Reachability(
        ok=True,
        method=method,
        sent=sent,
        received=received,
        loss_percent=loss,
        rtt_min_ms=low,
        rtt_avg_ms=avg,
        rtt_max_ms=high,
        rtt_mdev_ms=mdev,
        detail=detail,
    )


def _lost(method: Method, sent: int, detail: str) -> Reachability:
    """Every echo lost (or the target unusable): reachability failed."""
    return Reachability(
        ok=False,
        method=method,
        sent=sent,
        received=0,
        loss_percent=100.0,
        rtt_min_ms=None,
        rtt_avg_ms=None,
        rtt_max_ms=None,
        rtt_mdev_ms=None,
        detail=detail,
    )


async def probe_reachability(
    address: str,
    *,
    ssh_port: int = 22,
    count: int = DEFAULT_COUNT,
    interval: float = 0.2,
    reply_timeout: float = 2.0,
    method: Method | None = None,
    pinger: Pinger | None = None,
) -> Reachability:
    """Send ``count`` echoes to ``address`` (or connect ``count`` times to its SSH port).

    Args:
        address: The router's management address.
        ssh_port: The port tried by the TCP stand-in.
        count: Echoes (or connects) in the burst.
        interval: Seconds between two of them.
        reply_timeout: Seconds to wait for the answers after the last echo (or for each
            TCP connect).
        method: Force a method; by default ICMP unprivileged, then raw, then TCP.
        pinger: The prober's shared ICMP sockets (a fleet's bursts share them); without one,
            sockets are opened for this burst alone.
    """
    own = pinger is None
    shared = pinger or Pinger()
    try:
        methods = [method] if method else [Method.ICMP, Method.ICMP_RAW, Method.TCP]
        for candidate in methods:
            try:
                return await _burst(
                    shared, candidate, address, ssh_port, count, interval, reply_timeout
                )
            except Unpingable:
                continue  # this method is not allowed here: try the next one
    finally:
        if own:
            shared.close()
    raise PermissionError("no reachability method is allowed on this host")


async def _burst(
    pinger: Pinger,
    method: Method,
    address: str,
    port: int,
    count: int,
    interval: float,
    reply_timeout: float,
) -> Reachability:
    if method is Method.TCP:
        return await _tcp_burst(address, port, count, interval, reply_timeout)
    try:
        rtts = await pinger.burst(
            address,
            count=count,
            interval=interval,
            reply_timeout=reply_timeout,
            privileged=method is Method.ICMP_RAW,
        )
    except ValueError:  # not an IP literal: the inventory holds addresses, never names
        return _lost(method, count, f"{address}: not an IP address")
    return summarise(method, count, rtts, target=address)


async def _tcp_burst(
    address: str, port: int, count: int, interval: float, reply_timeout: float
) -> Reachability:
    rtts: list[float] = []
    for n in range(count):
        if n:
            await asyncio.sleep(interval)
        started = time.perf_counter()
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), reply_timeout
            )
        except (OSError, TimeoutError):
            continue
        rtts.append((time.perf_counter() - started) * 1000.0)
        writer.close()
        await writer.wait_closed()
    return summarise(Method.TCP, count, rtts, target=f"{address}:{port}")
