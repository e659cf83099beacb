"""The sender's byte builder against ``build_message``: parsed back, the same mail.

Both are read with the ``email`` package's modern parser and compared field by field
(decoded subject, names and addresses, date, ids, threading, both parts' text) on ordinary
and hostile text: accents, quotes, ``<script>``, CR/LF and other line breaks, encoded-word
look-alikes, very long subjects and names, lines over 76 characters, trailing spaces.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vigie_notifier.delivery import InvalidMessage, Mailbox
from vigie_notifier.headers import single_line
from vigie_notifier.mail_bytes import build_mail
from vigie_notifier.mailer import build_message, message_id_for

WHEN = datetime(2025, 6, 16, 16, 10, tzinfo=timezone(timedelta(hours=2)))
SENDER = Mailbox("Service Client Réseau", "noc@vigie.example")
KEY = "9f86d081884c7d659a2feaa0c55ad015"
THREAD = message_id_for("ticket-2505057242", "vigie.example")
HOSTILE = [
    "DUPONT Zoé",
    'O\'Brien "Jo" <script>alert(1)</script>',
    "Line\r\nBcc: evil@attacker.example",
    "=?utf-8?q?not_a_word?=",
    "tab\there\u2028sep\x85next",
    "x" * 300,
    "  spaces   everywhere  ",
    "Ελληνικά 中文 emoji 🚨",
]


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def view(message: EmailMessage) -> dict[str, Any]:
    """What a reader sees: decoded header fields and each part's text."""
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    to = message["To"]
    return {
        "subject": str(message["Subject"]),
        "from": [(a.display_name, a.addr_spec) for a in message["From"].addresses],
        "to": [(a.display_name, a.addr_spec) for a in to.addresses],
        "date": message["Date"].datetime,
        "message-id": str(message["Message-ID"]),
        "in-reply-to": str(message.get("In-Reply-To", "")),
        "references": str(message.get("References", "")),
        "auto-submitted": str(message["Auto-Submitted"]),
        "content-type": message.get_content_type(),
        "plain": plain.get_content() if plain is not None else None,
        "html": html.get_content() if html is not None and html is not plain else None,
        "headers": sorted(k.lower() for k in message if k.lower() != "content-type"),
    }


def both(**fields: Any) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    arguments: dict[str, Any] = {
        "subject": "ORANGE INFO INCIDENT 2505057242 / Votre référence : CD0HG0FDC",
        "text": "Bonjour,\n\nAucune coupure constatée.\n",
        "html": "<p>Bonjour,</p>",
        "sender": SENDER,
        "recipients": [Mailbox("DUPONT Zoé", "zoe@client.example")],
        "message_id": message_id_for(KEY, "vigie.example"),
        "thread_id": THREAD,
        "date": WHEN,
    } | fields
    slow = flatten_message(build_message(**arguments), cte_type="7bit")
    fast = build_mail(**arguments)
    return view(parsed(slow)), view(parsed(fast.data)), fast.data


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_anywhere_reads_back_the_same(text: str) -> None:
    slow, fast, data = both(
        subject=f"INFO INCIDENT {text}",
        text=f"Bonjour {text},\n{text}\n",
        html=f"<p>{text}</p>",
        recipients=[Mailbox(text, "zoe@client.example"), Mailbox("Léa", "lea@client.example")],
        sender=Mailbox(text, "noc@vigie.example"),
    )
    if "=?" in text:
        # The email package lets a reader decode a look-alike encoded word; the bytes
        # builder encodes the text, so it reads back as written.
        assert fast.pop("subject") == f"INFO INCIDENT {text}"
        assert fast.pop("to")[0][0] == text
        assert fast.pop("from")[0][0] == text
        slow = {k: v for k, v in slow.items() if k in fast}
    assert fast == slow
    assert all(len(line) <= 998 for line in data.split(b"\r\n")), "a line over RFC 5322's limit"
    assert len(data.split(b"\r\n", 1)[0]) <= 78, "the subject is folded"
    assert data.isascii() and b"\n" not in data.replace(b"\r\n", b"")
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in head, "a line break in a field opened a header"


def test_a_text_only_mail_a_first_mail_and_a_repeated_address() -> None:
    slow, fast, _ = both(
        html=None,
        thread_id=message_id_for(KEY, "vigie.example"),  # the ticket's first mail
        recipients=[Mailbox("A", "a@client.example"), Mailbox("B", "A@CLIENT.example")],
    )
    assert fast == slow
    assert fast["in-reply-to"] == "" and fast["to"] == [("A", "a@client.example")]
    assert fast["content-type"] == "text/plain"


def test_the_same_refusals() -> None:
    refused: list[dict[str, Any]] = [
        {"recipients": []},
        {"recipients": [Mailbox("x", "not an address")]},
        {"date": datetime(2025, 6, 16, 16, 10)},  # noqa: DTZ001 - naive on purpose
        {"message_id": "no-brackets@vigie.example"},
        {"thread_id": "<bad id>"},
    ]
    for fields in refused:
        arguments: dict[str, Any] = {
            "subject": "s",
            "text": "t",
            "html": None,
            "sender": SENDER,
            "recipients": [Mailbox("Z", "z@client.example")],
            "message_id": message_id_for(KEY, "vigie.example"),
            "thread_id": None,
            "date": WHEN,
        } | fields
        with pytest.raises(InvalidMessage) as slow:
            build_message(**arguments)
        with pytest.raises(InvalidMessage) as fast:
            build_mail(**arguments)
        assert str(fast.value) == str(slow.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=st.text(max_size=200),
    body=st.text(max_size=400),
    name=st.text(max_size=80),
    minutes=st.integers(min_value=-720, max_value=720),
)
def test_any_text_reads_back_as_written(subject: str, body: str, name: str, minutes: int) -> None:
    """Subject and name read back as written (on one line); the rest as ``build_message``'s.

    (The ``email`` package itself sometimes adds a space inside a long encoded name, or
    decodes a look-alike encoded word: the bytes builder does neither.)
    """
    zone = timezone(timedelta(minutes=minutes)) if minutes else UTC
    slow, fast, data = both(
        subject=subject,
        text=body,
        html=f"<pre>{body}</pre>",
        recipients=[Mailbox(name, "zoe@client.example")],
        date=WHEN.astimezone(zone),
    )
    assert fast.pop("subject") == single_line(subject, missing="")
    assert fast.pop("to") == [(single_line(name, missing=""), "zoe@client.example")]
    assert fast == {k: v for k, v in slow.items() if k in fast}
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
