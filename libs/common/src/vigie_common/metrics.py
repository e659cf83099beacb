"""Prometheus helpers: a registry per app, ``/metrics`` for HTTP services, an exporter otherwise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from starlette.requests import Request
from starlette.responses import Response

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; fine below 50 ms where the webhook targets are."""


def new_registry() -> CollectorRegistry:
    """A fresh registry, so that two apps in one test process do not share counters."""
    return CollectorRegistry(auto_describe=True)


def metrics_endpoint(registry: CollectorRegistry) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint serving ``registry`` at ``/metrics`` (no redirect to ``/metrics/``)."""

    async def endpoint(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def start_exporter(*, port: int, host: str, registry: CollectorRegistry) -> Any:
    """Serve ``/metrics`` on its own port for services without an HTTP API (prober, notifier)."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
