"""The SMS edge against a real HTTP server on loopback that implements the gateway's contract."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from vigie_common.events.notices import Channel
from vigie_notifier.delivery import REASON_LIMIT, Delivered, DeliveryFailed, InvalidMessage
from vigie_notifier.sms import split
from vigie_notifier.sms_gateway import SmsSettings, send_sms

TOKEN = "tok-3f1c9a7e5b2d4c6a8e0f"
NUMBER = "+33612345678"
REFERENCE = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
GSM7 = "ORANGE INFO INCIDENT 2505057242 Site INL_MOIRA_EVPN_LA1 Ville : MOIRANS"
UCS2 = "Coupure à Moirans : l\u2019équipe intervient, rétablissement prévu à 18 h. " * 2
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]


def answer(status: int, body: object, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


@dataclass
class Gateway:
    """The contract, minimally: bearer token, JSON checks, dedupe on ``reference``."""

    token: str = TOKEN
    requests: list[Request] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)
    forced: Answer | None = None
    hang: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def respond(self, request: Request) -> Answer:
        if self.forced is not None:
            return self.forced
        authorization = request.headers.get("authorization", "")
        if authorization != f"Bearer {self.token}":
            # A careless gateway echoing what it got: the edge must still not repeat it.
            return answer(401, {"error": f"bad token {authorization}"})
        try:
            body = request.json()
        except ValueError:
            return answer(400, {"error": "not JSON"})
        expected = {"to": str, "text": str, "reference": str, "encoding": str, "segments": int}
        if not isinstance(body, dict) or any(
            not isinstance(body.get(key), kind) for key, kind in expected.items()
        ):
            return answer(400, {"error": "malformed"})
        if not _E164.fullmatch(body["to"]):
            return answer(400, {"error": f"bad number {body['to']}"})
        if len(body["text"]) > 1000:
            return answer(413, {"error": "too large"})
        if body["reference"] in self.ids:
            return answer(200, {"id": self.ids[body["reference"]], "status": "accepted"})
        self.ids[body["reference"]] = f"sms-{len(self.ids) + 1}"
        return answer(202, {"id": self.ids[body["reference"]], "status": "accepted"})

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, headers, body)
            self.requests.append(request)
            if self.hang:
                await self.release.wait()
                return
            status, extra, content = self.respond(request)
            response = [f"HTTP/1.1 {status} X", f"Content-Length: {len(content)}"]
            response += [f"{name}: {value}" for name, value in extra.items()]
            response += ["Connection: close", "", ""]
            writer.write("\r\n".join(response).encode("latin-1") + content)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@dataclass
class Running:
    gateway: Gateway
    url: str

    def settings(self, **overrides: Any) -> SmsSettings:
        values: dict[str, Any] = {"url": self.url, "token": TOKEN, "timeout": 5.0}
        return SmsSettings.model_validate(values | overrides)


@pytest.fixture
async def gateway() -> AsyncIterator[Running]:
    fake = Gateway()
    server = await asyncio.start_server(fake.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Running(fake, f"http://127.0.0.1:{port}/v1/sms")
    finally:
        fake.release.set()
        server.close()
        await server.wait_closed()


async def failure(running: Running, settings: SmsSettings | None = None) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        await send_sms(
            to=NUMBER, text=GSM7, reference=REFERENCE, settings=settings or running.settings()
        )
    failed = caught.value
    assert "\n" not in failed.reason and len(failed.reason) <= REASON_LIMIT
    for shown in (failed.reason, str(failed), repr(failed)):
        assert TOKEN not in shown
        assert NUMBER[1:] not in shown
    # No httpx exception (its request holds the Authorization header) rides along.
    assert failed.__cause__ is None
    assert not isinstance(failed.__context__, httpx.HTTPError)
    return failed


# --- the contract -------------------------------------------------------------------------


async def test_a_gsm7_text_is_posted_as_the_contract_says(gateway: Running) -> None:
    delivered = await send_sms(
        to=NUMBER, text=GSM7, reference=REFERENCE, settings=gateway.settings()
    )
    assert delivered == Delivered(
        channel=Channel.SMS, id="sms-1", response="202 accepted", duplicate=False, segments=1
    )
    [request] = gateway.gateway.requests
    assert (request.method, request.path) == ("POST", "/v1/sms")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "to": NUMBER,
        "text": GSM7,
        "reference": REFERENCE,
        "encoding": "GSM-7",
        "segments": 1,
    }


async def test_a_ucs2_text_says_so_and_counts_its_parts(gateway: Running) -> None:
    assert split(UCS2).count == 3
    delivered = await send_sms(
        to=NUMBER, text=UCS2, reference=REFERENCE, settings=gateway.settings()
    )
    assert delivered.segments == 3
    [request] = gateway.gateway.requests
    body = request.json()
    assert (body["encoding"], body["segments"], body["text"]) == ("UCS-2", 3, UCS2)


async def test_the_same_reference_again_is_the_same_sms(gateway: Running) -> None:
    settings = gateway.settings()
    first = await send_sms(to=NUMBER, text=GSM7, reference=REFERENCE, settings=settings)
    again = await send_sms(to=NUMBER, text=GSM7, reference=REFERENCE, settings=settings)
    other = await send_sms(to=NUMBER, text=GSM7, reference="other-key", settings=settings)
    assert (first.id, first.duplicate) == ("sms-1", False)
    assert (again.id, again.duplicate, again.response) == ("sms-1", True, "200 accepted")
    assert (other.id, other.duplicate) == ("sms-2", False)


async def test_a_shared_client_is_used_and_left_open(gateway: Running) -> None:
    async with httpx.AsyncClient() as client:
        for reference in ("a1", "a2"):
            await send_sms(
                to=NUMBER,
                text=GSM7,
                reference=reference,
                settings=gateway.settings(),
                client=client,
            )
        assert not client.is_closed
    assert len(gateway.gateway.requests) == 2


async def test_the_sender_name_is_sent_only_when_configured(gateway: Running) -> None:
    await send_sms(
        to=NUMBER, text=GSM7, reference=REFERENCE, settings=gateway.settings(sender="VIGIE NOC")
    )
    assert gateway.gateway.requests[0].json()["sender"] == "VIGIE NOC"


# --- failures -----------------------------------------------------------------------------


async def test_a_bad_token_is_permanent_and_never_shown(gateway: Running) -> None:
    gateway.gateway.token = "the-gateway-expects-another"
    failed = await failure(gateway)
    assert (failed.permanent, failed.code) == (True, 401)
    assert failed.reason == "gateway refused the token (401): bad token Bearer ***"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, {"error": f"bad number {NUMBER}"}),
        (413, {"error": "too large"}),
        (403, {"detail": "not allowed"}),
        (404, {"message": "no such route"}),
        (302, {}),
    ],
)
async def test_refusals_are_permanent(gateway: Running, status: int, body: object) -> None:
    gateway.gateway.forced = answer(status, body)
    failed = await failure(gateway)
    assert (failed.permanent, failed.code) == (True, status)
    assert len(gateway.gateway.requests) == 1  # a redirect is not followed
    if status == 400:
        assert failed.reason == "gateway refused the message (400): bad number <number>"


@pytest.mark.parametrize("status", [500, 502, 503, 408, 429])
async def test_busy_or_failing_is_transient(gateway: Running, status: int) -> None:
    gateway.gateway.forced = answer(status, {"error": "later"}, **{"Retry-After": "7"})
    failed = await failure(gateway)
    assert (failed.permanent, failed.code, failed.retry_after) == (False, status, 7.0)


@pytest.mark.parametrize("body", [{}, {"id": ""}, {"status": "accepted"}, ["sms-1"]])
async def test_an_acceptance_without_an_id_is_transient(gateway: Running, body: object) -> None:
    gateway.gateway.forced = answer(202, body)
    failed = await failure(gateway)
    assert (failed.permanent, failed.code) == (False, 202)  # the reference makes a retry safe


async def test_a_gateway_that_never_answers_times_out_transiently(gateway: Running) -> None:
    gateway.gateway.hang = True
    failed = await failure(gateway, gateway.settings(timeout=0.3))
    assert failed.permanent is False
    assert failed.reason.startswith("gateway timed out after 0.3 s")


async def test_nothing_listening_is_transient(gateway: Running) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failed = await failure(gateway, gateway.settings(url=f"http://127.0.0.1:{port}/v1/sms"))
    assert failed.permanent is False
    assert failed.reason.startswith("gateway unreachable: ConnectError")


@pytest.mark.parametrize(
    ("to", "text", "reference", "match"),
    [
        ("0612345678", GSM7, REFERENCE, "E.164"),
        ("+33 6 12 34 56 78", GSM7, REFERENCE, "E.164"),
        (NUMBER, "  \n", REFERENCE, "empty"),
        (NUMBER, GSM7, "", "reference"),
        (NUMBER, GSM7, "a b", "reference"),
    ],
)
async def test_what_cannot_be_sent_is_refused_without_a_request(
    gateway: Running, to: str, text: str, reference: str, match: str
) -> None:
    with pytest.raises(InvalidMessage, match=match) as caught:
        await send_sms(to=to, text=text, reference=reference, settings=gateway.settings())
    assert caught.value.permanent
    assert gateway.gateway.requests == []


# --- the token ----------------------------------------------------------------------------


async def test_the_token_file_is_read_at_each_send(gateway: Running, tmp_path: Path) -> None:
    token_file = tmp_path / "sms.token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    settings = gateway.settings(token=None, token_file=token_file)
    await send_sms(to=NUMBER, text=GSM7, reference="r1", settings=settings)

    gateway.gateway.token = "rotated-token"
    token_file.write_text("rotated-token", encoding="utf-8")
    await send_sms(to=NUMBER, text=GSM7, reference="r2", settings=settings)
    assert [r.headers["authorization"] for r in gateway.gateway.requests] == [
        f"Bearer {TOKEN}",
        "Bearer rotated-token",
    ]


@pytest.mark.parametrize("content", [None, "", "two words"])
async def test_a_missing_or_bad_token_file_is_transient(
    gateway: Running, tmp_path: Path, content: str | None
) -> None:
    token_file = tmp_path / "sms.token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")
    failed = await failure(gateway, gateway.settings(token=None, token_file=token_file))
    assert failed.permanent is False
    assert failed.reason.startswith("token file")
    assert gateway.gateway.requests == []


def test_settings_want_exactly_one_token_source(tmp_path: Path) -> None:
    url = "https://sms.example/v1/sms"
    with pytest.raises(ValueError, match="exactly one"):
        SmsSettings.model_validate({"url": url})
    with pytest.raises(ValueError, match="exactly one"):
        SmsSettings.model_validate({"url": url, "token": TOKEN, "token_file": tmp_path / "t"})
    with pytest.raises(ValueError, match="visible ASCII") as caught:
        SmsSettings.model_validate({"url": url, "token": "line\r\nX-Evil: 1"})
    assert "X-Evil" not in str(caught.value)
    with pytest.raises(ValueError, match="sender"):
        SmsSettings.model_validate({"url": url, "token": TOKEN, "sender": "A VERY LONG NAME"})
    with pytest.raises(ValueError, match="URL"):
        SmsSettings.model_validate({"url": "ftp://sms.example", "token": TOKEN})
    settings = SmsSettings.model_validate({"url": url, "token": TOKEN})
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
