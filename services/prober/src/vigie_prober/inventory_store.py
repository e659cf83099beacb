"""The inventory in the prober's tables: replace it with a file's in one transaction, resolve sites.

An import makes the tables hold exactly the file's inventory: rows whose key (jump host name,
site code, device hostname) the file no longer has are deleted, the others inserted or
updated in place (``updated_at`` moves only when a field changed), all in the caller's
transaction. On PostgreSQL, concurrent imports take turns on an advisory lock, so each one's
report is what it did; on SQLite the database's single writer does the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Final, Literal, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.imports.locks import hold_import_lock, import_lock_key

from vigie_prober.inventory import DeviceEntry, Inventory, JumpHostEntry, SiteEntry
from vigie_prober.inventory_report import InventoryDiff, Kind, diff_inventories
from vigie_prober.models import Device, JumpHost, Site

__all__ = [
    "IMPORT_LOCK_KEY",
    "DeviceRecord",
    "KnownSite",
    "UnknownSite",
    "import_inventory",
    "load_inventory",
    "resolve_site",
    "resolve_ticket_sites",
]

IMPORT_LOCK_KEY: Final = import_lock_key("vigie-prober:inventory-import")
"""PostgreSQL transaction advisory lock held by an import (stable across processes)."""

Row = TypeVar("Row", JumpHost, Site, Device)


@dataclass(frozen=True, slots=True)
class DeviceRecord:
    """A device as the probe needs it: where, how, with what profile, through which jump host."""

    hostname: str
    site_code: str
    service_reference: str | None
    address: str
    port: int
    driver: str
    credentials: str
    """The credentials profile's name; its secrets are looked up at probe time."""
    timezone: str
    known_hosts: str | None
    host_key: str | None
    jump_host: JumpHostEntry | None

    @property
    def zone(self) -> ZoneInfo:
        """The zone of the router's clock, in which its log's stamps are read."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True, slots=True)
class KnownSite:
    """A site a ticket's reference found, by its code or by its service reference."""

    reference: str
    code: str
    service_reference: str | None
    matched_by: Literal["code", "service_reference"]
    devices: tuple[DeviceRecord, ...]


@dataclass(frozen=True, slots=True)
class UnknownSite:
    """A reference no site has: the runbook's verdict is ``inconclusive (unknown site <code>)``."""

    code: str

    @property
    def reason(self) -> str:
        """The verdict's reason, as the runbook gives it."""
        return f"unknown site {self.code}"


@dataclass
class _Stored:
    """Every inventory row, by key."""

    jump_hosts: dict[str, JumpHost]
    sites: dict[str, Site]
    devices: dict[str, Device]

    @classmethod
    async def load(cls, session: AsyncSession) -> _Stored:
        return cls(
            {row.name: row for row in await session.scalars(select(JumpHost))},
            {row.code: row for row in await session.scalars(select(Site))},
            {row.hostname: row for row in await session.scalars(select(Device))},
        )

    def inventory(self) -> Inventory:
        names = {row.id: name for name, row in self.jump_hosts.items()}
        codes = {row.id: code for code, row in self.sites.items()}
        return Inventory(
            tuple(_entry(JumpHostEntry, row) for row in self.jump_hosts.values()),
            tuple(_entry(SiteEntry, row) for row in self.sites.values()),
            tuple(
                _entry(
                    DeviceEntry,
                    row,
                    site=codes[row.site_id],
                    jump_host=names.get(row.jump_host_id) if row.jump_host_id else None,
                )
                for row in self.devices.values()
            ),
        )


E = TypeVar("E", JumpHostEntry, SiteEntry, DeviceEntry)


def _entry(kind: type[E], row: JumpHost | Site | Device, **given: str | None) -> E:
    values: dict[str, Any] = {f.name: getattr(row, f.name, None) for f in fields(kind)}
    return kind(**(values | given))


def _write(
    row: JumpHost | Site | Device, entry: JumpHostEntry | SiteEntry | DeviceEntry, now: datetime
) -> None:
    """Copy the entry's own columns (not a device's ``site`` / ``jump_host`` names) to the row."""
    for spec in fields(entry):
        if spec.name not in {"site", "jump_host"}:
            setattr(row, spec.name, getattr(entry, spec.name))
    row.updated_at = now


def _row(
    session: AsyncSession, rows: dict[str, Row], key: str, model: type[Row], now: datetime
) -> Row:
    """The stored row of ``key``, or a new one added to the session."""
    if key not in rows:
        rows[key] = model(created_at=now)
        session.add(rows[key])
    return rows[key]


