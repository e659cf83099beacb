"""Alembic environment of the notifier: its own tables, its own version table."""

from vigie_common.db.migrations import run_env

from vigie_notifier.models import VERSION_TABLE, Base
from vigie_notifier.settings import NotifierSettings

run_env(
    Base.metadata,
    version_table=VERSION_TABLE,
    default_url=lambda: NotifierSettings().database_url,
)
