"""The technician's runbook, layer by layer, stopping at the lowest layer that fails.

1. **Reachability**: a burst of pings from the prober (:mod:`vigie_prober.reachability`), or,
   when asked, ``ping -c 5 -w 7 <ip>`` run on the device's jump host and read by
   :func:`vigie_prober.pings.parse_ping`. No answer at all: ``unreachable``.
2. **Access**: an SSH login, through the device's jump host when it has one
   (:mod:`vigie_prober.ssh`). A refused login, a host key, a time-out: ``inconclusive``.
3. **Evidence**: the driver's read-only commands, in order, each through the allow-list and
   bounded in bytes and time; their output parsed by the driver. A time-out or an output over
   the cap: ``inconclusive``, with what came kept as evidence.
4. **Verdict**: :func:`vigie_prober.verdicts.judge_device` on the parsed log.

A probe never raises: whatever fails (the network, the router, the prober itself) becomes
``inconclusive (<layer>: <reason>)`` — or ``unreachable`` — with ``failed_layer`` naming
where it stopped. A ticket's ends are probed concurrently and judged together
(:func:`probe_ends`, the worst end wins).

Layer 1 on loopback: every 127.0.0.0/8 address answers the prober's own ping, so a lab
router with no SSH listener is ``inconclusive`` at the access layer when pinged from the
prober (the address answers, the port refuses), and ``unreachable`` when pinged from the lab's
jump host (which knows the router does not answer).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from vigie_common.logs import get_logger

from vigie_prober.drivers import UnknownDriver, get_driver
from vigie_prober.drivers.base import Driver
from vigie_prober.errors import AccessFailed, CommandFailed, Layer, ProberError
from vigie_prober.flaps import DEFAULT_POLICY, DampeningPolicy
from vigie_prober.inventory_store import DeviceRecord
from vigie_prober.pings import parse_ping
from vigie_prober.reachability import Reachability, probe_reachability
from vigie_prober.ssh import Access
from vigie_prober.verdicts import DeviceVerdict, TicketVerdict, Verdict, judge_device, judge_ticket

__all__ = ["DeviceProbe", "LayerResult", "PingFrom", "TicketProbe", "probe_device", "probe_ends"]

log = get_logger(__name__)

Figure = float | int | str | bool | None


class PingFrom(StrEnum):
    """Where layer 1's pings leave from."""

    PROBER = "prober"
    """The prober's host (ICMP, or TCP connects to the SSH port where ICMP is not allowed)."""
    JUMP_HOST = "jump_host"
    """The device's jump host, as a technician pings from ``rebond`` (the prober's host when
    the device has none)."""
    NONE = "none"
    """No ping: start at the access layer."""


@dataclass(frozen=True, slots=True)
class LayerResult:
    """One layer as it ran.

    Attributes:
        layer: ``reachability``, ``access`` or ``evidence``.
        ok: Whether the runbook could go on from it.
        detail: What happened, one line.
        duration_s: Seconds it took.
        figures: Its measures: loss and round-trip times, bytes read, events found…
    """

    layer: Layer
    ok: bool
    detail: str
    duration_s: float
    figures: Mapping[str, Figure] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceProbe:
    """One device probed: each layer run, where it stopped, the verdict and the evidence.

    Attributes:
        hostname: The device.
        address: Its management address.
        driver: Its driver's name.
        started: When the probe started (the ``now`` given).
        finished: When it ended.
        layers: One entry per layer run, in order.
        failed_layer: The layer that stopped the runbook; None when the log was read.
        verdict: The device's verdict (its ``reason`` names the failed layer).
        output: What the router printed (the evidence, partial on a time-out or an output
            over the cap; at most the byte cap per command).
    """

    hostname: str
    address: str
    driver: str
    started: datetime
    finished: datetime
    layers: tuple[LayerResult, ...]
    failed_layer: Layer | None
    verdict: DeviceVerdict
    output: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketProbe:
    """A ticket's ends, probed together, and the ticket's verdict (the worst end)."""

    probes: tuple[DeviceProbe, ...]
    verdict: TicketVerdict


