"""``vigie-prober inventory import FILE… [--dry-run] [--json]``: the inventory import's edge.

Exit 0 with the report (one line per change, or one JSON object with ``--json``) on stdout;
exit 1 with the reasons on stderr, and nothing written, when a file is unreadable or wrong
or the database refuses. Never a traceback: every expected failure is one clear line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Final, TextIO

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from vigie_common.db.engine import (
    UnsupportedDatabase,
    make_engine,
    make_sessionmaker,
    transaction,
)

from vigie_prober.inventory import Inventory, InventoryInvalid, InventoryUnreadable
from vigie_prober.inventory_formats import read_inventory
from vigie_prober.inventory_report import ImportReport, InventoryDiff
from vigie_prober.inventory_store import import_inventory

__all__ = ["MAX_PROBLEMS_SHOWN", "add_arguments", "run_inventory"]

PROG: Final = "vigie-prober inventory"
MAX_PROBLEMS_SHOWN: Final = 100
"""A badly shaped file of thousands of rows is refused in a screenful, with the count."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``inventory`` command's subcommands, for the prober's command line."""
    actions = parser.add_subparsers(dest="inventory_command", required=True, metavar="import")
    command = actions.add_parser(
        "import",
        help="replace the inventory with the files' content, and report what changed",
        description=(
            "Replace the prober's inventory (jump hosts, sites, devices) with the content of "
            "the files, in one transaction, and report what was added, changed and removed. "
            "Files: .yaml/.yml, a device CSV, a jump-host CSV (README, Inventory)."
        ),
    )
    command.add_argument("files", nargs="+", type=Path, metavar="FILE")
    command.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    command.add_argument("--json", action="store_true", help="print one JSON object")


def run_inventory(
    args: argparse.Namespace, *, database_url: str, now: datetime, stdout: TextIO, stderr: TextIO
) -> int:
    """Answer one ``inventory`` command; 0 on success, 1 with the reasons on stderr."""
    try:
        inventory = read_inventory(args.files)
    except InventoryUnreadable as exc:
        stderr.write(f"{PROG}: {exc}\n")
        return 1
    except InventoryInvalid as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            stderr.write(f"{problem}\n")
        more = len(exc.problems) - MAX_PROBLEMS_SHOWN
        stderr.write(f"... and {more} more\n" if more > 0 else "")
        count = f"{len(exc.problems)} problem{'' if len(exc.problems) == 1 else 's'}"
        stderr.write(f"{PROG}: refused ({count}); nothing was imported\n")
        return 1
    try:
        diff = asyncio.run(_import(database_url, inventory, now=now, dry_run=args.dry_run))
    except (SQLAlchemyError, OSError, UnsupportedDatabase) as exc:
        stderr.write(f"{PROG}: nothing was imported: {_database_problem(exc)}\n")
        return 1
    report = ImportReport(tuple(str(f) for f in args.files), diff, inventory, args.dry_run)
    if args.json:
        stdout.write(json.dumps(report.as_json(), ensure_ascii=False) + "\n")
    else:
        stdout.write("".join(f"{line}\n" for line in report.lines()))
    return 0


async def _import(url: str, inventory: Inventory, *, now: datetime, dry_run: bool) -> InventoryDiff:
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await import_inventory(session, inventory=inventory, now=now, dry_run=dry_run)
    finally:
        await engine.dispose()


def _database_problem(exc: Exception) -> str:
    """One line on what the database said (no SQL, no URL), with a hint when tables are missing."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
    missing = "no such table" in text or ("relation" in text and "does not exist" in text)
    hint = " (run `vigie-prober migrate` first)" if missing else ""
    return f"database error: {text}{hint}"
