"""Rendering the team's templates from the real ticket of design §1, with real Jinja."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from vigie_common.events.probes import (
    EndVerdict,
    ObservationWindow,
    Purpose,
    Verdict,
    VerdictReached,
)
from vigie_common.events.tickets import CanonicalTicket, Nature, Site, TicketState
from vigie_notifier.context import Intervention, build_context
from vigie_notifier.forms import CustomerInformation
from vigie_notifier.rendering import (
    MissingField,
    Renderer,
    RenderFailed,
    UnknownTemplate,
    count_fr,
    duration_fr,
    load_renderer,
    long_date_fr,
)
from vigie_notifier.sms import split

PARIS = ZoneInfo("Europe/Paris")
STABLE_SINCE = datetime(2025, 6, 16, 16, 10, 44, tzinfo=PARIS)
REFERENCE = "CD0HG0FDC"
ALARM_LOG = (
    "9      Remote defect indication (RDI)\n"
    "2025-06-16  4.2.24.14   defRDICCM     Cleared\n"
    "16:10:44.00                           Resolved",
    "11     Loss of continuity (LOC)\n"
    "2025-06-16  4.1.24.14   defRemoteCCM  Cleared\n"
    "16:10:37.00                           Resolved",
)
HOSTS = {"a": "RTE-INL_MOIRA_EVPN_LA1-CD0HG0FDC", "b": "RTE-INU_CONF5_EVPN_LA1-CD0HGFUXC7"}
SITES = {"a": "INL_MOIRA_EVPN_LA1", "b": "INU_CONF5_EVPN_LA1"}
REQUIRED = ("CLT2", "CLT5", "CLT6", "A0", "A1", "A2", "A3", "E1")


def real_ticket(**changes: Any) -> CanonicalTicket:
    """Ticket 2505057242 of design §1, as ingest maps the telco tool's webhook."""
    fields: dict[str, Any] = {
        "id": "tkt-oceane-2505057242",
        "source": "oceane",
        "upstream_id": "2505057242",
        "version": 1,
        "opened_at": datetime(2025, 5, 30, 9, 52, tzinfo=PARIS),
        "state": TicketState.OPEN,
        "customer": "RTE RESEAU DE TRANSPORT D ELECTRICITE - RTE",
        "nature": Nature.DEGRADED,
        "commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
        "site_a": Site(code=SITES["a"], service_reference=REFERENCE, city="MOIRANS"),
        "site_b": Site(code=SITES["b"], service_reference=REFERENCE, city="MOIRANS"),
        "access_reference": "0050VKF3",
        "access_type": "Nominal",
        "product": "RSS - Support DSL ETH",
        "notes": "[BES2] INTER BOA 16/06 17h30",
        "alerts": ("Offre Service Client : Service Client Réseau",),
    }
    fields.update(changes)
    return CanonicalTicket(**fields)


def stable_end(end: str, **changes: Any) -> EndVerdict:
    fields: dict[str, Any] = {
        "end": end,
        "site_code": SITES[end],
        "hostname": HOSTS[end],
        "verdict": Verdict.STABLE,
        "reason": "stable since 2025-06-16 16:10",
        "stable_since": STABLE_SINCE,
        "evidence": ALARM_LOG,
    }
    fields.update(changes)
    return EndVerdict(**fields)


def stable_verdict(**changes: Any) -> VerdictReached:
    """The stable P2P verdict: both ends quiet since 16/06/2025 16:10:44, judged on 19/06."""
    fields: dict[str, Any] = {
        "ticket_id": "tkt-oceane-2505057242",
        "source": "oceane",
        "upstream_id": "2505057242",
        "ticket_version": 1,
        "probe_id": "probe-1",
        "purpose": Purpose.OBSERVATION,
        "round": 3,
        "verdict": Verdict.STABLE,
        "reason": "stable since 2025-06-16 16:10",
        "stable_since": STABLE_SINCE,
        "since": datetime(2025, 6, 16, 16, 0, tzinfo=PARIS),
        "until": datetime(2025, 6, 19, 10, 15, tzinfo=PARIS),
        "ends": (stable_end("a"), stable_end("b")),
        "observation": ObservationWindow(
            started=datetime(2025, 6, 16, 16, 30, tzinfo=PARIS),
            closes_at=datetime(2025, 6, 20, 16, 30, tzinfo=PARIS),
            interval_s=3600,
            final=False,
        ),
    }
    fields.update(changes)
    return VerdictReached(**fields)


