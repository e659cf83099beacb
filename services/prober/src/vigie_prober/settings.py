"""Prober's settings: ``VIGIE_PROBER_*`` plus the shared ``VIGIE_*`` connection settings.

Nested groups use ``__``: ``VIGIE_PROBER_SSH__MAX_SESSIONS=200``,
``VIGIE_PROBER_OBSERVATION__INTERVAL_S=60``, ``VIGIE_PROBER_DAMPENING__QUIET_S=600``.
Per-product observation timings are one JSON object:
``VIGIE_PROBER_OBSERVATION__PRODUCTS='{"Ethernet VPN": {"interval_s": 300, "window_s": 43200}}'``.
Credentials profiles are not settings: see :mod:`vigie_prober.credentials`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from asyncssh.encryption import get_encryption_algs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from vigie_common.runtime import DEFAULT_GC_THRESHOLDS
from vigie_common.settings import ServiceSettings

from vigie_prober.flaps import DampeningPolicy
from vigie_prober.runbook import PingFrom
from vigie_prober.ssh import PREFERRED_CIPHERS, AccessOptions


class Timing(BaseModel):
    """How often a ticket in observation is probed, and for how long."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    interval_s: float = Field(default=900.0, gt=0, description="Seconds between two probes")
    window_s: float = Field(default=86_400.0, gt=0, description="Seconds the observation lasts")

    @model_validator(mode="after")
    def _window_holds_a_probe(self) -> Timing:
        if self.interval_s > self.window_s:
            raise ValueError("interval_s must not exceed window_s")
        return self

    @property
    def interval(self) -> timedelta:
        """Between two probes."""
        return timedelta(seconds=self.interval_s)

    @property
    def window(self) -> timedelta:
        """The observation's length."""
        return timedelta(seconds=self.window_s)


class ObservationSettings(Timing):
    """The default timing (15 min / 24 h), and overrides by product (the ticket's name)."""

    products: dict[str, Timing] = Field(
        default_factory=dict,
        description="Timing by product name (compared without case), e.g. "
        '{"Ethernet VPN": {"interval_s": 300, "window_s": 43200}}',
    )

    def for_product(self, product: str | None) -> Timing:
        """The product's own timing, or the default."""
        if product:
            wanted = product.strip().casefold()
            for name, timing in self.products.items():
                if name.strip().casefold() == wanted:
                    return timing
        return Timing(interval_s=self.interval_s, window_s=self.window_s)


class DampeningSettings(BaseModel):
    """Interface event dampening (see :mod:`vigie_prober.flaps`), in seconds and points."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    penalty: float = Field(default=1000.0, gt=0)
    coalesce_s: float = Field(default=60.0, ge=0)
    half_life_s: float = Field(default=900.0, gt=0)
    suppress: float = Field(default=2000.0, gt=0)
    reuse: float = Field(default=750.0, gt=0)
    quiet_s: float = Field(default=3600.0, ge=0)

    @model_validator(mode="after")
    def _valid_policy(self) -> DampeningSettings:
        self.policy()  # raises ValueError naming the field
        return self

    def policy(self) -> DampeningPolicy:
        """The policy the flap detection applies."""
        return DampeningPolicy(
            penalty=self.penalty,
            coalesce=timedelta(seconds=self.coalesce_s),
            half_life=timedelta(seconds=self.half_life_s),
            suppress=self.suppress,
            reuse=self.reuse,
            quiet=timedelta(seconds=self.quiet_s),
        )


class SshSettings(BaseModel):
    """How the prober reaches routers (see :class:`vigie_prober.ssh.AccessOptions`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_sessions: int = Field(default=100, ge=1)
    max_sessions_per_jump_host: int = Field(default=50, ge=1)
    logins_per_second: float = Field(
        default=20.0, ge=0, description="New logins a second per jump host; 0: unpaced"
    )
    login_burst: int = Field(default=1, ge=1)
    connect_timeout: float = Field(default=10.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)
    max_output_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    mode: Literal["exec", "shell"] = "exec"
    known_hosts: Path | None = Field(
        default=None, description="known_hosts file for devices and jump hosts that name none"
    )
    known_hosts_folder: Path | None = Field(
        default=None, description="Where the inventory's relative known_hosts paths are read"
    )
    trust_on_first_use: bool = Field(
        default=False, description="Accept and record unknown host keys, for every profile"
    )
    keepalive_interval: float = Field(default=30.0, ge=0)
    idle_timeout: float = Field(default=30.0, ge=0)
    ciphers: tuple[str, ...] = Field(
        default=PREFERRED_CIPHERS,
        min_length=1,
        description="Ciphers offered, preferred first (AES-GCM: the cheapest with AES-NI)",
    )

    @field_validator("ciphers")
    @classmethod
    def _known_ciphers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {name.decode() for name in get_encryption_algs()}
        if unknown := [name for name in value if name not in known]:
            raise ValueError(f"unknown ciphers {unknown} (known: {sorted(known)})")
        return value

    def options(self) -> AccessOptions:
        """The access options these settings give."""
        return AccessOptions(**self.model_dump())


class ProberSettings(ServiceSettings):
    """Everything the prober reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_PROBER_")  # the rest is inherited

    host: str = Field(
        default="127.0.0.1",
        description="Where the read API listens (/healthz, /readyz, /metrics, GET routes); "
        "0.0.0.0 in a container",
    )
    port: int = Field(default=9101, ge=1, le=65535)
    inventory_file: Path | None = Field(
        default=None,
        description="An inventory (YAML or CSV) imported at start-up, as "
        "`vigie-prober inventory import` would",
    )
    observation: ObservationSettings = Field(default_factory=ObservationSettings)
    dampening: DampeningSettings = Field(default_factory=DampeningSettings)
    ssh: SshSettings = Field(default_factory=SshSettings)
    ping_from: PingFrom = Field(
        default=PingFrom.PROBER, description="Where layer 1 pings from: prober, jump_host, none"
    )
    ping_count: int = Field(default=5, ge=1, le=20)
    max_concurrent_tickets: int = Field(
        default=50, ge=1, description="Tickets probed at once by this replica"
    )
    poll_interval_s: float = Field(
        default=1.0, gt=0, description="How often the scheduler looks for due probes"
    )
    lease_s: float = Field(
        default=120.0, gt=0, description="A claimed probe's lease; renewed while it runs"
    )
    gc_thresholds: tuple[int, int, int] = Field(
        default=DEFAULT_GC_THRESHOLDS,
        description="gc.set_threshold of the worker (start-up objects are frozen)",
    )
    retry_delay_s: float = Field(
        default=30.0, gt=0, description="Before retrying a probe whose result could not be saved"
    )
