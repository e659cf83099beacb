"""vigie_common.imports: the generic half of every operator-file import.

A toy import (items with a name and a size) is built from the common pieces only, so these
tests pin what every service's import does the same way: messages with file, line and
field, unknown/duplicate/aliased keys refused, CSV lines and separators, the bounded read,
the command's flow, and the database problem's hint.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncSession
from vigie_common.db.engine import make_engine, make_sessionmaker, transaction
from vigie_common.imports.command import (
    MAX_PROBLEMS_SHOWN,
    add_import_parser,
    database_problem,
    run_import,
)
from vigie_common.imports.csv_reading import check_header, csv_entries, delimiter
from vigie_common.imports.entries import Checker, RawEntry
from vigie_common.imports.files import read_import_file, read_text
from vigie_common.imports.locks import hold_import_lock, import_lock_key
from vigie_common.imports.problems import (
    ContentInvalid,
    FileUnreadable,
    ImportRefused,
    Location,
    Problem,
    rank_problems,
)
from vigie_common.imports.reporting import (
    FieldChange,
    ImportDiff,
    plural,
    report_json,
    report_lines,
)
from vigie_common.imports.yaml_reading import YamlReader, compose_yaml
from yaml.nodes import Node

from tests.support.database import DatabaseFactory

ITEM_KEYS = ("name", "size")
REFUSED = {"password": "secrets do not belong here"}


# -- a toy import, made of the common pieces ---------------------------------------------------


class ToyUnreadable(FileUnreadable):
    """As a service derives its own."""


class _Reader(YamlReader):
    def __init__(self, file: str, problems: list[Problem]) -> None:
        super().__init__(file, problems, refused=REFUSED, hints={"size": " (a number)"})
        self.items: list[RawEntry] = []

    def read(self, root: Node) -> None:
        top = self.document(root, ("items",), required=("items",))
        if top is None:
            return
        for i, node in enumerate(self.sequence(top.get("items"), "items")):
            if (found := self.entry(node, f"items[{i}]", ITEM_KEYS)) is not None:
                self.items.append(found[0])


def read_yaml(text: str, file: str = "toy.yaml") -> tuple[list[RawEntry], list[str]]:
    problems: list[Problem] = []
    root = compose_yaml(text, file=file, problems=problems, expected="'items'")
    reader = _Reader(file, problems)
    if root is not None:
        reader.read(root)
    return reader.items, [str(p) for p in problems]


def read_csv(text: str, file: str = "toy.csv") -> tuple[list[RawEntry], list[str]]:
    problems: list[Problem] = []

    def header(where: Location, columns: list[str]) -> tuple[str, ...] | None:
        return check_header(
            columns,
            where=where,
            known=ITEM_KEYS,
            required=("name",),
            problems=problems,
            refused=REFUSED,
        )

    rows = csv_entries(text, file=file, problems=problems, header=header, overflow="quote it")
    entries = [entry for entry, _ in rows]
    return entries, [str(p) for p in problems]


def parse_size(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"size must be a whole number, got {text!r}")
    return int(text)


# -- Location, Problem, ranking ----------------------------------------------------------------


def test_locations_read_the_same_in_yaml_and_csv() -> None:
    yaml_at = Location("a.yaml", 4, "items[0].size")
    csv_at = Location("a.csv", 4, "size", csv=True)
    assert str(Problem(yaml_at, "wrong")) == "a.yaml line 4: items[0].size: wrong"
    assert str(Problem(csv_at, "wrong")) == "a.csv line 4, column size: wrong"
    assert str(Location("a.csv", 2, "", csv=True)) == "a.csv line 2"
    assert str(yaml_at.child("unit")) == "a.yaml line 4: items[0].size.unit"
    assert str(csv_at.child("unit")) == "a.csv line 4, column unit"
    assert yaml_at.near(Location("a.yaml", 2, "")) == "line 2"
    assert yaml_at.near(Location("b.csv", 2, "", csv=True)) == "b.csv line 2"


def test_errors_carry_their_reasons() -> None:
    unreadable = ToyUnreadable("x.yaml", "No such file or directory")
    assert str(unreadable) == "cannot read x.yaml: No such file or directory"
    assert isinstance(unreadable, ImportRefused)
    invalid = ContentInvalid(
        [Problem(Location("x.yaml", 1, "a"), "m"), Problem(Location("x.yaml", 2, ""), "n")]
    )
    assert str(invalid) == "x.yaml line 1: a: m\nx.yaml line 2: n"
    assert len(invalid.problems) == 2


def test_problems_are_ranked_by_file_as_given_then_line() -> None:
    found = [
        Problem(Location("b.csv", 1, ""), "b1"),
        Problem(Location("a.yaml", 9, ""), "a9"),
        Problem(Location("a.yaml", 2, ""), "a2 first"),
        Problem(Location("a.yaml", 2, ""), "a2 second"),
    ]
    ranked = rank_problems(found, ["a.yaml", "b.csv", "a.yaml"])
    assert [p.message for p in ranked] == ["a2 first", "a2 second", "a9", "b1"]


# -- YAML --------------------------------------------------------------------------------------


def test_an_unknown_key_is_refused_with_the_known_ones_listed() -> None:
    items, problems = read_yaml("items:\n  - name: a\n    colour: red\n")
    assert problems == ["toy.yaml line 3: items[0].colour: unknown key (known: name, size)"]
    assert items[0].get("name") == "a"
    assert "colour" not in items[0].values


def test_an_unknown_top_key_and_a_missing_required_one() -> None:
    _, problems = read_yaml("itemz: []\n")
    assert problems == [
        "toy.yaml line 1: itemz: unknown key (known: items)",
        "toy.yaml line 1: items: required field missing",
    ]


def test_a_duplicate_key_names_the_first_line() -> None:
    items, problems = read_yaml("items:\n  - name: a\n    size: 1\n    size: 2\n")
    assert problems == ["toy.yaml line 4: items[0].size: duplicate key (first at line 3)"]
    assert items[0].get("size") == "1"  # the first wins: never silently the last


def test_an_alias_is_refused() -> None:
    items, problems = read_yaml("items:\n  - &one {name: a}\n  - *one\n")
    assert problems == [
        "toy.yaml line 2: items[1]: aliases (*name) are not supported: write the value out"
    ]
    assert len(items) == 1


def test_a_refused_key_gets_its_message_whatever_its_case() -> None:
    _, problems = read_yaml("items:\n  - name: a\n    PassWord: hunter2\n")
    assert problems == ["toy.yaml line 3: items[0].PassWord: secrets do not belong here"]
    assert "hunter2" not in "".join(problems)


def test_a_value_that_is_not_single_says_what_it_is() -> None:
    items, problems = read_yaml("items:\n  - name: [a, b]\n    size:\n      big: 1\n")
    assert problems == [
        "toy.yaml line 2: items[0].name: expected a single value, got a list",
        "toy.yaml line 4: items[0].size: expected a single value (a number), got a mapping",
    ]
    assert items[0].reported == {"name", "size"}


def test_wrong_shapes_are_problems_not_exceptions() -> None:
    _, problems = read_yaml("items: 3\n")
    assert problems == ["toy.yaml line 1: items: expected a list"]
    _, problems = read_yaml("items:\n  - just text\n")
    assert problems == ["toy.yaml line 2: items[0]: expected a mapping of name, size"]
    _, problems = read_yaml("- a\n")
    assert problems == ["toy.yaml line 1: expected a mapping of items"]
    items, problems = read_yaml("items:\n")  # null: no items, no problem
    assert (items, problems) == ([], [])


def test_yaml_values_know_their_lines() -> None:
    items, problems = read_yaml(
        "# a comment\nitems:\n  - name: a\n    size: 1\n\n"
        "  - name: |\n      line one\n      line two\n"
    )
    assert problems == []
    first, second = items
    assert str(first.where) == "toy.yaml line 3: items[0]"
    assert str(first.at("size")) == "toy.yaml line 4: items[0].size"
    assert str(first.at("missing")) == "toy.yaml line 3: items[0].missing"
    # A ``|`` block keeps its lines: a position inside it is placed on its own line.
    named = second.at("name")
    assert named.line == 6
    assert named.within(second.text("name"), len("line one\nli")).line == 8


def test_invalid_and_empty_yaml_are_one_problem_each() -> None:
    _, problems = read_yaml("items:\n  - name: a\n   size: [\n")
    assert len(problems) == 1
    assert problems[0].startswith("toy.yaml line 3: not valid YAML: ")
    assert read_yaml("")[1] == ["toy.yaml line 1: empty file: expected 'items'"]
    assert read_yaml("# only a comment\n")[1] == ["toy.yaml line 1: empty file: expected 'items'"]


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_rows_and_cells_know_their_lines() -> None:
    entries, problems = read_csv('name,size\na,1\n\n"b\nsecond line",2\nc,3\n')
    assert problems == []
    assert [(e.get("name"), e.where.line) for e in entries] == [
        ("a", 2),
        ("b\nsecond line", 4),  # blank lines skipped, a quoted cell spans lines 4-5
        ("c", 6),
    ]
    assert str(entries[1].at("size")) == "toy.csv line 4, column size"
    assert str(entries[1].at("missing")) == "toy.csv line 4, column missing"


def test_the_separator_is_told_by_the_header() -> None:
    assert delimiter("name;size\na,b;1\n") == ";"
    assert delimiter("name,size\na;b,1\n") == ","
    assert delimiter("name\n") == ","
    entries, problems = read_csv("Name;Size\na,b;1\n")
    assert problems == []
    assert (entries[0].get("name"), entries[0].get("size")) == ("a,b", "1")


def test_a_wrong_header_is_refused_column_by_column_and_no_row_is_read() -> None:
    entries, problems = read_csv("size,colour,size,,password\n1,red,2,,x\n")
    assert entries == []
    assert problems == [
        "toy.csv line 1, column colour: unknown column (known: name, size)",
        "toy.csv line 1, column size: duplicate column",
        "toy.csv line 1, column #4: unknown column (known: name, size)",
        "toy.csv line 1, column password: secrets do not belong here",
        "toy.csv line 1, column name: column missing",
    ]


def test_a_row_with_more_values_than_columns_is_a_problem() -> None:
    entries, problems = read_csv("name,size\na,1,extra\nb\n")
    assert problems == ["toy.csv line 2: 3 values for 2 columns (quote it)"]
    assert [e.get("name") for e in entries] == ["b"]
    assert entries[0].get("size") is None  # a short row: the missing cells are absent


def test_invalid_csv_stops_with_a_problem_at_its_line() -> None:
    entries, problems = read_csv('name,size\na,1\nb,"2"x\nc,3\n')
    assert [e.get("name") for e in entries] == ["a"]
    assert len(problems) == 1
    assert problems[0].startswith("toy.csv line 3: not valid CSV: ")


def test_an_empty_csv_lacks_its_required_columns() -> None:
    assert read_csv("") == ([], ["toy.csv line 1, column name: column missing"])


# -- files ------------------------------------------------------------------------------------


def toy_file(text: str, *, file: str) -> str:
    return f"{file}: {text}"


def test_the_extension_chooses_the_reader(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.YML", "c.csv"):
        path = tmp_path / name
        path.write_text("x", encoding="utf-8")
        kind = read_import_file(
            path,
            limit=10,
            yaml=lambda text, *, file: f"yaml {file} {text}",
            csv=lambda text, *, file: f"csv {file} {text}",
        )
        assert kind == (f"csv {path} x" if name.endswith(".csv") else f"yaml {path} x")
    with pytest.raises(ToyUnreadable) as refused:
        read_import_file(
            tmp_path / "d.json", limit=10, yaml=toy_file, csv=toy_file, error=ToyUnreadable
        )
    assert refused.value.reason == "unknown format: name the file .yaml, .yml or .csv"


def test_an_oversize_file_is_refused_before_parsing(tmp_path: Path) -> None:
    limit = 2 * 2**20
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * limit)
    assert len(read_text(path, limit=limit)) == limit  # exactly the limit is accepted
    path.write_bytes(b"x" * (limit + 1))
    with pytest.raises(ToyUnreadable) as refused:
        read_text(path, limit=limit, error=ToyUnreadable)
    assert str(refused.value) == f"cannot read {path}: larger than 2 MiB"


def test_missing_and_non_utf8_files_are_unreadable_and_a_bom_is_dropped(tmp_path: Path) -> None:
    with pytest.raises(FileUnreadable) as missing:
        read_text(tmp_path / "none.yaml", limit=10)
    assert missing.value.reason == "No such file or directory"
    with pytest.raises(FileUnreadable) as folder:
        read_text(tmp_path, limit=10)
    assert folder.value.reason == "Is a directory"
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name\nLéa\n".encode("latin-1"))
    with pytest.raises(FileUnreadable) as wrong:
        read_text(latin, limit=100)
    assert wrong.value.reason == "not UTF-8 text (byte 6)"
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffname\n".encode())
    assert read_text(bom, limit=100) == "name\n"


# -- checks -----------------------------------------------------------------------------------


def test_the_checker_collects_every_problem() -> None:
    entries, _ = read_csv("name,size\n,x\na,\na,3\n")
    check = Checker()
    seen: dict[str, Location] = {}
    results = []
    for entry in entries:
        name = check.required(entry, "name", str)
        size = check.optional(entry, "size", parse_size, 0)
        if name is not None and check.unique(seen, name, entry.at("name"), "item"):
            results.append((name, size))
    reported = RawEntry(Location("x.yaml", 1, "items[0]"), reported={"name"})
    assert check.required(reported, "name", str) is None  # its reader said why already
    assert results == [("a", 0)]
    assert [str(p) for p in check.problems] == [
        "toy.csv line 2, column name: required field missing",
        "toy.csv line 2, column size: size must be a whole number, got 'x'",
        "toy.csv line 4, column name: duplicate item 'a' (first at line 3)",
    ]


# -- reports ----------------------------------------------------------------------------------


def test_reports_for_a_person_and_a_program_say_the_same() -> None:
    diff = ImportDiff(
        added=("a",), changed=("b",), removed=("c", "d")
    )  # changes are the service's own type
    lines = report_lines("f.yaml: 2 items", diff, lambda c: f"item {c}", dry_run=False)
    assert lines == [
        "f.yaml: 2 items",
        "added    item a",
        "changed  item b",
        "removed  item c",
        "removed  item d",
        "1 added, 1 changed, 2 removed",
    ]
    dry = report_lines("f.yaml: 0 items", ImportDiff[str](), str, dry_run=True)
    assert dry == ["f.yaml: 0 items", "dry run, nothing written: nothing changed"]
    assert (plural(1, "item"), plural(0, "item"), plural(2, "item")) == (
        "1 item",
        "0 items",
        "2 items",
    )


class _Change:
    def __init__(self, key: str, fields: tuple[FieldChange[Any], ...] = ()) -> None:
        self.key = key
        self.fields = fields


def test_the_json_report_lists_changed_fields() -> None:
    diff = ImportDiff(added=(_Change("a"),), changed=(_Change("b", (FieldChange("size", 1, 2),)),))
    report = report_json(
        files=["f.yaml"],
        diff=diff,
        dry_run=False,
        held=("items", {"items": 2}),
        identify=lambda c: {"key": c.key},
    )
    assert report == {
        "files": ["f.yaml"],
        "dry_run": False,
        "written": True,
        "unchanged": False,
        "items": {"items": 2},
        "added": [{"key": "a"}],
        "changed": [{"key": "b", "fields": {"size": {"old": 1, "new": 2}}}],
        "removed": [],
    }
    assert list(report) == [
        "files", "dry_run", "written", "unchanged", "items", "added", "changed", "removed"
    ]  # fmt: skip


# -- the command ------------------------------------------------------------------------------


def test_the_database_problem_is_one_line_with_the_migrate_hint() -> None:
    missing = OperationalError("SELECT * FROM item", {}, Exception("no such table: item\nmore"))
    assert database_problem(missing, program="vigie-toy") == (
        "database error: no such table: item (run `vigie-toy migrate` first)"
    )
    relation = ProgrammingError("SELECT", {}, Exception('relation "item" does not exist'))
    assert database_problem(relation, program="vigie-toy").endswith(
        "(run `vigie-toy migrate` first)"
    )
    refused = OSError("Connection refused")
    assert database_problem(refused, program="vigie-toy") == "database error: Connection refused"
    assert database_problem(OSError(), program="vigie-toy") == "database error: OSError"


def test_the_import_parser_takes_files_dry_run_and_json() -> None:
    parser = argparse.ArgumentParser(prog="vigie-toy items")
    add_import_parser(parser, dest="items_command", help="import items", description="Items.")
    args = parser.parse_args(["import", "a.yaml", "b.csv", "--dry-run", "--json"])
    assert args.items_command == "import"
    assert args.files == [Path("a.yaml"), Path("b.csv")]
    assert (args.dry_run, args.json) == (True, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["import"])


class Outcome:
    """What a toy import prints, as the command's callers see it."""

    def __init__(self, code: int, stdout: io.StringIO, stderr: io.StringIO) -> None:
        self.code = code
        self.out = stdout.getvalue()
        self.err = stderr.getvalue()


