"""The three services as the embedded run starts them: commands, ports, environment, readiness."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import httpx

HOST: Final = "127.0.0.1"
SOURCES: Final = ("oceane", "servicenow", "canonical")
"""Ingest's webhook sources; in the embedded run they all share the dev secret."""
KEPT_VARIABLES: Final = frozenset({"VIGIE_LOG_LEVEL"})
"""Inherited ``VIGIE_*`` variables passed on; the others would override the embedded setup."""
OBSERVATION_INTERVAL_S: Final = 10
"""The dev run's observation timing: a restored ticket is probed every 10 s for 60 s, so that
a demo sees an observation open and close (the prober's defaults: every 15 min for 24 h)."""
OBSERVATION_WINDOW_S: Final = 60
TIMING_VARIABLES: Final = (
    "VIGIE_PROBER_OBSERVATION__INTERVAL_S",
    "VIGIE_PROBER_OBSERVATION__WINDOW_S",
)
"""Set in the launcher's environment, they replace the dev run's observation timing."""


def observation_timing(base: Mapping[str, str]) -> tuple[float, float]:
    """The dev run's observation interval and window, in seconds: ``base``'s if it sets them.

    Raises:
        ValueError: A timing that is not a positive number, or an interval above the window.
    """
    values: list[float] = []
    defaults = (OBSERVATION_INTERVAL_S, OBSERVATION_WINDOW_S)
    for name, default in zip(TIMING_VARIABLES, defaults, strict=True):
        text = base.get(name, str(default))
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{name}={text!r} is not a number of seconds") from None
        if not value > 0:
            raise ValueError(f"{name}={text!r} must be above 0")
        values.append(value)
    interval, window = values
    if interval > window:
        raise ValueError(f"{TIMING_VARIABLES[0]} must not exceed {TIMING_VARIABLES[1]}")
    return interval, window


@dataclass(frozen=True, slots=True)
class Ports:
    """The loopback ports the services listen on."""

    ingest: int
    prober: int
    """The prober's HTTP port: /healthz, /readyz, /metrics and its read API."""
    notifier: int
    """The notifier's HTTP port, serving the same paths."""


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """How to run one service and how to tell it is ready."""

    name: str
    command: str
    port: int
    flag: str
    ready_path: str

    @property
    def module(self) -> str:
        """The package run with ``python -m``."""
        return f"vigie_{self.name}"

    @property
    def ready_url(self) -> str:
        """Polled until it answers as expected."""
        return f"http://{HOST}:{self.port}{self.ready_path}"


def service_specs(ports: Ports) -> list[ServiceSpec]:
    """Ingest, prober and notifier, in starting order."""
    return [
        ServiceSpec("ingest", "serve", ports.ingest, "--ingest-port", "/readyz"),
        ServiceSpec("prober", "run", ports.prober, "--prober-port", "/readyz"),
        ServiceSpec("notifier", "run", ports.notifier, "--notifier-port", "/readyz"),
    ]


def service_environment(
    base: Mapping[str, str], *, secret: str, read_token: str, bootstrap: str, ports: Ports
) -> dict[str, str]:
    """The variables every service gets (``VIGIE_DATABASE_URL`` is added per service).

    Args:
        base: The launcher's environment; its ``VIGIE_*`` variables are dropped but for
            :data:`KEPT_VARIABLES`.
        secret: The dev webhook secret, shared by every source.
        read_token: The dev read token of every service's GET endpoints.
        bootstrap: The embedded broker's address.
        ports: Where the services listen, on loopback.
    """
    interval, window = observation_timing(base)
    env = {k: v for k, v in base.items() if not k.startswith("VIGIE_") or k in KEPT_VARIABLES}
    env.update(
        {
            "VIGIE_ENV": "dev",
            "VIGIE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "VIGIE_KAFKA_IDEMPOTENCE": "false",  # Tansu refuses idempotent producers
            "VIGIE_INGEST_HOST": HOST,
            "VIGIE_INGEST_PORT": str(ports.ingest),
            "VIGIE_INGEST_WEBHOOK_SECRETS": ";".join(f"{s}={secret}" for s in SOURCES),
            "VIGIE_READ_TOKEN": read_token,
            "VIGIE_PROBER_HOST": HOST,
            "VIGIE_PROBER_PORT": str(ports.prober),
            "VIGIE_PROBER_OBSERVATION__INTERVAL_S": f"{interval:g}",
            "VIGIE_PROBER_OBSERVATION__WINDOW_S": f"{window:g}",
            "VIGIE_NOTIFIER_HOST": HOST,
            "VIGIE_NOTIFIER_PORT": str(ports.notifier),
            "VIGIE_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


async def not_ready_reason(client: httpx.AsyncClient, spec: ServiceSpec) -> str | None:
    """``None`` when the service is ready, else why not."""
    try:
        response = await client.get(spec.ready_url)
    except httpx.HTTPError as exc:
        return f"no answer on {spec.ready_url} ({type(exc).__name__})"
    if response.status_code != 200:
        return f"{spec.ready_url} answered {response.status_code}"
    if spec.name != "ingest":
        return None  # a worker's /readyz is 200 once its database answers and it has joined
    try:
        broker = response.json().get("checks", {}).get("broker")
    except (ValueError, AttributeError):
        return f"{spec.ready_url} did not answer JSON"
    return None if broker == "ok" else f"broker check: {broker}"
