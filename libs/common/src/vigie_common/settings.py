"""Settings every service shares, read from ``VIGIE_*`` and overridable per service.

Each service subclasses :class:`ServiceSettings` with its own ``env_prefix`` (``VIGIE_INGEST_``).
The connection settings below are also read from the unprefixed ``VIGIE_<FIELD>`` variables,
so one ``VIGIE_DATABASE_URL`` serves every service while ``VIGIE_INGEST_DATABASE_URL`` wins
for ingest alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Final, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
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
KAFKA_MAX_MESSAGE_BYTES: Final = 2 * 1024 * 1024
"""Default largest record, producer and topics alike: a 1 MiB webhook's event fits."""
_KAFKA_FILES: Final = (
    "kafka_ssl_cafile",
    "kafka_ssl_certfile",
    "kafka_ssl_keyfile",
    "kafka_ssl_key_password_file",
    "kafka_sasl_password_file",
)


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
            "kafka_session_timeout_ms",
            "kafka_max_message_bytes",
            *_KAFKA_FILES,
            "kafka_sasl_mechanism",
            "kafka_sasl_username",
            "kafka_sasl_password",
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
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        le=300_000,
        description="A consumer silent this long leaves its group (heartbeats every third); "
        "a new member also waits about half of it for its partitions",
    )
    kafka_max_message_bytes: int = Field(
        default=KAFKA_MAX_MESSAGE_BYTES,
        ge=1024 * 1024,
        description="Largest record: the producer's max_request_size, the topics' "
        "max.message.bytes and the consumers' per-partition fetch size",
    )
    kafka_ssl_cafile: Path | None = Field(
        default=None, description="PEM CA bundle that signed the brokers; unset: the system's"
    )
    kafka_ssl_certfile: Path | None = Field(
        default=None, description="PEM client certificate (mutual TLS); may hold the key too"
    )
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password_file: Path | None = None
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_password_file: Path | None = None
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

    @field_validator(*_KAFKA_FILES, "kafka_sasl_username", "kafka_sasl_password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """``VIGIE_KAFKA_SSL_CAFILE=`` in a compose file means unset, not the current folder."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator(*_KAFKA_FILES)
    @classmethod
    def _readable(cls, path: Path | None, info: ValidationInfo) -> Path | None:
        """A missing or unreadable file is named now, not at the first TLS handshake."""
        if path is None:
            return None
        # The error's location names the field; load_settings turns it into the variable.
        try:
            with path.open("rb") as file:
                head = file.read(4096)
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        if str(info.field_name).endswith("password_file") and not head.strip():
            raise ValueError(f"{path} is empty")
        return path

    @model_validator(mode="after")
    def _check_kafka_tls(self) -> ServiceSettings:
        """TLS files are used only by SSL protocols; set with another they would be ignored."""
        protocol = self.kafka_security_protocol
        given = [f for f in _KAFKA_FILES[:4] if getattr(self, f) is not None]
        if given and protocol not in {"SSL", "SASL_SSL"}:
            raise ValueError(
                f"{_shared_variable(given[0])} is set but VIGIE_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: set it to SSL or SASL_SSL, or unset the TLS files"
            )
        for needed, by in (
            ("kafka_ssl_certfile", "kafka_ssl_keyfile"),
            ("kafka_ssl_certfile", "kafka_ssl_key_password_file"),
        ):
            if getattr(self, by) is not None and getattr(self, needed) is None:
                raise ValueError(
                    f"{_shared_variable(needed)} is required when {_shared_variable(by)} is set"
                )
        return self

    @model_validator(mode="after")
    def _check_kafka_sasl(self) -> ServiceSettings:
        """SASL needs a user and exactly one password source; without SASL, none of them."""
        protocol = self.kafka_security_protocol
        when = f"when VIGIE_KAFKA_SECURITY_PROTOCOL is {protocol}"
        password, password_file = "VIGIE_KAFKA_SASL_PASSWORD", "VIGIE_KAFKA_SASL_PASSWORD_FILE"
        has_password = self.kafka_sasl_password is not None
        has_file = self.kafka_sasl_password_file is not None
        if not protocol.startswith("SASL_"):
            if self.kafka_sasl_username is not None or has_password or has_file:
                raise ValueError(
                    f"SASL credentials are set but VIGIE_KAFKA_SECURITY_PROTOCOL is {protocol}:"
                    " set it to SASL_SSL or SASL_PLAINTEXT, or unset the credentials"
                )
            return self
        if self.kafka_sasl_username is None:
            raise ValueError(f"VIGIE_KAFKA_SASL_USERNAME is required {when}")
        if has_password and has_file:
            raise ValueError(f"set {password} or {password_file}, not both")
        if not (has_password or has_file):
            raise ValueError(f"{password} or {password_file} is required {when}")
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


def _shared_variable(field: str) -> str:
    """The shared variable of a field (``VIGIE_KAFKA_SSL_CAFILE``), named in refusals."""
    return f"{SHARED_PREFIX}{field.upper()}"
