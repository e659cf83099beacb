"""Contacts files: YAML and CSV read alike, every mistake refused naming its line and field."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from vigie_notifier.contacts import (
    ContactChange,
    ContactChoice,
    ContactEntry,
    Contacts,
    ContactsInvalid,
    ContactsUnreadable,
    FieldChange,
    customer_key,
    describe_recipients_change,
    diff_contacts,
    format_recipients,
)
from vigie_notifier.contacts_formats import read_contacts
from vigie_notifier.recipients import Recipient, parse_recipients

RTE = "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE"

# Line numbers matter below: each case replaces or adds numbered lines of this file.
YAML = f"""\
customers:
  - name: {RTE}
    recipients: |
      DUPONT Jean, 06 12 34 56 78, jean.dupont@example.com;
      MARTIN Léa, , lea.martin@example.com;
    channel: both
    sites:
      - code: INL_MOIRA_EVPN_LA1
        recipients: "DURAND Paul, 07 00 00 00 01, paul.durand@example.com;"
        channel: mail
      - code: INU_CONF5_EVPN_LA1
        recipients: "PETIT Chloé, 06 00 00 00 02, chloe@example.com; ROUX M, , m@example.com"
  - name: EXEMPLE ENERGIE SA
    recipients: "SERVICE IT, , it@example.com;"
"""

# The same contacts as a CSV; the first row's recipients cell spans lines 2 and 3.
CSV = f"""\
customer,site,recipients,channel
{RTE},,"DUPONT Jean, 06 12 34 56 78, jean.dupont@example.com;
MARTIN Léa, , lea.martin@example.com;",both
{RTE},INL_MOIRA_EVPN_LA1,"DURAND Paul, 07 00 00 00 01, paul.durand@example.com;",mail
{RTE},INU_CONF5_EVPN_LA1,"PETIT Chloé, 06 00 00 00 02, chloe@example.com; ROUX M, , m@example.com",
EXEMPLE ENERGIE SA,,"SERVICE IT, , it@example.com;",
"""

EXPECTED = Contacts(
    (
        ContactEntry(
            RTE,
            "",
            "DUPONT Jean, +33612345678, jean.dupont@example.com; "
            "MARTIN Léa, , lea.martin@example.com;",
            "both",
        ),
        ContactEntry(
            RTE, "INL_MOIRA_EVPN_LA1", "DURAND Paul, +33700000001, paul.durand@example.com;", "mail"
        ),
        ContactEntry(
            RTE,
            "INU_CONF5_EVPN_LA1",
            "PETIT Chloé, +33600000002, chloe@example.com; ROUX M, , m@example.com;",
            "both",  # the customer's channel
        ),
        ContactEntry("EXEMPLE ENERGIE SA", "", "SERVICE IT, , it@example.com;", "mail"),
    )
)


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files are named as the user typed them: relative names here."""
    monkeypatch.chdir(tmp_path)


def edited(text: str, replace: dict[int, str] | None = None, *, extra: str = "") -> str:
    lines = text.splitlines()
    for number, line in (replace or {}).items():
        lines[number - 1] = line
    return "\n".join(lines) + "\n" + extra


def read_text(text: str, name: str = "contacts.yaml") -> Contacts:
    Path(name).write_text(text, encoding="utf-8")
    return read_contacts([Path(name)])


def refusal(text: str, name: str = "contacts.yaml") -> list[str]:
    with pytest.raises(ContactsInvalid) as caught:
        read_text(text, name)
    return [str(problem) for problem in caught.value.problems]


def test_yaml_and_csv_read_the_same_contacts() -> None:
    assert read_text(YAML) == EXPECTED
    assert read_text(CSV, "contacts.csv") == EXPECTED
    assert (EXPECTED.customers, EXPECTED.defaults, EXPECTED.sites) == (2, 2, 2)


def test_the_shipped_example_is_valid() -> None:
    example = resources.files("vigie_notifier") / "contacts.example.yaml"
    with resources.as_file(example) as path:
        contacts = read_contacts([path])
    assert (contacts.customers, contacts.defaults, contacts.sites) == (3, 2, 3)
    emails = [r.email for e in contacts.entries for r in parse_recipients(e.recipients)]
    assert all(email.endswith("@example.com") for email in emails)
    channels = {(e.customer, e.site_code): e.channel for e in contacts.entries}
    assert channels[("EXEMPLE ENERGIE SA", "EXM_LYON_EVPN_LA1")] == "both"  # inherited


