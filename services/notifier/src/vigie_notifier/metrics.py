"""The notifier's own metrics (``vigie_notifier_*``): sends, decisions, GTR clocks.

Labels stay bounded: channels, template codes, states, rules; never a ticket or an address.
Counts of what the tables hold (pending sends, running clocks, outcomes) are gauges read
from the database, so they survive restarts and agree across replicas.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["NotifierMetrics"]


class NotifierMetrics:
    """Everything an operator watches about notifications and the GTR, registered once."""

    def __init__(self, registry: CollectorRegistry) -> None:
        p = "vigie_notifier"
        self.sends = Counter(
            f"{p}_notifications_total",
            "Sends that ended, by channel, template and result (sent, failed)",
            ["channel", "template", "result"],
            registry=registry,
        )
        self.retries = Counter(
            f"{p}_send_retries_total",
            "Sends put back for later after a transient failure (server down, 4xx)",
            ["channel"],
            registry=registry,
        )
        self.refused = Counter(
            f"{p}_recipients_refused_total",
            "Recipients the server refused while it took the message for the others",
            ["channel"],
            registry=registry,
        )
        self.duration = Histogram(
            f"{p}_send_duration_seconds",
            "One delivery to the SMTP server or the SMS gateway",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.pending = Gauge(
            f"{p}_notifications_pending",
            "Sends waiting to go (all replicas), by channel",
            ["channel"],
            registry=registry,
        )
        self.oldest_pending = Gauge(
            f"{p}_notifications_oldest_pending_seconds",
            "Age of the oldest send still waiting",
            registry=registry,
        )
        self.failed = Gauge(
            f"{p}_notifications_failed",
            "Sends refused for good, kept for an operator (all replicas)",
            registry=registry,
        )
        self.gtr_running = Gauge(
            f"{p}_gtr_running", "Tickets whose GTR clock runs", registry=registry
        )
        self.gtr_at_risk = Gauge(
            f"{p}_gtr_at_risk",
            "Running GTR clocks past a warning threshold (50, 75, 100 % of the budget)",
            ["threshold"],
            registry=registry,
        )
        self.gtr_outcomes = Gauge(
            f"{p}_gtr_outcomes",
            "GTR outcomes recorded, by result (met, breached, cancelled, unreadable)",
            ["result"],
            registry=registry,
        )
        self.gtr_warnings = Counter(
            f"{p}_gtr_warnings_total",
            "GTR warnings published, by threshold",
            ["threshold"],
            registry=registry,
        )
        self.restoration = Histogram(
            f"{p}_gtr_restoration_business_minutes",
            "Business minutes from a ticket's creation to its restoration",
            buckets=(15, 30, 60, 120, 240, 480, 960, 1440, 2880),
            registry=registry,
        )
        for channel in ("mail", "sms"):
            self.pending.labels(channel)
            self.retries.labels(channel)
            self.refused.labels(channel)
        for threshold in ("50", "75", "100"):
            self.gtr_at_risk.labels(threshold)
            self.gtr_warnings.labels(threshold)
        for result in ("met", "breached", "cancelled", "unreadable"):
            self.gtr_outcomes.labels(result)
