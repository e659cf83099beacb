"""The lab as the embedded run starts it: a ``vigie-lab run`` process, and the prober wired to it.

The lab is run as a process (``python -m vigie_lab run --sinks``), like the services: the
launcher learns where it listens from what it prints (its ``ready`` line, its ``inventory``
path, its mail and SMS sinks), and hands the prober that inventory, the lab's known_hosts
folder and the passwords' files (the notifier's side is :mod:`vigie_devstack.notifier`).
"""

from __future__ import annotations

import errno
import re
import socket
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from vigie_devstack.datadir import DataDir, LabPasswords
from vigie_devstack.services import KEPT_VARIABLES

__all__ = [
    "LAB_MODULE",
    "READY_LINE",
    "SEED_DEVICES",
    "SEED_JUMP_HOST",
    "SEED_SINKS",
    "LabPlaceTaken",
    "Place",
    "RunningLab",
    "RunningMailSink",
    "RunningSmsSink",
    "check_lab_places_free",
    "lab_command",
    "lab_environment",
    "parse_lab_output",
    "prober_lab_environment",
]

LAB_MODULE: Final = "vigie_lab"
READY_LINE: Final = "ready (Ctrl-C stops the lab)"
"""The last line ``vigie-lab run`` prints once every device and the jump host listen."""
ROUTER_USER: Final = "vigie"
JUMP_USER: Final = "tech"
ROUTER_PROFILE: Final = "LAB_ROUTER"
"""The seed inventory's credentials profiles (``lab-router``, ``lab-rebond``) as the prober's
variables spell them."""
JUMP_PROFILE: Final = "LAB_REBOND"

_DEVICES_LINE: Final = re.compile(r"vigie lab: (\d+) devices? started")
_JUMP_LINE: Final = re.compile(r"  jump host (\S+)\s+(\S+):(\d+)\s")
_INVENTORY_PREFIX: Final = "  inventory   "
_MAIL_LINE: Final = re.compile(r"  mail sink   (\S+):(\d+) \(.*?\), messages in (.+)$")
_SMS_LINE: Final = re.compile(r"  sms sink    (\S+) \(Bearer token in (.+?)\), messages in (.+)$")


@dataclass(frozen=True, slots=True)
class Place:
    """Where one device or the jump host of the lab listens."""

    name: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.address}:{self.port}"


SEED_JUMP_HOST: Final = Place("rebond", "127.0.10.254", 2222)
SEED_DEVICES: Final = (
    Place("RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC", "127.0.10.1", 2222),
    Place("RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7", "127.0.10.2", 2222),
    Place("RTE-INL_VOIRO_EVPN_LA1-CD0HG0VRN", "127.0.10.3", 2222),
)
"""Where the lab's seed scenario listens: a copy (tests/devstack pins it to the lab's seed), so
that ``vigie up`` checks these places before starting anything, without importing the lab."""
SEED_SINKS: Final = (
    Place("the mail sink (SMTP)", "127.0.0.1", 2525),
    Place("the SMS gateway sink (HTTP)", "127.0.0.1", 2580),
)
"""Where the lab's sinks listen by default (a copy of ``vigie_lab.main``'s, pinned by a test)."""


@dataclass(frozen=True, slots=True)
class RunningMailSink:
    """The lab's SMTP sink as it printed it: where it listens, where it writes ``.eml`` files."""

    host: str
    port: int
    folder: Path


@dataclass(frozen=True, slots=True)
class RunningSmsSink:
    """The lab's SMS gateway sink: its URL, its token's file (never the token), its folder."""

    url: str
    token_file: Path
    folder: Path


@dataclass(frozen=True, slots=True)
class RunningLab:
    """What the started lab printed: where it listens, the inventory it wrote, its sinks."""

    devices: int
    jump_host: Place | None
    inventory: Path
    mail: RunningMailSink | None = None
    sms: RunningSmsSink | None = None


class LabPlaceTaken(RuntimeError):
    """Something already listens where the lab must; the message says what to do."""


