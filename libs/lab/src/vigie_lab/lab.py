"""The lab: the simulated fleet and its jump host on loopback, their keys and known_hosts.

::

    async with Lab.start(scenarios, data_dir=tmp_path, now=frozen, env={...}) as lab:
        device = lab.devices["RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC"]
        async with asyncssh.connect(lab.jump_host.address, lab.jump_host.port, ...,
                                    known_hosts=str(lab.known_hosts)) as jump:
            async with asyncssh.connect(device.address, device.port, tunnel=jump, ...) as cpe:
                ...
        assert lab.commands_received[device.name] == ["show configure reporting alarm-log"]

Each device listens on its own address and port (one asyncssh listener each, about 0.7 ms a
device to start); a ``no_ssh`` device holds its port with nothing listening, so connections
are refused. Times in the scenarios count from the lab's start, read from ``now`` (a fixed
instant, a clock function, or the system's).
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncssh

from vigie_lab.devices import Device, LabDevice
from vigie_lab.errors import ListenFailed, ScenarioInvalid
from vigie_lab.inventory import KNOWN_HOSTS, build_inventory, write_inventory
from vigie_lab.jump_host import JumpHost, jump_options
from vigie_lab.keys import known_hosts_line, write_known_hosts
from vigie_lab.kinds import NoSsh
from vigie_lab.routers import router_options
from vigie_lab.scenario_file import LabScenarios, load_scenarios, problems
from vigie_lab.startup import Now, clock_of, prepare

__all__ = ["Lab", "LabJumpHost", "Now"]

_CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class LabJumpHost:
    """Where the jump host listens, and what it was asked.

    Attributes:
        name: Its name (``rebond``).
        address: Loopback address.
        port: Port.
        username: Its login.
        host_key: Its key as in known_hosts.
        commands: Every command its sessions received (live list).
        refused: Every forwarding it refused, ``(host, port)`` as asked (live list).
    """

    name: str
    address: str
    port: int
    username: str
    host_key: str
    commands: list[str]
    refused: list[tuple[str, int]]


def _public_key(key: asyncssh.SSHKey) -> str:
    return " ".join(key.export_public_key("openssh").decode("ascii").split()[:2])


class Lab:
    """A running lab; made by :meth:`start`, stopped when its ``async with`` block ends."""

    def __init__(
        self, *, data_dir: Path, started_at: datetime, devices: list[Device], jump: JumpHost | None
    ) -> None:
        self.data_dir = data_dir
        self.started_at = started_at
        self.known_hosts = data_dir / KNOWN_HOSTS
        self._devices = devices
        self._jump = jump
        self._listeners: list[asyncssh.SSHAcceptor] = []
        self._held: list[socket.socket] = []

    @classmethod
    @asynccontextmanager
    async def start(
        cls,
        scenarios: LabScenarios | Path,
        *,
        data_dir: Path,
        now: Now = None,
        env: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Lab]:
        """Start every device and the jump host, write known_hosts; stop them all on exit.

        Args:
            scenarios: The lab to play, or a scenario file.
            data_dir: Where the host-key seed and known_hosts live (made if missing).
            now: The lab's clock (see :data:`Now`).
            env: Where ``password_env`` variables are read (default: the process's).

        Raises:
            ScenarioInvalid: A problem in the scenarios (every one listed).
            CredentialsMissing: A password variable or file is not there.
            ListenFailed: An address or port is taken or cannot be bound.
        """
        lab = await cls._open(scenarios, data_dir=data_dir, now=now, env=env)
        try:
            yield lab
        finally:
            await lab.close()

    @classmethod
    async def _open(
        cls,
        scenarios: LabScenarios | Path,
        *,
        data_dir: Path,
        now: Now,
        env: Mapping[str, str] | None,
    ) -> Lab:
        if isinstance(scenarios, Path):
            scenarios = load_scenarios(scenarios)
        found = problems(scenarios)
        if found:
            raise ScenarioInvalid("<scenarios>", found)
        clock = clock_of(now)
        started = clock()
        devices, jump = prepare(
            scenarios, data_dir, started, clock, os.environ if env is None else env
        )
        lab = cls(data_dir=data_dir, started_at=started, devices=devices, jump=jump)
        try:
            await lab._listen()
        except BaseException:
            await lab.close()
            raise
        return lab

    async def _listen(self) -> None:
        for device in self._devices:
            await self._listen_device(device)
        lines = [known_hosts_line(d.spec.address, d.port, d.known_key) for d in self._devices]
        if self._jump is not None:
            jump = self._jump
            jump.allowed = {(d.spec.address, d.port) for d in self._devices}
            jump.answering = {d.spec.address for d in self._devices if d.answers_ping}
            where = f"jump_host {jump.spec.name}"
            listener = await self._listen_on(
                where, jump.spec.address, jump.spec.port, jump_options(jump)
            )
            jump.port = listener.get_port()
            lines.insert(0, known_hosts_line(jump.spec.address, jump.port, jump.key))
        write_known_hosts(self.known_hosts, lines)

    async def _listen_device(self, device: Device) -> None:
        address, port = device.spec.address, device.spec.port
        if isinstance(device.spec.scenario, NoSsh):
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            held = socket.socket(family, socket.SOCK_STREAM)
            try:
                held.bind((address, port))  # bound, never listening: connections are refused
            except OSError as error:
                held.close()
                raise ListenFailed(f"device {device.name}", address, port, str(error)) from None
            self._held.append(held)
            device.port = held.getsockname()[1]
            return
        listener = await self._listen_on(
            f"device {device.name}", address, port, router_options(device)
        )
        device.port = listener.get_port()

    async def _listen_on(
        self, where: str, address: str, port: int, options: asyncssh.SSHServerConnectionOptions
    ) -> asyncssh.SSHAcceptor:
        try:
            listener = await asyncssh.listen(address, port, options=options)
        except OSError as error:
            raise ListenFailed(where, address, port, error.strerror or str(error)) from None
        self._listeners.append(listener)
        return listener

    async def close(self) -> None:
        """Stop listening, close every connection and session; idempotent."""
        for listener in self._listeners:
            listener.close()
        holders: list[Device | JumpHost] = [*self._devices]
        if self._jump is not None:
            holders.append(self._jump)
        connections = [conn for holder in holders for conn in holder.connections]
        for conn in connections:
            conn.close()
        waits = [listener.wait_closed() for listener in self._listeners]
        waits += [conn.wait_closed() for conn in connections]
        if waits:
            await asyncio.wait([asyncio.ensure_future(w) for w in waits], timeout=_CLOSE_TIMEOUT)
        tasks = [task for holder in holders for task in holder.tasks]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT)
        for held in self._held:
            held.close()
        self._listeners.clear()
        self._held.clear()

    @property
    def devices(self) -> Mapping[str, LabDevice]:
        """Each device by name: where it listens, its login, its key."""
        return {
            d.name: LabDevice(
                name=d.name,
                driver=d.spec.driver,
                address=d.spec.address,
                port=d.port,
                username=d.spec.username,
                timezone=d.spec.timezone,
                scenario=d.spec.scenario.kind,
                host_key=_public_key(d.known_key),
            )
            for d in self._devices
        }

    @property
    def jump_host(self) -> LabJumpHost | None:
        """The jump host, or None when the scenarios have none."""
        jump = self._jump
        if jump is None:
            return None
        return LabJumpHost(
            name=jump.spec.name,
            address=jump.spec.address,
            port=jump.port,
            username=jump.spec.username,
            host_key=_public_key(jump.key),
            commands=jump.commands,
            refused=jump.refused,
        )

    @property
    def commands_received(self) -> Mapping[str, list[str]]:
        """Every command each device received, as sent (live lists), for allow-list checks."""
        return {d.name: d.commands for d in self._devices}

    def inventory(self) -> dict[str, Any]:
        """The inventory of this lab as it runs (actual ports), in the prober's shape."""
        ports = {d.name: d.port for d in self._devices}
        jump = None
        if self._jump is not None:
            jump = self._jump.spec
            ports[jump.name] = self._jump.port
        return build_inventory([d.spec for d in self._devices], jump, ports)

    def write_inventory(self, path: Path | None = None) -> Path:
        """Write :meth:`inventory` (default ``<data_dir>/inventory.yaml``); return the path."""
        target = path or self.data_dir / "inventory.yaml"
        header = "vigie lab inventory, written by the running lab (actual ports).\n"
        write_inventory(target, self.inventory(), header=header)
        return target
