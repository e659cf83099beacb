"""Who is told about a customer's incidents: contacts as values, their checks, and their diff.

A contact is a customer's recipient list (the team's ``NAME, phone, email;`` text) and the
channel it prefers (``mail``, ``sms`` or ``both``), either the customer's default
(``site_code == ""``) or one site's own. The readers (:mod:`vigie_notifier.contacts_formats`)
turn YAML or CSV into :class:`RawContacts` whose every value knows its file, line and field;
:func:`build_contacts` checks them all and either returns :class:`Contacts` or raises
:class:`ContactsInvalid` listing every problem as ``<file> line <n>: <field>: <message>``
(CSV: ``<file> line <n>, column <field>: <message>``), so one run shows every mistake.

Customers are matched as the ticket names them, ignoring case and runs of spaces
(:func:`customer_key`); site codes exactly. A site code belongs to one customer.

    ContactsError
    ├── ContactsUnreadable   the file cannot be read, or its format is unknown
    └── ContactsInvalid      the content is wrong: one Problem per wrong field

The readers' types (:class:`Location`, :class:`Problem`, :class:`RawEntry`) and the checker
are :mod:`vigie_common.imports`'s; :class:`ContactsUnreadable` and :class:`ContactsInvalid`
are its ``FileUnreadable`` and ``ContentInvalid`` too, so the shared command flow refuses
contacts like any other file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal, TypeAlias, get_args

from vigie_common.imports import reporting
from vigie_common.imports.entries import Checker, RawEntry
from vigie_common.imports.problems import (
    ContentInvalid,
    FileUnreadable,
    ImportRefused,
    Location,
    Problem,
    rank_problems,
)
from vigie_common.imports.reporting import ImportDiff

from vigie_notifier.recipients import Recipient, RecipientListError, parse_recipients

__all__ = [
    "CHANNELS",
    "DEFAULT_CHANNEL",
    "MAX_CUSTOMER",
    "MAX_SITE_CODE",
    "Channel",
    "ContactChange",
    "ContactChoice",
    "ContactEntry",
    "Contacts",
    "ContactsDiff",
    "ContactsError",
    "ContactsInvalid",
    "ContactsUnreadable",
    "FieldChange",
    "Location",
    "Problem",
    "RawContacts",
    "RawCustomer",
    "RawEntry",
    "build_contacts",
    "customer_key",
    "describe_recipients_change",
    "diff_contacts",
    "format_recipients",
    "parse_channel",
    "parse_customer",
    "parse_site_code",
]

Channel = Literal["mail", "sms", "both"]
CHANNELS: Final[tuple[Channel, ...]] = get_args(Channel)
DEFAULT_CHANNEL: Final[Channel] = "mail"
"""Every recipient has an email, so mail is the channel that always reaches someone."""
MAX_CUSTOMER: Final = 500  # Contact.customer, and the ticket's customer
MAX_SITE_CODE: Final = 200  # Contact.site_code, and the ticket's site code

_SITE_CODE: Final = re.compile(r"[^\s\x00-\x1f\x7f]+\Z")


class ContactsError(ImportRefused):
    """Contacts could not be imported; nothing was written."""


class ContactsUnreadable(ContactsError, FileUnreadable):
    """A contacts file cannot be read, or is not .yaml/.yml/.csv (``file``, ``reason``)."""


class ContactsInvalid(ContactsError, ContentInvalid):
    """The contacts are wrong; ``problems`` places each mistake, recipient by recipient."""


def customer_key(name: str) -> str:
    """How customers are matched: case ignored (``casefold``), runs of spaces as one."""
    return " ".join(name.split()).casefold()


def _label(customer: str, site_code: str) -> str:
    return f"{customer}: " + (f"site {site_code}" if site_code else "default contacts")


@dataclass(frozen=True, slots=True)
class ContactEntry:
    """One row of the ``contact`` table: a customer's default (``site_code == ""``) or a site's.

    ``recipients`` is the team's text in its canonical form (:func:`format_recipients`), so
    re-importing a file written differently but meaning the same changes nothing.
    """

    customer: str
    site_code: str
    recipients: str
    channel: str

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the contact: the customer's :func:`customer_key` and the site."""
        return customer_key(self.customer), self.site_code

    @property
    def label(self) -> str:
        """The contact for a person: ``CUSTOMER: default contacts`` or ``CUSTOMER: site X``."""
        return _label(self.customer, self.site_code)


