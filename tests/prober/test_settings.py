"""The prober's settings from its environment: nested groups, and refusals that name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from vigie_prober.settings import ProberSettings
from vigie_prober.ssh import PREFERRED_CIPHERS


def test_nested_groups_are_read_from_double_underscore_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_PROBER_SSH__MAX_SESSIONS", "200")
    monkeypatch.setenv("VIGIE_PROBER_SSH__LOGINS_PER_SECOND", "0")
    monkeypatch.setenv("VIGIE_PROBER_OBSERVATION__INTERVAL_S", "60")
    monkeypatch.setenv(
        "VIGIE_PROBER_OBSERVATION__PRODUCTS",
        '{"Ethernet VPN": {"interval_s": 300, "window_s": 43200}}',
    )
    monkeypatch.setenv("VIGIE_PROBER_DAMPENING__QUIET_S", "600")

    settings = ProberSettings(env="test")
    options = settings.ssh.options()

    assert (options.max_sessions, options.logins_per_second) == (200, 0)
    assert options.ciphers == PREFERRED_CIPHERS
    assert options.ciphers[0] == "aes128-gcm@openssh.com"
    assert settings.observation.for_product("ethernet vpn").window_s == 43_200
    assert settings.observation.for_product(None).interval_s == 60
    assert settings.dampening.policy().quiet.total_seconds() == 600


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("VIGIE_PROBER_SSH__CIPHERS", '["rot13"]', "unknown ciphers ['rot13']"),
        ("VIGIE_PROBER_DAMPENING__REUSE", "3000", "reuse must be positive and below suppress"),
        ("VIGIE_PROBER_OBSERVATION__INTERVAL_S", "100000", "interval_s must not exceed window_s"),
        ("VIGIE_PROBER_PING_FROM", "router", "ping_from"),
    ],
)
def test_an_unusable_value_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError, match=says.replace("[", r"\[").replace("]", r"\]")):
        ProberSettings(env="test")
