"""Each service's migrations build exactly the tables its models declare, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine, inspect
from vigie_common.cli import migrate
from vigie_common.db.migrations import alembic_config
from vigie_common.settings import ServiceSettings
from vigie_ingest.models import VERSION_TABLE as INGEST_VERSIONS
from vigie_ingest.models import Base as IngestBase
from vigie_ingest.settings import IngestSettings
from vigie_notifier.models import VERSION_TABLE as NOTIFIER_VERSIONS
from vigie_notifier.models import Base as NotifierBase
from vigie_notifier.settings import NotifierSettings
from vigie_prober.models import VERSION_TABLE as PROBER_VERSIONS
from vigie_prober.models import Base as ProberBase
from vigie_prober.settings import ProberSettings

from tests.common.tables import sync_url
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

SERVICES: list[tuple[str, type[ServiceSettings], MetaData, str]] = [
    ("vigie_ingest", IngestSettings, IngestBase.metadata, INGEST_VERSIONS),
    ("vigie_prober", ProberSettings, ProberBase.metadata, PROBER_VERSIONS),
    ("vigie_notifier", NotifierSettings, NotifierBase.metadata, NOTIFIER_VERSIONS),
]


def _significant(diff: Any) -> bool:
    """Alembic reports SQLite's unnamed-constraint reflection as changes: ignore those."""
    kind = diff[0] if isinstance(diff, tuple) else diff[0][0]
    return kind not in {"add_constraint", "remove_constraint"} or diff[1].name is not None


def migrated(
    databases: DatabaseFactory,
    package: str,
    settings_cls: type[ServiceSettings],
    version_table: str,
) -> str:
    """A fresh database of ``databases``' backend with ``package``'s migrations applied."""

    def apply(url: str) -> None:
        migrate(settings_cls(database_url=url), package=package, version_table=version_table)

    return databases.create(f"mig_{package}", apply)


@pytest.mark.parametrize(("package", "settings_cls", "metadata", "version_table"), SERVICES)
def test_migrations_match_the_models(
    databases: DatabaseFactory,
    package: str,
    settings_cls: type[ServiceSettings],
    metadata: MetaData,
    version_table: str,
) -> None:
    url = migrated(databases, package, settings_cls, version_table)
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": version_table}
            )
            diffs = [d for d in compare_metadata(context, metadata) if _significant(d)]
    finally:
        engine.dispose()
    assert diffs == [], f"{package}: models and migrations differ: {diffs}"


@pytest.mark.parametrize(("package", "settings_cls", "metadata", "version_table"), SERVICES)
def test_migrations_go_down_to_nothing_and_up_again(
    databases: DatabaseFactory,
    package: str,
    settings_cls: type[ServiceSettings],
    metadata: MetaData,
    version_table: str,
) -> None:
    url = migrated(databases, package, settings_cls, version_table)
    config = alembic_config(package=package, url=url, version_table=version_table)
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    engine = create_engine(sync_url(url))
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert set(metadata.tables) <= tables
