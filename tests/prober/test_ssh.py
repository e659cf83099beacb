"""The prober's SSH access over real SSH to the lab on loopback, directly and via the jump host."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from vigie_lab import fleet_scenarios
from vigie_prober.drivers import get_driver
from vigie_prober.errors import (
    AuthFailed,
    CommandRefused,
    CommandTimeout,
    ConnectFailed,
    HostKeyMismatch,
    HostKeyUnknown,
    JumpHostFailed,
    OutputTooLarge,
)
from vigie_prober.pacing import LoginPacer
from vigie_prober.pings import parse_ping
from vigie_prober.ssh import jump_ping_command

from tests.lab import RAD_LOG
from tests.prober.ssh_lab import (
    CREDENTIALS,
    JUMP_PASSWORD,
    NOW,
    ROUTER_PASSWORD,
    access_to,
    established_to,
    records,
    running_lab,
    scenarios,
)

TOFU = "VIGIE_PROBER_CREDENTIALS__LAB_ROUTER__TRUST_ON_FIRST_USE"


async def test_one_jump_host_connection_carries_every_router_session(tmp_path: Path) -> None:
    async with running_lab(tmp_path, fleet_scenarios(12)) as lab:
        jump = lab.jump_host
        assert jump is not None
        devices = records(lab)
        async with access_to(lab) as access:
            first = await asyncio.gather(*(access.run(d, RAD_LOG) for d in devices.values()))
            jump_connections = established_to(jump.port)
            router_connections = [established_to(d.port) for d in devices.values()]
            again = await asyncio.gather(*(access.run(d, RAD_LOG) for d in devices.values()))
            stats = access.stats

    assert jump_connections == 1  # the kernel's count, on the lab's side
    assert router_connections == [1] * 12  # each router: one connection, from the jump host
    assert stats.jump_connections == 1
    assert stats.router_logins == 12 and stats.reused == 12  # the second round logged in again 0
    for output in [*first, *again]:
        assert output.exit_status == 0
        assert "Loss of continuity (LOC)" in output.text
    assert all(commands == [RAD_LOG] * 2 for commands in lab.commands_received.values())


async def test_only_allow_listed_commands_ever_reach_a_router(tmp_path: Path) -> None:
    hostile = [
        "reload",
        "configure",
        "show configure reporting alarm-log ; reload",
        "show configure reporting alarm-log\nreload",
        "show logging",  # another driver's command
        "sh conf rep alarm-log",
    ]
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab)["LAB-STABLE"]
        async with access_to(lab) as access, access.session(device) as session:
            for command in hostile:
                with pytest.raises(CommandRefused) as refused:
                    await session.run(command)
                assert refused.value.driver == "rad_etx" and refused.value.command == command
            output = await session.run("  show configure   reporting alarm-log ")
            ping = await access.ping_from_jump(device)
        jump = lab.jump_host

    assert output.command == RAD_LOG and output.exit_status == 0
    assert lab.commands_received["LAB-STABLE"] == [RAD_LOG]
    assert jump is not None and jump.commands == [f"ping -c 5 -w 7 {device.address}"]
    summary = parse_ping(ping.text)
    assert summary is not None and summary.received == 5


def test_the_jump_host_is_sent_nothing_but_a_ping_to_an_ip_literal() -> None:
    assert jump_ping_command("127.0.11.1") == "ping -c 5 -w 7 127.0.11.1"
    assert jump_ping_command("2001:DB8::1", 3) == "ping -c 3 -w 5 2001:db8::1"
    for address, count in [("rebond; reboot", 5), ("-f 127.0.0.1", 5), ("host", 5), ("::1", 0)]:
        with pytest.raises(CommandRefused):
            jump_ping_command(address, count)


@pytest.mark.parametrize("via_jump", [False, True], ids=["direct", "jump"])
async def test_a_changed_host_key_stops_before_any_login(
    tmp_path: Path, via_jump: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncssh")
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab, via_jump=via_jump)["LAB-HOST-KEY-CHANGED"]
        expected = lab.devices["LAB-HOST-KEY-CHANGED"].host_key
        caplog.clear()
        async with access_to(lab, trust_on_first_use=True) as access:  # never for a mismatch
            with pytest.raises(HostKeyMismatch) as mismatch:
                await access.run(device, RAD_LOG)

    error = mismatch.value
    assert error.host == f"{device.address}:{device.port}"
    assert error.presented is not None and error.presented.startswith("SHA256:")
    assert len(error.expected) == 1 and error.presented not in error.expected
    assert "host key mismatch" in str(error) and error.expected[0] in str(error)
    assert expected.split()[0] == "ssh-ed25519"
    assert not error.retriable and error.layer == "access"
    assert lab.commands_received["LAB-HOST-KEY-CHANGED"] == []
    messages = [r.getMessage().split("] ", 1)[-1] for r in caplog.records]
    logins = {message for message in messages if "auth" in message.lower()}
    assert "Beginning auth for user vigie" not in logins  # no router login was even tried
    assert ("Auth for user tech succeeded" in logins) is via_jump  # the jump host's was


async def test_a_changed_jump_host_key_reaches_no_router(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        known = lab.known_hosts.read_text(encoding="ascii").splitlines()
        other = lab.devices["LAB-STABLE"].host_key
        known[0] = f"{known[0].split()[0]} {other}"  # the jump host's line, another key
        lab.known_hosts.write_text("\n".join(known) + "\n", encoding="ascii")
        devices = records(lab)
        async with access_to(lab) as access:
            results = await asyncio.gather(
                *(access.run(d, RAD_LOG) for d in devices.values()), return_exceptions=True
            )
            jump_connections = access.stats.jump_connections

    assert all(isinstance(r, JumpHostFailed) for r in results)
    assert all(isinstance(r.cause, HostKeyMismatch) for r in results)  # type: ignore[union-attr]
    assert "jump host rebond: host key mismatch" in str(results[0])
    assert jump_connections == 0
    assert all(commands == [] for commands in lab.commands_received.values())


async def test_an_unknown_host_key_is_refused_unless_trusted_on_first_use(tmp_path: Path) -> None:
    known_hosts = tmp_path / "prober_known_hosts"
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab, via_jump=False, known_hosts=str(known_hosts))["LAB-STABLE"]
        async with access_to(lab) as access:
            with pytest.raises(HostKeyUnknown) as unknown:
                await access.run(device, RAD_LOG)
        async with access_to(lab, {**CREDENTIALS, TOFU: "true"}) as access:
            first = await access.run(device, RAD_LOG)
        recorded = known_hosts.read_text(encoding="ascii")
        async with access_to(lab) as access:  # the recorded key is trusted from now on
            second = await access.run(device, RAD_LOG)
        key = lab.devices["LAB-STABLE"].host_key

    assert unknown.value.presented is not None and not unknown.value.retriable
    assert "host key unknown" in str(unknown.value)
    assert recorded == f"[{device.address}]:{device.port} {key}\n"
    assert first.text == second.text


async def test_the_inventorys_host_key_is_trusted_and_checked(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        right = lab.devices["LAB-STABLE"].host_key
        wrong = lab.devices["LAB-FLAPPING"].host_key
        trusted = records(lab, via_jump=False, known_hosts=None, host_key=right)["LAB-STABLE"]
        spoofed = records(lab, via_jump=False, known_hosts=None, host_key=wrong)["LAB-STABLE"]
        async with access_to(lab) as access:
            output = await access.run(trusted, RAD_LOG)
            with pytest.raises(HostKeyMismatch):
                await access.run(spoofed, RAD_LOG)

    assert output.exit_status == 0


async def test_a_refused_login_names_the_profile_and_never_the_password(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        devices = records(lab)
        async with access_to(lab) as access:
            with pytest.raises(AuthFailed) as refused:
                await access.run(devices["LAB-WRONG-PASSWORD"], RAD_LOG)
            shown = repr(access)
        wrong_jump = {**CREDENTIALS, "VIGIE_PROBER_CREDENTIALS__LAB_REBOND__PASSWORD": "nope"}
        async with access_to(lab, wrong_jump) as access:
            results = await asyncio.gather(
                *(access.run(devices[n], RAD_LOG) for n in ("LAB-STABLE", "LAB-FLAPPING")),
                return_exceptions=True,
            )

    assert refused.value.profile == "lab-router" and not refused.value.retriable
    assert str(refused.value).startswith("authentication failed on 127.0.11.6:")
    for result in results:
        assert isinstance(result, JumpHostFailed) and isinstance(result.cause, AuthFailed)
        assert result.cause.profile == "lab-rebond"
    texts = [caplog.text, shown, str(refused.value), repr(refused.value)]
    texts += [f"{r!s} {r!r}" for r in results]
    for text in texts:
        assert ROUTER_PASSWORD not in text and JUMP_PASSWORD not in text


async def test_output_over_the_cap_stops_reading_and_keeps_the_first_bytes(tmp_path: Path) -> None:
    cap = 1024 * 1024
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        devices = records(lab)
        async with access_to(lab, max_output_bytes=cap) as access:
            started = time.perf_counter()
            with pytest.raises(OutputTooLarge) as too_large:
                await access.run(devices["LAB-HUGE"], RAD_LOG)
            elapsed = time.perf_counter() - started
            after = await access.run(devices["LAB-STABLE"], RAD_LOG)
            logins = access.stats.router_logins

    error = too_large.value
    assert error.limit == cap and error.bytes_read == cap and len(error.output) == cap
    assert error.output.startswith("1      Remote defect indication (RDI)")
    assert "output too large" in str(error) and error.command == RAD_LOG
    assert elapsed < 5  # 1 MiB of 50 MB, and no waiting for the rest
    assert after.exit_status == 0 and logins == 2


async def test_a_hanging_router_times_out_within_its_cap(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        devices = records(lab)
        async with access_to(lab, command_timeout=1.0) as access:
            started = time.perf_counter()
            with pytest.raises(CommandTimeout) as timed_out:
                await access.run(devices["LAB-HANGS"], RAD_LOG)
            elapsed = time.perf_counter() - started

    assert 1.0 <= elapsed < 2.0
    error = timed_out.value
    assert error.timeout == 1.0 and error.bytes_read == 0 and error.output == ""
    assert error.retriable and error.layer == "evidence"
    assert "command time-out after 1 s" in str(error)


async def test_no_ssh_listener_is_a_refused_connection(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        direct = records(lab, via_jump=False)["LAB-NO-SSH"]
        tunnelled = records(lab)["LAB-NO-SSH"]
        async with access_to(lab) as access:
            with pytest.raises(ConnectFailed) as refused:
                await access.run(direct, RAD_LOG)
            with pytest.raises(ConnectFailed) as not_forwarded:
                await access.run(tunnelled, RAD_LOG)

    assert refused.value.cause == "Connection refused" and refused.value.retriable
    assert not_forwarded.value.cause.startswith("jump host rebond could not open a tunnel")


async def test_an_idle_router_connection_is_closed_then_opened_again(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab, via_jump=False)["LAB-STABLE"]
        async with access_to(lab, idle_timeout=0.2) as access:
            await access.run(device, RAD_LOG)
            await access.run(device, RAD_LOG)
            open_after_use = established_to(device.port)
            await asyncio.sleep(1.3)
            open_when_idle = established_to(device.port)
            await access.run(device, RAD_LOG)
            stats = access.stats

    assert (open_after_use, open_when_idle) == (1, 0)
    assert (stats.router_logins, stats.reused) == (2, 1)


async def test_logins_are_paced_and_sessions_bounded(tmp_path: Path) -> None:
    async with running_lab(tmp_path, fleet_scenarios(8)) as lab:
        devices = list(records(lab).values())
        limits = access_to(lab, logins_per_second=10, max_sessions=5, max_sessions_per_jump_host=2)
        async with limits as access:
            started = time.perf_counter()
            await asyncio.gather(*(access.run(d, RAD_LOG) for d in devices))
            elapsed = time.perf_counter() - started
            stats = access.stats

    assert elapsed >= 0.65  # 8 logins at 10 a second: the last one 0.7 s after the first
    assert stats.paced_s > 0
    assert stats.peak_per_jump_host == {"rebond": 2}
    assert stats.peak_sessions <= 2 and stats.sessions == 0


def test_the_pacer_hands_out_turns_in_order_and_refills() -> None:
    now = [100.0]
    pacer = LoginPacer(4.0, burst=2, clock=lambda: now[0])
    assert [pacer.reserve() for _ in range(4)] == [0.0, 0.0, 0.25, 0.5]
    now[0] += 10  # the debt is paid and the bucket full again, not fuller
    assert [pacer.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]
    assert LoginPacer(0).reserve() == 0.0


@pytest.mark.parametrize(
    ("name", "events"), [("LAB-STABLE", 4), ("LAB-IOS-STABLE", 4), ("LAB-GARBAGE", None)]
)
async def test_interactive_shells_read_up_to_the_prompt(
    tmp_path: Path, name: str, events: int | None
) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab)[name]
        driver = get_driver(device.driver)
        async with access_to(lab, mode="shell") as access, access.session(device) as session:
            outputs = [await session.run(command) for command in driver.commands]
        async with access_to(lab) as access:  # the same commands as exec requests
            execs = [await access.run(device, command) for command in driver.commands]

    text = "".join(output.text for output in outputs)
    parsed = driver.parse(text, tz=device.zone, now=NOW)
    assert lab.commands_received[name] == list(driver.commands) * 2
    assert all(output.exit_status is None for output in outputs)
    # The driver reads what an exec request gives: no echo, no prompt; the pager answered.
    assert text.replace("\r\n", "\n") == "".join(e.text for e in execs).replace("\r\n", "\n")
    if events is None:  # a prompt echoing the command does not make garbage a log
        assert not parsed.recognised and not parsed.events
    else:
        assert parsed.recognised and len(parsed.events) == events and not parsed.unparsed
