"""What the chain tests share: the three services' databases, the customer's contacts, the
restored design ticket as a signed webhook, and a bounded wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tests.notifier.service_rig import import_contact_file, notifier_db
from tests.prober.service_rig import prober_db
from tests.support import builders
from tests.support.builders import encode
from tests.support.database import DatabaseFactory
from tests.support.ingest import ingest_db

CUSTOMER = "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"
CONTACTS = f"""\
customers:
  - name: {CUSTOMER}
    recipients: "DUPONT Jean, , jean.dupont@example.com; MARTIN Léa, , lea.martin@example.com;"
    channel: mail
"""
OBSERVATION = {"interval_s": 1.0, "window_s": 3.0}
"""The prober's observation in these tests: three rounds, the window closed in 3 s."""


@dataclass(frozen=True)
class ChainDatabases:
    """A fresh, migrated database per service; the notifier's holds the contacts."""

    ingest: str
    prober: str
    notifier: str


async def chain_databases(factory: DatabaseFactory, tmp_path: Path) -> ChainDatabases:
    """The three databases on ``factory``'s backend, the customer's contacts imported."""
    databases = ChainDatabases(ingest_db(factory), prober_db(factory), notifier_db(factory))
    await import_contact_file(databases.notifier, tmp_path, CONTACTS)
    return databases


def restored_webhook() -> tuple[str, bytes]:
    """The design's Oceane ticket, restored, under a number of its own: (number, body)."""
    payload = builders.oceane(dernier_etat="Rétabli")
    return str(payload["numero"]), encode(payload)


async def until(check: Callable[[], Awaitable[bool]], *, within: float, what: str) -> float:
    """Seconds until ``check`` holds; fails naming ``what`` after ``within``."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        if await check():
            return time.monotonic() - began
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {within} s")