@dataclass(frozen=True, slots=True)
class Contacts:
    """A whole, consistent set of contacts: keys unique, each site code under one customer."""

    entries: tuple[ContactEntry, ...] = ()

    @property
    def customers(self) -> int:
        """How many customers have contacts (a default, sites, or both)."""
        return len({customer_key(e.customer) for e in self.entries})

    @property
    def defaults(self) -> int:
        """How many customers have default contacts."""
        return sum(1 for e in self.entries if not e.site_code)

    @property
    def sites(self) -> int:
        """How many sites have their own contacts."""
        return sum(1 for e in self.entries if e.site_code)


@dataclass(frozen=True, slots=True)
class ContactChoice:
    """Whom to tell about a ticket, and how: the answer of the contacts lookup."""

    customer: str
    site_code: str | None
    """The site whose own contacts these are; None for the customer's default contacts."""
    recipients: tuple[Recipient, ...]
    channel: Channel

    @property
    def mail_recipients(self) -> tuple[Recipient, ...]:
        """Who gets the mail: everyone, unless the channel is SMS only."""
        return self.recipients if self.channel in {"mail", "both"} else ()

    @property
    def sms_recipients(self) -> tuple[Recipient, ...]:
        """Who gets the SMS: those with a mobile, when the channel includes SMS."""
        if self.channel not in {"sms", "both"}:
            return ()
        return tuple(r for r in self.recipients if r.sms_capable)


# -- raw entries, as the readers give them --------------------------------------------------


@dataclass
class RawCustomer:
    """A customer's entry (``name``, optional ``recipients`` and ``channel``) and its sites'.

    YAML gives one per customer entry; CSV one per customer and file, its rows grouped.
    """

    entry: RawEntry
    sites: list[RawEntry] = field(default_factory=list)


@dataclass
class RawContacts:
    """What one file holds before checking, and the problems its reader already found."""

    file: str
    customers: list[RawCustomer] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


# -- value checks ----------------------------------------------------------------------------


def parse_customer(text: str) -> str:
    """A customer's name as tickets give it: spaces collapsed, one line, bounded."""
    name = " ".join(text.split())
    if len(name) > MAX_CUSTOMER or any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError(f"must be at most {MAX_CUSTOMER} characters, no control characters")
    return name


def parse_site_code(text: str) -> str:
    """A site code as tickets and the inventory give it: printable, no spaces, bounded."""
    if len(text) > MAX_SITE_CODE or not _SITE_CODE.match(text):
        raise ValueError(f"a site code must be at most {MAX_SITE_CODE} characters, no spaces")
    return text


def parse_channel(text: str) -> Channel:
    """``mail``, ``sms`` or ``both`` (any case)."""
    channel = text.lower()
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {text!r} (known: {', '.join(sorted(CHANNELS))})")
    return channel


def format_recipients(recipients: Iterable[Recipient]) -> str:
    """The canonical team text: ``NAME, +33612345678, email;`` entries, one space apart.

    It parses back to the same recipients, so what is stored is always readable.
    """
    return " ".join(f"{r.name}, {r.phone or ''}, {r.email};" for r in recipients)


def _entry_name(text: str, entry: int) -> str:
    """The name written at the head of the ``entry``-th (from 1) entry, for messages."""
    pieces = text.split(";")
    return " ".join(pieces[entry - 1].split(",")[0].split()) if entry <= len(pieces) else ""