def test_recipients_are_stored_in_a_canonical_text_that_parses_back() -> None:
    written = "  DUPONT   Jean ,0612345678,jean@EXAMPLE.com ;MARTIN Léa,,lea@example.com"
    text = format_recipients(parse_recipients(written))
    assert text == "DUPONT Jean, +33612345678, jean@example.com; MARTIN Léa, , lea@example.com;"
    assert format_recipients(parse_recipients(text)) == text


def test_values_are_taken_as_written_and_channels_in_any_case() -> None:
    text = (
        "customers:\n  - name: 0123\n    recipients: 'A, , a@example.com'\n    channel: MAIL\n"
        "    sites:\n      - {code: 007, recipients: 'B, +44 7700 900123, b@example.com', "
        "channel: Sms}\n"
    )
    contacts = read_text(text)
    assert [(e.customer, e.site_code, e.channel) for e in contacts.entries] == [
        ("0123", "", "mail"),
        ("0123", "007", "sms"),
    ]


def test_a_customer_may_have_only_sites_and_a_site_defaults_to_mail() -> None:
    text = (
        "customers:\n  - name: '  ACME   corp '\n    sites:\n"
        "      - code: S1\n        recipients: 'A, , a@example.com'\n"
    )
    assert read_text(text) == Contacts(
        (ContactEntry("ACME corp", "S1", "A, , a@example.com;", "mail"),)
    )


@pytest.mark.parametrize(
    ("replace", "extra", "expected"),
    [
        pytest.param(
            {5: "      MARTIN Léa, , lea.martin@"},
            "",
            "contacts.yaml line 5: customers[0].recipients: entry 2 (MARTIN Léa): email: "
            "'lea.martin@' is not a valid email address",
            id="bad-email-on-its-own-line-of-a-block",
        ),
        pytest.param(
            {
                12: '        recipients: "PETIT Chloé, 06 00 00 00 02, chloe@example.com; '
                'MARTIN Léa, , lea.martin@"'
            },
            "",
            "contacts.yaml line 12: customers[0].sites[1].recipients: entry 2 (MARTIN Léa): "
            "email: 'lea.martin@' is not a valid email address",
            id="bad-email-in-a-site",
        ),
        pytest.param(
            {4: "      DUPONT Jean, 06 12, jean.dupont@example.com;"},
            "",
            "contacts.yaml line 4: customers[0].recipients: entry 1 (DUPONT Jean): phone: "
            "'06 12': expected a French number (10 digits from 0) or +country code",
            id="bad-phone",
        ),
        pytest.param(
            {4: "      DUPONT Jean, 06 12 34 56 78, jean@example.com, extra;"},
            "",
            "contacts.yaml line 4: customers[0].recipients: entry 1 (DUPONT Jean): 4 fields; "
            "expected NAME, phone, email (an empty phone is written NAME, , email)",
            id="too-many-fields",
        ),
        pytest.param(
            {4: "      ;"},
            "",
            "contacts.yaml line 4: customers[0].recipients: entry 1: empty entry",
            id="empty-entry",
        ),
        pytest.param(
            {5: "      MARTIN Léa, , jean.dupont@example.com;"},
            "",
            "contacts.yaml line 5: customers[0].recipients: entry 2 (MARTIN Léa): email: "
            "jean.dupont@example.com is already entry 1",
            id="same-email-twice",
        ),
        pytest.param(
            {6: "    channel: fax"},
            "",
            "contacts.yaml line 6: customers[0].channel: unknown channel 'fax' "
            "(known: both, mail, sms)",
            id="unknown-channel",
        ),
        pytest.param(
            {
                9: '        recipients: "DURAND Paul, 04 00 00 00 01, paul.durand@example.com;"',
                10: "        channel: sms",
            },
            "",
            "contacts.yaml line 10: customers[0].sites[0].channel: channel 'sms' sends SMS, but "
            "no recipient has a mobile phone (06, 07 or a foreign number)",
            id="sms-without-a-mobile",
        ),
        pytest.param(
            {12: '        recipients: "ROUX Marc, , marc.roux@example.com"'},
            "",
            "contacts.yaml line 12: customers[0].sites[1].recipients: channel 'both' (its "
            "customer's, at line 6) sends SMS, but no recipient has a mobile phone (06, 07 or a "
            "foreign number)",
            id="inherited-sms-without-a-mobile",
        ),
        pytest.param(
            {},
            "    colour: blue\n",
            "contacts.yaml line 15: customers[1].colour: unknown key (known: channel, name, "
            "recipients, sites)",
            id="unknown-key",
        ),
        pytest.param(
            {10: "        email: a@example.com"},
            "",
            "contacts.yaml line 10: customers[0].sites[0].email: unknown key (known: channel, "
            "code, recipients)",
            id="unknown-site-key",
        ),
        pytest.param(
            {},
            "  - name: exemple  energie sa\n    recipients: 'A, , a@example.com'\n",
            "contacts.yaml line 15: customers[2].name: duplicate customer 'exemple energie sa' "
            "(first at line 13, written 'EXEMPLE ENERGIE SA': case and spaces are ignored)",
            id="duplicate-customer",
        ),
        pytest.param(
            {11: "      - code: INL_MOIRA_EVPN_LA1"},
            "",
            "contacts.yaml line 11: customers[0].sites[1].code: duplicate site "
            "'INL_MOIRA_EVPN_LA1' (first at line 8)",
            id="duplicate-site",
        ),
        pytest.param(
            {},
            "    sites:\n      - code: INL_MOIRA_EVPN_LA1\n"
            "        recipients: 'A, , a@example.com'\n",
            f"contacts.yaml line 16: customers[1].sites[0].code: site 'INL_MOIRA_EVPN_LA1' is "
            f"already listed for customer '{RTE}' (at line 8): a site has one customer",
            id="a-site-under-two-customers",
        ),
        pytest.param(
            {8: "      - code: INL MOIRA"},
            "",
            "contacts.yaml line 8: customers[0].sites[0].code: a site code must be at most 200 "
            "characters, no spaces",
            id="bad-site-code",
        ),
        pytest.param(
            {12: "        channel: mail"},
            "",
            "contacts.yaml line 11: customers[0].sites[1].recipients: required field missing",
            id="site-without-recipients",
        ),
        pytest.param(
            {14: "    channel: mail"},
            "",
            "contacts.yaml line 13: customers[1].recipients: a customer needs recipients (its "
            "default contacts) or sites",
            id="customer-without-contacts",
        ),
        pytest.param(
            {14: "    recipients:"},
            "",
            "contacts.yaml line 14: customers[1].recipients: required field missing",
            id="empty-recipients",
        ),
        pytest.param(
            {13: "  - recipients: 'A, , a@example.com'", 14: "    channel: mail"},
            "",
            "contacts.yaml line 13: customers[1].name: required field missing",
            id="missing-name",
        ),
        pytest.param(
            {14: "    recipients: [a, b]"},
            "",
            "contacts.yaml line 14: customers[1].recipients: expected a single value (the team's "
            "text 'NAME, phone, email; …'), got a list",
            id="recipients-as-a-list",
        ),
        pytest.param(
            {6: "    channel: [both"},
            "",
            "contacts.yaml line 7: not valid YAML: did not find expected ',' or ']'",
            id="syntax",
        ),
    ],
)
def test_bad_yaml_is_refused_naming_line_and_field(
    replace: dict[int, str], extra: str, expected: str
) -> None:
    problems = refusal(edited(YAML, replace, extra=extra))
    assert expected in problems, problems


