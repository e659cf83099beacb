"""``vigie-notifier contacts import FILE… [--dry-run] [--json]``: the contacts import's edge.

Exit 0 with the report (one line per change, or one JSON object with ``--json``) on stdout;
exit 1 with the reasons on stderr, and nothing written, when a file is unreadable or wrong
or the database refuses. Never a traceback: every expected failure is one clear line. The
flow is :func:`vigie_common.imports.command.run_import`'s, as every import's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.imports.command import MAX_PROBLEMS_SHOWN, add_import_parser, run_import
from vigie_common.imports.reporting import plural, report_json, report_lines

from vigie_notifier.contacts import (
    ContactChange,
    Contacts,
    ContactsDiff,
    describe_recipients_change,
)
from vigie_notifier.contacts_formats import read_contacts
from vigie_notifier.contacts_store import import_contacts

__all__ = ["MAX_PROBLEMS_SHOWN", "ImportReport", "add_arguments", "run_contacts"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``contacts`` command's subcommands, for the notifier's command line."""
    add_import_parser(
        parser,
        dest="contacts_command",
        help="replace the contacts with the files' content, and report what changed",
        description=(
            "Replace the notifier's contacts (per customer, and per site) with the content of "
            "the files, in one transaction, and report what was added, changed and removed. "
            "Files: .yaml/.yml, or .csv with the columns customer,site,recipients,channel "
            "(see contacts.example.yaml)."
        ),
    )


def run_contacts(
    args: argparse.Namespace, *, database_url: str, now: datetime, stdout: TextIO, stderr: TextIO
) -> int:
    """Answer one ``contacts`` command; 0 on success, 1 with the reasons on stderr."""

    async def store(session: AsyncSession, contacts: Contacts, dry_run: bool) -> ContactsDiff:
        return await import_contacts(session, contacts=contacts, now=now, dry_run=dry_run)

    return run_import(
        args,
        program="vigie-notifier",
        command="contacts",
        read=read_contacts,
        store=store,
        report=ImportReport,
        database_url=database_url,
        stdout=stdout,
        stderr=stderr,
    )


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
        head = (
            f"{', '.join(self.files)}: {plural(held.customers, 'customer')}, "
            f"{plural(held.defaults, 'default contact list')}, "
            f"{plural(held.sites, 'site contact list')}"
        )
        return report_lines(head, self.diff, _describe, dry_run=self.dry_run)

    def as_json(self) -> dict[str, Any]:
        """The report for a program: one JSON-ready object (``site`` null: the default)."""
        counts = {
            "customers": self.contacts.customers,
            "defaults": self.contacts.defaults,
            "sites": self.contacts.sites,
        }
        return report_json(
            files=self.files,
            diff=self.diff,
            dry_run=self.dry_run,
            held=("contacts", counts),
            identify=lambda c: {"customer": c.customer, "site": c.site_code or None},
        )


def _describe(change: ContactChange) -> str:
    """``ACME: site X (channel mail -> both)``: the contact, and what changed in it."""
    return f"{change.label} ({_fields(change)})" if change.fields else change.label
