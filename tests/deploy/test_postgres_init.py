"""Compose's PostgreSQL init script, run with psql against a real server.

The image runs ``deploy/compose/postgres-init.sh`` once, on an empty volume. Here it runs the
same way (``sh``, ``psql``, the superuser's connection in ``PG*`` variables), with role names of
its own so that it never meets the databases of other tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/compose/postgres-init.sh"

pytestmark = pytest.mark.integration


def _scram_matches(verifier: str, password: str) -> bool:
    """Whether a ``SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`` verifier is ``password``'s."""
    scheme, iterations_salt, keys = verifier.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key = keys.split(":")[0]
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return scheme == "SCRAM-SHA-256" and hmac.compare_digest(expected, stored_key)


@pytest.fixture
def names(postgres_admin_dsn: str) -> Iterator[list[str]]:
    """Two service names no one else uses; their roles and databases are dropped after."""
    tag = uuid.uuid4().hex[:8]
    chosen = [f"vigie_init_{tag}_ingest", f"vigie_init_{tag}_prober"]
    yield chosen
    with psycopg.connect(postgres_admin_dsn, autocommit=True) as conn:
        for name in chosen:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _run(admin_dsn: str, services: list[str], passwords: dict[str, str]) -> str:
    if shutil.which("psql") is None:
        pytest.skip("psql is not installed: the init script cannot run here")
    url = urlsplit(admin_dsn)
    env = {
        "PATH": os.environ["PATH"],
        "POSTGRES_USER": url.username or "postgres",
        "PGHOST": url.hostname or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGPASSWORD": url.password or "",
        "SERVICE_DATABASES": " ".join(services),
        **{f"{name.upper()}_DB_PASSWORD": password for name, password in passwords.items()},
    }
    result = subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result.stderr


def test_init_creates_a_private_non_superuser_role_per_service(
    postgres_admin_dsn: str, names: list[str]
) -> None:
    passwords = {name: f'it\'s "{name}"; -- drop' for name in names}

    _run(postgres_admin_dsn, names, passwords)

    with psycopg.connect(postgres_admin_dsn, autocommit=True) as conn:
        for name in names:
            row = conn.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolcanlogin,"
                " rolpassword FROM pg_authid WHERE rolname = %s",
                (name,),
            ).fetchone()
            assert row is not None, f"no role {name}"
            assert row[:5] == (False, False, False, False, True)
            assert _scram_matches(row[5], passwords[name])
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            assert owner == (name,)
        ingest, prober = names
        allowed = conn.execute(
            "SELECT has_database_privilege(%s, %s, 'CONNECT'),"
            " has_database_privilege(%s, %s, 'CONNECT')",
            (prober, ingest, ingest, ingest),
        ).fetchone()
        assert allowed == (False, True), "only the owner may connect to its database"


def test_init_refuses_a_service_without_a_password_before_creating_anything(
    postgres_admin_dsn: str, names: list[str]
) -> None:
    with pytest.raises(AssertionError, match=f"{names[1].upper()}_DB_PASSWORD is not set"):
        _run(postgres_admin_dsn, names, {names[0]: "a-strong-password-0123456789"})

    with psycopg.connect(postgres_admin_dsn, autocommit=True) as conn:
        made = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (names,)
        ).fetchall()
    assert made == []
