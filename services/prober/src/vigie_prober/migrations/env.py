"""Alembic environment of the prober: its own tables, its own version table."""

from vigie_common.db.migrations import run_env

from vigie_prober.models import VERSION_TABLE, Base
from vigie_prober.settings import ProberSettings

run_env(
    Base.metadata,
    version_table=VERSION_TABLE,
    default_url=lambda: ProberSettings().database_url,
)
