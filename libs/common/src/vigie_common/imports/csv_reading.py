"""CSV read with line numbers: records, a checked header, and rows as located entries.

Spreadsheets export ``,`` or ``;`` (French locales); the header line tells which. A quoted
cell may span lines, so each record is placed on the line it starts on, and each cell on
its own first line. Reading is lazy and problems are added as they are met, so their order
is the file's.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import replace

from vigie_common.imports.entries import RawEntry
from vigie_common.imports.problems import Location, Problem

__all__ = ["check_header", "csv_entries", "csv_records", "delimiter"]


def delimiter(text: str) -> str:
    """``;`` when the first line has more of them than commas, else ``,``."""
    first = text.split("\n", 1)[0]
    return ";" if first.count(";") > first.count(",") else ","


def csv_records(
    text: str, *, file: str, problems: list[Problem]
) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the line each starts on (a quoted cell may span lines).

    A syntax error ends the reading with a problem at the line the reader stopped on.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text), strict=True)
    end = 0
    try:
        for cells in reader:
            start, end = end + 1, reader.line_num
            if any(cell.strip() for cell in cells):
                yield start, cells
    except csv.Error as exc:
        where = Location(file, reader.line_num or 1, "", csv=True)
        problems.append(Problem(where, f"not valid CSV: {exc}"))


def check_header(
    columns: list[str],
    *,
    where: Location,
    known: tuple[str, ...],
    required: Collection[str],
    problems: list[Problem],
    refused: Mapping[str, str] | None = None,
) -> tuple[str, ...] | None:
    """The header's columns, or None (and problems) when the header is wrong.

    Args:
        columns: The header's cells, stripped and in lower case.
        where: The header's line.
        known: Every column a file may have, in the order the messages list them.
        required: The columns a file must have.
        problems: Where problems are added.
        refused: Columns refused with their message (a secret's).
    """
    refused = refused or {}
    before = len(problems)
    for i, column in enumerate(columns):
        at = replace(where, field=column or f"#{i + 1}", csv=True)
        if column in refused:
            problems.append(Problem(at, refused[column]))
        elif column not in known:
            problems.append(Problem(at, f"unknown column (known: {', '.join(known)})"))
        elif column in columns[:i]:
            problems.append(Problem(at, "duplicate column"))
    for column in required:
        if column not in columns:
            problems.append(Problem(replace(where, field=column, csv=True), "column missing"))
    return tuple(columns) if len(problems) == before else None


def csv_entries(
    text: str,
    *,
    file: str,
    problems: list[Problem],
    header: Callable[[Location, list[str]], tuple[str, ...] | None],
    overflow: str,
) -> Iterator[tuple[RawEntry, tuple[str, ...]]]:
    """Each row as an entry, with the header's columns; none when the header is refused.

    Args:
        text: The file's text.
        file: The file's name, as shown in problems.
        problems: Where problems are added, as they are met.
        header: Checks the header (its line, its cells stripped and in lower case) and
            returns its columns, or None after adding why not (:func:`check_header`).
        overflow: Why a row may have more values than columns, for its message.
    """
    records = csv_records(text, file=file, problems=problems)
    line, cells = next(records, (1, []))
    columns = header(Location(file, line, "", csv=True), [cell.strip().lower() for cell in cells])
    if columns is None:
        return
    for line, cells in records:
        where = Location(file, line, "", csv=True)
        if len(cells) > len(columns):
            message = f"{len(cells)} values for {len(columns)} columns ({overflow})"
            problems.append(Problem(where, message))
            continue
        entry = RawEntry(where)
        body = line
        for column, cell in zip(columns, cells, strict=False):
            entry.values[column] = (cell, replace(where, field=column, body=body))
            body += cell.count("\n")  # a quoted cell may span lines: the next one starts lower
        yield entry, columns