def test_the_briefs_example_message() -> None:
    text = (
        "customers:\n"
        "  - name: RTE\n"
        "    sites:\n"
        "      - code: A\n"
        "        recipients: 'A, , a@example.com'\n"
        "      - code: B\n"
        "        recipients: 'DUPONT Jean, , jean@example.com; MARTIN Léa, , lea.martin'\n"
    )
    assert refusal(text) == [
        "contacts.yaml line 7: customers[0].sites[1].recipients: entry 2 (MARTIN Léa): email: "
        "'lea.martin' is not a valid email address"
    ]


def test_every_problem_is_listed_in_line_order() -> None:
    replace = {5: "      MARTIN Léa, , lea@", 6: "    channel: fax", 8: "      - code: A B"}
    assert [p.split(":")[0] for p in refusal(edited(YAML, replace))] == [
        "contacts.yaml line 5",
        "contacts.yaml line 6",
        "contacts.yaml line 8",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "contacts.yaml line 1: empty file: expected 'customers'"),
        ("- a\n", "contacts.yaml line 1: expected a mapping of customers"),
        ("{}\n", "contacts.yaml line 1: customers: required field missing"),
        ("customers: {}\n", "contacts.yaml line 1: customers: expected a list"),
        ("sites: []\n", "contacts.yaml line 1: sites: unknown key (known: customers)"),
        (
            "customers: []\ncustomers: []\n",
            "contacts.yaml line 2: customers: duplicate key (first at line 1)",
        ),
        (
            "customers:\n  - &c {name: A, recipients: 'A, , a@example.com'}\n  - *c\n",
            "contacts.yaml line 2: customers[1]: aliases (*name) are not supported: write the "
            "value out",
        ),
        ("customers:\n  - just a name\n", "contacts.yaml line 2: customers[0]: expected a mapping"),
    ],
)
def test_badly_shaped_yaml_is_refused(text: str, expected: str) -> None:
    problems = refusal(text)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_wrong_sites_list_is_reported_once() -> None:
    assert refusal("customers:\n  - name: A\n    sites: {}\n") == [
        "contacts.yaml line 3: customers[0].sites: expected a list"
    ]


