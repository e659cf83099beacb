"""The jump host: its own login, forwarding to the fleet only, Linux ping."""

from __future__ import annotations

import re
from pathlib import Path

import asyncssh
import pytest

from tests.lab import connect_jump, running

REPLY = re.compile(r"^64 bytes from 127\.0\.11\.1: icmp_seq=(\d) ttl=60 time=[\d.]+ ms$")


async def test_forwarding_goes_to_the_fleet_only(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_jump(lab) as jump:
        device = lab.devices["LAB-STABLE"]
        _, allowed = await jump.open_connection(device.address, device.port)
        allowed.close()
        for host, port in [
            ("127.0.0.99", 22),  # not in the fleet
            (device.address, device.port + 1),  # a fleet address, another port
            ("localhost", device.port),  # names are not resolved
        ]:
            with pytest.raises(asyncssh.ChannelOpenError) as refused:
                await jump.open_connection(host, port)
            assert refused.value.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED
            assert "not a lab device" in refused.value.reason

    jump_host = lab.jump_host
    assert jump_host is not None
    assert jump_host.refused == [
        ("127.0.0.99", 22),
        (device.address, device.port + 1),
        ("localhost", device.port),
    ]


async def test_jump_host_pings_like_linux(tmp_path: Path) -> None:
    async with running(tmp_path) as lab, connect_jump(lab) as jump:
        up = await jump.run("ping -c 5 127.0.11.1", timeout=5)
        down = await jump.run("ping -c 3 127.0.11.5", timeout=5)  # LAB-NO-SSH
        stranger = await jump.run("ping -c 2 -W 1 127.0.0.99", timeout=5)
        usage = await jump.run("ping -c", timeout=5)
        other = await jump.run("cat /etc/shadow", timeout=5)

    lines = str(up.stdout).splitlines()
    assert up.exit_status == 0
    assert lines[0] == "PING 127.0.11.1 (127.0.11.1) 56(84) bytes of data."
    assert [REPLY.match(line)[1] for line in lines[1:6]] == ["1", "2", "3", "4", "5"]  # type: ignore[index]
    assert lines[7] == "--- 127.0.11.1 ping statistics ---"
    assert lines[8].startswith("5 packets transmitted, 5 received, 0% packet loss, time 40")
    assert re.fullmatch(r"rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms", lines[9])
    assert down.exit_status == 1
    assert "3 packets transmitted, 0 received, 100% packet loss" in str(down.stdout)
    assert stranger.exit_status == 1
    assert usage.exit_status == 2
    assert other.exit_status == 127
    assert other.stdout == "-bash: cat: command not found\n"
    assert lab.jump_host is not None
    assert lab.jump_host.commands[-1] == "cat /etc/shadow"


async def test_jump_host_has_its_own_login(tmp_path: Path) -> None:
    async with running(tmp_path) as lab:
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect_jump(lab, password="router-test-password"):
                pass
        async with connect_jump(lab) as jump:
            process = await jump.create_process(term_type="vt100")
            process.stdin.write("ping -q -c 1 127.0.11.2\nexit\n")
            output = await process.stdout.read()

    assert output.startswith("[tech@rebond ~]$ ping -q -c 1 127.0.11.2\r\n")
    assert "1 packets transmitted, 1 received, 0% packet loss" in output
