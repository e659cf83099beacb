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
:func:`vigie_notifier.contacts.build_contacts`, which every reader feeds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigie_notifier.contacts import (
    Contacts,
    ContactsUnreadable,
    Location,
    Problem,
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
_NULL: Final = "tag:yaml.org,2002:null"
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when built


def read_contacts(paths: Sequence[Path]) -> Contacts:
    """Read and check every file; together they are all the contacts.

    Raises:
        ContactsUnreadable: A file cannot be read or is neither ``.yaml``/``.yml`` nor ``.csv``.
        ContactsInvalid: Every problem of every file, each naming its line and field.
    """
    return build_contacts([read_contacts_file(path) for path in paths])


def read_contacts_file(path: Path) -> RawContacts:
    """One file's entries, unchecked; its name is shown as given in every problem."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".csv"}:
        raise ContactsUnreadable(name, "unknown format: name the file .yaml, .yml or .csv")
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ContactsUnreadable(name, exc.strerror or type(exc).__name__) from None
    if len(data) > MAX_FILE_BYTES:
        raise ContactsUnreadable(name, f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContactsUnreadable(name, f"not UTF-8 text (byte {exc.start})") from None
    return parse_csv(text, file=name) if suffix == ".csv" else parse_yaml(text, file=name)


# -- YAML --------------------------------------------------------------------------------------


def parse_yaml(text: str, *, file: str) -> RawContacts:
    """Entries of a YAML contacts file; syntax errors and wrong shapes become problems."""
    raw = RawContacts(file)
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1 if mark else 1, "")
        raw.problems.append(Problem(where, f"not valid YAML: {exc.problem or exc.context}"))
        return raw
    except yaml.YAMLError as exc:
        raw.problems.append(Problem(Location(file, 1, ""), f"not valid YAML: {exc}"))
        return raw
    if root is None:
        raw.problems.append(Problem(Location(file, 1, ""), "empty file: expected 'customers'"))
        return raw
    _YamlReader(file, raw).read(root)
    return raw


def _kind(node: Node) -> str:
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


class _YamlReader:
    """Walks the composed nodes (each knows its line); aliases are refused, so it stays linear."""

    def __init__(self, file: str, raw: RawContacts) -> None:
        self.file = file
        self.raw = raw
        self.seen: set[int] = set()

    def where(self, node: Node, path: str) -> Location:
        return Location(self.file, node.start_mark.line + 1, path)

    def problem(self, node: Node, path: str, message: str) -> None:
        self.raw.problems.append(Problem(self.where(node, path), message))

    def fresh(self, node: Node, path: str) -> bool:
        if id(node) in self.seen:
            self.problem(node, path, "aliases (*name) are not supported: write the value out")
            return False
        self.seen.add(id(node))
        return True

    def read(self, root: Node) -> None:
        top = self.mapping(root, "", ("customers",))
        if top is None:
            return
        if "customers" not in top:
            self.problem(root, "customers", "required field missing")
        for i, node in enumerate(self.sequence(top.get("customers"), "customers")):
            found = self.entry(node, f"customers[{i}]", CUSTOMER_KEYS)
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

    def sequence(self, node: Node | None, path: str) -> list[Node]:
        if node is None or _is_null(node) or not self.fresh(node, path):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(node, path, "expected a list")
            return []
        return list(node.value)

    def mapping(self, node: Node, path: str, keys: tuple[str, ...]) -> dict[str, Node] | None:
        """The node's values by key; unknown and duplicate keys are problems."""
        if not self.fresh(node, path):
            return None
        if not isinstance(node, MappingNode):
            self.problem(node, path, f"expected a mapping of {', '.join(keys)}")
            return None
        found: dict[str, Node] = {}
        lines: dict[str, int] = {}
        for key_node, value in node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
            at = f"{path}.{key}" if path else key
            if key not in keys:
                problem = f"unknown key (known: {', '.join(sorted(keys))})"
            elif key in found:
                problem = f"duplicate key (first at line {lines[key]})"
            else:
                found[key], lines[key] = value, key_node.start_mark.line + 1
                continue
            self.problem(key_node, at, problem)
        return found

    def entry(
        self, node: Node, path: str, keys: tuple[str, ...]
    ) -> tuple[RawEntry, dict[str, Node]] | None:
        """The mapping's scalar values as an entry, and its nodes (for the sites' list)."""
        values = self.mapping(node, path, keys)
        if values is None:
            return None
        entry = RawEntry(self.where(node, path))
        for key, value in values.items():
            if key == "sites":
                continue
            where = self.where(value, f"{path}.{key}")
            if not self.fresh(value, where.field):
                entry.reported.add(key)
                continue
            if not isinstance(value, ScalarNode):
                hint = " (the team's text 'NAME, phone, email; …')" if key == "recipients" else ""
                got = _kind(value)
                self.problem(value, where.field, f"expected a single value{hint}, got {got}")
                entry.reported.add(key)
                continue
            text = None if value.tag == _NULL else str(value.value)
            entry.values[key] = (text, _body(value, where))
        return entry, values


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _body(node: ScalarNode, where: Location) -> Location:
    """Where the text's first line is, when YAML kept its line breaks as written."""
    if node.style == "|":  # the block's text starts on the line after the ``|``
        return Location(where.file, where.line, where.field, body=node.start_mark.line + 2)
    if "\n" not in str(node.value):
        return Location(where.file, where.line, where.field, body=where.line)
    return where  # folded lines: a mistake is placed at the value's first line


# -- CSV ---------------------------------------------------------------------------------------


def _rows(text: str, *, file: str, raw: RawContacts) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted cell may span lines)."""
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                yield start, cells
    except csv.Error as exc:
        where = Location(file, reader.line_num or 1, "", csv=True)
        raw.problems.append(Problem(where, f"not valid CSV: {exc}"))


def parse_csv(text: str, *, file: str) -> RawContacts:
    """Entries of a contacts CSV: rows grouped by customer, a blank ``site`` its default."""
    raw = RawContacts(file)
    rows = _rows(text, file=file, raw=raw)
    header_line, header = next(rows, (1, []))
    columns = _columns(raw, file, header_line, [cell.strip().lower() for cell in header])
    if columns is None:
        return raw
    customers: dict[str, RawCustomer] = {}
    for line, cells in rows:
        _row(raw, customers, Location(file, line, "", csv=True), columns, cells)
    return raw


def _columns(raw: RawContacts, file: str, line: int, columns: list[str]) -> tuple[str, ...] | None:
    """The header's columns, or None (and problems) when the header is wrong."""
    before = len(raw.problems)
    for i, column in enumerate(columns):
        where = Location(file, line, column or f"#{i + 1}", csv=True)
        if column not in CSV_COLUMNS:
            message = f"unknown column (known: {', '.join(CSV_COLUMNS)})"
            raw.problems.append(Problem(where, message))
        elif column in columns[:i]:
            raw.problems.append(Problem(where, "duplicate column"))
    for column in _CSV_REQUIRED:
        if column not in columns:
            raw.problems.append(Problem(Location(file, line, column, csv=True), "column missing"))
    return tuple(columns) if len(raw.problems) == before else None


def _row(
    raw: RawContacts,
    customers: dict[str, RawCustomer],
    where: Location,
    columns: tuple[str, ...],
    cells: list[str],
) -> None:
    """One row: the customer's default contacts (no site) or a site's, grouped by customer."""
    if len(cells) > len(columns):
        message = (
            f"{len(cells)} values for {len(columns)} columns "
            "(quote the recipients: they hold commas)"
        )
        raw.problems.append(Problem(where, message))
        return
    entry = RawEntry(where)
    line = where.line
    for column, cell in zip(columns, cells, strict=False):
        entry.values[column] = (cell, Location(where.file, where.line, column, True, line))
        line += cell.count("\n")  # a quoted cell may span lines: the next one starts lower
    name = entry.get("customer")
    if name is None:
        raw.problems.append(Problem(entry.at("customer"), "required field missing"))
        return
    customer = _customer(raw, customers, entry, name)
    if entry.get("site") is None:
        _default(raw, customer, entry)
        return
    site = RawEntry(where, {"code": (entry.values["site"][0], entry.at("site"))})
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
