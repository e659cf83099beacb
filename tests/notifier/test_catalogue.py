"""The catalogue: loaded and checked at start-up, errors naming template, file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from vigie_notifier.catalogue import (
    PACKAGED,
    TEAM_CODES,
    CatalogueError,
    CatalogueUnreadable,
    InvalidEntry,
    MissingTemplateFile,
    TemplateSyntaxInvalid,
    UndeclaredField,
    UnknownTemplate,
    code_label,
    load_catalogue,
    normalise_code,
)
from vigie_notifier.forms import Channel
from vigie_notifier.rendering import Renderer

from tests.notifier.test_rendering import full_context

ENTRY = "  {code}:\n    purpose: p\n    audience: customer\n    channels: [{channels}]\n"


def operator_folder(tmp_path: Path, entries: str, **files: str) -> Path:
    """An operator's folder: a catalogue.yaml of ``entries`` and files named by keyword."""
    (tmp_path / "catalogue.yaml").write_text(f"templates:\n{entries}", encoding="utf-8")
    for name, text in files.items():
        (tmp_path / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return tmp_path


def entry(code: str, *, channels: str = "sms", extra: str = "") -> str:
    return ENTRY.format(code=code, channels=channels) + extra


def test_packaged_catalogue_has_the_required_codes_and_their_files() -> None:
    catalogue = load_catalogue()
    codes = {spec.code for spec in catalogue}
    assert {"CLT2", "CLT5", "CLT6", "A0", "A1", "A2", "A3", "E1"} <= codes
    assert codes <= set(TEAM_CODES)
    for spec in catalogue:
        assert spec.origin == "packaged" and spec.purpose and spec.required
        for part in spec.parts:
            assert (PACKAGED / spec.file_name(part)).is_file()
    clt5 = catalogue.get("CLT 5")
    assert clt5.channels == {Channel.MAIL, Channel.SMS}
    assert clt5.parts == ("text", "html", "sms")
    assert clt5.audience == "customer" and clt5.label == "CLT 5"
    assert catalogue.get("int a2").audience == "support"


@pytest.mark.parametrize(
    ("text", "code", "label"),
    [
        ("CLT 5", "CLT5", "CLT 5"),
        ("clt5", "CLT5", "CLT 5"),
        ("INT A0", "A0", "INT A0"),
        ("a0", "A0", "INT A0"),
        ("A11", "A11", "INT A11"),
        ("EDS E1", "E1", "EDS E1"),
        ("eds-e01", "E1", "EDS E1"),
        (" E14 ", "E14", "EDS E14"),
    ],
)
def test_codes_normalise_to_one_spelling(text: str, code: str, label: str) -> None:
    assert normalise_code(text) == code
    assert code_label(text) == label


@pytest.mark.parametrize("text", ["", "CLT", "X5", "INT E1", "EDS A0", "CLT 5 6", "A-"])
def test_codes_outside_the_rows_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a CLT n"):
        normalise_code(text)


def test_team_rows_are_all_known() -> None:
    assert len(TEAM_CODES) == 7 + 11 + 15
    assert TEAM_CODES[:2] == ("CLT0", "CLT2") and TEAM_CODES[-1] == "E14"


def test_a_field_used_but_not_declared_is_named(tmp_path: Path) -> None:
    folder = operator_folder(
        tmp_path,
        entry("CLT 3", extra="    required: [ticket.number]\n"),
        clt3__sms__txt__j2="{{ ticket.number }} {{ ticket.customer }}",
    )
    with pytest.raises(UndeclaredField) as caught:
        load_catalogue(folder)
    error = caught.value
    assert (error.template, error.field) == ("CLT3", "ticket.customer")
    assert str(error.file).endswith("clt3.sms.txt.j2")
    assert "template CLT3" in str(error) and "field ticket.customer" in str(error)


def test_fields_read_in_loops_items_and_includes_are_checked(tmp_path: Path) -> None:
    folder = operator_folder(
        tmp_path,
        entry("CLT 3", extra="    required: [verdict.ends]\n"),
        clt3__sms__txt__j2=(
            '{% for end in verdict.ends %}{{ end.site }}{% endfor %}{{ gtr["deadline"] }}'
        ),
    )
    with pytest.raises(UndeclaredField, match=r"field gtr\.deadline"):
        load_catalogue(folder)
    folder = operator_folder(
        tmp_path,
        entry("CLT 3", extra="    required: [verdict.ends]\n"),
        clt3__sms__txt__j2='{% include "_mine.txt.j2" %}',
        _mine__txt__j2="{{ form.customer_text }}",
    )
    with pytest.raises(UndeclaredField) as caught:
        load_catalogue(folder)
    assert str(caught.value.file).endswith("_mine.txt.j2")
    assert caught.value.field == "form.customer_text"


def test_a_field_in_the_subject_must_be_declared(tmp_path: Path) -> None:
    folder = operator_folder(
        tmp_path,
        entry("A 4", channels="mail", extra='    subject: "A4 {{ ticket.number }}"\n'),
        a4__mail__txt__j2="x",
        a4__mail__html__j2="x",
    )
    with pytest.raises(UndeclaredField) as caught:
        load_catalogue(folder)
    assert (caught.value.template, caught.value.field) == ("A4", "ticket.number")
    assert str(caught.value.file).endswith("catalogue.yaml")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    folder = operator_folder(tmp_path, entry("CLT 3", channels="mail, sms"), clt3__sms__txt__j2="")
    with pytest.raises(MissingTemplateFile) as caught:
        load_catalogue(folder)
    assert caught.value.template == "CLT3"
    assert caught.value.file == folder / "clt3.mail.txt.j2"
    folder = operator_folder(
        tmp_path, entry("CLT 3"), clt3__sms__txt__j2='{% include "_absent.txt.j2" %}'
    )
    with pytest.raises(MissingTemplateFile, match=r"_absent\.txt\.j2"):
        load_catalogue(folder)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("templates:\n  CLT 3: [unclosed\n", r"catalogue.yaml: invalid YAML: line 3, column 1"),
        ("templates:\n" + entry("CLT 3") + entry("CLT 3"), "line 6.*duplicate key 'CLT 3'"),
        ("- just\n- a list\n", "Input should be a valid dictionary"),
    ],
)
def test_bad_yaml_is_named(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "catalogue.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(CatalogueError, match=match) as caught:
        load_catalogue(tmp_path)
    assert str(caught.value.file).endswith("catalogue.yaml")


@pytest.mark.parametrize(
    ("entries", "match", "template"),
    [
        (entry("CLT 3", extra="    chanels: [sms]\n"), "chanels", "CLT 3"),
        (entry("CLT 3", channels="fax"), "channels", "CLT 3"),
        (entry("CLT 3", extra="    required: [ticket.numbr]\n"), "ticket.numbr", "CLT3"),
        (entry("CLT 3", extra="    required: [gtr]\n    optional: [gtr]\n"), "both", "CLT3"),
        (entry("XYZ 1"), "is not a CLT n", "XYZ 1"),
        (entry("CLT 3") + entry("CLT3"), "the same code twice", "CLT3"),
    ],
)
def test_a_bad_entry_is_named(tmp_path: Path, entries: str, match: str, template: str) -> None:
    folder = operator_folder(tmp_path, entries, clt3__sms__txt__j2="")
    with pytest.raises(InvalidEntry, match=match) as caught:
        load_catalogue(folder)
    assert caught.value.template == template


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("{% if %}", "line 1"),
        ("\n{{ operator|nosuchfilter }}", "No filter named 'nosuchfilter'"),
        ("{% include operator %}", "a computed include"),
    ],
)
def test_a_template_jinja_refuses_is_named(tmp_path: Path, source: str, match: str) -> None:
    folder = operator_folder(tmp_path, entry("CLT 3"), clt3__sms__txt__j2=source)
    with pytest.raises(TemplateSyntaxInvalid, match=match) as caught:
        load_catalogue(folder)
    assert "clt3.sms.txt.j2" in str(caught.value.file)


