"""The shipped monitoring against a real Prometheus scraping the whole chain.

tests/deploy/test_observability.py checks the rules and dashboards statically (promtool, and
metric names read from the services' source). Here a real Prometheus (the Debian
``prometheus`` binary) scrapes the three services while the chain of test_chain.py runs
(ingest served on a loopback port by uvicorn, prober and notifier workers, the lab, an SMTP
sink; SQLite), with the shipped config and rules at a one-second interval. Once the
customer's mail is out and every target was scraped twice more, every panel query of every
dashboard and every rule expression is evaluated through Prometheus's query API: each must be
valid PromQL, and each metric it reads must be one the services really exported (the
families of the scrape metadata, with their sample suffixes). The rules must be loaded and
healthy after an evaluation.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from vigie_common.kafka.tansu import free_port
from vigie_ingest.main import create_app
from vigie_ingest.settings import IngestSettings
from vigie_lab import MailSink

from tests.deploy.test_observability import (
    ROOT,
    known_metrics,
    metric_names,
    recorded_metrics,
    used_expressions,
)
from tests.e2e.chain_rig import OBSERVATION, chain_databases, restored_webhook, until
from tests.notifier.service_rig import running_notifier
from tests.prober.service_rig import import_lab_inventory, running_prober, seed_lab
from tests.support.builders import signed_headers
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_settings
from tests.support.prometheus import prometheus_binary, running_prometheus

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SERVICES = ("ingest", "prober", "notifier")
PROMETHEUS_OWN = frozenset({"up"})
GRAFANA_VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1m",
    "__interval_ms": "60000",
    "__range_s": "60",
    "__range_ms": "60000",
}
"""Grafana's built-in variables, fixed: Prometheus alone does not know them."""
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::\w+)?\}|([A-Za-z_]\w*))")


