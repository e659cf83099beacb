"""``vigie up`` and ``vigie sample``: the command line of the embedded run, and its composition."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from typing import Final

from vigie_common.logs import configure_logging

from vigie_devstack.datadir import DataDir, SecretFileError, read_secret
from vigie_devstack.demo import DEFAULT_TIMEOUT_S, DemoOptions, run_demo
from vigie_devstack.lab import RunningLab
from vigie_devstack.sample import (
    SAMPLES,
    STATES,
    IngestUnreachable,
    notifier_urls,
    sample_ticket,
    send_sample,
    verdict_url,
)
from vigie_devstack.services import HOST, Ports, observation_timing
from vigie_devstack.stack import Stack, StackError, log_tail

DEFAULT_DATA_DIR: Final = ".vigie"
DEFAULT_INGEST_PORT: Final = 8000
DEFAULT_PROBER_PORT: Final = 9101
DEFAULT_NOTIFIER_PORT: Final = 9102


def say(line: str) -> None:
    """One progress line on stdout, flushed at once (the terminal may be a pipe)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def complain(line: str) -> None:
    """One error line on stderr."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def report_failure(error: StackError) -> None:
    """The error, then the tail of the log that explains it."""
    complain(f"vigie: {error}")
    if error.log_file is None:
        return
    tail = log_tail(error.log_file)
    if tail:
        complain(f"--- last {len(tail)} lines of {error.log_file} ---")
        for line in tail:
            complain(line)
        complain("---")
    else:
        complain(f"(nothing in {error.log_file})")


def _sample_flags(data: DataDir, data_dir_arg: str, ports: Ports) -> list[str]:
    """The flags ``vigie sample`` needs to reach this run (none on the defaults)."""
    extra: list[str] = []
    if data_dir_arg != DEFAULT_DATA_DIR:
        extra += ["--data-dir", str(data.root)]
    if ports.ingest != DEFAULT_INGEST_PORT:
        extra += ["--ingest-port", str(ports.ingest)]
    if ports.prober != DEFAULT_PROBER_PORT:
        extra += ["--prober-port", str(ports.prober)]  # where it reads the verdict back
    if ports.notifier != DEFAULT_NOTIFIER_PORT:
        extra += ["--notifier-port", str(ports.notifier)]  # its notifications and GTR clock
    return extra


def sample_command(data: DataDir, data_dir_arg: str, ports: Ports) -> str:
    """The command that sends a sample to this run, with the flags it needs."""
    extra = _sample_flags(data, data_dir_arg, ports)
    command = shlex.join(["uv", "run", "vigie", "sample", *extra])
    return command if extra else f"{command}   (or: make sample)"


def closing_command(data: DataDir, data_dir_arg: str, ports: Ports, numero: str) -> str:
    """The command that sends the closure of the sample ticket ``numero`` to this run."""
    flags = _sample_flags(data, data_dir_arg, ports)
    return shlex.join(
        ["uv", "run", "vigie", "sample", *flags, "--numero", numero, "--state", "closed"]
    )


def lab_rows(lab: RunningLab, data: DataDir) -> list[tuple[str, str]]:
    """Where the lab listens, its inventory and its passwords' files (never their content)."""
    interval, window = observation_timing(os.environ)  # checked at start
    jump = (
        f"{lab.jump_host} ({lab.jump_host.name}, user tech), {lab.devices} devices behind it"
        if lab.jump_host
        else f"no jump host, {lab.devices} devices"
    )
    return [
        ("lab (SSH)", f"{jump}: log {data.log_file('lab')}"),
        ("lab inventory", f"{lab.inventory} (imported by the prober at start)"),
        (
            "lab passwords",
            f"{data.lab_router_password_file} (routers, user vigie), "
            f"{data.lab_jump_password_file} (jump host)",
        ),
        (
            "probe timings",
            "open ticket: one probe at once; restored: every "
            f"{interval:g} s for {window:g} s (dev run)",
        ),
    ]


def notifier_rows(stack: Stack) -> list[tuple[str, str]]:
    """Where the notifier's mail and SMS land, its contacts, and its read API's URLs."""
    data = stack.data
    lab = stack.lab
    rows: list[tuple[str, str]] = []
    if lab is not None and lab.mail is not None:
        rows += [
            ("mail sink", f"{lab.mail.host}:{lab.mail.port} (SMTP, no AUTH, no TLS; the lab's)"),
            ("mail folder", f"{lab.mail.folder}/ (every mail the notifier sends, one .eml each)"),
        ]
    if lab is not None and lab.sms is not None:
        rows += [
            ("SMS sink", f"{lab.sms.url} (Bearer token in {lab.sms.token_file})"),
            ("SMS folder", f"{lab.sms.folder}/ (every SMS the notifier sends, one .json each)"),
        ]
    notifier = f"http://{HOST}:{stack.ports.notifier}"
    rows += [
        (
            "notifier contacts",
            f"{data.contacts_file} (the sample's customer, mail and SMS; imported at start)",
        ),
        ("ticket notifications", f"{notifier}/v1/tickets/<id>/notifications (read token)"),
        ("ticket GTR clock", f"{notifier}/v1/tickets/<id>/gtr"),
        ("pending sends", f"{notifier}/v1/notifications?state=pending"),
    ]
    return rows


