"""The runbook over real SSH to the lab: every scenario's verdict, layer by layer, and manners."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from vigie_prober.allowlist import ALLOWED
from vigie_prober.runbook import DeviceProbe, PingFrom, probe_device, probe_ends
from vigie_prober.verdicts import Verdict

from tests.prober.ssh_lab import (
    JUMP_PASSWORD,
    NOW,
    ROUTER_PASSWORD,
    access_to,
    records,
    running_lab,
    scenarios,
)

CAP_S = 2.0
"""The command time-out of these tests (30 s in production)."""

EXPECTED: dict[str, tuple[Verdict, str | None, str]] = {
    # device: (verdict, failed layer, reason as a pattern)
    "LAB-STABLE": (Verdict.STABLE, None, r"stable since 2025-06-16 16:10:44\+02:00"),
    "LAB-FLAPPING": (Verdict.FLAPPING, None, r"flapping \(6 flaps in 52 min\)"),
    "LAB-FLAPPED": (Verdict.STABLE, None, r"stable since 2025-06-19 06:00:00\+02:00"),
    "LAB-OBSERVED": (Verdict.STABLE, None, r"stable since 2025-06-17 11:00:00\+02:00"),
    "LAB-WRONG-PASSWORD": (
        Verdict.INCONCLUSIVE,
        "access",
        r"access: authentication failed on 127\.0\.11\.6:\d+ \(profile lab-router\)",
    ),
    "LAB-HOST-KEY-CHANGED": (
        Verdict.INCONCLUSIVE,
        "access",
        r"access: host key mismatch on 127\.0\.11\.7:\d+: presented SHA256:\S+, "
        r"known host key SHA256:\S+",
    ),
    "LAB-HANGS": (
        Verdict.INCONCLUSIVE,
        "evidence",
        r"evidence: command time-out after 2 s on 'show configure reporting alarm-log' "
        r"\(0 bytes read\)",
    ),
    "LAB-GARBAGE": (Verdict.INCONCLUSIVE, "evidence", r"no log recognised \(39 lines unread\)"),
    "LAB-HUGE": (
        Verdict.INCONCLUSIVE,
        "evidence",
        r"evidence: output too large: over 4194304 bytes on "
        r"'show configure reporting alarm-log', reading stopped",
    ),
    "LAB-SLOW-DRIP": (Verdict.STABLE, None, r"stable since 2025-06-18 11:00:00\+02:00"),
    "LAB-IOS-STABLE": (Verdict.STABLE, None, r"stable since 2025-06-19 09:30:00\+02:00"),
    "LAB-IOS-FLAPPING": (Verdict.FLAPPING, None, r"flapping \(6 flaps in 43 min\)"),
}
NO_SSH = {
    # Loopback answers the prober's ping: the port refuses. The lab's jump host knows better.
    "direct": (
        Verdict.INCONCLUSIVE,
        "access",
        r"access: connection to 127\.0\.11\.5:\d+ failed: Connection refused",
    ),
    "jump": (
        Verdict.UNREACHABLE,
        "reachability",
        r"reachability: no answer to 5 pings from jump host rebond \(100% loss\)",
    ),
}
FAST_DRIP = {"bytes_per_second: 200": "bytes_per_second: 4000"}
"""The catalogue's slow drip takes 2.7 s to print its log; here 0.15 s, within the cap."""


def _layers(probe: DeviceProbe) -> list[tuple[str, bool]]:
    return [(layer.layer, layer.ok) for layer in probe.layers]


