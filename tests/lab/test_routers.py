"""The simulated routers over real SSH on loopback: exec and shell, direct and via the jump host."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

import asyncssh
import pytest

from tests.lab import NOW, RAD_LOG, connect_device, connect_jump, rad_records, running

SITE_A = "LAB-STABLE"


async def _shell(conn: asyncssh.SSHClientConnection, typed: str, *, until: str) -> str:
    """Type ``typed`` into an interactive shell (with a terminal) and read until ``until``."""
    process = await conn.create_process(term_type="vt100", term_size=(132, 40))
    process.stdin.write(typed)
    output = ""
    async with asyncio.timeout(5):
        while until not in output:
            chunk = await process.stdout.read(65536)
            if not chunk:
                break
            output += chunk
    process.close()
    return output


async def test_rad_exec_prints_the_alarm_log(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_device(lab, SITE_A) as conn:
        result = await conn.run(RAD_LOG, timeout=5)

    records = rad_records(str(result.stdout))
    assert result.exit_status == 0
    assert [(r[0], r[2], r[3]) for r in records] == [
        (1, "2025-06-16", "16:10:44.00"),
        (2, "2025-06-16", "16:10:37.00"),
        (3, "2025-06-16", "16:08:44.00"),
        (4, "2025-06-16", "16:08:43.00"),
    ]
    assert lab.commands_received[SITE_A] == [RAD_LOG]


async def test_rad_shell_prompts_echoes_answers_and_exits(tmp_path: Path) -> None:
    prompt = "ETX203AM.LAB-STABLE#"
    async with running(tmp_path) as lab, connect_device(lab, SITE_A) as conn:
        output = await _shell(conn, f"{RAD_LOG}\rping 127.0.0.1\rexit\r", until="round-trip")

    assert output.startswith(f"\r\n{prompt}{RAD_LOG}\r\n1      Remote defect indication (RDI)\r\n")
    assert f"{prompt}ping 127.0.0.1\r\nPING 127.0.0.1: 56 data bytes\r\n" in output
    assert "5 packets transmitted. 5 packets received, 0% packet loss\r\n" in output
    assert "round-trip (ms) min/avg/max = 1/1/1\r\n" in output
    assert lab.commands_received[SITE_A] == [RAD_LOG, "ping 127.0.0.1", "exit"]


async def test_cisco_pages_until_terminal_length_0(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_device(lab, "LAB-IOS-FLAPPING") as conn:
        paged = await _shell(conn, "show logging\n", until="--More--")
        whole = await _shell(
            conn, "terminal length 0\nshow logging\n", until="changed state to up\r\nLAB"
        )
        exec_result = await conn.run("show logging", timeout=5)

    assert paged.count("\r\n") < 30
    assert "--More--" not in whole
    assert whole.count("%LINK-3-UPDOWN") == 12
    assert str(exec_result.stdout).count("%LINEPROTO-5-UPDOWN") == 12
    assert lab.commands_received["LAB-IOS-FLAPPING"] == [
        "show logging",
        "terminal length 0",
        "show logging",
        "show logging",
    ]


async def test_other_commands_are_refused_recorded_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="vigie_lab")
    async with running(tmp_path) as lab, connect_device(lab, SITE_A) as conn:
        refused = await conn.run("configure terminal", timeout=5)
        abbreviated = await conn.run("sh conf rep alarm-log", timeout=5)
        shell = await _shell(conn, "reload\r", until="marker.")

    assert refused.exit_status == 1
    assert refused.stdout == "% Invalid input detected at '^' marker.\r\n"
    assert abbreviated.exit_status == 1
    assert "                    ^\r\n% Invalid input detected at '^' marker." in shell
    assert lab.commands_received[SITE_A] == [
        "configure terminal",
        "sh conf rep alarm-log",
        "reload",
    ]
    assert "invalid command 'reload'" in caplog.text


async def test_cisco_ping_answers_as_ios(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_device(lab, "LAB-IOS-STABLE") as conn:
        result = await conn.run("ping 127.0.10.1", timeout=5)

    assert "Success rate is 100 percent (5/5), round-trip min/avg/max = 1/1/2 ms" in result.stdout


async def test_every_answering_scenario_through_the_jump_host(tmp_path: Path) -> None:
    expected_records = {
        "LAB-STABLE": 4,
        "LAB-FLAPPING": 24,
        "LAB-FLAPPED": 20,
        "LAB-OBSERVED": 4,
        "LAB-HOST-KEY-CHANGED": 4,  # accepted here only because the key is not checked
    }
    got = {}
    async with running(tmp_path) as lab, connect_jump(lab) as jump:
        for name in expected_records:
            known_hosts = None if name == "LAB-HOST-KEY-CHANGED" else str(lab.known_hosts)
            async with connect_device(lab, name, tunnel=jump, known_hosts=known_hosts) as conn:
                result = await conn.run(RAD_LOG, timeout=5)
                got[name] = len(rad_records(str(result.stdout)))

    assert got == expected_records


async def test_alarms_keep_arriving_while_the_lab_is_observed(tmp_path: Path) -> None:
    clock = [NOW]

    def now() -> datetime:
        return clock[0]

    async with running(tmp_path, now=now) as lab, connect_device(lab, "LAB-OBSERVED") as conn:
        before = await conn.run(RAD_LOG, timeout=5)
        clock[0] = NOW + timedelta(minutes=2, seconds=10)
        during = await conn.run(RAD_LOG, timeout=5)
        clock[0] = NOW + timedelta(minutes=8)
        after = await conn.run(RAD_LOG, timeout=5)

    assert [len(rad_records(str(r.stdout))) for r in (before, during, after)] == [4, 6, 12]
    newest = rad_records(str(during.stdout))[0]
    assert newest[1:] == ("Remote defect indication (RDI)", "2025-06-19", "11:02:01.00")
