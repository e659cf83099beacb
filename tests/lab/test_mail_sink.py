"""The SMTP sink with real clients (aiosmtplib, smtplib), and ``vigie-lab run --sinks``."""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import os
import re
import signal
import smtplib
import ssl
import sys
from collections.abc import AsyncIterator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest
import trustme
from vigie_lab import ListenFailed, MailSink
from vigie_lab.sink_files import write_atomically

from tests.lab import ENV, NOW

SUBJECT = "INCIDENT 2505057242 résolu — site INL_MOIRA_EVPN_LA1"
TEXT = "Bonjour,\nle lien est rétabli depuis 16:10:44 ✓\nL'équipe SAV\n"
HTML = "<p>Le lien est <b>rétabli</b> depuis 16:10:44 ✓</p>\n"
CSV = "site;état\nINL_MOIRA_EVPN_LA1;rétabli\n".encode()
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-(\d{6})-(.+)\.eml$")
USER, PASSWORD = "vigie-notifier", "smtp-test-password"


def customer_message(subject: str = SUBJECT, message_id: str | None = None) -> EmailMessage:
    """What the notifier sends: text and HTML alternatives and an attachment, all UTF-8."""
    message = EmailMessage()
    message["From"] = Address("Équipe SAV vigie", "sav", "vigie.example")
    message["To"] = [
        Address("Clément Dupré", "clement.dupre", "client.example"),
        Address("", "noc", "client.example"),
    ]
    message["Subject"] = subject
    message["Date"] = format_datetime(NOW)
    message["Message-ID"] = message_id or "<2505057242.notice-1@vigie.example>"
    message["X-Vigie-Ticket"] = "2505057242"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    message.add_attachment(CSV, maintype="text", subtype="csv", filename="résumé.csv")
    return message


def short_message(subject: str, to: str = "noc@client.example") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sav@vigie.example"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"{subject}\n")
    return message


def eml_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.eml"))


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[MailSink]:
    async with MailSink.start(tmp_path / "mail") as started:
        yield started


async def test_a_multipart_utf8_message_lands_whole_as_an_eml(
    sink: MailSink, tmp_path: Path
) -> None:
    sent = customer_message()
    errors, reply = await aiosmtplib.send(sent, hostname="127.0.0.1", port=sink.port)

    assert errors == {}
    assert reply.startswith("2.0.0 OK")
    [path] = eml_files(tmp_path / "mail")
    found = NAME.match(path.name)
    assert found is not None
    assert found.groups() == ("000001", "2505057242.notice-1@vigie.example")
    data = path.read_bytes()
    envelope = (
        b"X-Vigie-Envelope-From: sav@vigie.example\r\n"
        b"X-Vigie-Envelope-To: clement.dupre@client.example\r\n"
        b"X-Vigie-Envelope-To: noc@client.example\r\n"
    )
    [received] = sink.received
    assert data == envelope + received.raw  # the bytes as received, after the envelope
    assert "rétabli".encode() in received.raw  # 8-bit UTF-8 kept, not re-encoded
    assert received.path == path
    assert received.mail_from == "sav@vigie.example"
    assert received.rcpt_tos == ("clement.dupre@client.example", "noc@client.example")
    assert received.login is None
    [parsed] = sink.messages
    for header in ("From", "To", "Subject", "Date", "Message-ID", "X-Vigie-Ticket"):
        assert str(parsed[header]) == str(sent[header]), header
    assert parsed["Subject"] == SUBJECT
    assert parsed["From"].addresses[0].display_name == "Équipe SAV vigie"
    assert parsed.get_all("X-Vigie-Envelope-To") == list(received.rcpt_tos)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content() == TEXT
    assert html.get_content() == HTML
    [attachment] = parsed.iter_attachments()
    assert isinstance(attachment, EmailMessage)
    assert attachment.get_filename() == "résumé.csv"
    assert attachment.get_payload(decode=True) == CSV


async def test_smtplib_messages_are_named_in_arrival_order(sink: MailSink, tmp_path: Path) -> None:
    subjects = ["first", "second", "third"]

    def send_all() -> None:
        with smtplib.SMTP(*sink.address, timeout=5) as client:
            for subject in subjects:
                client.send_message(short_message(subject))

    await asyncio.to_thread(send_all)

    names = [path.name for path in eml_files(tmp_path / "mail")]
    assert [m["Subject"] for m in sink.messages] == subjects
    assert [path.name for path in (m.path for m in sink.received)] == names
    counters = [NAME.match(name).groups() for name in names]  # type: ignore[union-attr]
    assert counters == [(f"00000{i}", "no-message-id") for i in (1, 2, 3)]


