"""A real Prometheus server (the Debian ``prometheus`` binary) for end-to-end tests.

It runs the shipped deploy/prometheus/prometheus.yml with the services' targets replaced by
loopback addresses, scrape and evaluation intervals of one second, and a copy of the shipped
rules; its HTTP API is read with httpx. It never skips: without the binary the test fails,
saying which package to install.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vigie_common.kafka.tansu import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
RULES_DIR = ROOT / "deploy" / "prometheus" / "rules"
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}
"""Sample names a family of each type exports besides its own name."""


def prometheus_binary() -> str:
    """The server's path; fails (never skips) when missing, saying how to install it."""
    path = shutil.which("prometheus")
    if path is None:
        pytest.fail(
            "the prometheus server is missing: install the Debian package `prometheus` "
            "(apt-get install -y prometheus) to run the monitoring end-to-end test",
            pytrace=False,
        )
    return path


def local_config(targets: Mapping[str, str], rules: Path, own_address: str) -> dict[str, Any]:
    """The shipped config, scraping ``targets`` (job -> host:port) every second.

    Jobs keep their names and labels (the rules and dashboards select on them); the
    ``prometheus`` job scrapes this server itself, as in the deployment.
    """
    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    config["global"].update(
        {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    )
    config["rule_files"] = [str(rules / "*.yml")]
    addresses = {**targets, "prometheus": own_address}
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert set(targets) <= jobs, f"jobs {sorted(set(targets) - jobs)} not in {CONFIG.name}"
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            static["targets"] = [addresses[job["job_name"]]]
    return config


@dataclass
class PrometheusServer:
    """A running server: its API client, process and log."""

    url: str
    client: httpx.AsyncClient
    process: subprocess.Popen[bytes]
    log_file: Path

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:]

    async def api(self, path: str, **params: Any) -> Any:
        """``data`` of a successful API answer; fails with Prometheus's error otherwise."""
        answer = await self.client.get(f"/api/v1/{path}", params=params)
        body = answer.json()
        assert answer.status_code == 200 and body.get("status") == "success", (
            f"GET /api/v1/{path} {params}: {answer.status_code} {body}"
        )
        return body["data"]

    async def query(self, expr: str) -> tuple[str | None, list[dict[str, Any]]]:
        """(error, result) of an instant query: the error is None when the query is valid."""
        answer = await self.client.post("/api/v1/query", data={"query": expr})
        body: dict[str, Any] = answer.json()
        if body.get("status") != "success":
            return f"{body.get('errorType')}: {body.get('error')}", []
        result = body["data"]["result"]
        return None, result if isinstance(result, list) else [{"value": result}]

    async def targets(self) -> list[dict[str, Any]]:
        data = await self.api("targets", state="active")
        found: list[dict[str, Any]] = data["activeTargets"]
        return found

    async def wait_scrapes(self, jobs: Iterable[str], times: int = 2, within: float = 20.0) -> None:
        """Until every target of ``jobs`` was scraped ``times`` more times, and is up.

        Prometheus applies new targets every 5 s: right after start, there may be none yet.
        """
        expected = set(jobs)
        baseline = {t["scrapeUrl"]: t["lastScrape"] for t in await self.targets()}
        seen: dict[str, set[str]] = {}
        targets: list[dict[str, Any]] = []
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            targets = await self.targets()
            for target in targets:
                url, last = target["scrapeUrl"], target["lastScrape"]
                if last != baseline.get(url) and not last.startswith("0001-"):
                    seen.setdefault(url, set()).add(last)
            found = {t["labels"]["job"] for t in targets}
            if expected <= found and all(
                len(seen.get(t["scrapeUrl"], ())) >= times for t in targets
            ):
                down = [(t["scrapeUrl"], t["lastError"]) for t in targets if t["health"] != "up"]
                assert not down, f"targets down: {down}"
                return
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"not every target of {sorted(expected)} scraped {times} times in {within} s: "
            f"{[(t['scrapeUrl'], t['health'], t['lastScrape']) for t in targets]}"
        )

    async def wait_rules_evaluated(self, within: float = 10.0) -> list[dict[str, Any]]:
        """Every rule, once each group was evaluated again and every rule is healthy."""
        groups: list[dict[str, Any]] = (await self.api("rules"))["groups"]
        baseline = {g["name"]: g["lastEvaluation"] for g in groups}
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            groups = (await self.api("rules"))["groups"]
            rules = [rule for group in groups for rule in group["rules"]]
            broken = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
            assert not broken, f"rules failing: {broken}"
            again = all(g["lastEvaluation"] != baseline.get(g["name"]) for g in groups)
            if again and all(r["health"] == "ok" for r in rules):
                return rules
            await asyncio.sleep(0.2)
        raise AssertionError(f"rules not all evaluated and ok in {within} s: {groups}")

    async def exported_names(self, jobs: Iterable[str]) -> set[str]:
        """Metric names the targets of ``jobs`` export: their families (sample or not,
        from the scrape metadata) with their types' sample suffixes, and every series name
        stored for them."""
        alternatives = "|".join(jobs)
        selector = f'{{job=~"{alternatives}"}}'
        metadata: list[dict[str, Any]] = await self.api("targets/metadata", match_target=selector)
        names: set[str] = set()
        for family in metadata:
            name, kind = family["metric"], family["type"]
            names.add(name)
            base = name.removesuffix("_total") if kind == "counter" else name
            names |= {base + suffix for suffix in SUFFIXES.get(kind, ())}
        stored: list[str] = await self.api("label/__name__/values", **{"match[]": selector})
        return names | set(stored)


@asynccontextmanager
async def running_prometheus(
    workdir: Path, targets: Mapping[str, str], *, within: float = 30.0
) -> AsyncIterator[PrometheusServer]:
    """A Prometheus scraping ``targets`` (job -> host:port); SIGTERM, then SIGKILL, after."""
    binary = prometheus_binary()
    address = f"127.0.0.1:{free_port()}"
    config = _write_config(workdir, targets, address)
    log_file = workdir / "prometheus.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - returns at once
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address={address}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://{address}", timeout=10.0, trust_env=False
        ) as client:
            server = PrometheusServer(f"http://{address}", client, process, log_file)
            await _wait_ready(server, within)
            yield server
    finally:
        _stop(process)


def _write_config(workdir: Path, targets: Mapping[str, str], address: str) -> Path:
    """The config and a copy of the shipped rules in ``workdir``; returns the config's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    rules = workdir / "rules"
    shutil.copytree(RULES_DIR, rules)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(local_config(targets, rules, address), sort_keys=False))
    return config


async def _wait_ready(server: PrometheusServer, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"prometheus exited: {server.log_tail()}")
        try:
            if (await server.client.get("/-/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"prometheus not ready in {within} s: {server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()
