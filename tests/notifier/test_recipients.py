"""The team's ``NAME, phone, email;`` list, and the form carrying it: every mistake placed."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError
from vigie_notifier.recipients import (
    Recipient,
    RecipientListError,
    check_email,
    normalise_phone,
    parse_recipients,
)

from tests.notifier.test_rendering import PARIS, real_form

GOOD = (
    "DUPONT Jean, 06 12 34 56 78, jean.dupont@rte-france.com;\n"
    "MARTIN Sophie, +33 (0)7 98 76 54 32, S.Martin@RTE-France.COM;\n"
    "ACCUEIL MOIRANS, , accueil.moirans@rte-france.com;"
)


def problems(text: str) -> list[tuple[int, int, str, str]]:
    with pytest.raises(RecipientListError) as caught:
        parse_recipients(text)
    return [(p.entry, p.position, p.field, p.message) for p in caught.value.problems]


def test_the_team_list_parses_with_its_trailing_semicolon() -> None:
    parsed = parse_recipients(GOOD)
    assert parsed == (
        Recipient(name="DUPONT Jean", phone="+33612345678", email="jean.dupont@rte-france.com"),
        Recipient(name="MARTIN Sophie", phone="+33798765432", email="S.Martin@rte-france.com"),
        Recipient(name="ACCUEIL MOIRANS", phone=None, email="accueil.moirans@rte-france.com"),
    )
    assert [r.sms_capable for r in parsed] == [True, True, False]
    assert parse_recipients(GOOD.rstrip(";")) == parsed  # the last ";" is optional
    assert parse_recipients("O'NEIL  Mary-Ann , 0612345678,o'neil@example.fr ")[0].name == (
        "O'NEIL Mary-Ann"
    )


def test_every_mistake_is_reported_with_its_entry_and_character() -> None:
    text = (
        "DUPONT, 0612345678;"  # 1: no email
        " MARTIN, 0612345678, martin@;"  # 2: bad email
        "DURAND, 06 12, durand@example.fr;"  # 3: bad phone
        ";"  # 4: empty entry
        "PETIT, petit@example.fr;"  # 5: phone field forgotten
        ", 0612345678, anonyme@example.fr;"  # 6: no name
        "A, 0612345678, a@example.fr, extra;"  # 7: too many fields
    )
    found = problems(text)
    assert [(entry, field) for entry, _, field, _ in found] == [
        (1, "email"),
        (2, "email"),
        (3, "phone"),
        (4, "entry"),
        (5, "phone"),
        (6, "name"),
        (7, "entry"),
    ]
    positions = [position for _, position, _, _ in found]
    assert positions[1] == text.index("martin@") + 1
    assert positions[2] == text.index("06 12,") + 1
    assert positions[3] == text.index(";;") + 2
    assert positions[4] == text.index("PETIT") + 1
    assert positions[6] == text.index("A, 0612") + 1
    messages = [message for _, _, _, message in found]
    assert messages[0] == "missing email"
    assert messages[1] == "'martin@' is not a valid email address"
    assert messages[3] == "empty entry"
    assert messages[5] == "missing name"
    assert messages[6].startswith("4 fields; expected NAME, phone, email")


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(RecipientListError) as caught:
        parse_recipients("A, 0612345678, bad;;")
    message = str(caught.value)
    assert message.startswith("2 problems in the recipient list: entry 1 (character 16), email:")
    assert "entry 2 (character 20), entry: empty entry" in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text", ["", "   ", ";", " ;\n"])
def test_an_empty_list_is_a_mistake(text: str) -> None:
    assert problems(text)[0][2:] in {("entry", "no recipient"), ("entry", "empty entry")}


def test_a_repeated_email_is_a_mistake() -> None:
    text = "A, , a@example.fr; B, , A@EXAMPLE.FR"
    found = problems(text)
    assert found == [(2, text.index("A@EX") + 1, "email", "A@example.fr is already entry 1")]


@pytest.mark.parametrize(
    "text",
    [
        "06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "+33612345678",
        "+33 6 12 34 56 78",
        "0033 6 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "+330612345678",
    ],
)
def test_french_numbers_become_e164(text: str) -> None:
    assert normalise_phone(text) == "+33612345678"


def test_landlines_and_foreign_numbers() -> None:
    assert normalise_phone("01 23 45 67 89") == "+33123456789"
    assert normalise_phone("+32 470 12 34 56") == "+32470123456"
    assert normalise_phone("0032 470 12 34 56") == "+32470123456"
    landline = Recipient(name="A", phone="04 76 00 00 00", email="a@example.fr")
    assert landline.phone == "+33476000000" and not landline.sms_capable
    assert Recipient(name="B", phone="+32470123456", email="b@example.fr").sms_capable


@pytest.mark.parametrize(
    "text",
    ["12345", "06 12 34 56", "+33 6 12", "abc", "06 12 34 56 78 9", "+0612345678", "06 12 34 56 7",
     "6 12 34 56 78", "06 12 34 56 78\nBcc: x", "+1 23"],
)  # fmt: skip
def test_bad_phones_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"phone number|digits|expected a French number"):
        normalise_phone(text)


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("jean.dupont@rte-france.com", "jean.dupont@rte-france.com"),
        ("Jean.Dupont+sav@RTE-France.COM", "Jean.Dupont+sav@rte-france.com"),
        ("o'neil@example.fr", "o'neil@example.fr"),
        (" a@b.co ", "a@b.co"),
        ("contact@bücher.de", "contact@bücher.de"),
        ("x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
    ],
)
def test_good_emails(text: str, normal: str) -> None:
    assert check_email(text) == normal


@pytest.mark.parametrize(
    "text",
    [
        "jean@",
        "@example.fr",
        "jean",
        "jean@example",
        "jean dupont@example.fr",
        "jean@example..fr",
        "jean..dupont@example.fr",
        "a@b@example.fr",
        "jean@example.fr\r\nBcc: evil@example.com",
        "<jean@example.fr>",
        '"jean"@example.fr',
        "jean@-example.fr",
        "jean@example.f",
        "jéan@example.fr",
        "jean@example.fr,evil@example.com",
        "a" * 65 + "@example.fr",
    ],
)
def test_bad_emails_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a valid email address"):
        check_email(text)


def test_recipient_model_validates_like_the_list() -> None:
    with pytest.raises(ValidationError, match="missing name"):
        Recipient(name="  ", email="a@example.fr")
    with pytest.raises(ValidationError, match="control character"):
        Recipient(name="A\x00B", email="a@example.fr")
    with pytest.raises(ValidationError, match="looks like an email"):
        Recipient(name="a@example.fr", email="a@example.fr")
    assert Recipient(name="A\r\nB", phone=" ", email="a@example.fr").name == "A B"


def test_form_checks_freeze_sms_and_cleans_text() -> None:
    with pytest.raises(ValidationError, match="freeze_start"):
        real_form(context="gtr_freeze")
    with pytest.raises(ValidationError, match="only go with context gtr_freeze"):
        real_form(freeze_start=datetime(2025, 6, 17, tzinfo=PARIS))
    with pytest.raises(ValidationError, match="no recipient has a mobile"):
        real_form(recipients="ACCUEIL, 01 23 45 67 89, accueil@example.fr")
    with pytest.raises(ValidationError, match=r"entry 1 \(character 19\), email: missing email"):
        real_form(recipients="DUPONT, 0612345678")
    form = real_form(customer_text="  a\r\nb\rc\x00d\u202ee\u2028f\t ", channels={"mail"})
    assert form.customer_text == "a\nb\ncde\nf"
    assert form.recipients[0].phone == "+33612345678"
