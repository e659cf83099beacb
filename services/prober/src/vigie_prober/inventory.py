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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final

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


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value was read: file, 1-based line, and the field (YAML path or CSV column)."""

    file: str
    line: int
    field: str
    csv: bool = False

    def child(self, name: str) -> Location:
        """The location of ``name`` inside this entry (a missing field is reported here)."""
        if self.csv:
            return replace(self, field=name)
        return replace(self, field=f"{self.field}.{name}" if self.field else name)

    def near(self, other: Location) -> str:
        """How to point at ``other`` from here: ``line 4``, or ``other.csv line 4``."""
        return (
            f"line {other.line}" if other.file == self.file else f"{other.file} line {other.line}"
        )

    def __str__(self) -> str:
        if self.csv and self.field:
            return f"{self.file} line {self.line}, column {self.field}"
        return (
            f"{self.file} line {self.line}: {self.field}"
            if self.field
            else f"{self.file} line {self.line}"
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a file is refused; never quotes a value that may be a secret."""

    where: Location
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class InventoryError(Exception):
    """An inventory could not be imported; nothing was written."""


class InventoryUnreadable(InventoryError):
    """The file cannot be read (missing, a folder, not UTF-8) or has an unknown extension."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"cannot read {file}: {reason}")
        self.file = file
        self.reason = reason


class InventoryInvalid(InventoryError):
    """The content is wrong; ``problems`` names the line and field of each wrong value."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


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
class RawEntry:
    """One YAML mapping or CSV row: each value as text (None when absent, null or empty)."""

    where: Location
    values: dict[str, tuple[str | None, Location]] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)
    """Fields whose reader already reported a problem (not reported again as missing)."""

    def get(self, name: str) -> str | None:
        """The value's text, stripped; None when absent or blank."""
        text = self.values.get(name, (None, self.where))[0]
        return text.strip() or None if text is not None else None

    def at(self, name: str) -> Location:
        """Where ``name``'s value is, or where it should have been."""
        return self.values[name][1] if name in self.values else self.where.child(name)


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
