"""`vigie demo`: the timeline made of the read APIs' answers, its tickets, and one real run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from vigie_common.kafka.tansu import free_port
from vigie_devstack import demo, demo_tickets, main, services
from vigie_devstack.datadir import DataDir
from vigie_devstack.services import Ports
from vigie_devstack.timeline import Snapshot, Timeline, eml_for, layer_text
from vigie_lab import packaged_scenarios
from vigie_lab.fleet import packaged_text

VIGIE = str(Path(sys.executable).with_name("vigie"))
MAIL_DIR = Path("/data/mail")
A2_ID = "<fdce5edfb7bd1f91591665802333338a@vigie.lab.invalid>"
A2_EML = "20261201T044046.844057Z-000001-fdce5edfb7bd1f91591665802333338a@vigie.lab.invalid.eml"
FLAP_ID = "7bc1d1ef-3f27-5aa4-93be-b2111d44497b"

# What the read APIs answered for the flapping ticket in a `vigie up` run (trimmed).
TICKET = {
    "ticket": {"id": FLAP_ID, "state": "open", "version": 1},
    "history": [{"version": 1, "state": "open"}],
}
LAYERS = [
    {
        "layer": "reachability",
        "ok": True,
        "detail": "5 sent, 5 received, 0% loss from jump host rebond",
        "figures": {
            "origin": "jump host rebond",
            "sent": 5,
            "received": 5,
            "loss_percent": 0.0,
            "rtt_min_ms": 26.478,
            "rtt_avg_ms": 27.591,
            "rtt_max_ms": 28.689,
        },
    },
    {
        "layer": "access",
        "ok": True,
        "detail": "logged in to 127.0.10.3:33887 via rebond",
        "figures": {"via": "rebond", "reused": False, "login_s": 0.012468},
    },
    {
        "layer": "evidence",
        "ok": True,
        "detail": "24 events, 0 lines unread",
        "figures": {"commands": 2, "bytes": 3165, "events": 24, "unparsed": 0},
    },
]
OBSERVATION = {
    "id": 3,
    "round": 1,
    "purpose": "diagnostic",
    "end": "a",
    "device": {
        "hostname": "RTE-INL_VOIRO_EVPN_LA1-CD0HG0VRN",
        "address": "127.0.10.3",
        "driver": "cisco_ios",
    },
    "layers": LAYERS,
    "verdict": "flapping",
    "reason": "flapping (6 flaps in 53 min)",
}
EVIDENCE = [
    f"Dec  1 04:{m}:13: %LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down"
    for m in range(10, 18)
]
VERDICT = {
    "verdict": {
        "probe_id": "95aa47be",
        "purpose": "diagnostic",
        "round": 1,
        "verdict": "flapping",
        "reason": "flapping (6 flaps in 53 min)",
        "ends": [
            {
                "end": "a",
                "hostname": "RTE-INL_VOIRO_EVPN_LA1-CD0HG0VRN",
                "reason": "flapping (6 flaps in 53 min)",
                "evidence": EVIDENCE,
            }
        ],
        "observation": None,
    },
    "final": True,
}
A2_SEND = {
    "id": 1,
    "template": "A2",
    "channel": "mail",
    "state": "sent",
    "recipients": ["SUPPORT N2"],
    "message_id": A2_ID,
    "subject": "[INT A2] Bagots constatés - Ticket 6100045738",
    "last_error": None,
}


def _notifications(state: str = "sent") -> dict[str, Any]:
    return {
        "decisions": [
            {
                "id": 1,
                "rule": "flapping-line",
                "template": "A2",
                "audience": "support",
                "outcome": "queued 1 send(s)",
                "notifications": [{**A2_SEND, "state": state}],
            }
        ]
    }


GTR = {
    "state": "running",
    "commitment": "GTR S2 240 mn Lundi au Samedi 8h à 18h",
    "error": None,
    "contract": {"tz": "Europe/Paris"},
    "started_at": "2025-05-30T07:52:00+00:00",
    "deadline": "2025-05-30T11:52:00+00:00",
    "warned_percent": 0,
    "met": None,
    "margin_minutes": None,
}


def _flap() -> Timeline:
    return Timeline(demo_tickets.FLAPPING, "6100045738", FLAP_ID, MAIL_DIR)


def test_each_fact_is_told_once_stamped_with_the_seconds_since_the_webhook() -> None:
    timeline = _flap()

    first = timeline.update(Snapshot(ticket=TICKET), 0.1)
    assert first == [
        f"   0.1 s  flap received: ticket {FLAP_ID} (numero 6100045738), state open, version 1"
    ]
    assert timeline.update(Snapshot(ticket=TICKET), 0.6) == []
    assert timeline.reached == {"received": 0.1}


def test_an_observation_shows_each_end_and_each_layer_with_its_figures() -> None:
    timeline = _flap()

    lines = timeline.update(Snapshot(ticket=TICKET, observations=[OBSERVATION]), 1.2)

    assert lines[1] == (
        "   1.2 s  flap probed: end a RTE-INL_VOIRO_EVPN_LA1-CD0HG0VRN (127.0.10.3, cisco_ios), "
        "round 1 (diagnostic): flapping (6 flaps in 53 min)"
    )
    assert lines[2].split(" · ") == [
        "            ICMP 5/5 answered, 0.0% loss, RTT 26.5/27.6/28.7 ms from jump host rebond",
        "login in 0.012 s via rebond",
        "log: 24 events read (2 commands, 3165 bytes, 0 lines unread)",
    ]
    assert timeline.reached["probed"] == 1.2


def test_a_failed_layer_and_a_reused_session_are_said_as_such() -> None:
    assert layer_text({"layer": "access", "ok": False, "detail": "wrong password"}) == (
        "access FAILED: wrong password"
    )
    reused = {"layer": "access", "ok": True, "figures": {"via": "rebond", "reused": True}}
    assert layer_text(reused) == "login: reused the open session via rebond"
    assert layer_text({"layer": "other", "ok": True, "detail": "fine"}) == "other: fine"


def test_the_verdict_comes_with_its_evidence_cut_short() -> None:
    timeline = _flap()

    lines = timeline.update(Snapshot(verdict=VERDICT), 1.3)

    assert lines[0] == (
        "   1.3 s  flap verdict: flapping — flapping (6 flaps in 53 min) "
        "(round 1, diagnostic, final)"
    )
    assert "(8 evidence lines)" in lines[1]
    assert lines[2].endswith("| Dec 1 04:10:13: %LINK-3-UPDOWN: Interface "
                             "GigabitEthernet0/1, changed state to down")  # fmt: skip
    assert lines[-1].endswith("| … 2 more")
    assert timeline.reached["verdict"] == 1.3


def test_a_verdict_that_is_not_final_does_not_count_when_the_final_one_is_awaited() -> None:
    timeline = Timeline(demo_tickets.P2P, "2505057242", "p2p-id", MAIL_DIR)
    verdict = {
        "verdict": {
            "probe_id": "p1",
            "round": 2,
            "purpose": "observation",
            "verdict": "stable",
            "reason": "stable since 2025-06-16 16:10:44+02:00",
            "ends": [],
            "observation": {"closes_at": "2026-12-01T04:41:40.287157Z", "final": False},
        },
        "final": False,
    }

    lines = timeline.update(Snapshot(verdict=verdict), 11.0)

    assert "not final: observed until 04:41:40 UTC" in lines[0]
    assert "verdict" not in timeline.reached
    final = {**verdict, "final": True, "verdict": {**verdict["verdict"], "round": 7}}  # type: ignore[dict-item]
    assert "(round 7, observation, final)" in timeline.update(Snapshot(verdict=final), 61.0)[0]
    assert timeline.reached["verdict"] == 61.0


def test_the_decision_and_the_mail_with_the_path_of_its_eml() -> None:
    timeline = _flap()

    pending = timeline.update(Snapshot(notifications=_notifications("pending")), 1.2)
    assert pending == [
        "   1.2 s  flap decision: rule flapping-line → A2 to support (SUPPORT N2): queued 1 send(s)"
    ]
    assert timeline.update(Snapshot(notifications=_notifications()), 1.4) == []  # no .eml yet

    lines = timeline.update(Snapshot(notifications=_notifications(), mails=[A2_EML]), 1.9)

    assert lines == [
        "   1.9 s  flap mail sent: A2 to SUPPORT N2 «[INT A2] Bagots constatés - Ticket "
        "6100045738»",
        f"            {MAIL_DIR / A2_EML}",
    ]
    assert timeline.mail_path == MAIL_DIR / A2_EML
    assert (timeline.reached["decision"], timeline.reached["mail"]) == (1.2, 1.9)


def test_the_sinks_file_is_found_by_its_message_id() -> None:
    assert eml_for(A2_ID, ["other.eml", A2_EML]) == A2_EML
    assert eml_for(A2_ID, ["other.eml"]) is None
    assert eml_for(None, [A2_EML]) is None


def test_the_gtr_deadline_warning_and_outcome() -> None:
    timeline = _flap()

    lines = timeline.update(Snapshot(gtr=GTR), 0.7)
    assert lines == [
        "   0.7 s  flap GTR clock: GTR S2 240 mn Lundi au Samedi 8h à 18h, started 30/05/2025 "
        "09:52 Europe/Paris, deadline 30/05/2025 13:52 Europe/Paris (running)"
    ]
    assert timeline.reached["gtr"] == 0.7  # open and flapping: its deadline is all there is
    warned = timeline.update(Snapshot(gtr={**GTR, "warned_percent": 100}), 1.5)
    assert warned == ["   1.5 s  flap GTR warning: 100 % of the budget used"]

    p2p = Timeline(demo_tickets.P2P, "2505057242", "p2p-id", MAIL_DIR)
    p2p.update(Snapshot(gtr=GTR), 0.5)
    assert "gtr" not in p2p.reached  # restored: its outcome is awaited
    restored = {
        **GTR,
        "state": "restored",
        "restored_at": "2026-12-01T04:40:40.234628+00:00",
        "met": False,
        "margin_minutes": -273248,
    }
    [outcome] = p2p.update(Snapshot(gtr=restored), 0.6)
    assert outcome == (
        "   0.6 s  P2P  GTR outcome: breached, margin -273248 business minutes (restored "
        "01/12/2026 05:40 Europe/Paris, deadline 30/05/2025 13:52 Europe/Paris)"
    )
    assert p2p.reached["gtr"] == 0.6


def test_the_missing_step_is_the_first_one_not_reached() -> None:
    timeline = _flap()
    assert timeline.missing() == f"flap ticket 6100045738 ({FLAP_ID}): received: " + (
        "ingest never showed the ticket"
    )

    stable = {"verdict": {**VERDICT["verdict"], "verdict": "stable"}, "final": True}  # type: ignore[dict-item]
    timeline.update(Snapshot(ticket=TICKET, observations=[OBSERVATION], verdict=stable), 2.0)
    assert timeline.missing() == (
        f"flap ticket 6100045738 ({FLAP_ID}): verdict: no `flapping` verdict "
        "(last verdict: stable (final), round 1)"
    )
    assert not timeline.done


def test_a_mail_not_sent_names_its_sends_state() -> None:
    timeline = _flap()
    failed = _notifications("pending")
    failed["decisions"][0]["notifications"][0]["last_error"] = "SMTP 451 try later"
    timeline.update(
        Snapshot(ticket=TICKET, observations=[OBSERVATION], verdict=VERDICT, notifications=failed),
        3.0,
    )

    assert timeline.missing() == (
        f"flap ticket 6100045738 ({FLAP_ID}): mail: the A2 mail is not in /data/mail "
        "(its send: pending (SMTP 451 try later))"
    )


def test_a_whole_ticket_done_and_its_summary() -> None:
    timeline = _flap()
    snap = Snapshot(
        ticket=TICKET,
        observations=[OBSERVATION],
        verdict=VERDICT,
        notifications=_notifications(),
        gtr=GTR,
        mails=[A2_EML],
    )
    timeline.update(snap, 1.2)

    assert timeline.done and timeline.missing() is None
    assert timeline.summary() == (
        f"flap numero 6100045738: final verdict flapping → A2 to support 1.2 s after the webhook "
        f"({MAIL_DIR / A2_EML}); GTR deadline 30/05/2025 13:52 Europe/Paris, running"
    )


def test_the_demo_tickets_are_the_seeds_p2p_restored_and_its_flapping_router() -> None:
    p2p, flapping = demo_tickets.demo_tickets("2505057242")

    assert (p2p.numero, p2p.state, p2p.expect) == ("2505057242", "Rétabli", demo_tickets.P2P)
    assert p2p.body["site_extremite_a"] == "INL_MOIRA_EVPN_LA1"
    assert (flapping.numero, flapping.state) == ("2505057243", "En cours")
    assert (flapping.expect.verdict, flapping.expect.template) == ("flapping", "A2")

    inventory = yaml.safe_load(packaged_text("seed-inventory.yaml"))
    [site] = [s for s in inventory["sites"] if s["code"] == flapping.body["site_extremite_a"]]
    assert site["service_reference"] == flapping.body["identifiant_ressource_cedre"]
    [device] = site["devices"]
    kinds = {d.name: d.scenario.kind for d in packaged_scenarios().devices}
    assert kinds[device["hostname"]] == "flapping"
    assert flapping.body["site_extremite_b"] is None
    assert demo_tickets.demo_tickets("9999999999")[1].numero == "0000000000"


def test_demo_takes_the_running_stacks_flags_and_a_bound() -> None:
    args = main.build_parser().parse_args(["demo"])
    assert (args.data_dir, args.ingest_port, args.timeout) == (None, 8000, 120.0)
    assert (args.prober_port, args.notifier_port) == (9101, 9102)
    args = main.build_parser().parse_args(["demo", "--data-dir", "x", "--timeout", "30"])
    assert (args.data_dir, args.timeout) == ("x", 30.0)


async def test_a_refused_read_token_is_a_one_line_setup_error(tmp_path: Path) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"title": "Unauthorized"})

    data = DataDir.at(tmp_path)
    target = demo._Target(data, Ports(1, 2, 3), data.mail_dir)
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(demo.DemoError) as caught:
            await demo._Reader(client, target).check_token()
    assert caught.value.code == 2
    assert "refused the read token" in str(caught.value)
    assert str(data.read_token_file) in str(caught.value)


def test_a_running_stack_without_its_files_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(demo.DemoError) as caught:
        demo._read_token(DataDir.at(tmp_path))
    assert caught.value.code == 2
    assert "give the --data-dir" in str(caught.value)


SHORT_OBSERVATION = {
    "VIGIE_PROBER_OBSERVATION__INTERVAL_S": "2",
    "VIGIE_PROBER_OBSERVATION__WINDOW_S": "6",
}


def test_the_launchers_observation_timing_replaces_the_dev_runs() -> None:
    assert services.observation_timing({}) == (10, 60)
    assert services.observation_timing(SHORT_OBSERVATION) == (2, 6)
    for bad in (
        {"VIGIE_PROBER_OBSERVATION__WINDOW_S": "soon"},
        {"VIGIE_PROBER_OBSERVATION__INTERVAL_S": "0"},
        {"VIGIE_PROBER_OBSERVATION__INTERVAL_S": "90"},
    ):
        with pytest.raises(ValueError, match="VIGIE_PROBER_OBSERVATION__"):
            services.observation_timing(bad)


@pytest.mark.integration
def test_demo_starts_its_own_vigie_and_follows_both_tickets_to_their_mail(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    started = time.monotonic()
    result = subprocess.run(
        [
            VIGIE,
            "demo",
            "--data-dir",
            str(data_dir),
            "--ingest-port",  # nothing answers there: the demo starts its own vigie
            str(free_port()),
            "--timeout",
            "100",
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=240,
        # A shorter observation than the dev run's minute: the window still opens and closes.
        env={**os.environ, **SHORT_OBSERVATION},
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert any("starting one for this demo" in line for line in lines)

    [p2p] = [line for line in lines if line.startswith("  P2P  numero ")]
    [flap] = [line for line in lines if line.startswith("  flap numero ")]
    assert "final verdict stable" in p2p and "→ CLT5 to customer" in p2p
    assert "GTR breached" in p2p
    assert "final verdict flapping → A2 to support" in flap
    found = re.search(r"\((/\S+\.eml)\)", p2p)
    assert found is not None, p2p
    clt5 = Path(found.group(1))
    assert clt5.is_file() and clt5.parent == data_dir / "mail"
    assert "INFO INCIDENT" in clt5.read_text(encoding="utf-8", errors="replace")

    assert any(re.search(r"flap decision: rule flapping-line → A2 to support", x) for x in lines)
    assert any(re.search(r"P2P  probed: end b RTE-INU_CONF5", x) for x in lines)
    assert any("ICMP 5/5 answered" in line for line in lines)
    assert lines[-1] == f"stopped (its files stay in {data_dir})"
    assert time.monotonic() - started < 200
