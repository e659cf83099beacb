"""``vigie demo``: the seed's two tickets sent, and followed from webhook to mail as it happens.

The I/O edge of the demo: find the running stack (or start one, as ``vigie up`` does, and stop
it at the end), send the tickets, poll the read APIs and the mail folder every half second,
and print what :class:`vigie_devstack.timeline.Timeline` makes of the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from vigie_common.kafka.tansu import free_port

from vigie_devstack.datadir import DataDir, SecretFileError, read_secret
from vigie_devstack.demo_tickets import DemoTicket, demo_tickets
from vigie_devstack.sample import IngestUnreachable, send_sample
from vigie_devstack.services import HOST, Ports
from vigie_devstack.stack import Stack, StackError
from vigie_devstack.timeline import Snapshot, Timeline, flatten

__all__ = ["DEFAULT_TIMEOUT_S", "POLL_INTERVAL_S", "DemoError", "DemoOptions", "run_demo"]

DEFAULT_TIMEOUT_S: Final = 120.0
"""How long the tickets get, from their webhook: the P2P ticket's observation lasts a minute."""
POLL_INTERVAL_S: Final = 0.5
FAILED_POLLS: Final = 10
"""Rounds in a row without an answer before the stack counts as gone (5 s)."""
INTERRUPTED: Final = 130
"""The exit code of a command stopped by Ctrl-C."""

Say = Callable[[str], None]


