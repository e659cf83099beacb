"""Generated fleets for tests and benchmarks, and the scenario files shipped with the lab."""

from __future__ import annotations

import ipaddress
from importlib.resources import files
from typing import Final, Literal

import yaml

from vigie_lab.credentials import JUMP_PASSWORD_ENV, ROUTER_PASSWORD_ENV
from vigie_lab.scenario_file import LabScenarios, parse_scenarios

__all__ = ["PACKAGED", "fleet_scenarios", "packaged_scenarios", "packaged_text"]

PACKAGED: Final = ("seed.yaml", "catalogue.yaml")
"""Scenario files shipped in ``vigie_lab/scenarios``; ``seed-inventory.yaml`` is the seed's
inventory."""


def packaged_text(name: str) -> str:
    """The text of a file shipped in ``vigie_lab/scenarios`` (``seed.yaml``…)."""
    return (files("vigie_lab") / "scenarios" / name).read_text(encoding="utf-8")


def packaged_scenarios(name: str = "seed.yaml") -> LabScenarios:
    """A scenario file shipped with the lab, validated.

    Raises:
        ScenarioInvalid: Never for the shipped files (a test checks).
    """
    return parse_scenarios(
        yaml.safe_load(packaged_text(name)), source=f"vigie_lab/scenarios/{name}"
    )


def fleet_scenarios(
    n: int,
    *,
    driver: Literal["rad_etx", "cisco_ios"] = "rad_etx",
    first_address: str = "127.0.20.1",
    port: int = 0,
    jump_host: bool = True,
) -> LabScenarios:
    """``n`` stable routers, each on its own loopback address, and a jump host.

    Addresses count up from ``first_address`` skipping ``.0`` and ``.255``; ``port`` 0 lets
    the system pick each port (read them from ``lab.devices``), so two labs never collide.
    Every device is stable since a day or three, at a time of day that varies per device;
    logins are ``vigie`` / ``$VIGIE_LAB_ROUTER_PASSWORD`` and ``tech`` /
    ``$VIGIE_LAB_JUMP_PASSWORD``.

    Raises:
        ValueError: When the addresses would leave 127.0.0.0/8.
    """
    address = ipaddress.IPv4Address(first_address)
    devices = []
    for index in range(n):
        while address.packed[-1] in (0, 255):
            address += 1
        if not address.is_loopback:
            raise ValueError(f"{n} devices from {first_address} leave 127.0.0.0/8")
        since = f"-{1 + index % 3}d@{8 + index % 10:02d}:{index % 60:02d}:{(7 * index) % 60:02d}"
        devices.append(
            {
                "name": f"LAB-{'ETX' if driver == 'rad_etx' else 'IOS'}-{index + 1:05d}",
                "driver": driver,
                "address": str(address),
                "port": port,
                "username": "vigie",
                "password_env": ROUTER_PASSWORD_ENV,
                "site": f"LAB_SITE_{index + 1:05d}",
                "service_reference": f"LABREF{index + 1:05d}",
                "scenario": {"kind": "stable", "since": since},
            }
        )
        address += 1
    jump = {
        "name": "rebond",
        "address": "127.0.0.1",
        "port": 0,
        "username": "tech",
        "password_env": JUMP_PASSWORD_ENV,
    }
    data = {"jump_host": jump if jump_host else None, "devices": devices}
    return parse_scenarios(data, source=f"fleet_scenarios({n})")