class _Probe:
    """The state of one probe while it runs."""

    def __init__(self, device: DeviceRecord, now: datetime) -> None:
        self.device = device
        self.now = now
        self.clock = time.perf_counter()
        self.layers: list[LayerResult] = []
        self.outputs: list[str] = []

    def layer(
        self, layer: Layer, ok: bool, detail: str, since: float, **figures: Figure
    ) -> LayerResult:
        result = LayerResult(layer, ok, detail, round(time.perf_counter() - since, 6), figures)
        self.layers.append(result)
        return result

    @property
    def elapsed(self) -> timedelta:
        return timedelta(seconds=time.perf_counter() - self.clock)

    def done(self, verdict: DeviceVerdict, failed: Layer | None) -> DeviceProbe:
        device = self.device
        probe = DeviceProbe(
            hostname=device.hostname,
            address=device.address,
            driver=device.driver,
            started=self.now,
            finished=self.now + self.elapsed,
            layers=tuple(self.layers),
            failed_layer=failed,
            verdict=verdict,
            output="".join(self.outputs),
        )
        # DEBUG: a fleet's probes would flood the log; the scheduler logs each ticket's verdict
        # and the observation events carry every device's figures.
        log.debug(
            "device probed",
            device=device.hostname,
            verdict=verdict.verdict.value,
            reason=verdict.reason,
            failed_layer=failed,
            duration_s=round((probe.finished - probe.started).total_seconds(), 3),
        )
        return probe

    def inconclusive(self, layer: Layer, reason: str) -> DeviceProbe:
        verdict = DeviceVerdict(
            verdict=Verdict.INCONCLUSIVE, reason=f"{layer}: {reason}", device=self.device.hostname
        )
        return self.done(verdict, layer)


async def probe_device(
    device: DeviceRecord,
    *,
    access: Access,
    now: datetime,
    since: datetime | None = None,
    ping: PingFrom = PingFrom.PROBER,
    ping_count: int = 5,
    policy: DampeningPolicy = DEFAULT_POLICY,
) -> DeviceProbe:
    """Probe one device layer by layer, stopping at the lowest failing layer; never raises.

    Args:
        device: The device, from the inventory.
        access: The prober's SSH access (connections, slots, pace, caps).
        now: When the probe starts (aware); the log is judged at the end of the probe.
        since: Count flaps from here (the repair, the observation's start).
        ping: Where layer 1 pings from, or no ping.
        ping_count: Pings in layer 1's burst.
        policy: The flap dampening policy.

    Returns:
        The probe: its layers, the failed one, the verdict and the router's output.
    """
    probe = _Probe(device, now)
    layer: Layer = "reachability"
    try:
        driver = get_driver(device.driver)
        # The login starts while the pings are in flight (a burst takes about a second), and
        # the layers are judged in order: a router that does not answer is unreachable, and
        # whatever its SSH port did meanwhile is dropped.
        collecting = asyncio.ensure_future(_collect(device, access, driver))
        try:
            if ping is not PingFrom.NONE:
                reached = await _reachability(probe, access, ping, ping_count)
                if reached is not None:
                    return reached
            layer = "access"
            collected = await collecting
        finally:
            if not collecting.done():
                collecting.cancel()
                await asyncio.gather(collecting, return_exceptions=True)
        probe.layers.extend(collected.layers)
        probe.outputs.extend(collected.outputs)
        if collected.failed is not None:
            layer, reason = collected.failed
            return probe.inconclusive(layer, reason)
        layer = "evidence"
        started = time.perf_counter()
        read_at = now + probe.elapsed
        parsed = driver.parse("".join(probe.outputs), tz=device.zone, now=read_at)
        recognised = parsed.recognised or bool(parsed.events)
        probe.layer(
            "evidence",
            recognised,
            f"{len(parsed.events)} events, {len(parsed.unparsed)} lines unread"
            if recognised
            else "no log recognised",
            started - collected.evidence_s,
            commands=collected.commands,
            bytes=collected.bytes_read,
            events=len(parsed.events),
            unparsed=len(parsed.unparsed),
        )
        verdict = judge_device(
            parsed, now=read_at, since=since, policy=policy, device=device.hostname
        )
        return probe.done(verdict, None if recognised else "evidence")
    except UnknownDriver as error:
        return probe.inconclusive("evidence", str(error))
    except ProberError as error:  # raised out of its layer's own handling (a jump host ping…)
        return probe.inconclusive(layer, error.reason)
    except Exception as error:  # a probe never raises: the failure is the verdict
        log.exception("probe failed", device=device.hostname, layer=layer)
        return probe.inconclusive(layer, f"prober error ({type(error).__name__})")


@dataclass(slots=True)
class _Collected:
    """Layers 2 and 3 as they ran: the login, the commands' output, or where they failed."""

    layers: list[LayerResult] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    failed: tuple[Layer, str] | None = None
    commands: int = 0
    bytes_read: int = 0
    evidence_s: float = 0.0
    """Seconds the commands took (the evidence layer's duration, parsing aside)."""


def _layer(layer: Layer, ok: bool, detail: str, since: float, **figures: Figure) -> LayerResult:
    return LayerResult(layer, ok, detail, round(time.perf_counter() - since, 6), figures)


