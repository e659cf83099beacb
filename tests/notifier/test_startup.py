"""``vigie-notifier run`` refuses to start on templates or rules it cannot use, naming them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def start(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    base |= {
        "VIGIE_ENV": "dev",
        "VIGIE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'notifier.db'}",
        "VIGIE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    }
    return subprocess.run(
        [sys.executable, "-m", "vigie_notifier", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        env=base | env,
        check=False,
    )


def test_a_template_using_an_undeclared_field_stops_the_start_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "catalogue.yaml").write_text(
        "version: 1\ntemplates:\n  CLT 0:\n    purpose: ouverture\n    audience: customer\n"
        "    channels: [sms]\n    required: [ticket.number]\n",
        encoding="utf-8",
    )
    (folder / "clt0.sms.txt.j2").write_text(
        "{{ headers.sms }} ouvert le {{ ticket.opened_at|date_fr }}", encoding="utf-8"
    )

    done = start(tmp_path, VIGIE_NOTIFIER_TEMPLATES_DIR=str(folder))

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "CLT0" in done.stderr and "ticket.opened_at" in done.stderr
    assert "clt0.sms.txt.j2" in done.stderr


@pytest.mark.parametrize(
    ("rules", "says"),
    [
        (
            "rules:\n  - {name: r, event: verdict, when: {verdict: stable}, send: CLT4,"
            " to: customer}\n",
            "send templates the catalogue lacks: ['CLT4']",
        ),
        (
            "rules:\n  - {name: r, event: verdict, when: {colour: red}, send: CLT5,"
            " to: customer}\n",
            "rule 'r': unknown field ['colour'] for verdict",
        ),
        ("rules:\n  - {name: r, event: sunrise, send: CLT5, to: customer}\n", "rules.0.event"),
    ],
)
def test_rules_that_cannot_work_stop_the_start_naming_the_rule(
    tmp_path: Path, rules: str, says: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules, encoding="utf-8")

    done = start(tmp_path, VIGIE_NOTIFIER_RULES_FILE=str(path))

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert says in done.stderr, done.stderr
