"""Prober's settings: ``VIGIE_PROBER_*`` plus the shared ``VIGIE_*`` connection settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from vigie_common.settings import ServiceSettings


class ProberSettings(ServiceSettings):
    """Everything the prober reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="VIGIE_PROBER_")  # the rest is inherited

    host: str = Field(
        default="127.0.0.1",
        description="Where the read API listens (/healthz, /readyz, /metrics, GET routes); "
        "0.0.0.0 in a container",
    )
    port: int = Field(default=9101, ge=1, le=65535)
