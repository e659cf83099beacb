"""Webhook HMAC signatures and bearer tokens."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_ingest.errors import Unauthorized
from vigie_ingest.signatures import sign, verify, verify_bearer

NOW = 1_750_000_000
BODY = b'{"numero":"2505057242","dernier_etat":"En cours"}'
SECRET = "s3cr3t-oceane-2025"

secrets_st = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)
bodies_st = st.binary(max_size=2048)


def test_sign_matches_hmac_sha256_over_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, SECRET, timestamp=NOW) == f"t={NOW},v1={expected}"


def test_verify_accepts_a_fresh_signature() -> None:
    verify(BODY, sign(BODY, SECRET, timestamp=NOW), [SECRET], now=NOW + 12.5)


@given(body=bodies_st, secret=secrets_st, skew=st.integers(-300, 300))
def test_verify_accepts_any_body_and_secret_within_tolerance(
    body: bytes, secret: str, skew: int
) -> None:
    verify(body, sign(body, secret, timestamp=NOW), [secret], now=NOW + skew)


@given(body=bodies_st.filter(bool), secret=secrets_st, data=st.data())
def test_verify_rejects_any_tampered_byte(body: bytes, secret: str, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
    with pytest.raises(Unauthorized, match="no signature matches"):
        verify(tampered, sign(body, secret, timestamp=NOW), [secret], now=NOW)


@given(
    secret=secrets_st,
    skew=st.one_of(st.integers(301, 10**9), st.integers(-(10**9), -301)),
)
def test_verify_rejects_any_timestamp_beyond_tolerance(secret: str, skew: int) -> None:
    header = sign(BODY, secret, timestamp=NOW)
    with pytest.raises(Unauthorized, match=r"timestamp outside the 300 s tolerance \(replay\?\)"):
        verify(BODY, header, [secret], now=NOW + skew)


def test_verify_uses_the_given_tolerance_when_narrowed() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(Unauthorized, match="outside the 30 s tolerance"):
        verify(BODY, header, [SECRET], now=NOW + 31, tolerance_s=30)


def test_verify_rejects_a_resigned_timestamp_when_the_mac_is_replayed() -> None:
    old = sign(BODY, SECRET, timestamp=NOW - 3600)
    replayed = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    with pytest.raises(Unauthorized, match="no signature matches"):
        verify(BODY, replayed, [SECRET], now=NOW)


def test_verify_accepts_any_active_secret_when_rotating() -> None:
    header = sign(BODY, "new-secret", timestamp=NOW)
    verify(BODY, header, ["old-secret", "new-secret"], now=NOW)


def test_verify_accepts_a_header_with_several_v1_when_sender_rotates() -> None:
    old = sign(BODY, "old-secret", timestamp=NOW)
    new = sign(BODY, "new-secret", timestamp=NOW).split(",")[1]
    verify(BODY, f"{old}, {new}", ["new-secret"], now=NOW)


def test_verify_ignores_unknown_schemes_when_v1_is_present() -> None:
    header = sign(BODY, SECRET, timestamp=NOW) + ",v0=deadbeef"
    verify(BODY, header, [SECRET], now=NOW)


def test_verify_accepts_uppercase_hex_when_sender_uppercases() -> None:
    t, v1 = sign(BODY, SECRET, timestamp=NOW).split(",")
    verify(BODY, f"{t},{v1.upper().replace('V1=', 'v1=')}", [SECRET], now=NOW)


def test_verify_rejects_a_wrong_secret_without_quoting_it() -> None:
    header = sign(BODY, "attacker-guess", timestamp=NOW)
    with pytest.raises(Unauthorized) as caught:
        verify(BODY, header, [SECRET], now=NOW)
    assert caught.value.detail == "no signature matches"
    assert SECRET not in str(caught.value.problem())


def test_verify_rejects_everything_when_no_secret_is_configured() -> None:
    with pytest.raises(Unauthorized, match="no signature matches"):
        verify(BODY, sign(BODY, SECRET, timestamp=NOW), [], now=NOW)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_verify_rejects_when_header_missing(header: str | None) -> None:
    with pytest.raises(Unauthorized, match="missing X-Vigie-Signature header"):
        verify(BODY, header, [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("garbage", "every entry must be key=value"),
        (f"v1={'a' * 64}", "expected exactly one t="),
        (f"t=1,t=2,v1={'a' * 64}", "expected exactly one t="),
        (f"t=soon,v1={'a' * 64}", "t must be unix seconds"),
        (f"t=-5,v1={'a' * 64}", "t must be unix seconds"),
        (f"t={'9' * 5000},v1={'a' * 64}", "t must be unix seconds"),
        (f"t={NOW}", "no v1=<hex> signature"),
        (f"t={NOW},v1=xyz", "v1 must be 64 hex digits"),
        (f"t={NOW},v1={'é' * 64}", "v1 must be 64 hex digits"),
    ],
)
def test_verify_rejects_when_header_malformed(header: str, reason: str) -> None:
    with pytest.raises(Unauthorized, match="malformed signature header: ") as caught:
        verify(BODY, header, [SECRET], now=NOW)
    assert reason in caught.value.detail


@given(header=st.text(max_size=200))
def test_verify_raises_only_unauthorized_for_any_header(header: str) -> None:
    with pytest.raises(Unauthorized):
        verify(BODY, header, [SECRET], now=NOW)


def test_verify_bearer_accepts_a_known_token() -> None:
    verify_bearer("Bearer tok-2", ["tok-1", "tok-2"])


def test_verify_bearer_accepts_when_scheme_case_differs() -> None:
    verify_bearer("bearer  tok-1 ", ["tok-1"])


@pytest.mark.parametrize("authorization", [None, "", " "])
def test_verify_bearer_rejects_when_header_missing(authorization: str | None) -> None:
    with pytest.raises(Unauthorized, match="missing Authorization header"):
        verify_bearer(authorization, ["tok-1"])


@pytest.mark.parametrize("authorization", ["tok-1", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
def test_verify_bearer_rejects_when_header_malformed(authorization: str) -> None:
    with pytest.raises(Unauthorized, match="malformed Authorization header"):
        verify_bearer(authorization, ["tok-1"])


def test_verify_bearer_rejects_an_unknown_token_without_quoting_tokens() -> None:
    with pytest.raises(Unauthorized) as caught:
        verify_bearer("Bearer tok-3", ["tok-1", "tok-2"])
    assert caught.value.detail == "bearer token not recognised"
    assert "tok-" not in str(caught.value.problem())


def test_verify_bearer_rejects_everything_when_no_token_is_configured() -> None:
    with pytest.raises(Unauthorized, match="not recognised"):
        verify_bearer("Bearer tok-1", [])