def test_an_operator_folder_must_exist_and_hold_a_catalogue(tmp_path: Path) -> None:
    with pytest.raises(CatalogueUnreadable, match=r"no catalogue\.yaml"):
        load_catalogue(tmp_path)
    with pytest.raises(CatalogueUnreadable, match="not a folder"):
        load_catalogue(tmp_path / "absent")


def test_operator_folder_overrides_a_code_and_adds_one(tmp_path: Path) -> None:
    folder = operator_folder(
        tmp_path,
        entry("CLT 5", extra="    required: [ticket.number]\n")
        + entry("CLT 3", extra="    required: [ticket.number]\n"),
        clt5__sms__txt__j2="{{ headers.sms }}\nVersion de l'exploitant : {{ ticket.number }}",
        clt3__sms__txt__j2="CLT 3 pour {{ ticket.number }}",
    )
    catalogue = load_catalogue(folder)
    assert catalogue.get("CLT5").origin == "extra"
    assert catalogue.get("CLT5").channels == {Channel.SMS}
    assert catalogue.get("CLT6").origin == "packaged"
    renderer = Renderer(catalogue)
    clt5 = renderer.render("CLT5", full_context())
    assert (clt5.subject, clt5.text, clt5.html) == (None, None, None)
    assert clt5.sms is not None and clt5.sms.endswith("Version de l'exploitant : 2505057242")
    assert renderer.render("CLT 3", full_context()).sms == "CLT 3 pour 2505057242"
    assert (renderer.render("CLT6", full_context()).text or "").startswith("Madame, Monsieur,")


def test_operator_partial_replaces_the_packaged_one(tmp_path: Path) -> None:
    folder = operator_folder(
        tmp_path, "  {}\n", _signature__txt__j2="Bien à vous,\nSAV Grands Comptes {{ operator }}"
    )
    text = Renderer(load_catalogue(folder)).render("CLT6", full_context()).text or ""
    assert text.endswith("Bien à vous,\nSAV Grands Comptes ORANGE\n")


def test_unknown_code_is_a_lookup_error() -> None:
    with pytest.raises(UnknownTemplate) as caught:
        load_catalogue().get("CLT 3")
    assert isinstance(caught.value, LookupError) and caught.value.code == "CLT 3"
