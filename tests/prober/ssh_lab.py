"""Shared by the prober's SSH and runbook tests: the lab as the prober sees it.

The lab's passwords go to the lab through ``env`` and to the prober through a
:class:`CredentialStore` over a plain mapping: ``os.environ`` is never touched.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from vigie_lab import Lab, LabScenarios, load_scenarios, packaged_text
from vigie_prober.credentials import CredentialStore
from vigie_prober.inventory import JumpHostEntry
from vigie_prober.inventory_store import DeviceRecord
from vigie_prober.ssh import Access, AccessOptions

from tests.lab import ENV, JUMP_PASSWORD, NOW, ROUTER_PASSWORD

__all__ = [
    "CREDENTIALS",
    "JUMP_PASSWORD",
    "NOW",
    "ROUTER_PASSWORD",
    "access_to",
    "established_to",
    "records",
    "running_lab",
    "scenarios",
]

CREDENTIALS: Mapping[str, str] = {
    "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__USERNAME": "vigie",
    "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__PASSWORD": ROUTER_PASSWORD,
    "VIGIE_PROBER_CREDENTIALS__LAB_REBOND__USERNAME": "tech",
    "VIGIE_PROBER_CREDENTIALS__LAB_REBOND__PASSWORD": JUMP_PASSWORD,
}
"""The profiles of the lab's inventory (``lab-router``, ``lab-rebond``)."""


def scenarios(tmp_path: Path, text: str | None = None, **replace: str) -> LabScenarios:
    """The catalogue (or ``text``), with ``replace`` applied to its YAML, on any ports."""
    text = text if text is not None else packaged_text("catalogue.yaml")
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "scenarios.yaml"
    path.write_text(text, encoding="utf-8")
    return load_scenarios(path).with_any_ports()


@asynccontextmanager
async def running_lab(tmp_path: Path, lab_scenarios: LabScenarios) -> AsyncIterator[Lab]:
    """The lab running, its data in ``tmp_path/lab``, its clock at :data:`NOW`."""
    async with Lab.start(lab_scenarios, data_dir=tmp_path / "lab", now=NOW, env=ENV) as lab:
        yield lab


def records(lab: Lab, *, via_jump: bool = True, **changes: Any) -> dict[str, DeviceRecord]:
    """The lab's devices as the inventory gives them to the probe, by hostname."""
    inventory = lab.inventory()
    jump: JumpHostEntry | None = None
    if via_jump and inventory["jump_hosts"]:
        entry = inventory["jump_hosts"][0]
        jump = JumpHostEntry(
            name=entry["name"],
            address=entry["address"],
            port=entry["port"],
            credentials=entry["credentials"],
            known_hosts=entry["known_hosts"],
        )
    found: dict[str, DeviceRecord] = {}
    for site in inventory["sites"]:
        for device in site["devices"]:
            fields: dict[str, Any] = {
                "hostname": device["hostname"],
                "site_code": site["code"],
                "service_reference": site["service_reference"],
                "address": device["address"],
                "port": device["port"],
                "driver": device["driver"],
                "credentials": device["credentials"],
                "timezone": device["timezone"],
                "known_hosts": device["known_hosts"],
                "host_key": None,
                "jump_host": jump,
            }
            found[device["hostname"]] = DeviceRecord(**(fields | changes))
    return found


def access_to(lab: Lab, credentials: Mapping[str, str] = CREDENTIALS, **options: Any) -> Access:
    """An Access reading known_hosts paths relative to the lab's data folder."""
    settings: dict[str, Any] = {"known_hosts_folder": lab.data_dir, "connect_timeout": 5.0}
    return Access(
        credentials=CredentialStore(credentials), options=AccessOptions(**(settings | options))
    )


_TCP_LINE = re.compile(r"^\s*\d+: [0-9A-F]{8}:(?P<local>[0-9A-F]{4}) [0-9A-F]{8}:[0-9A-F]{4} 01 ")


def _tcp_lines() -> Iterator[str]:
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with Path(table).open(encoding="ascii") as file:
                yield from file
        except OSError:
            continue


def established_to(port: int) -> int:
    """Established TCP connections whose server side listens on ``port`` (kernel's count)."""
    return sum(
        1
        for line in _tcp_lines()
        if (match := _TCP_LINE.match(line)) and int(match["local"], 16) == port
    )
