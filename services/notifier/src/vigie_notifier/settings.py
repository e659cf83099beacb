"""Notifier's settings: ``VIGIE_NOTIFIER_*`` plus the shared ``VIGIE_*`` connection settings.

Nested groups use ``__``: ``VIGIE_NOTIFIER_SMTP__HOST``, ``VIGIE_NOTIFIER_SMS__URL``,
``VIGIE_NOTIFIER_TEAMS__SUPPORT="SUPPORT N2, , n2@example.com;"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from vigie_common.runtime import DEFAULT_GC_THRESHOLDS
from vigie_common.settings import ServiceSettings
from vigie_common.zones import load_zone

from vigie_notifier.recipients import parse_recipients


class TeamSettings(BaseModel):
    """The teams of the rules (INT, EDS), each in the team's ``NAME, phone, email;`` format."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    support: str = Field(default="", description="Support team: flapping lines (A2, A3)")
    field: str = Field(default="", description="Field teams: router replacement (A0, A1)")
    escalation: str = Field(default="", description="Escalation (EDS): GTR warnings")

    @field_validator("support", "field", "escalation")
    @classmethod
    def _recipients(cls, value: str) -> str:
        if value.strip():
            parse_recipients(value)  # RecipientListError (a ValueError) names the entry
        return value


class SmtpSettings(BaseModel):
    """The team's SMTP relay (the lab's sink in the dev run)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_file: Path | None = None
    from_address: str = "noreply@vigie.invalid"
    from_name: str = "Service Client Réseau"
    timeout_s: float = Field(default=30.0, gt=0)
    ehlo_name: str | None = Field(
        default=None, description="Name given in EHLO (default: this host's name, asked once)"
    )

    def secret(self) -> SecretStr | None:
        """The password, from the setting or its file (first line), read now."""
        if self.password_file is not None:
            line = self.password_file.read_text(encoding="utf-8").splitlines()[:1]
            return SecretStr(line[0]) if line else None
        return self.password


class SmsGatewaySettings(BaseModel):
    """The HTTP SMS gateway (README, SMS gateway contract); unset: SMS are not sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    token: SecretStr | None = None
    token_file: Path | None = None
    timeout_s: float = Field(default=10.0, gt=0)


class NotifierSettings(ServiceSettings):
    """Everything the notifier reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_NOTIFIER_")  # the rest is inherited

    host: str = Field(
        default="127.0.0.1",
        description="Where the read API listens (/healthz, /readyz, /metrics, GET routes); "
        "0.0.0.0 in a container",
    )
    port: int = Field(default=9102, ge=1, le=65535)
    operator: str = Field(
        default="VIGIE",
        min_length=1,
        max_length=40,
        description="The operator's name at the head of every subject and SMS",
    )
    templates_dir: Path | None = Field(
        default=None,
        description="An operators' folder of templates (catalogue.yaml and files) that adds "
        "codes or overrides the packaged ones",
    )
    default_timezone: str = Field(
        default="Europe/Paris", description="Zone of a site whose ticket names none"
    )

    default_country: str = Field(
        default="FR", min_length=2, max_length=2, description="Public holidays of this country"
    )
    default_subdiv: str | None = Field(
        default=None, description="The holidays package's subdivision (57 Moselle, 6AE Alsace…)"
    )
    rules_file: Path | None = Field(
        default=None, description="Rules replacing the packaged rules.yaml (README, Rules)"
    )
    contacts_file: Path | None = Field(
        default=None,
        description="A contacts file imported at start-up, as `vigie-notifier contacts import`",
    )
    teams: TeamSettings = Field(default_factory=lambda: TeamSettings())
    smtp: SmtpSettings = Field(default_factory=lambda: SmtpSettings())
    sms: SmsGatewaySettings = Field(default_factory=lambda: SmsGatewaySettings())
    message_domain: str = Field(
        default="vigie.invalid",
        pattern=r"^[A-Za-z0-9.-]{1,200}$",
        description="Right-hand side of the Message-IDs vigie makes (your mail domain)",
    )
    send_concurrency: int = Field(default=20, ge=1, le=500, description="Sends in flight")
    send_poll_interval_s: float = Field(default=1.0, gt=0)
    send_lease_s: float = Field(
        default=120.0,
        gt=0,
        description="A claimed send is another replica's after this; a delivery taking more "
        "than half of it is abandoned and tried again (at least 2 SMTP or SMS timeouts)",
    )
    consume_batch: int = Field(
        default=50, ge=1, le=500, description="Events stored per consume transaction at most"
    )
    retry_backoff_s: float = Field(default=5.0, gt=0, description="First retry after")
    max_retry_backoff_s: float = Field(
        default=300.0, gt=0, description="Retries at most this far apart"
    )
    gc_thresholds: tuple[int, int, int] = Field(
        default=DEFAULT_GC_THRESHOLDS, description="gc.set_threshold of the worker"
    )
    watch_interval_s: float = Field(
        default=5.0, gt=0, description="How often warnings and chases are checked"
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> NotifierSettings:
        slowest = max(self.smtp.timeout_s, self.sms.timeout_s if self.sms.url else 0.0)
        if self.send_lease_s < 2 * slowest:
            raise ValueError(
                f"send_lease_s ({self.send_lease_s:g}) must be at least twice the step timeout "
                f"of the SMTP relay or the SMS gateway ({slowest:g}): a delivery gets half the "
                "lease, which must hold one whole step"
            )
        return self

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)  # UnknownZone is a ValueError naming the value
        return value
