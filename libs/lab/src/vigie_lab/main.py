"""``vigie-lab``: run the lab alone (for technicians and the benchmark), or check a scenario file.

::

    vigie-lab run [--scenarios FILE | --fleet N [--driver rad_etx|cisco_ios]]
                  [--data-dir DIR] [--any-ports]
                  [--sinks] [--mail-dir DIR] [--smtp-port PORT]
                  [--sms-dir DIR] [--sms-port PORT] [--sms-token-file FILE]
    vigie-lab check FILE [FILE…]

``run`` starts the fleet and the jump host, prints where each listens, the known_hosts and
inventory paths and the password variables, then ``ready``; Ctrl-C (or SIGTERM) stops it. With
no scenario it plays the seed (``vigie_lab/scenarios/seed.yaml``). Only this command falls back
on the documented development passwords (:data:`~vigie_lab.credentials.DEV_PASSWORDS`) when
``VIGIE_LAB_ROUTER_PASSWORD`` or ``VIGIE_LAB_JUMP_PASSWORD`` is unset. ``check`` exits 0 when
every file is valid, 1 otherwise, listing each problem with its device and field.

The sinks stand in for the team's SMTP relay and SMS gateway (:mod:`vigie_lab.mail_sink`,
:mod:`vigie_lab.sms_sink`): ``--sinks`` starts both, files under ``<data-dir>/mail`` and
``<data-dir>/sms``; ``--mail-dir`` or ``--sms-dir`` starts one with its files elsewhere. They
listen on ``127.0.0.1``, ports :data:`SMTP_PORT` and :data:`SMS_PORT` (any free port with
``--any-ports``, unless ``--smtp-port``/``--sms-port`` is given). The SMS token is read from
``--sms-token-file`` (default ``<data-dir>/sms-token``, made at random, 0600, when missing);
only its path is printed.
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
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import Final

from vigie_lab.credentials import DEV_PASSWORDS
from vigie_lab.errors import LabError, ListenFailed
from vigie_lab.fleet import fleet_scenarios, packaged_scenarios
from vigie_lab.lab import Lab
from vigie_lab.mail_sink import MailSink
from vigie_lab.scenario_file import LabScenarios, load_scenarios
from vigie_lab.sms_sink import SmsSink, read_or_make_token

__all__ = ["SINK_HOST", "SMS_PORT", "SMTP_PORT", "main", "run"]

_SHOWN: Final = 40
"""Devices listed one by one; the rest are in the inventory file."""
SINK_HOST: Final = "127.0.0.1"
SMTP_PORT: Final = 2525
"""The SMTP sink's port by default (a dev relay's usual one, no privilege needed)."""
SMS_PORT: Final = 2580
"""The SMS gateway sink's port by default."""


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
    sinks = run.add_argument_group(
        "sinks", "local stand-ins for the SMTP relay and the SMS gateway, on 127.0.0.1"
    )
    sinks.add_argument(
        "--sinks", action="store_true", help="start both, files in <data-dir>/mail and /sms"
    )
    sinks.add_argument("--mail-dir", type=Path, help="start the SMTP sink, .eml files here")
    sinks.add_argument("--smtp-port", type=int, help=f"its port (default {SMTP_PORT})")
    sinks.add_argument("--sms-dir", type=Path, help="start the SMS sink, .json files here")
    sinks.add_argument("--sms-port", type=int, help=f"its port (default {SMS_PORT})")
    sinks.add_argument(
        "--sms-token-file",
        type=Path,
        help="its bearer token (default <data-dir>/sms-token, made when missing)",
    )
    check = commands.add_parser("check", help="validate scenario files")
    check.add_argument("files", type=Path, nargs="+")
    return parser


def _scenarios(args: argparse.Namespace) -> LabScenarios:
    if args.fleet is not None:
        return fleet_scenarios(args.fleet, driver=args.driver)
    scenarios = load_scenarios(args.scenarios) if args.scenarios else packaged_scenarios()
    return scenarios.with_any_ports() if args.any_ports else scenarios


def _sink_paths(args: argparse.Namespace) -> None:
    """Settle where each sink writes (None: not started) and the token file, as full paths."""
    data: Path = args.data_dir
    mail: Path | None = args.mail_dir or (data / "mail" if args.sinks else None)
    sms: Path | None = args.sms_dir or (data / "sms" if args.sinks else None)
    token: Path = args.sms_token_file or data / "sms-token"
    args.mail_dir = mail.resolve() if mail else None
    args.sms_dir = sms.resolve() if sms else None
    args.sms_token_file = token.resolve()


def _sink_port(given: int | None, default: int, any_ports: bool) -> int:
    if given is not None:
        return given
    return 0 if any_ports else default


async def _start_sinks(args: argparse.Namespace, stack: AsyncExitStack) -> list[str]:
    """Start the sinks asked for; the lines saying where they listen and write."""
    mail_dir: Path | None = args.mail_dir
    sms_dir: Path | None = args.sms_dir
    lines = []
    if mail_dir is not None:
        port = _sink_port(args.smtp_port, SMTP_PORT, args.any_ports)
        mail = await stack.enter_async_context(MailSink.start(mail_dir, host=SINK_HOST, port=port))
        lines.append(
            f"  mail sink   {mail.host}:{mail.port} (SMTP, no AUTH, no TLS), messages in {mail_dir}"
        )
    if sms_dir is not None:
        token_file: Path = args.sms_token_file
        token = await asyncio.to_thread(read_or_make_token, token_file)
        port = _sink_port(args.sms_port, SMS_PORT, args.any_ports)
        sms = await stack.enter_async_context(
            SmsSink.start(sms_dir, host=SINK_HOST, port=port, token=token)
        )
        lines.append(
            f"  sms sink    {sms.url} (Bearer token in {token_file}), messages in {sms_dir}"
        )
    return lines


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
    async with AsyncExitStack() as stack:
        lab = await stack.enter_async_context(Lab.start(scenarios, data_dir=args.data_dir, env=env))
        elapsed = time.perf_counter() - started
        inventory = lab.write_inventory()
        lines = _summary(lab, scenarios, elapsed) + notes
        lines += [
            f"  known_hosts {lab.known_hosts.resolve()}",
            f"  inventory   {inventory.resolve()}",
        ]
        lines += await _start_sinks(args, stack)
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
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        return _check(args.files)
    if args.smtp_port is not None and not (args.sinks or args.mail_dir):
        parser.error("--smtp-port needs --sinks or --mail-dir")
    if (args.sms_port is not None or args.sms_token_file) and not (args.sinks or args.sms_dir):
        parser.error("--sms-port and --sms-token-file need --sinks or --sms-dir")
    _sink_paths(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: a line per command
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
