"""``vigie-notifier``'s command line: its subcommands run the same code as the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.notifier.test_rendering import real_ticket


def notifier(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vigie_notifier", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VIGIE_ENV": "dev", **env},
        check=False,
    )


def test_gtr_answers_the_real_tickets_deadline() -> None:
    done = notifier("gtr", "GTR S2 240 mn Lundi au Samedi 8h à 18h", "--start", "2025-05-30T09:52")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["deadline"] == "2025-05-30T13:52:00+02:00"


def test_render_takes_the_operator_from_the_settings(tmp_path: Path) -> None:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(real_ticket().model_dump_json(), encoding="utf-8")

    done = notifier(
        "render",
        "CLT6",
        "--ticket",
        str(ticket),
        "--part",
        "subject",
        VIGIE_NOTIFIER_OPERATOR="SFR",
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SFR INFO INCIDENT 2505057242 / Votre référence : ")


def test_an_unknown_command_is_refused_by_name() -> None:
    done = notifier("deliver")

    assert done.returncode == 2
    assert "invalid choice: 'deliver'" in done.stderr
