"""The mail edge against a real SMTP server (aiosmtpd, loopback): what arrives, how it fails."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from vigie_common.events.notices import Channel
from vigie_notifier.delivery import (
    REASON_LIMIT,
    Delivered,
    DeliveryFailed,
    InvalidMessage,
    Mailbox,
    clean_reason,
)
from vigie_notifier.mailer import (
    MailSettings,
    build_message,
    envelope_recipients,
    message_id_for,
)
from vigie_notifier.recipients import Recipient
from vigie_notifier.smtp_relay import send_mail

from tests.notifier.smtp_rig import Sink, free_port, settings_for, smtp_server

PASSWORD = "pa55-w0rd-Ne\u00e9r"  # a non-ASCII letter too
WHEN = datetime(2025, 6, 16, 16, 10, tzinfo=timezone(timedelta(hours=2)))
SUBJECT = (
    "ORANGE INFO INCIDENT 2505057242 / Votre référence : CD0HG0FDC "
    "/ Site : INL_MOIRA_EVPN_LA1 - Ville : MOIRANS — coupure réseau"
)
TEXT = "Bonjour,\n\nNous avons détecté une coupure à Moirans : équipe prévenue.\n\n— Réseau\n"
HTML = "<p>Bonjour,</p><p>Nous avons détecté une coupure à <b>Moirans</b>.</p>"
KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
FIRST = message_id_for("ticket-2505057242", "vigie.example")


def message(*recipients: Recipient | Mailbox, thread_id: str | None = FIRST) -> EmailMessage:
    return build_message(
        subject=SUBJECT,
        text=TEXT,
        html=HTML,
        sender=Mailbox(name="Service Client Réseau", email="noc@vigie.example"),
        recipients=recipients
        or (Recipient(name="DUPONT Zoé", phone="0612345678", email="zoe@client.example"),),
        message_id=message_id_for(KEY, "vigie.example"),
        thread_id=thread_id,
        date=WHEN,
    )


async def failure(mail: EmailMessage, settings: MailSettings) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        await send_mail(mail, settings)
    reason = caught.value.reason
    assert "\n" not in reason and "\r" not in reason and len(reason) <= REASON_LIMIT
    assert PASSWORD not in reason and PASSWORD not in str(caught.value)
    return caught.value


# --- what arrives -------------------------------------------------------------------------


async def test_the_mail_arrives_as_built_accents_parts_ids_names() -> None:
    sink = Sink()
    zoe = Recipient(name="DUPONT Zoé", phone="0612345678", email="zoe@client.example")
    ops = Recipient(name='ACCUEIL "réseau", Moirans', phone=None, email="ops@client.example")
    with smtp_server(sink) as port:
        delivered = await send_mail(message(zoe, ops), settings_for(port))

    assert delivered == Delivered(
        channel=Channel.MAIL,
        id=f"<{KEY}@vigie.example>",
        response="2.0.0 Ok: queued as 4BQx",
    )
    [got] = sink.received
    assert got.mail_from == "noc@vigie.example"
    assert got.rcpt_tos == ["zoe@client.example", "ops@client.example"]
    assert not got.tls
    got.data.decode("ascii")  # every header RFC 2047-encoded, every body quoted-printable

    mail = got.parsed()
    assert mail["Subject"] == SUBJECT
    assert mail["Message-ID"] == f"<{KEY}@vigie.example>"
    assert mail["In-Reply-To"] == mail["References"] == "<ticket-2505057242@vigie.example>"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"].datetime == WHEN
    [sender] = mail["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Service Client Réseau", "noc@vigie.example")
    assert [(a.display_name, a.addr_spec) for a in mail["To"].addresses] == [
        ("DUPONT Zoé", "zoe@client.example"),
        ('ACCUEIL "réseau", Moirans', "ops@client.example"),
    ]
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert plain.get_content().replace("\r\n", "\n") == TEXT  # CRLF: SMTP's line ends
    assert html.get_content().rstrip("\r\n") == HTML
    assert mail["Bcc"] is None and mail["Reply-To"] is None


async def test_the_first_mail_of_a_ticket_starts_the_thread() -> None:
    first = build_message(
        subject="s",
        text="t",
        html=None,
        sender=Mailbox(name="", email="noc@vigie.example"),
        recipients=[Mailbox(name="", email="zoe@client.example")],
        message_id=FIRST,
        thread_id=FIRST,
        date=WHEN,
        reply_to="support@vigie.example",
    )
    assert first["In-Reply-To"] is None and first["References"] is None
    assert first.get_content_type() == "text/plain"  # no HTML part given, no alternative
    assert first["Reply-To"] == "support@vigie.example"
    assert first["To"] == "zoe@client.example"
    unthreaded = message(thread_id=None)
    assert unthreaded["In-Reply-To"] is None and unthreaded["References"] is None


def test_message_ids_are_deterministic_and_checked() -> None:
    assert message_id_for(KEY, "vigie.example") == f"<{KEY}@vigie.example>"
    assert message_id_for(KEY, "vigie.example") == message_id_for(KEY, "vigie.example")
    assert message_id_for("ticket-2505057242", "mx.vigie.example") == (
        "<ticket-2505057242@mx.vigie.example>"
    )
    for domain in ["vigie example", "<vigie.example>", "vigie.example>", "", "a@b", "x..y"]:
        with pytest.raises(ValueError, match="domain"):
            message_id_for(KEY, domain)
    for key in ["", "a b", "<k>", "k@x", "a\r\nb", "x" * 129]:
        with pytest.raises(ValueError, match="key"):
            message_id_for(key, "vigie.example")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"recipients": []}, "no recipient"),
        ({"date": datetime(2025, 6, 16, 16, 10)}, "naive"),  # noqa: DTZ001 - the point
        ({"message_id": "abc@vigie.example"}, "Message-ID"),
        ({"message_id": "<a\r\nBcc: x@evil.example>"}, "Message-ID"),
        ({"thread_id": "<a b@c>"}, "thread id"),
        ({"recipients": [Mailbox(name="X", email="x@evil\r\n.example")]}, "recipient 1"),
        ({"sender": Mailbox(name="X", email="not an address")}, "sender"),
        ({"reply_to": "a@b@c.example"}, "reply-to"),
    ],
)
def test_what_cannot_be_sent_is_refused_before_any_connection(
    change: dict[str, Any], match: str
) -> None:
    arguments: dict[str, Any] = {
        "subject": "s",
        "text": "t",
        "html": None,
        "sender": Mailbox(name="", email="noc@vigie.example"),
        "recipients": [Mailbox(name="", email="zoe@client.example")],
        "message_id": FIRST,
        "thread_id": None,
        "date": WHEN,
    } | change
    with pytest.raises(InvalidMessage, match=match) as caught:
        build_message(**arguments)
    assert caught.value.permanent
    assert isinstance(caught.value, ValueError)


async def test_a_line_break_in_a_name_or_subject_cannot_add_a_header_or_a_recipient() -> None:
    sink = Sink()
    eve = Mailbox(name="Eve\r\nBcc: x@evil.example", email="eve@client.example")
    mail = build_message(
        subject="Panne\r\nBcc: y@evil.example\nX-Injected: 1",
        text=TEXT,
        html=None,
        sender=Mailbox(name="NOC\nCc: z@evil.example", email="noc@vigie.example"),
        recipients=[eve],
        message_id=message_id_for(KEY, "vigie.example"),
        thread_id=None,
        date=WHEN,
    )
    assert envelope_recipients(mail) == ["eve@client.example"]
    with smtp_server(sink) as port:
        delivered = await send_mail(mail, settings_for(port))
    assert delivered.refused == ()

    [got] = sink.received
    assert got.rcpt_tos == ["eve@client.example"]
    header_lines = got.data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    starts = {line.split(b":", 1)[0].lower() for line in header_lines if not line[:1].isspace()}
    assert not {b"bcc", b"cc", b"x-injected"} & starts
    received = got.parsed()
    assert received["Bcc"] is None and received["Cc"] is None and received["X-Injected"] is None
    assert received["Subject"] == "Panne Bcc: y@evil.example X-Injected: 1"
    [to] = received["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Eve Bcc: x@evil.example", "eve@client.example")
    assert received["From"].addresses[0].display_name == "NOC Cc: z@evil.example"


async def test_an_internationalised_domain_travels_in_idna_without_smtputf8() -> None:
    sink = Sink()
    with smtp_server(sink) as port:
        await send_mail(
            message(Mailbox(name="Zoé", email="zoe@élysée.example")), settings_for(port)
        )
    ascii_address = "zoe@" + "élysée.example".encode("idna").decode("ascii")
    assert ascii_address.startswith("zoe@xn--")
    [got] = sink.received
    assert got.rcpt_tos == [ascii_address]
    assert got.parsed()["To"].addresses[0].addr_spec == ascii_address


# --- how it fails -------------------------------------------------------------------------


def authenticator(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (
        b"vigie",
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd answers 535 itself (True would mean "already answered").
    return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_auth_accepted_then_a_wrong_password_is_a_permanent_535() -> None:
    sink = Sink()
    options = {"authenticator": authenticator, "auth_required": True, "auth_require_tls": False}
    with smtp_server(sink, **options) as port:
        good = settings_for(port, username="vigie", password=PASSWORD)
        await send_mail(message(), good)
        assert [got.login for got in sink.received] == [b"vigie"]

        # 535 is a 5xx: the relay will not take our credentials until someone fixes them.
        refused = await failure(message(), settings_for(port, username="vigie", password="nope"))
        assert (refused.permanent, refused.code) == (True, 535)
        assert refused.reason.startswith("authentication refused: 535")
        assert "nope" not in refused.reason

        unauthenticated = await failure(message(), settings_for(port))
        assert (unauthenticated.permanent, unauthenticated.code) == (True, 530)
    assert len(sink.received) == 1


async def test_a_451_on_data_is_transient() -> None:
    sink = Sink(data_reply="451 4.3.0 Mail server temporarily rejected message")
    with smtp_server(sink) as port:
        failed = await failure(message(), settings_for(port))
    assert (failed.permanent, failed.code) == (False, 451)
    assert failed.reason == "message refused: 451 4.3.0 Mail server temporarily rejected message"


async def test_a_554_on_data_is_permanent() -> None:
    sink = Sink(data_reply="554 5.7.1 Message rejected as spam")
    with smtp_server(sink) as port:
        failed = await failure(message(), settings_for(port))
    assert (failed.permanent, failed.code) == (True, 554)


@pytest.mark.parametrize(("reply", "permanent"), [("553 5.7.1 Not our sender", True),
                                                  ("451 4.7.1 Greylisted", False)])  # fmt: skip
async def test_a_refused_sender_is_classified_by_its_code(reply: str, permanent: bool) -> None:
    sink = Sink(mail_reply=reply)
    with smtp_server(sink) as port:
        failed = await failure(message(), settings_for(port))
    assert failed.permanent is permanent
    assert failed.reason.startswith("sender refused: ")


async def test_one_recipient_refused_among_two_is_a_delivery_listing_it() -> None:
    sink = Sink(rcpt_replies={"gone@client.example": "550 5.1.1 <gone@client.example>: unknown"})
    zoe = Mailbox(name="Zoé", email="zoe@client.example")
    gone = Mailbox(name="Gone", email="gone@client.example")
    with smtp_server(sink) as port:
        delivered = await send_mail(message(zoe, gone), settings_for(port))
    [refusal] = delivered.refused
    assert (refusal.address, refusal.code, refusal.permanent) == ("gone@client.example", 550, True)
    assert refusal.reason == "550 5.1.1 <address>: unknown"  # addresses stay out of reasons
    [got] = sink.received
    assert got.rcpt_tos == ["zoe@client.example"]


@pytest.mark.parametrize(
    ("replies", "permanent"),
    [
        (("550 5.1.1 unknown user", "550 5.1.1 unknown user"), True),
        (("450 4.2.1 mailbox busy", "450 4.2.1 mailbox busy"), False),
        (("550 5.1.1 unknown user", "452 4.5.3 too many recipients"), False),
    ],
)
async def test_every_recipient_refused_is_permanent_only_if_all_are_5xx(
    replies: tuple[str, str], permanent: bool
) -> None:
    addresses = ("a@client.example", "b@client.example")
    sink = Sink(rcpt_replies=dict(zip(addresses, replies, strict=True)))
    with smtp_server(sink) as port:
        failed = await failure(
            message(*(Mailbox(name="", email=a) for a in addresses)), settings_for(port)
        )
    assert failed.permanent is permanent
    assert failed.reason.startswith("all 2 recipients refused: ")
    assert "client.example" not in failed.reason
    assert sink.received == []


async def test_nothing_listening_is_transient() -> None:
    failed = await failure(message(), settings_for(free_port(), username="u", password=PASSWORD))
    assert (failed.permanent, failed.code) == (False, None)
    assert "Error connecting to 127.0.0.1" in failed.reason


@asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accepts and never greets: a relay that hangs."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_relay_that_never_answers_times_out_transiently() -> None:
    async with silent_server() as port:
        failed = await failure(message(), settings_for(port, timeout=0.3))
    assert failed.permanent is False
    assert "timed out" in failed.reason.lower()


# --- TLS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    server: ssl.SSLContext
    ca_file: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path_factory.mktemp("relay") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(server=context, ca_file=ca_file)


async def test_starttls_with_the_private_ca_then_auth(tls: Tls) -> None:
    sink = Sink()
    options = {
        "tls_context": tls.server,
        "require_starttls": True,
        "authenticator": authenticator,
        "auth_required": True,
    }
    with smtp_server(sink, **options) as port:
        settings = settings_for(
            port, security="starttls", ca_file=tls.ca_file, username="vigie", password=PASSWORD
        )
        await send_mail(message(), settings)

        # The system store does not know the private CA: not sent, tried again later.
        failed = await failure(message(), settings_for(port, security="starttls"))
        assert failed.permanent is False
        assert failed.reason.startswith("TLS certificate verification failed")

        # validate_certs=False is the operator's explicit choice for a lab relay.
        unchecked = settings.model_copy(update={"ca_file": None, "validate_certs": False})
        await send_mail(message(), unchecked)
    assert [(got.tls, got.login) for got in sink.received] == [(True, b"vigie")] * 2


async def test_starttls_is_never_skipped_when_the_relay_does_not_offer_it(tls: Tls) -> None:
    sink = Sink()
    with smtp_server(sink) as port:  # plain SMTP, no STARTTLS advertised
        failed = await failure(message(), settings_for(port, security="starttls"))
    assert failed.permanent is False
    assert "STARTTLS" in failed.reason
    assert sink.received == []


async def test_implicit_tls(tls: Tls) -> None:
    sink = Sink()
    with smtp_server(sink, ssl_context=tls.server) as port:
        await send_mail(message(), settings_for(port, security="tls", ca_file=tls.ca_file))
    [got] = sink.received
    assert got.parsed()["Subject"] == SUBJECT


# --- settings and reasons -----------------------------------------------------------------


def test_settings_check_what_they_can(tmp_path: Path) -> None:
    settings = settings_for(25, from_address="NOC@Vigie.Example", from_name="Service\r\nClient")
    assert (settings.from_address, settings.from_name) == ("NOC@vigie.example", "Service Client")
    assert settings.sender == Mailbox(name="Service Client", email="NOC@vigie.example")
    assert MailSettings(host="relay", from_address="a@b.example").effective_port == 587
    assert settings_for(None, security="tls").effective_port == 465
    assert PASSWORD not in repr(settings_for(25, username="u", password=PASSWORD))
    bad_values: list[dict[str, Any]] = [
        {"from_address": "noc"},
        {"host": "relay\r\nRCPT TO:<x@evil.example>"},
        {"ca_file": tmp_path / "missing.pem"},
        {"security": "ssl"},
        {"timeout": 0},
    ]
    for bad in bad_values:
        with pytest.raises(ValueError) as caught:
            settings_for(25, password=PASSWORD, **({"username": "u"} | bad))
        assert PASSWORD not in str(caught.value)
    with pytest.raises(ValueError, match="go together") as caught:
        settings_for(25, password=PASSWORD)  # no username
    assert PASSWORD not in str(caught.value)


def test_reasons_are_one_bounded_line_without_secrets_nor_addresses() -> None:
    reason = clean_reason(
        "535 bad\r\ncredentials for zoe@client.example: " + PASSWORD + " x" * 400,
        secrets=[PASSWORD],
    )
    assert reason.startswith("535 bad credentials for <address>: *** x x")
    assert len(reason) == REASON_LIMIT and reason.endswith("…")
    assert clean_reason("") == "(no detail)"
    assert DeliveryFailed("a\nb", False).reason == "a b"


def test_the_sent_time_is_the_one_given() -> None:
    assert message()["Date"].datetime == WHEN
    assert message()["Date"].datetime.astimezone(UTC).hour == 14
