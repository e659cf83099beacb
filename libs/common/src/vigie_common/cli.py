"""What every service's command line does the same way: settings errors, migrations."""

from __future__ import annotations

import os
import sys
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from vigie_common.db.migrations import alembic_config, upgrade
from vigie_common.settings import SHARED_PREFIX, ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def load_settings(settings_cls: type[S], *, prog: str) -> S:
    """Build the settings from the environment, or exit 2 naming each bad variable."""
    try:
        return settings_cls()
    except ValidationError as exc:
        prefix = str(settings_cls.model_config.get("env_prefix", SHARED_PREFIX))
        for err in exc.errors(include_url=False, include_input=False):
            # Nested groups are set through ``__`` (VIGIE_PROBER_SSH__MAX_SESSIONS); list
            # positions are not part of the variable's name.
            field = "__".join(str(p) for p in err["loc"] if not isinstance(p, int)).upper()
            msg = err["msg"].removeprefix("Value error, ")
            if not field:
                sys.stderr.write(f"{prog}: invalid settings: {msg}\n")
                continue
            sys.stderr.write(f"{prog}: invalid setting {_variable(prefix, field)}: {msg}\n")
        raise SystemExit(2) from None


def _variable(prefix: str, field: str) -> str:
    """The variable the operator set: the service's own, else the shared ``VIGIE_*`` one."""
    own = f"{prefix}{field}"
    shared = f"{SHARED_PREFIX}{field}"
    if own not in os.environ and shared in os.environ:
        return shared
    return own


def migrate(settings: ServiceSettings, *, package: str, version_table: str) -> None:
    """Apply ``package``'s migrations to the settings' database (blocking).

    A database that cannot be reached or written stops the program with one line naming the
    problem (never the URL, which may hold a password), exit status 1.
    """
    try:
        upgrade(
            alembic_config(package=package, url=settings.database_url, version_table=version_table)
        )
    except (SQLAlchemyError, OSError) as exc:
        prog = package.replace("_", "-")
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        text = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
        sys.stderr.write(f"{prog} migrate: the database refused the migrations: {text}\n")
        raise SystemExit(1) from None