class _Checker(Checker):
    """The common checks, and a recipient list's: one problem per mistake, on its line."""

    def recipients(self, entry: RawEntry) -> tuple[Recipient, ...] | None:
        """The entry's recipients; None (and one problem per mistake, on its line) if wrong."""
        if entry.get("recipients") is None:
            if "recipients" not in entry.reported:
                self.add(entry.at("recipients"), "required field missing")
            return None
        text, where = entry.text("recipients"), entry.at("recipients")
        try:
            return parse_recipients(text)
        except RecipientListError as exc:
            for p in exc.problems:
                name = _entry_name(text, p.entry)
                head = f"entry {p.entry}" + (f" ({name})" if name else "")
                tail = p.message if p.field == "entry" else f"{p.field}: {p.message}"
                self.add(where.within(text, p.position), f"{head}: {tail}")
            return None


@dataclass
class _Builder:
    """The contacts kept so far and the keys they claimed, for duplicate checks."""

    check: _Checker = field(default_factory=_Checker)
    entries: list[ContactEntry] = field(default_factory=list)
    customers: dict[str, tuple[str, Location]] = field(default_factory=dict)
    sites: dict[str, tuple[str, str, Location]] = field(default_factory=dict)

    def add_customer(self, raw: RawCustomer) -> None:
        entry = raw.entry
        name = self.check.required(entry, "name", parse_customer)
        if name is not None and not self.claim_customer(name, entry.at("name")):
            name = None  # its contacts are still checked, so one run shows every problem
        channel = self.check.optional(entry, "channel", parse_channel)
        if "recipients" in entry.values or "recipients" in entry.reported:
            self.add_contact(name, "", entry, channel)
        elif not raw.sites and "sites" not in entry.reported:
            message = "a customer needs recipients (its default contacts) or sites"
            self.check.add(entry.at("recipients"), message)
        for site in raw.sites:
            code = self.check.required(site, "code", parse_site_code)
            if code is not None and self.claim_site(name, code, site.at("code")):
                self.add_contact(name, code, site, None, inherited=(channel, entry))
            else:
                self.add_contact(None, "", site, None, inherited=(channel, entry))

    def claim_customer(self, name: str, where: Location) -> bool:
        """Record the customer; False (and a problem) when an earlier entry has it."""
        key = customer_key(name)
        if key not in self.customers:
            self.customers[key] = (name, where)
            return True
        first, at = self.customers[key]
        spelt = "" if first == name else f", written {first!r}: case and spaces are ignored"
        rows = ": a customer's rows are in one file" if where.csv and where.file != at.file else ""
        self.check.add(
            where, f"duplicate customer {name!r} (first at {where.near(at)}{spelt}){rows}"
        )
        return False

    def claim_site(self, customer: str | None, code: str, where: Location) -> bool:
        """Record the site's code; False (and a problem) when another entry has it."""
        if code in self.sites:
            owner, key, first = self.sites[code]
            if customer is not None and customer_key(customer) == key:
                message = f"duplicate site {code!r} (first at {where.near(first)})"
            else:
                message = (
                    f"site {code!r} is already listed for customer {owner!r} "
                    f"(at {where.near(first)}): a site has one customer"
                )
            self.check.add(where, message)
            return False
        if customer is not None:
            self.sites[code] = (customer, customer_key(customer), where)
        return customer is not None

    def add_contact(
        self,
        customer: str | None,
        site_code: str,
        entry: RawEntry,
        own: Channel | None,
        *,
        inherited: tuple[Channel | None, RawEntry] | None = None,
    ) -> None:
        """Check the recipients and that the channel reaches one of them; keep the contact.

        A site without a ``channel`` takes its customer's (``inherited``), else mail.
        """
        recipients = self.check.recipients(entry)
        if inherited is not None:
            own = self.check.optional(entry, "channel", parse_channel)
        if recipients is None or (own is None and entry.get("channel") is not None):
            return  # (a wrong channel is reported already)
        origin = ""
        chosen = own
        if chosen is None and inherited is not None and inherited[0] is not None:
            chosen = inherited[0]
            origin = f" (its customer's, at {entry.where.near(inherited[1].at('channel'))})"
        chosen = chosen or DEFAULT_CHANNEL
        if chosen != "mail" and not any(r.sms_capable for r in recipients):
            message = (
                f"channel {chosen!r}{origin} sends SMS, but no recipient has a mobile phone "
                "(06, 07 or a foreign number)"
            )
            self.check.add(entry.at("recipients" if origin else "channel"), message)
            return
        if customer is not None:
            self.entries.append(
                ContactEntry(customer, site_code, format_recipients(recipients), chosen)
            )


