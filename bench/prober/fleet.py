"""The lab's fleet as the contenders see it: read from the inventory the lab process wrote.

Every contender reads the same file, so they all probe the same routers on the same ports.
Passwords never travel on a command line: the harness hands them to the lab and to each
contender in the lab's own variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

ROUTER_PASSWORD_ENV: Final = "VIGIE_LAB_ROUTER_PASSWORD"
JUMP_PASSWORD_ENV: Final = "VIGIE_LAB_JUMP_PASSWORD"
ROUTER_USER: Final = "vigie"
JUMP_USER: Final = "tech"


@dataclass(frozen=True)
class Router:
    """One lab router, as the inventory gives it."""

    hostname: str
    site_code: str
    service_reference: str
    address: str
    port: int
    driver: str
    credentials: str
    timezone: str
    known_hosts: str


@dataclass(frozen=True)
class Jump:
    """The lab's jump host, as the inventory gives it."""

    name: str
    address: str
    port: int
    credentials: str
    known_hosts: str


@dataclass(frozen=True)
class Fleet:
    """The routers (inventory order), the jump host, and where known_hosts paths are read."""

    routers: tuple[Router, ...]
    jump: Jump | None
    data_dir: Path

    @property
    def known_hosts(self) -> Path:
        """The lab's one known_hosts file (every entry names the same relative path)."""
        return self.data_dir / self.routers[0].known_hosts

    def first(self, n: int) -> tuple[Router, ...]:
        """The first ``n`` routers (all of them when ``n`` is larger)."""
        return self.routers[:n]


def read_fleet(inventory: Path) -> Fleet:
    """Read the inventory YAML the running lab wrote beside its data.

    Raises:
        ValueError: The file holds no router.
    """
    data: dict[str, Any] = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    routers = tuple(
        Router(
            hostname=device["hostname"],
            site_code=site["code"],
            service_reference=site["service_reference"],
            address=device["address"],
            port=int(device["port"]),
            driver=device["driver"],
            credentials=device["credentials"],
            timezone=device["timezone"],
            known_hosts=device["known_hosts"],
        )
        for site in data["sites"]
        for device in site["devices"]
    )
    if not routers:
        raise ValueError(f"{inventory}: no router in the inventory")
    jumps = data.get("jump_hosts") or []
    jump = None
    if jumps:
        entry = jumps[0]
        jump = Jump(
            name=entry["name"],
            address=entry["address"],
            port=int(entry["port"]),
            credentials=entry["credentials"],
            known_hosts=entry["known_hosts"],
        )
    return Fleet(routers=routers, jump=jump, data_dir=inventory.parent)


@dataclass(frozen=True)
class Passwords:
    """The lab's two passwords, read from the environment the harness gave."""

    router: str
    jump: str

    @classmethod
    def from_env(cls) -> Passwords:
        """Both passwords; a missing one is a harness bug.

        Raises:
            KeyError: A variable is unset.
        """
        return cls(router=os.environ[ROUTER_PASSWORD_ENV], jump=os.environ[JUMP_PASSWORD_ENV])
