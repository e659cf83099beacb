"""``vigie-notifier gtr``: one JSON answer, exit 0 / 1 (unreadable commitment) / 2 (arguments)."""

from __future__ import annotations

import argparse
import io
import json
from typing import Any

import pytest
from vigie_notifier.gtr_command import add_arguments, main, run_gtr

REAL = "GTR S2 240 mn Lundi au Samedi 8h à 18h"


def gtr(*argv: str) -> tuple[int, dict[str, Any] | None, str]:
    """Run the subcommand as ``main.py`` will: its own parser, then ``run_gtr``."""
    parser = argparse.ArgumentParser(prog="vigie-notifier gtr")
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run_gtr(parser.parse_args(argv), stdout=out, stderr=err)
    return code, json.loads(out.getvalue()) if out.getvalue() else None, err.getvalue()


def test_real_ticket_answer_shape() -> None:
    code, answer, err = gtr(REAL, "--start", "2025-05-30T09:52")
    assert (code, err) == (0, "")
    assert answer == {
        "contract": {
            "class": "S2",
            "budget_minutes": 240,
            "schedule": {
                "days": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"],
                "opens": "08:00",
                "closes": "18:00",
                "skips_public_holidays": True,
                "around_the_clock": False,
            },
            "tz": "Europe/Paris",
            "country": "FR",
            "subdiv": None,
        },
        "start": "2025-05-30T09:52:00+02:00",
        "deadline": "2025-05-30T13:52:00+02:00",
    }


def test_restored_adds_the_outcome() -> None:
    code, answer, _ = gtr(REAL, "--start", "2025-05-30T09:52", "--restored", "2025-05-30T14:10")
    assert code == 0 and answer is not None
    assert answer["outcome"] == {
        "restored_at": "2025-05-30T14:10:00+02:00",
        "business_minutes_used": 258,
        "met": False,
        "margin_minutes": -18,
    }


def test_pauses_and_offsets() -> None:
    code, answer, _ = gtr(
        REAL,
        "--start",
        "2025-05-30T07:52:00Z",  # UTC in, the site's offset out
        "--pause",
        "2025-05-30T10:00/2025-05-30T10:30",
        "--pause",
        "2025-05-30T11:00+02:00/2025-05-30T11:30+02:00",
        "--restored",
        "2025-05-30T14:10",
    )
    assert code == 0 and answer is not None
    assert answer["start"] == "2025-05-30T09:52:00+02:00"
    assert answer["deadline"] == "2025-05-30T14:52:00+02:00"
    assert answer["outcome"]["met"] is True
    assert answer["outcome"]["margin_minutes"] == 42


def test_site_zone_and_subdivision() -> None:
    code, answer, _ = gtr(
        "gtr s1 4h ho", "--start", "2025-12-24T16:00", "--subdiv", "moselle", "--country", "fr"
    )
    assert code == 0 and answer is not None
    assert (answer["contract"]["country"], answer["contract"]["subdiv"]) == ("FR", "57")
    assert answer["deadline"] == "2025-12-29T10:00:00+01:00"
    code, answer, _ = gtr(
        "GTR S1 4h HO",
        "--start",
        "2025-05-21T16:00",
        "--tz",
        "America/Martinique",
        "--subdiv",
        "972",
    )
    assert code == 0 and answer is not None
    assert answer["deadline"] == "2025-05-23T10:00:00-04:00"


def test_around_the_clock_schedule_in_the_answer() -> None:
    code, answer, _ = gtr("GTR S1 4h 24/7", "--start", "2025-03-30T00:30")
    assert code == 0 and answer is not None
    assert answer["contract"]["schedule"]["closes"] == "24:00"
    assert answer["contract"]["schedule"]["around_the_clock"] is True
    assert answer["deadline"] == "2025-03-30T05:30:00+02:00"


def test_unreadable_commitment_exits_1_with_json_error() -> None:
    code, answer, err = gtr("GTR S2 240 mn Lundi au Samdi 8h à 18h", "--start", "2025-05-30T09:52")
    assert (code, err) == (1, "")
    assert answer is not None
    assert answer["part"] == "schedule"
    assert "'Samdi' is not a day of the week" in answer["error"]
    assert answer["commitment"] == "GTR S2 240 mn Lundi au Samdi 8h à 18h"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--start", "30/05/2025 09:52"], "--start '30/05/2025 09:52' is not an ISO 8601 time"),
        (["--start", "2025-05-30T09:52", "--tz", "Europe/Pariss"], "--tz: unknown tz"),
        (["--start", "2025-05-30T09:52", "--tz", "Europe"], "--tz: unknown tz"),
        (["--start", "2025-05-30T09:52", "--country", "XX"], "--country: unknown country"),
        (["--start", "2025-05-30T09:52", "--subdiv", "99"], "--subdiv: unknown subdiv '99'"),
        (["--start", "2025-05-30T09:52", "--pause", "2025-05-30T10:00"], "is not START/END"),
        (["--start", "2025-05-30T09:52", "--pause", "2025-05-30T11:00/x"], "--pause 'x'"),
        (
            ["--start", "2025-05-30T09:52", "--pause", "2025-05-30T11:00/2025-05-30T10:00"],
            "ends before it starts",
        ),
        (["--start", "2025-05-30T09:52", "--restored", "2025-05-30T09:00"], "before --start"),
        (["--start", "2025-05-30T09:52", "--restored", "soon"], "--restored 'soon'"),
    ],
)
def test_unusable_arguments_exit_2_with_one_line(argv: list[str], named: str) -> None:
    code, answer, err = gtr(REAL, *argv)
    assert (code, answer) == (2, None)
    assert err.startswith("vigie-notifier gtr: ") and err.count("\n") == 1
    assert named in err
    assert "Traceback" not in err


def test_unusable_arguments_win_over_an_unreadable_commitment() -> None:
    code, answer, _ = gtr("nonsense", "--start", "later")
    assert (code, answer) == (2, None)


def test_main_parses_its_own_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([REAL, "--start", "2025-05-31T17:00"]) == 0
    assert json.loads(capsys.readouterr().out)["deadline"] == "2025-06-02T11:00:00+02:00"
    with pytest.raises(SystemExit) as refused:
        main([REAL])  # --start is required: argparse's own exit 2
    assert refused.value.code == 2
