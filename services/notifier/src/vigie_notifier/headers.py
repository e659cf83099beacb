"""The team's SMS header and mail subject, built so that no field can start a second line.

Ticket fields come from upstream systems and the form from people: a CR/LF in a site name
must not become a forged mail header, and a tab or a line separator must not break the one
line the customer's phone shows first. Every field goes through :func:`single_line`.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["DIRECTION_MARKS", "MISSING", "mail_subject", "single_line", "sms_header"]

MISSING: Final = "N/C"
"""What a header shows for a field the ticket does not give (non communiqué)."""

_BREAKING: Final = frozenset({"Cc", "Zl", "Zp"})
"""Control characters (CR, LF, NEL, ESC…) and the Unicode line and paragraph separators."""

DIRECTION_MARKS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Direction overrides, which can make a subject read differently from what it says."""


def single_line(value: object, *, missing: str = MISSING) -> str:
    """``value`` as one line: breaking and control characters become spaces, runs collapse.

    None, or a value with nothing visible left, gives ``missing``.
    """
    if value is None:
        return missing
    text = "".join(
        " " if unicodedata.category(char) in _BREAKING or char in DIRECTION_MARKS else char
        for char in str(value)
    )
    return " ".join(text.split()) or missing


def sms_header(*, operator: str, ticket: str, site: str | None, city: str | None) -> str:
    """``<OPERATOR> INFO INCIDENT <ticket> Site <site> Ville : <city>``, the SMS's first line."""
    return (
        f"{single_line(operator)} INFO INCIDENT {single_line(ticket)} "
        f"Site {single_line(site)} Ville : {single_line(city)}"
    )


def mail_subject(
    *, operator: str, ticket: str, reference: str | None, site: str | None, city: str | None
) -> str:
    """The mail subject, the team's format, one line.

    ``<OPERATOR> INFO INCIDENT <ticket> / Votre référence : <ref> / Site : <site> - Ville : <city>``
    """
    return (
        f"{single_line(operator)} INFO INCIDENT {single_line(ticket)} "
        f"/ Votre référence : {single_line(reference)} "
        f"/ Site : {single_line(site)} - Ville : {single_line(city)}"
    )
