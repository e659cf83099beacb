"""The prober's own metrics (``vigie_prober_*``): probes, layers, ICMP, flaps, SSH, the schedule.

Labels stay bounded: layers, verdicts and error kinds, never a hostname or a ticket.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from vigie_common.events.probes import Verdict

from vigie_prober.runbook import DeviceProbe

__all__ = ["ProberMetrics"]

_SSH_LAYERS: Final = frozenset({"access", "evidence"})
_PREFIX: Final = "vigie_prober"


class ProberMetrics:
    """Everything an operator watches about the probing, registered once per process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        p = _PREFIX
        self.probes = Counter(
            f"{p}_probes_total",
            "Devices probed, by the layer the runbook stopped at (verdict: it read the log) "
            "and the device's verdict",
            ["layer", "result"],
            registry=registry,
        )
        self.layers = Counter(
            f"{p}_layer_runs_total",
            "Runbook layers run, by layer and outcome (ok, failed)",
            ["layer", "outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{p}_probe_duration_seconds",
            "One device's probe, from the first ping to the verdict",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
            registry=registry,
        )
        self.rtt = Histogram(
            f"{p}_icmp_rtt_seconds",
            "Average round-trip time of a probe's ping burst",
            buckets=(0.0005, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
            registry=registry,
        )
        self.loss = Histogram(
            f"{p}_icmp_loss_ratio",
            "Share of a probe's pings left unanswered (0 to 1)",
            buckets=(0, 0.01, 0.2, 0.4, 0.6, 0.8, 0.99, 1),
            registry=registry,
        )
        self.flapping = Counter(
            f"{p}_flapping_devices_total",
            "Device probes whose verdict was flapping",
            registry=registry,
        )
        self.flaps = Counter(
            f"{p}_flaps_detected_total",
            "Cuts (coalesced link raises) counted by probes with a flapping verdict",
            registry=registry,
        )
        self.ssh_errors = Counter(
            f"{p}_ssh_errors_total",
            "SSH failures by kind (AuthFailed, HostKeyMismatch, CommandTimeout…)",
            ["kind"],
            registry=registry,
        )
        self.verdicts = Counter(
            f"{p}_verdicts_total",
            "Ticket verdicts published, by purpose and verdict",
            ["purpose", "verdict"],
            registry=registry,
        )
        self.in_flight = Gauge(
            f"{p}_probes_in_flight", "Tickets being probed now by this replica", registry=registry
        )
        self.backlog = Gauge(
            f"{p}_schedule_backlog",
            "Probes due and not yet claimed (all replicas)",
            registry=registry,
        )
        self.oldest_late = Gauge(
            f"{p}_schedule_oldest_late_seconds",
            "How late the oldest unclaimed due probe is",
            registry=registry,
        )
        self.lateness = Histogram(
            f"{p}_schedule_lateness_seconds",
            "How late a probe started after it was due",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
            registry=registry,
        )
        self.dropped = Counter(
            f"{p}_results_dropped_total",
            "Rounds whose result was dropped: the plan changed (ticket closed, new version) "
            "or the lease was taken over while probing",
            registry=registry,
        )
        for layer in ("reachability", "access", "evidence", "verdict"):
            for result in Verdict:
                self.probes.labels(layer, result.value)
        for verdict in Verdict:
            for purpose in ("diagnostic", "observation"):
                self.verdicts.labels(purpose, verdict.value)

    def observe(self, probe: DeviceProbe) -> None:
        """Count one device's probe: its layers, its figures, its verdict."""
        self.probes.labels(probe.failed_layer or "verdict", probe.verdict.verdict.value).inc()
        self.duration.observe(max((probe.finished - probe.started).total_seconds(), 0.0))
        for layer in probe.layers:
            self.layers.labels(layer.layer, "ok" if layer.ok else "failed").inc()
            figures = layer.figures
            if layer.layer == "reachability":
                avg, loss = figures.get("rtt_avg_ms"), figures.get("loss_percent")
                if isinstance(avg, int | float) and not isinstance(avg, bool):
                    self.rtt.observe(avg / 1000)
                if isinstance(loss, int | float) and not isinstance(loss, bool):
                    self.loss.observe(loss / 100)
            kind = figures.get("error")
            if not layer.ok and layer.layer in _SSH_LAYERS and isinstance(kind, str):
                self.ssh_errors.labels(kind).inc()
        if probe.verdict.verdict is Verdict.FLAPPING:
            self.flapping.inc()
            self.flaps.inc(probe.verdict.flaps)
