"""Contacts in the notifier's ``contact`` table: replaced by a file's in one transaction, looked up.

An import makes the table hold exactly the file's contacts: rows whose customer and site the
file no longer has are deleted, the others inserted or updated in place (``updated_at`` moves
only when a field changed), all in the caller's transaction. On PostgreSQL, concurrent
imports take turns on an advisory lock, so each one's report is what it did; on SQLite the
database's single writer does the same.

The lookup (:func:`recipients_for`) is what a notification asks: a site's own contacts
first, else the customer's default ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.imports.locks import hold_import_lock, import_lock_key

from vigie_notifier.contacts import (
    CHANNELS,
    ContactChange,
    ContactChoice,
    ContactEntry,
    Contacts,
    ContactsDiff,
    customer_key,
    diff_contacts,
)
from vigie_notifier.models import Contact
from vigie_notifier.recipients import RecipientListError, parse_recipients

__all__ = [
    "IMPORT_LOCK_KEY",
    "StoredContactInvalid",
    "import_contacts",
    "load_contacts",
    "recipients_for",
]

IMPORT_LOCK_KEY: Final = import_lock_key("vigie-notifier:contacts-import")
"""PostgreSQL transaction advisory lock held by an import (stable across processes)."""


class StoredContactInvalid(ValueError):
    """A stored contact cannot be used (written around the import, or rules got stricter).

    Raised rather than skipped: falling back to other people would tell the wrong ones.
    """

    def __init__(self, customer: str, site_code: str, reason: str) -> None:
        where = f"site {site_code}" if site_code else "default contacts"
        super().__init__(f"stored contact {customer!r} ({where}) is unusable: {reason}")
        self.customer = customer
        self.site_code = site_code
        self.reason = reason


def _entry(row: Contact) -> ContactEntry:
    return ContactEntry(row.customer, row.site_code, row.recipients, row.channel)


@dataclass
class _Stored:
    """Every contact row by key; ``extras`` share a key with an earlier row (not an import's)."""

    rows: dict[tuple[str, str], Contact] = field(default_factory=dict)
    extras: list[Contact] = field(default_factory=list)

    @classmethod
    async def load(cls, session: AsyncSession) -> _Stored:
        stored = cls()
        for row in await session.scalars(select(Contact).order_by(Contact.id)):
            key = _entry(row).key
            if key in stored.rows:
                stored.extras.append(row)
            else:
                stored.rows[key] = row
        return stored

    def contacts(self) -> Contacts:
        return Contacts(tuple(_entry(row) for row in self.rows.values()))


async def import_contacts(
    session: AsyncSession, *, contacts: Contacts, now: datetime, dry_run: bool = False
) -> ContactsDiff:
    """Make the ``contact`` table hold ``contacts``, in the caller's transaction.

    Args:
        session: A session inside the transaction that will commit (or roll back) the import.
        contacts: All the contacts, as :func:`~.contacts_formats.read_contacts` gave them.
        now: The instant recorded as ``created_at`` / ``updated_at`` of written rows.
        dry_run: Compute the diff only; nothing is written.

    Returns:
        What the import added, changed and removed (empty when nothing differs).
    """
    await hold_import_lock(session, IMPORT_LOCK_KEY)
    stored = await _Stored.load(session)
    diff = diff_contacts(stored.contacts(), contacts)
    report = diff
    if stored.extras:  # reported as removed too, without touching the row they shadow
        extras = (ContactChange(row.customer, row.site_code) for row in stored.extras)
        removed = sorted((*diff.removed, *extras), key=_key)
        report = ContactsDiff(diff.added, diff.changed, tuple(removed))
    if dry_run or report.empty:
        return report
    # Removals first: a new spelling of a customer then never meets a row it would duplicate.
    for row in stored.extras:
        await session.delete(row)
    for change in diff.removed:
        await session.delete(stored.rows.pop(_key(change)))
    await session.flush()
    wanted = {entry.key: entry for entry in contacts.entries}
    for change in diff.changed:
        row, entry = stored.rows[_key(change)], wanted[_key(change)]
        row.customer, row.recipients, row.channel = entry.customer, entry.recipients, entry.channel
        row.updated_at = now
    for change in diff.added:
        entry = wanted[_key(change)]
        session.add(
            Contact(
                customer=entry.customer,
                site_code=entry.site_code,
                recipients=entry.recipients,
                channel=entry.channel,
                created_at=now,
                updated_at=now,
            )
        )
    await session.flush()
    return report


def _key(change: ContactChange) -> tuple[str, str]:
    return customer_key(change.customer), change.site_code


async def load_contacts(session: AsyncSession) -> Contacts:
    """The stored contacts, as the files would give them."""
    return (await _Stored.load(session)).contacts()


async def recipients_for(
    session: AsyncSession, *, customer: str | None, site_codes: Sequence[str]
) -> ContactChoice | None:
    """Whom to tell about a ticket of ``customer`` on ``site_codes``, and by which channel.

    Args:
        session: Any session (reads only).
        customer: The ticket's customer; matched ignoring case and runs of spaces.
        site_codes: The ticket's site codes, in order of preference (blanks are skipped).

    Returns:
        The contacts of the first site that has its own, else the customer's default
        contacts, else None.

    Raises:
        StoredContactInvalid: The chosen row's recipients or channel cannot be used.
    """
    codes = list(dict.fromkeys(code.strip() for code in site_codes if code and code.strip()))
    key = customer_key(customer) if customer else ""
    if codes:
        query = select(Contact).where(Contact.site_code.in_(codes)).order_by(Contact.id)
        by_code: dict[str, list[Contact]] = {}
        for contact in await session.scalars(query):
            by_code.setdefault(contact.site_code, []).append(contact)
        for code in codes:
            if rows := by_code.get(code):
                # The import gives a site one customer; a table written otherwise may not.
                mine = [r for r in rows if customer_key(r.customer) == key]
                return _choice((mine or rows)[0])
    if not key:
        return None
    spelled = " ".join((customer or "").split())
    row: Contact | None = await session.scalar(
        select(Contact).where(Contact.customer == spelled, Contact.site_code == "")
    )
    if row is None:  # spelled otherwise (case, spaces): compare every customer's key
        defaults = await session.execute(
            select(Contact.id, Contact.customer).where(Contact.site_code == "").order_by(Contact.id)
        )
        found = next((id_ for id_, name in defaults if customer_key(name) == key), None)
        if found is None:
            return None
        row = await session.get(Contact, found)
    return _choice(row) if row is not None else None


def _choice(row: Contact) -> ContactChoice:
    """The row as a choice, its recipients parsed again (the text is what the team wrote)."""
    if row.channel not in CHANNELS:
        raise StoredContactInvalid(row.customer, row.site_code, f"channel {row.channel!r}")
    try:
        recipients = parse_recipients(row.recipients)
    except RecipientListError as exc:
        raise StoredContactInvalid(row.customer, row.site_code, str(exc)) from None
    return ContactChoice(row.customer, row.site_code or None, recipients, row.channel)
