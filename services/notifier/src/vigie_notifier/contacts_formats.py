"""Contacts files, YAML or CSV, read with line numbers so every mistake is placed.

YAML (``.yaml``/``.yml``)::

    customers:
      - name: RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE   # as tickets name the customer
        recipients: |                                       # the default contacts (optional)
          DUPONT Jean, 06 12 34 56 78, jean.dupont@example.com;
          MARTIN Léa, , lea.martin@example.com;
        channel: both                                       # mail (default), sms or both
        sites:                                              # optional
          - code: INL_MOIRA_EVPN_LA1                        # the ticket's site code
            recipients: "DURAND Paul, 07 00 00 00 01, paul.durand@example.com;"
            channel: sms                                    # default: the customer's channel

A customer needs ``recipients`` (its default contacts), ``sites``, or both. A ``|`` block
keeps one recipient per line, and a mistake is then reported on its own line.

CSV (``.csv``, ``,`` or ``;`` separated, told by the header): ``customer,site,recipients,
channel``; ``site`` and ``channel`` may be left out. A row with an empty ``site`` is the
customer's default contacts, and its ``channel`` is the default of the customer's site rows.
The recipients hold commas, so their cell is quoted. A customer's rows are in one file.

Readers only check the shape (syntax, known keys and columns); values are checked by
:func:`vigie_notifier.contacts.build_contacts`, which every reader feeds. The bounded read
and the YAML and CSV walks are :mod:`vigie_common.imports`'s; what is the contacts' here is
which keys and columns a file has, and how rows make customers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from vigie_common.imports.csv_reading import check_header, csv_entries
from vigie_common.imports.files import read_import_file
from vigie_common.imports.problems import Location, Problem
from vigie_common.imports.yaml_reading import YamlReader, compose_yaml
from yaml.nodes import Node

from vigie_notifier.contacts import (
    Contacts,
    ContactsUnreadable,
    RawContacts,
    RawCustomer,
    RawEntry,
    build_contacts,
    customer_key,
)

__all__ = [
    "CSV_COLUMNS",
    "CUSTOMER_KEYS",
    "MAX_FILE_BYTES",
    "SITE_KEYS",
    "parse_csv",
    "parse_yaml",
    "read_contacts",
    "read_contacts_file",
]

MAX_FILE_BYTES: Final = 16 * 1024 * 1024
"""Far more than any customer base; a larger file is a mistake, refused before parsing."""
CUSTOMER_KEYS: Final = ("name", "recipients", "channel", "sites")
SITE_KEYS: Final = ("code", "recipients", "channel")
CSV_COLUMNS: Final = ("customer", "site", "recipients", "channel")
_CSV_REQUIRED: Final = ("customer", "recipients")
_HINTS: Final = {"recipients": " (the team's text 'NAME, phone, email; …')"}
"""What a recipient list is, for the operator who wrote it as a YAML list or mapping."""


def read_contacts(paths: Sequence[Path]) -> Contacts:
    """Read and check every file; together they are all the contacts.

    Raises:
        ContactsUnreadable: A file cannot be read or is neither ``.yaml``/``.yml`` nor ``.csv``.
        ContactsInvalid: Every problem of every file, each naming its line and field.
    """
    return build_contacts([read_contacts_file(path) for path in paths])


def read_contacts_file(path: Path) -> RawContacts:
    """One file's entries, unchecked; its name is shown as given in every problem."""
    return read_import_file(
        path, limit=MAX_FILE_BYTES, yaml=parse_yaml, csv=parse_csv, error=ContactsUnreadable
    )


# -- YAML --------------------------------------------------------------------------------------


def parse_yaml(text: str, *, file: str) -> RawContacts:
    """Entries of a YAML contacts file; syntax errors and wrong shapes become problems."""
    raw = RawContacts(file)
    root = compose_yaml(text, file=file, problems=raw.problems, expected="'customers'")
    if root is not None:
        _YamlReader(file, raw).read(root)
    return raw


