"""A real SMTP server for the notifier's tests: aiosmtpd on a loopback port, scripted replies."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session
from vigie_notifier.mailer import MailSettings


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: bytes | None

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Sink:
    """An aiosmtpd handler: keeps what it accepts, answers as a test tells it to."""

    received: list[Received] = field(default_factory=list)
    mail_reply: str | None = None
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str = "250 2.0.0 Ok: queued as 4BQx"
    one_per_session: bool = False
    """Answer 421 to a second MAIL FROM on a session (a relay closing it after one mail)."""
    mails_by_session: dict[int, int] = field(default_factory=dict)

    async def handle_MAIL(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        earlier = self.mails_by_session.get(id(session), 0)
        self.mails_by_session[id(session)] = earlier + 1
        if self.one_per_session and earlier:
            return "421 4.7.0 one message per session"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if self.data_reply.startswith("250"):
            content = envelope.original_content or b""
            login = session.auth_data if isinstance(session.auth_data, bytes) else None
            self.received.append(
                Received(
                    mail_from=envelope.mail_from or "",
                    rcpt_tos=list(envelope.rcpt_tos),
                    data=content,
                    tls=session.ssl is not None,
                    login=login,
                )
            )
        return self.data_reply


class LoopbackController(Controller):
    """aiosmtpd's controller on an ephemeral loopback port (no port picked and raced for)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it bare


@contextmanager
def smtp_server(sink: Sink, **options: Any) -> Iterator[int]:
    controller = LoopbackController(sink, hostname="127.0.0.1", port=0, **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


def settings_for(port: int | None, **overrides: Any) -> MailSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "noc@vigie.example",
        "from_name": "Service Client Réseau",
        "timeout": 5.0,
        "local_hostname": "notifier.vigie.example",
    }
    values.update(overrides)
    return MailSettings.model_validate(values)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
