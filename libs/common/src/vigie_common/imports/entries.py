"""Raw entries as the readers give them, and the checker that turns their texts into values.

A reader (YAML or CSV) gives each mapping or row as a :class:`RawEntry` whose values are
texts that know where they were read. The service's own checks (what a field accepts) run
through a :class:`Checker`, which collects every problem instead of stopping at the first,
so one run shows every mistake of every file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from vigie_common.imports.problems import Location, Problem

__all__ = ["Checker", "RawEntry"]

T = TypeVar("T")


@dataclass
class RawEntry:
    """One YAML mapping or CSV row: each value as text (None when absent, null or empty)."""

    where: Location
    values: dict[str, tuple[str | None, Location]] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)
    """Fields whose reader already reported a problem (not reported again as missing)."""

    def get(self, name: str) -> str | None:
        """The value's text, stripped; None when absent or blank."""
        text = self.values.get(name, (None, self.where))[0]
        return text.strip() or None if text is not None else None

    def text(self, name: str) -> str:
        """The value's text as written (positions in it are a parser's, e.g. line breaks)."""
        return self.values.get(name, (None, self.where))[0] or ""

    def at(self, name: str) -> Location:
        """Where ``name``'s value is, or where it should have been."""
        return self.values[name][1] if name in self.values else self.where.child(name)


class Checker:
    """Collects every problem of every file, so one run shows them all.

    A parser takes a value's stripped text and returns the value, or raises ``ValueError``
    whose message becomes the problem (so it must not quote a secret).
    """

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, where: Location, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(where, message))

    def required(self, entry: RawEntry, name: str, parse: Callable[[str], T]) -> T | None:
        """The parsed value; None (and a problem) when it is missing or wrong."""
        if entry.get(name) is None:
            if name not in entry.reported:
                self.add(entry.at(name), "required field missing")
            return None
        return self.optional(entry, name, parse)

    def optional(
        self, entry: RawEntry, name: str, parse: Callable[[str], T], default: T | None = None
    ) -> T | None:
        """The parsed value, ``default`` when absent; None (and a problem) when wrong."""
        text = entry.get(name)
        if text is None:
            return default
        try:
            return parse(text)
        except ValueError as exc:
            self.add(entry.at(name), str(exc))
            return None

    def unique(self, seen: dict[str, Location], key: str, where: Location, what: str) -> bool:
        """Record ``key``; False (and a problem) when an earlier entry has it."""
        if key in seen:
            self.add(where, f"duplicate {what} {key!r} (first at {where.near(seen[key])})")
            return False
        seen[key] = where
        return True
