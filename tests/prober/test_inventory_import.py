"""Inventory import and resolution on PostgreSQL and SQLite, and the command end to end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vigie_common.cli import migrate
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_prober.inventory import Inventory, JumpHostEntry
from vigie_prober.inventory_formats import read_inventory
from vigie_prober.inventory_report import Change, FieldChange, InventoryDiff
from vigie_prober.inventory_store import (
    KnownSite,
    UnknownSite,
    import_inventory,
    load_inventory,
    resolve_site,
    resolve_ticket_sites,
)
from vigie_prober.main import run
from vigie_prober.models import VERSION_TABLE, Device, Site
from vigie_prober.settings import ProberSettings

from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data" / "inventory"
LAB_YAML = DATA / "lab.yaml"
LAB_CSV = [DATA / "devices.csv", DATA / "jump_hosts.csv"]
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
REBOND = JumpHostEntry("rebond", "127.0.10.254", 2222, "lab-rebond", None)


def prober_db(factory: DatabaseFactory) -> str:
    """A fresh database with the prober's migrations."""

    def apply(url: str) -> None:
        migrate(
            ProberSettings(database_url=url), package="vigie_prober", version_table=VERSION_TABLE
        )

    return factory.create("prober_inventory", apply)


@asynccontextmanager
async def sessions_on(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def imported(
    sessions: async_sessionmaker[AsyncSession],
    inventory: Inventory,
    *,
    now: datetime = T0,
    dry_run: bool = False,
) -> InventoryDiff:
    async with transaction(sessions) as session:
        return await import_inventory(session, inventory=inventory, now=now, dry_run=dry_run)


async def stored(sessions: async_sessionmaker[AsyncSession]) -> Inventory:
    async with sessions() as session:
        return await load_inventory(session)


def same(a: Inventory, b: Inventory) -> bool:
    """Equal whatever the order of entries."""
    return all(
        set(getattr(a, part)) == set(getattr(b, part))
        for part in ("jump_hosts", "sites", "devices")
    )


async def test_import_adds_everything_then_a_reimport_changes_nothing(
    databases: DatabaseFactory,
) -> None:
    lab = read_inventory([LAB_YAML])
    async with sessions_on(prober_db(databases)) as sessions:
        first = await imported(sessions, lab)
        again = await imported(sessions, read_inventory(LAB_CSV), now=T0 + timedelta(hours=1))
        async with sessions() as session:
            updated = set(await session.scalars(select(Device.updated_at)))
        assert same(await stored(sessions), lab)
    assert [c.kind for c in first.added] == ["jump_host"] + ["site"] * 4 + ["device"] * 4
    assert (first.changed, first.removed) == ((), ())
    assert again.empty  # the same inventory from the CSV pair: nothing to write
    assert updated == {T0}


async def test_a_changed_port_is_reported_by_field_and_written(databases: DatabaseFactory) -> None:
    lab = read_inventory([LAB_YAML])
    later = T0 + timedelta(days=1)
    moved = replace(lab.devices[0], port=2022)
    async with sessions_on(prober_db(databases)) as sessions:
        await imported(sessions, lab)
        diff = await imported(sessions, replace(lab, devices=(moved, *lab.devices[1:])), now=later)
        async with sessions() as session:
            rows = {d.hostname: d for d in await session.scalars(select(Device))}
    assert diff == InventoryDiff(
        changed=(Change("device", moved.hostname, (FieldChange("port", 2222, 2022),)),)
    )
    assert (rows[moved.hostname].port, rows[moved.hostname].updated_at) == (2022, later)
    assert rows[moved.hostname].created_at == T0
    assert {r.updated_at for h, r in rows.items() if h != moved.hostname} == {T0}


async def test_entries_missing_from_the_file_are_removed(databases: DatabaseFactory) -> None:
    lab = read_inventory([LAB_YAML])
    kept = replace(lab, sites=lab.sites[:3], devices=lab.devices[:3])  # no Cisco site nor device
    async with sessions_on(prober_db(databases)) as sessions:
        await imported(sessions, lab)
        diff = await imported(sessions, kept)
        assert same(await stored(sessions), kept)
    assert diff.removed == (Change("site", "INU_CISCO_LA1"), Change("device", "lab-c1111"))
    assert (diff.added, diff.changed) == ((), ())


async def test_devices_move_to_other_sites_and_jump_hosts_that_replace_removed_ones(
    databases: DatabaseFactory,
) -> None:
    lab = read_inventory([LAB_YAML])
    bastion = replace(REBOND, name="bastion", address="127.0.10.253")
    moved = tuple(
        replace(d, site="INL_NEW", jump_host="bastion" if d.jump_host else None)
        for d in lab.devices
    )
    wanted = Inventory((bastion,), (replace(lab.sites[0], code="INL_NEW"),), moved)
    async with sessions_on(prober_db(databases)) as sessions:
        await imported(sessions, lab)
        diff = await imported(sessions, wanted)
        assert same(await stored(sessions), wanted)
    assert diff.added == (Change("jump_host", "bastion"), Change("site", "INL_NEW"))
    assert {c.key for c in diff.removed} == {"rebond"} | {s.code for s in lab.sites}
    assert all(c.kind == "device" for c in diff.changed)
    assert diff.changed[0].fields == (
        FieldChange("site", "INL_FLAP_EVPN_LA1", "INL_NEW"),
        FieldChange("jump_host", "rebond", "bastion"),
    )


async def test_a_dry_run_reports_and_writes_nothing(databases: DatabaseFactory) -> None:
    lab = read_inventory([LAB_YAML])
    async with sessions_on(prober_db(databases)) as sessions:
        diff = await imported(sessions, lab, dry_run=True)
        assert await stored(sessions) == Inventory()
        await imported(sessions, lab)
        emptied = await imported(sessions, Inventory(), dry_run=True)
        assert same(await stored(sessions), lab)
    assert len(diff.added) == 9
    assert len(emptied.removed) == 9


async def test_resolve_site_gives_devices_with_their_jump_host(databases: DatabaseFactory) -> None:
    async with sessions_on(prober_db(databases)) as sessions:
        await imported(sessions, read_inventory([LAB_YAML]))
        async with sessions() as session:
            moirans = await resolve_site(session, code="INL_MOIRA_EVPN_LA1")
            cisco = await resolve_site(session, code="INU_CISCO_LA1")
            unknown = await resolve_site(session, code="NOWHERE")
    assert [(d.hostname, d.address, d.port, d.driver, d.jump_host) for d in moirans] == [
        ("ETX203AM.INL_MOIRA", "127.0.10.1", 2222, "rad_etx", REBOND)
    ]
    assert moirans[0].service_reference == "CD0HG0FDC"
    assert str(moirans[0].zone) == "Europe/Paris"
    assert [(d.hostname, d.jump_host, d.timezone) for d in cisco] == [("lab-c1111", None, "UTC")]
    assert unknown == []


async def test_ticket_sites_resolve_by_code_then_service_reference_and_unknown_is_a_result(
    databases: DatabaseFactory,
) -> None:
    async with sessions_on(prober_db(databases)) as sessions:
        await imported(sessions, read_inventory([LAB_YAML]))
        async with sessions() as session:
            seed = await resolve_ticket_sites(
                session, references=["INL_MOIRA_EVPN_LA1", "INU_GONE_LA9", None, " ", "CD0HG0FDC"]
            )
            by_reference = await resolve_ticket_sites(session, references=["CD0HG0FDC"])
            nothing = await resolve_ticket_sites(session, references=[])
    assert [(type(r).__name__, getattr(r, "code", None)) for r in seed] == [
        ("KnownSite", "INL_MOIRA_EVPN_LA1"),
        ("UnknownSite", "INU_GONE_LA9"),
        ("KnownSite", "INU_CONF5_EVPN_LA1"),  # the other end, found by the service reference
    ]
    unknown = seed[1]
    assert isinstance(unknown, UnknownSite)
    assert unknown.reason == "unknown site INU_GONE_LA9"
    assert all(
        isinstance(r, KnownSite) and r.matched_by == "service_reference" for r in by_reference
    )
    assert [r.code for r in by_reference if isinstance(r, KnownSite)] == [
        "INL_MOIRA_EVPN_LA1",
        "INU_CONF5_EVPN_LA1",
    ]
    first = seed[0]
    assert isinstance(first, KnownSite)
    assert [d.hostname for d in first.devices] == ["ETX203AM.INL_MOIRA"]
    assert nothing == []


async def test_concurrent_imports_on_postgres_take_turns(postgres_factory: DatabaseFactory) -> None:
    lab = read_inventory([LAB_YAML])
    smaller = replace(lab, sites=lab.sites[:1], devices=lab.devices[:1])
    async with sessions_on(prober_db(postgres_factory)) as sessions:
        async with transaction(sessions) as first:
            await import_inventory(first, inventory=lab, now=T0)
            second = asyncio.create_task(imported(sessions, smaller))
            await asyncio.sleep(0.5)
            assert not second.done()  # waits on the first import's lock
        diff = await second
        assert same(await stored(sessions), smaller)
    assert diff.added == ()  # computed against the first import's committed rows
    assert len(diff.removed) == 6


def test_cli_imports_and_prints_the_report(
    databases: DatabaseFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", prober_db(databases))
    with pytest.raises(SystemExit) as done:
        run(["inventory", "import", str(LAB_YAML)])
    out = capsys.readouterr().out.splitlines()
    assert done.value.code == 0
    assert out[0] == f"{LAB_YAML}: 1 jump host, 4 sites, 4 devices"
    assert "added    device ETX203AM.INL_MOIRA" in out
    assert out[-1] == "9 added, 0 changed, 0 removed"
    with pytest.raises(SystemExit) as again:
        run(["inventory", "import", *map(str, LAB_CSV)])
    assert again.value.code == 0
    assert capsys.readouterr().out.splitlines()[-1] == "nothing changed"


def test_cli_dry_run_json_reports_without_writing(
    databases: DatabaseFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    url = prober_db(databases)
    monkeypatch.setenv("VIGIE_DATABASE_URL", url)
    with pytest.raises(SystemExit):
        run(["inventory", "import", str(LAB_YAML)])
    changed = tmp_path / "changed.yaml"
    changed.write_text(LAB_YAML.read_text().replace("address: 127.0.10.4", "address: 127.0.10.5"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        run(["inventory", "import", "--dry-run", "--json", str(changed)])
    report = json.loads(capsys.readouterr().out)
    assert done.value.code == 0
    assert report["changed"] == [
        {
            "kind": "device",
            "key": "lab-c1111",
            "fields": {"address": {"old": "127.0.10.4", "new": "127.0.10.5"}},
        }
    ]
    assert (report["dry_run"], report["written"], report["added"], report["removed"]) == (
        True,
        False,
        [],
        [],
    )

    async def address() -> str | None:
        async with sessions_on(url) as sessions, sessions() as session:
            return await session.scalar(
                select(Device.address).where(Device.hostname == "lab-c1111")
            )

    assert asyncio.run(address()) == "127.0.10.4"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "sites:\n  - code: A\n    devices:\n"
            "      - {hostname: r, address: h, driver: juniper, credentials: p}\n",
            [
                "bad.yaml line 4: sites[0].devices[0].driver: unknown driver 'juniper' "
                "(known: cisco_ios, rad_etx)"
            ],
        ),
        (
            "jump_hosts:\n  - name: j\n    address: h\n    credentials: p\n"
            "    password: x\nsites: []\n",
            ["bad.yaml line 5: jump_hosts[0].password: secrets do not belong in the inventory"],
        ),
        (None, ["vigie-prober inventory: cannot read bad.yaml: No such file or directory"]),
    ],
)
def test_cli_refuses_bad_or_unreadable_files_with_exit_1_and_no_traceback(
    databases: DatabaseFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: str | None,
    expected: list[str],
) -> None:
    url = prober_db(databases)
    monkeypatch.setenv("VIGIE_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "bad.yaml").write_text(content)
    with pytest.raises(SystemExit) as done:
        run(["inventory", "import", "bad.yaml"])
    captured = capsys.readouterr()
    assert done.value.code == 1
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert all(line.startswith(want) for line, want in zip(lines, expected, strict=False)), lines
    assert "Traceback" not in captured.err

    async def sites() -> list[str]:
        async with sessions_on(url) as sessions, sessions() as session:
            return list(await session.scalars(select(Site.code)))

    assert asyncio.run(sites()) == []


def test_cli_says_when_the_database_has_no_tables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SystemExit) as done:
        run(["inventory", "import", str(LAB_YAML)])
    assert done.value.code == 1
    assert capsys.readouterr().err == (
        "vigie-prober inventory: nothing was imported: database error: no such table: jump_host "
        "(run `vigie-prober migrate` first)\n"
    )


def test_the_installed_command_imports_end_to_end(databases: DatabaseFactory) -> None:
    env = {**os.environ, "VIGIE_DATABASE_URL": prober_db(databases)}
    command = [sys.executable, "-m", "vigie_prober", "inventory", "import", *map(str, LAB_CSV)]
    first = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    again = subprocess.run(
        [*command, "--json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.splitlines()[-1] == "9 added, 0 changed, 0 removed"
    assert (again.returncode, json.loads(again.stdout)["unchanged"]) == (0, True)