def summary(stack: Stack, sample: str) -> list[str]:
    """Where everything is, once ready (the secrets' files, never their content)."""
    api = f"http://{HOST}:{stack.ports.ingest}"
    data = stack.data
    worker_paths = "(/metrics, /healthz, /readyz, read API)"
    rows = [
        ("API docs", f"{api}/docs"),
        ("ingest metrics", f"{api}/metrics"),
        ("prober API/metrics", f"http://{HOST}:{stack.ports.prober}/ {worker_paths}"),
        ("notifier API/metrics", f"http://{HOST}:{stack.ports.notifier}/ {worker_paths}"),
        ("broker", f"{stack.bootstrap_servers} (Tansu, in memory)"),
        ("logs", f"{data.logs}/"),
        ("databases", ", ".join(str(data.database(s.name)) for s in stack.specs)),
        ("webhook secret", f"{data.secret_file} (every source)"),
        ("read token", f"{data.read_token_file} (Authorization: Bearer <its content>)"),
        *(lab_rows(stack.lab, data) if stack.lab else []),
        *notifier_rows(stack),
        ("send a sample", sample),
    ]
    width = max(len(label) for label, _ in rows) + 2
    return [f"  {label:<{width}}{value}" for label, value in rows] + ["Ctrl-C stops everything."]


async def _start_and_watch(stack: Stack, sample: str) -> StackError:
    await stack.start()
    say("ready")
    for line in summary(stack, sample):
        say(line)
    return await stack.watch()


async def up(stack: Stack, sample: str) -> int:
    """Run the stack until Ctrl-C / SIGTERM (exit 0) or a failure (exit 1); stop it always."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    work = asyncio.create_task(_start_and_watch(stack, sample), name="vigie-up")
    stopping = asyncio.create_task(stop.wait(), name="vigie-stop-signal")
    code = 0
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            report_failure(work.result())  # a service died; startup failures raise here
            code = 1
        else:
            say("stopping…")
    except StackError as exc:
        report_failure(exc)
        code = 1
    finally:
        try:
            for task in (work, stopping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StackError):
                        await task
        finally:
            stopped_something = await stack.stop()
            for sig in signals:
                loop.remove_signal_handler(sig)
    if stopped_something or code == 0:
        say("stopped")
    return code


def _ports(args: argparse.Namespace) -> Ports:
    """The ports ``vigie up`` (or ``vigie sample``, which takes the same flags) is told."""
    return Ports(ingest=args.ingest_port, prober=args.prober_port, notifier=args.notifier_port)


def _timing_refused() -> bool:
    """A one-line complaint (True) when the launcher's observation timing is unusable."""
    try:
        observation_timing(os.environ)
    except ValueError as exc:
        complain(f"vigie: {exc}")
        return True
    return False


def _cmd_up(args: argparse.Namespace) -> int:
    configure_logging(service="devstack", level="WARNING", fmt="console")
    if _timing_refused():
        return 2
    data = DataDir.at(args.data_dir)
    ports = _ports(args)
    stack = Stack(data, ports, say, lab_any_ports=args.lab_any_ports)
    return asyncio.run(up(stack, sample_command(data, args.data_dir, ports)))


def _cmd_sample(args: argparse.Namespace) -> int:
    data = DataDir.at(args.data_dir)
    try:
        secret = read_secret(data)
        ticket = sample_ticket(args.source, args.numero, args.state)
        result = send_sample(ticket, source=args.source, secret=secret, port=args.ingest_port)
    except IngestUnreachable as exc:
        complain(f"vigie: {exc}: start it with `make run`")
        return 1
    except SecretFileError as exc:
        complain(f"vigie: {exc}")
        return 1
    say(f"POST /v1/webhooks/{args.source} (numero {ticket['numero']})")
    say(f"HTTP {result.status} {result.reason}")
    say(json.dumps(result.body, indent=2, ensure_ascii=False))
    token_file = shlex.quote(str(data.read_token_file))
    if result.ticket_url:
        say(f"ticket: {result.ticket_url}")
        say(f'  curl -H "Authorization: Bearer $(cat {token_file})" {result.ticket_url}')
    if result.ticket_id:
        verdict = verdict_url(result.ticket_id, args.prober_port)
        say(f"verdict (the prober probes the lab; within a minute): {verdict}")
        say(f'  curl -H "Authorization: Bearer $(cat {token_file})" {verdict}')
        notifications, gtr = notifier_urls(result.ticket_id, args.notifier_port)
        say(
            "notifications (the notifier's decisions and sends; empty until a rule fires, and "
            f"none does for an open ticket probed stable): {notifications}"
        )
        say(f'  curl -H "Authorization: Bearer $(cat {token_file})" {notifications}')
        say(f"GTR clock (deadline from the ticket's commitment): {gtr}")
        say(f'  curl -H "Authorization: Bearer $(cat {token_file})" {gtr}')
        if args.state != "closed":
            close = closing_command(data, args.data_dir, _ports(args), str(ticket["numero"]))
            mail, sms = data.mail_dir, data.sms_dir
            say(f"close it (CLT6 to the customer: a mail in {mail}/, an SMS in {sms}/):")
            say(f"  {close}")
    return 0 if 200 <= result.status < 300 else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    configure_logging(service="devstack", level="WARNING", fmt="console")
    if _timing_refused():
        return 2
    options = DemoOptions(
        data_dir=args.data_dir,
        default_data_dir=DEFAULT_DATA_DIR,
        ports=_ports(args),
        timeout=args.timeout,
    )
    return asyncio.run(run_demo(options, say, complain))


