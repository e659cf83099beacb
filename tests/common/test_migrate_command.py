"""``vigie-<service> migrate`` on a fresh machine: it makes the SQLite folder, and a database
that refuses says so in one line, without a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

SERVICES = ["vigie_ingest", "vigie_prober", "vigie_notifier"]


def migrate(package: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    env |= {"VIGIE_DATABASE_URL": database_url, "VIGIE_ENV": "dev"}
    return subprocess.run(
        [sys.executable, "-m", package, "migrate"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
        check=False,
    )


@pytest.mark.parametrize("package", SERVICES)
def test_migrate_makes_the_folder_of_a_fresh_sqlite_file(package: str, tmp_path: Path) -> None:
    database = tmp_path / "fresh" / ".vigie" / "vigie.db"

    done = migrate(package, f"sqlite+aiosqlite:///{database}", tmp_path)

    assert done.returncode == 0, done.stderr
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert f"alembic_version_{package.removeprefix('vigie_')}" in tables


def test_a_database_that_refuses_is_one_line_without_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the folder should be", encoding="utf-8")

    done = migrate("vigie_notifier", f"sqlite+aiosqlite:///{blocker}/vigie.db", tmp_path)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("vigie-notifier migrate: the database refused the migrations:")
    assert len(done.stderr.strip().splitlines()) == 1
