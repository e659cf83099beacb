"""The SMS edge: one JSON request per text to the gateway, classified for the sender task.

The contract (the lab's sink implements the same)::

    POST <url>
    Authorization: Bearer <token>
    {"to": "+33612345678", "text": "…", "reference": "<idempotency key>",
     "encoding": "GSM-7" | "UCS-2", "segments": <int>}

    202 {"id": "…", "status": "accepted"}    taken
    200 {"id": "…", …}                       that reference again: the first id (deduped)
    401 bad token · 400 malformed or bad number · 413 too large

========================================================  =========
what happened                                             permanent
========================================================  =========
401, 400, 413, any other 4xx                              yes
3xx (the URL is wrong), an invalid number or reference    yes
408, 429, 5xx                                             no
refused, unreachable, timed out, connection dropped       no
2xx without an id, another 2xx (did it take it?)          no
the token file missing, empty or unreadable               no
========================================================  =========

Because the gateway dedupes on ``reference``, trying again after any doubt is safe: a text
that did go through comes back as 200 with its first id, never as a second SMS. The token is
never logged nor put in a reason, and ``DeliveryFailed`` is raised outside the ``except``
block, so no httpx exception (whose request holds the ``Authorization`` header) rides along
as its cause or context.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Final

import httpx
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from vigie_common.events.notices import Channel

from vigie_notifier.delivery import Delivered, DeliveryFailed, InvalidMessage, clean_reason
from vigie_notifier.sms import split

__all__ = ["SmsSettings", "send_sms"]

_E164: Final = re.compile(r"\+[1-9][0-9]{7,14}")
_REFERENCE: Final = re.compile(r"[!-~]{1,200}")  # visible ASCII: the idempotency key
_TOKEN: Final = re.compile(r"[!-~]+")  # what a header value can carry, no space
_SENDER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .-]{0,10}|\+[1-9][0-9]{7,14}")
_DETAIL_KEYS: Final = ("error", "detail", "message", "reason")


class SmsSettings(BaseModel):
    """Where the gateway is and how to prove who we are; the service's settings build it."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    url: AnyHttpUrl
    token: SecretStr | None = Field(default=None, description="The bearer token itself")
    token_file: Path | None = Field(
        default=None, description="A file holding the token, read at each send (rotation)"
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds per connect, write, read")
    sender: str | None = Field(
        default=None,
        description='Alphanumeric sender id (11 characters at most), sent as "sender" only '
        "when set",
    )

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("the token must be visible ASCII without spaces")  # not shown
        return value

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and not _SENDER.fullmatch(value):
            raise ValueError(f"{value!r}: 1 to 11 letters, digits or spaces, or an E.164 number")
        return value

    @model_validator(mode="after")
    def _one_token(self) -> SmsSettings:
        if (self.token is None) == (self.token_file is None):
            raise ValueError("give exactly one of token and token_file")
        return self


async def _read_token(settings: SmsSettings) -> str:
    """The token from the settings, or read now from its file (so rotation needs no restart).

    Raises:
        DeliveryFailed: Transient: the file is missing, unreadable, empty or mid-rotation.
    """
    if settings.token is not None:
        return settings.token.get_secret_value()
    assert settings.token_file is not None  # the settings hold exactly one
    try:
        token = (await asyncio.to_thread(settings.token_file.read_text, encoding="utf-8")).strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"token file unreadable: {type(exc).__name__}"
        if isinstance(exc, OSError) and exc.strerror:
            reason += f" ({exc.strerror})"
        raise DeliveryFailed(reason, False) from None
    if not token or not _TOKEN.fullmatch(token):
        raise DeliveryFailed("token file empty or not a token (visible ASCII, no space)", False)
    return token


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds; an HTTP date is ignored (the sender's backoff applies)."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _detail(response: httpx.Response) -> str:
    """What the gateway said about it: its JSON error field, or the start of its body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in _DETAIL_KEYS:
            if isinstance(body.get(key), str):
                return str(body[key])
    return response.text[:200]


def _outcome(response: httpx.Response, *, to: str, token: str, segments: int) -> Delivered:
    """The gateway's answer as a delivery, or the failure it means.

    Raises:
        DeliveryFailed: As the module's table says.
    """
    status = response.status_code

    def failed(what: str, permanent: bool) -> DeliveryFailed:
        text = f"{what}: {_detail(response)}".replace(to, "<number>").replace(to[1:], "<number>")
        return DeliveryFailed(
            clean_reason(text, secrets=[token]),
            permanent,
            code=status,
            retry_after=_retry_after(response),
        )

    if status in (200, 202):
        try:
            body = response.json()
        except ValueError:
            body = None
        gateway_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(gateway_id, str) or not gateway_id:
            raise failed(f"gateway answered {status} without an id", False)
        state = body.get("status") if isinstance(body, dict) else None
        return Delivered(
            channel=Channel.SMS,
            id=gateway_id,
            response=clean_reason(f"{status} {state or ''}", secrets=[token]),
            duplicate=status == 200,
            segments=segments,
        )
    if status == 401:
        raise failed("gateway refused the token (401)", True)
    if status in (408, 429) or 500 <= status < 600:
        raise failed(f"gateway busy or failing ({status})", False)
    if 400 <= status < 500:
        raise failed(f"gateway refused the message ({status})", True)
    if 200 <= status < 300:
        raise failed(f"gateway answered {status}, not 202 nor 200", False)
    raise failed(f"gateway answered {status}; is the URL right?", True)


async def send_sms(
    *,
    to: str,
    text: str,
    reference: str,
    settings: SmsSettings,
    client: httpx.AsyncClient | None = None,
) -> Delivered:
    """Give one text to the gateway; ``reference`` (the idempotency key) makes retries safe.

    The encoding and the number of parts come from :func:`vigie_notifier.sms.split`, so the
    gateway bills what the templates were written for. ``client`` lets the service share one
    connection pool; without it, a client is made for this send and closed after it.

    Raises:
        InvalidMessage: ``to`` is not E.164, ``text`` is empty, ``reference`` is not a key.
        DeliveryFailed: Not taken; ``permanent`` as the module's table says.
    """
    if not _E164.fullmatch(to):
        raise InvalidMessage("the number is not E.164 (+ and 8 to 15 digits)")
    if not text.strip():
        raise InvalidMessage("the text is empty")
    if not _REFERENCE.fullmatch(reference):
        raise InvalidMessage("the reference is not 1 to 200 visible ASCII characters")
    cut = split(text)
    payload: dict[str, str | int] = {
        "to": to,
        "text": text,
        "reference": reference,
        "encoding": cut.encoding,
        "segments": cut.count,
    }
    if settings.sender is not None:
        payload["sender"] = settings.sender
    token = await _read_token(settings)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url = str(settings.url)
    failed: DeliveryFailed | None = None
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=settings.timeout) as own:
                response = await own.post(url, json=payload, headers=headers)
        else:
            response = await client.post(
                url, json=payload, headers=headers, timeout=settings.timeout, follow_redirects=False
            )
    except httpx.TimeoutException as exc:
        reason = f"gateway timed out after {settings.timeout:g} s ({type(exc).__name__})"
        failed = DeliveryFailed(reason, False)
    except httpx.TransportError as exc:
        reason = clean_reason(f"gateway unreachable: {type(exc).__name__}: {exc}", secrets=[token])
        failed = DeliveryFailed(reason, False)
    if failed is not None:  # raised out here: no httpx exception (and request) as its context
        raise failed
    return _outcome(response, to=to, token=token, segments=cut.count)
