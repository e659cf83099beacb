"""Reachability over real sockets on loopback: ICMP where allowed, TCP connect as stand-in."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from vigie_common.kafka.tansu import free_port
from vigie_prober.pinger import Pinger
from vigie_prober.reachability import Method, probe_reachability, summarise


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    """A TCP server on loopback standing in for a router's SSH port."""

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port


async def test_loopback_answers_five_echoes_by_the_first_allowed_method(listener: int) -> None:
    result = await probe_reachability("127.0.0.1", ssh_port=listener, interval=0.01)
    assert result.ok and result.sent == 5 and result.received == 5
    assert result.loss_percent == 0.0
    assert result.rtt_min_ms is not None and result.rtt_max_ms is not None
    assert result.rtt_min_ms <= (result.rtt_avg_ms or 0) <= result.rtt_max_ms
    if os.geteuid() == 0:
        assert result.method in {Method.ICMP, Method.ICMP_RAW}
    assert result.method.value in result.detail


async def test_tcp_stand_in_measures_connects_to_the_ssh_port(listener: int) -> None:
    result = await probe_reachability(
        "127.0.0.1", ssh_port=listener, method=Method.TCP, interval=0.01
    )
    assert result.ok and result.method is Method.TCP and result.received == 5
    assert "(tcp)" in result.detail


async def test_tcp_stand_in_reports_total_loss_when_nothing_listens() -> None:
    result = await probe_reachability(
        "127.0.0.1", ssh_port=free_port(), method=Method.TCP, count=3, interval=0.01
    )
    assert not result.ok and result.loss_percent == 100.0 and result.received == 0
    assert result.rtt_avg_ms is None and "no answer" in result.detail


@pytest.mark.skipif(os.geteuid() != 0, reason="raw ICMP needs root")
async def test_raw_icmp_as_root_answers_on_loopback() -> None:
    result = await probe_reachability("127.0.0.1", method=Method.ICMP_RAW, interval=0.01)
    assert result.ok and result.method is Method.ICMP_RAW


def test_summary_has_loss_and_mdev_like_ping() -> None:
    result = summarise(Method.ICMP, 5, [1.0, 2.0, 3.0], target="10.0.0.1")
    assert result.loss_percent == 40.0
    assert (result.rtt_min_ms, result.rtt_avg_ms, result.rtt_max_ms) == (1.0, 2.0, 3.0)
    assert result.rtt_mdev_ms == pytest.approx(0.816, abs=0.001)
    assert "5 sent, 3 received, 40% loss" in result.detail


async def test_a_fleets_bursts_share_one_socket_and_each_gets_its_own_answers() -> None:
    pinger = Pinger()
    targets = [f"127.0.{30 + n // 250}.{1 + n % 250}" for n in range(300)]
    try:
        results = await asyncio.gather(
            *(probe_reachability(t, interval=0.01, count=5, pinger=pinger) for t in targets)
        )
        sockets = pinger.sockets
    finally:
        pinger.close()

    assert {r.method for r in results} <= {Method.ICMP, Method.ICMP_RAW}
    assert all(r.ok and r.received == 5 and r.loss_percent == 0.0 for r in results)
    assert [r.detail.split(":")[0] for r in results] == targets
    assert sockets == 1


async def test_a_closed_pinger_opens_again_on_next_use() -> None:
    pinger = Pinger()
    first = await probe_reachability("127.0.0.1", interval=0.01, count=2, pinger=pinger)
    pinger.close()
    second = await probe_reachability("127.0.0.1", interval=0.01, count=2, pinger=pinger)
    pinger.close()

    assert first.ok and second.ok and second.received == 2