async def import_inventory(
    session: AsyncSession, *, inventory: Inventory, now: datetime, dry_run: bool = False
) -> InventoryDiff:
    """Make the stored inventory ``inventory``, in the caller's transaction.

    Args:
        session: A session inside the transaction that will commit (or roll back) the import.
        inventory: The whole new inventory, as :func:`~.inventory_formats.read_inventory` gave.
        now: The instant recorded as ``created_at`` / ``updated_at`` of written rows.
        dry_run: Compute the diff only; nothing is written.

    Returns:
        What the import added, changed and removed (empty when nothing differs).
    """
    await hold_import_lock(session, IMPORT_LOCK_KEY)
    stored = await _Stored.load(session)
    diff = diff_inventories(stored.inventory(), inventory)
    if dry_run or diff.empty:
        return diff
    touched: set[tuple[Kind, str]] = {(c.kind, c.key) for c in (*diff.added, *diff.changed)}
    # Parents before children, children's moves before their old parents go.
    for jump_host in inventory.jump_hosts:
        if ("jump_host", jump_host.name) in touched:
            _write(_row(session, stored.jump_hosts, jump_host.name, JumpHost, now), jump_host, now)
    for site in inventory.sites:
        if ("site", site.code) in touched:
            _write(_row(session, stored.sites, site.code, Site, now), site, now)
    await session.flush()
    for device in inventory.devices:
        if ("device", device.hostname) in touched:
            row = _row(session, stored.devices, device.hostname, Device, now)
            _write(row, device, now)
            row.site_id = stored.sites[device.site].id
            row.jump_host_id = stored.jump_hosts[device.jump_host].id if device.jump_host else None
    await session.flush()
    tables: tuple[tuple[Kind, dict[str, JumpHost] | dict[str, Site] | dict[str, Device]], ...] = (
        ("device", stored.devices),
        ("site", stored.sites),
        ("jump_host", stored.jump_hosts),
    )
    for kind, rows in tables:
        for change in diff.removed:
            if change.kind == kind:
                await session.delete(rows.pop(change.key))
        await session.flush()
    return diff


async def load_inventory(session: AsyncSession) -> Inventory:
    """The stored inventory, as the files would give it."""
    return (await _Stored.load(session)).inventory()


async def _devices(session: AsyncSession, site_ids: Iterable[int]) -> dict[int, list[DeviceRecord]]:
    """Each site's devices by hostname, jump host joined (one query)."""
    query = (
        select(Device, Site, JumpHost)
        .join(Site, Device.site_id == Site.id)
        .outerjoin(JumpHost, Device.jump_host_id == JumpHost.id)
        .where(Device.site_id.in_(list(site_ids)))
        .order_by(Device.hostname)
    )
    found: dict[int, list[DeviceRecord]] = {}
    for device, site, jump_host in await session.execute(query):
        record = DeviceRecord(
            hostname=device.hostname,
            site_code=site.code,
            service_reference=site.service_reference,
            address=device.address,
            port=device.port,
            driver=device.driver,
            credentials=device.credentials,
            timezone=device.timezone,
            known_hosts=device.known_hosts,
            host_key=device.host_key,
            jump_host=_entry(JumpHostEntry, jump_host) if jump_host is not None else None,
        )
        found.setdefault(site.id, []).append(record)
    return found


async def resolve_site(session: AsyncSession, *, code: str) -> list[DeviceRecord]:
    """The devices of the site with this code, by hostname; empty when no site has it."""
    site_id = await session.scalar(select(Site.id).where(Site.code == code))
    return [] if site_id is None else (await _devices(session, [site_id])).get(site_id, [])


async def resolve_ticket_sites(
    session: AsyncSession, *, references: Iterable[str | None]
) -> list[KnownSite | UnknownSite]:
    """Turn a ticket's site references into sites and their devices; never raises on unknowns.

    Each reference is looked up as a site code first, then as a service reference (which
    may find both ends of a point-to-point service). Blank and repeated references are
    skipped, and a site found twice is given once.

    Args:
        session: Any session (reads only).
        references: Site codes or service references, as the ticket gives them.

    Returns:
        In reference order: a :class:`KnownSite` per site found, an :class:`UnknownSite` per
        reference that found none.
    """
    wanted = list(dict.fromkeys(ref.strip() for ref in references if ref and ref.strip()))
    if not wanted:
        return []
    by_code = {s.code: s for s in await session.scalars(select(Site).where(Site.code.in_(wanted)))}
    by_reference: dict[str, list[Site]] = {}
    if rest := [ref for ref in wanted if ref not in by_code]:
        query = select(Site).where(Site.service_reference.in_(rest)).order_by(Site.code)
        for site in await session.scalars(query):
            by_reference.setdefault(site.service_reference or "", []).append(site)
    sites = [*by_code.values(), *(s for group in by_reference.values() for s in group)]
    devices = await _devices(session, {site.id for site in sites})
    results: list[KnownSite | UnknownSite] = []
    given: set[int] = set()
    for ref in wanted:
        how: Literal["code", "service_reference"] = (
            "code" if ref in by_code else "service_reference"
        )
        matches = [by_code[ref]] if ref in by_code else by_reference.get(ref, [])
        if not matches:
            results.append(UnknownSite(ref))
        for site in (s for s in matches if s.id not in given):
            given.add(site.id)
            found = tuple(devices.get(site.id, ()))
            results.append(KnownSite(ref, site.code, site.service_reference, how, found))
    return results