async def test_auth_is_required_when_configured_and_a_wrong_password_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="vigie_lab")
    caplog.set_level(logging.DEBUG, logger="mail.log")
    async with MailSink.start(tmp_path / "mail", username=USER, password=PASSWORD) as sink:
        assert sink.auth_required
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as anonymous:
            await aiosmtplib.send(short_message("anonymous"), hostname="127.0.0.1", port=sink.port)
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as wrong:
            await aiosmtplib.send(
                short_message("wrong"),
                hostname="127.0.0.1",
                port=sink.port,
                username=USER,
                password="not-the-password",
            )
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port) as client:
            await client.auth_login(USER, PASSWORD)
            await client.send_message(short_message("login"))
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=sink.port) as client:
            await client.auth_plain(USER, PASSWORD)
            await client.send_message(short_message("plain"))

    assert anonymous.value.code == 530
    assert wrong.value.code == 535
    assert [m["Subject"] for m in sink.messages] == ["login", "plain"]
    assert [m.login for m in sink.received] == [USER, USER]
    assert len(eml_files(tmp_path / "mail")) == 2
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, base64.b64encode(PASSWORD.encode()).decode(), plain):
        assert secret not in caplog.text
    assert "AUTH" in caplog.text  # the refusal is logged, without what was typed


async def test_starttls_is_offered_and_auth_waits_for_it(tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    async with MailSink.start(
        tmp_path / "mail", username=USER, password=PASSWORD, tls_cert=cert, tls_key=key
    ) as sink:
        client = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=sink.port, start_tls=False, tls_context=trust
        )
        async with client:
            await client.ehlo()
            assert client.supports_extension("starttls")
            assert not client.supports_extension("auth")
            before = await client.execute_command(b"AUTH", b"PLAIN", b"AHVzZXIAcGFzcw==")
            await client.starttls()
            await client.ehlo()  # RFC 3207: the client forgets what it learnt before TLS
            assert client.supports_extension("auth")
            await client.login(USER, PASSWORD)
            await client.send_message(short_message("over TLS"))

    assert before.code == 538
    assert [m["Subject"] for m in sink.messages] == ["over TLS"]


async def test_a_transient_failure_then_the_retry_lands(sink: MailSink, tmp_path: Path) -> None:
    sink.fail_next(2, 451, "4.3.0 try again later")
    failures = []
    for _ in range(2):
        with pytest.raises(aiosmtplib.SMTPDataError) as failed:
            await aiosmtplib.send(short_message("retried"), hostname="127.0.0.1", port=sink.port)
        failures.append((failed.value.code, failed.value.message))
        assert eml_files(tmp_path / "mail") == []
    await aiosmtplib.send(short_message("retried"), hostname="127.0.0.1", port=sink.port)

    assert failures == [(451, "4.3.0 try again later")] * 2
    assert [m["Subject"] for m in sink.messages] == ["retried"]
    [path] = eml_files(tmp_path / "mail")
    assert NAME.match(path.name).group(1) == "000001"  # type: ignore[union-attr]


async def test_a_recipient_is_rejected_permanently(tmp_path: Path) -> None:
    reject = {"Gone@Client.example": (550, "5.1.1 no such user")}
    async with MailSink.start(tmp_path / "mail", reject=reject) as sink:
        message = short_message("two recipients", to="noc@client.example, gone@client.example")
        errors, _ = await aiosmtplib.send(message, hostname="127.0.0.1", port=sink.port)
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(
                short_message("only the gone one", to="gone@client.example"),
                hostname="127.0.0.1",
                port=sink.port,
            )

    assert {address: (r.code, r.message) for address, r in errors.items()} == {
        "gone@client.example": (550, "5.1.1 no such user")
    }
    [recipient_error] = refused.value.recipients
    assert (recipient_error.code, recipient_error.message) == (550, "5.1.1 no such user")
    [received] = sink.received
    assert received.rcpt_tos == ("noc@client.example",)
    assert received.message.get_all("X-Vigie-Envelope-To") == ["noc@client.example"]
    assert len(eml_files(tmp_path / "mail")) == 1