class _Report:
    def __init__(
        self, files: tuple[str, ...], done: int, content: list[str], dry_run: bool
    ) -> None:
        self.files, self.done, self.content, self.dry_run = files, done, content, dry_run

    def lines(self) -> list[str]:
        return [
            f"{', '.join(self.files)}: {plural(len(self.content), 'item')}",
            f"{self.done} written",
        ]

    def as_json(self) -> dict[str, Any]:
        return {"files": list(self.files), "written": self.done, "dry_run": self.dry_run}


def toy_import(
    url: str,
    files: Sequence[Path] = (Path("items.yaml"),),
    *,
    content: list[str] | Exception | None = None,
    as_json: bool = False,
    dry_run: bool = False,
    fail_after_write: bool = False,
) -> Outcome:
    def read(paths: Sequence[Path]) -> list[str]:
        if isinstance(content, Exception):
            raise content
        return ["a", "b"] if content is None else content

    async def store(session: AsyncSession, items: list[str], dry_run: bool) -> int:
        if dry_run:
            return 0
        for item in items:
            await session.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": item})
        if fail_after_write:  # the same name twice: the database refuses, all rolls back
            await session.execute(text("INSERT INTO item (name) VALUES (:name)"), {"name": "a"})
        return len(items)

    stdout, stderr = io.StringIO(), io.StringIO()
    args = argparse.Namespace(files=list(files), dry_run=dry_run, json=as_json)
    code = run_import(
        args,
        program="vigie-toy",
        command="items",
        read=read,
        store=store,
        report=_Report,
        database_url=url,
        stdout=stdout,
        stderr=stderr,
    )
    return Outcome(code, stdout, stderr)