class _YamlReader(YamlReader):
    """The contacts' document: customers, each with its sites."""

    def __init__(self, file: str, raw: RawContacts) -> None:
        super().__init__(file, raw.problems, hints=_HINTS)
        self.raw = raw

    def read(self, root: Node) -> None:
        top = self.document(root, ("customers",), required=("customers",))
        if top is None:
            return
        for i, node in enumerate(self.sequence(top.get("customers"), "customers")):
            found = self.entry(node, f"customers[{i}]", CUSTOMER_KEYS, lists=("sites",))
            if found is None:
                continue
            entry, nodes = found
            customer = RawCustomer(entry)
            before = len(self.raw.problems)
            for j, site in enumerate(self.sequence(nodes.get("sites"), f"customers[{i}].sites")):
                if site_entry := self.entry(site, f"customers[{i}].sites[{j}]", SITE_KEYS):
                    customer.sites.append(site_entry[0])
            if len(self.raw.problems) > before:
                entry.reported.add("sites")  # a wrong list: not also "needs recipients or sites"
            self.raw.customers.append(customer)


# -- CSV ---------------------------------------------------------------------------------------


def parse_csv(text: str, *, file: str) -> RawContacts:
    """Entries of a contacts CSV: rows grouped by customer, a blank ``site`` its default."""
    raw = RawContacts(file)
    customers: dict[str, RawCustomer] = {}

    def header(where: Location, columns: list[str]) -> tuple[str, ...] | None:
        return check_header(
            columns, where=where, known=CSV_COLUMNS, required=_CSV_REQUIRED, problems=raw.problems
        )

    rows = csv_entries(
        text,
        file=file,
        problems=raw.problems,
        header=header,
        overflow="quote the recipients: they hold commas",
    )
    for entry, _ in rows:
        _row(raw, customers, entry)
    return raw


def _row(raw: RawContacts, customers: dict[str, RawCustomer], entry: RawEntry) -> None:
    """One row: the customer's default contacts (no site) or a site's, grouped by customer."""
    name = entry.get("customer")
    if name is None:
        raw.problems.append(Problem(entry.at("customer"), "required field missing"))
        return
    customer = _customer(raw, customers, entry, name)
    if entry.get("site") is None:
        _default(raw, customer, entry)
        return
    site = RawEntry(entry.where, {"code": (entry.values["site"][0], entry.at("site"))})
    site.values |= {k: v for k, v in entry.values.items() if k in {"recipients", "channel"}}
    customer.sites.append(site)


def _customer(
    raw: RawContacts, customers: dict[str, RawCustomer], entry: RawEntry, name: str
) -> RawCustomer:
    """The customer the row is for; its rows spell it the same way (or it is a problem)."""
    key = customer_key(name)
    if key not in customers:
        values = {"name": entry.values["customer"]}
        customers[key] = RawCustomer(RawEntry(entry.where, values))
        raw.customers.append(customers[key])
        return customers[key]
    customer = customers[key]
    known = customer.entry.get("name")
    if known is not None and " ".join(name.split()) != " ".join(known.split()):
        first = customer.entry.at("name")
        message = f"customer written {known!r} at {entry.where.near(first)}: write it the same way"
        raw.problems.append(Problem(entry.at("customer"), message))
    return customer


def _default(raw: RawContacts, customer: RawCustomer, entry: RawEntry) -> None:
    """The customer's default contacts, given once."""
    held = customer.entry
    if "recipients" in held.values:
        first = held.at("recipients")
        message = (
            f"duplicate default contacts for customer {entry.get('customer')!r} "
            f"(first at {entry.where.near(first)})"
        )
        raw.problems.append(Problem(entry.at("site"), message))
        return
    held.where = entry.where
    held.values |= {k: v for k, v in entry.values.items() if k in {"recipients", "channel"}}
    if "recipients" not in held.values:  # (a header always has it: never, but stay total)
        held.values["recipients"] = (None, entry.at("recipients"))
