"""The import command's flow, the same for every service's ``<thing> import FILE…``.

Read and check every file; on any problem refuse, naming each (up to a screenful) and
writing nothing; else import in one transaction and print the report, one line per change
or one JSON object. Exit 0, or 1 with the reasons on stderr: never a traceback, every
expected failure one clear line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, TextIO, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from vigie_common.db.engine import (
    UnsupportedDatabase,
    make_engine,
    make_sessionmaker,
    transaction,
)
from vigie_common.imports.problems import ContentInvalid, FileUnreadable

__all__ = [
    "MAX_PROBLEMS_SHOWN",
    "Report",
    "add_import_parser",
    "database_problem",
    "run_import",
]

MAX_PROBLEMS_SHOWN: Final = 100
"""A badly shaped file of thousands of rows is refused in a screenful, with the count."""


class Report(Protocol):
    """An import's outcome as the command prints it."""

    def lines(self) -> list[str]:
        """The report for a person."""
        ...

    def as_json(self) -> dict[str, Any]:
        """The report for a program."""
        ...


T = TypeVar("T")
D = TypeVar("D")


def add_import_parser(
    parser: argparse.ArgumentParser, *, dest: str, help: str, description: str
) -> None:
    """Give ``parser`` its ``import FILE… [--dry-run] [--json]`` subcommand.

    Args:
        parser: The command's parser (``inventory``, ``contacts``).
        dest: Where the subcommand's name is stored (``inventory_command``).
        help: The subcommand's one-line help.
        description: Its longer description: what the files hold, where to read more.
    """
    actions = parser.add_subparsers(dest=dest, required=True, metavar="import")
    command = actions.add_parser("import", help=help, description=description)
    command.add_argument("files", nargs="+", type=Path, metavar="FILE")
    command.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    command.add_argument("--json", action="store_true", help="print one JSON object")


def database_problem(exc: Exception, *, program: str) -> str:
    """One line on what the database said (no SQL, no URL), with a hint when tables are missing.

    Args:
        exc: What the import raised.
        program: The service's program, whose ``migrate`` creates the tables (``vigie-prober``).
    """
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
    missing = "no such table" in text or ("relation" in text and "does not exist" in text)
    hint = f" (run `{program} migrate` first)" if missing else ""
    return f"database error: {text}{hint}"


def run_import(
    args: argparse.Namespace,
    *,
    program: str,
    command: str,
    read: Callable[[Sequence[Path]], T],
    store: Callable[[AsyncSession, T, bool], Awaitable[D]],
    report: Callable[[tuple[str, ...], D, T, bool], Report],
    database_url: str,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Answer one ``<program> <command> import``; 0 on success, 1 with the reasons on stderr.

    Args:
        args: As :func:`add_import_parser` makes them: ``files``, ``dry_run``, ``json``.
        program: The service's program (``vigie-prober``), for messages and the hint.
        command: The command (``inventory``), for messages.
        read: Reads and checks every file; raises :class:`FileUnreadable` or
            :class:`ContentInvalid` (or the service's subclasses).
        store: Imports the checked content in the given session's transaction (only
            computes what it would do when its last argument, ``dry_run``, is true) and
            returns what it does.
        report: Makes the report from the files' names, what the import did, the content
            and ``dry_run``.
        database_url: Where to import.
        stdout: Where the report goes.
        stderr: Where the reasons go.
    """
    prog = f"{program} {command}"
    files: Sequence[Path] = args.files
    dry_run: bool = args.dry_run
    try:
        content = read(files)
    except FileUnreadable as exc:
        stderr.write(f"{prog}: {exc}\n")
        return 1
    except ContentInvalid as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            stderr.write(f"{problem}\n")
        more = len(exc.problems) - MAX_PROBLEMS_SHOWN
        stderr.write(f"... and {more} more\n" if more > 0 else "")
        count = f"{len(exc.problems)} problem{'' if len(exc.problems) == 1 else 's'}"
        stderr.write(f"{prog}: refused ({count}); nothing was imported\n")
        return 1
    try:
        done = asyncio.run(_import(database_url, lambda s: store(s, content, dry_run)))
    except (SQLAlchemyError, OSError, UnsupportedDatabase) as exc:
        stderr.write(f"{prog}: nothing was imported: {database_problem(exc, program=program)}\n")
        return 1
    shown = report(tuple(str(f) for f in files), done, content, dry_run)
    if args.json:
        stdout.write(json.dumps(shown.as_json(), ensure_ascii=False) + "\n")
    else:
        stdout.write("".join(f"{line}\n" for line in shown.lines()))
    return 0


async def _import(url: str, store: Callable[[AsyncSession], Awaitable[D]]) -> D:
    """``store`` in one transaction: committed when it returns, rolled back when it raises."""
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await store(session)
    finally:
        await engine.dispose()
