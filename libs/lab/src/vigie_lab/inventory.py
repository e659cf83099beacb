"""The inventory of a running lab, in the shape the prober imports.

::

    sites:
      - code: INL_MOIRA_EVPN_LA1
        service_reference: CD0HG0FDC
        devices:
          - {hostname, address, port, driver, credentials: <profile>,
             jump_host: <name or null>, timezone, known_hosts: <path relative to the data dir>}
    jump_hosts:
      - {name, address, port, credentials: <profile>, known_hosts: <path, as above>}

Devices are grouped by (site, service reference) in the order of the scenario file; a device
without a site is a site of its own, named after it. Every device is reached through the lab's
jump host when it has one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import yaml

from vigie_lab.scenario_file import DeviceSpec, JumpHostSpec

__all__ = ["KNOWN_HOSTS", "build_inventory", "write_inventory"]

KNOWN_HOSTS: Final = "known_hosts"
"""The known_hosts file, relative to the lab's data folder."""


def build_inventory(
    devices: Sequence[DeviceSpec],
    jump_host: JumpHostSpec | None,
    ports: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The inventory of these devices and jump host.

    Args:
        devices: The devices, in the scenario file's order.
        jump_host: The lab's jump host, or None.
        ports: Actual ports by device or jump host name (a running lab's); a name not in it
            keeps the port its spec gives.
    """
    ports = ports or {}
    sites: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for device in devices:
        code = device.site or device.name
        reference = device.service_reference or device.name
        sites.setdefault((code, reference), []).append(
            {
                "hostname": device.name,
                "address": device.address,
                "port": ports.get(device.name, device.port),
                "driver": device.driver,
                "credentials": device.credentials,
                "jump_host": jump_host.name if jump_host else None,
                "timezone": device.timezone,
                "known_hosts": KNOWN_HOSTS,
            }
        )
    jump_hosts = []
    if jump_host is not None:
        jump_hosts.append(
            {
                "name": jump_host.name,
                "address": jump_host.address,
                "port": ports.get(jump_host.name, jump_host.port),
                "credentials": jump_host.credentials,
                "known_hosts": KNOWN_HOSTS,
            }
        )
    return {
        "sites": [
            {"code": code, "service_reference": reference, "devices": entries}
            for (code, reference), entries in sites.items()
        ],
        "jump_hosts": jump_hosts,
    }


def write_inventory(path: Path, inventory: Mapping[str, Any], *, header: str = "") -> None:
    """Write the inventory as YAML, atomically, under an optional comment header."""
    comment = "".join(f"# {line}\n".replace("# \n", "#\n") for line in header.splitlines())
    text = comment + yaml.safe_dump(dict(inventory), sort_keys=False, allow_unicode=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
