"""The misbehaving routers: each fails the way its scenario says, and only that way."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncssh
import pytest
from vigie_lab import LabScenarios, packaged_scenarios

from tests.lab import RAD_LOG, connect_device, connect_jump, rad_records, running


async def test_wrong_password_refuses_every_login(tmp_path: Path) -> None:
    async with running(tmp_path) as lab:
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect_device(lab, "LAB-WRONG-PASSWORD"):
                pass
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect_device(lab, "LAB-STABLE", password="not-the-password"):
                pass
        assert lab.commands_received["LAB-WRONG-PASSWORD"] == []


async def test_host_key_changed_fails_verification_against_the_labs_known_hosts(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as lab, connect_jump(lab) as jump:
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            async with connect_device(lab, "LAB-HOST-KEY-CHANGED"):
                pass
        with pytest.raises(asyncssh.HostKeyNotVerifiable):
            async with connect_device(lab, "LAB-HOST-KEY-CHANGED", tunnel=jump):
                pass
        async with connect_device(lab, "LAB-HOST-KEY-CHANGED", known_hosts=None) as conn:
            presented = conn.get_server_host_key()

    assert presented is not None
    written = lab.devices["LAB-HOST-KEY-CHANGED"].host_key
    assert presented.export_public_key("openssh").decode().split()[1] != written.split()[1]


async def test_no_ssh_refuses_the_connection_directly_and_through_the_jump_host(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as lab, connect_jump(lab) as jump:
        with pytest.raises(ConnectionRefusedError):
            async with connect_device(lab, "LAB-NO-SSH"):
                pass
        with pytest.raises(asyncssh.ChannelOpenError, match=r"Errno 111|refused"):
            async with connect_device(lab, "LAB-NO-SSH", tunnel=jump):
                pass


async def test_hangs_after_login_until_the_client_gives_up(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_device(lab, "LAB-HANGS") as conn:
        with pytest.raises(asyncssh.TimeoutError):
            await conn.run(RAD_LOG, timeout=0.3)
        process = await conn.create_process(term_type="vt100")
        process.stdin.write(f"{RAD_LOG}\n")
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await process.stdout.read(1)
        process.close()
        with pytest.raises(asyncssh.TimeoutError):
            await conn.run("exit", timeout=0.3)

    assert lab.commands_received["LAB-HANGS"] == [RAD_LOG, RAD_LOG, "exit"]


async def test_garbage_is_no_alarm_log(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_device(lab, "LAB-GARBAGE") as conn:
        result = await conn.run(RAD_LOG, timeout=5, encoding=None)
        ping = await conn.run("ping 127.0.0.1", timeout=5)

    assert isinstance(result.stdout, bytes) and len(result.stdout) > 500
    with pytest.raises(UnicodeDecodeError):
        result.stdout.decode("utf-8")
    assert "5 packets received, 0% packet loss" in ping.stdout  # only the log is garbage


async def test_slow_drip_trickles_the_log(tmp_path: Path) -> None:
    catalogue = packaged_scenarios("catalogue.yaml").with_any_ports()
    drip = next(d for d in catalogue.devices if d.name == "LAB-SLOW-DRIP")
    fast = drip.model_copy(
        update={"scenario": drip.scenario.model_copy(update={"bytes_per_second": 1500.0})}
    )
    scenarios = LabScenarios(devices=[fast])
    async with running(tmp_path, scenarios) as lab, connect_device(lab, "LAB-SLOW-DRIP") as conn:
        started = time.monotonic()
        process = await conn.create_process(RAD_LOG)
        first = await process.stdout.read(65536)
        first_after = time.monotonic() - started
        rest = await process.stdout.read()
        total_after = time.monotonic() - started

    text = first + rest
    assert len(first) < 200  # a piece, not the log
    assert first_after < 0.5
    assert total_after >= 0.8 * len(text.encode()) / 1500
    assert len(rad_records(text)) == 4


async def test_stopping_the_lab_ends_hung_and_dripping_sessions(tmp_path: Path) -> None:
    async with running(tmp_path) as lab:
        hung = await connect_device(lab, "LAB-HANGS")
        drip = await connect_device(lab, "LAB-SLOW-DRIP")
        await hung.create_process(RAD_LOG)
        dripping = await drip.create_process(RAD_LOG)
        await dripping.stdout.read(1)
        stopping = time.monotonic()
    stopped_in = time.monotonic() - stopping

    async with asyncio.timeout(2):
        await hung.wait_closed()
        await drip.wait_closed()
    assert stopped_in < 2
