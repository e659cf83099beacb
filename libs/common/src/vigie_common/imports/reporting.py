"""What an import changes, and how the command tells it: lines for a person, JSON for a program.

A service's diff is an :class:`ImportDiff` of its own change type (an entry added, changed
with its :class:`FieldChange` list, or removed); the service says how one change reads, and
these helpers give every import report the same layout and the same summary.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

__all__ = [
    "ChangeWithFields",
    "FieldChange",
    "ImportDiff",
    "plural",
    "report_json",
    "report_lines",
]

V = TypeVar("V")

# Not ``slots=True``: a service calls these through an alias (``ImportDiff[Change](...)``),
# which sets ``__orig_class__`` on the instance; with slots, Python 3.11's frozen
# ``__setattr__`` then fails with a TypeError instead of the AttributeError typing expects.


@dataclass(frozen=True)
class FieldChange(Generic[V]):
    """One field of one entry: its stored value and the file's."""

    field: str
    old: V
    new: V


class ChangeWithFields(Protocol):
    """A change as the JSON report needs it: the fields that differ (none: added/removed)."""

    @property
    def fields(self) -> Sequence[FieldChange[Any]]:
        """The fields that differ, for a change; empty for an addition or a removal."""
        ...


C = TypeVar("C")
CF = TypeVar("CF", bound=ChangeWithFields)


@dataclass(frozen=True)
class ImportDiff(Generic[C]):
    """Everything an import does; the service orders each list (by kind, then by key)."""

    added: tuple[C, ...] = ()
    changed: tuple[C, ...] = ()
    removed: tuple[C, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the files say what is stored already (a re-import)."""
        return not (self.added or self.changed or self.removed)


def plural(count: int, noun: str) -> str:
    """``1 site``, ``2 sites``: the count and the noun, an ``s`` unless it is one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def report_lines(
    head: str, diff: ImportDiff[C], describe: Callable[[C], str], *, dry_run: bool
) -> list[str]:
    """The report for a person: ``head``, one line per change, then a summary.

    Args:
        head: What the files hold (``a.yaml: 2 sites, ...``).
        diff: What the import does.
        describe: A change after its verb (``site X``, ``device r1: port 22 -> 2222``).
        dry_run: Whether nothing was written (the summary says so).
    """
    out = [head]
    for verb, changes in (
        ("added", diff.added),
        ("changed", diff.changed),
        ("removed", diff.removed),
    ):
        out.extend(f"{verb:<8} {describe(change)}" for change in changes)
    counts = (len(diff.added), len(diff.changed), len(diff.removed))
    summary = (
        "nothing changed" if diff.empty else "{} added, {} changed, {} removed".format(*counts)
    )
    out.append(f"dry run, nothing written: {summary}" if dry_run else summary)
    return out


def report_json(
    *,
    files: Sequence[str],
    diff: ImportDiff[CF],
    dry_run: bool,
    held: tuple[str, dict[str, int]],
    identify: Callable[[CF], dict[str, Any]],
) -> dict[str, Any]:
    """The report for a program: one JSON-ready object.

    Args:
        files: The files, as given.
        diff: What the import does.
        dry_run: Whether nothing was written.
        held: The key and the counts of what the files hold (``("contacts", {...})``).
        identify: A change's identity (``{"kind": ..., "key": ...}``); its fields are added.
    """

    def listed(changes: tuple[CF, ...]) -> list[dict[str, Any]]:
        return [
            identify(c)
            | (
                {"fields": {f.field: {"old": f.old, "new": f.new} for f in c.fields}}
                if c.fields
                else {}
            )
            for c in changes
        ]

    return {
        "files": list(files),
        "dry_run": dry_run,
        "written": not dry_run and not diff.empty,
        "unchanged": diff.empty,
        held[0]: held[1],
        "added": listed(diff.added),
        "changed": listed(diff.changed),
        "removed": listed(diff.removed),
    }
