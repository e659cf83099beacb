"""Where a value was read, why a file is refused, and the errors that carry the reasons.

Messages read ``<file> line <n>: <field>: <message>`` (CSV: ``<file> line <n>, column
<field>: <message>``), the same in every service, so an operator learns one format.

    ImportRefused
    ├── FileUnreadable   the file cannot be read, or its format is unknown
    └── ContentInvalid   the content is wrong: one Problem per wrong field

A service derives its own errors from these (``class InventoryUnreadable(InventoryError,
FileUnreadable)``) so its callers catch its names and :func:`~.command.run_import` the
common ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

__all__ = [
    "ContentInvalid",
    "FileUnreadable",
    "ImportRefused",
    "Location",
    "Problem",
    "rank_problems",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value was read: file, 1-based line, and the field (YAML path or CSV column).

    ``body`` is the line the value's text starts on when its line breaks are kept as written
    (a YAML ``|`` block, a CSV cell, any one-line value), so a mistake inside a long value
    is placed on its own line (:meth:`within`); None when unknown or YAML folded the lines.
    """

    file: str
    line: int
    field: str
    csv: bool = False
    body: int | None = None

    def child(self, name: str) -> Location:
        """The location of ``name`` inside this entry (a missing field is reported here)."""
        if self.csv:
            return replace(self, field=name, body=None)
        return replace(self, field=f"{self.field}.{name}" if self.field else name, body=None)

    def within(self, text: str, position: int) -> Location:
        """The location of the 1-based character ``position`` of this value's ``text``."""
        if self.body is None:
            return self
        return replace(self, line=self.body + text[: max(position - 1, 0)].count("\n"))

    def near(self, other: Location) -> str:
        """How to point at ``other`` from here: ``line 4``, or ``other.csv line 4``."""
        return (
            f"line {other.line}" if other.file == self.file else f"{other.file} line {other.line}"
        )

    def __str__(self) -> str:
        if self.csv and self.field:
            return f"{self.file} line {self.line}, column {self.field}"
        return (
            f"{self.file} line {self.line}: {self.field}"
            if self.field
            else f"{self.file} line {self.line}"
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a file is refused; never quotes a value that may be a secret."""

    where: Location
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ImportRefused(Exception):
    """Files could not be imported; nothing was written."""


class FileUnreadable(ImportRefused):
    """The file cannot be read (missing, a folder, not UTF-8) or has an unknown extension."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"cannot read {file}: {reason}")
        self.file = file
        self.reason = reason


class ContentInvalid(ImportRefused):
    """The content is wrong; ``problems`` names the line and field of each wrong value."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def rank_problems(problems: Iterable[Problem], files: Sequence[str]) -> list[Problem]:
    """The problems in the order an operator fixes them: files as given, then by line.

    The sort is stable, so problems of one line keep the order they were found in.
    """
    order = {file: i for i, file in reversed(list(enumerate(files)))}
    return sorted(problems, key=lambda p: (order.get(p.where.file, 0), p.where.line))
