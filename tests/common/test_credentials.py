"""Per-source credentials: ``source=secret[|secret2];source2=…``, as a function and a field type."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from vigie_common.credentials import Credentials, CredentialsMalformed, parse_credentials

STRONG = "0123456789abcdef-strong"


class SourceSettings(BaseSettings):
    """The smallest settings class holding credentials, read from ``TEST_CREDS_*``."""

    model_config = SettingsConfigDict(env_prefix="TEST_CREDS_", hide_input_in_errors=True)

    secrets: Credentials = Field(default_factory=dict)


def test_parse_reads_sources_and_rotations() -> None:
    assert parse_credentials("a=x|y;b=z") == {"a": ("x", "y"), "b": ("z",)}


def test_parse_tolerates_spaces_and_trailing_separators() -> None:
    assert parse_credentials(" a = x | y ; ; b=z; ") == {"a": ("x", "y"), "b": ("z",)}


def test_parse_keeps_equals_signs_inside_a_secret() -> None:
    assert parse_credentials("a=base64==|c2VjcmV0=") == {"a": ("base64==", "c2VjcmV0=")}


def test_parse_gives_nothing_for_an_empty_value() -> None:
    assert parse_credentials("") == {}
    assert parse_credentials(" ; ") == {}


@pytest.mark.parametrize(
    ("value", "problem", "source"),
    [
        ("oceane", "an entry has no '='", None),
        ("=abc", "an entry has no '='", None),
        ("oceane=", "no secret given for source 'oceane'", "oceane"),
        ("oceane=|", "no secret given for source 'oceane'", "oceane"),
    ],
)
def test_parse_names_the_problem_when_malformed(
    value: str, problem: str, source: str | None
) -> None:
    with pytest.raises(CredentialsMalformed) as caught:
        parse_credentials(value)
    assert problem in str(caught.value)
    assert caught.value.source == source
    assert isinstance(caught.value, ValueError)


def test_parse_never_quotes_a_bare_secret_in_its_error() -> None:
    with pytest.raises(CredentialsMalformed) as caught:
        parse_credentials(f"oceane={STRONG};{STRONG}")
    assert STRONG not in str(caught.value)
    assert STRONG not in repr(vars(caught.value))


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,12}", fullmatch=True),
        st.lists(st.from_regex(r"[A-Za-z0-9_=-]{1,40}", fullmatch=True), min_size=1, max_size=3),
        max_size=4,
    )
)
def test_parse_reads_back_what_was_written(creds: dict[str, list[str]]) -> None:
    text = ";".join(f"{source}={'|'.join(values)}" for source, values in creds.items())
    assert parse_credentials(text) == {source: tuple(v) for source, v in creds.items()}


def test_field_type_reads_the_environment_as_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CREDS_SECRETS", f"a={STRONG}|other-{STRONG};b=z")

    settings = SourceSettings()

    assert settings.secrets == {
        "a": (SecretStr(STRONG), SecretStr(f"other-{STRONG}")),
        "b": (SecretStr("z"),),
    }
    assert STRONG not in repr(settings)


def test_field_type_accepts_an_already_parsed_mapping() -> None:
    settings = SourceSettings(secrets={"a": ("x",)})

    assert settings.secrets["a"][0].get_secret_value() == "x"


def test_field_type_turns_a_malformed_value_into_a_validation_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_CREDS_SECRETS", f"oceane={STRONG};{STRONG}")

    with pytest.raises(ValidationError) as caught:
        SourceSettings()

    [error] = caught.value.errors()
    assert error["loc"] == ("secrets",)
    assert "an entry has no '='" in error["msg"]
    assert STRONG not in str(caught.value)