def check_lab_places_free(places: Iterable[Place]) -> None:
    """Fail before starting anything when the seed lab's fixed address:port is taken.

    Raises:
        LabPlaceTaken: Naming the place, what needs it, and the two ways out.
    """
    for place in places:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's servers do
            try:
                sock.bind((place.address, place.port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise LabPlaceTaken(
                        f"the lab cannot listen on {place} for {place.name}: "
                        f"{exc.strerror or exc} (it needs the loopback addresses 127.0.10.x)"
                    ) from None
                raise LabPlaceTaken(
                    f"{place} is already in use: the lab needs it for {place.name} (the seed "
                    "scenario's fixed places, 127.0.10.x:2222, and its sinks' 127.0.0.1:2525 "
                    "and :2580). Another lab is probably running (`vigie-lab run` or another "
                    "`vigie up`): stop it, or let this lab pick free ports with "
                    "`vigie up --lab-any-ports`"
                ) from None


def lab_command(data: DataDir, *, any_ports: bool) -> list[str]:
    """``python -m vigie_lab run --sinks`` on the seed, its files in the run's data folder.

    The lab's own files (keys, known_hosts, inventory) go to ``<data>/lab``; the sinks' messages
    to ``<data>/mail`` and ``<data>/sms`` and their token to ``<data>/sms-token``, beside the
    run's other secrets, so that a developer finds them at the top of the data folder.
    """
    command = [
        sys.executable,
        "-m",
        LAB_MODULE,
        "run",
        "--data-dir",
        str(data.lab_dir),
        "--sinks",
        "--mail-dir",
        str(data.mail_dir),
        "--sms-dir",
        str(data.sms_dir),
        "--sms-token-file",
        str(data.sms_token_file),
    ]
    return [*command, "--any-ports"] if any_ports else command  # the sinks' ports too


def lab_environment(base: Mapping[str, str], passwords: LabPasswords) -> dict[str, str]:
    """The lab's variables: its two passwords (so it never falls back on the documented ones).

    The inherited ``VIGIE_*`` variables are dropped (but :data:`KEPT_VARIABLES`), as for the
    services: a developer's own lab passwords must not replace the generated ones.
    """
    env = {k: v for k, v in base.items() if not k.startswith("VIGIE_") or k in KEPT_VARIABLES}
    env.update(
        {
            "VIGIE_LAB_ROUTER_PASSWORD": passwords.router,
            "VIGIE_LAB_JUMP_PASSWORD": passwords.jump,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def prober_lab_environment(data: DataDir, lab: RunningLab) -> dict[str, str]:
    """The prober's variables that point it at the lab: never a password, only their files."""
    credentials = "VIGIE_PROBER_CREDENTIALS__"
    return {
        "VIGIE_PROBER_INVENTORY_FILE": str(lab.inventory),  # imported at the prober's start
        "VIGIE_PROBER_SSH__KNOWN_HOSTS_FOLDER": str(data.lab_dir),
        f"{credentials}{ROUTER_PROFILE}__USERNAME": ROUTER_USER,
        f"{credentials}{ROUTER_PROFILE}__PASSWORD_FILE": str(data.lab_router_password_file),
        f"{credentials}{JUMP_PROFILE}__USERNAME": JUMP_USER,
        f"{credentials}{JUMP_PROFILE}__PASSWORD_FILE": str(data.lab_jump_password_file),
        # Layer 1 pings from the jump host, as a technician does from `rebond`: the lab's
        # addresses answer there, and the prober needs no ICMP privilege.
        "VIGIE_PROBER_PING_FROM": "jump_host",
    }


def parse_lab_output(lines: Sequence[str]) -> RunningLab | None:
    """What ``vigie-lab run`` printed, once it printed :data:`READY_LINE`; None before.

    Raises:
        ValueError: The lab is ready but printed no inventory path.
    """
    if READY_LINE not in lines:
        return None
    devices = 0
    jump_host: Place | None = None
    inventory: Path | None = None
    mail: RunningMailSink | None = None
    sms: RunningSmsSink | None = None
    for line in lines[: lines.index(READY_LINE)]:
        if found := _DEVICES_LINE.match(line):
            devices = int(found.group(1))
        elif found := _JUMP_LINE.match(line):
            jump_host = Place(found.group(1), found.group(2), int(found.group(3)))
        elif line.startswith(_INVENTORY_PREFIX):
            inventory = Path(line.removeprefix(_INVENTORY_PREFIX).strip())
        elif found := _MAIL_LINE.match(line):
            mail = RunningMailSink(found.group(1), int(found.group(2)), Path(found.group(3)))
        elif found := _SMS_LINE.match(line):
            sms = RunningSmsSink(found.group(1), Path(found.group(2)), Path(found.group(3)))
    if inventory is None:
        raise ValueError("the lab said it was ready but printed no inventory path")
    return RunningLab(devices=devices, jump_host=jump_host, inventory=inventory, mail=mail, sms=sms)
