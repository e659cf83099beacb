"""The SMS gateway sink with a real HTTP client (httpx), and raw HTTP for what httpx won't send."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from vigie_lab import ListenFailed, SmsSink
from vigie_lab.sms_sink import MAX_BODY, read_or_make_token

from tests.lab import NOW

TOKEN = "sms-test-token-7f3a"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NAME = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-(\d{6})-(.+)\.json$")


def sms(reference: str = "notice-1:sms:+33612345678", **changes: Any) -> dict[str, Any]:
    """A request body as the notifier's client sends it."""
    body: dict[str, Any] = {
        "to": "+33612345678",
        "text": "OPERATEUR INFO INCIDENT 2505057242 Site INL_MOIRA Ville : Moirans\nRétabli.",
        "reference": reference,
        "encoding": "UCS-2",
        "segments": 2,
    }
    body.update(changes)
    return body


def json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json"))


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SmsSink]:
    async with SmsSink.start(tmp_path / "sms", token=TOKEN, now=NOW) as started:
        yield started


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers=AUTH, timeout=5) as started:
        yield started


async def test_an_sms_is_accepted_and_written_as_json(
    sink: SmsSink, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    answer = await client.post(sink.url, json=sms())

    assert answer.status_code == 202
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body == {"id": body["id"], "status": "accepted"} and body["id"]
    [path] = json_files(tmp_path / "sms")
    assert NAME.match(path.name).groups() == ("000001", "+33612345678")  # type: ignore[union-attr]
    assert json.loads(path.read_text(encoding="utf-8")) == {
        **sms(),
        "id": body["id"],
        "received_at": "2025-06-19T09:00:00+00:00",
    }
    assert path.stat().st_mode & 0o777 == 0o600
    [message] = sink.messages
    assert (message.id, message.to, message.text, message.segments, message.path) == (
        body["id"],
        "+33612345678",
        sms()["text"],
        2,
        path,
    )
    assert sink.url == f"http://127.0.0.1:{sink.port}/messages"


async def test_the_same_reference_is_one_sms_whatever_the_retries(
    sink: SmsSink, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    first = await client.post(sink.url, json=sms())
    again = await client.post(sink.url, json=sms(text="a retry with another text"))
    racing = await asyncio.gather(
        *(client.post(sink.url, json=sms("notice-2:sms")) for _ in range(10))
    )
    other = await client.post(sink.url, json=sms("notice-3:sms", to="+447700900123"))

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == first.json()
    assert sorted(a.status_code for a in racing) == [200] * 9 + [202]
    assert len({a.json()["id"] for a in racing}) == 1
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    names = [path.name for path in json_files(tmp_path / "sms")]
    assert [NAME.match(n).groups() for n in names] == [  # type: ignore[union-attr]
        ("000001", "+33612345678"),
        ("000002", "+33612345678"),
        ("000003", "+447700900123"),
    ]
    assert [m.reference for m in sink.messages] == [
        "notice-1:sms:+33612345678",
        "notice-2:sms",
        "notice-3:sms",
    ]
    assert sink.messages[0].text == sms()["text"]  # the first one kept, not the retry's


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
async def test_a_missing_or_wrong_token_is_401(
    sink: SmsSink,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    authorization: str | None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="vigie_lab")
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(timeout=5) as anonymous:
        answer = await anonymous.post(sink.url, json=sms(), headers=headers)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "error" in answer.json()
    assert json_files(tmp_path / "sms") == [] and sink.messages == []
    assert TOKEN not in caplog.text and "wrong-token" not in caplog.text


async def test_the_scheme_is_case_insensitive(sink: SmsSink) -> None:
    async with httpx.AsyncClient(timeout=5) as other:
        answer = await other.post(
            sink.url, json=sms(), headers={"Authorization": f"bearer {TOKEN}"}
        )

    assert answer.status_code == 202


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b'{"to": "+33612345678",', "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'["+33612345678"]', "JSON object"),
        (b"[" * 60_000, "nested too deep"),
        (json.dumps({"to": "+33612345678", "text": "x"}).encode(), "reference, encoding, segments"),
        (json.dumps(sms(to="0612345678")).encode(), "E.164"),
        (json.dumps(sms(to="+33 6 12 34 56 78")).encode(), "E.164"),
        (json.dumps(sms(to="+0612345678")).encode(), "E.164"),
        (json.dumps(sms(to="+3361234567890123")).encode(), "E.164"),
        (json.dumps(sms(to=33612345678)).encode(), "E.164"),
        (json.dumps(sms(text="")).encode(), "text"),
        (json.dumps(sms(reference="")).encode(), "reference"),
        (json.dumps(sms(encoding="UTF-8")).encode(), "encoding"),
        (json.dumps(sms(segments=0)).encode(), "segments"),
        (json.dumps(sms(segments=True)).encode(), "segments"),
        (json.dumps(sms(segments="2")).encode(), "segments"),
    ],
)
async def test_a_bad_body_is_400_with_the_reason(
    sink: SmsSink, client: httpx.AsyncClient, tmp_path: Path, content: bytes, mentions: str
) -> None:
    answer = await client.post(
        sink.url, content=content, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400
    assert mentions in answer.json()["error"]
    assert json_files(tmp_path / "sms") == []
    follow_up = await client.post(sink.url, json=sms())  # the connection is still usable
    assert follow_up.status_code == 202


async def test_a_body_over_64_kib_is_413_and_64_kib_is_fine(
    sink: SmsSink, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    exactly = json.dumps(sms(text="")).encode()
    padding = MAX_BODY - len(exactly)
    exactly = json.dumps(sms(text="x" * padding)).encode()
    assert len(exactly) == 64 * 1024

    over = await client.post(sink.url, content=exactly + b" ")
    fine = await client.post(sink.url, content=exactly)

    assert over.status_code == 413
    assert "error" in over.json()
    assert over.headers["connection"] == "close"
    assert fine.status_code == 202
    assert len(json_files(tmp_path / "sms")) == 1


async def test_hooks_fail_the_next_requests_then_reject_a_number(
    sink: SmsSink, client: httpx.AsyncClient, tmp_path: Path
) -> None:
    sink.fail_next(2, 503)
    first = await client.post(sink.url, json=sms())
    second = await client.post(sink.url, json=sms())
    third = await client.post(sink.url, json=sms())
    sink.reject["+33699999999"] = 422
    refused = await client.post(sink.url, json=sms("notice-9:sms", to="+33699999999"))
    again = await client.post(sink.url, json=sms("notice-9:sms", to="+33699999999"))

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 202]
    assert "error" in first.json()
    assert (refused.status_code, again.status_code) == (422, 422)
    assert "+33699999999" in refused.json()["error"]
    assert sink.answers == [503, 503, 202, 422, 422]
    assert [m.to for m in sink.messages] == ["+33612345678"]
    assert len(json_files(tmp_path / "sms")) == 1
    with pytest.raises(ValueError, match="4xx or 5xx"):
        sink.fail_next(1, 200)


async def test_rejections_can_be_given_at_start(tmp_path: Path, client: httpx.AsyncClient) -> None:
    async with SmsSink.start(
        tmp_path / "sms", token=TOKEN, reject={"+33699999999": 400}, path="/v2/sms"
    ) as sink:
        refused = await client.post(sink.url, json=sms(to="+33699999999"))
        elsewhere = await client.post(sink.url.replace("/v2/sms", "/messages"), json=sms())

    assert refused.status_code == 400
    assert elsewhere.status_code == 404


async def test_files_appear_whole_by_rename_and_a_failed_write_is_503(
    sink: SmsSink, client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "sms"
    seen_before_rename: list[list[str]] = []
    rename = Path.replace

    def watched(self: Path, target: Any) -> Path:
        seen_before_rename.append(sorted(os.listdir(folder)))
        return rename(self, target)

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    full = await client.post(sink.url, json=sms())
    monkeypatch.undo()
    assert os.listdir(folder) == []  # nothing visible, not even the temporary file
    monkeypatch.setattr(Path, "replace", watched)
    retried = await client.post(sink.url, json=sms())
    monkeypatch.undo()

    assert full.status_code == 503 and "error" in full.json()
    assert retried.status_code == 202  # the failed write did not count as sent
    [message] = sink.messages
    [[temporary]] = seen_before_rename
    assert temporary == f".{message.path.name}.part"
    assert sorted(os.listdir(folder)) == [message.path.name]


async def test_other_paths_and_methods(sink: SmsSink, client: httpx.AsyncClient) -> None:
    missing = await client.post(sink.url.replace("/messages", "/sms"), json=sms())
    read = await client.get(sink.url)
    query = await client.post(sink.url + "?trace=1", json=sms())

    assert missing.status_code == 404
    assert (read.status_code, read.headers["allow"]) == (405, "POST")
    assert query.status_code == 202
    assert sink.answers == [405, 202]


async def _raw(sink: SmsSink, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read()  # the sink closes after answering these
    finally:
        writer.close()


async def test_what_httpx_would_not_send(sink: SmsSink) -> None:
    body = json.dumps(sms()).encode()
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    chunked = await _raw(
        sink,
        b"POST /messages HTTP/1.1\r\nHost: x\r\n" + auth + b"Transfer-Encoding: chunked\r\n\r\n",
    )
    garbage = await _raw(sink, b"HELLO\r\n\r\n")
    version = await _raw(sink, b"POST /messages HTTP/2.0\r\n\r\n")
    huge_header = await _raw(sink, b"POST /messages HTTP/1.1\r\nX: " + b"a" * 20_000 + b"\r\n\r\n")
    http10 = await _raw(
        sink,
        b"POST /messages HTTP/1.0\r\n"
        + auth
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )

    assert chunked.startswith(b"HTTP/1.1 411 ")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    assert version.startswith(b"HTTP/1.1 505 ")
    assert huge_header.startswith(b"HTTP/1.1 431 ")
    assert http10.startswith(b"HTTP/1.1 202 ") and b"Connection: close" in http10


async def test_expect_continue_is_honoured(sink: SmsSink) -> None:
    body = json.dumps(sms()).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
    try:
        writer.write(
            b"POST /messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: 100-continue\r\n"
            + f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        async with asyncio.timeout(5):
            interim = await reader.readuntil(b"\r\n\r\n")
            writer.write(body)
            final = await reader.read()
    finally:
        writer.close()

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 202 ")


async def test_loopback_only_a_taken_port_is_named(sink: SmsSink, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        async with SmsSink.start(tmp_path / "other", token=TOKEN, host="192.0.2.1"):
            pass
    with pytest.raises(ValueError, match="token"):
        async with SmsSink.start(tmp_path / "other", token=""):
            pass
    with pytest.raises(ListenFailed) as taken:
        async with SmsSink.start(tmp_path / "other", token=TOKEN, port=sink.port):
            pass

    assert (taken.value.where, taken.value.port) == ("sms sink", sink.port)


async def test_closing_ends_idle_keep_alive_connections(tmp_path: Path) -> None:
    async with SmsSink.start(tmp_path / "sms", token=TOKEN) as sink:
        reader, writer = await asyncio.open_connection("127.0.0.1", sink.port)
        writer.write(b"GET /messages HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        await reader.readuntil(b'"}')  # answered, the connection kept open
    async with asyncio.timeout(5):
        assert await reader.read() == b""  # closed by the sink's stop, not by a timeout
    writer.close()


def test_the_token_file_is_made_private_then_read_back(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "sms-token"
    made = read_or_make_token(path)

    assert len(made) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_or_make_token(path) == made
