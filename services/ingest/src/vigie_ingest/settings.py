"""Ingest's settings: ``VIGIE_INGEST_*`` plus the shared ``VIGIE_*`` connection settings."""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from vigie_common.credentials import Credentials
from vigie_common.runtime import DEFAULT_GC_THRESHOLDS
from vigie_common.settings import ServiceSettings, weak_secret_reason
from vigie_common.zones import load_zone

from vigie_ingest.sources.base import MappingOptions, ServiceNowFields

RECORD_OVERHEAD_BYTES: Final = 1024
"""Key, headers and record framing around an event, with room to spare."""
EVENT_HEADROOM_BYTES: Final = 64 * 1024
"""An event without its raw payload is at most the body plus the envelope: this covers it."""


class IngestSettings(ServiceSettings):
    """Everything ingest reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_INGEST_")  # the rest is inherited

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    webhook_secrets: Credentials = Field(
        default_factory=dict,
        description="HMAC secrets per source: source=secret[|secret2];source2=…",
    )
    bearer_tokens: Credentials = Field(
        default_factory=dict,
        description="Bearer tokens per source, for sources that cannot sign",
    )
    signature_tolerance_s: int = Field(default=300, ge=1, le=3600)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    rejected_body_bytes: int = Field(
        default=64 * 1024, ge=0, description="How much of a rejected body is kept"
    )
    default_timezone: str = "Europe/Paris"
    servicenow_timezone: str = "UTC"
    servicenow_fields: ServiceNowFields = Field(
        default_factory=ServiceNowFields,
        description="The instance's custom fields: VIGIE_INGEST_SERVICENOW_FIELDS__SITE_A …",
    )
    retention_days: int = Field(
        default=90,
        ge=1,
        le=36_500,
        description="Rejected webhooks and superseded ticket versions older than this go",
    )
    opentelemetry: bool = Field(
        default=False, description="FastAPI's native OpenTelemetry (needs a configured provider)"
    )
    gc_thresholds: tuple[int, int, int] = Field(
        default=DEFAULT_GC_THRESHOLDS, description="gc.set_threshold for the server process"
    )
    batch_max_size: int = Field(default=128, ge=1, description="Webhooks per DB transaction")
    batches_in_flight: int = Field(
        default=4, ge=1, le=8, description="Transactions committing at once (never on one ticket)"
    )
    outbox_batch_size: int = Field(default=1000, ge=1)
    outbox_max_lag_events: int = Field(
        default=600,
        ge=1,
        description="While publishing works and the relay is this far behind, commits wait",
    )
    outbox_max_wait_s: float = Field(
        default=0.25, gt=0, description="The longest one commit waits for the relay"
    )
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)

    @field_validator("default_timezone", "servicenow_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)  # UnknownZone is a ValueError naming the value
        return value

    @model_validator(mode="after")
    def _body_fits_one_message(self) -> IngestSettings:
        """An accepted webhook must always fit one Kafka message (its event may drop raw)."""
        if self.max_body_bytes + EVENT_HEADROOM_BYTES > self.max_event_bytes:
            raise ValueError(
                f"VIGIE_INGEST_MAX_BODY_BYTES ({self.max_body_bytes}) must stay "
                f"{EVENT_HEADROOM_BYTES} bytes under VIGIE_KAFKA_MAX_MESSAGE_BYTES "
                f"({self.kafka_max_message_bytes}): raise the latter (and the topics' "
                "max.message.bytes) or lower the former"
            )
        return self

    @property
    def max_event_bytes(self) -> int:
        """The largest event value: the message limit less the record's key and headers."""
        return self.kafka_max_message_bytes - RECORD_OVERHEAD_BYTES

    @model_validator(mode="after")
    def _no_weak_secrets_in_prod(self) -> IngestSettings:
        if self.env != "prod":
            return self
        for kind, creds in (
            ("webhook secret", self.webhook_secrets),
            ("token", self.bearer_tokens),
        ):
            for source, values in creds.items():
                for value in values:
                    reason = weak_secret_reason(value.get_secret_value())
                    if reason is not None:
                        raise ValueError(
                            f"the {kind} of source {source!r} {reason}; "
                            "set a real one (or VIGIE_ENV=dev)"
                        )
        return self

    def secrets_for(self, source: str) -> tuple[str, ...]:
        """The active HMAC secrets of ``source`` (empty when it does not sign)."""
        return tuple(s.get_secret_value() for s in self.webhook_secrets.get(source, ()))

    def tokens_for(self, source: str) -> tuple[str, ...]:
        """The active bearer tokens of ``source``."""
        return tuple(s.get_secret_value() for s in self.bearer_tokens.get(source, ()))

    def mapping_options(self) -> MappingOptions:
        """What the source mappers need."""
        return MappingOptions(
            default_tz=ZoneInfo(self.default_timezone),
            servicenow_tz=ZoneInfo(self.servicenow_timezone),
            servicenow_fields=self.servicenow_fields,
        )
