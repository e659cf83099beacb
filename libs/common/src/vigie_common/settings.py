"""Settings every service shares, read from ``VIGIE_*`` and overridable per service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``VIGIE_INGEST_``).
The connection settings below are also read from the unprefixed ``VIGIE_<FIELD>`` variables,
so one ``VIGIE_DATABASE_URL`` serves every service while ``VIGIE_INGEST_DATABASE_URL`` wins
for ingest alone.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SHARED_PREFIX = "VIGIE_"
PLACEHOLDERS: Final = frozenset({"changethis", "changeme", "secret", "password", "token"})
"""Values that are never a real secret, refused in prod."""
MIN_SECRET_LENGTH: Final = 16


def weak_secret_reason(value: str) -> str | None:
    """Why ``value`` is not acceptable as a secret in prod, or ``None`` when it is."""
    if value.strip().lower() in PLACEHOLDERS:
        return "is a placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    return None


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
            "read_token",
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
    read_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for the read endpoints (tickets, verdicts, notifications). "
        "Unset: open in dev and test, refused in prod.",
    )

    @model_validator(mode="after")
    def _check_read_token(self) -> ServiceSettings:
        """An empty token would match an empty header: never allowed; a weak one not in prod."""
        if self.read_token is None:
            return self
        value = self.read_token.get_secret_value()
        if not value.strip():
            raise ValueError("the read token is empty: set a real one or leave it unset")
        reason = weak_secret_reason(value)
        if self.env == "prod" and reason is not None:
            raise ValueError(f"the read token {reason}; set a real one (or VIGIE_ENV=dev)")
        return self

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