@pytest.mark.parametrize("via", ["direct", "jump"])
async def test_every_scenario_gives_its_verdict_and_reason(
    tmp_path: Path, via: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    ping = PingFrom.JUMP_HOST if via == "jump" else PingFrom.PROBER
    async with running_lab(tmp_path, scenarios(tmp_path, **FAST_DRIP)) as lab:
        devices = records(lab, via_jump=via == "jump")
        async with access_to(lab, command_timeout=CAP_S) as access:
            probes = await asyncio.gather(
                *(probe_device(d, access=access, now=NOW, ping=ping) for d in devices.values())
            )
            shown = f"{access!r} {access.stats!r}"
        received = dict(lab.commands_received)

    expected = EXPECTED | {"LAB-NO-SSH": NO_SSH[via]}
    found = {p.hostname: p for p in probes}
    assert set(found) == set(expected)
    for name, (verdict, layer, reason) in expected.items():
        probe = found[name]
        assert (probe.verdict.verdict, probe.failed_layer) == (verdict, layer), name
        assert re.fullmatch(reason, probe.verdict.reason), (name, probe.verdict.reason)
        assert probe.verdict.device == name
    stable = found["LAB-STABLE"]
    assert _layers(stable) == [("reachability", True), ("access", True), ("evidence", True)]
    reach = stable.layers[0].figures
    assert reach["sent"] == 5 and reach["received"] == 5 and reach["loss_percent"] == 0
    assert reach["rtt_min_ms"] is not None and reach["rtt_max_ms"] is not None
    assert stable.layers[1].figures["via"] == ("rebond" if via == "jump" else None)
    assert stable.layers[2].figures["events"] == 4 and "Loss of continuity" in stable.output
    assert len(stable.verdict.events) == 4 and stable.started == NOW < stable.finished
    assert _layers(found["LAB-WRONG-PASSWORD"]) == [("reachability", True), ("access", False)]
    assert _layers(found["LAB-HANGS"])[-1] == ("evidence", False)
    assert len(found["LAB-HUGE"].output) == 4 * 1024 * 1024  # the first bytes, kept as evidence
    assert found["LAB-HUGE"].output.startswith("1      Remote defect indication (RDI)")
    assert CAP_S <= (found["LAB-HANGS"].finished - NOW).total_seconds() < CAP_S + 2.5
    # Only the drivers' read-only commands ever reached a router.
    for name, commands in received.items():
        assert set(commands) <= ALLOWED[devices[name].driver], name
    assert received["LAB-HOST-KEY-CHANGED"] == [] and received["LAB-WRONG-PASSWORD"] == []
    # Credentials appear in no log line, output, repr or reason.
    captured = capsys.readouterr()
    texts = [caplog.text, captured.out, captured.err, shown, *(repr(p) for p in probes)]
    texts += [p.verdict.reason for p in probes]
    for text in texts:
        assert ROUTER_PASSWORD not in text and JUMP_PASSWORD not in text


async def test_a_slow_drip_past_the_cap_times_out_with_what_came(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab)["LAB-SLOW-DRIP"]
        async with access_to(lab, command_timeout=0.5) as access:
            probe = await probe_device(device, access=access, now=NOW, ping=PingFrom.NONE)

    assert (probe.verdict.verdict, probe.failed_layer) == (Verdict.INCONCLUSIVE, "evidence")
    assert probe.verdict.reason.startswith("evidence: command time-out after 0.5 s")
    assert 0 < len(probe.output) < 532 and "1      Remote defect" in probe.output
    assert _layers(probe) == [("access", True), ("evidence", False)]  # no ping asked


def _fleet(stable: int) -> str:
    login = "username: vigie, password_env: VIGIE_LAB_ROUTER_PASSWORD"
    lines = [
        "jump_host: {name: rebond, address: 127.0.12.254, port: 0, username: tech,",
        "            password_env: VIGIE_LAB_JUMP_PASSWORD}",
        "devices:",
    ]
    kinds = [f"{{kind: stable, since: '-{1 + n % 3}d@16:10:44'}}" for n in range(stable)]
    kinds += ["{kind: hangs_after_login}", "{kind: huge_output, bytes: 50000000}"]
    for n, kind in enumerate(kinds):
        name = f"STABLE-{n + 1:02d}" if n < stable else ("HANGS", "HUGE")[n - stable]
        lines.append(
            f"  - {{name: {name}, driver: rad_etx, address: 127.0.12.{n + 1}, port: 0, "
            f"{login}, scenario: {kind}}}"
        )
    return "\n".join(lines) + "\n"


def _rss_kib() -> int:
    status = Path("/proc/self/status").read_text(encoding="ascii")
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    assert match is not None
    return int(match[1])


async def test_a_hanging_and_a_huge_router_hold_back_no_stable_one(tmp_path: Path) -> None:
    cap_s = 3.0
    async with running_lab(tmp_path, scenarios(tmp_path, text=_fleet(10))) as lab:
        devices = records(lab)
        async with access_to(lab, command_timeout=cap_s) as access:
            warm = await probe_device(
                devices["STABLE-01"], access=access, now=NOW, ping=PingFrom.NONE
            )
            await access.close()  # every connection of the real run is a new one
            gc.collect()
            jumps_before = access.stats.jump_connections
            before = peak = _rss_kib()
            sampling = True

            async def sample() -> None:
                nonlocal peak
                while sampling:
                    peak = max(peak, _rss_kib())
                    await asyncio.sleep(0.02)

            sampler = asyncio.create_task(sample())
            started = time.perf_counter()
            probes = await asyncio.gather(
                *(
                    probe_device(d, access=access, now=NOW, ping=PingFrom.NONE)
                    for d in devices.values()
                )
            )
            wall = time.perf_counter() - started
            sampling = False
            await sampler
            after = _rss_kib()
            jump_connections = access.stats.jump_connections - jumps_before

    assert warm.verdict.verdict is Verdict.STABLE
    found = {p.hostname: p for p in probes}
    stable = [p for name, p in found.items() if name.startswith("STABLE")]
    assert len(stable) == 10
    assert all(p.verdict.verdict is Verdict.STABLE for p in stable)
    slowest = max((p.finished - p.started).total_seconds() for p in stable)
    assert slowest < cap_s / 2  # not delayed by the hanging router's cap, nor the flood
    assert found["HUGE"].verdict.reason.startswith("evidence: output too large")
    assert wall < cap_s + 2.0
    assert jump_connections == 1
    assert (peak - before) < 96 * 1024, f"RSS grew by {(peak - before) // 1024} MiB at peak"
    assert (after - before) < 64 * 1024, f"RSS grew by {(after - before) // 1024} MiB"


async def test_a_tickets_ends_are_probed_together_and_the_worst_wins(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        devices = records(lab)
        async with access_to(lab) as access:
            mixed = await probe_ends(
                [devices["LAB-STABLE"], devices["LAB-FLAPPING"]],
                access=access,
                now=NOW,
                ping=PingFrom.NONE,
            )
            both = await probe_ends(
                [devices["LAB-STABLE"], devices["LAB-IOS-STABLE"]],
                access=access,
                now=NOW,
                ping=PingFrom.NONE,
            )
            none = await probe_ends([], access=access, now=NOW)

    assert mixed.verdict.verdict is Verdict.FLAPPING
    assert mixed.verdict.reason.startswith("LAB-FLAPPING: flapping (6 flaps in")
    assert [p.hostname for p in mixed.probes] == ["LAB-STABLE", "LAB-FLAPPING"]
    assert both.verdict.verdict is Verdict.STABLE
    assert both.verdict.reason == "stable since 2025-06-19 09:30:00+02:00"  # the later end's
    assert none.verdict.verdict is Verdict.INCONCLUSIVE and none.probes == ()


async def test_a_prober_failure_never_escapes(tmp_path: Path) -> None:
    async with running_lab(tmp_path, scenarios(tmp_path)) as lab:
        device = records(lab)["LAB-STABLE"]
        broken = {
            "unknown driver": replace(device, driver="juniper"),
            "no credentials": replace(device, credentials="nobody"),
            "known_hosts unreadable": replace(device, known_hosts=str(tmp_path)),
            "bad zone": replace(device, timezone="Mars/Olympus_Mons"),
        }
        async with access_to(lab) as access:
            probes = {
                case: await probe_device(d, access=access, now=NOW, ping=PingFrom.NONE)
                for case, d in broken.items()
            }

    assert all(p.verdict.verdict is Verdict.INCONCLUSIVE for p in probes.values())
    assert probes["unknown driver"].failed_layer == "evidence"
    assert "unknown driver 'juniper'" in probes["unknown driver"].verdict.reason
    nobody = probes["no credentials"]
    assert nobody.failed_layer == "access"
    assert "VIGIE_PROBER_CREDENTIALS__NOBODY__USERNAME" in nobody.verdict.reason
    unreadable = probes["known_hosts unreadable"]
    assert unreadable.failed_layer == "access" and "cannot be read" in unreadable.verdict.reason
    assert probes["bad zone"].verdict.reason == "evidence: prober error (ZoneInfoNotFoundError)"