def test_an_empty_list_of_customers_is_valid() -> None:
    assert read_text("customers: []\n") == Contacts()


# -- CSV -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "extra", "expected"),
    [
        pytest.param(
            {3: 'MARTIN Léa, , lea.martin@;",both'},
            "",
            "contacts.csv line 3, column recipients: entry 2 (MARTIN Léa): email: "
            "'lea.martin@' is not a valid email address",
            id="bad-email-on-the-second-line-of-a-cell",
        ),
        pytest.param(
            {},
            "ACME,,DUPONT Jean, , jean@example.com;,mail\n",
            "contacts.csv line 7: 6 values for 4 columns (quote the recipients: they hold commas)",
            id="unquoted-recipients",
        ),
        pytest.param(
            {},
            'EXEMPLE ENERGIE SA,,"A, , a@example.com",\n',
            "contacts.csv line 7, column site: duplicate default contacts for customer "
            "'EXEMPLE ENERGIE SA' (first at line 6)",
            id="duplicate-default",
        ),
        pytest.param(
            {},
            f'{RTE},INL_MOIRA_EVPN_LA1,"A, 06 00 00 00 09, a@example.com",\n',
            "contacts.csv line 7, column site: duplicate site 'INL_MOIRA_EVPN_LA1' "
            "(first at line 4)",
            id="duplicate-site",
        ),
        pytest.param(
            {},
            'Exemple Energie SA,S9,"A, , a@example.com",\n',
            "contacts.csv line 7, column customer: customer written 'EXEMPLE ENERGIE SA' at line "
            "6: write it the same way",
            id="customer-spelt-otherwise",
        ),
        pytest.param(
            {},
            ',S9,"A, , a@example.com",\n',
            "contacts.csv line 7, column customer: required field missing",
            id="no-customer",
        ),
        pytest.param(
            {},
            "ACME,S9,,mail\n",
            "contacts.csv line 7, column recipients: required field missing",
            id="no-recipients",
        ),
        pytest.param(
            {},
            'ACME,S9,"A, 04 00 00 00 00, a@example.com",both\n',
            "contacts.csv line 7, column channel: channel 'both' sends SMS, but no recipient has "
            "a mobile phone (06, 07 or a foreign number)",
            id="sms-without-a-mobile",
        ),
        pytest.param(
            {},
            f'{RTE},INL_NEW,"A, 04 00 00 00 00, a@example.com",\n',
            "contacts.csv line 7, column recipients: channel 'both' (its customer's, at line 2) "
            "sends SMS, but no recipient has a mobile phone (06, 07 or a foreign number)",
            id="inherited-sms-without-a-mobile",
        ),
    ],
)
def test_bad_csv_is_refused_naming_line_and_column(
    replace: dict[int, str], extra: str, expected: str
) -> None:
    assert refusal(edited(CSV, replace, extra=extra), "contacts.csv") == [expected]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "customer,site,recipients,email",
            "contacts.csv line 1, column email: unknown column (known: customer, site, "
            "recipients, channel)",
        ),
        ("customer,site", "contacts.csv line 1, column recipients: column missing"),
        ("site,recipients", "contacts.csv line 1, column customer: column missing"),
        (
            "customer,recipients,recipients",
            "contacts.csv line 1, column recipients: duplicate column",
        ),
    ],
)
def test_bad_csv_header_is_refused(header: str, expected: str) -> None:
    problems = refusal(header + "\n", "contacts.csv")
    assert expected in problems, problems


def test_csv_with_semicolons_a_bom_and_only_the_required_columns() -> None:
    text = (
        '\ufeffCustomer;Recipients\n\nACME;"A, 06 00 00 00 01, a@example.com; B, , b@example.com"\n'
    )
    assert read_text(text, "contacts.csv") == Contacts(
        (ContactEntry("ACME", "", "A, +33600000001, a@example.com; B, , b@example.com;", "mail"),)
    )


