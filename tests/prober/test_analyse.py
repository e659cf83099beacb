"""``vigie-prober analyse``: one JSON object from a paste, the service's reading rules."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from vigie_prober.analysis import main

DATA = Path(__file__).parent / "data"
SAMPLES = Path(__file__).parents[3] / "shared" / "samples" / "router-logs"
DESIGN_LOG = DATA / "rad_etx" / "alarm_log.txt"


def analyse(*args: str, stdin: str = "") -> tuple[int, dict[str, Any] | None, str]:
    """Run the command in-process; return its exit code, its JSON and its stderr."""
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        code = main(list(args))
    except SystemExit as exc:  # argparse refusals
        code = int(exc.code or 0)
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, json.loads(out.getvalue()) if out.getvalue() else None, err.getvalue()


def test_design_log_is_stable_since_the_last_clear() -> None:
    code, answer, _ = analyse("--driver", "rad_etx", "--now", "2025-06-19T09:30", str(DESIGN_LOG))
    assert code == 0 and answer is not None
    assert answer["verdict"] == "stable"
    assert answer["stable_since"] == "2025-06-16T16:10:44+02:00"
    assert [(e["at"], e["kind"]) for e in answer["events"]] == [
        ("2025-06-16T16:08:43+02:00", "raise"),
        ("2025-06-16T16:10:37+02:00", "clear"),
        ("2025-06-16T16:10:44+02:00", "clear"),
    ]
    assert answer["flaps"] == 1 and answer["penalty"] < 1
    assert answer["unparsed"] == []
    assert set(answer) >= {"driver", "events", "flaps", "penalty", "stable_since", "reason"}


def test_flaps_count_from_since_and_the_quiet_interval_holds_stable_since() -> None:
    code, answer, _ = analyse(
        "--driver",
        "rad_etx",
        "--since",
        "2025-06-16T16:09:00",
        "--now",
        "2025-06-16T16:40:00+02:00",
        str(DESIGN_LOG),
    )
    assert code == 0 and answer is not None
    assert answer["flaps"] == 0  # the only cut started before --since
    assert answer["stable_since"] is None  # 30 min of quiet, 60 needed
    assert answer["verdict"] == "inconclusive"


def test_flapping_cisco_paste_from_standard_input() -> None:
    lines = []
    for n in range(5):
        minute = 10 + 3 * n
        for state in ("down", "up"):
            second = "00" if state == "down" else "20"
            lines.append(
                f"Jun 19 09:{minute:02d}:{second}: %LINK-3-UPDOWN: Interface "
                f"GigabitEthernet0/1, changed state to {state}"
            )
    paste = "Log Buffer (8192 bytes):\n" + "\n".join(lines) + "\n"
    code, answer, _ = analyse(
        "--driver", "cisco_ios", "--now", "2025-06-19T09:30:00", "-", stdin=paste
    )
    assert code == 0 and answer is not None
    assert answer["verdict"] == "flapping"
    assert answer["flaps"] == 5 and answer["penalty"] > 2000
    assert answer["events"][0]["at"].startswith("2025-06-19T09:10:00")


@pytest.mark.parametrize("paste", ["", "Welcome to a Juniper box\nuser@mx> show log\n"])
def test_nothing_recognised_is_inconclusive_with_exit_0(paste: str) -> None:
    code, answer, _ = analyse("--driver", "rad_etx", "-", stdin=paste)
    assert code == 0 and answer is not None
    assert answer["verdict"] == "inconclusive" and answer["reason"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--driver", "rad_etx", "--tz", "Mars/Olympus", "-"], "--tz"),
        (["--driver", "rad_etx", "--tz", "Europe", "-"], "--tz"),
        (["--driver", "rad_etx", "--now", "yesterday", "-"], "--now"),
        (["--driver", "rad_etx", "--since", "16/06/2025", "-"], "--since"),
        (["--driver", "rad_etx", "/nonexistent/paste.txt"], "cannot read"),
        (["--driver", "juniper", "-"], "invalid choice"),
    ],
)
def test_unusable_arguments_exit_2_naming_them(args: list[str], says: str) -> None:
    code, answer, err = analyse(*args)
    assert code == 2 and answer is None
    assert says in err


@pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no shared samples at {SAMPLES}")
def test_real_cisco_samples_give_a_verdict() -> None:
    for sample in sorted(SAMPLES.glob("cisco_ios_*.txt")):
        code, answer, _ = analyse("--driver", "cisco_ios", "--now", "2025-06-20T12:00", str(sample))
        assert code == 0 and answer is not None, sample.name
        assert answer["verdict"] in {"stable", "flapping", "inconclusive"}


def test_the_command_line_entry_point_runs_it() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigie_prober",
            "analyse",
            "--driver",
            "rad_etx",
            "--now",
            "2025-06-19T09:30",
            str(DESIGN_LOG),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["stable_since"] == "2025-06-16T16:10:44+02:00"


@pytest.mark.parametrize(
    ("driver", "prompt", "command"),
    [
        ("rad_etx", "ETX203AM.MOIRANS#", "show configure reporting alarm-log"),
        ("cisco_ios", "RTR-MOIRANS#", "show logging"),
    ],
)
def test_a_command_echo_followed_by_garbage_is_not_an_empty_log(
    driver: str, prompt: str, command: str
) -> None:
    paste = f"{prompt} {command}\nasdkjh qwe 12\n%% zzz\nlorem ipsum\n{prompt}\n"

    code, answer, _ = analyse("--driver", driver, "--now", "2025-06-19T09:30", "-", stdin=paste)
    echo_only_code, echo_only, _ = analyse(
        "--driver", driver, "--now", "2025-06-19T09:30", "-", stdin=f"{prompt} {command}\n"
    )

    assert code == 0 and answer is not None
    assert answer["verdict"] == "inconclusive"
    assert answer["reason"] == "no log recognised (3 lines unread)"
    assert echo_only_code == 0 and echo_only is not None
    assert (echo_only["verdict"], echo_only["reason"]) == ("stable", "stable (empty log)")
