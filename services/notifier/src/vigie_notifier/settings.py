"""Notifier's settings: ``VIGIE_NOTIFIER_*`` plus the shared ``VIGIE_*`` connection settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict
from vigie_common.settings import ServiceSettings
from vigie_common.zones import load_zone


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

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        load_zone(value)  # UnknownZone is a ValueError naming the value
        return value
