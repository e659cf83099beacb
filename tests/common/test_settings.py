"""Settings: shared ``VIGIE_*`` variables, prefixed overrides, refusals that name the fault."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest
from pydantic import ValidationError
from vigie_common.cli import load_settings
from vigie_common.settings import ServiceSettings
from vigie_ingest.settings import IngestSettings
from vigie_prober.settings import ProberSettings

STRONG = "0123456789abcdef-strong"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``VIGIE_*`` variable of the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.upper().startswith("VIGIE_"):
            monkeypatch.delenv(name)


def test_shared_database_url_applies_to_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", "postgresql+asyncpg://vigie@db/shared")

    settings = IngestSettings()

    assert settings.database_url == "postgresql+asyncpg://vigie@db/shared"


def test_service_prefixed_variable_wins_over_the_shared_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_DATABASE_URL", "postgresql+asyncpg://vigie@db/shared")
    monkeypatch.setenv("VIGIE_INGEST_DATABASE_URL", "postgresql+asyncpg://vigie@db/ingest")

    settings = IngestSettings()

    assert settings.database_url == "postgresql+asyncpg://vigie@db/ingest"


def test_every_shared_field_is_read_from_its_unprefixed_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_ENV", "dev")
    monkeypatch.setenv("VIGIE_KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("VIGIE_KAFKA_IDEMPOTENCE", "false")
    monkeypatch.setenv("VIGIE_KAFKA_REQUEST_TIMEOUT_MS", "5000")
    monkeypatch.setenv("VIGIE_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("VIGIE_LOG_FORMAT", "console")

    settings = IngestSettings()

    assert settings.env == "dev"
    assert settings.kafka_bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert settings.kafka_idempotence is False
    assert settings.kafka_request_timeout_ms == 5000
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("VIGIE_PORT", "9999"), ("VIGIE_HOST", "0.0.0.0"), ("VIGIE_MIGRATE_ON_START", "true")],
)
def test_non_shared_field_is_not_read_from_an_unprefixed_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    settings = IngestSettings()

    assert (settings.port, settings.host, settings.migrate_on_start) == (8000, "127.0.0.1", False)


def test_non_shared_field_is_read_from_its_prefixed_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_INGEST_PORT", "9999")

    assert IngestSettings().port == 9999


def test_base_settings_read_the_shared_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_KAFKA_BOOTSTRAP_SERVERS", "broker:9092")

    assert ServiceSettings().kafka_bootstrap_servers == "broker:9092"


def test_webhook_secrets_parse_sources_and_rotations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_ENV", "dev")
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", "a=x|y;b=z")

    settings = IngestSettings()

    assert settings.secrets_for("a") == ("x", "y")
    assert settings.secrets_for("b") == ("z",)
    assert settings.secrets_for("c") == ()


def test_webhook_secrets_do_not_show_in_the_settings_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", f"a={STRONG}|other-{STRONG}")

    settings = IngestSettings()

    assert settings.secrets_for("a") == (STRONG, f"other-{STRONG}")
    assert STRONG not in repr(settings)


def test_webhook_secrets_tolerate_spaces_and_trailing_separators(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_ENV", "dev")
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", " a = x | y ; ; b=z; ")

    settings = IngestSettings()

    assert (settings.secrets_for("a"), settings.secrets_for("b")) == (("x", "y"), ("z",))


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("oceane", "an entry has no '='"),
        ("=abc", "an entry has no '='"),
        ("oceane=", "no secret given for source 'oceane'"),
        ("oceane=|", "no secret given for source 'oceane'"),
    ],
)
def test_malformed_webhook_secrets_raise_a_validation_error_naming_the_problem(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("VIGIE_ENV", "dev")
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", value)

    with pytest.raises(ValidationError) as caught:
        IngestSettings()

    [error] = caught.value.errors()
    assert error["loc"] == ("webhook_secrets",)
    assert problem in error["msg"]


@pytest.mark.parametrize("weak", ["changeme", "CHANGETHIS", "secret", "short-secret"])
def test_placeholder_or_short_secret_is_refused_in_prod(
    monkeypatch: pytest.MonkeyPatch, weak: str
) -> None:
    monkeypatch.setenv("VIGIE_ENV", "prod")
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", f"oceane={STRONG}|{weak}")

    with pytest.raises(ValidationError) as caught:
        IngestSettings()

    [error] = caught.value.errors()
    assert "webhook secret of source 'oceane'" in error["msg"]
    assert "set a real one (or VIGIE_ENV=dev)" in error["msg"]


@pytest.mark.parametrize(
    ("env", "secrets", "secret"),
    [
        ("prod", "oceane=short-but-real", "short-but-real"),
        ("dev", f"oceane={STRONG};broken", STRONG),
    ],
    ids=["weak-in-prod", "malformed"],
)
def test_settings_refusal_does_not_echo_the_secrets(
    monkeypatch: pytest.MonkeyPatch, env: str, secrets: str, secret: str
) -> None:
    """``str(ValidationError)`` reaches terminals and logs (alembic's env.py builds settings)."""
    monkeypatch.setenv("VIGIE_ENV", env)
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", secrets)

    with pytest.raises(ValidationError) as caught:
        IngestSettings()

    assert secret not in str(caught.value)


def test_placeholder_bearer_token_is_refused_in_prod() -> None:
    with pytest.raises(ValidationError, match="token of source 'servicenow'"):
        IngestSettings(env="prod", bearer_tokens="servicenow=password")


@pytest.mark.parametrize("env", ["dev", "test"])
def test_placeholder_and_short_secrets_are_allowed_outside_prod(
    monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    monkeypatch.setenv("VIGIE_ENV", env)
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", "oceane=changeme;servicenow=x")

    settings = IngestSettings()

    assert settings.secrets_for("oceane") == ("changeme",)
    assert settings.secrets_for("servicenow") == ("x",)


def test_strong_secrets_are_accepted_in_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", f"oceane={STRONG}")

    settings = IngestSettings()

    assert settings.env == "prod"
    assert settings.secrets_for("oceane") == (STRONG,)


def test_load_settings_exits_2_naming_the_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIE_INGEST_PORT", "abc")

    with pytest.raises(SystemExit) as caught:
        load_settings(IngestSettings, prog="vigie-ingest")

    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "vigie-ingest: invalid setting VIGIE_INGEST_PORT" in err
    assert "abc" not in err.split("VIGIE_INGEST_PORT", 1)[0]


def test_load_settings_returns_the_settings_when_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIE_INGEST_PORT", "8123")

    settings = load_settings(IngestSettings, prog="vigie-ingest")

    assert settings.port == 8123


def test_load_settings_names_the_variable_of_a_whole_settings_refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model-level refusal (weak secret in prod) must not print a truncated variable name."""
    monkeypatch.setenv("VIGIE_INGEST_WEBHOOK_SECRETS", "oceane=changeme")

    with pytest.raises(SystemExit) as caught:
        load_settings(IngestSettings, prog="vigie-ingest")

    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "webhook secret of source 'oceane'" in err
    assert "invalid setting VIGIE_INGEST_:" not in err, err


def test_load_settings_names_the_shared_variable_that_was_actually_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The operator set ``VIGIE_KAFKA_REQUEST_TIMEOUT_MS``: the prefixed name alone misleads."""
    monkeypatch.setenv("VIGIE_KAFKA_REQUEST_TIMEOUT_MS", "5")

    with pytest.raises(SystemExit) as caught:
        load_settings(IngestSettings, prog="vigie-ingest")

    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "greater than or equal to 1000" in err
    assert "VIGIE_KAFKA_REQUEST_TIMEOUT_MS" in err, err


def test_kafka_tls_and_sasl_settings_are_shared(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """Item 7: one ``VIGIE_KAFKA_…`` serves every service; ``VIGIE_<SERVICE>_KAFKA_…`` wins."""
    ca = tmp_path / "ca.pem"
    ca.write_text("ca")
    monkeypatch.setenv("VIGIE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("VIGIE_KAFKA_SSL_CAFILE", str(ca))
    monkeypatch.setenv("VIGIE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("VIGIE_KAFKA_SASL_USERNAME", "shared-user")
    monkeypatch.setenv("VIGIE_KAFKA_SASL_PASSWORD", STRONG)
    monkeypatch.setenv("VIGIE_INGEST_KAFKA_SASL_USERNAME", "ingest-user")
    monkeypatch.setenv("VIGIE_KAFKA_MAX_MESSAGE_BYTES", str(3 * 1024 * 1024))

    settings = IngestSettings()

    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_ssl_cafile == ca
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_sasl_username == "ingest-user"
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == STRONG
    assert settings.kafka_max_message_bytes == 3 * 1024 * 1024
    assert STRONG not in repr(settings)


def test_kafka_max_message_bytes_below_one_mib_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIE_KAFKA_MAX_MESSAGE_BYTES", "1000")

    with pytest.raises(SystemExit):
        load_settings(IngestSettings, prog="vigie-ingest")

    err = capsys.readouterr().err
    assert "invalid setting VIGIE_KAFKA_MAX_MESSAGE_BYTES" in err, err
    assert "1048576" in err, err


SASL_PASSWORD = "sasl-pw-0123456789-never-shown"


def test_sasl_password_and_password_file_together_are_refused(tmp_path: pathlib.Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(SASL_PASSWORD)

    with pytest.raises(ValidationError) as caught:
        ServiceSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_username="u",
            kafka_sasl_password=SASL_PASSWORD,
            kafka_sasl_password_file=secret,
        )

    assert "set VIGIE_KAFKA_SASL_PASSWORD or VIGIE_KAFKA_SASL_PASSWORD_FILE, not both" in str(
        caught.value
    )
    assert SASL_PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("variable", "make", "reason"),
    [
        ("VIGIE_KAFKA_SSL_CAFILE", lambda d: d / "missing.pem", "No such file or directory"),
        ("VIGIE_KAFKA_SSL_CERTFILE", lambda d: d, "Is a directory"),
        ("VIGIE_KAFKA_SASL_PASSWORD_FILE", lambda d: d / "missing", "No such file or directory"),
    ],
    ids=["missing-ca", "unreadable-cert", "missing-password-file"],
)
def test_a_file_that_cannot_be_read_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: pathlib.Path,
    variable: str,
    make: Any,
    reason: str,
) -> None:
    path = make(tmp_path)
    monkeypatch.setenv("VIGIE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("VIGIE_KAFKA_SASL_USERNAME", "u")
    if variable != "VIGIE_KAFKA_SASL_PASSWORD_FILE":
        monkeypatch.setenv("VIGIE_KAFKA_SASL_PASSWORD", SASL_PASSWORD)
    monkeypatch.setenv(variable, str(path))

    with pytest.raises(SystemExit):
        load_settings(IngestSettings, prog="vigie-ingest")

    err = capsys.readouterr().err
    assert f"invalid setting {variable}: cannot read {path}: {reason}" in err, err


def test_an_empty_password_file_is_refused(tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "pw"
    empty.write_text("\n")

    with pytest.raises(ValidationError) as caught:
        ServiceSettings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_username="u",
            kafka_sasl_password_file=empty,
        )

    [error] = caught.value.errors()
    assert error["loc"] == ("kafka_sasl_password_file",)
    assert f"{empty} is empty" in error["msg"]


def test_a_bad_nested_setting_names_its_double_underscore_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VIGIE_PROBER_SSH__MAX_SESSIONS", "none")

    with pytest.raises(SystemExit):
        load_settings(ProberSettings, prog="vigie-prober")

    err = capsys.readouterr().err
    assert "vigie-prober: invalid setting VIGIE_PROBER_SSH__MAX_SESSIONS:" in err, err
