"""``vigie-lab``: run the lab alone (for technicians and the benchmark), or check a scenario file.

::

    vigie-lab run [--scenarios FILE | --fleet N [--driver rad_etx|cisco_ios]]
                  [--data-dir DIR] [--any-ports]
    vigie-lab check FILE [FILE…]

``run`` starts the fleet and the jump host, prints where each listens, the known_hosts and
inventory paths and the password variables, then ``ready``; Ctrl-C (or SIGTERM) stops it. With
no scenario it plays the seed (``vigie_lab/scenarios/seed.yaml``). Only this command falls back
on the documented development passwords (:data:`~vigie_lab.credentials.DEV_PASSWORDS`) when
``VIGIE_LAB_ROUTER_PASSWORD`` or ``VIGIE_LAB_JUMP_PASSWORD`` is unset. ``check`` exits 0 when
every file is valid, 1 otherwise, listing each problem with its device and field.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path
from typing import Final

from vigie_lab.credentials import DEV_PASSWORDS
from vigie_lab.errors import LabError, ListenFailed
from vigie_lab.fleet import fleet_scenarios, packaged_scenarios
from vigie_lab.lab import Lab
from vigie_lab.scenario_file import LabScenarios, load_scenarios

__all__ = ["main", "run"]

_SHOWN: Final = 40
"""Devices listed one by one; the rest are in the inventory file."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigie-lab",
        description="vigie's lab: simulated CPE routers and a jump host over SSH, on loopback.",
        epilog=(
            "Passwords: VIGIE_LAB_ROUTER_PASSWORD (routers, user vigie) and "
            "VIGIE_LAB_JUMP_PASSWORD (jump host, user tech) for the shipped scenarios; when "
            "unset, `run` uses the development passwords "
            + " and ".join(repr(v) for v in DEV_PASSWORDS.values())
            + " (lab use only)."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the fleet and the jump host until Ctrl-C")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--scenarios", type=Path, help="scenario file (default: the seed)")
    source.add_argument("--fleet", type=int, metavar="N", help="N stable routers instead")
    run.add_argument("--driver", choices=("rad_etx", "cisco_ios"), default="rad_etx")
    run.add_argument("--data-dir", type=Path, default=Path(".vigie/lab"), help="keys, known_hosts")
    run.add_argument("--any-ports", action="store_true", help="let the system pick every port")
    check = commands.add_parser("check", help="validate scenario files")
    check.add_argument("files", type=Path, nargs="+")
    return parser


def _scenarios(args: argparse.Namespace) -> LabScenarios:
    if args.fleet is not None:
        return fleet_scenarios(args.fleet, driver=args.driver)
    scenarios = load_scenarios(args.scenarios) if args.scenarios else packaged_scenarios()
    return scenarios.with_any_ports() if args.any_ports else scenarios


def _env(out: list[str]) -> dict[str, str]:
    env = dict(os.environ)
    for variable, value in DEV_PASSWORDS.items():
        if not env.get(variable):
            env[variable] = value
            out.append(f"  {variable} is unset: using the lab's development password {value!r}")
    return env


def _summary(lab: Lab, scenarios: LabScenarios, elapsed: float) -> list[str]:
    lines = [f"vigie lab: {len(lab.devices)} devices started in {elapsed:.2f} s"]
    jump, spec = lab.jump_host, scenarios.jump_host
    if jump is not None and spec is not None:
        lines.append(
            f"  jump host {jump.name:<36} {jump.address}:{jump.port:<6} user {jump.username}, "
            f"password {_password_source(spec.password_env, spec.password_file)}"
        )
    by_name = {spec.name: spec for spec in scenarios.devices}
    for index, device in enumerate(lab.devices.values()):
        if index == _SHOWN:
            lines.append(f"  … {len(lab.devices) - _SHOWN} more in the inventory file")
            break
        spec_d = by_name[device.name]
        lines.append(
            f"  {device.driver:<9} {device.name:<36} {device.address}:{device.port:<6} "
            f"{device.scenario}, user {device.username}, password "
            f"{_password_source(spec_d.password_env, spec_d.password_file)}"
        )
    return lines


def _password_source(variable: str | None, file: Path | None) -> str:
    return f"${variable}" if variable else f"in {file}"


async def _run(args: argparse.Namespace) -> int:
    notes: list[str] = []
    env = _env(notes)
    scenarios = _scenarios(args)
    started = time.perf_counter()
    async with Lab.start(scenarios, data_dir=args.data_dir, env=env) as lab:
        elapsed = time.perf_counter() - started
        inventory = lab.write_inventory()
        lines = _summary(lab, scenarios, elapsed) + notes
        lines += [
            f"  known_hosts {lab.known_hosts.resolve()}",
            f"  inventory   {inventory.resolve()}",
        ]
        lines.append("ready (Ctrl-C stops the lab)")
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
    sys.stdout.write("vigie lab stopped\n")
    return 0


def _check(files: Sequence[Path]) -> int:
    status = 0
    for path in files:
        try:
            scenarios = load_scenarios(path)
        except LabError as error:
            sys.stdout.write(f"{error}\n")
            status = 1
            continue
        jump = f", jump host {scenarios.jump_host.name}" if scenarios.jump_host else ""
        sys.stdout.write(f"{path}: ok, {len(scenarios.devices)} devices{jump}\n")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status (2 on unusable arguments, from argparse)."""
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args.files)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    try:
        return asyncio.run(_run(args))
    except ListenFailed as error:
        sys.stderr.write(f"vigie-lab: {error} (another lab running? --any-ports picks free ones)\n")
        return 1
    except LabError as error:
        sys.stderr.write(f"vigie-lab: {error}\n")
        return 1


def run() -> None:
    """The ``vigie-lab`` entry point."""
    with suppress(KeyboardInterrupt):
        sys.exit(main())
