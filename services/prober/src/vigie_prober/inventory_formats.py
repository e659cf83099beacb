"""Inventory files: YAML, and two kinds of CSV (devices, jump hosts), read with line numbers.

A YAML file holds ``jump_hosts`` and ``sites`` (each with its ``devices``). A CSV file holds
one device per row (``site_code,service_reference,hostname,address,port,driver,credentials,
jump_host,timezone,known_hosts[,host_key]``) or, when its header has ``name`` and no
``hostname``, one jump host per row (``name,address,port,credentials,known_hosts``). Several
files make one inventory, so CSV users give both kinds: ``import devices.csv jump_hosts.csv``.

Readers only check the shape (syntax, known keys and columns, no secrets); values are
checked by :func:`vigie_prober.inventory_checks.build_inventory`, which every reader feeds.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigie_prober.inventory import (
    PROFILE_HINT,
    SECRET_KEYS,
    Inventory,
    InventoryUnreadable,
    Location,
    Problem,
    RawEntry,
    RawInventory,
    RawSite,
)
from vigie_prober.inventory_checks import build_inventory

__all__ = [
    "CSV_DEVICE_COLUMNS",
    "CSV_JUMP_HOST_COLUMNS",
    "MAX_FILE_BYTES",
    "parse_csv",
    "parse_yaml",
    "read_inventory",
    "read_inventory_file",
]

MAX_FILE_BYTES: Final = 64 * 1024 * 1024
JUMP_HOST_KEYS: Final = ("name", "address", "port", "credentials", "known_hosts")
SITE_KEYS: Final = ("code", "service_reference", "devices")
DEVICE_KEYS: Final = (
    "hostname", "address", "port", "driver", "credentials", "jump_host", "timezone",
    "known_hosts", "host_key",
)  # fmt: skip
CSV_DEVICE_COLUMNS: Final = ("site_code", "service_reference", *DEVICE_KEYS)
CSV_JUMP_HOST_COLUMNS: Final = JUMP_HOST_KEYS
_CSV_REQUIRED: Final = {
    CSV_DEVICE_COLUMNS: ("site_code", "hostname", "address", "driver", "credentials"),
    CSV_JUMP_HOST_COLUMNS: ("name", "address", "credentials"),
}
_NULL: Final = "tag:yaml.org,2002:null"
_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when built


def read_inventory(paths: Sequence[Path]) -> Inventory:
    """Read and check every file; together they are the whole inventory.

    Raises:
        InventoryUnreadable: A file cannot be read or is neither ``.yaml``/``.yml`` nor ``.csv``.
        InventoryInvalid: Every problem of every file, each naming its line and field.
    """
    return build_inventory([read_inventory_file(path) for path in paths])


def read_inventory_file(path: Path) -> RawInventory:
    """One file's entries, unchecked; its name is shown as given in every problem."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in {".yaml", ".yml", ".csv"}:
        raise InventoryUnreadable(name, "unknown format: name the file .yaml, .yml or .csv")
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InventoryUnreadable(name, exc.strerror or type(exc).__name__) from None
    if len(data) > MAX_FILE_BYTES:
        raise InventoryUnreadable(name, f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InventoryUnreadable(name, f"not UTF-8 text (byte {exc.start})") from None
    return parse_csv(text, file=name) if suffix == ".csv" else parse_yaml(text, file=name)


def parse_yaml(text: str, *, file: str) -> RawInventory:
    """Entries of a YAML inventory; syntax errors and wrong shapes become problems."""
    raw = RawInventory(file)
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
        message = "empty file: expected 'jump_hosts' and 'sites'"
        raw.problems.append(Problem(Location(file, 1, ""), message))
        return raw
    _YamlReader(file, raw).read(root)
    return raw


def _kind(node: Node) -> str:
    return "a list" if isinstance(node, SequenceNode) else "a mapping"


class _YamlReader:
    """Walks the composed nodes (each knows its line); aliases are refused, so it stays linear."""

    def __init__(self, file: str, raw: RawInventory) -> None:
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
        top = self.mapping(root, "", ("jump_hosts", "sites"))
        if top is None:
            return
        if "sites" not in top:
            self.problem(root, "sites", "required field missing")
        for i, node in enumerate(self.sequence(top.get("jump_hosts"), "jump_hosts")):
            if (found := self.entry(node, f"jump_hosts[{i}]", JUMP_HOST_KEYS)) is not None:
                self.raw.jump_hosts.append(found[0])
        for i, node in enumerate(self.sequence(top.get("sites"), "sites")):
            self.site(node, f"sites[{i}]")

    def site(self, node: Node, path: str) -> None:
        found = self.entry(node, path, SITE_KEYS)
        if found is None:
            return
        entry, nodes = found
        listed = nodes.get("devices")
        at = self.where(listed, f"{path}.devices") if listed else entry.at("devices")
        site = RawSite(entry, [], at)
        for j, node_j in enumerate(self.sequence(listed, f"{path}.devices")):
            device = self.entry(node_j, f"{path}.devices[{j}]", DEVICE_KEYS)
            if device is not None:
                site.devices.append(device[0])
        self.raw.sites.append(site)

    def sequence(self, node: Node | None, path: str) -> list[Node]:
        if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
            return []
        if not self.fresh(node, path):
            return []
        if not isinstance(node, SequenceNode):
            self.problem(node, path, "expected a list")
            return []
        return list(node.value)

    def mapping(self, node: Node, path: str, keys: tuple[str, ...]) -> dict[str, Node] | None:
        """The node's values by key; unknown, secret and duplicate keys are problems."""
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
            if key.lower() in SECRET_KEYS:
                problem = PROFILE_HINT
            elif key not in keys:
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
        """The mapping's scalar values as an entry, and its nodes (for nested lists)."""
        values = self.mapping(node, path, keys)
        if values is None:
            return None
        entry = RawEntry(self.where(node, path))
        for key, value in values.items():
            if key == "devices":
                continue
            where = self.where(value, f"{path}.{key}")
            if not self.fresh(value, where.field):
                entry.reported.add(key)
                continue
            if not isinstance(value, ScalarNode):
                self.problem(value, where.field, f"expected a single value, got {_kind(value)}")
                entry.reported.add(key)
                continue
            entry.values[key] = (None if value.tag == _NULL else str(value.value), where)
        return entry, values


def _rows(text: str, *, file: str, raw: RawInventory) -> Iterator[tuple[int, list[str]]]:
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


def parse_csv(text: str, *, file: str) -> RawInventory:
    """Entries of a device or jump-host CSV (``,`` or ``;``, told by the header)."""
    raw = RawInventory(file)
    rows = _rows(text, file=file, raw=raw)
    header_line, header = next(rows, (1, []))
    columns = _columns(raw, file, header_line, [cell.strip().lower() for cell in header])
    if columns is None:
        return raw
    sites: dict[str, RawSite] = {}
    for line, cells in rows:
        _row(raw, sites, Location(file, line, "", csv=True), columns, cells)
    return raw


def _columns(raw: RawInventory, file: str, line: int, columns: list[str]) -> tuple[str, ...] | None:
    """The header's columns, or None (and problems) when the header is wrong."""
    known: tuple[str, ...]
    if {"hostname", "site_code"} & set(columns):
        known = CSV_DEVICE_COLUMNS
    elif "name" in columns:
        known = CSV_JUMP_HOST_COLUMNS
    else:
        message = (
            "cannot tell the kind of CSV file: a device file has the columns "
            f"{','.join(CSV_DEVICE_COLUMNS)}; a jump-host file {','.join(CSV_JUMP_HOST_COLUMNS)}"
        )
        raw.problems.append(Problem(Location(file, line, "", csv=True), message))
        return None
    before = len(raw.problems)
    for i, column in enumerate(columns):
        where = Location(file, line, column or f"#{i + 1}", csv=True)
        if column in SECRET_KEYS:
            raw.problems.append(Problem(where, PROFILE_HINT))
        elif column not in known:
            raw.problems.append(Problem(where, f"unknown column (known: {', '.join(known)})"))
        elif column in columns[:i]:
            raw.problems.append(Problem(where, "duplicate column"))
    for column in _CSV_REQUIRED[known]:
        if column not in columns:
            raw.problems.append(Problem(Location(file, line, column, csv=True), "column missing"))
    return tuple(columns) if len(raw.problems) == before else None


def _row(
    raw: RawInventory,
    sites: dict[str, RawSite],
    where: Location,
    columns: tuple[str, ...],
    cells: list[str],
) -> None:
    """One row: a jump host, or a device added to its site (rows of one site are grouped)."""
    if len(cells) > len(columns):
        message = f"{len(cells)} values for {len(columns)} columns (a comma inside a value?)"
        raw.problems.append(Problem(where, message))
        return
    entry = RawEntry(where)
    for column, cell in zip(columns, cells, strict=False):
        entry.values[column] = (cell, replace(where, field=column))
    if "hostname" not in columns:
        raw.jump_hosts.append(entry)
        return
    code = entry.get("site_code")
    if code is None:
        raw.problems.append(Problem(entry.at("site_code"), "required field missing"))
        return
    site = sites.get(code)
    if site is None:
        values = {"code": entry.values["site_code"]}
        if "service_reference" in entry.values:
            values["service_reference"] = entry.values["service_reference"]
        site = sites[code] = RawSite(RawEntry(where, values), [], entry.at("site_code"))
        raw.sites.append(site)
    else:
        _same_reference(raw, site, entry)
    device = {k: v for k, v in entry.values.items() if k not in {"site_code", "service_reference"}}
    site.devices.append(RawEntry(where, device))


def _same_reference(raw: RawInventory, site: RawSite, entry: RawEntry) -> None:
    """Rows of one site agree on its service reference (a blank cell repeats the known one)."""
    mine, known = entry.get("service_reference"), site.entry.get("service_reference")
    if mine is None or mine == known:
        return
    if known is None:
        site.entry.values["service_reference"] = entry.values["service_reference"]
        return
    first = site.entry.at("service_reference")
    message = (
        f"site {site.entry.get('code')!r} already has service_reference {known!r} "
        f"(at {entry.where.near(first)})"
    )
    raw.problems.append(Problem(entry.at("service_reference"), message))
