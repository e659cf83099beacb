"""What an import changes: the diff of two inventories, and the report the command prints.

Entries are matched by their key (jump host ``name``, site ``code``, device ``hostname``), so
renaming one is a removal and an addition. A change lists each field that differs with its
old and new values; none of them is a secret (credentials are profile names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, Literal

from vigie_prober.inventory import DeviceEntry, Inventory, JumpHostEntry, SiteEntry

__all__ = ["Change", "FieldChange", "ImportReport", "InventoryDiff", "Kind", "diff_inventories"]

Kind = Literal["jump_host", "site", "device"]
Value = str | int | None
Entry = JumpHostEntry | SiteEntry | DeviceEntry

_LABELS: Final[Mapping[Kind, str]] = {"jump_host": "jump host", "site": "site", "device": "device"}
_KEYS: Final[Mapping[Kind, str]] = {"jump_host": "name", "site": "code", "device": "hostname"}
_SHOWN: Final = 48
"""Longer values (host keys) are shortened in the human report; JSON has them whole."""


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of one entry: its stored value and the file's."""

    field: str
    old: Value
    new: Value


@dataclass(frozen=True, slots=True)
class Change:
    """An entry added, changed (with the fields that differ) or removed."""

    kind: Kind
    key: str
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class InventoryDiff:
    """Everything an import does, each list ordered jump hosts, sites, devices, then by key."""

    added: tuple[Change, ...] = ()
    changed: tuple[Change, ...] = ()
    removed: tuple[Change, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the file says what is stored already (a re-import)."""
        return not (self.added or self.changed or self.removed)


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


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


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
        out = [
            f"{', '.join(self.files)}: {_plural(len(held.jump_hosts), 'jump host')}, "
            f"{_plural(len(held.sites), 'site')}, {_plural(len(held.devices), 'device')}"
        ]
        for verb, changes in (
            ("added", self.diff.added),
            ("changed", self.diff.changed),
            ("removed", self.diff.removed),
        ):
            for change in changes:
                line = f"{verb:<8} {_LABELS[change.kind]} {change.key}"
                if change.fields:
                    shown = (f"{c.field} {_show(c.old)} -> {_show(c.new)}" for c in change.fields)
                    line += ": " + ", ".join(shown)
                out.append(line)
        diff = self.diff
        counts = (len(diff.added), len(diff.changed), len(diff.removed))
        summary = "{} added, {} changed, {} removed".format(*counts)
        summary = "nothing changed" if diff.empty else summary
        out.append(f"dry run, nothing written: {summary}" if self.dry_run else summary)
        return out

    def as_json(self) -> dict[str, Any]:
        """The report for a program: one JSON-ready object."""

        def listed(changes: tuple[Change, ...]) -> list[dict[str, Any]]:
            return [
                {"kind": c.kind, "key": c.key}
                | (
                    {"fields": {f.field: {"old": f.old, "new": f.new} for f in c.fields}}
                    if c.fields
                    else {}
                )
                for c in changes
            ]

        return {
            "files": list(self.files),
            "dry_run": self.dry_run,
            "written": not self.dry_run and not self.diff.empty,
            "unchanged": self.diff.empty,
            "inventory": {
                "jump_hosts": len(self.inventory.jump_hosts),
                "sites": len(self.inventory.sites),
                "devices": len(self.inventory.devices),
            },
            "added": listed(self.diff.added),
            "changed": listed(self.diff.changed),
            "removed": listed(self.diff.removed),
        }
