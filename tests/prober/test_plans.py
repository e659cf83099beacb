"""The planning rules: what each ticket state asks of the prober, and when the next probe is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_common.events.probes import Purpose, Verdict
from vigie_common.events.tickets import CanonicalTicket, Site, TicketState
from vigie_prober.plans import (
    DIAGNOSED,
    LINE_FAILED,
    WINDOW_CLOSED,
    Change,
    CurrentPlan,
    next_probe,
    plan_ticket,
    ticket_sites,
)
from vigie_prober.settings import ObservationSettings, Timing

NOW = datetime(2025, 6, 19, 9, 0, tzinfo=UTC)
TIMING = Timing(interval_s=900, window_s=86_400)


def ticket(state: TicketState, **fields: object) -> CanonicalTicket:
    values: dict[str, object] = {
        "id": "tkt-1",
        "source": "oceane",
        "upstream_id": "2505057242",
        "version": 1,
        "opened_at": datetime(2025, 5, 30, 7, 52, tzinfo=UTC),
        "state": state,
        "site_a": Site(code="INL_MOIRA_EVPN_LA1"),
        "site_b": Site(code="INU_CONF5_EVPN_LA1", service_reference="CD0HG0FDC"),
    }
    return CanonicalTicket.model_validate(values | fields)


def current(purpose: Purpose, value: CanonicalTicket, *, pending: bool = True) -> CurrentPlan:
    return CurrentPlan(purpose=purpose, sites=ticket_sites(value), pending=pending)


def test_an_open_ticket_gets_one_diagnostic_probe_now() -> None:
    change = plan_ticket(ticket(TicketState.OPEN), current=None, now=NOW, timing=TIMING)

    assert change.change is Change.NEW
    assert change.purpose is Purpose.DIAGNOSTIC
    assert change.due_at == NOW
    assert change.window_end is None and change.since is None


def test_an_open_ticket_updated_with_the_same_sites_keeps_its_plan() -> None:
    value = ticket(TicketState.OPEN, version=2, notes="customer called")
    change = plan_ticket(
        value, current=current(Purpose.DIAGNOSTIC, value, pending=False), now=NOW, timing=TIMING
    )

    assert change.change is Change.KEEP


def test_an_open_ticket_whose_sites_changed_is_probed_again() -> None:
    before = ticket(TicketState.OPEN)
    after = ticket(TicketState.OPEN, version=2, site_b=Site(code="INL_VOIRO_EVPN_LA1"))
    change = plan_ticket(
        after, current=current(Purpose.DIAGNOSTIC, before, pending=False), now=NOW, timing=TIMING
    )

    assert change.change is Change.NEW and change.purpose is Purpose.DIAGNOSTIC


def test_a_restored_ticket_is_observed_from_the_repair() -> None:
    repaired = NOW - timedelta(hours=2)
    value = ticket(TicketState.RESTORED, restored_at=repaired)

    change = plan_ticket(value, current=None, now=NOW, timing=TIMING)

    assert change.change is Change.NEW and change.purpose is Purpose.OBSERVATION
    assert change.due_at == NOW
    assert change.since == change.window_start == repaired
    assert change.window_end == repaired + timedelta(hours=24)
    assert change.interval == timedelta(minutes=15)


def test_a_repair_time_in_the_future_is_not_trusted() -> None:
    value = ticket(TicketState.RESTORED, restored_at=NOW + timedelta(hours=1))

    change = plan_ticket(value, current=None, now=NOW, timing=TIMING)

    assert change.window_start == NOW


def test_in_observation_after_restored_keeps_the_running_observation() -> None:
    restored = ticket(TicketState.RESTORED)
    observed = ticket(TicketState.IN_OBSERVATION, version=2)

    change = plan_ticket(
        observed, current=current(Purpose.OBSERVATION, restored), now=NOW, timing=TIMING
    )

    assert change.change is Change.KEEP


def test_a_reopened_ticket_replaces_its_observation_with_a_diagnostic() -> None:
    restored = ticket(TicketState.RESTORED)
    reopened = ticket(TicketState.OPEN, version=3)

    change = plan_ticket(
        reopened, current=current(Purpose.OBSERVATION, restored), now=NOW, timing=TIMING
    )

    assert change.change is Change.NEW and change.purpose is Purpose.DIAGNOSTIC


@pytest.mark.parametrize("pending", [True, False])
def test_a_closed_ticket_cancels_what_is_pending_and_nothing_else(pending: bool) -> None:
    value = ticket(TicketState.CLOSED, version=4)
    plan = current(Purpose.OBSERVATION, value, pending=pending)

    change = plan_ticket(value, current=plan, now=NOW, timing=TIMING)
    never_probed = plan_ticket(value, current=None, now=NOW, timing=TIMING)

    assert change.change is (Change.CANCEL if pending else Change.NONE)
    assert never_probed.change is Change.NONE


def test_per_product_timings_override_the_default() -> None:
    settings = ObservationSettings(
        products={"Ethernet VPN": Timing(interval_s=300, window_s=43_200)}
    )

    assert settings.for_product("ethernet vpn ").interval_s == 300
    assert settings.for_product("BES2").interval_s == 900
    assert settings.for_product(None).window_s == 86_400


def test_an_interval_longer_than_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="interval_s must not exceed window_s"):
        Timing(interval_s=600, window_s=60)


END = NOW + timedelta(hours=1)


def test_a_diagnostic_is_done_after_one_round() -> None:
    after = next_probe(
        purpose=Purpose.DIAGNOSTIC,
        verdict=Verdict.FLAPPING,
        started=NOW,
        window_end=None,
        interval=None,
    )

    assert after.due_at is None and after.final and after.outcome == DIAGNOSED


def test_an_observation_probes_every_interval_then_once_at_the_window_end() -> None:
    interval = timedelta(minutes=25)
    started, dues = NOW, []
    while True:
        after = next_probe(
            purpose=Purpose.OBSERVATION,
            verdict=Verdict.STABLE,
            started=started,
            window_end=END,
            interval=interval,
        )
        if after.due_at is None:
            break
        dues.append(after.due_at)
        started = after.due_at

    assert dues == [NOW + interval, NOW + 2 * interval, END]
    assert after.final and after.outcome == WINDOW_CLOSED


@pytest.mark.parametrize("verdict", [Verdict.FLAPPING, Verdict.UNREACHABLE])
def test_an_observation_ends_early_when_the_line_fails(verdict: Verdict) -> None:
    after = next_probe(
        purpose=Purpose.OBSERVATION,
        verdict=verdict,
        started=NOW,
        window_end=END,
        interval=timedelta(minutes=15),
    )

    assert after.due_at is None and after.final and after.outcome == LINE_FAILED


def test_an_inconclusive_round_keeps_observing() -> None:
    after = next_probe(
        purpose=Purpose.OBSERVATION,
        verdict=Verdict.INCONCLUSIVE,
        started=NOW,
        window_end=END,
        interval=timedelta(minutes=15),
    )

    assert after.due_at == NOW + timedelta(minutes=15) and not after.final


@given(
    offset=st.integers(min_value=-10_000, max_value=10_000),
    interval=st.integers(min_value=1, max_value=5_000),
)
def test_the_next_probe_never_passes_the_window_end(offset: int, interval: int) -> None:
    started = END + timedelta(seconds=offset)
    after = next_probe(
        purpose=Purpose.OBSERVATION,
        verdict=Verdict.STABLE,
        started=started,
        window_end=END,
        interval=timedelta(seconds=interval),
    )

    if after.due_at is None:
        assert started >= END and after.final
    else:
        assert started < after.due_at <= END and not after.final
