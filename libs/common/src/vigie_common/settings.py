"""Settings every service shares, read from ``VIGIE_*`` and overridable per service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``VIGIE_INGEST_``).
The connection settings below are also read from the unprefixed ``VIGIE_<FIELD>`` variables,
so one ``VIGIE_DATABASE_URL`` serves every service while ``VIGIE_INGEST_DATABASE_URL`` wins
for ingest alone.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_PREFIX = "VIGIE_"


class ServiceSettings(BaseSettings):
    """Base of every service's ``Settings``: database, Kafka, logs, metrics."""

    model_config = SettingsConfigDict(
        env_nested_delimiter="__", extra="ignore", hide_input_in_errors=True
    )

    shared_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "env",
            "database_url",
            "database_echo",
            "kafka_bootstrap_servers",
            "kafka_idempotence",
            "kafka_security_protocol",
            "kafka_request_timeout_ms",
            "log_level",
            "log_format",
        }
    )

    env: Literal["dev", "test", "prod"] = "prod"
    database_url: str = Field(
        default="sqlite+aiosqlite:///./.vigie/vigie.db",
        description="sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )
    database_echo: bool = False
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_idempotence: bool = Field(
        default=True,
        description="Idempotent producer; turn off for brokers without it (Tansu)",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_request_timeout_ms: int = Field(default=40_000, ge=1_000)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    migrate_on_start: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Service-prefixed variables first, then the shared ``VIGIE_*`` ones."""
        shared = _SharedEnvSource(settings_cls, cls.shared_fields)
        return (init_settings, env_settings, shared, dotenv_settings, file_secret_settings)


class _SharedEnvSource(EnvSettingsSource):
    """Reads only the shared fields, from the unprefixed ``VIGIE_<FIELD>`` variables."""

    def __init__(self, settings_cls: type[BaseSettings], fields: frozenset[str]) -> None:
        super().__init__(settings_cls, env_prefix=SHARED_PREFIX, case_sensitive=False)
        self._fields = fields

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Skip the fields that are not shared."""
        if field_name not in self._fields:
            return None, field_name, False
        return super().get_field_value(field, field_name)
