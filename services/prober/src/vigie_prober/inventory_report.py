"""What an import changes: the diff of two inventories, and the report the command prints.

Entries are matched by their key (jump host ``name``, site ``code``, device ``hostname``), so
renaming one is a removal and an addition. A change lists each field that differs with its
old and new values; none of them is a secret (credentials are profile names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, TypeAlias

from vigie_common.imports import reporting
from vigie_common.imports.reporting import ImportDiff, plural, report_json, report_lines

from vigie_prober.inventory import DeviceEntry, Inventory, JumpHostEntry, SiteEntry

__all__ = ["Change", "FieldChange", "ImportReport", "InventoryDiff", "Kind", "diff_inventories"]

Kind = Literal["jump_host", "site", "device"]
Value = str | int | None
Entry = JumpHostEntry | SiteEntry | DeviceEntry

_LABELS: Final[Mapping[Kind, str]] = {"jump_host": "jump host", "site": "site", "device": "device"}
_KEYS: Final[Mapping[Kind, str]] = {"jump_host": "name", "site": "code", "device": "hostname"}
_SHOWN: Final = 48
"""Longer values (host keys) are shortened in the human report; JSON has them whole."""


FieldChange: TypeAlias = reporting.FieldChange[Value]
"""One field of one entry: its stored value and the file's."""


@dataclass(frozen=True, slots=True)
class Change:
    """An entry added, changed (with the fields that differ) or removed."""

    kind: Kind
    key: str
    fields: tuple[FieldChange, ...] = ()


InventoryDiff: TypeAlias = ImportDiff[Change]
"""Everything an import does, each list ordered jump hosts, sites, devices, then by key."""


def _keyed(kind: Kind, entries: Iterable[Entry]) -> dict[str, Entry]:
    return {str(getattr(entry, _KEYS[kind])): entry for entry in entries}


def _differences(kind: Kind, old: Entry, new: Entry) -> tuple[FieldChange, ...]:
    found = []
    for spec in fields(old):
        before, after = getattr(old, spec.name), getattr(new, spec.name)
        if spec.name != _KEYS[kind] and before != after:
            found.append(FieldChange(spec.name, before, after))
    return tuple(found)


def diff_inventories(current: Inventory, wanted: Inventory) -> InventoryDiff:
    """What replacing ``current`` with ``wanted`` adds, changes and removes.

    Args:
        current: The stored inventory.
        wanted: The inventory read from the files.

    Returns:
        The diff; empty when both are the same whatever their entries' order.
    """
    added: list[Change] = []
    changed: list[Change] = []
    removed: list[Change] = []
    pairs: tuple[tuple[Kind, Iterable[Entry], Iterable[Entry]], ...] = (
        ("jump_host", current.jump_hosts, wanted.jump_hosts),
        ("site", current.sites, wanted.sites),
        ("device", current.devices, wanted.devices),
    )
    for kind, old_entries, new_entries in pairs:
        old, new = _keyed(kind, old_entries), _keyed(kind, new_entries)
        added += [Change(kind, key) for key in sorted(new.keys() - old.keys())]
        for key in sorted(old.keys() & new.keys()):
            if differences := _differences(kind, old[key], new[key]):
                changed.append(Change(kind, key, differences))
        removed += [Change(kind, key) for key in sorted(old.keys() - new.keys())]
    return InventoryDiff(tuple(added), tuple(changed), tuple(removed))


def _show(value: Value) -> str:
    if value is None:
        return "none"
    text = str(value)
    return text if len(text) <= _SHOWN else f"{text[: _SHOWN - 3]}..."


@dataclass(frozen=True, slots=True)
class ImportReport:
    """An import's outcome: the files, the diff, what the inventory holds now, dry run or not."""

    files: tuple[str, ...]
    diff: InventoryDiff
    inventory: Inventory
    dry_run: bool

    def lines(self) -> list[str]:
        """The report for a person: one line per change, then a summary."""
        held = self.inventory
        head = (
            f"{', '.join(self.files)}: {plural(len(held.jump_hosts), 'jump host')}, "
            f"{plural(len(held.sites), 'site')}, {plural(len(held.devices), 'device')}"
        )
        return report_lines(head, self.diff, _describe, dry_run=self.dry_run)

    def as_json(self) -> dict[str, Any]:
        """The report for a program: one JSON-ready object."""
        counts = {
            "jump_hosts": len(self.inventory.jump_hosts),
            "sites": len(self.inventory.sites),
            "devices": len(self.inventory.devices),
        }
        return report_json(
            files=self.files,
            diff=self.diff,
            dry_run=self.dry_run,
            held=("inventory", counts),
            identify=lambda c: {"kind": c.kind, "key": c.key},
        )


def _describe(change: Change) -> str:
    """``device r1: port 22 -> 2222`` (long values shortened; JSON has them whole)."""
    line = f"{_LABELS[change.kind]} {change.key}"
    if change.fields:
        line += ": " + ", ".join(
            f"{c.field} {_show(c.old)} -> {_show(c.new)}" for c in change.fields
        )
    return line
