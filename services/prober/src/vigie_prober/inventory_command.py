"""``vigie-prober inventory import FILE… [--dry-run] [--json]``: the inventory import's edge.

Exit 0 with the report (one line per change, or one JSON object with ``--json``) on stdout;
exit 1 with the reasons on stderr, and nothing written, when a file is unreadable or wrong
or the database refuses. Never a traceback: every expected failure is one clear line. The
flow is :func:`vigie_common.imports.command.run_import`'s, as every import's.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.imports.command import MAX_PROBLEMS_SHOWN, add_import_parser, run_import

from vigie_prober.inventory import Inventory
from vigie_prober.inventory_formats import read_inventory
from vigie_prober.inventory_report import ImportReport, InventoryDiff
from vigie_prober.inventory_store import import_inventory

__all__ = ["MAX_PROBLEMS_SHOWN", "add_arguments", "run_inventory"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``inventory`` command's subcommands, for the prober's command line."""
    add_import_parser(
        parser,
        dest="inventory_command",
        help="replace the inventory with the files' content, and report what changed",
        description=(
            "Replace the prober's inventory (jump hosts, sites, devices) with the content of "
            "the files, in one transaction, and report what was added, changed and removed. "
            "Files: .yaml/.yml, a device CSV, a jump-host CSV (README, Inventory)."
        ),
    )


def run_inventory(
    args: argparse.Namespace, *, database_url: str, now: datetime, stdout: TextIO, stderr: TextIO
) -> int:
    """Answer one ``inventory`` command; 0 on success, 1 with the reasons on stderr."""

    async def store(session: AsyncSession, inventory: Inventory, dry_run: bool) -> InventoryDiff:
        return await import_inventory(session, inventory=inventory, now=now, dry_run=dry_run)

    return run_import(
        args,
        program="vigie-prober",
        command="inventory",
        read=read_inventory,
        store=store,
        report=ImportReport,
        database_url=database_url,
        stdout=stdout,
        stderr=stderr,
    )
