"""The inventory as a value (jump hosts, sites, devices), its raw located entries, its errors.

The file readers (:mod:`vigie_prober.inventory_formats`) turn YAML or CSV into
:class:`RawInventory` entries whose every value knows its file, line and field;
:func:`~vigie_prober.inventory_checks.build_inventory` checks them all and either returns an
:class:`Inventory` or raises :class:`InventoryInvalid` listing every problem as
``<file> line <n>: <field>: <message>`` (CSV: ``<file> line <n>, column <field>: <message>``).

Credentials are the *names* of profiles whose secrets come from the environment or files at
probe time: the inventory holds no secret, and a ``password`` field is refused.

    InventoryError
    ├── InventoryUnreadable   the file cannot be read, or its format is unknown
    └── InventoryInvalid      the content is wrong: one Problem per wrong field

:class:`Location`, :class:`Problem` and :class:`RawEntry` come from :mod:`vigie_common.imports`,
as every import's do, and each inventory error is one of its errors too (``FileUnreadable``,
``ContentInvalid``): that is what its command flow catches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from vigie_common.imports.entries import RawEntry
from vigie_common.imports.problems import (
    ContentInvalid,
    FileUnreadable,
    ImportRefused,
    Location,
    Problem,
)

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEZONE",
    "PROFILE_HINT",
    "SECRET_KEYS",
    "DeviceEntry",
    "Inventory",
    "InventoryError",
    "InventoryInvalid",
    "InventoryUnreadable",
    "JumpHostEntry",
    "Location",
    "Problem",
    "RawEntry",
    "RawInventory",
    "RawSite",
    "SiteEntry",
]

DEFAULT_PORT: Final = 22
DEFAULT_TIMEZONE: Final = "Europe/Paris"
SECRET_KEYS: Final = frozenset(
    {"password", "passwd", "secret", "passphrase", "private_key", "enable_password"}
)
"""Keys refused with a pointer to credentials profiles: secrets never go in the inventory."""
PROFILE_HINT: Final = (
    "secrets do not belong in the inventory: name a credentials profile in 'credentials' "
    "(its secrets come from the environment or a file)"
)


class InventoryError(ImportRefused):
    """An inventory could not be imported; nothing was written."""


class InventoryUnreadable(InventoryError, FileUnreadable):
    """An inventory file cannot be read, or is not .yaml/.yml/.csv (``file``, ``reason``)."""


class InventoryInvalid(InventoryError, ContentInvalid):
    """The inventory's content is wrong; ``problems`` places each wrong value."""


@dataclass(frozen=True, slots=True)
class JumpHostEntry:
    """A jump host: ``credentials`` is a profile name, never a secret."""

    name: str
    address: str
    port: int
    credentials: str
    known_hosts: str | None


@dataclass(frozen=True, slots=True)
class SiteEntry:
    """A site end, found by its code or by its service (circuit) reference."""

    code: str
    service_reference: str | None


@dataclass(frozen=True, slots=True)
class DeviceEntry:
    """A router at ``site``; ``jump_host`` names a :class:`JumpHostEntry` or is None (direct)."""

    hostname: str
    site: str
    address: str
    port: int
    driver: str
    credentials: str
    jump_host: str | None
    timezone: str
    known_hosts: str | None
    host_key: str | None


@dataclass(frozen=True, slots=True)
class Inventory:
    """A whole, consistent inventory: keys unique, every jump host a device names defined."""

    jump_hosts: tuple[JumpHostEntry, ...] = ()
    sites: tuple[SiteEntry, ...] = ()
    devices: tuple[DeviceEntry, ...] = ()


@dataclass
class RawSite:
    """A site entry and its devices' entries; ``devices_at`` is where the list is (or not)."""

    entry: RawEntry
    devices: list[RawEntry]
    devices_at: Location


@dataclass
class RawInventory:
    """What one file holds before checking, and the problems its reader already found."""

    file: str
    jump_hosts: list[RawEntry] = field(default_factory=list)
    sites: list[RawSite] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
