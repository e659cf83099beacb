"""Contacts import and lookup on PostgreSQL and SQLite, and the command end to end."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
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
from vigie_notifier.contacts import (
    ContactChange,
    ContactChoice,
    ContactEntry,
    Contacts,
    ContactsDiff,
    FieldChange,
)
from vigie_notifier.contacts_command import add_arguments, run_contacts
from vigie_notifier.contacts_formats import read_contacts
from vigie_notifier.contacts_store import (
    StoredContactInvalid,
    import_contacts,
    load_contacts,
    recipients_for,
)
from vigie_notifier.models import VERSION_TABLE, Contact
from vigie_notifier.recipients import parse_recipients
from vigie_notifier.settings import NotifierSettings

from tests.notifier.test_contacts import CSV, RTE, YAML
from tests.support.database import DatabaseFactory

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SITE_A, SITE_B = "INL_MOIRA_EVPN_LA1", "INU_CONF5_EVPN_LA1"


def notifier_db(factory: DatabaseFactory) -> str:
    """A fresh database with the notifier's migrations."""

    def apply(url: str) -> None:
        migrate(
            NotifierSettings(database_url=url),
            package="vigie_notifier",
            version_table=VERSION_TABLE,
        )

    return factory.create("notifier_contacts", apply)


@asynccontextmanager
async def sessions_on(url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def imported(
    sessions: async_sessionmaker[AsyncSession],
    contacts: Contacts,
    *,
    now: datetime = T0,
    dry_run: bool = False,
) -> ContactsDiff:
    async with transaction(sessions) as session:
        return await import_contacts(session, contacts=contacts, now=now, dry_run=dry_run)


async def stored(sessions: async_sessionmaker[AsyncSession]) -> Contacts:
    async with sessions() as session:
        return await load_contacts(session)


async def rows(sessions: async_sessionmaker[AsyncSession]) -> dict[tuple[str, str], Contact]:
    async with sessions() as session:
        return {(r.customer, r.site_code): r for r in await session.scalars(select(Contact))}


def same(a: Contacts, b: Contacts) -> bool:
    """Equal whatever the order of entries."""
    return set(a.entries) == set(b.entries)


def lab(tmp_path: Path, text: str = YAML, name: str = "contacts.yaml") -> Contacts:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return read_contacts([tmp_path / name])


async def test_import_adds_everything_then_a_reimport_changes_nothing(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    wanted = lab(tmp_path)
    async with sessions_on(notifier_db(databases)) as sessions:
        first = await imported(sessions, wanted)
        again = await imported(sessions, lab(tmp_path, CSV, "c.csv"), now=T0 + timedelta(hours=1))
        assert same(await stored(sessions), wanted)
        written = await rows(sessions)
    assert first.added == (
        ContactChange("EXEMPLE ENERGIE SA", ""),
        ContactChange(RTE, ""),
        ContactChange(RTE, SITE_A),
        ContactChange(RTE, SITE_B),
    )
    assert (first.changed, first.removed) == ((), ())
    assert again.empty  # the same contacts from the CSV: nothing to write
    assert {r.updated_at for r in written.values()} == {T0}
    assert written[(RTE, "")].recipients == (
        "DUPONT Jean, +33612345678, jean.dupont@example.com; MARTIN Léa, , lea.martin@example.com;"
    )


async def test_changes_are_reported_by_field_and_written_in_place(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    wanted = lab(tmp_path)
    later = T0 + timedelta(days=1)
    site = wanted.entries[1]
    moved = replace(site, channel="both", recipients="DURAND Paul, +33700000009, p@example.com;")
    async with sessions_on(notifier_db(databases)) as sessions:
        await imported(sessions, wanted)
        before = await rows(sessions)
        diff = await imported(
            sessions, Contacts((wanted.entries[0], moved, *wanted.entries[2:])), now=later
        )
        after = await rows(sessions)
    assert diff == ContactsDiff(
        changed=(
            ContactChange(
                RTE,
                SITE_A,
                (
                    FieldChange("recipients", site.recipients, moved.recipients),
                    FieldChange("channel", "mail", "both"),
                ),
            ),
        )
    )
    row = after[(RTE, SITE_A)]
    assert (row.id, row.channel, row.created_at, row.updated_at) == (
        before[(RTE, SITE_A)].id,
        "both",
        T0,
        later,
    )
    assert {r.updated_at for k, r in after.items() if k != (RTE, SITE_A)} == {T0}


async def test_contacts_missing_from_the_file_are_removed(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    wanted = lab(tmp_path)
    kept = Contacts(wanted.entries[:2])
    async with sessions_on(notifier_db(databases)) as sessions:
        await imported(sessions, wanted)
        diff = await imported(sessions, kept)
        assert same(await stored(sessions), kept)
        emptied = await imported(sessions, Contacts())
        assert await stored(sessions) == Contacts()
    assert diff.removed == (ContactChange("EXEMPLE ENERGIE SA", ""), ContactChange(RTE, SITE_B))
    assert (diff.added, diff.changed) == ((), ())
    assert len(emptied.removed) == 2


async def test_a_new_spelling_of_a_customer_is_a_change_not_a_replacement(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    wanted = lab(tmp_path)
    respelt = Contacts(tuple(replace(e, customer=e.customer.title()) for e in wanted.entries))
    async with sessions_on(notifier_db(databases)) as sessions:
        await imported(sessions, wanted)
        ids = {(k[0].casefold(), k[1]): r.id for k, r in (await rows(sessions)).items()}
        diff = await imported(sessions, respelt)
        after = {(k[0].casefold(), k[1]): r.id for k, r in (await rows(sessions)).items()}
    assert (diff.added, diff.removed) == ((), ())
    assert [c.fields[0].field for c in diff.changed] == ["customer"] * 4
    assert after == ids


async def test_rows_written_around_the_import_are_replaced(databases: DatabaseFactory) -> None:
    """Rows the import did not write (same customer but for case, junk) end up as the file's."""
    async with sessions_on(notifier_db(databases)) as sessions:
        async with transaction(sessions) as session:
            for name, recipients in (("ACME", "A, , a@example.com;"), ("acme", "junk")):
                session.add(
                    Contact(
                        customer=name,
                        site_code="",
                        recipients=recipients,
                        channel="mail",
                        created_at=T0,
                        updated_at=T0,
                    )
                )
        wanted = Contacts((ContactEntry("ACME", "", "A, , a@example.com;", "mail"),))
        diff = await imported(sessions, wanted)
        assert await stored(sessions) == wanted
    assert diff == ContactsDiff(removed=(ContactChange("acme", ""),))


async def test_a_dry_run_reports_and_writes_nothing(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    wanted = lab(tmp_path)
    async with sessions_on(notifier_db(databases)) as sessions:
        diff = await imported(sessions, wanted, dry_run=True)
        assert await stored(sessions) == Contacts()
        await imported(sessions, wanted)
        emptied = await imported(sessions, Contacts(), dry_run=True)
        assert same(await stored(sessions), wanted)
    assert len(diff.added) == 4
    assert len(emptied.removed) == 4


async def test_lookup_prefers_the_first_site_with_contacts_then_the_customers_default(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    async with sessions_on(notifier_db(databases)) as sessions:
        await imported(sessions, lab(tmp_path))
        async with sessions() as session:

            async def ask(customer: str | None, *codes: str) -> ContactChoice | None:
                return await recipients_for(session, customer=customer, site_codes=codes)

            site_b_first = await ask(RTE, "NOWHERE", SITE_B, SITE_A)
            site_a = await ask(RTE, SITE_A, SITE_B)
            default = await ask("  rte  reseau de transport d electricite - rte ", "NOWHERE")
            no_sites = await ask("Exemple Energie SA")
            blanks = await ask("EXEMPLE ENERGIE SA", "", "  ")
            unknown = await ask("NOBODY", "NOWHERE")
            no_customer_site = await ask(None, SITE_A)
            no_customer = await ask(None, "NOWHERE")
            nothing = await ask("   ")
    assert site_b_first is not None and site_b_first.site_code == SITE_B
    assert site_b_first.channel == "both"
    assert [r.email for r in site_b_first.recipients] == [
        "chloe@example.com",
        "m@example.com",
    ]
    assert [r.email for r in site_b_first.sms_recipients] == ["chloe@example.com"]
    assert site_a is not None and (site_a.site_code, site_a.channel) == (SITE_A, "mail")
    assert default == ContactChoice(
        RTE,
        None,
        parse_recipients(
            "DUPONT Jean, 06 12 34 56 78, jean.dupont@example.com; "
            "MARTIN Léa, , lea.martin@example.com"
        ),
        "both",
    )
    assert no_sites is not None and no_sites.customer == "EXEMPLE ENERGIE SA"
    assert blanks == no_sites
    assert no_customer_site is not None and no_customer_site.site_code == SITE_A
    assert (unknown, no_customer, nothing) == (None, None, None)


async def test_a_stored_contact_that_cannot_be_used_is_an_error_not_a_guess(
    databases: DatabaseFactory,
) -> None:
    async with sessions_on(notifier_db(databases)) as sessions:
        async with transaction(sessions) as session:
            for site, recipients, channel in (
                ("S1", "DUPONT, 0612", "mail"),
                ("S2", "A, , a@x.fr", "fax"),
            ):
                session.add(
                    Contact(
                        customer="ACME",
                        site_code=site,
                        recipients=recipients,
                        channel=channel,
                        created_at=T0,
                        updated_at=T0,
                    )
                )
        async with sessions() as session:
            with pytest.raises(StoredContactInvalid, match="'ACME' \\(site S1\\) is unusable"):
                await recipients_for(session, customer="ACME", site_codes=["S1"])
            with pytest.raises(StoredContactInvalid, match="channel 'fax'"):
                await recipients_for(session, customer="ACME", site_codes=["S2"])


async def test_concurrent_imports_on_postgres_take_turns(
    postgres_factory: DatabaseFactory, tmp_path: Path
) -> None:
    wanted = lab(tmp_path)
    smaller = Contacts(wanted.entries[:1])
    async with sessions_on(notifier_db(postgres_factory)) as sessions:
        async with transaction(sessions) as first:
            await import_contacts(first, contacts=wanted, now=T0)
            second = asyncio.create_task(imported(sessions, smaller))
            await asyncio.sleep(0.5)
            assert not second.done()  # waits on the first import's lock
        diff = await second
        assert same(await stored(sessions), smaller)
    assert diff.added == ()  # computed against the first import's committed rows
    assert len(diff.removed) == 3


# -- the command -------------------------------------------------------------------------------


def command(url: str, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="vigie-notifier contacts")
    add_arguments(parser)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_contacts(
        parser.parse_args(list(argv)), database_url=url, now=T0, stdout=stdout, stderr=stderr
    )
    return code, stdout.getvalue(), stderr.getvalue()


def count_rows(url: str) -> int:
    async def count() -> int:
        async with sessions_on(url) as sessions:
            return len(await rows(sessions))

    return asyncio.run(count())


def test_cli_imports_and_prints_the_report(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = notifier_db(databases)
    monkeypatch.chdir(tmp_path)
    Path("contacts.yaml").write_text(YAML, encoding="utf-8")
    Path("contacts.csv").write_text(CSV, encoding="utf-8")
    code, out, err = command(url, "import", "contacts.yaml")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "contacts.yaml: 2 customers, 2 default contact lists, 2 site contact lists",
        "added    EXEMPLE ENERGIE SA: default contacts",
        f"added    {RTE}: default contacts",
        f"added    {RTE}: site {SITE_A}",
        f"added    {RTE}: site {SITE_B}",
        "4 added, 0 changed, 0 removed",
    ]
    code, out, _ = command(url, "import", "contacts.csv")
    assert (code, out.splitlines()[-1]) == (0, "nothing changed")
    changed = YAML.replace("MARTIN Léa, ,", "MARTIN Léa, 07 00 00 00 03,").replace(
        "channel: mail", "channel: both"
    )
    Path("changed.yaml").write_text(changed.replace("  - name: EXEMPLE", "  - name: NEW"))
    code, out, _ = command(url, "import", "changed.yaml")
    assert out.splitlines()[1:] == [
        "added    NEW ENERGIE SA: default contacts",
        f"changed  {RTE}: default contacts (recipients ~lea.martin@example.com (phone))",
        f"changed  {RTE}: site {SITE_A} (channel mail -> both)",
        "removed  EXEMPLE ENERGIE SA: default contacts",
        "1 added, 2 changed, 1 removed",
    ]


def test_cli_dry_run_json_reports_without_writing(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    url = notifier_db(databases)
    (tmp_path / "contacts.yaml").write_text(YAML, encoding="utf-8")
    assert command(url, "import", str(tmp_path / "contacts.yaml"))[0] == 0
    (tmp_path / "changed.yaml").write_text(YAML.replace("channel: mail", "channel: sms"))
    code, out, err = command(url, "import", "--dry-run", "--json", str(tmp_path / "changed.yaml"))
    report = json.loads(out)
    assert (code, err) == (0, "")
    assert report == {
        "files": [str(tmp_path / "changed.yaml")],
        "dry_run": True,
        "written": False,
        "unchanged": False,
        "contacts": {"customers": 2, "defaults": 2, "sites": 2},
        "added": [],
        "changed": [
            {"customer": RTE, "site": SITE_A, "fields": {"channel": {"old": "mail", "new": "sms"}}}
        ],
        "removed": [],
    }

    async def channel() -> str | None:
        async with sessions_on(url) as sessions, sessions() as session:
            return await session.scalar(select(Contact.channel).where(Contact.site_code == SITE_A))

    assert asyncio.run(channel()) == "mail"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            YAML.replace("lea.martin@example.com", "lea.martin@").replace(
                "channel: mail", "channel: x"
            ),
            [
                "contacts.yaml line 5: customers[0].recipients: entry 2 (MARTIN Léa): email: "
                "'lea.martin@' is not a valid email address",
                "contacts.yaml line 10: customers[0].sites[0].channel: unknown channel 'x' "
                "(known: both, mail, sms)",
                "vigie-notifier contacts: refused (2 problems); nothing was imported",
            ],
        ),
        (
            None,
            ["vigie-notifier contacts: cannot read contacts.yaml: No such file or directory"],
        ),
    ],
)
def test_cli_refuses_bad_or_unreadable_files_with_exit_1_and_no_traceback(
    databases: DatabaseFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    content: str | None,
    expected: list[str],
) -> None:
    url = notifier_db(databases)
    monkeypatch.chdir(tmp_path)
    if content is not None:
        Path("contacts.yaml").write_text(content, encoding="utf-8")
    code, out, err = command(url, "import", "contacts.yaml")
    assert (code, out) == (1, "")
    assert err.splitlines() == expected
    assert count_rows(url) == 0


def test_a_refused_file_leaves_the_stored_contacts_alone(
    databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = notifier_db(databases)
    monkeypatch.chdir(tmp_path)
    Path("good.yaml").write_text(YAML, encoding="utf-8")
    Path("bad.csv").write_text("customer,site,recipients\nACME,,\n", encoding="utf-8")
    assert command(url, "import", "good.yaml")[0] == 0
    code, _, err = command(url, "import", "good.yaml", "bad.csv")
    assert code == 1
    assert err.splitlines()[0] == "bad.csv line 2, column recipients: required field missing"
    assert count_rows(url) == 4


def test_cli_says_when_the_database_has_no_tables(tmp_path: Path) -> None:
    (tmp_path / "contacts.yaml").write_text(YAML, encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    code, out, err = command(url, "import", str(tmp_path / "contacts.yaml"))
    assert (code, out) == (1, "")
    assert err == (
        "vigie-notifier contacts: nothing was imported: database error: no such table: contact "
        "(run `vigie-notifier migrate` first)\n"
    )


def test_cli_refuses_an_unsupported_database_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "contacts.yaml").write_text(YAML, encoding="utf-8")
    code, _, err = command("mysql://db/x", "import", str(tmp_path / "contacts.yaml"))
    assert code == 1
    assert err.startswith("vigie-notifier contacts: nothing was imported: database error: ")
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err