def build_contacts(raws: Sequence[RawContacts]) -> Contacts:
    """Check every entry of every file and assemble one set of contacts.

    Args:
        raws: What each file's reader produced, in the order the files were given.

    Returns:
        The contacts, in file order.

    Raises:
        ContactsInvalid: Listing every problem: readers' (syntax, unknown keys), wrong
            values, recipient lists' mistakes, SMS without a mobile, duplicate customers or
            sites, a site listed for two customers.
    """
    builder = _Builder()
    for raw in raws:
        builder.check.problems.extend(raw.problems)
        for customer in raw.customers:
            builder.add_customer(customer)
    if builder.check.problems:
        raise ContactsInvalid(rank_problems(builder.check.problems, [raw.file for raw in raws]))
    return Contacts(tuple(builder.entries))


# -- what an import changes ------------------------------------------------------------------


FieldChange: TypeAlias = reporting.FieldChange[str]
"""One field of one contact: its stored value and the file's."""


@dataclass(frozen=True, slots=True)
class ContactChange:
    """A contact added, changed (with the fields that differ) or removed."""

    customer: str
    site_code: str
    fields: tuple[FieldChange, ...] = ()

    @property
    def label(self) -> str:
        """The contact for a person, as :attr:`ContactEntry.label`."""
        return _label(self.customer, self.site_code)


ContactsDiff: TypeAlias = ImportDiff[ContactChange]
"""Everything an import does, each list ordered by customer, default first, then site."""


_COMPARED: Final = ("customer", "recipients", "channel")
"""``customer`` differs only by case or spaces (same key): a new spelling is a change."""


def diff_contacts(current: Contacts, wanted: Contacts) -> ContactsDiff:
    """What replacing ``current`` with ``wanted`` adds, changes and removes.

    Contacts are matched by customer (:func:`customer_key`) and site code, so moving a site
    to another customer is a removal and an addition.

    Args:
        current: The stored contacts (one per key).
        wanted: The contacts read from the files.

    Returns:
        The diff; empty when both are the same whatever their entries' order.
    """
    old = {e.key: e for e in current.entries}
    new = {e.key: e for e in wanted.entries}
    changed = []
    for key in sorted(old.keys() & new.keys()):
        before, after = old[key], new[key]
        found = tuple(
            FieldChange(name, getattr(before, name), getattr(after, name))
            for name in _COMPARED
            if getattr(before, name) != getattr(after, name)
        )
        if found:
            changed.append(ContactChange(after.customer, after.site_code, found))
    return ContactsDiff(
        tuple(ContactChange(new[k].customer, k[1]) for k in sorted(new.keys() - old.keys())),
        tuple(changed),
        tuple(ContactChange(old[k].customer, k[1]) for k in sorted(old.keys() - new.keys())),
    )


def describe_recipients_change(old: str, new: str) -> str:
    """A recipients change for a person, by email: ``+added, -removed, ~changed`` (or order).

    Falls back to ``rewritten`` when the stored text is not a valid list (written by hand).
    """
    try:
        before = {r.email.casefold(): r for r in parse_recipients(old)}
        after = {r.email.casefold(): r for r in parse_recipients(new)}
    except RecipientListError:
        return "rewritten"
    parts = [f"+{r.email}" for k, r in after.items() if k not in before]
    parts += [f"-{r.email}" for k, r in before.items() if k not in after]
    for k, r in after.items():
        if k in before and (what := _recipient_fields(before[k], r)):
            parts.append(f"~{r.email} ({what})")
    if not parts:
        return "reordered" if list(before) != list(after) else "rewritten"
    return ", ".join(parts)


def _recipient_fields(old: Recipient, new: Recipient) -> str:
    return ", ".join(
        name for name in ("name", "phone", "email") if getattr(old, name) != getattr(new, name)
    )
