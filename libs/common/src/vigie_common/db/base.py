"""Declarative plumbing each service builds its own ``Base`` from (each owns its tables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, MetaData
from sqlalchemy.orm import DeclarativeBase

from vigie_common.db.types import UTCDateTime

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations are the same on PostgreSQL and SQLite."""

TYPE_ANNOTATION_MAP: Final[dict[Any, Any]] = {
    datetime: UTCDateTime(),
    dict[str, Any]: JSON(),
    list[dict[str, Any]]: JSON(),
}


class ServiceBase(DeclarativeBase):
    """Abstract root: subclass once per service with its own ``MetaData``.

    Example: ``class Base(ServiceBase): __abstract__ = True; metadata = new_metadata()``.
    """

    __abstract__ = True
    type_annotation_map = TYPE_ANNOTATION_MAP


def new_metadata() -> MetaData:
    """A ``MetaData`` with vigie's naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)
