"""The team's SMS header and mail subject: exact format, one line whatever the fields hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_notifier.headers import mail_subject, single_line, sms_header


def test_sms_header_is_the_team_format() -> None:
    assert (
        sms_header(
            operator="ORANGE", ticket="2505057242", site="INL_MOIRA_EVPN_LA1", city="MOIRANS"
        )
        == "ORANGE INFO INCIDENT 2505057242 Site INL_MOIRA_EVPN_LA1 Ville : MOIRANS"
    )


def test_mail_subject_is_the_team_format_with_the_operator_configured() -> None:
    assert mail_subject(
        operator="SFR Business",
        ticket="2505057242",
        reference="CD0HG0FDC",
        site="INL_MOIRA_EVPN_LA1",
        city="MOIRANS",
    ) == (
        "SFR Business INFO INCIDENT 2505057242 / Votre référence : CD0HG0FDC "
        "/ Site : INL_MOIRA_EVPN_LA1 - Ville : MOIRANS"
    )


def test_missing_fields_show_nc() -> None:
    assert sms_header(operator="O", ticket="1", site=None, city="  ") == (
        "O INFO INCIDENT 1 Site N/C Ville : N/C"
    )


@pytest.mark.parametrize(
    "breaker",
    ["\r\n", "\n", "\r", "\t", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029",
     "\x00", "\x1b", "\x7f", "\u202e"],
)  # fmt: skip
def test_line_breaks_and_controls_become_one_space(breaker: str) -> None:
    assert single_line(f"MOIRANS{breaker}Bcc: evil@example.com") == "MOIRANS Bcc: evil@example.com"


def test_single_line_collapses_runs_and_keeps_text() -> None:
    assert single_line("  A \r\n\r\n  B  ") == "A B"
    assert single_line('l\'équipe "réseau" & <b>') == 'l\'équipe "réseau" & <b>'
    assert single_line(None) == "N/C"
    assert single_line("\r\n", missing="") == ""
    assert single_line(2505057242) == "2505057242"


@given(
    operator=st.text(),
    ticket=st.text(),
    reference=st.none() | st.text(),
    site=st.none() | st.text(),
    city=st.none() | st.text(),
)
def test_headers_are_always_one_line(
    operator: str, ticket: str, reference: str | None, site: str | None, city: str | None
) -> None:
    subject = mail_subject(
        operator=operator, ticket=ticket, reference=reference, site=site, city=city
    )
    header = sms_header(operator=operator, ticket=ticket, site=site, city=city)
    for line in (subject, header):
        assert line.splitlines() == [line]
        assert line == line.strip()
        assert all(ord(char) >= 0x20 and char != "\x7f" for char in line)
    assert " / Votre référence : " in subject and " INFO INCIDENT " in header