async def test_files_appear_whole_by_rename_and_never_half_written(
    sink: MailSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "mail"
    seen_before_rename: list[list[str]] = []
    rename = Path.replace

    def watched(self: Path, target: Any) -> Path:
        seen_before_rename.append(sorted(os.listdir(folder)))
        return rename(self, target)

    monkeypatch.setattr(Path, "replace", watched)
    await aiosmtplib.send(short_message("whole"), hostname="127.0.0.1", port=sink.port)
    monkeypatch.undo()

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(aiosmtplib.SMTPDataError) as failed:
        await aiosmtplib.send(short_message("disk full"), hostname="127.0.0.1", port=sink.port)
    monkeypatch.undo()

    [written] = sink.received
    [[temporary]] = seen_before_rename
    assert temporary == f".{written.path.name}.part"  # hidden, and not *.eml
    assert sorted(os.listdir(folder)) == [written.path.name]  # the failed one left nothing
    assert failed.value.code == 451
    assert [m["Subject"] for m in sink.messages] == ["whole"]


def test_write_atomically_leaves_nothing_when_the_rename_fails(tmp_path: Path) -> None:
    (tmp_path / "taken.eml").mkdir()  # a directory: the rename onto it fails
    with pytest.raises(OSError, match="Is a directory"):
        write_atomically(tmp_path / "taken.eml", b"data")

    assert sorted(os.listdir(tmp_path)) == ["taken.eml"]


async def test_loopback_only_a_taken_port_is_named_and_hooks_are_checked(
    sink: MailSink, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        async with MailSink.start(tmp_path / "other", host="0.0.0.0"):
            pass
    with pytest.raises(ListenFailed) as taken:
        async with MailSink.start(tmp_path / "other", port=sink.port):
            pass
    with pytest.raises(ValueError, match="4xx or 5xx"):
        sink.fail_next(1, 250, "2.0.0 fine")
    with pytest.raises(ValueError, match="both username and password"):
        async with MailSink.start(tmp_path / "other", username=USER):
            pass

    assert (taken.value.where, taken.value.port) == ("mail sink", sink.port)


async def _read_until_ready(stream: asyncio.StreamReader) -> str:
    banner = ""
    while "ready (Ctrl-C stops the lab)" not in banner:
        line = await stream.readline()
        assert line, f"the lab stopped: {banner}"
        banner += line.decode()
    return banner


async def _refused(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_cli_sinks_print_where_they_listen_and_keep_what_is_sent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    lab = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "vigie_lab", "run", "--fleet", "1", "--any-ports", "--sinks",
        "--data-dir", str(data),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )  # fmt: skip
    assert lab.stdout is not None and lab.stderr is not None
    try:
        async with asyncio.timeout(60):
            banner = await _read_until_ready(lab.stdout)
            mail = re.search(
                r"^  mail sink   (\S+):(\d+) \(SMTP, no AUTH, no TLS\), messages in (.+)$",
                banner,
                re.MULTILINE,
            )
            sms = re.search(
                r"^  sms sink    (http://(\S+):(\d+)/messages) \(Bearer token in (.+)\), "
                r"messages in (.+)$",
                banner,
                re.MULTILINE,
            )
            assert mail is not None and sms is not None, banner
            await aiosmtplib.send(
                customer_message(), hostname=mail.group(1), port=int(mail.group(2))
            )
            token = (await asyncio.to_thread(Path(sms.group(4)).read_text)).strip()
            async with httpx.AsyncClient(timeout=5) as client:
                answer = await client.post(
                    sms.group(1),
                    headers={"Authorization": f"Bearer {token}"},
                    json={
                        "to": "+33612345678",
                        "text": "INFO INCIDENT 2505057242 rétabli",
                        "reference": "notice-1:sms:+33612345678",
                        "encoding": "UCS-2",
                        "segments": 1,
                    },
                )
            lab.send_signal(signal.SIGINT)
            rest = (await lab.stdout.read()).decode()
            logs = (await lab.stderr.read()).decode()
            status = await lab.wait()
    finally:
        if lab.returncode is None:
            lab.kill()
            await lab.wait()

    assert status == 0 and "vigie lab stopped" in rest
    assert Path(mail.group(3)) == (data / "mail").resolve()
    assert Path(sms.group(5)) == (data / "sms").resolve()
    assert Path(sms.group(4)) == (data / "sms-token").resolve()
    assert (data / "sms-token").stat().st_mode & 0o777 == 0o600
    assert token not in banner + rest + logs
    [eml] = eml_files(data / "mail")
    assert NAME.match(eml.name).group(2) == "2505057242.notice-1@vigie.example"  # type: ignore[union-attr]
    assert SUBJECT.encode() not in eml.read_bytes()  # RFC 2047-encoded on the wire, as sent
    assert answer.status_code == 202
    [sms_file] = sorted((data / "sms").glob("*.json"))
    assert sms_file.name.endswith("-000001-+33612345678.json")
    assert await _refused(mail.group(1), int(mail.group(2)))  # nothing left listening
    assert await _refused(sms.group(2), int(sms.group(3)))
