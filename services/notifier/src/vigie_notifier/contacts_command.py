"""``vigie-notifier contacts import FILE… [--dry-run] [--json]``: the contacts import's edge.

Exit 0 with the report (one line per change, or one JSON object with ``--json``) on stdout;
exit 1 with the reasons on stderr, and nothing written, when a file is unreadable or wrong
or the database refuses. Never a traceback: every expected failure is one clear line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TextIO

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from vigie_common.db.engine import (
    UnsupportedDatabase,
    make_engine,
    make_sessionmaker,
    transaction,
)

from vigie_notifier.contacts import (
    ContactChange,
    Contacts,
    ContactsDiff,
    ContactsInvalid,
    ContactsUnreadable,
    describe_recipients_change,
)
from vigie_notifier.contacts_formats import read_contacts
from vigie_notifier.contacts_store import import_contacts

__all__ = ["MAX_PROBLEMS_SHOWN", "ImportReport", "add_arguments", "run_contacts"]

PROG: Final = "vigie-notifier contacts"
MAX_PROBLEMS_SHOWN: Final = 100
"""A badly shaped file of thousands of rows is refused in a screenful, with the count."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``contacts`` command's subcommands, for the notifier's command line."""
    actions = parser.add_subparsers(dest="contacts_command", required=True, metavar="import")
    command = actions.add_parser(
        "import",
        help="replace the contacts with the files' content, and report what changed",
        description=(
            "Replace the notifier's contacts (per customer, and per site) with the content of "
            "the files, in one transaction, and report what was added, changed and removed. "
            "Files: .yaml/.yml, or .csv with the columns customer,site,recipients,channel "
            "(see contacts.example.yaml)."
        ),
    )
    command.add_argument("files", nargs="+", type=Path, metavar="FILE")
    command.add_argument("--dry-run", action="store_true", help="report only; write nothing")
    command.add_argument("--json", action="store_true", help="print one JSON object")


def run_contacts(
    args: argparse.Namespace, *, database_url: str, now: datetime, stdout: TextIO, stderr: TextIO
) -> int:
    """Answer one ``contacts`` command; 0 on success, 1 with the reasons on stderr."""
    try:
        contacts = read_contacts(args.files)
    except ContactsUnreadable as exc:
        stderr.write(f"{PROG}: {exc}\n")
        return 1
    except ContactsInvalid as exc:
        for problem in exc.problems[:MAX_PROBLEMS_SHOWN]:
            stderr.write(f"{problem}\n")
        more = len(exc.problems) - MAX_PROBLEMS_SHOWN
        stderr.write(f"... and {more} more\n" if more > 0 else "")
        count = f"{len(exc.problems)} problem{'' if len(exc.problems) == 1 else 's'}"
        stderr.write(f"{PROG}: refused ({count}); nothing was imported\n")
        return 1
    try:
        diff = asyncio.run(_import(database_url, contacts, now=now, dry_run=args.dry_run))
    except (SQLAlchemyError, OSError, UnsupportedDatabase) as exc:
        stderr.write(f"{PROG}: nothing was imported: {_database_problem(exc)}\n")
        return 1
    report = ImportReport(tuple(str(f) for f in args.files), diff, contacts, args.dry_run)
    if args.json:
        stdout.write(json.dumps(report.as_json(), ensure_ascii=False) + "\n")
    else:
        stdout.write("".join(f"{line}\n" for line in report.lines()))
    return 0


async def _import(url: str, contacts: Contacts, *, now: datetime, dry_run: bool) -> ContactsDiff:
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await import_contacts(session, contacts=contacts, now=now, dry_run=dry_run)
    finally:
        await engine.dispose()


def _database_problem(exc: Exception) -> str:
    """One line on what the database said (no SQL, no URL), with a hint when tables are missing."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:300]
    missing = "no such table" in text or ("relation" in text and "does not exist" in text)
    hint = " (run `vigie-notifier migrate` first)" if missing else ""
    return f"database error: {text}{hint}"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _fields(change: ContactChange) -> str:
    """``channel mail -> both, recipients +a@x, -b@y`` (JSON has the texts whole)."""
    shown = []
    for f in change.fields:
        if f.field == "recipients":
            shown.append(f"recipients {describe_recipients_change(f.old, f.new)}")
        elif f.field == "customer":  # a new spelling (case, spaces) of the same customer
            shown.append(f"customer {f.old!r} -> {f.new!r}")
        else:
            shown.append(f"{f.field} {f.old} -> {f.new}")
    return "; ".join(shown)


@dataclass(frozen=True, slots=True)
class ImportReport:
    """An import's outcome: the files, the diff, what the contacts hold now, dry run or not."""

    files: tuple[str, ...]
    diff: ContactsDiff
    contacts: Contacts
    dry_run: bool

    def lines(self) -> list[str]:
        """The report for a person: one line per change, then a summary."""
        held = self.contacts
        out = [
            f"{', '.join(self.files)}: {_plural(held.customers, 'customer')}, "
            f"{_plural(held.defaults, 'default contact list')}, "
            f"{_plural(held.sites, 'site contact list')}"
        ]
        for verb, changes in (
            ("added", self.diff.added),
            ("changed", self.diff.changed),
            ("removed", self.diff.removed),
        ):
            for change in changes:
                line = f"{verb:<8} {change.label}"
                out.append(f"{line} ({_fields(change)})" if change.fields else line)
        diff = self.diff
        counts = (len(diff.added), len(diff.changed), len(diff.removed))
        summary = "{} added, {} changed, {} removed".format(*counts)
        summary = "nothing changed" if diff.empty else summary
        out.append(f"dry run, nothing written: {summary}" if self.dry_run else summary)
        return out

    def as_json(self) -> dict[str, Any]:
        """The report for a program: one JSON-ready object (``site`` null: the default)."""

        def listed(changes: tuple[ContactChange, ...]) -> list[dict[str, Any]]:
            return [
                {"customer": c.customer, "site": c.site_code or None}
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
            "contacts": {
                "customers": self.contacts.customers,
                "defaults": self.contacts.defaults,
                "sites": self.contacts.sites,
            },
            "added": listed(self.diff.added),
            "changed": listed(self.diff.changed),
            "removed": listed(self.diff.removed),
        }
