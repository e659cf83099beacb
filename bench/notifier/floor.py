"""The floor of phase (a): a bare aiosmtplib loop sending the same mails to the same sink.

The N CLT5 mails are rendered once, before the clock, with the notifier's own functions
(``context.build_context``, the packaged catalogue's ``Renderer``, ``mailer.build_message``)
and the same operator, zone, sender, recipients, Message-IDs and threads as the notifier
(:mod:`bench.notifier.fixtures`); :func:`compare` then checks them against the rows the
notifier stored. The loop is what ``mailer.send_mail`` does without vigie around it: one
``aiosmtplib.send`` per mail, i.e. a new connection, EHLO, MAIL FROM, two RCPT TO, DATA,
QUIT, with no TLS, no AUTH and the same 30 s timeout, at most ``concurrency`` mails in flight
(an asyncio semaphore, the notifier's ``VIGIE_NOTIFIER_SEND_CONCURRENCY``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Final

import aiosmtplib
from vigie_notifier.rendering import load_renderer

from bench.ingest.processes import HOST
from bench.notifier import fixtures
from bench.notifier.pipeline import Rows
from bench.notifier.sink import SinkProcess

TIMEOUT_S: Final = 30.0  # VIGIE_NOTIFIER_SMTP__TIMEOUT_S's default, per SMTP step
SHOWN: Final = 3


def render_all(count: int) -> tuple[list[fixtures.RenderedMail], list[EmailMessage], float]:
    """The N rendered CLT5 and their messages, and the seconds rendering and building took."""
    began = time.perf_counter()
    renderer = load_renderer(None)
    rendered = [fixtures.render_mail(renderer, i) for i in range(count)]
    now = datetime.now(UTC)
    messages = [fixtures.build_mail(mail, now) for mail in rendered]
    return rendered, messages, time.perf_counter() - began


async def send_all(
    messages: Sequence[EmailMessage], *, port: int, concurrency: int
) -> tuple[float, list[BaseException]]:
    """Send every message, ``concurrency`` at a time; the wall seconds and the failures."""
    gate = asyncio.Semaphore(concurrency)
    recipients = [mailbox.email for mailbox in fixtures.RECIPIENTS]

    async def one(message: EmailMessage) -> None:
        async with gate:
            await aiosmtplib.send(
                message,
                sender=fixtures.FROM_ADDRESS,
                recipients=recipients,
                hostname=HOST,
                port=port,
                use_tls=False,
                start_tls=False,
                timeout=TIMEOUT_S,
            )

    began = time.perf_counter()
    results = await asyncio.gather(*(one(m) for m in messages), return_exceptions=True)
    wall = time.perf_counter() - began
    return wall, [r for r in results if isinstance(r, BaseException)]


def compare(rendered: Sequence[fixtures.RenderedMail], rows: Rows) -> dict[str, Any]:
    """Whether the floor's mails are the notifier's: subject, text, HTML and thread, each."""
    differ: list[str] = []
    for mail in rendered:
        stored = rows.by_message_id.get(mail.message_id)
        thread = rows.thread_ids.get(fixtures.ticket(mail.index).id)
        if stored is None:
            differ.append(f"{mail.message_id}: no such notification row")
        elif stored != (mail.subject, mail.text, mail.html):
            parts = ("subject", "text", "html")
            what = [
                p
                for p, a, b in zip(parts, stored, (mail.subject, mail.text, mail.html), strict=True)
                if a != b
            ]
            differ.append(f"{mail.message_id}: {', '.join(what)} differ")
        elif thread != mail.thread_id:
            differ.append(f"{mail.message_id}: thread {thread} is not {mail.thread_id}")
    return {"floor_same_as_notifier": not differ, "floor_differences": differ[:SHOWN]}


async def warm_up(sink: SinkProcess, messages: Sequence[EmailMessage], concurrency: int) -> float:
    """A few mails through the sink before anything is timed (its first sessions, imports)."""
    wall, failures = await send_all(messages, port=sink.port, concurrency=concurrency)
    await sink.report()
    if failures:
        raise RuntimeError(f"the warm-up failed: {failures[0]!r}")
    return wall
