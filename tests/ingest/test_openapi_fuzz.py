"""schemathesis against ingest's OpenAPI on a real server: whatever it sends, no 5xx."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import httpx
import pytest
from vigie_common.kafka.tansu import free_port

from tests.support.builders import TOKEN
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db

pytestmark = pytest.mark.integration

ALL_TOKENS = f"oceane={TOKEN};servicenow={TOKEN};canonical={TOKEN}"


def serve(db_url: str, bootstrap: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "VIGIE_ENV": "test",
        "VIGIE_DATABASE_URL": db_url,
        "VIGIE_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "VIGIE_KAFKA_IDEMPOTENCE": "false",
        "VIGIE_INGEST_PORT": str(port),
        "VIGIE_INGEST_BEARER_TOKENS": ALL_TOKENS,
        "VIGIE_INGEST_WEBHOOK_SECRETS": "",
        "VIGIE_LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen([sys.executable, "-m", "vigie_ingest", "serve"], env=env)


def wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "ingest exited during start-up"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("ingest did not start")


def test_schemathesis_finds_no_server_error(
    databases: DatabaseFactory, kafka_bootstrap: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = serve(ingest_db(databases), kafka_bootstrap, port)
    try:
        wait_ready(base, server)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "schemathesis.cli",
                "run",
                f"{base}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--header",
                f"Authorization: Bearer {TOKEN}",
                "--max-examples",
                "60",
                "--seed",
                "20261126",
                "--workers",
                "1",  # concurrent code generation trips a CPython 3.11 SystemError
                "--request-timeout",
                "10",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    assert "Failures:" not in report, report[-5000:]  # warnings (schema notes) are allowed
    totals = re.search(r"(\d+) generated, (\d+) passed", report)
    assert totals is not None, report[-2000:]
    generated, passed = map(int, totals.groups())
    assert generated == passed >= 500, report[-2000:]
