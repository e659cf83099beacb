"""The team's recipient list, ``NAME, phone, email;`` entries, read into checked recipients.

Technicians paste the list from the customer-information form, so every mistake is reported
at once with the entry it is in and the character where that field starts, instead of a mail
silently missing one contact. Phones are normalised to E.164 (``+33612345678``) for the SMS
gateway; emails are checked strictly enough that no header can be smuggled through them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "Recipient",
    "RecipientListError",
    "RecipientProblem",
    "check_email",
    "clean_name",
    "normalise_phone",
    "parse_recipients",
]

_LOCAL: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD: Final = re.compile(r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})")
_PHONE_NOISE: Final = re.compile(r"[\s.\-/()]")
_FORMAT: Final = "expected NAME, phone, email (an empty phone is written NAME, , email)"

Field = Literal["entry", "name", "phone", "email"]


def clean_name(value: str) -> str:
    """One line, single spaces; refuses control characters and an email in the name field."""
    name = " ".join(value.split())
    if not name:
        raise ValueError("missing name")
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise ValueError(f"control character in name {name!r}")
    if "@" in name:
        raise ValueError(f"{name!r} looks like an email in the name field; {_FORMAT}")
    return name


def normalise_phone(value: str) -> str:
    """A French (``06 12 34 56 78``, ``+33 (0)6…``, ``0033…``) or international number in E.164.

    Raises:
        ValueError: Not a phone number, or the wrong number of digits.
    """
    digits = _PHONE_NOISE.sub("", value.replace("(0)", ""))
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not re.fullmatch(r"\+?[0-9]+", digits):
        raise ValueError(f"{value.strip()!r} is not a phone number")
    if digits.startswith("+33"):
        national = digits[3:]
        national = national[1:] if len(national) == 10 and national[0] == "0" else national
        if len(national) == 9 and national[0] != "0":
            return "+33" + national
        raise ValueError(f"{value.strip()!r}: a French number has 9 digits after +33")
    if digits.startswith("+"):
        if 8 <= len(digits) - 1 <= 15 and digits[1] != "0":
            return digits
        raise ValueError(f"{value.strip()!r}: an international number has 8 to 15 digits")
    if len(digits) == 10 and digits[0] == "0" and digits[1] != "0":
        return "+33" + digits[1:]
    raise ValueError(
        f"{value.strip()!r}: expected a French number (10 digits from 0) or +country code"
    )


def check_email(value: str) -> str:
    """The address with its domain lower-cased; refuses what a mail header could not carry.

    Quoted local parts and non-ASCII local parts are refused; an internationalised domain
    is accepted when it converts to IDNA.

    Raises:
        ValueError: Not an address of the form local@domain.tld.
    """
    address = value.strip()
    local, at, domain = address.rpartition("@")
    problem = f"{address!r} is not a valid email address"
    if not at or len(address) > 254 or not 1 <= len(local) <= 64 or not _LOCAL.fullmatch(local):
        raise ValueError(problem)
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(problem) from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(problem)
    if not _TLD.fullmatch(labels[-1]):
        raise ValueError(problem)
    return f"{local}@{domain.lower()}"


class Recipient(BaseModel):
    """A contact of the customer's: who to greet, where to mail, where to text (if anywhere)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    phone: str | None = None
    """E.164, e.g. ``+33612345678``; None when the contact gave no phone."""
    email: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return clean_name(value)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalise_phone(value) if value is not None and value.strip() else None

    @property
    def sms_capable(self) -> bool:
        """A phone that takes SMS: any foreign number, a French one only if mobile (06/07)."""
        if self.phone is None:
            return False
        return not self.phone.startswith("+33") or self.phone[3] in "67"


@dataclass(frozen=True)
class RecipientProblem:
    """One mistake in the list: the entry (from 1), the character (from 1) and what is wrong."""

    entry: int
    position: int
    field: Field
    message: str

    def __str__(self) -> str:
        return f"entry {self.entry} (character {self.position}), {self.field}: {self.message}"


class RecipientListError(ValueError):
    """The list has mistakes; ``problems`` holds every one of them, in order."""

    def __init__(self, problems: tuple[RecipientProblem, ...]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        super().__init__(f"{count} in the recipient list: " + "; ".join(map(str, problems)))


def _pieces(text: str, separator: str, start: int) -> list[tuple[int, str]]:
    """``text`` split on ``separator``, each piece with its offset in the whole list."""
    found: list[tuple[int, str]] = []
    for piece in text.split(separator):
        found.append((start, piece))
        start += len(piece) + len(separator)
    return found


def _skip_blank(offset: int, piece: str) -> int:
    """The 1-based position of the piece's first visible character (or its start)."""
    return offset + (len(piece) - len(piece.lstrip())) + 1


_CHECKS: Final[tuple[tuple[Field, Callable[[str], str]], ...]] = (
    ("name", clean_name),
    ("phone", normalise_phone),
    ("email", check_email),
)


def _entry(entry: int, offset: int, raw: str) -> Recipient | list[RecipientProblem]:
    """One ``NAME, phone, email`` entry, or what is wrong with it."""
    fields = _pieces(raw, ",", offset)
    where = _skip_blank(offset, raw)
    if len(fields) > 3:
        return [RecipientProblem(entry, where, "entry", f"{len(fields)} fields; {_FORMAT}")]
    if len(fields) == 2 and "@" in fields[1][1]:
        return [RecipientProblem(entry, where, "phone", f"missing phone field; {_FORMAT}")]
    problems: list[RecipientProblem] = []
    values: dict[str, str | None] = {}
    for index, (field, check) in enumerate(_CHECKS):
        at, text = fields[index] if index < len(fields) else (offset + len(raw), "")
        position = _skip_blank(at, text)
        if field == "phone" and not text.strip():
            values[field] = None  # no phone: mail only
            continue
        if field == "email" and not text.strip():
            problems.append(RecipientProblem(entry, position, field, "missing email"))
            continue
        try:
            values[field] = check(text)
        except ValueError as exc:
            problems.append(RecipientProblem(entry, position, field, str(exc)))
    if problems:
        return problems
    return Recipient.model_validate(values)


def parse_recipients(text: str) -> tuple[Recipient, ...]:
    """Read the team's list: ``NAME, phone, email;`` entries separated by ``;``.

    A trailing ``;`` ends the last entry (the team's own format); an empty entry elsewhere,
    a missing or invalid email, an invalid phone and a repeated email are mistakes.

    Raises:
        RecipientListError: With every mistake, each naming its entry and character.
    """
    pieces = _pieces(text, ";", 0)
    if len(pieces) > 1 and not pieces[-1][1].strip():
        pieces.pop()  # the ";" that ends the last entry
    problems: list[RecipientProblem] = []
    recipients: list[Recipient] = []
    first_seen: dict[str, int] = {}
    for entry, (offset, raw) in enumerate(pieces, start=1):
        if not raw.strip():
            message = "no recipient" if len(pieces) == 1 else "empty entry"
            problems.append(RecipientProblem(entry, offset + 1, "entry", message))
            continue
        result = _entry(entry, offset, raw)
        if isinstance(result, list):
            problems.extend(result)
            continue
        key = result.email.casefold()
        if key in first_seen:
            message = f"{result.email} is already entry {first_seen[key]}"
            email_at = _skip_blank(*_pieces(raw, ",", offset)[-1])
            problems.append(RecipientProblem(entry, email_at, "email", message))
            continue
        first_seen[key] = entry
        recipients.append(result)
    if problems:
        raise RecipientListError(tuple(problems))
    return tuple(recipients)