def test_files_are_read_together_and_duplicates_name_the_other_file() -> None:
    Path("a.csv").write_text(CSV, encoding="utf-8")
    Path("b.yaml").write_text(
        "customers:\n  - name: OTHER\n    sites:\n      - code: INL_MOIRA_EVPN_LA1\n"
        "        recipients: 'A, , a@example.com'\n",
        encoding="utf-8",
    )
    Path("c.csv").write_text(f'customer,site,recipients\n{RTE},S9,"A, , a@example.com"\n')
    with pytest.raises(ContactsInvalid) as caught:
        read_contacts([Path("a.csv"), Path("b.yaml"), Path("c.csv")])
    assert [str(p) for p in caught.value.problems] == [
        "b.yaml line 4: customers[0].sites[0].code: site 'INL_MOIRA_EVPN_LA1' is already listed "
        f"for customer '{RTE}' (at a.csv line 4): a site has one customer",
        f"c.csv line 2, column customer: duplicate customer '{RTE}' (first at a.csv line 2): a "
        "customer's rows are in one file",
    ]
    Path("d.yaml").write_text("customers:\n  - {name: D, recipients: 'D, , d@example.com'}\n")
    assert len(read_contacts([Path("a.csv"), Path("d.yaml")]).entries) == 5


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.yaml", None, "No such file or directory"),
        ("folder.yaml", "dir", "Is a directory"),
        ("contacts.txt", "customers: []", "unknown format: name the file .yaml, .yml or .csv"),
        ("latin1.csv", b"customer\n\xe9\n", "not UTF-8 text (byte 9)"),
    ],
)
def test_unreadable_files_are_refused_with_the_reason(
    tmp_path: Path, name: str, content: str | bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ContactsUnreadable) as caught:
        read_contacts([path])
    assert str(caught.value) == f"cannot read {path}: {reason}"


# -- values, diff ------------------------------------------------------------------------------


def test_customers_match_ignoring_case_and_runs_of_spaces() -> None:
    assert customer_key("  Rte  Réseau\tde TRANSPORT ") == customer_key("RTE RÉSEAU DE TRANSPORT")
    assert customer_key("STRASSE") == customer_key("straße")
    assert customer_key("RTE") != customer_key("RTE SA")


def test_a_choice_says_who_gets_mail_and_who_gets_sms() -> None:
    people = parse_recipients("A, 06 00 00 00 01, a@example.com; B, 04 00 00 00 02, b@example.com")
    mobile = people[:1]
    assert ContactChoice("C", None, people, "mail").sms_recipients == ()
    assert ContactChoice("C", None, people, "mail").mail_recipients == people
    assert ContactChoice("C", "S", people, "sms").sms_recipients == mobile
    assert ContactChoice("C", "S", people, "sms").mail_recipients == ()
    both = ContactChoice("C", "S", people, "both")
    assert (both.mail_recipients, both.sms_recipients) == (people, mobile)
    assert all(isinstance(r, Recipient) for r in both.recipients)


def test_the_diff_matches_by_customer_key_and_site_and_lists_fields() -> None:
    stored = Contacts(
        (
            ContactEntry("ACME", "", "A, , a@example.com;", "mail"),
            ContactEntry("ACME", "S1", "A, , a@example.com;", "mail"),
            ContactEntry("GONE", "", "G, , g@example.com;", "mail"),
        )
    )
    wanted = Contacts(
        (
            ContactEntry("Acme", "S1", "A, , a@example.com;", "mail"),
            ContactEntry("ACME", "", "A, +33600000001, a@example.com;", "both"),
            ContactEntry("NEW", "", "N, , n@example.com;", "mail"),
        )
    )
    diff = diff_contacts(stored, wanted)
    assert diff.added == (ContactChange("NEW", ""),)
    assert diff.removed == (ContactChange("GONE", ""),)
    assert diff.changed == (
        ContactChange(
            "ACME",
            "",
            (
                FieldChange("recipients", "A, , a@example.com;", "A, +33600000001, a@example.com;"),
                FieldChange("channel", "mail", "both"),
            ),
        ),
        ContactChange("Acme", "S1", (FieldChange("customer", "ACME", "Acme"),)),
    )
    assert [c.label for c in diff.changed] == ["ACME: default contacts", "Acme: site S1"]
    assert diff_contacts(wanted, wanted).empty


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("A, , a@x.com; B, , b@x.com", "A, , a@x.com; C, , c@x.com", "+c@x.com, -b@x.com"),
        ("A, , a@x.com", "Alice, 0600000001, a@x.com", "~a@x.com (name, phone)"),
        ("A, , a@x.com; B, , b@x.com", "B, , b@x.com; A, , a@x.com", "reordered"),
        ("A, , a@x.com", "A,,a@x.com;", "rewritten"),
        ("not a list", "A, , a@x.com", "rewritten"),
    ],
)
def test_recipient_changes_are_described_by_email(old: str, new: str, expected: str) -> None:
    assert describe_recipients_change(old, new) == expected