def port(value: str) -> int:
    """An argparse type: a TCP port number."""
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return port


def build_parser() -> argparse.ArgumentParser:
    """``vigie up`` and ``vigie sample``."""
    parser = argparse.ArgumentParser(
        prog="vigie", description="Run the whole of vigie on one machine: Tansu, SQLite, services."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=DEFAULT_DATA_DIR,
        help="logs, SQLite files, the dev webhook secret and read token (default: %(default)s)",
    )
    common.add_argument(
        "--ingest-port",
        type=port,
        default=DEFAULT_INGEST_PORT,
        metavar="PORT",
        help="ingest's HTTP port on 127.0.0.1 (default: %(default)s)",
    )

    start = commands.add_parser(
        "up", parents=[common], help="start the broker and the services; Ctrl-C stops them"
    )
    for name, default in (("prober", DEFAULT_PROBER_PORT), ("notifier", DEFAULT_NOTIFIER_PORT)):
        start.add_argument(
            f"--{name}-port",
            type=port,
            default=default,
            metavar="PORT",
            help=f"the {name}'s HTTP port on 127.0.0.1: API, health, metrics "
            "(default: %(default)s)",
        )
        start.add_argument(  # the name before the workers served more than /metrics
            f"--{name}-metrics-port",
            dest=f"{name}_port",
            type=port,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
    start.add_argument(
        "--lab-any-ports",
        action="store_true",
        help="let the lab pick free ports instead of the seed's 127.0.10.x:2222 "
        "(when another lab already listens there)",
    )
    start.set_defaults(handler=_cmd_up)

    sample = commands.add_parser(
        "sample", parents=[common], help="send a signed sample ticket to the running ingest"
    )
    sample.add_argument("--source", choices=sorted(SAMPLES), default="oceane")
    sample.add_argument(
        "--numero",
        help="ticket number to send (default: a new one each time); a number sent before "
        "sends a later version of that ticket",
    )
    sample.add_argument(
        "--state",
        choices=list(STATES),
        default="open",
        help="the ticket's state (Oceane dernier_etat: "
        + ", ".join(f"{state} = {label}" for state, label in STATES.items())
        + "; default: %(default)s). With the --numero of a ticket sent open, "
        "`--state closed` closes it: the customer gets the closure mail and SMS (CLT6)",
    )
    sample.add_argument(
        "--prober-port",
        type=port,
        default=DEFAULT_PROBER_PORT,
        metavar="PORT",
        help="the prober's HTTP port, for the verdict's URL (default: %(default)s)",
    )
    sample.add_argument(
        "--notifier-port",
        type=port,
        default=DEFAULT_NOTIFIER_PORT,
        metavar="PORT",
        help="the notifier's HTTP port, for the notifications' and GTR clock's URLs "
        "(default: %(default)s)",
    )
    sample.set_defaults(handler=_cmd_sample)

    demo = commands.add_parser(
        "demo",
        help="send the seed's P2P and flapping tickets and follow each from webhook to mail "
        "(starts its own vigie when none answers)",
    )
    demo.add_argument(
        "--data-dir",
        help=f"the running vigie's data folder (default: {DEFAULT_DATA_DIR}); when none "
        "answers, where the demo's own vigie keeps its files (default: a new temporary folder)",
    )
    for name, default in (
        ("ingest", DEFAULT_INGEST_PORT),
        ("prober", DEFAULT_PROBER_PORT),
        ("notifier", DEFAULT_NOTIFIER_PORT),
    ):
        demo.add_argument(
            f"--{name}-port",
            type=port,
            default=default,
            metavar="PORT",
            help=f"the running {name}'s HTTP port (default: %(default)s; the demo's own "
            "vigie takes free ports)",
        )
    demo.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        metavar="SECONDS",
        help="how long each ticket gets from its webhook to its mail (default: %(default)g)",
    )
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run the command; return the exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


def run() -> None:
    """Console script entry point: ``vigie``.

    Output piped into a reader that stops early (``vigie sample | head``) ends the command
    quietly, not with a ``BrokenPipeError`` traceback.
    """
    try:
        try:
            code = main()
        finally:
            sys.stdout.flush()  # here, not at exit where a closed pipe prints a traceback
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    raise SystemExit(code)
