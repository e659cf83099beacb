"""Webhook HMAC signatures and bearer tokens, as senders, ingest and ``vigie sample`` use them."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vigie_common.signatures import (
    HEADER,
    AuthenticationFailed,
    BearerError,
    BearerMalformed,
    BearerMismatch,
    BearerMissing,
    SignatureError,
    SignatureExpired,
    SignatureMalformed,
    SignatureMismatch,
    SignatureMissing,
    bearer_token,
    sign,
    verify,
    verify_bearer,
)

NOW = 1_750_000_000
BODY = b'{"numero":"2505057242","dernier_etat":"En cours"}'
SECRET = "s3cr3t-oceane-2025"

secrets_st = st.text(st.characters(codec="utf-8"), min_size=1, max_size=64)
bodies_st = st.binary(max_size=2048)


def test_header_is_the_documented_name() -> None:
    assert HEADER == "X-Vigie-Signature"


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
    with pytest.raises(SignatureMismatch, match="no signature matches"):
        verify(tampered, sign(body, secret, timestamp=NOW), [secret], now=NOW)


@given(
    secret=secrets_st,
    skew=st.one_of(st.integers(301, 10**9), st.integers(-(10**9), -301)),
)
def test_verify_rejects_any_timestamp_beyond_tolerance(secret: str, skew: int) -> None:
    header = sign(BODY, secret, timestamp=NOW)
    with pytest.raises(
        SignatureExpired, match=r"timestamp outside the 300 s tolerance \(replay\?\)"
    ) as caught:
        verify(BODY, header, [secret], now=NOW + skew)
    assert (caught.value.timestamp, caught.value.now, caught.value.tolerance_s) == (
        NOW,
        NOW + skew,
        300,
    )


def test_verify_uses_the_given_tolerance_when_narrowed() -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(SignatureExpired, match="outside the 30 s tolerance"):
        verify(BODY, header, [SECRET], now=NOW + 31, tolerance_s=30)


def test_verify_rejects_a_nan_clock() -> None:
    with pytest.raises(SignatureExpired):
        verify(BODY, sign(BODY, SECRET, timestamp=NOW), [SECRET], now=float("nan"))


def test_verify_rejects_a_resigned_timestamp_when_the_mac_is_replayed() -> None:
    old = sign(BODY, SECRET, timestamp=NOW - 3600)
    replayed = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    with pytest.raises(SignatureMismatch, match="no signature matches"):
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
    with pytest.raises(SignatureMismatch) as caught:
        verify(BODY, header, [SECRET, "other-secret"], now=NOW)
    assert caught.value.reason == str(caught.value) == "no signature matches"
    assert (caught.value.signatures, caught.value.secrets) == (1, 2)
    assert SECRET not in repr(vars(caught.value))


def test_verify_rejects_everything_when_no_secret_is_configured() -> None:
    with pytest.raises(SignatureMismatch, match="no signature matches") as caught:
        verify(BODY, sign(BODY, SECRET, timestamp=NOW), [], now=NOW)
    assert caught.value.secrets == 0


@pytest.mark.parametrize("header", [None, "", "   "])
def test_verify_rejects_when_header_missing(header: str | None) -> None:
    with pytest.raises(SignatureMissing, match="missing X-Vigie-Signature header"):
        verify(BODY, header, [SECRET], now=NOW)


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("garbage", "every entry must be key=value"),
        (f"v1={'a' * 64}", "expected exactly one t="),
        (f"t=1,t=2,v1={'a' * 64}", "expected exactly one t="),
        (f"t=soon,v1={'a' * 64}", "t must be unix seconds"),
        (f"t=-5,v1={'a' * 64}", "t must be unix seconds"),
        (f"t={'9' * 5000},v1={'a' * 64}", "t must be unix seconds"),
        ("t=\u0661\u0667\u0665\u0660\u0660\u0660\u0660\u0660\u0660\u0660,v1=" + "a" * 64, "t must"),
        (f"t={NOW}", "no v1=<hex> signature"),
        (f"t={NOW},v1=xyz", "v1 must be 64 hex digits"),
        (f"t={NOW},v1={'é' * 64}", "v1 must be 64 hex digits"),
    ],
)
def test_verify_rejects_when_header_malformed(header: str, problem: str) -> None:
    with pytest.raises(SignatureMalformed, match="malformed signature header: ") as caught:
        verify(BODY, header, [SECRET], now=NOW)
    assert problem in caught.value.problem
    assert caught.value.reason == f"malformed signature header: {caught.value.problem}"


@given(header=st.text(max_size=200))
def test_verify_raises_only_signature_errors_for_any_header(header: str) -> None:
    with pytest.raises(SignatureError):
        verify(BODY, header, [SECRET], now=NOW)


def test_every_refusal_is_an_authentication_failure_with_a_kind() -> None:
    for error in (SignatureMissing(), SignatureMalformed("x"), SignatureMismatch(1, 1)):
        assert isinstance(error, AuthenticationFailed)
        assert error.kind == "signature"
    for bearer in (BearerMissing(), BearerMalformed(), BearerMismatch(tokens=1)):
        assert isinstance(bearer, AuthenticationFailed)
        assert bearer.kind == "bearer"
    assert SignatureExpired(timestamp=0, now=1000.0, tolerance_s=300).kind == "signature"


def test_verify_bearer_accepts_a_known_token() -> None:
    verify_bearer("Bearer tok-2", ["tok-1", "tok-2"])


def test_verify_bearer_accepts_when_scheme_case_differs() -> None:
    verify_bearer("bearer  tok-1 ", ["tok-1"])


@pytest.mark.parametrize("authorization", [None, "", " "])
def test_verify_bearer_rejects_when_header_missing(authorization: str | None) -> None:
    with pytest.raises(BearerMissing, match="missing Authorization header"):
        verify_bearer(authorization, ["tok-1"])


@pytest.mark.parametrize("authorization", ["tok-1", "Basic dXNlcjpwYXNz", "Bearer", "Bearer a b"])
def test_verify_bearer_rejects_when_header_malformed(authorization: str) -> None:
    with pytest.raises(
        BearerMalformed, match=r"malformed Authorization header: expected 'Bearer <token>'"
    ):
        verify_bearer(authorization, ["tok-1"])


def test_verify_bearer_rejects_an_unknown_token_without_quoting_tokens() -> None:
    with pytest.raises(BearerMismatch) as caught:
        verify_bearer("Bearer tok-3", ["tok-1", "tok-2"])
    assert caught.value.reason == "bearer token not recognised"
    assert caught.value.tokens == 2
    assert "tok-" not in repr(vars(caught.value))


def test_verify_bearer_rejects_everything_when_no_token_is_configured() -> None:
    with pytest.raises(BearerMismatch, match="not recognised"):
        verify_bearer("Bearer tok-1", [])


@given(authorization=st.one_of(st.none(), st.text(max_size=200)))
def test_verify_bearer_raises_only_bearer_errors_for_any_header(authorization: str | None) -> None:
    with pytest.raises(BearerError):
        verify_bearer(authorization, ["a-token-nobody-guesses"])


@pytest.mark.parametrize(
    ("authorization", "token"),
    [
        ("Bearer abc", "abc"),
        ("  BEARER\tabc  ", "abc"),
        (None, None),
        ("", None),
        ("Basic abc", None),
        ("Bearer a b", None),
    ],
)
def test_bearer_token_extracts_the_token_or_none(
    authorization: str | None, token: str | None
) -> None:
    assert bearer_token(authorization) == token
