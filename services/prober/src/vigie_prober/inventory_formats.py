"""Inventory files: YAML, and two kinds of CSV (devices, jump hosts), read with line numbers.

A YAML file holds ``jump_hosts`` and ``sites`` (each with its ``devices``). A CSV file holds
one device per row (``site_code,service_reference,hostname,address,port,driver,credentials,
jump_host,timezone,known_hosts[,host_key]``) or, when its header has ``name`` and no
``hostname``, one jump host per row (``name,address,port,credentials,known_hosts``). Several
files make one inventory, so CSV users give both kinds: ``import devices.csv jump_hosts.csv``.

Readers only check the shape (syntax, known keys and columns, no secrets); values are
checked by :func:`vigie_prober.inventory_checks.build_inventory`, which every reader feeds.
The bounded read and the YAML and CSV walks are :mod:`vigie_common.imports`'s; what is the
inventory's here is which keys, columns and lists a file has, and how rows make sites.
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

from vigie_prober.inventory import (
    PROFILE_HINT,
    SECRET_KEYS,
    Inventory,
    InventoryUnreadable,
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
_REFUSED: Final = dict.fromkeys(SECRET_KEYS, PROFILE_HINT)
"""Secrets' keys and columns, refused wherever they stand, pointing to credentials profiles."""


def read_inventory(paths: Sequence[Path]) -> Inventory:
    """Read and check every file; together they are the whole inventory.

    Raises:
        InventoryUnreadable: A file cannot be read or is neither ``.yaml``/``.yml`` nor ``.csv``.
        InventoryInvalid: Every problem of every file, each naming its line and field.
    """
    return build_inventory([read_inventory_file(path) for path in paths])


def read_inventory_file(path: Path) -> RawInventory:
    """One file's entries, unchecked; its name is shown as given in every problem."""
    return read_import_file(
        path, limit=MAX_FILE_BYTES, yaml=parse_yaml, csv=parse_csv, error=InventoryUnreadable
    )


def parse_yaml(text: str, *, file: str) -> RawInventory:
    """Entries of a YAML inventory; syntax errors and wrong shapes become problems."""
    raw = RawInventory(file)
    root = compose_yaml(text, file=file, problems=raw.problems, expected="'jump_hosts' and 'sites'")
    if root is not None:
        _YamlReader(file, raw).read(root)
    return raw


class _YamlReader(YamlReader):
    """The inventory's document: jump hosts, and sites with their devices."""

    def __init__(self, file: str, raw: RawInventory) -> None:
        super().__init__(file, raw.problems, refused=_REFUSED)
        self.raw = raw

    def read(self, root: Node) -> None:
        top = self.document(root, ("jump_hosts", "sites"), required=("sites",))
        if top is None:
            return
        for i, node in enumerate(self.sequence(top.get("jump_hosts"), "jump_hosts")):
            if (found := self.entry(node, f"jump_hosts[{i}]", JUMP_HOST_KEYS)) is not None:
                self.raw.jump_hosts.append(found[0])
        for i, node in enumerate(self.sequence(top.get("sites"), "sites")):
            self.site(node, f"sites[{i}]")

    def site(self, node: Node, path: str) -> None:
        found = self.entry(node, path, SITE_KEYS, lists=("devices",))
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


def parse_csv(text: str, *, file: str) -> RawInventory:
    """Entries of a device or jump-host CSV (``,`` or ``;``, told by the header)."""
    raw = RawInventory(file)
    sites: dict[str, RawSite] = {}

    def header(where: Location, columns: list[str]) -> tuple[str, ...] | None:
        return _columns(raw, where, columns)

    rows = csv_entries(
        text, file=file, problems=raw.problems, header=header, overflow="a comma inside a value?"
    )
    for entry, columns in rows:
        _row(raw, sites, entry, columns)
    return raw


def _columns(raw: RawInventory, where: Location, columns: list[str]) -> tuple[str, ...] | None:
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
        raw.problems.append(Problem(where, message))
        return None
    return check_header(
        columns,
        where=where,
        known=known,
        required=_CSV_REQUIRED[known],
        problems=raw.problems,
        refused=_REFUSED,
    )


def _row(
    raw: RawInventory, sites: dict[str, RawSite], entry: RawEntry, columns: tuple[str, ...]
) -> None:
    """One row: a jump host, or a device added to its site (rows of one site are grouped)."""
    if "hostname" not in columns:
        raw.jump_hosts.append(entry)
        return
    where = entry.where
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
