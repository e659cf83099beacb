"""Alembic environment of ingest: its own tables, its own version table."""

from vigie_common.db.migrations import run_env

from vigie_ingest.models import VERSION_TABLE, Base
from vigie_ingest.settings import IngestSettings

run_env(
    Base.metadata,
    version_table=VERSION_TABLE,
    default_url=lambda: IngestSettings().database_url,
)
