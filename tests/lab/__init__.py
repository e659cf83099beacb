"""Tests of the lab (vigie_lab): scenarios, histories, and real SSH on loopback.

Shared here (the lab's tests own no conftest): the test passwords, handed to the lab through
``env`` (never through ``os.environ``), and helpers that log in with asyncssh as a client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
from vigie_lab import Lab, LabScenarios, Now, packaged_scenarios

ROUTER_PASSWORD = "router-test-password"
JUMP_PASSWORD = "jump-test-password"
ENV = {"VIGIE_LAB_ROUTER_PASSWORD": ROUTER_PASSWORD, "VIGIE_LAB_JUMP_PASSWORD": JUMP_PASSWORD}
NOW = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
"""The real ticket was worked on 19/06 (11:00 in Paris): the seed's log then is design §1's."""
RAD_LOG = "show configure reporting alarm-log"


def catalogue() -> LabScenarios:
    """One device of every kind (the shipped catalogue), on ports the system picks."""
    return packaged_scenarios("catalogue.yaml").with_any_ports()


@asynccontextmanager
async def running(
    tmp_path: Path, scenarios: LabScenarios | None = None, *, now: Now = NOW
) -> AsyncIterator[Lab]:
    """The catalogue (or ``scenarios``) running, its data in ``tmp_path/lab``."""
    async with Lab.start(
        scenarios or catalogue(), data_dir=tmp_path / "lab", now=now, env=ENV
    ) as lab:
        yield lab


def client_options(lab: Lab, **overrides: Any) -> dict[str, Any]:
    """Client options that read nothing from the tester's ~/.ssh and check the lab's keys."""
    options: dict[str, Any] = {
        "known_hosts": str(lab.known_hosts),
        "client_keys": None,
        "agent_path": None,
        "config": None,
        "connect_timeout": 5,
    }
    options.update(overrides)
    return options


def connect_device(
    lab: Lab, name: str, *, tunnel: asyncssh.SSHClientConnection | None = None, **overrides: Any
) -> Any:
    """``asyncssh.connect`` to a device (``async with``), directly or through ``tunnel``."""
    device = lab.devices[name]
    options = client_options(lab, **{"username": "vigie", "password": ROUTER_PASSWORD, **overrides})
    if tunnel is not None:
        options["tunnel"] = tunnel
    return asyncssh.connect(device.address, device.port, **options)


def connect_jump(lab: Lab, **overrides: Any) -> Any:
    """``asyncssh.connect`` to the jump host (``async with``)."""
    jump = lab.jump_host
    assert jump is not None
    options = client_options(lab, **{"username": "tech", "password": JUMP_PASSWORD, **overrides})
    return asyncssh.connect(jump.address, jump.port, **options)


def rad_records(text: str) -> list[tuple[int, str, str, str]]:
    """(index, alarm, date, time) of each alarm-log record: its three lines read back."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    records = []
    for first, second, third in zip(lines[::3], lines[1::3], lines[2::3], strict=False):
        index, alarm = first.split(maxsplit=1)
        records.append((int(index), alarm, second.split()[0], third.split()[0]))
    return records