async def _collect(device: DeviceRecord, access: Access, driver: Driver) -> _Collected:
    """Log in (layer 2) and run the driver's read-only commands (layer 3, before parsing)."""
    collected = _Collected()
    async with AsyncExitStack() as stack:
        started = time.perf_counter()
        try:
            session = await stack.enter_async_context(access.session(device))
        except AccessFailed as error:
            failure = _layer("access", False, error.reason, started, error=type(error).__name__)
            collected.layers.append(failure)
            collected.failed = ("access", error.reason)
            return collected
        via = f" via {session.via}" if session.via else ""
        how = "reused the open connection" if session.reused else "logged in"
        collected.layers.append(
            _layer(
                "access",
                True,
                f"{how} to {device.address}:{device.port}{via}",
                started,
                via=session.via,
                reused=session.reused,
                login_s=round(session.login_s, 6),
            )
        )
        started = time.perf_counter()
        try:
            for command in driver.commands:
                output = await session.run(command)
                collected.outputs.append(output.text)
                collected.commands += 1
                collected.bytes_read += output.bytes_read
        except CommandFailed as error:
            collected.outputs.append(error.output)
            collected.layers.append(
                _layer(
                    "evidence",
                    False,
                    error.reason,
                    started,
                    command=error.command,
                    error=type(error).__name__,
                )
            )
            collected.failed = ("evidence", error.reason)
            return collected
        collected.evidence_s = time.perf_counter() - started
    return collected


async def _reachability(
    probe: _Probe, access: Access, ping: PingFrom, count: int
) -> DeviceProbe | None:
    """Layer 1: None when the device answered, else the finished probe (unreachable…)."""
    device = probe.device
    started = time.perf_counter()
    if ping is PingFrom.JUMP_HOST and device.jump_host is not None:
        origin = f"jump host {device.jump_host.name}"
        try:
            output = await access.ping_from_jump(device, count=count)
        except ProberError as error:
            probe.layer("reachability", False, error.reason, started, origin=origin)
            return probe.inconclusive("reachability", error.reason)
        summary = parse_ping(output.text)
        if summary is None:
            detail = f"ping from {origin}: no summary in its output"
            probe.layer("reachability", False, detail, started, origin=origin)
            return probe.inconclusive("reachability", detail)
        sent, received, loss = summary.transmitted, summary.received, summary.loss_percent
        figures: dict[str, Figure] = {
            "origin": origin,
            "method": "icmp",
            "sent": sent,
            "received": received,
            "loss_percent": loss,
            "rtt_min_ms": summary.rtt_min_ms,
            "rtt_avg_ms": summary.rtt_avg_ms,
            "rtt_max_ms": summary.rtt_max_ms,
            "rtt_mdev_ms": summary.rtt_mdev_ms,
        }
        detail = f"{sent} sent, {received} received, {loss:g}% loss from {origin}"
    else:
        origin = "the prober"
        try:
            reach = await probe_reachability(
                device.address, ssh_port=device.port, count=count, pinger=access.pinger
            )
        except PermissionError as error:
            probe.layer("reachability", False, str(error), started, origin=origin)
            return probe.inconclusive("reachability", str(error))
        figures = _figures(reach, origin)
        sent, received, loss, detail = reach.sent, reach.received, reach.loss_percent, reach.detail
    if received > 0:
        probe.layer("reachability", True, detail, started, **figures)
        return None
    probe.layer("reachability", False, detail, started, **figures)
    what = "TCP connects to the SSH port" if figures["method"] == "tcp" else "pings"
    reason = f"reachability: no answer to {sent} {what} from {origin} ({loss:g}% loss)"
    verdict = DeviceVerdict(verdict=Verdict.UNREACHABLE, reason=reason, device=device.hostname)
    return probe.done(verdict, "reachability")


def _figures(reach: Reachability, origin: str) -> dict[str, Figure]:
    return {
        "origin": origin,
        "method": reach.method.value,
        "sent": reach.sent,
        "received": reach.received,
        "loss_percent": reach.loss_percent,
        "rtt_min_ms": reach.rtt_min_ms,
        "rtt_avg_ms": reach.rtt_avg_ms,
        "rtt_max_ms": reach.rtt_max_ms,
        "rtt_mdev_ms": reach.rtt_mdev_ms,
    }


async def probe_ends(
    devices: Sequence[DeviceRecord],
    *,
    access: Access,
    now: datetime,
    since: datetime | None = None,
    ping: PingFrom = PingFrom.PROBER,
    ping_count: int = 5,
    policy: DampeningPolicy = DEFAULT_POLICY,
) -> TicketProbe:
    """Probe a ticket's ends concurrently (both ends of a P2P link), then judge the ticket.

    Args:
        devices: The ticket's devices (its ends), in the ticket's order.
        access: The prober's SSH access.
        now: When the probes start (aware).
        since: Count flaps from here.
        ping: Where layer 1 pings from.
        ping_count: Pings in layer 1's burst.
        policy: The flap dampening policy.

    Returns:
        Each end's probe, in the order given, and the ticket's verdict (the worst end wins;
        ``inconclusive`` when there is no device). Never raises.
    """
    probes = await asyncio.gather(
        *(
            probe_device(
                device,
                access=access,
                now=now,
                since=since,
                ping=ping,
                ping_count=ping_count,
                policy=policy,
            )
            for device in devices
        )
    )
    return TicketProbe(probes=tuple(probes), verdict=judge_ticket([p.verdict for p in probes]))