def flapping_verdict() -> VerdictReached:
    end_a = stable_end(
        "a",
        verdict=Verdict.FLAPPING,
        reason="flapping (6 flaps since 2025-06-16 16:00)",
        stable_since=None,
        flaps=6,
    )
    return stable_verdict(
        verdict=Verdict.FLAPPING, stable_since=None, flaps=6, ends=(end_a, stable_end("b"))
    )


def unreachable_verdict() -> VerdictReached:
    end_a = stable_end(
        "a",
        verdict=Verdict.UNREACHABLE,
        reason="100% packet loss (5 sent)",
        failed_layer="reachability",
        stable_since=None,
        evidence=(),
    )
    return stable_verdict(
        verdict=Verdict.UNREACHABLE, stable_since=None, ends=(end_a, stable_end("b"))
    )


def real_form(**changes: Any) -> CustomerInformation:
    fields: dict[str, Any] = {
        "grouped_outage": False,
        "customer_text": "Le site sera accessible demain à partir de 8h.",
        "channels": {"mail", "sms"},
        "recipients": "DUPONT Jean, 06 12 34 56 78, jean.dupont@example.fr;",
    }
    fields.update(changes)
    return CustomerInformation(**fields)


GTR = {
    "deadline": datetime(2025, 6, 3, 11, 52, tzinfo=PARIS),
    "remaining": timedelta(minutes=60),
    "threshold": 75,
    "business_minutes_used": 180,
    "budget_minutes": 240,
}
CHASE = Intervention(
    code="A0",
    requested_at=datetime(2025, 6, 16, 11, 0, tzinfo=PARIS),
    due_at=datetime(2025, 6, 16, 15, 0, tzinfo=PARIS),
    reminders=1,
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return load_renderer()


def full_context(**changes: Any) -> dict[str, object]:
    arguments: dict[str, Any] = {
        "operator": "ORANGE",
        "verdict": stable_verdict(),
        "form": real_form(),
        "gtr": GTR,
        "intervention": CHASE,
    }
    arguments.update(changes)
    ticket = arguments.pop("ticket", real_ticket())
    return build_context(ticket, **arguments)


@pytest.mark.parametrize("code", REQUIRED)
def test_required_template_renders_from_the_real_ticket(renderer: Renderer, code: str) -> None:
    rendered = renderer.render(code, full_context())
    assert rendered.code == code
    assert rendered.subject is not None and "2505057242" in rendered.subject
    assert rendered.text is not None and rendered.html is not None
    assert "2505057242" in rendered.text and "2505057242" in rendered.html
    assert "None" not in rendered.text and "None" not in rendered.html
    assert rendered.text.endswith("\n") and "\n\n\n" not in rendered.text
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert (rendered.sms is not None) == code.startswith("CLT")


def test_clt5_tells_each_end_quiet_since_the_repair(renderer: Renderer) -> None:
    rendered = renderer.render("CLT 5", full_context(form=None))
    text = rendered.text or ""
    assert rendered.subject == (
        "ORANGE INFO INCIDENT 2505057242 / Votre référence : CD0HG0FDC "
        "/ Site : INL_MOIRA_EVPN_LA1 - Ville : MOIRANS"
    )
    for end, site in (("A", SITES["a"]), ("B", SITES["b"])):
        assert (
            f"- extrémité {end}, site {site} : équipement joignable, aucune coupure (bagot) "
            "constatée depuis le 16/06/2025 à 16:10." in text
        )
    assert "ouvert le 30/05/2025 à 09:52" in text
    assert "Le 19/06/2025 à 10:15, nous avons contrôlé" in text
    assert "    2025-06-16  4.2.24.14   defRDICCM     Cleared" in text
    assert text.count("defRemoteCCM") == 2  # the evidence of both ends
    assert "Madame, Monsieur," in text and "Cordialement," in text
    assert "ORANGE" in text.splitlines()[-1]


def test_clt5_sms_is_one_gsm7_line_of_header_then_the_news(renderer: Renderer) -> None:
    sms = renderer.render("CLT5", full_context(form=None)).sms or ""
    lines = sms.split("\n")
    assert lines[0] == "ORANGE INFO INCIDENT 2505057242 Site INL_MOIRA_EVPN_LA1 Ville : MOIRANS"
    assert "depuis le 16/06/2025 à 16:10" in lines[1]
    assert split(sms).encoding == "GSM-7"


def test_customer_sms_stay_in_gsm7(renderer: Renderer) -> None:
    ticket = real_ticket(restored_at=datetime(2025, 6, 16, 16, 5, tzinfo=PARIS))
    for code in ("CLT2", "CLT5", "CLT6"):
        sms = renderer.render(code, full_context(ticket=ticket)).sms or ""
        assert split(sms).encoding == "GSM-7", code
    sms = renderer.render("CLT6", full_context(ticket=ticket)).sms or ""
    assert "Votre incident est clos : le service a été rétabli le 16/06/2025 à 16:05." in sms


def test_dates_are_in_the_site_zone_whatever_the_zone_of_the_instant(renderer: Renderer) -> None:
    winter = datetime(2025, 1, 15, 15, 10, 44, tzinfo=UTC)  # 16:10 in Paris (CET)
    verdict = stable_verdict(
        stable_since=winter, ends=(stable_end("a", stable_since=winter), stable_end("b"))
    )
    text = renderer.render("CLT5", full_context(verdict=verdict)).text or ""
    assert f"site {SITES['a']} : équipement joignable, aucune coupure (bagot) constatée " in text
    assert "depuis le 15/01/2025 à 16:10." in text
    sites = {
        "site_a": Site(code=SITES["a"], city="CAYENNE", timezone="America/Cayenne"),
        "site_b": None,
    }
    context = full_context(ticket=real_ticket(**sites), verdict=stable_verdict())
    text = renderer.render("CLT5", context).text or ""
    assert "ouvert le 30/05/2025 à 04:52" in text  # 09:52 in Paris is 04:52 in Cayenne


def test_a_naive_datetime_stops_the_render(renderer: Renderer) -> None:
    context = full_context(gtr={**GTR, "deadline": datetime(2025, 6, 3, 11, 52)})  # noqa: DTZ001
    with pytest.raises(RenderFailed, match="naive datetime"):
        renderer.render("E1", context)


def test_a2_gives_the_flap_count_window_and_lines(renderer: Renderer) -> None:
    text = renderer.render("INT A2", full_context(verdict=flapping_verdict())).text or ""
    assert "6 bagots entre le 16/06/2025 à 16:00 et le 19/06/2025 à 10:15" in text
    assert "instable (bagots), 6 bagots" in text
    assert "16:10:37.00" in text


def test_a0_names_the_dead_router_and_the_failed_layer(renderer: Renderer) -> None:
    rendered = renderer.render("A0", full_context(verdict=unreachable_verdict()))
    assert f"routeur {HOSTS['a']} : injoignable (échec : ping depuis le rebond)" in (
        rendered.text or ""
    )
    assert rendered.subject == (
        "[INT A0] Remplacement routeur - Ticket 2505057242 - Site INL_MOIRA_EVPN_LA1 - MOIRANS"
    )


def test_chases_give_the_request_and_the_missed_delay(renderer: Renderer) -> None:
    for code in ("A1", "A3"):
        text = renderer.render(code, full_context()).text or ""
        assert "transmise le 16/06/2025 à 11:00" in text
        assert "au plus tard le 16/06/2025 à 15:00" in text
        assert "Il s'agit de notre 2e relance." in text


def test_e1_warns_then_escalates_at_100_percent(renderer: Renderer) -> None:
    text = renderer.render("EDS E1", full_context()).text or ""
    assert "a consommé 75 % de son délai" in text and "l'échéance est le 03/06/2025 à 11:52" in text
    assert "Temps consommé          : 3 h 00 min sur 4 h 00 min" in text
    rendered = renderer.render("E1", full_context(gtr={**GTR, "threshold": 100}))
    assert "ESCALADE" in (rendered.text or "")
    assert rendered.subject is not None and rendered.subject.startswith("[EDS E1] Alerte GTR 100 %")


def test_clt2_records_the_text_and_the_gtr_freeze(renderer: Renderer) -> None:
    form = real_form(
        context="gtr_freeze",
        freeze_start=datetime(2025, 6, 17, 9, 0, tzinfo=PARIS),
        grouped_outage=True,
    )
    rendered = renderer.render("CLT2", full_context(form=form))
    assert "Le site sera accessible demain à partir de 8h." in (rendered.text or "")
    assert "suspendu à compter du 17/06/2025 à 09:00" in (rendered.text or "")
    assert "incident collectif" in (rendered.text or "")
    assert "Le délai GTR est suspendu depuis le 17/06/2025 à 09:00." in (rendered.sms or "")


HOSTILE_SITE = 'INL<script>alert("x")</script>&\'\r\nBcc: evil@example.com'
HOSTILE_TEXT = "Bonjour,\r\nl'équipe \"réseau\" & <script>alert('x')</script>\rfin"


def test_hostile_text_is_escaped_in_html_kept_in_text_and_cannot_add_a_header(
    renderer: Renderer,
) -> None:
    ticket = real_ticket(
        site_a=Site(code=HOSTILE_SITE, service_reference="REF\nX-Spam: 1", city="A\u2028B")
    )
    context = full_context(ticket=ticket, form=real_form(customer_text=HOSTILE_TEXT))
    rendered = renderer.render("CLT5", context)
    html, text = rendered.html or "", rendered.text or ""
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "l&#39;équipe &#34;réseau&#34; &amp; " in html
    assert "Bonjour,<br>\nl&#39;équipe" in html
    assert "Bonjour,\nl'équipe \"réseau\" & <script>alert('x')</script>\nfin" in text
    assert "\r" not in text
    subject = rendered.subject or ""
    assert subject.splitlines() == [subject]
    assert subject == (
        "ORANGE INFO INCIDENT 2505057242 / Votre référence : REF X-Spam: 1 / Site : "
        'INL<script>alert("x")</script>&\' Bcc: evil@example.com - Ville : A B'
    )
    header = (rendered.sms or "").split("\n")[0]
    assert header.startswith("ORANGE INFO INCIDENT 2505057242 Site INL<script>")
    assert header.endswith("' Bcc: evil@example.com Ville : A B")
    assert "<script>alert('x')</script>" in (rendered.sms or "")


def test_a_missing_required_field_is_named(renderer: Renderer) -> None:
    with pytest.raises(MissingField) as caught:
        renderer.render("CLT5", full_context(verdict=None))
    assert (caught.value.template, caught.value.field) == ("CLT5", "verdict.ends")
    with pytest.raises(MissingField, match=r"form\.customer_text"):
        renderer.render("CLT2", full_context(form=None))


def test_an_unknown_code_is_refused(renderer: Renderer) -> None:
    for code in ("CLT 9", "Z1", ""):
        with pytest.raises(UnknownTemplate):
            renderer.render(code, full_context())


def test_operator_template_printing_none_or_private_attributes_fails(tmp_path: Path) -> None:
    (tmp_path / "catalogue.yaml").write_text(
        "templates:\n"
        "  CLT 3:\n    purpose: p\n    audience: customer\n    channels: [sms]\n"
        "    optional: [ticket.title]\n"
        "  CLT 4:\n    purpose: p\n    audience: customer\n    channels: [sms]\n"
        "    optional: [ticket.number]\n",
        encoding="utf-8",
    )
    (tmp_path / "clt3.sms.txt.j2").write_text("{{ ticket.title }}", encoding="utf-8")
    (tmp_path / "clt4.sms.txt.j2").write_text("{{ ticket.number.__class__ }}", encoding="utf-8")
    renderer = load_renderer(tmp_path)
    with pytest.raises(RenderFailed, match="None"):
        renderer.render("CLT3", full_context())
    with pytest.raises(RenderFailed, match=r"clt4\.sms\.txt\.j2"):
        renderer.render("CLT4", full_context())


def test_context_refuses_a_verdict_about_another_ticket() -> None:
    with pytest.raises(ValueError, match="not 'tkt-oceane-2505057242'"):
        build_context(
            real_ticket(), operator="ORANGE", verdict=stable_verdict(ticket_id="tkt-other")
        )


def test_context_falls_back_to_the_default_zone_for_a_junk_site_zone() -> None:
    ticket = real_ticket(site_a=Site(code="X", timezone="Mars/Olympus"), site_b=None)
    assert build_context(ticket, operator="O")["zone"] == "Europe/Paris"
    assert build_context(ticket, operator="O", default_zone="UTC")["zone"] == "UTC"


def test_french_filters() -> None:
    assert duration_fr(timedelta(minutes=125)) == "2 h 05 min"
    assert duration_fr(45) == "45 min"
    assert duration_fr(-15) == "- 15 min"
    assert duration_fr(timedelta(days=1, hours=3)) == "1 j 3 h 00 min"
    assert count_fr(0, "bagot") == "0 bagot"
    assert count_fr(1, "bagot") == "1 bagot"
    assert count_fr(3, "bagot") == "3 bagots"
    assert long_date_fr(datetime(2025, 6, 16, tzinfo=PARIS)) == "lundi 16 juin 2025"
    assert long_date_fr(datetime(2025, 8, 1, tzinfo=PARIS)) == "vendredi 1er août 2025"
    with pytest.raises(TypeError):
        duration_fr("2h")
