"""``vigie-notifier render``: the service's rendering on files, one line on stderr on failure."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from vigie_notifier.render_command import add_arguments, run_render

from tests.notifier.test_rendering import real_ticket, stable_verdict

FORM_YAML = """\
grouped_outage: false
context: free
customer_text: |
  Merci de votre patience.
  L'équipe reste mobilisée.
channels: [mail, sms]
recipients: "DUPONT Jean, 06 12 34 56 78, jean.dupont@example.fr;"
chain_to_closure: true
"""


def render(*argv: str, operator: str = "ORANGE") -> tuple[int, str, str]:
    """Run the subcommand as ``main.py`` will: its own parser, then ``run_render``."""
    parser = argparse.ArgumentParser(prog="vigie-notifier render")
    add_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run_render(parser.parse_args(argv), stdout=out, stderr=err, operator=operator)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    ticket = tmp_path / "ticket.json"
    ticket.write_text(real_ticket().model_dump_json(), encoding="utf-8")
    verdict = tmp_path / "verdict.json"
    envelope = {"specversion": "1.0", "data": json.loads(stable_verdict().model_dump_json())}
    verdict.write_text(json.dumps(envelope), encoding="utf-8")
    form = tmp_path / "form.yaml"
    form.write_text(FORM_YAML, encoding="utf-8")
    return {"ticket": str(ticket), "verdict": str(verdict), "form": str(form)}


def test_clt5_prints_subject_text_html_and_sms(files: dict[str, str]) -> None:
    code, out, err = render(
        "CLT 5", "--ticket", files["ticket"], "--verdict", files["verdict"], "--form", files["form"]
    )
    assert (code, err) == (0, "")
    assert out.startswith(
        "Subject: ORANGE INFO INCIDENT 2505057242 / Votre référence : CD0HG0FDC / Site : "
        "INL_MOIRA_EVPN_LA1 - Ville : MOIRANS\n--- text ---\nMadame, Monsieur,\n"
    )
    assert "aucune coupure (bagot) constatée depuis le 16/06/2025 à 16:10." in out
    assert "Merci de votre patience.\nL'équipe reste mobilisée." in out
    assert "Sans retour de votre part, nous procéderons à la clôture du ticket." in out
    assert "--- html ---\n<!DOCTYPE html>" in out
    assert "L&#39;équipe reste mobilisée." in out
    assert "--- sms (GSM-7, 2 segments, " in out


def test_one_part_alone(files: dict[str, str]) -> None:
    code, out, _ = render(
        "CLT5", "--ticket", files["ticket"], "--verdict", files["verdict"], "--part", "sms"
    )
    assert code == 0
    assert out.splitlines()[0] == (
        "ORANGE INFO INCIDENT 2505057242 Site INL_MOIRA_EVPN_LA1 Ville : MOIRANS"
    )
    code, out, _ = render(
        "CLT6", "--ticket", files["ticket"], "--part", "subject", "--operator", "Bouygues"
    )
    assert (code, out.count("\n")) == (0, 1)
    assert out.startswith("Bouygues INFO INCIDENT 2505057242 / ")


def test_a_part_the_template_lacks_is_refused(files: dict[str, str]) -> None:
    code, out, err = render(
        "A0", "--ticket", files["ticket"], "--verdict", files["verdict"], "--part", "sms"
    )
    assert (code, out) == (1, "")
    assert err == "vigie-notifier render: template A0 has no sms part (mail)\n"


def test_a_ticket_event_envelope_is_read(files: dict[str, str], tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    ticket = json.loads(Path(files["ticket"]).read_text(encoding="utf-8"))
    event.write_text(json.dumps({"data": {"ticket": ticket, "previous_state": None}}))
    code, out, _ = render("CLT6", "--ticket", str(event), "--part", "text")
    assert code == 0 and "clôture de l'incident n° 2505057242" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("CLT5", "--ticket", "{missing}"), "--ticket {missing}: unreadable:"),
        (("CLT5", "--ticket", "{bad}"), "--ticket {bad}: unreadable:"),
        (("CLT5", "--ticket", "{verdict}"), "--ticket {verdict}: opened_at: Field required"),
        (("CLT 9", "--ticket", "{ticket}"), "no template for code 'CLT 9'"),
        (("CLT5", "--ticket", "{ticket}"), "template CLT5: field verdict.ends: required"),
        (("CLT2", "--ticket", "{ticket}", "--form", "{verdict}"), "--form {verdict}:"),
        (("CLT5", "--ticket", "{ticket}", "--templates", "{missing}"), "not a folder"),
    ],
)
def test_failures_are_one_line_without_traceback(
    files: dict[str, str], tmp_path: Path, argv: tuple[str, ...], message: str
) -> None:
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    paths = {**files, "missing": str(tmp_path / "absent.json"), "bad": str(tmp_path / "bad.json")}
    code, out, err = render(*(arg.format(**paths) for arg in argv))
    assert (code, out) == (1, "")
    assert err.startswith("vigie-notifier render: ") and err.count("\n") == 1
    assert message.format(**paths) in err


def test_an_operator_folder_is_used(files: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "catalogue.yaml").write_text(
        "templates:\n  CLT 0:\n    purpose: p\n    audience: customer\n    channels: [sms]\n"
        "    required: [ticket.number]\n",
        encoding="utf-8",
    )
    (folder / "clt0.sms.txt.j2").write_text("{{ headers.sms }}\nOuverture {{ ticket.number }}")
    code, out, _ = render("CLT0", "--ticket", files["ticket"], "--templates", str(folder))
    assert code == 0
    assert out.endswith("Ouverture 2505057242\n")