def without_variables(expr: str) -> str:
    """``expr`` with Grafana's variables replaced; fails on a variable of a dashboard's own."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in GRAFANA_VARIABLES:
            pytest.fail(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VARIABLES[name]

    return _VARIABLE.sub(value, expr)


def test_grafana_variables_become_fixed_durations() -> None:
    expr = "rate(x[$__rate_interval]) + rate(y[${__interval}]) + z offset $__range"
    assert without_variables(expr) == "rate(x[1m]) + rate(y[1m]) + z offset 1m"
    assert without_variables('label_replace(up, "a", "$1", "b", "(.*)")').count("$1") == 1


@asynccontextmanager
async def serving_ingest(settings: IngestSettings) -> AsyncIterator[str]:
    """Ingest's app served by uvicorn in this process (its real lifespan); yields its URL."""
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=settings.port,
        lifespan="on",
        ws="none",
        log_config=None,
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=2.0, trust_env=False) as client:

            async def ready() -> bool:
                if task.done():
                    task.result()  # raises what stopped it
                    raise AssertionError("ingest's server stopped")
                try:
                    return server.started and (await client.get("/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, within=30, what="ingest ready on its port")
        yield url
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=60)


@dataclass(frozen=True, slots=True)
class Checked:
    """One expression evaluated by Prometheus."""

    where: str
    expr: str
    error: str | None
    series: int
    unknown: frozenset[str]

    @property
    def file(self) -> str:
        return self.where.split(" (", 1)[0]


async def test_prometheus_scrapes_the_chain_and_every_query_and_rule_holds(
    sqlite_factory: DatabaseFactory, kafka_bootstrap: str, tmp_path: Path
) -> None:
    prometheus_binary()  # fails now, not after the chain ran, when it is missing
    dbs = await chain_databases(sqlite_factory, tmp_path)
    ingest_url, prober_url, notifier_url = dbs.ingest, dbs.prober, dbs.notifier
    number, body = restored_webhook()
    expressions = list(used_expressions())
    ingest_port = free_port()
    async with (
        seed_lab(tmp_path) as lab,
        MailSink.start(tmp_path / "mail") as mail,
    ):
        await import_lab_inventory(prober_url, lab)
        async with (
            running_prober(prober_url, kafka_bootstrap, lab, observation=OBSERVATION) as prober,
            running_notifier(notifier_url, kafka_bootstrap, mail, None) as notifier,
            serving_ingest(
                ingest_settings(ingest_url, kafka_bootstrap, port=ingest_port)
            ) as ingest,
            running_prometheus(
                tmp_path / "prometheus",
                {
                    "ingest": f"127.0.0.1:{ingest_port}",
                    "prober": f"127.0.0.1:{prober.settings.port}",
                    "notifier": f"127.0.0.1:{notifier.settings.port}",
                },
            ) as prometheus,
        ):
            began = time.monotonic()
            async with httpx.AsyncClient(base_url=ingest, timeout=10, trust_env=False) as client:
                answer = await client.post(
                    "/v1/webhooks/oceane", content=body, headers=signed_headers(body)
                )
            assert answer.status_code == 202, answer.text

            async def mailed() -> bool:
                return any(number in str(m["Subject"]) for m in mail.messages)

            await until(mailed, within=60, what="the customer's CLT 5 mail")
            took = time.monotonic() - began
            await prometheus.wait_scrapes([*SERVICES, "prometheus"], times=2)
            rules = await prometheus.wait_rules_evaluated()
            up_error, up = await prometheus.query('up{job=~"ingest|prober|notifier"}')
            exported = await prometheus.exported_names(SERVICES)
            allowed = exported | recorded_metrics() | PROMETHEUS_OWN
            assert "vigie_prober_task_restarts_total" in allowed  # a family without samples
            assert "vigie_ingest_made_up_total" not in allowed
            checked = []
            for where, expr in expressions:
                error, result = await prometheus.query(without_variables(expr))
                unknown = frozenset(metric_names(expr) - allowed)
                checked.append(Checked(where, expr, error, len(result), unknown))

    print(f"\nwebhook to mail: {took:.1f} s; {len(exported)} metric names scraped")  # noqa: T201
    # Cross-check of tests/deploy/test_observability.py's static list (informative only).
    vigie = {n for n in exported if n.startswith("vigie_") and f"{n}_bucket" not in exported}
    static = known_metrics()
    print(f"scraped vigie_* series names the static list lacks: {sorted(vigie - static)}")  # noqa: T201
    print(f"static list names no service exported: {sorted(static - vigie)}")  # noqa: T201
    for path, count in sorted(Counter(c.file for c in checked).items()):
        print(f"{count:3d} queries from {path}")  # noqa: T201
    print(f"{len(checked):3d} queries checked in all:")  # noqa: T201
    for c in checked:
        state = "ERROR" if c.error else ("UNKNOWN" if c.unknown else "ok")
        print(f"  {state:7s} {c.series:2d} series  {c.where}: {' '.join(c.expr.split())}")  # noqa: T201

    assert up_error is None, up_error
    assert {s["metric"]["job"]: s["value"][1] for s in up} == dict.fromkeys(SERVICES, "1"), up
    names = {rule["name"] for rule in rules}
    rules_file = "deploy/prometheus/rules/vigie.rules.yml"
    in_file = {
        c.where.removeprefix(f"{rules_file} (")[:-1] for c in checked if c.file == rules_file
    }
    assert names == in_file, (sorted(names), sorted(in_file))
    assert all(rule["health"] == "ok" for rule in rules), rules
    files = {c.file for c in checked}
    assert files == {
        rules_file,
        *(str(p.relative_to(ROOT)) for p in (ROOT / "deploy/grafana/dashboards").glob("*.json")),
    }, files
    invalid = [f"{c.where}: {c.expr!r}: {c.error}" for c in checked if c.error]
    assert not invalid, "queries Prometheus refuses:\n" + "\n".join(invalid)
    unexported = sorted({f"{c.where}: {name}" for c in checked for name in c.unknown})
    assert not unexported, "metrics the services do not export:\n" + "\n".join(unexported)
