"""vigie's side: ``probe_device`` on every router, all at once, through one ``Access``.

This is the prober's own code path, whole: layer 1 pings (from the prober by default), the
SSH login through :class:`~vigie_prober.ssh.Access` (host keys from the lab's known_hosts,
credentials from a profile store), the driver's command under the allow-list and the caps,
the parse and the verdict. Every router's probe starts at once, as ``probe_ends`` starts a
ticket's ends; the Access bounds the sessions to ``concurrency`` (global and per jump host,
so direct routers get as many as the peers' semaphore). Login pacing is off
(``logins_per_second=0``): the peers do not pace either.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from vigie_common.runtime import settle_heap
from vigie_prober.credentials import CredentialStore, variable
from vigie_prober.inventory import JumpHostEntry
from vigie_prober.inventory_store import DeviceRecord
from vigie_prober.runbook import DeviceProbe, PingFrom, probe_device
from vigie_prober.settings import ProberSettings
from vigie_prober.ssh import Access, AccessOptions

from bench.prober.fleet import JUMP_USER, ROUTER_USER, Fleet, Router
from bench.prober.outcome import EXPECTED_EVENTS, Outcome
from bench.prober.settings import RunSettings
from bench.prober.stopwatch import Stopwatch


def _records(routers: tuple[Router, ...], fleet: Fleet, via_jump: bool) -> list[DeviceRecord]:
    jump: JumpHostEntry | None = None
    if via_jump:
        if fleet.jump is None:
            raise ValueError("the lab has no jump host")
        j = fleet.jump
        jump = JumpHostEntry(
            name=j.name,
            address=j.address,
            port=j.port,
            credentials=j.credentials,
            known_hosts=j.known_hosts,
        )
    return [
        DeviceRecord(
            hostname=r.hostname,
            site_code=r.site_code,
            service_reference=r.service_reference,
            address=r.address,
            port=r.port,
            driver=r.driver,
            credentials=r.credentials,
            timezone=r.timezone,
            known_hosts=r.known_hosts,
            host_key=None,
            jump_host=jump,
        )
        for r in routers
    ]


def _credentials(fleet: Fleet, settings: RunSettings) -> CredentialStore:
    """A store over a plain mapping: the bench never writes ``os.environ``."""
    router = fleet.routers[0].credentials
    mapping = {
        variable(router, "USERNAME"): ROUTER_USER,
        variable(router, "PASSWORD"): settings.passwords.router,
    }
    if fleet.jump is not None:
        mapping[variable(fleet.jump.credentials, "USERNAME")] = JUMP_USER
        mapping[variable(fleet.jump.credentials, "PASSWORD")] = settings.passwords.jump
    return CredentialStore(mapping)


def _layer_means(probes: list[DeviceProbe]) -> dict[str, float]:
    """Mean seconds each layer took, and vigie's own login time, over the probes that ran it."""
    took: dict[str, list[float]] = {}
    for probe in probes:
        for layer in probe.layers:
            took.setdefault(f"{layer.layer}_s", []).append(layer.duration_s)
            login = layer.figures.get("login_s")
            if isinstance(login, float):
                took.setdefault("login_s", []).append(login)
    return {name: statistics.fmean(values) for name, values in took.items()}


def _outcome(probe: DeviceProbe) -> Outcome:
    """Done when the runbook reached a verdict on the whole log, the peers' bar."""
    verdict = probe.verdict.verdict.value
    if probe.failed_layer is not None or verdict in ("inconclusive", "unreachable"):
        return Outcome(probe.hostname, False, f"{verdict}: {probe.verdict.reason}")
    events = [layer.figures.get("events") for layer in probe.layers if layer.layer == "evidence"]
    if events != [EXPECTED_EVENTS]:
        return Outcome(probe.hostname, False, f"log incomplete: {events} of {EXPECTED_EVENTS}")
    return Outcome(probe.hostname, True)


async def collect(
    routers: tuple[Router, ...],
    fleet: Fleet,
    settings: RunSettings,
    stopwatch: Stopwatch,
    extra: dict[str, Any],
) -> list[Outcome]:
    """Probe every router; fill ``extra`` with vigie's own figures (verdicts, layers, access).

    The clock stops when the last verdict is in; closing the connections the Access keeps
    open for reuse comes after it, timed apart (``close_s``).
    """
    devices = _records(routers, fleet, settings.via_jump)
    options = AccessOptions(
        max_sessions=settings.concurrency,
        max_sessions_per_jump_host=settings.concurrency,
        logins_per_second=0,
        connect_timeout=settings.connect_timeout,
        command_timeout=settings.command_timeout,
        known_hosts_folder=fleet.data_dir,
    )
    ping = PingFrom(settings.ping)
    settle_heap(ProberSettings.model_fields["gc_thresholds"].default)  # as vigie-prober run does
    access = Access(credentials=_credentials(fleet, settings), options=options)
    try:
        now = datetime.now(UTC)
        probes = list(
            await asyncio.gather(
                *(probe_device(d, access=access, now=now, ping=ping) for d in devices)
            )
        )
        stopwatch.stop()
    finally:
        closing = time.perf_counter()
        await access.close()
        extra["close_s"] = time.perf_counter() - closing
    stats = access.stats
    methods = Counter(
        str(layer.figures.get("method"))
        for p in probes
        for layer in p.layers
        if layer.layer == "reachability"
    )
    extra.update(
        verdicts=dict(Counter(p.verdict.verdict.value for p in probes)),
        failed_layers=dict(Counter(str(p.failed_layer) for p in probes if p.failed_layer)),
        layer_mean_s=_layer_means(probes),
        ping=settings.ping,
        ping_methods=dict(methods),
        logins_per_second=options.logins_per_second,
        max_sessions=options.max_sessions,
        max_sessions_per_jump_host=options.max_sessions_per_jump_host,
        router_logins=stats.router_logins,
        connections_to_jump_host=stats.jump_connections,
        peak_sessions=stats.peak_sessions,
        paced_s=stats.paced_s,
    )
    return [_outcome(p) for p in probes]
