"""The checks every consumer service passes, run by ``tests/prober`` and ``tests/notifier``."""

from __future__ import annotations

import asyncio
import gc
import warnings

import httpx
from vigie_common.events.envelope import encode
from vigie_common.events.tickets import TICKET_RECEIVED, TICKET_UPDATED
from vigie_common.events.topics import TICKETS, dead_letter

from tests.common.service_worker import (
    RunningWorker,
    metrics_text,
    port_is_free,
    publish,
    ticket_received,
)
from tests.support.kafka import eventually, read_records

WAIT = 45.0  # the session topic holds every other test's events: a new group reads them all


async def ticket_event_is_remembered(worker: RunningWorker, bootstrap: str) -> None:
    received = ticket_received()
    updated = ticket_received(event_type=TICKET_UPDATED)

    await publish(bootstrap, received, updated)

    async def stored() -> bool:
        return all([await worker.processed(received.id), await worker.processed(updated.id)])

    await eventually(stored, within=WAIT, every=0.25)
    row = await worker.processed(received.id)
    assert row is not None
    assert (row.topic, row.event_type) == (TICKETS, TICKET_RECEIVED)
    assert row.processed_at.tzinfo is not None


async def duplicate_is_counted_once(worker: RunningWorker, bootstrap: str) -> None:
    event = ticket_received()
    await publish(bootstrap, event, event)
    prefix = f"vigie_{worker.spec.name}"

    def count(outcome: str) -> float:
        value = worker.registry.get_sample_value(
            f"{prefix}_consumer_messages_total", {"topic": TICKETS, "outcome": outcome}
        )
        return value or 0.0

    async def stored() -> bool:
        return await worker.processed(event.id) is not None

    await eventually(stored, within=WAIT, every=0.25)
    # Both copies were read: the second is a duplicate (the topic may hold others' duplicates).
    await eventually(lambda: _true(count("duplicate") >= 1), within=WAIT)
    page = await metrics_text(worker.metrics_url)
    assert page is not None
    assert f'{prefix}_consumer_messages_total{{outcome="processed",topic="{TICKETS}"}}' in page


async def other_event_type_is_dead_lettered(
    worker: RunningWorker, bootstrap: str, service: str
) -> None:
    event = ticket_received(event_type="vigie.observation.recorded.v1")

    await publish(bootstrap, event)

    records = await read_records(
        bootstrap, dead_letter(TICKETS), keys={event.subject}, expect=1, within=WAIT
    )
    mine = [
        r
        for r in records
        if dict(r.headers)["vigie-error"]
        == f"the {service} does not handle 'vigie.observation.recorded.v1' events".encode()
    ]
    assert len(mine) == 1, [dict(r.headers) for r in records]
    [record] = mine
    headers = dict(record.headers)
    assert record.value == encode(event)
    assert headers["vigie-original-topic"] == TICKETS.encode()
    assert int(headers["vigie-original-offset"]) >= 0
    assert await worker.processed(event.id) is None


async def stops_and_releases_its_port(worker: RunningWorker, bootstrap: str) -> None:
    """Cancelling ``run_worker`` (a hard stop, not the stop event) leaves nothing behind."""
    event = ticket_received()
    await publish(bootstrap, event)

    async def stored() -> bool:
        return await worker.processed(event.id) is not None

    await eventually(stored, within=WAIT, every=0.25)  # consuming: past the group join
    assert await _answers(worker)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        worker.task.cancel()
        done, _ = await asyncio.wait({worker.task}, timeout=20)
        answers_after = await metrics_text(worker.metrics_url)
        released = port_is_free(worker.spec.host, worker.spec.port)
        gc.collect()
    needle = f"laddr=('{worker.spec.host}', {worker.spec.port})"
    leaks = [str(w.message) for w in caught if needle in str(w.message)]

    assert done, "run_worker did not stop within 20 s of a cancel"
    assert worker.task.cancelled()
    assert answers_after is None
    assert (released, leaks) == (True, [])


async def is_ready_without_naming_the_broker(worker: RunningWorker, bootstrap: str) -> None:
    """``/readyz`` turns 200 once the group is joined; it never shows where the broker is."""
    async with httpx.AsyncClient(base_url=worker.base_url, timeout=5) as client:

        async def ready() -> bool:
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, within=WAIT, every=0.25)
        answer = await client.get("/readyz")
        health = await client.get("/healthz")

    body = answer.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["consumer"] == "ok"
    assert health.json() == {"status": "ok"}
    for address in bootstrap.split(","):
        _host, _, port = address.rpartition(":")
        assert address not in answer.text
        assert port not in answer.text, answer.text


async def _answers(worker: RunningWorker) -> bool:
    return await metrics_text(worker.metrics_url) is not None


async def _true(value: bool) -> bool:
    return value