def test_an_unreadable_file_is_one_line() -> None:
    outcome = toy_import("sqlite+aiosqlite://", content=ToyUnreadable("x.yaml", "Is a directory"))
    assert (outcome.code, outcome.out) == (1, "")
    assert outcome.err == "vigie-toy items: cannot read x.yaml: Is a directory\n"


def test_a_refusal_names_each_problem_up_to_a_screenful() -> None:
    many = [Problem(Location("x.csv", n, "name", csv=True), "wrong") for n in range(2, 152)]
    outcome = toy_import("sqlite+aiosqlite://", content=ContentInvalid(many))
    lines = outcome.err.splitlines()
    assert outcome.code == 1
    assert len(lines) == MAX_PROBLEMS_SHOWN + 2
    assert lines[0] == "x.csv line 2, column name: wrong"
    assert lines[-2:] == [
        "... and 50 more",
        "vigie-toy items: refused (150 problems); nothing was imported",
    ]
    one = toy_import("sqlite+aiosqlite://", content=ContentInvalid(many[:1]))
    assert one.err.splitlines() == [
        "x.csv line 2, column name: wrong",
        "vigie-toy items: refused (1 problem); nothing was imported",
    ]


async def _touch(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))  # SQLite: the file exists from here
    finally:
        await engine.dispose()