class DemoError(RuntimeError):
    """An expected failure, told in one line: ``code`` 1 (the stack) or 2 (the setup)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """Where the running stack is, or where to keep the files of the one the demo starts."""

    data_dir: str | None
    """``--data-dir``; None: ``.vigie`` for a running stack, a new temporary one otherwise."""
    default_data_dir: str
    ports: Ports
    timeout: float = DEFAULT_TIMEOUT_S


@dataclass(slots=True)
class _Target:
    """The stack the demo talks to."""

    data: DataDir
    ports: Ports
    mail_dir: Path


async def _answers(client: httpx.AsyncClient, port: int) -> bool:
    """Whether something answers HTTP on ``port`` (any status: it is up)."""
    try:
        await client.get(f"http://{HOST}:{port}/healthz")
    except httpx.HTTPError:
        return False
    return True


async def _find_running(client: httpx.AsyncClient, options: DemoOptions) -> _Target | None:
    """The running stack on the given ports; None when ingest does not answer.

    Raises:
        DemoError: Ingest answers but the prober or the notifier does not.
    """
    ports = options.ports
    if not await _answers(client, ports.ingest):
        return None
    for name, port, flag in (
        ("prober", ports.prober, "--prober-port"),
        ("notifier", ports.notifier, "--notifier-port"),
    ):
        if not await _answers(client, port):
            raise DemoError(
                f"ingest answers on {HOST}:{ports.ingest} but the {name} does not on "
                f"{HOST}:{port}: give the {flag} of the running `vigie up`"
            )
    data = DataDir.at(options.data_dir or options.default_data_dir)
    return _Target(data, ports, data.mail_dir)


async def _start_own(options: DemoOptions, say: Say, started: list[Stack]) -> _Target:
    """Start the stack ``vigie up`` runs, on free ports (the lab's too), for this demo only.

    Raises:
        DemoError: The stack did not start (the message names the log to read).
    """
    root = Path(options.data_dir or tempfile.mkdtemp(prefix="vigie-demo-"))
    data = DataDir.at(root)
    ports = Ports(ingest=free_port(), prober=free_port(), notifier=free_port())
    say(
        f"no vigie answers on {HOST}:{options.ports.ingest}: starting one for this demo "
        f"(free ports, data in {data.root})"
    )
    stack = Stack(data, ports, say, lab_any_ports=True)
    started.append(stack)
    try:
        await stack.start()
    except StackError as exc:
        where = f" (see {exc.log_file})" if exc.log_file else ""
        raise DemoError(f"{exc}{where}") from None
    assert stack.lab is not None and stack.lab.mail is not None  # start() checked both
    say(f"ready: ingest {HOST}:{ports.ingest}, prober :{ports.prober}, notifier :{ports.notifier}")
    return _Target(data, ports, stack.lab.mail.folder)


def _read_token(data: DataDir) -> str:
    """The run's read token, read only: the demo never makes one for a stack that has its own.

    Raises:
        DemoError: No token there (code 2).
    """
    try:
        token = data.read_token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DemoError(
            f"cannot read the read token {data.read_token_file} ({exc.strerror}): "
            "give the --data-dir of the running `vigie up`",
            code=2,
        ) from None
    if not token:
        raise DemoError(f"{data.read_token_file} is empty: delete it and restart vigie", code=2)
    return token


def _refused(status: int, url: str, data: DataDir) -> DemoError:
    """A 401/403 of a read API: the token is not this stack's."""
    return DemoError(
        f"{url} refused the read token of {data.read_token_file} (HTTP {status}): "
        "it is not the running vigie's; give its --data-dir",
        code=2,
    )


class _Reader:
    """The read APIs of one stack, behind its read token."""

    def __init__(self, client: httpx.AsyncClient, target: _Target) -> None:
        self._client = client
        self._target = target

    async def get(self, url: str) -> Any | None:
        """The JSON answer; None for a 404 (not there yet).

        Raises:
            DemoError: The token is refused, or the API answers an error.
            httpx.TransportError: Nothing answered (the caller counts those).
        """
        response = await self._client.get(url)
        if response.status_code == 404:
            return None
        if response.status_code in (401, 403):
            raise _refused(response.status_code, url, self._target.data)
        if response.status_code != 200:
            said = flatten(response.text)[:200]
            raise DemoError(f"{url} answered HTTP {response.status_code}: {said}")
        return response.json()

    async def check_token(self) -> None:
        """Fail before sending anything when the token is not this stack's."""
        await self.get(f"http://{HOST}:{self._target.ports.ingest}/v1/tickets/vigie-demo-check")

    async def snapshot(self, ticket_id: str) -> Snapshot:
        """Every read API's answer about the ticket, and the mail folder's files."""
        ports = self._target.ports
        ingest = f"http://{HOST}:{ports.ingest}/v1/tickets/{ticket_id}"
        prober = f"http://{HOST}:{ports.prober}/v1/tickets/{ticket_id}"
        notifier = f"http://{HOST}:{ports.notifier}/v1/tickets/{ticket_id}"
        ticket, verdict, observations, notifications, gtr = await asyncio.gather(
            self.get(ingest),
            self.get(f"{prober}/verdict"),
            self.get(f"{prober}/observations?limit=500"),
            self.get(f"{notifier}/notifications"),
            self.get(f"{notifier}/gtr"),
        )
        return Snapshot(
            ticket=ticket,
            verdict=verdict,
            observations=(observations or {}).get("items") or [],
            notifications=notifications,
            gtr=gtr,
            mails=_mail_names(self._target.mail_dir),
        )


def _mail_names(folder: Path) -> list[str]:
    """The ``.eml`` files the mail sink wrote so far."""
    try:
        return [path.name for path in folder.glob("*.eml")]
    except OSError:
        return []


def _send(ticket: DemoTicket, secret: str, target: _Target) -> str:
    """POST one ticket's webhook; its ticket id.

    Raises:
        DemoError: Ingest refused it or did not answer.
    """
    try:
        result = send_sample(ticket.body, source="oceane", secret=secret, port=target.ports.ingest)
    except IngestUnreachable as exc:
        raise DemoError(str(exc)) from None
    if result.status == 401:
        raise DemoError(
            f"ingest refused the signature made with {target.data.secret_file} (HTTP 401): "
            "it is not the running vigie's; give its --data-dir",
            code=2,
        )
    if result.status != 202 or result.ticket_id is None:
        body = result.body
        detail = body.get("detail") if isinstance(body, dict) else None
        said = flatten(str(detail or body))[:200]
        raise DemoError(f"ingest answered HTTP {result.status} {result.reason}: {said}")
    return result.ticket_id


async def _follow(
    reader: _Reader, timelines: Sequence[tuple[Timeline, float]], allowed_s: float, say: Say
) -> list[Timeline]:
    """Poll until every timeline is done or ``allowed_s`` passed; the ones not done.

    The bound runs per ticket, from its own webhook (so not one ``asyncio.timeout``).
    """
    failed_rounds = 0
    while True:
        pending = [(t, t0) for t, t0 in timelines if not t.done]
        if not pending:
            return []
        if all(time.monotonic() - t0 > allowed_s for _t, t0 in pending):
            return [t for t, _t0 in pending]
        try:  # the tickets done are still shown: what else happens to them (a GTR warning)
            snaps = await asyncio.gather(*(reader.snapshot(t.ticket_id) for t, _ in timelines))
        except httpx.TransportError as exc:
            failed_rounds += 1
            if failed_rounds >= FAILED_POLLS:
                raise DemoError(f"the stack stopped answering ({exc!r})") from None
        else:
            failed_rounds = 0
            now = time.monotonic()
            for (timeline, t0), snap in zip(timelines, snaps, strict=True):
                for line in timeline.update(snap, now - t0):
                    say(line)
        await asyncio.sleep(POLL_INTERVAL_S)


async def _demo(options: DemoOptions, say: Say, complain: Say, started: list[Stack]) -> int:
    """Find or start the stack, send both tickets, follow them; the exit code."""
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as probe:
        target = await _find_running(probe, options)
    if target is None:
        target = await _start_own(options, say, started)
    else:
        say(
            f"using the running vigie: ingest {HOST}:{target.ports.ingest}, data {target.data.root}"
        )
    try:
        secret = read_secret(target.data)
    except SecretFileError as exc:
        raise DemoError(str(exc), code=2) from None
    token = _read_token(target.data)
    auth = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=5.0, trust_env=False, headers=auth) as client:
        reader = _Reader(client, target)
        try:
            await reader.check_token()
        except httpx.TransportError:
            raise DemoError(f"ingest stopped answering on {HOST}:{target.ports.ingest}") from None
        timelines: list[tuple[Timeline, float]] = []
        for ticket in demo_tickets():
            t0 = time.monotonic()
            ticket_id = await asyncio.to_thread(_send, ticket, secret, target)
            timeline = Timeline(ticket.expect, ticket.numero, ticket_id, target.mail_dir)
            timelines.append((timeline, t0))
            say(
                f"{time.monotonic() - t0:6.1f} s  {ticket.expect.label:<4} webhook: POST "
                f"/v1/webhooks/oceane numero {ticket.numero} ({ticket.state}) → 202, "
                f"ticket {ticket_id}"
            )
        late = await _follow(reader, timelines, options.timeout, say)
    say("summary:")
    for timeline, _t0 in timelines:
        say(f"  {timeline.summary()}")
    for timeline in late:
        complain(f"vigie demo: not within {options.timeout:g} s: {timeline.missing()}")
    return 1 if late else 0


async def run_demo(options: DemoOptions, say: Say, complain: Say) -> int:
    """The demo, stopped cleanly by Ctrl-C or SIGTERM; the stack it started is stopped always.

    Returns:
        0 when both tickets reached their mail, 1 when a step did not happen or the stack
        failed, 2 for a setup error (token, secret), 130 when interrupted.
    """
    started: list[Stack] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    work = asyncio.create_task(_demo(options, say, complain, started), name="vigie-demo")
    stopping = asyncio.create_task(stop.wait(), name="vigie-demo-stop")
    code = INTERRUPTED
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if work.done():
            try:
                code = work.result()
            except DemoError as exc:
                complain(f"vigie demo: {exc}")
                code = exc.code
        else:
            say("interrupted")
    finally:
        try:
            for task in (work, stopping):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, DemoError):
                        await task
        finally:
            for stack in started:
                say("stopping the vigie this demo started…")
                await stack.stop()
                say(f"stopped (its files stay in {stack.data.root})")
            for sig in signals:
                loop.remove_signal_handler(sig)
    return code
