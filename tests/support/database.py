"""Databases for tests: each test gets a fresh, migrated database on PostgreSQL and on SQLite.

PostgreSQL comes from testcontainers when Docker answers, else from the local server on
127.0.0.1:5432 (trust auth). A migrated template database is made once per service and copied
for each test (``CREATE DATABASE … TEMPLATE``), which is much faster than migrating each time.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.support.docker import docker_available

LOCAL_POSTGRES = os.environ.get(
    "VIGIE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)

Migrate = Callable[[str], None]
"""Applies a service's migrations to an async URL."""


@dataclass
class DatabaseFactory:
    """Creates migrated databases of one backend; drops them at the end of the session."""

    backend: str
    workdir: Path
    admin_dsn: str | None
    templates: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)

    def create(self, name: str, migrate: Migrate) -> str:
        """A fresh database migrated by ``migrate`` (templated by ``name``); returns its URL."""
        if name not in self.templates:
            template = self._new(f"tpl_{name}")
            migrate(self._async_url(template))
            self.templates[name] = template
        return self._async_url(self._new(f"t_{name}", template=self.templates[name]))

    def _new(self, prefix: str, template: str | None = None) -> str:
        db = f"vigie_{prefix}_{uuid.uuid4().hex[:10]}"
        if self.backend == "sqlite":
            path = self.workdir / f"{db}.db"
            if template is not None:
                shutil.copyfile(self.workdir / f"{template}.db", path)
            return db
        assert self.admin_dsn is not None
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            suffix = f" TEMPLATE {template}" if template else ""
            conn.execute(f'CREATE DATABASE "{db}"{suffix}')
        self.created.append(db)
        return db

    def _async_url(self, db: str) -> str:
        if self.backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.workdir / db}.db"
        assert self.admin_dsn is not None
        base = self.admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        return f"{base}/{db}"

    def drop_all(self) -> None:
        """Remove every database this factory made."""
        if self.backend != "postgresql" or self.admin_dsn is None:
            return
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            for db in [*self.created, *self.templates.values()]:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_admin_dsn() -> Iterator[str]:
    """A PostgreSQL server to create databases on: testcontainers, else the local one."""
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as pg:
            yield pg.get_connection_url()
        return
    try:
        with psycopg.connect(LOCAL_POSTGRES, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no Docker engine and no PostgreSQL at {LOCAL_POSTGRES}: {exc}")
    yield LOCAL_POSTGRES


@pytest.fixture(scope="session")
def sqlite_factory(tmp_path_factory: pytest.TempPathFactory) -> DatabaseFactory:
    """Migrated SQLite files in a temporary folder."""
    return DatabaseFactory("sqlite", tmp_path_factory.mktemp("sqlite"), None)


@pytest.fixture(scope="session")
def postgres_factory(
    tmp_path_factory: pytest.TempPathFactory, postgres_admin_dsn: str
) -> Iterator[DatabaseFactory]:
    """Migrated PostgreSQL databases, dropped at the end of the session."""
    factory = DatabaseFactory("postgresql", tmp_path_factory.mktemp("pg"), postgres_admin_dsn)
    yield factory
    factory.drop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def databases(request: pytest.FixtureRequest) -> DatabaseFactory:
    """Runs the test once per backend."""
    factory: DatabaseFactory = request.getfixturevalue(f"{request.param}_factory")
    return factory