def empty_db(databases: DatabaseFactory) -> str:
    """A fresh database with no tables at all (as before ``migrate``)."""
    return databases.create("imports_empty", lambda url: asyncio.run(_touch(url)))


async def make_items_table(url: str) -> None:
    engine = make_engine(url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            await session.execute(text("CREATE TABLE item (name VARCHAR(20) PRIMARY KEY)"))
    finally:
        await engine.dispose()


async def item_names(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list(await session.scalars(text("SELECT name FROM item ORDER BY name")))
    finally:
        await engine.dispose()


def test_missing_tables_get_the_migrate_hint(databases: DatabaseFactory) -> None:
    outcome = toy_import(empty_db(databases))
    assert outcome.code == 1
    assert outcome.err.startswith("vigie-toy items: nothing was imported: database error: ")
    assert outcome.err.endswith(" (run `vigie-toy migrate` first)\n")
    assert "INSERT" not in outcome.err  # no SQL, one line
    assert outcome.err.count("\n") == 1


def test_the_import_is_one_transaction_and_prints_its_report(databases: DatabaseFactory) -> None:
    url = empty_db(databases)
    asyncio.run(make_items_table(url))
    failed = toy_import(url, fail_after_write=True)
    assert failed.code == 1
    assert failed.err.startswith("vigie-toy items: nothing was imported: database error: ")
    assert "migrate" not in failed.err
    assert asyncio.run(item_names(url)) == []  # rolled back: nothing of it was written
    done = toy_import(url, [Path("a.yaml"), Path("b.csv")])
    assert (done.code, done.err) == (0, "")
    assert done.out == "a.yaml, b.csv: 2 items\n2 written\n"
    assert asyncio.run(item_names(url)) == ["a", "b"]
    dry = toy_import(url, content=["c"], as_json=True, dry_run=True)
    assert json.loads(dry.out) == {"files": ["items.yaml"], "written": 0, "dry_run": True}
    assert dry.out.count("\n") == 1
    assert asyncio.run(item_names(url)) == ["a", "b"]


def test_the_import_lock_makes_imports_take_turns(postgres_factory: DatabaseFactory) -> None:
    url = empty_db(postgres_factory)
    key = import_lock_key("vigie-toy:items-import")
    assert key == import_lock_key("vigie-toy:items-import")
    assert -(2**63) <= key < 2**63
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")

    async def held_elsewhere() -> tuple[bool, bool]:
        engine = make_engine(url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                await hold_import_lock(session, key)
                with psycopg.connect(dsn) as other:
                    during = other.execute("SELECT pg_try_advisory_xact_lock(%s)", [key]).fetchone()
            with psycopg.connect(dsn) as other:
                after = other.execute("SELECT pg_try_advisory_xact_lock(%s)", [key]).fetchone()
        finally:
            await engine.dispose()
        assert during is not None and after is not None
        return bool(during[0]), bool(after[0])

    assert asyncio.run(held_elsewhere()) == (False, True)  # held until the transaction ends


def test_the_import_lock_is_nothing_on_sqlite(sqlite_factory: DatabaseFactory) -> None:
    url = empty_db(sqlite_factory)

    async def lock() -> None:
        engine = make_engine(url)
        try:
            async with transaction(make_sessionmaker(engine)) as session:
                await hold_import_lock(session, import_lock_key("vigie-toy:items-import"))
        finally:
            await engine.dispose()

    asyncio.run(lock())  # the single writer serialises imports already
